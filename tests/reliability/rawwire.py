"""Blocking, byte-level access to a coordinator's port, for hostile peers in tests.

Everything a well-behaved peer would never do goes through here: raw bytes, cut frames,
lying length prefixes, malformed msgpack. Replies are decoded with
:func:`segevo.engine.messages.decode` as coming from the server.
"""

from __future__ import annotations

import socket
import struct
import time

from segevo.engine import messages as m
from segevo.engine.wire import compute_mac

HEADER = struct.Struct(">I")


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


def connect(endpoint: tuple[str, int], timeout_s: float = 10.0) -> socket.socket:
    sock = socket.create_connection(endpoint, timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_exact(sock: socket.socket, n: int) -> bytes | None:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def read_message(sock: socket.socket) -> m.Message | None:
    """The server's next message, or None when it closed the connection."""
    header = _read_exact(sock, HEADER.size)
    if header is None:
        return None
    (length,) = HEADER.unpack(header)
    payload = _read_exact(sock, length)
    if payload is None:
        raise AssertionError("the server cut its own frame")
    return m.decode(payload, sender=m.SERVER)


def handshake(sock: socket.socket, token: bytes, role: str, name: str = "fuzz") -> m.Welcome:
    """Authenticate like a real peer; returns the welcome."""
    challenge = read_message(sock)
    assert isinstance(challenge, m.Challenge), challenge
    hello = m.Hello(role=role, mac=compute_mac(token, challenge.nonce), v=1, name=name)
    sock.sendall(frame(m.encode(hello)))
    welcome = read_message(sock)
    assert isinstance(welcome, m.Welcome), welcome
    return welcome


def read_until_closed(sock: socket.socket, timeout_s: float = 15.0) -> tuple[list[m.Message], str]:
    """Every message until the server closes: (messages, "eof" | "reset").

    Tasks pushed to an evaluator before the refusal are included. AssertionError when the
    server keeps the connection open past ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    messages: list[m.Message] = []
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            message = read_message(sock)
        except TimeoutError:
            raise AssertionError(
                f"the server kept a hostile connection open for {timeout_s} s "
                f"(received {[x.T for x in messages]})"
            ) from None
        except ConnectionResetError:
            # The server closed with our unread bytes in its buffer: the kernel resets.
            return messages, "reset"
        if message is None:
            return messages, "eof"
        messages.append(message)


def send_and_expect_refusal(
    sock: socket.socket, data: bytes, *, challenge_unread: bool = False
) -> list[m.Message]:
    """Send ``data``, half-close, and check the server denies and closes (or just closes)."""
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        pass  # it already refused an earlier part of what we sent
    messages, _ = read_until_closed(sock)
    if challenge_unread and messages and isinstance(messages[0], m.Challenge):
        messages = messages[1:]
    others = [x for x in messages if not isinstance(x, (m.Denied, m.Task))]
    assert not others, f"unexpected answers to hostile input: {others}"
    return messages
