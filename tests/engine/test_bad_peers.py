"""Wrong tokens, garbage frames and role violations are refused; good evaluators go on."""

from __future__ import annotations

import math
import os
import struct
import sys
from pathlib import Path

import anyio
import msgpack
import numpy as np
import pytest

from segevo.engine import messages as m
from segevo.engine.archive import open_archive
from segevo.engine.client import QueryClient, RemoteEvaluator
from segevo.engine.config import RunConfig
from segevo.engine.run import Coordinator
from segevo.engine.wire import ConnectionDenied, FrameStream, client_handshake, compute_mac

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import write_table

pytestmark = pytest.mark.anyio


async def _raw(endpoint) -> FrameStream:
    stream = await anyio.connect_tcp(endpoint.host, endpoint.port)
    return FrameStream(stream)


async def _expect_denied(frames: FrameStream, contains: str) -> None:
    """The server answers ``denied{reason}`` and closes."""
    with anyio.fail_after(10):
        while True:
            message = await frames.receive()
            if isinstance(message, m.Denied):
                assert contains in message.reason, message.reason
                break
        with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError, OSError)):
            await frames.receive()
    await frames.aclose()


async def _authenticated(endpoint, token: bytes, role: str) -> FrameStream:
    frames = await _raw(endpoint)
    await client_handshake(frames, token=token, role=role, name=f"rogue-{role}")
    return frames


async def test_bad_peers_are_refused_while_a_good_evaluator_keeps_working(tmp_path):
    write_table(tmp_path / "t.csv", (4, 4, 4))
    nan_arch = [0, 0, 0]  # the lower bound: always in the initial population
    config = RunConfig(
        problem="engine_helpers:delayed_table",
        problem_options={"path": str(tmp_path / "t.csv"), "delay_s": 0.03, "nan_for": [nan_arch]},
        evaluations=30,
        initial=6,
        batch=4,
        evaluators=0,
        strategy="random",
        max_attempts=2,
    )
    coordinator = Coordinator.create(config, tmp_path / "run")
    token = coordinator.rundir.token()
    outcomes: dict[str, object] = {}

    async def good_evaluator() -> None:
        while coordinator.bound is None:
            await anyio.sleep(0.01)
        evaluator = RemoteEvaluator(coordinator.bound, token, name="good")
        outcomes["good"] = await evaluator.run()

    async def attackers() -> None:
        while coordinator.bound is None or coordinator.mirror.n < 3:
            await anyio.sleep(0.01)
        endpoint = coordinator.bound
        # 1. A wrong token: denied, not worth retrying.
        frames = await _raw(endpoint)
        with pytest.raises(ConnectionDenied) as denied:
            await client_handshake(frames, token=b"wrong", role="evaluator", name="thief")
        assert denied.value.retry is False and "wrong token" in denied.value.reason
        await frames.aclose()
        # 2. Random bytes instead of a hello.
        frames = await _raw(endpoint)
        await frames.receive()  # challenge
        await frames.stream.send(struct.pack(">I", 64) + os.urandom(64))
        await _expect_denied(frames, "")
        # 3. A length prefix of 2^32 - 1.
        frames = await _raw(endpoint)
        await frames.receive()
        await frames.stream.send(b"\xff\xff\xff\xff")
        await _expect_denied(frames, "exceeds the limit")
        # 4. Deeply nested msgpack.
        frames = await _raw(endpoint)
        await frames.receive()
        nested = b"\x91" * 3000 + b"\xc0"
        await frames.stream.send(struct.pack(">I", len(nested)) + nested)
        await _expect_denied(frames, "")
        # 5. Valid msgpack of the wrong types in the hello.
        frames = await _raw(endpoint)
        await frames.receive()
        bad_hello = msgpack.packb({"t": "hello", "role": "evaluator", "mac": 5, "v": 1, "name": 0})
        await frames.stream.send(struct.pack(">I", len(bad_hello)) + bad_hello)
        await _expect_denied(frames, "hello.mac must be binary")
        # 6. An unknown message type after a good handshake.
        frames = await _authenticated(endpoint, token, "evaluator")
        odd = msgpack.packb({"t": "shell", "cmd": "rm -rf /"})
        await frames.stream.send(struct.pack(">I", len(odd)) + odd)
        await _expect_denied(frames, "unknown message type 'shell'")
        # 7. A client sending an evaluator's message.
        frames = await _authenticated(endpoint, token, "client")
        await frames.send(m.Result(id=0, acc=1.0))
        await _expect_denied(frames, "a client may not send 'result'")
        # 8. An evaluator sending a query.
        frames = await _authenticated(endpoint, token, "evaluator")
        await frames.send(m.Query(q="status"))
        await _expect_denied(frames, "may not send 'query'")
        # 9. A second hello on an established connection (a replayed handshake).
        frames = await _authenticated(endpoint, token, "client")
        await frames.send(m.Hello(role="client", mac=compute_mac(token, bytes(32)), v=1, name=""))
        await _expect_denied(frames, "may not send 'hello'")
        # 10. Garbage results from an authenticated evaluator are refused, connection kept.
        frames = await _authenticated(endpoint, token, "evaluator")
        await frames.send(m.Result(id=10**9, acc=0.5), m.Result(id=0, acc=math.nan))
        async with QueryClient.connect(endpoint, token) as client:
            status = await client.status()
        assert status["evaluations"] >= 3
        await frames.send(m.Heartbeat())  # still open: the refusals did not close it
        await frames.aclose()
        outcomes["attacks"] = "done"

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(good_evaluator)
            tg.start_soon(attackers)
            summary = await coordinator.run()
    assert summary.finished and outcomes["attacks"] == "done"
    stats = outcomes["good"]
    assert stats.finished
    data = open_archive(tmp_path / "run")
    assert len(data) == 30 and len(np.unique(data["task_id"])) == 30
    assert all(name.startswith("good@") for name in data.evaluator_names)
    events = coordinator.rundir.read_events()
    # The architecture whose evaluation gives NaN was retried, then abandoned, never archived.
    assert nan_arch not in data["x"].tolist()
    assert [e["x"] for e in events if e["event"] == "abandoned"] == [nan_arch]
    refused = [e["reason"] for e in events if e["event"] == "refused"]
    assert len(refused) >= 9
    result_refused = [e["reason"] for e in events if e["event"] == "result_refused"]
    assert any("unknown to this run" in r for r in result_refused)
    assert coordinator.server.refused >= 9


async def test_a_silent_evaluator_loses_its_lease_to_a_good_one(tmp_path):
    write_table(tmp_path / "t.csv", (3, 3, 3))
    config = RunConfig(
        problem="engine_helpers:delayed_table",
        problem_options={"path": str(tmp_path / "t.csv"), "delay_s": 0.01},
        evaluations=12,
        initial=4,
        batch=4,
        evaluators=0,
        strategy="random",
        lease_s=0.6,
        heartbeat_s=0.2,
    )
    coordinator = Coordinator.create(config, tmp_path / "run")
    token = coordinator.rundir.token()
    held: list[int] = []

    async def hung_evaluator() -> None:
        while coordinator.bound is None:
            await anyio.sleep(0.01)
        frames = await _authenticated(coordinator.bound, token, "evaluator")
        await frames.send(m.Ready(n=2))
        while len(held) < 2:
            message = await frames.receive()
            if isinstance(message, m.Task):
                held.append(message.id)
        # Holds its tasks and the connection, but never answers nor heartbeats.
        await anyio.sleep_forever()

    async def good_evaluator() -> None:
        while len(held) < 2:
            await anyio.sleep(0.01)
        await RemoteEvaluator(coordinator.bound, token, name="good").run()

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(hung_evaluator)
            tg.start_soon(good_evaluator)
            summary = await coordinator.run()
            tg.cancel_scope.cancel()
    assert summary.finished
    data = open_archive(tmp_path / "run")
    assert len(data) == 12 and len(np.unique(data["task_id"])) == 12
    expired = [e["task"] for e in coordinator.rundir.read_events() if e["event"] == "lease_expired"]
    assert sorted(expired) == sorted(held)
    ids = data["task_id"].tolist()
    assert all(ids.count(task) == 1 for task in held)
    assert all(name.startswith("good@") for name in data.evaluator_names)
