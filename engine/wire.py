"""Frames on a byte stream and the authenticated handshake.

A frame is a 4-byte big-endian length followed by that many bytes of msgpack (one
message, see :mod:`segevo.engine.messages`). A length over the limit (1 MiB by default) is
refused as soon as the 4 bytes arrive, before any of the body is read.

Handshake, first thing on every connection::

    server -> challenge{nonce, v, run}
    peer   -> hello{role, mac = HMAC-SHA256(token, nonce), v, name, nonce'}
    server -> welcome{..., proof}   or   denied{reason, retry}, then close

The nonce is fresh per connection, so a recorded ``hello`` is useless on another
connection; macs are compared in constant time (:func:`hmac.compare_digest`). The
welcome's ``proof`` (:func:`welcome_proof`, an HMAC over both nonces and the welcome) shows
the peer that the server holds the run's token too, so a process that took the port
cannot hand an evaluator a problem to import. Details: docs/protocol.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import ipaddress
import os
import struct
from dataclasses import dataclass

import anyio
import anyio.abc
import msgpack

from segevo.engine import messages as m
from segevo.engine.messages import ProtocolError

DEFAULT_MAX_FRAME = 1 << 20
PEER_MAX_FRAME = 1 << 16
"""Largest frame the server reads from a peer: no evaluator or client message comes near
it (the longest, ``failed`` with a 4,096-character reason, is under 17 KiB), and it bounds
what an unauthenticated peer can make the server buffer and unpack."""
HEADER = struct.Struct(">I")
MAX_FRAME_LIMIT = 1 << 30
"""Largest ``max_frame`` anyone may configure (the ``welcome`` message's bound)."""
_RECV_CHUNK = 1 << 16


class AuthError(ProtocolError):
    """The peer's token (mac) or protocol version was refused."""


class FrameTooLarge(ValueError):
    """An outgoing message does not fit in one frame."""


class ConnectionDenied(ConnectionError):
    """The server refused this connection; ``reason`` is what it said."""

    def __init__(self, reason: str, *, retry: bool = True) -> None:
        super().__init__(f"the server refused the connection: {reason}")
        self.reason = reason
        self.retry = retry


DISCONNECTS = (
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    OSError,
)


def essential_exception(exc: BaseException) -> BaseException:
    """The exception that matters in a (possibly nested) exception group.

    A protocol violation wins over anything else (the peer gets ``denied``), then a real
    error, then a plain disconnect; cancellation is kept as it is.
    """
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    leaves: list[BaseException] = []

    def walk(group: BaseExceptionGroup) -> None:
        for inner in group.exceptions:
            if isinstance(inner, BaseExceptionGroup):
                walk(inner)
            else:
                leaves.append(inner)

    walk(exc)
    for kind in (ConnectionDenied, ProtocolError, TimeoutError):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    for leaf in leaves:
        if not isinstance(leaf, DISCONNECTS):
            return exc if not isinstance(leaf, Exception) else leaf
    return leaves[0] if leaves else exc


def frame(payload: bytes) -> bytes:
    """Length-prefix one payload."""
    return HEADER.pack(len(payload)) + payload


class FrameStream:
    """Messages over a byte stream: length-prefixed frames, size-limited, validated.

    ``peer`` names who is on the other side (``"server"``, ``"evaluator"``, ``"client"``,
    or ``None`` while unknown); incoming message types that peer may not send are refused.
    ``max_frame`` limits frames both ways; ``max_receive``, when given, sets a smaller
    limit on incoming frames (the server reads at most :data:`PEER_MAX_FRAME` from peers).
    """

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        *,
        max_frame: int = DEFAULT_MAX_FRAME,
        max_receive: int | None = None,
        peer: str | None = None,
    ) -> None:
        if max_frame < 64:
            raise ValueError(f"max_frame must be >= 64 bytes, got {max_frame}")
        if max_frame > MAX_FRAME_LIMIT:
            raise ValueError(f"max_frame must be <= {MAX_FRAME_LIMIT} bytes, got {max_frame}")
        if max_receive is not None and not 64 <= max_receive <= max_frame:
            raise ValueError(f"max_receive must be in 64..max_frame, got {max_receive}")
        self.stream = stream
        self.max_frame = max_frame
        self._max_receive = max_receive
        self.peer = peer
        self._buffer = bytearray()
        self._send_lock = anyio.Lock()

    async def receive_payload(self) -> bytes:
        """The next frame's payload; :class:`ProtocolError` for an oversized or cut frame."""
        while len(self._buffer) < HEADER.size:
            await self._fill(HEADER.size)
        (length,) = HEADER.unpack_from(self._buffer)
        if length > self.max_receive:
            raise ProtocolError(f"frame of {length} bytes exceeds the limit of {self.max_receive}")
        end = HEADER.size + length
        while len(self._buffer) < end:
            await self._fill(end)
        payload = bytes(self._buffer[HEADER.size : end])
        del self._buffer[:end]
        return payload

    async def _fill(self, wanted: int) -> None:
        try:
            chunk = await self.stream.receive(max(_RECV_CHUNK, wanted - len(self._buffer)))
        except anyio.EndOfStream:
            if self._buffer:
                raise ProtocolError(
                    f"connection closed in the middle of a frame ({len(self._buffer)} bytes)"
                ) from None
            raise
        self._buffer += chunk

    @property
    def max_receive(self) -> int:
        """Largest incoming frame accepted (``max_frame`` unless set lower)."""
        if self._max_receive is None:
            return self.max_frame
        return min(self._max_receive, self.max_frame)

    async def receive(self) -> m.Message:
        """The next validated message (raises :class:`anyio.EndOfStream` at a clean close)."""
        return m.decode(await self.receive_payload(), sender=self.peer)

    def has_buffered_frame(self) -> bool:
        """Whether a whole frame is already buffered (``receive`` will not wait)."""
        if len(self._buffer) < HEADER.size:
            return False
        (length,) = HEADER.unpack_from(self._buffer)
        return length > self.max_receive or len(self._buffer) >= HEADER.size + length

    async def send(self, *messages: m.Message) -> None:
        """Send messages in one write (frames are packed back to back)."""
        payloads = [m.encode(msg) for msg in messages]
        for msg, payload in zip(messages, payloads, strict=True):
            if len(payload) > self.max_frame:
                raise FrameTooLarge(
                    f"a {msg.T!r} message of {len(payload)} bytes exceeds the frame limit of "
                    f"{self.max_frame}"
                )
        data = b"".join(frame(payload) for payload in payloads)
        if not data:
            return
        async with self._send_lock:
            await self.stream.send(data)

    async def aclose(self) -> None:
        """Close the underlying stream (never raises for an already broken stream)."""
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                await self.stream.aclose()


def compute_mac(token: bytes, nonce: bytes) -> bytes:
    """HMAC-SHA256 of the nonce keyed by the run's token."""
    return hmac.new(token, nonce, hashlib.sha256).digest()


def welcome_proof(
    token: bytes, server_nonce: bytes, peer_nonce: bytes, welcome: m.Welcome
) -> bytes:
    """The server's answer to the peer's nonce: HMAC-SHA256 under the run's token of both
    nonces and the welcome itself (without its proof), so that a peer trusts the welcome,
    and the problem spec it carries, only from a server that holds the token.
    """
    body = msgpack.packb(m.to_mapping(dataclasses.replace(welcome, proof=None)), use_bin_type=True)
    message = b"segevo-welcome\0" + server_nonce + peer_nonce + body
    return hmac.new(token, message, hashlib.sha256).digest()


@dataclass(frozen=True)
class Peer:
    """Who completed the handshake, and the nonces the welcome's proof covers."""

    role: str
    name: str
    challenge: bytes = b""
    nonce: bytes | None = None


async def server_handshake(
    frames: FrameStream, *, token: bytes | None, run_id: str, timeout_s: float = 10.0
) -> Peer:
    """Challenge the peer and check its hello; raises :class:`AuthError`/:class:`ProtocolError`.

    ``token=None`` turns authentication off (only allowed on a loopback listener).
    The caller sends ``welcome`` (or ``denied`` on an exception) afterwards.
    """
    nonce = os.urandom(m.NONCE_BYTES)
    with anyio.fail_after(timeout_s):
        await frames.send(m.Challenge(nonce=nonce, v=m.PROTOCOL_VERSION, run=run_id))
        hello = await frames.receive()
    if not isinstance(hello, m.Hello):
        raise ProtocolError(f"expected 'hello' first, got {hello.T!r}")
    if hello.v != m.PROTOCOL_VERSION:
        raise AuthError(
            f"protocol version {hello.v} is not supported (this server speaks {m.PROTOCOL_VERSION})"
        )
    if token is not None and not hmac.compare_digest(hello.mac, compute_mac(token, nonce)):
        raise AuthError("wrong token")
    frames.peer = hello.role
    return Peer(role=hello.role, name=hello.name, challenge=nonce, nonce=hello.nonce)


class ServerNotAuthenticated(ConnectionDenied):
    """The welcome did not prove that the server holds the run's token (an impostor on the
    coordinator's address, say); worth retrying, since the real one may come back."""

    def __init__(self, reason: str) -> None:
        ConnectionError.__init__(self, f"the server at this address is not trusted: {reason}")
        self.reason = reason
        self.retry = True


async def client_handshake(
    frames: FrameStream,
    *,
    token: bytes,
    role: str,
    name: str,
    timeout_s: float = 10.0,
    require_proof: bool = False,
) -> m.Welcome:
    """Answer the server's challenge; returns its welcome or raises :class:`ConnectionDenied`.

    The hello carries a fresh nonce of ours; a welcome with a proof is checked against it
    (in constant time), and with ``require_proof`` a welcome without one is refused too
    (:class:`ServerNotAuthenticated`): segevo's own evaluators and clients require it.
    """
    frames.peer = m.SERVER
    ours = os.urandom(m.NONCE_BYTES)
    with anyio.fail_after(timeout_s):
        challenge = await frames.receive()
        if not isinstance(challenge, m.Challenge):
            raise ProtocolError(f"expected 'challenge' first, got {challenge.T!r}")
        mac = compute_mac(token, challenge.nonce)
        await frames.send(m.Hello(role=role, mac=mac, v=m.PROTOCOL_VERSION, name=name, nonce=ours))
        try:
            reply = await frames.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError) as exc:
            raise ConnectionDenied("the server closed the connection during the handshake") from exc
    if isinstance(reply, m.Denied):
        raise ConnectionDenied(reply.reason, retry=reply.retry)
    if not isinstance(reply, m.Welcome):
        raise ProtocolError(f"expected 'welcome', got {reply.T!r}")
    if reply.proof is None:
        if require_proof:
            raise ServerNotAuthenticated(
                "the server sent no proof that it holds the run's token; not trusting it"
            )
    elif not hmac.compare_digest(reply.proof, welcome_proof(token, challenge.nonce, ours, reply)):
        raise ServerNotAuthenticated(
            "the server's proof does not match the run's token; not trusting it"
        )
    return reply


# ---------------------------------------------------------------------------------------
# Endpoints


@dataclass(frozen=True)
class Endpoint:
    """A TCP host and port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        return is_loopback(self.host)


def parse_endpoint(text: str, *, default_port: int | None = None) -> Endpoint:
    """Parse ``HOST:PORT`` (``[v6]:PORT`` for IPv6); port 0 means any free port."""
    text = text.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = text, ""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise ValueError(f"endpoint {text!r} has no host; expected HOST:PORT")
    if not port_text:
        if default_port is None:
            raise ValueError(f"endpoint {text!r} has no port; expected HOST:PORT")
        return Endpoint(host, default_port)
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"endpoint {text!r}: port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"endpoint {text!r}: port must be in 0..65535")
    return Endpoint(host, port)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names the loopback interface (``localhost``, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
