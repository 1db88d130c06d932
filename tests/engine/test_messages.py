"""Message definitions: round trips, strict validation, hostile msgpack."""

from __future__ import annotations

import math

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segevo.engine import messages as m
from segevo.engine.messages import ProtocolError

NONCE = bytes(range(32))

EXAMPLES: list[m.Message] = [
    m.Challenge(nonce=NONCE, v=1, run="abc"),
    m.Hello(role="evaluator", mac=NONCE, v=1, name="gpu-7"),
    m.Welcome(run="abc", role="client", max_frame=1 << 20, lease_s=30.0, heartbeat_s=5.0),
    m.Welcome(
        run="abc",
        role="evaluator",
        max_frame=1 << 20,
        lease_s=30.0,
        heartbeat_s=5.0,
        problem={"problem": "table:/x.csv", "options": {"lower": [0, 0], "upper": [2, 3]}},
    ),
    m.Denied(reason="wrong token", retry=False),
    m.Bye(reason="budget reached", finished=True),
    m.Ready(n=4),
    m.Task(id=7, x=[0, 3, -2, 1], lease_s=30.0),
    m.Heartbeat(),
    m.Result(id=7, acc=0.75, lat_ms=12.5, eval_s=0.2),
    m.Result(id=8, acc=0.5),
    m.Failed(id=9, reason="CUDA out of memory"),
    m.Query(q="rows", since=10, limit=100),
    m.Query(q="status"),
    m.Reply(q="status", data={"evaluations": 3, "front": [[1, 2], [3, 4]]}),
    m.Error(reason="no such query"),
]


def test_every_message_type_has_an_example():
    assert {type(e) for e in EXAMPLES} == set(m.MESSAGE_TYPES)


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda e: e.T)
def test_round_trip(message):
    payload = m.encode(message)
    assert m.decode(payload) == message
    # The wire form is a plain msgpack map with the type under "t".
    plain = msgpack.unpackb(payload, raw=False)
    assert plain["t"] == message.T


def test_optional_fields_are_left_out():
    plain = msgpack.unpackb(m.encode(m.Result(id=1, acc=0.5)), raw=False)
    assert plain == {"t": "result", "id": 1, "acc": 0.5}


def _bad(mapping, match, sender=None):
    with pytest.raises(ProtocolError, match=match):
        m.decode(msgpack.packb(mapping, use_bin_type=True), sender=sender)


def test_refuses_unknown_type_and_missing_type():
    _bad({"t": "shutdown"}, "unknown message type 'shutdown'")
    _bad({"id": 1}, "needs a string field 't'")
    _bad([1, 2, 3], "must be a msgpack map")


def test_refuses_unknown_and_missing_fields():
    _bad({"t": "ready", "n": 1, "evil": 2}, r"unknown fields \['evil'\]")
    _bad({"t": "task", "id": 1, "lease_s": 1.0}, r"task.x is required")


def test_refuses_wrong_types():
    _bad({"t": "ready", "n": "1"}, "ready.n must be an integer, got str")
    _bad({"t": "ready", "n": True}, "ready.n must be an integer, got bool")
    _bad({"t": "task", "id": 1, "x": [1, "2"], "lease_s": 1.0}, "task.x must hold integers")
    _bad({"t": "task", "id": 1, "x": {"a": 1}, "lease_s": 1.0}, "task.x must be a list")
    _bad({"t": "hello", "role": "evaluator", "mac": "0" * 32, "v": 1, "name": ""}, "binary")
    _bad({"t": "bye", "reason": "x", "finished": 1}, "true or false")


def test_refuses_values_out_of_range():
    _bad({"t": "ready", "n": 0}, ">= 1")
    _bad({"t": "ready", "n": m.MAX_CREDIT + 1}, "<= ")
    _bad({"t": "task", "id": -1, "x": [], "lease_s": 1.0}, "task.id must be >= 0")
    _bad({"t": "hello", "role": "admin", "mac": NONCE, "v": 1, "name": ""}, "must be one of")
    _bad({"t": "hello", "role": "client", "mac": b"short", "v": 1, "name": ""}, "32 bytes")
    _bad({"t": "query", "q": "drop tables"}, "must be one of")
    _bad({"t": "task", "id": 1, "x": [0] * (m.MAX_DIGITS + 1), "lease_s": 1.0}, "more than")
    _bad({"t": "failed", "id": 1, "reason": "x" * 5000}, "longer than")


def test_finite_fields_refuse_nan_but_result_accuracy_passes_through():
    _bad({"t": "task", "id": 1, "x": [], "lease_s": math.nan}, "must be finite")
    # NaN accuracy is well-formed; the dispatcher refuses it (and re-queues the task).
    result = m.decode(msgpack.packb({"t": "result", "id": 1, "acc": math.nan}))
    assert isinstance(result, m.Result) and math.isnan(result.acc)


def test_sender_restrictions():
    result = {"t": "result", "id": 1, "acc": 0.5}
    assert isinstance(m.decode(msgpack.packb(result), sender="evaluator"), m.Result)
    _bad(result, "a client may not send 'result'", sender="client")
    _bad({"t": "query", "q": "status"}, "a evaluator may not send 'query'", sender="evaluator")
    _bad({"t": "task", "id": 1, "x": [], "lease_s": 1.0}, "may not send 'task'", sender="client")


def test_hostile_msgpack_is_refused():
    with pytest.raises(ProtocolError, match="malformed msgpack"):
        m.decode(b"\xc1")  # never-used byte
    with pytest.raises(ProtocolError, match="exactly one msgpack value"):
        m.decode(msgpack.packb({"t": "heartbeat"}) + b"\x00")
    with pytest.raises(ProtocolError):
        m.decode(b"\x91" * 5000 + b"\xc0")  # nested 5000 deep
    with pytest.raises(ProtocolError, match="malformed"):
        m.decode(b"\xdd\xff\xff\xff\xff")  # array header claiming 2^32-1 items
    with pytest.raises(ProtocolError, match="malformed"):
        m.decode(msgpack.packb(msgpack.ExtType(1, b"pickle!")))
    with pytest.raises(ProtocolError, match="malformed"):
        m.decode(msgpack.packb({1: 2}))  # non-string map key
    deep = {"t": "reply", "q": "status", "data": {}}
    inner = deep["data"]
    for _ in range(m.MAX_DEPTH + 2):
        inner["a"] = {}
        inner = inner["a"]
    _bad(deep, "nested deeper")


def test_encode_refuses_an_invalid_message():
    with pytest.raises(ProtocolError):
        m.encode(m.Ready(n=0))


def test_specs_list_every_field():
    spec = m.SPECS["task"]
    assert set(spec.fields) == {"id", "x", "lease_s"}
    assert spec.senders == frozenset({"server"})


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=256))
def test_random_bytes_never_escape_as_anything_but_protocol_error(data):
    try:
        message = m.decode(data)
    except ProtocolError:
        return
    assert isinstance(message, m.Message)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(m.SPECS)),
    st.dictionaries(
        st.sampled_from(
            [
                "id",
                "x",
                "acc",
                "n",
                "q",
                "reason",
                "nonce",
                "mac",
                "role",
                "v",
                "name",
                "data",
                "lease_s",
                "since",
                "zz",
            ]
        ),
        json_values,
        max_size=6,
    ),
)
def test_valid_msgpack_of_wrong_shapes_is_refused_cleanly(kind, fields):
    payload = msgpack.packb({"t": kind, **fields}, use_bin_type=True)
    try:
        message = m.decode(payload)
    except ProtocolError:
        return
    # Whatever got through re-encodes to the same bytes (NaN-safe, unlike ==).
    assert m.encode(m.decode(m.encode(message))) == m.encode(message)
