"""Frames and the handshake over real TCP on loopback."""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Awaitable, Callable

import anyio
import pytest
from anyio.abc import SocketAttribute

from segevo.engine import messages as m
from segevo.engine.wire import (
    AuthError,
    ConnectionDenied,
    Endpoint,
    FrameStream,
    FrameTooLarge,
    ProtocolError,
    client_handshake,
    compute_mac,
    essential_exception,
    is_loopback,
    parse_endpoint,
    server_handshake,
)

pytestmark = pytest.mark.anyio
TOKEN = b"s3cret-token"


async def _serve_one(
    handler: Callable[[FrameStream], Awaitable[object]],
    client: Callable[[anyio.abc.SocketStream], Awaitable[object]],
    *,
    max_frame: int = 1 << 20,
) -> object:
    """Run ``handler`` on the server side of one loopback connection; returns its outcome."""
    outcome: dict[str, object] = {}
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)

    async def serve(stream: anyio.abc.SocketStream) -> None:
        frames = FrameStream(stream, max_frame=max_frame)
        try:
            outcome["value"] = await handler(frames)
        except Exception as exc:
            outcome["value"] = exc
        finally:
            await frames.aclose()
            tg.cancel_scope.cancel()

    with anyio.fail_after(10):
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, serve)
            stream = await anyio.connect_tcp("127.0.0.1", port)
            async with stream:
                await client(stream)
                await anyio.sleep_forever()
    return outcome["value"]


async def test_frames_round_trip_and_many_per_write():
    sent = [m.Ready(n=2), m.Heartbeat(), m.Result(id=3, acc=0.5, lat_ms=1.0)]

    async def handler(frames: FrameStream) -> list[m.Message]:
        return [await frames.receive() for _ in sent]

    async def client(stream: anyio.abc.SocketStream) -> None:
        await FrameStream(stream).send(*sent)  # one write, three frames

    assert await _serve_one(handler, client) == sent


async def test_oversized_length_prefix_is_refused_before_the_body():
    async def handler(frames: FrameStream) -> object:
        with anyio.fail_after(2):  # must not wait for 4 GiB that never come
            return await frames.receive()

    async def client(stream: anyio.abc.SocketStream) -> None:
        await stream.send(b"\xff\xff\xff\xff")

    outcome = await _serve_one(handler, client)
    assert isinstance(outcome, ProtocolError)
    assert "4294967295 bytes exceeds the limit of 1048576" in str(outcome)


async def test_small_frame_limit_is_honoured():
    async def handler(frames: FrameStream) -> object:
        return await frames.receive()

    async def client(stream: anyio.abc.SocketStream) -> None:
        await FrameStream(stream).send(m.Failed(id=1, reason="x" * 500))

    outcome = await _serve_one(handler, client, max_frame=256)
    assert isinstance(outcome, ProtocolError) and "exceeds the limit of 256" in str(outcome)


async def test_truncated_frame_and_clean_close():
    async def handler(frames: FrameStream) -> object:
        return await frames.receive()

    async def cut(stream: anyio.abc.SocketStream) -> None:
        await stream.send(struct.pack(">I", 100) + b"\x81" * 10)
        await stream.aclose()

    outcome = await _serve_one(handler, cut)
    assert isinstance(outcome, ProtocolError) and "middle of a frame" in str(outcome)

    async def close(stream: anyio.abc.SocketStream) -> None:
        await stream.aclose()

    assert isinstance(await _serve_one(handler, close), anyio.EndOfStream)


async def test_garbage_payload_is_a_protocol_error():
    async def handler(frames: FrameStream) -> object:
        return await frames.receive()

    async def client(stream: anyio.abc.SocketStream) -> None:
        await stream.send(struct.pack(">I", 5) + b"\xc1\xc1\xc1\xc1\xc1")

    assert isinstance(await _serve_one(handler, client), ProtocolError)


async def test_send_refuses_a_message_larger_than_a_frame():
    async def handler(frames: FrameStream) -> object:
        await frames.send(m.Failed(id=1, reason="y" * 300))

    async def client(stream: anyio.abc.SocketStream) -> None:
        pass

    outcome = await _serve_one(handler, client, max_frame=128)
    assert isinstance(outcome, FrameTooLarge)


def test_mac_is_hmac_sha256():
    nonce = bytes(32)
    assert compute_mac(TOKEN, nonce) == hmac.new(TOKEN, nonce, hashlib.sha256).digest()


async def _handshake(server_token: bytes | None, client_token: bytes, role: str = "evaluator"):
    async def handler(frames: FrameStream) -> object:
        peer = await server_handshake(frames, token=server_token, run_id="run1", timeout_s=5)
        await frames.send(
            m.Welcome(run="run1", role=peer.role, max_frame=1024, lease_s=2.0, heartbeat_s=1.0)
        )
        return peer

    welcome: dict[str, object] = {}

    async def client(stream: anyio.abc.SocketStream) -> None:
        try:
            welcome["w"] = await client_handshake(
                FrameStream(stream), token=client_token, role=role, name="tester"
            )
        except Exception as exc:
            welcome["w"] = exc

    peer = await _serve_one(handler, client)
    return peer, welcome.get("w")


async def test_handshake_accepts_the_right_token():
    peer, welcome = await _handshake(TOKEN, TOKEN, role="client")
    assert peer.role == "client" and peer.name == "tester"
    assert isinstance(welcome, m.Welcome) and welcome.run == "run1"


async def test_handshake_refuses_a_wrong_token():
    peer, _ = await _handshake(TOKEN, b"guess")
    assert isinstance(peer, AuthError) and "wrong token" in str(peer)


async def test_handshake_without_auth_accepts_any_mac():
    peer, welcome = await _handshake(None, b"anything")
    assert peer.role == "evaluator" and isinstance(welcome, m.Welcome)


async def test_replayed_hello_is_refused():
    captured: dict[str, bytes] = {}

    async def record(frames: FrameStream) -> object:
        peer = await server_handshake(frames, token=TOKEN, run_id="r", timeout_s=5)
        return peer

    async def honest(stream: anyio.abc.SocketStream) -> None:
        frames = FrameStream(stream)
        challenge = await frames.receive()
        hello = m.Hello(role="evaluator", mac=compute_mac(TOKEN, challenge.nonce), v=1, name="a")
        captured["hello"] = m.encode(hello)
        await frames.send(hello)

    assert (await _serve_one(record, honest)).role == "evaluator"

    async def replay(stream: anyio.abc.SocketStream) -> None:
        await FrameStream(stream).receive()  # a fresh challenge, ignored
        payload = captured["hello"]
        await stream.send(struct.pack(">I", len(payload)) + payload)

    outcome = await _serve_one(record, replay)
    assert isinstance(outcome, AuthError)


async def test_version_mismatch_and_wrong_first_message():
    async def handler(frames: FrameStream) -> object:
        return await server_handshake(frames, token=TOKEN, run_id="r", timeout_s=5)

    async def old_client(stream: anyio.abc.SocketStream) -> None:
        frames = FrameStream(stream)
        challenge = await frames.receive()
        await frames.send(
            m.Hello(role="client", mac=compute_mac(TOKEN, challenge.nonce), v=99, name="")
        )

    outcome = await _serve_one(handler, old_client)
    assert isinstance(outcome, AuthError) and "protocol version 99" in str(outcome)

    async def rude(stream: anyio.abc.SocketStream) -> None:
        frames = FrameStream(stream)
        await frames.receive()
        await frames.send(m.Ready(n=1))

    outcome = await _serve_one(handler, rude)
    assert isinstance(outcome, ProtocolError) and "expected 'hello'" in str(outcome)


async def test_silent_peer_times_out():
    async def handler(frames: FrameStream) -> object:
        return await server_handshake(frames, token=TOKEN, run_id="r", timeout_s=0.2)

    async def silent(stream: anyio.abc.SocketStream) -> None:
        pass

    assert isinstance(await _serve_one(handler, silent), TimeoutError)


async def test_client_sees_denied_as_connection_denied():
    async def handler(frames: FrameStream) -> object:
        await frames.send(m.Challenge(nonce=bytes(32), v=1, run="r"))
        await frames.receive()
        await frames.send(m.Denied(reason="wrong token", retry=False))

    result: dict[str, object] = {}

    async def client(stream: anyio.abc.SocketStream) -> None:
        try:
            await client_handshake(FrameStream(stream), token=TOKEN, role="client", name="")
        except ConnectionDenied as exc:
            result["e"] = exc

    await _serve_one(handler, client)
    denied = result["e"]
    assert isinstance(denied, ConnectionDenied)
    assert denied.reason == "wrong token" and denied.retry is False


def test_parse_endpoint():
    assert parse_endpoint("127.0.0.1:7000") == Endpoint("127.0.0.1", 7000)
    assert parse_endpoint("[::1]:80") == Endpoint("::1", 80)
    assert parse_endpoint("host", default_port=5) == Endpoint("host", 5)
    assert str(Endpoint("::1", 80)) == "[::1]:80"
    for bad in ("host", ":80", "host:http", "host:70000"):
        with pytest.raises(ValueError):
            parse_endpoint(bad)


def test_is_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("127.8.0.1") and is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1")
    assert not is_loopback("example.org")


def test_essential_exception_prefers_protocol_errors():
    group = ExceptionGroup(
        "x", [anyio.BrokenResourceError(), ExceptionGroup("y", [ProtocolError("bad")])]
    )
    assert isinstance(essential_exception(group), ProtocolError)
    assert isinstance(
        essential_exception(ExceptionGroup("z", [anyio.EndOfStream()])), anyio.EndOfStream
    )
    boom = RuntimeError("bug")
    assert essential_exception(ExceptionGroup("z", [anyio.EndOfStream(), boom])) is boom
