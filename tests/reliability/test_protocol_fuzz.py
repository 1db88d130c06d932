"""Protocol fuzzing with hypothesis: hostile bytes are refused, one connection at a time.

The decoder alone first (any bytes, any msgpack value: a valid message or a
``ProtocolError``, never anything else), then a live coordinator process with a
well-behaved ``segevo evaluator`` attached, attacked over real TCP with random bytes,
cut frames, length prefixes up to 2**32 - 1, deeply nested and huge msgpack, valid
msgpack of the wrong types, unknown message types, wrong or missing tokens, replayed
handshakes and role violations. Each hostile connection must be refused (one ``refused``
event per connection that sent anything, no ``connection_error``) and closed, while the
good evaluator keeps its one connection and keeps archiving results, and the
coordinator's memory stays bounded.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time
from pathlib import Path

import anyio
import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segevo.engine import messages as m
from segevo.engine.archive import open_archive
from segevo.engine.client import query_once
from segevo.engine.wire import FrameStream, compute_mac, parse_endpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rawwire import connect, frame, handshake, read_message, send_and_expect_refusal
from relhelpers import rss_kib, segevo, slow_config, write_config, write_table
from support import committed_rows, endpoint_of, evaluator_args, events, stop, wait_for

# benchmarks/reliability_fuzz.py runs this module with many more examples.
EXAMPLES = int(os.environ.get("SEGEVO_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

msgpack_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.binary(max_size=40)
)
msgpack_values = st.recursive(
    msgpack_scalars,
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=24,
)


# ---------------------------------------------------------------------------------------
# The decoder on its own


@settings(max_examples=400, deadline=None, database=None)
@given(st.binary(max_size=300))
def test_decode_of_random_bytes_is_a_message_or_a_protocol_error(data):
    for sender in (None, m.EVALUATOR, m.CLIENT, m.SERVER):
        try:
            message = m.decode(data, sender=sender)
        except m.ProtocolError:
            continue
        assert type(message) in m.MESSAGE_TYPES


@settings(max_examples=400, deadline=None, database=None)
@given(msgpack_values, st.sampled_from([*m.SPECS, "shell", ""]))
def test_decode_of_any_msgpack_value_is_a_message_or_a_protocol_error(value, kind):
    candidates = [value]
    if isinstance(value, dict):
        candidates.append({**value, "t": kind})
    for candidate in candidates:
        payload = msgpack.packb(candidate, use_bin_type=True)
        try:
            message = m.decode(payload)
        except m.ProtocolError:
            continue
        # Whatever got through re-encodes to a message that decodes to itself (compared
        # as bytes: a NaN accuracy is a valid result message, and NaN != NaN).
        encoded = m.encode(message)
        assert m.encode(m.decode(encoded)) == encoded


class ChunkStream:
    """A byte stream that delivers given chunks, then ends (no socket needed)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self.chunks:
            raise anyio.EndOfStream
        return self.chunks.pop(0)


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.binary(max_size=200),
    st.integers(min_value=0, max_value=2**32 - 1),
    st.lists(st.integers(min_value=1, max_value=50), max_size=10),
)
def test_frame_reader_on_arbitrary_streams_raises_only_protocol_errors(body, length, cuts):
    async def read_all(data: bytes) -> None:
        chunks, start = [], 0
        for size in cuts:
            chunks.append(data[start : start + size])
            start += size
        chunks.append(data[start:])
        frames = FrameStream(ChunkStream([c for c in chunks if c]), max_frame=1 << 16)  # type: ignore[arg-type]
        with anyio.fail_after(5):
            while True:
                try:
                    await frames.receive()
                except (m.ProtocolError, anyio.EndOfStream):
                    return

    for data in (body, struct.pack(">I", length) + body):
        anyio.run(read_all, data)


# ---------------------------------------------------------------------------------------
# A live coordinator under attack


class Live:
    """A coordinator process with one good evaluator attached, and what was sent to it."""

    def __init__(self, run_dir: Path, coordinator, evaluator) -> None:
        self.run_dir = run_dir
        self.coordinator = coordinator
        self.evaluator = evaluator
        ep = parse_endpoint(endpoint_of(run_dir))
        self.endpoint = (ep.host, ep.port)
        self.token = (run_dir / "token").read_text().strip().encode()
        self.hostile = 0  # connections that sent something and must have been refused

    def refused(self) -> int:
        return sum(e["event"] == "refused" for e in events(self.run_dir))

    def attack_raw(self, data: bytes, *, read_challenge: bool = True) -> None:
        with connect(self.endpoint) as sock:
            if read_challenge:
                assert isinstance(read_message(sock), m.Challenge)
            send_and_expect_refusal(sock, data, challenge_unread=not read_challenge)
        self.hostile += bool(data)

    def attack_after_handshake(self, role: str, data: bytes) -> None:
        with connect(self.endpoint) as sock:
            handshake(sock, self.token, role)
            send_and_expect_refusal(sock, data)
        self.hostile += bool(data)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    table = write_table(tmp / "t.csv", (8, 8, 8, 8))
    values = slow_config(
        table,
        delay_s=0.04,
        evaluations=4000,
        initial=8,
        batch=8,
        evaluators=0,
        lease_s=5.0,
        heartbeat_s=0.5,
    )
    config = write_config(tmp / "run.toml", values)
    run_dir = tmp / "run"
    log = tmp / "log.txt"
    coordinator = segevo("run", "--config", str(config), "--run-dir", str(run_dir), log=log)
    evaluator = None
    try:
        endpoint = wait_for(lambda: endpoint_of(run_dir), 60, "the endpoint file")
        evaluator = segevo(*evaluator_args(run_dir, "steady", endpoint=endpoint), log=log)
        wait_for(lambda: committed_rows(run_dir) >= 10, 60, "the good evaluator's first rows")
        yield Live(run_dir, coordinator, evaluator)
    finally:
        stop(coordinator)
        if evaluator is not None:
            stop(evaluator)


@pytest.fixture(scope="module")
def baseline(live):
    """Coordinator memory and progress before the first attack."""
    rss, _ = rss_kib(live.coordinator.pid)
    return {"rss_kib": rss, "rows": committed_rows(live.run_dir), "t": time.time()}


@FUZZ
@given(st.binary(min_size=1, max_size=2000), st.booleans())
def test_random_bytes(live, baseline, data, before_challenge):
    live.attack_raw(data, read_challenge=not before_challenge)


@FUZZ
@given(st.integers(min_value=0, max_value=2**32 - 1), st.binary(max_size=64))
def test_any_length_prefix(live, baseline, length, body):
    live.attack_raw(struct.pack(">I", length) + body)


@FUZZ
@given(st.data())
def test_truncated_frames(live, baseline, data):
    # A hello that would be accepted, cut anywhere: the server sees the stream end mid-frame.
    with connect(live.endpoint) as sock:
        challenge = read_message(sock)
        hello = m.Hello(
            role="evaluator", mac=compute_mac(live.token, challenge.nonce), v=1, name=""
        )
        whole = frame(m.encode(hello))
        cut = data.draw(st.integers(min_value=1, max_value=len(whole) - 1))
        send_and_expect_refusal(sock, whole[:cut])
    live.hostile += 1


@FUZZ
@given(st.integers(min_value=9, max_value=5000), st.sampled_from([b"\x91", b"\x81\xa1k"]))
def test_deeply_nested_msgpack(live, baseline, depth, opener):
    live.attack_raw(frame(opener * depth + b"\xc0"))


HUGE_HEADERS = [
    b"\xdd\xff\xff\xff\xff",  # array32 of 2^32 - 1 items
    b"\xdf\xff\xff\xff\xff",  # map32
    b"\xdb\xff\xff\xff\xff",  # str32
    b"\xc6\xff\xff\xff\xff",  # bin32
    b"\xc9\xff\xff\xff\xff\x01",  # ext32 (no extension types at all)
    b"\xdc\xff\xff",  # array16 of 65535 items (short body)
]


@FUZZ
@given(st.sampled_from(HUGE_HEADERS), st.binary(max_size=64), st.integers(0, 3))
def test_huge_msgpack(live, baseline, header, body, shape):
    if shape == 0:
        payload = header + body  # a huge size declared, a few bytes given
    elif shape == 1:
        payload = b"\xdc\xff\xff" + b"\x90" * 65535  # 65,535 empty arrays
    elif shape == 2:
        payload = msgpack.packb({f"k{i}": i for i in range(300)})  # too many map entries
    else:
        payload = b"\xda\xff\xff" + b"a" * 65535  # a 64 KiB string: over the frame limit
    live.attack_raw(frame(payload))


HELLO_FIELDS = ("t", "role", "mac", "v", "name")


@FUZZ
@given(st.sampled_from(HELLO_FIELDS), msgpack_values, st.booleans())
def test_hello_with_wrong_types_or_missing_fields(live, baseline, field, value, drop):
    with connect(live.endpoint) as sock:
        challenge = read_message(sock)
        hello = {
            "t": "hello",
            "role": "evaluator",
            "mac": compute_mac(live.token, challenge.nonce),
            "v": 1,
            "name": "x",
        }
        if drop:
            del hello[field]
        else:
            hello[field] = value
            try:
                m.from_mapping(hello)
                acceptable = hello["mac"] == compute_mac(live.token, challenge.nonce)
            except m.ProtocolError:
                acceptable = False
            if acceptable:
                hello[field] = [value]  # hypothesis drew a valid value: make it wrong
        send_and_expect_refusal(sock, frame(msgpack.packb(hello, use_bin_type=True)))
    live.hostile += 1


@FUZZ
@given(msgpack_values)
def test_any_msgpack_value_instead_of_hello(live, baseline, value):
    live.attack_raw(frame(msgpack.packb(value, use_bin_type=True)))


@FUZZ
@given(
    st.sampled_from(["wrong", "missing", "short", "random", "other-nonce"]),
    st.binary(min_size=1, max_size=64),
)
def test_wrong_or_missing_token(live, baseline, how, noise):
    with connect(live.endpoint) as sock:
        challenge = read_message(sock)
        fields = {"t": "hello", "role": "evaluator", "v": 1, "name": "thief"}
        if how == "wrong":
            fields["mac"] = compute_mac(noise, challenge.nonce)
        elif how == "short":
            fields["mac"] = compute_mac(live.token, challenge.nonce)[: len(noise) % 32]
        elif how == "random":
            fields["mac"] = (noise * 32)[:32]
        elif how == "other-nonce":
            fields["mac"] = compute_mac(live.token, (noise * 32)[:32])
        messages = send_and_expect_refusal(sock, frame(msgpack.packb(fields, use_bin_type=True)))
    assert messages and isinstance(messages[0], m.Denied)
    if how in ("wrong", "random", "other-nonce"):
        assert messages[0].reason == "wrong token" and messages[0].retry is False
    live.hostile += 1


def test_replayed_handshake(live, baseline):
    """A hello recorded on one connection is worthless on the next (fresh nonce)."""
    with connect(live.endpoint) as first:
        challenge = read_message(first)
        mac = compute_mac(live.token, challenge.nonce)
        recorded = frame(m.encode(m.Hello(role="evaluator", mac=mac, v=1, name="r")))
        first.sendall(recorded)
        assert isinstance(read_message(first), m.Welcome)
        for _ in range(5):
            with connect(live.endpoint) as replay:
                assert isinstance(read_message(replay), m.Challenge)
                messages = send_and_expect_refusal(replay, recorded)
            assert messages[0].reason == "wrong token"
            live.hostile += 1
        # A second hello on the established connection is a violation too.
        messages = send_and_expect_refusal(first, recorded)
        assert "may not send 'hello'" in messages[-1].reason
        live.hostile += 1


PEER_MESSAGES = {
    "ready": {"t": "ready", "n": 1},
    "heartbeat": {"t": "heartbeat"},
    "result": {"t": "result", "id": 1, "acc": 0.5},
    "failed": {"t": "failed", "id": 1, "reason": "x"},
    "query": {"t": "query", "q": "status"},
    "hello": {"t": "hello", "role": "client", "mac": bytes(32), "v": 1, "name": ""},
    "task": {"t": "task", "id": 1, "x": [1], "lease_s": 1.0},
    "welcome": {
        "t": "welcome",
        "run": "r",
        "role": "client",
        "max_frame": 64,
        "lease_s": 1.0,
        "heartbeat_s": 1.0,
    },
    "challenge": {"t": "challenge", "nonce": bytes(32), "v": 1, "run": "r"},
    "reply": {"t": "reply", "q": "status", "data": {}},
    "bye": {"t": "bye", "reason": "", "finished": True},
}
ALLOWED = {"client": {"query"}, "evaluator": {"ready", "heartbeat", "result", "failed"}}


@FUZZ
@given(st.sampled_from(["client", "evaluator"]), st.sampled_from(sorted(PEER_MESSAGES)))
def test_role_violations(live, baseline, role, kind):
    if kind in ALLOWED[role]:
        return
    payload = msgpack.packb(PEER_MESSAGES[kind], use_bin_type=True)
    live.attack_after_handshake(role, frame(payload))


@FUZZ
@given(
    st.sampled_from(["client", "evaluator"]),
    st.text(min_size=1, max_size=30).filter(lambda t: t not in m.SPECS),
    st.dictionaries(st.text(max_size=8), msgpack_scalars, max_size=4),
)
def test_unknown_message_types_after_the_handshake(live, baseline, role, kind, extra):
    payload = msgpack.packb({**extra, "t": kind}, use_bin_type=True)
    live.attack_after_handshake(role, frame(payload))


@FUZZ
@given(st.sampled_from(["client", "evaluator"]), st.binary(min_size=1, max_size=500))
def test_garbage_after_the_handshake(live, baseline, role, data):
    live.attack_after_handshake(role, data)


def test_zz_the_good_evaluator_kept_working_and_memory_stayed_bounded(live, baseline):
    """Runs last in this module: the verdict on everything above."""
    log_events = events(live.run_dir)
    refused = sum(e["event"] == "refused" for e in log_events)
    assert live.hostile >= 8 * EXAMPLES
    assert refused == live.hostile, (refused, live.hostile)
    errors = [e for e in log_events if e["event"] == "connection_error"]
    assert not errors, errors[:3]
    # The good evaluator: one connection all along, archiving throughout.
    steady = [e for e in log_events if e.get("evaluator", "").startswith("steady@")]
    assert [e["event"] for e in steady] == ["evaluator_connected"]
    status = query_once(parse_endpoint(endpoint_of(live.run_dir)), live.token, "status")
    assert status["evaluators"] == [e["evaluator"] for e in steady]
    data = open_archive(live.run_dir)
    during = data["t_done"] > baseline["t"]
    assert during.sum() >= 20 and all(n.startswith("steady@") for n in data.evaluator_names)
    # No pause longer than a few evaluations while the attacks went on.
    gaps = np.diff(np.sort(data["t_done"][during]))
    assert gaps.max() < 5.0, gaps.max()
    # Memory: bounded by frames of 64 KiB at most, whatever was sent.
    rss, peak = rss_kib(live.coordinator.pid)
    report = os.environ.get("SEGEVO_FUZZ_REPORT")
    if report:
        reasons = {e["reason"].split(":")[0][:60] for e in log_events if e["event"] == "refused"}
        Path(report).write_text(
            json.dumps(
                {
                    "hostile_connections": live.hostile,
                    "refused_events": refused,
                    "connection_errors": len(errors),
                    "distinct_refusal_reasons": len(reasons),
                    "good_evaluator_rows_during_attack": int(during.sum()),
                    "good_evaluator_longest_pause_s": round(float(gaps.max()), 3),
                    "coordinator_rss_kib_before": baseline["rss_kib"],
                    "coordinator_rss_kib_after": rss,
                    "coordinator_peak_rss_kib": peak,
                }
            )
        )
    assert rss - baseline["rss_kib"] < 40_000, (baseline["rss_kib"], rss, peak)
    assert live.coordinator.poll() is None and live.evaluator.poll() is None
