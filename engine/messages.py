"""Every message segevo sends between processes, defined once.

A message is a msgpack map whose key ``t`` names its type; the other keys are the fields
below. :func:`encode` turns a message object into bytes and :func:`decode` turns bytes back
into a validated message object, refusing anything that does not match: unknown types,
unknown or missing fields, wrong types, values out of range, oversized containers, deep
nesting, msgpack extension types. There is no pickle anywhere; a decoded message is built
only from plain msgpack values.

Who may send what is part of the definition (:attr:`MessageSpec.senders`): a client that
sends an evaluator's message is refused by :func:`decode` with ``sender="client"``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import msgpack

PROTOCOL_VERSION = 1
"""Bumped whenever a message changes shape; the handshake refuses a different version."""

NONCE_BYTES = 32
MAC_BYTES = 32  # HMAC-SHA256 digest size

# Hard ceilings applied while unpacking, before any message-level validation.
MAX_STR_LEN = 1 << 16
MAX_BIN_LEN = 1 << 12
MAX_ARRAY_LEN = 1 << 16
MAX_MAP_LEN = 256
MAX_DEPTH = 8
MAX_DIGITS = 4096  # length of an architecture vector
MAX_TASK_ID = (1 << 63) - 1
MAX_CREDIT = 1024  # tasks one `ready` may ask for

Role = Literal["evaluator", "client"]
ROLES: tuple[Role, ...] = ("evaluator", "client")
QUERIES = ("status", "front", "rows")

SERVER = "server"
EVALUATOR = "evaluator"
CLIENT = "client"
ANY_PEER = frozenset({EVALUATOR, CLIENT})


class ProtocolError(ValueError):
    """A frame or message broke the protocol; the message says how."""


@dataclass(frozen=True, slots=True)
class Check:
    """How one field is validated.

    ``kind`` is one of ``int``, ``float``, ``str``, ``bin``, ``ints`` (list of int),
    ``map`` (a plain msgpack map of bounded size and depth).
    """

    kind: str
    optional: bool = False
    lo: float | None = None
    hi: float | None = None
    max_len: int | None = None
    exact_len: int | None = None
    choices: tuple[str, ...] | None = None
    finite: bool = False


def _field(kind: str, **limits: Any) -> Any:
    optional = limits.get("optional", False)
    default = None if optional else dataclasses.MISSING
    return dataclasses.field(default=default, metadata={"check": Check(kind, **limits)})


class Message:
    """Base of every message class; ``T`` is the wire name, ``SENDERS`` who may send it."""

    T: ClassVar[str]
    SENDERS: ClassVar[frozenset[str]]


# ---------------------------------------------------------------------------------------
# Handshake


@dataclass(frozen=True, slots=True)
class Challenge(Message):
    """Server -> peer, first frame on every connection: a fresh nonce to sign."""

    T: ClassVar[str] = "challenge"
    SENDERS: ClassVar[frozenset[str]] = frozenset({SERVER})
    nonce: bytes = _field("bin", exact_len=NONCE_BYTES)
    v: int = _field("int", lo=0, hi=1 << 16)
    run: str = _field("str", max_len=128)


@dataclass(frozen=True, slots=True)
class Hello(Message):
    """Peer -> server: role and ``mac = HMAC-SHA256(token, nonce)``, and a nonce of its own."""

    T: ClassVar[str] = "hello"
    SENDERS: ClassVar[frozenset[str]] = ANY_PEER
    role: str = _field("str", choices=ROLES)
    mac: bytes = _field("bin", exact_len=MAC_BYTES)
    v: int = _field("int", lo=0, hi=1 << 16)
    name: str = _field("str", max_len=128)
    nonce: bytes | None = _field("bin", optional=True, exact_len=NONCE_BYTES)
    """The peer's own challenge: the server answers it with ``welcome.proof``."""


@dataclass(frozen=True, slots=True)
class Welcome(Message):
    """Server -> peer: accepted. Evaluators also get the problem spec and lease timing."""

    T: ClassVar[str] = "welcome"
    SENDERS: ClassVar[frozenset[str]] = frozenset({SERVER})
    run: str = _field("str", max_len=128)
    role: str = _field("str", choices=ROLES)
    max_frame: int = _field("int", lo=64, hi=1 << 30)
    lease_s: float = _field("float", lo=0.001, hi=1e7, finite=True)
    heartbeat_s: float = _field("float", lo=0.001, hi=1e7, finite=True)
    problem: dict | None = _field("map", optional=True)  # noqa: RUF009
    proof: bytes | None = _field("bin", optional=True, exact_len=MAC_BYTES)
    """HMAC of both nonces and this welcome under the run's token: the server knows it too."""


@dataclass(frozen=True, slots=True)
class Denied(Message):
    """Server -> peer: refused (bad token, bad frame, wrong role...); the server then closes."""

    T: ClassVar[str] = "denied"
    SENDERS: ClassVar[frozenset[str]] = frozenset({SERVER})
    reason: str = _field("str", max_len=1024)
    retry: bool = _field("bool")
    """Whether trying again later may succeed (false for a wrong token or version)."""


@dataclass(frozen=True, slots=True)
class Bye(Message):
    """Server -> peer: the run is over (or shutting down); the peer should not reconnect."""

    T: ClassVar[str] = "bye"
    SENDERS: ClassVar[frozenset[str]] = frozenset({SERVER})
    reason: str = _field("str", max_len=1024)
    finished: bool = _field("bool")


# ---------------------------------------------------------------------------------------
# Evaluator session


@dataclass(frozen=True, slots=True)
class Ready(Message):
    """Evaluator -> server: it can take ``n`` more tasks (each result frees one more)."""

    T: ClassVar[str] = "ready"
    SENDERS: ClassVar[frozenset[str]] = frozenset({EVALUATOR})
    n: int = _field("int", lo=1, hi=MAX_CREDIT)


@dataclass(frozen=True, slots=True)
class Task(Message):
    """Server -> evaluator: evaluate architecture ``x``; the lease lasts ``lease_s``."""

    T: ClassVar[str] = "task"
    SENDERS: ClassVar[frozenset[str]] = frozenset({SERVER})
    id: int = _field("int", lo=0, hi=MAX_TASK_ID)
    x: list[int] = _field("ints", max_len=MAX_DIGITS, lo=-(1 << 31), hi=(1 << 31) - 1)  # noqa: RUF009
    lease_s: float = _field("float", lo=0.001, hi=1e7, finite=True)


@dataclass(frozen=True, slots=True)
class Heartbeat(Message):
    """Evaluator -> server: still alive; renews the leases of every task it holds."""

    T: ClassVar[str] = "heartbeat"
    SENDERS: ClassVar[frozenset[str]] = frozenset({EVALUATOR})


@dataclass(frozen=True, slots=True)
class Result(Message):
    """Evaluator -> server: task ``id`` evaluated. NaN ``acc`` is refused by the dispatcher."""

    T: ClassVar[str] = "result"
    SENDERS: ClassVar[frozenset[str]] = frozenset({EVALUATOR})
    id: int = _field("int", lo=0, hi=MAX_TASK_ID)
    acc: float = _field("float")
    lat_ms: float | None = _field("float", optional=True)
    eval_s: float | None = _field("float", optional=True, lo=0.0, hi=1e9, finite=True)


@dataclass(frozen=True, slots=True)
class Failed(Message):
    """Evaluator -> server: task ``id`` could not be evaluated; it is re-queued."""

    T: ClassVar[str] = "failed"
    SENDERS: ClassVar[frozenset[str]] = frozenset({EVALUATOR})
    id: int = _field("int", lo=0, hi=MAX_TASK_ID)
    reason: str = _field("str", max_len=4096)


# ---------------------------------------------------------------------------------------
# Queries


@dataclass(frozen=True, slots=True)
class Query(Message):
    """Client -> server: ``status``, ``front`` or ``rows`` (rows ``since`` an index)."""

    T: ClassVar[str] = "query"
    SENDERS: ClassVar[frozenset[str]] = frozenset({CLIENT})
    q: str = _field("str", choices=QUERIES)
    since: int | None = _field("int", optional=True, lo=0, hi=MAX_TASK_ID)
    limit: int | None = _field("int", optional=True, lo=1, hi=1 << 20)


@dataclass(frozen=True, slots=True)
class Reply(Message):
    """Server -> client: the answer to a query."""

    T: ClassVar[str] = "reply"
    SENDERS: ClassVar[frozenset[str]] = frozenset({SERVER})
    q: str = _field("str", choices=QUERIES)
    data: dict = _field("map")  # noqa: RUF009


@dataclass(frozen=True, slots=True)
class Error(Message):
    """Server -> client: the query could not be answered (the connection stays open)."""

    T: ClassVar[str] = "error"
    SENDERS: ClassVar[frozenset[str]] = frozenset({SERVER})
    reason: str = _field("str", max_len=4096)


MESSAGE_TYPES: tuple[type[Message], ...] = (
    Challenge,
    Hello,
    Welcome,
    Denied,
    Bye,
    Ready,
    Task,
    Heartbeat,
    Result,
    Failed,
    Query,
    Reply,
    Error,
)
BY_NAME: dict[str, type[Message]] = {cls.T: cls for cls in MESSAGE_TYPES}


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """The validated shape of one message type (for docs and tests)."""

    name: str
    cls: type[Message]
    fields: dict[str, Check]
    senders: frozenset[str]


SPECS: dict[str, MessageSpec] = {
    cls.T: MessageSpec(
        cls.T,
        cls,
        {f.name: f.metadata["check"] for f in dataclasses.fields(cls)},  # type: ignore[arg-type]
        cls.SENDERS,
    )
    for cls in MESSAGE_TYPES
}


# ---------------------------------------------------------------------------------------
# Validation


def _depth_ok(value: Any, budget: int) -> bool:
    if isinstance(value, dict):
        if budget <= 0:
            return False
        return all(_depth_ok(v, budget - 1) for v in value.values())
    if isinstance(value, list):
        if budget <= 0:
            return False
        return all(_depth_ok(v, budget - 1) for v in value)
    return True


def _check(name: str, field: str, check: Check, value: Any) -> Any:
    where = f"{name}.{field}"
    if value is None:
        if check.optional:
            return None
        raise ProtocolError(f"{where} is required")
    kind = check.kind
    if kind == "int":
        if type(value) is not int:
            raise ProtocolError(f"{where} must be an integer, got {type(value).__name__}")
        _range(where, check, value)
        return value
    if kind == "float":
        if type(value) not in (float, int):
            raise ProtocolError(f"{where} must be a number, got {type(value).__name__}")
        value = float(value)
        if check.finite and not math.isfinite(value):
            raise ProtocolError(f"{where} must be finite, got {value}")
        if math.isfinite(value):
            _range(where, check, value)
        return value
    if kind == "bool":
        if type(value) is not bool:
            raise ProtocolError(f"{where} must be true or false, got {type(value).__name__}")
        return value
    if kind == "str":
        if type(value) is not str:
            raise ProtocolError(f"{where} must be a string, got {type(value).__name__}")
        if check.max_len is not None and len(value) > check.max_len:
            raise ProtocolError(f"{where} is longer than {check.max_len} characters")
        if check.choices is not None and value not in check.choices:
            raise ProtocolError(f"{where} must be one of {list(check.choices)}, got {value!r}")
        return value
    if kind == "bin":
        if type(value) is not bytes:
            raise ProtocolError(f"{where} must be binary, got {type(value).__name__}")
        if check.exact_len is not None and len(value) != check.exact_len:
            raise ProtocolError(f"{where} must be {check.exact_len} bytes, got {len(value)}")
        return value
    if kind == "ints":
        if type(value) is not list:
            raise ProtocolError(f"{where} must be a list of integers, got {type(value).__name__}")
        if check.max_len is not None and len(value) > check.max_len:
            raise ProtocolError(f"{where} has more than {check.max_len} items")
        for item in value:
            if type(item) is not int:
                raise ProtocolError(f"{where} must hold integers only, got {type(item).__name__}")
            _range(where, check, item)
        return value
    if kind == "map":
        if type(value) is not dict:
            raise ProtocolError(f"{where} must be a map, got {type(value).__name__}")
        if not _depth_ok(value, MAX_DEPTH - 1):
            raise ProtocolError(f"{where} is nested deeper than {MAX_DEPTH} levels")
        return value
    raise AssertionError(f"unknown check kind {kind!r}")  # a bug in this module


def _range(where: str, check: Check, value: float) -> None:
    if check.lo is not None and value < check.lo:
        raise ProtocolError(f"{where} must be >= {check.lo}, got {value}")
    if check.hi is not None and value > check.hi:
        raise ProtocolError(f"{where} must be <= {check.hi}, got {value}")


def from_mapping(obj: Any, *, sender: str | None = None) -> Message:
    """Validate a decoded msgpack value and build the message it describes.

    ``sender`` (``"server"``, ``"evaluator"`` or ``"client"``), when given, refuses message
    types that this sender may not send.
    """
    if type(obj) is not dict:
        raise ProtocolError(f"a message must be a msgpack map, got {type(obj).__name__}")
    kind = obj.get("t")
    if type(kind) is not str:
        raise ProtocolError("a message needs a string field 't' naming its type")
    spec = SPECS.get(kind)
    if spec is None:
        raise ProtocolError(f"unknown message type {kind[:64]!r}; known: {sorted(SPECS)}")
    if sender is not None and sender not in spec.senders:
        raise ProtocolError(f"a {sender} may not send {kind!r} messages")
    unknown = obj.keys() - spec.fields.keys() - {"t"}
    if unknown:
        shown = sorted(str(k)[:64] for k in unknown)[:8]
        raise ProtocolError(f"{kind}: unknown fields {shown}; allowed: {sorted(spec.fields)}")
    values = {name: _check(kind, name, check, obj.get(name)) for name, check in spec.fields.items()}
    return spec.cls(**values)


def to_mapping(message: Message) -> dict[str, Any]:
    """The plain map that :func:`encode` packs (``None`` optional fields are left out)."""
    out: dict[str, Any] = {"t": message.T}
    for field in dataclasses.fields(message):  # type: ignore[arg-type]
        value = getattr(message, field.name)
        if value is not None:
            out[field.name] = value
    return out


def encode(message: Message) -> bytes:
    """msgpack bytes of a message (validated first, so a bad message never leaves)."""
    mapping = to_mapping(message)
    from_mapping(mapping)
    return msgpack.packb(mapping, use_bin_type=True)


def unpack(payload: bytes) -> Any:
    """Unpack one msgpack value under strict limits (no ext types, bounded containers)."""
    try:
        return msgpack.unpackb(
            payload,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_str_len=MAX_STR_LEN,
            max_bin_len=MAX_BIN_LEN,
            max_array_len=MAX_ARRAY_LEN,
            max_map_len=MAX_MAP_LEN,
            max_ext_len=0,
        )
    except msgpack.ExtraData as exc:
        raise ProtocolError("a frame must hold exactly one msgpack value") from exc
    except msgpack.StackError as exc:
        raise ProtocolError(f"msgpack value nested deeper than {MAX_DEPTH} levels") from exc
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise ProtocolError(f"malformed msgpack: {exc}") from exc


def decode(payload: bytes, *, sender: str | None = None) -> Message:
    """Unpack and validate one frame's payload; raises :class:`ProtocolError` on anything bad."""
    return from_mapping(unpack(payload), sender=sender)


def as_plain(value: Any) -> Any:
    """Convert numpy scalars/arrays inside ``value`` to plain msgpack-able Python values."""
    if isinstance(value, Mapping):
        return {str(k): as_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_plain(v) for v in value]
    tolist = getattr(value, "tolist", None)
    if tolist is not None:
        return tolist()
    return value
