"""Security defaults: secret token, loopback by default, constant-time checks, hard limits."""

from __future__ import annotations

import contextlib
import hmac
import itertools
import os
import stat
import struct
import sys
from pathlib import Path

import anyio
import msgpack
import pytest
from anyio.abc import SocketAttribute

from segevo.engine import messages as m
from segevo.engine import wire
from segevo.engine.archive import open_archive
from segevo.engine.client import QueryClient, RemoteEvaluator
from segevo.engine.config import ConfigError, RunConfig
from segevo.engine.run import Coordinator
from segevo.engine.rundir import RunDir
from segevo.engine.server import EVALUATOR_CREDIT_LIMIT, MAX_REFUSED_REPORTS, Server
from segevo.engine.wire import (
    ConnectionDenied,
    Endpoint,
    FrameStream,
    FrameTooLarge,
    ServerNotAuthenticated,
    client_handshake,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relhelpers import slow_config, write_table
from support import assert_exactly_once

pytestmark = pytest.mark.anyio


def _config(tmp_path: Path, radix: tuple[int, ...] = (4, 4, 4), **values) -> RunConfig:
    table = write_table(tmp_path / "t.csv", radix)
    values.setdefault("evaluations", 20)
    values.setdefault("initial", 6)
    values.setdefault("batch", 4)
    values.setdefault("evaluators", 0)
    return RunConfig(**slow_config(table, delay_s=values.pop("delay_s", 0.01), **values))


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as the kernel shows them) with a TCP socket listening on port."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                address, _, hex_port = fields[1].rpartition(":")
                if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.add(address)
    return found


async def _running(coordinator: Coordinator) -> Endpoint:
    with anyio.fail_after(30):
        while coordinator.bound is None:
            await anyio.sleep(0.01)
    return coordinator.bound


async def _connections(coordinator: Coordinator, n: int) -> None:
    """Wait until the server holds exactly ``n`` connections."""
    with anyio.fail_after(10):
        while len(coordinator.server.connections) != n:
            await anyio.sleep(0.01)


async def _raw(endpoint: Endpoint) -> FrameStream:
    return FrameStream(await anyio.connect_tcp(endpoint.host, endpoint.port))


async def _denied(frames: FrameStream) -> m.Denied:
    with anyio.fail_after(10):
        while True:
            message = await frames.receive()
            if isinstance(message, m.Denied):
                await frames.aclose()
                return message


# ---------------------------------------------------------------------------------------
# The token


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_token_file_is_private_whatever_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        rundir = RunDir.create(tmp_path / "run", RunConfig(problem="synthetic"))
    finally:
        os.umask(old)
    mode = stat.S_IMODE(rundir.token_path.stat().st_mode)
    assert mode == 0o600, oct(mode)
    token = rundir.token()
    assert len(token) == 64 and int(token, 16) >= 0  # 256 random bits, hex
    other = RunDir.create(tmp_path / "other", RunConfig(problem="synthetic"))
    assert other.token() != token


async def test_macs_are_compared_in_constant_time(tmp_path, monkeypatch):
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a, b):  # type: ignore[no-untyped-def]
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(wire.hmac, "compare_digest", spy)
    coordinator = Coordinator.create(_config(tmp_path), tmp_path / "run")
    token = coordinator.rundir.token()

    async def peers() -> None:
        endpoint = await _running(coordinator)
        async with QueryClient.connect(endpoint, token) as client:
            await client.status()
        frames = await _raw(endpoint)
        with pytest.raises(ConnectionDenied, match="wrong token"):
            await client_handshake(frames, token=token + b"x", role="client", name="")
        coordinator.stop()

    async with anyio.create_task_group() as tg:
        tg.start_soon(peers)
        await coordinator.run()
    # The server checked both macs, and the query client the server's proof, each with
    # compare_digest: the good mac, the good proof, then the bad mac.
    assert len(calls) == 3 and all(len(a) == len(b) == 32 for a, b in calls)
    assert [a == b for a, b in calls] == [True, True, False]


# ---------------------------------------------------------------------------------------
# Where the server listens


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc/net/tcp")
async def test_the_server_listens_on_loopback_unless_told_otherwise(tmp_path):
    config = _config(tmp_path)
    assert config.listen.startswith("127.0.0.1:")
    coordinator = Coordinator.create(config, tmp_path / "run")
    outcome: dict[str, object] = {}

    async def probe() -> None:
        endpoint = await _running(coordinator)
        outcome["host"] = endpoint.host
        outcome["listening"] = _listening_addresses(endpoint.port)
        coordinator.stop()

    async with anyio.create_task_group() as tg:
        tg.start_soon(probe)
        await coordinator.run()
    assert outcome["host"] == "127.0.0.1"
    # The kernel's own view: one listener, on 127.0.0.1 (0100007F), not on 0.0.0.0.
    assert outcome["listening"] == {"0100007F"}


@pytest.mark.parametrize(
    "listen", ["0.0.0.0:0", "[::]:0", "192.168.1.10:7000", "example.com:7000", "localhost.:0"]
)
def test_no_token_is_refused_off_loopback(tmp_path, listen):
    with pytest.raises(ConfigError, match="without a token"):
        RunConfig(problem="synthetic", auth=False, listen=listen)
    with pytest.raises(ValueError, match="without a token"):
        Server(
            None,  # type: ignore[arg-type]
            endpoint=wire.parse_endpoint(listen),
            token=None,
            run_id="r",
            lease_s=1.0,
            heartbeat_s=0.5,
            max_frame=1 << 20,
            max_connections=4,
        )


@pytest.mark.parametrize("listen", ["127.0.0.1:0", "[::1]:0", "localhost:0", "127.5.6.7:0"])
def test_no_token_is_allowed_on_loopback_only(listen):
    assert RunConfig(problem="synthetic", auth=False, listen=listen).auth is False


# ---------------------------------------------------------------------------------------
# Limits


async def test_frames_are_limited_both_ways(tmp_path):
    coordinator = Coordinator.create(_config(tmp_path), tmp_path / "run")
    token = coordinator.rundir.token()
    seen: dict[str, object] = {}

    async def peers() -> None:
        endpoint = await _running(coordinator)
        # An authenticated peer still may not send more than 64 KiB in one frame.
        frames = await _raw(endpoint)
        await client_handshake(frames, token=token, role="evaluator", name="big")
        await frames.stream.send(struct.pack(">I", wire.PEER_MAX_FRAME + 1) + b"\x00" * 1024)
        seen["big"] = (await _denied(frames)).reason
        # Before the handshake, the same.
        frames = await _raw(endpoint)
        await frames.receive()
        await frames.stream.send(struct.pack(">I", 1 << 20))
        seen["early"] = (await _denied(frames)).reason
        # Senders refuse to send what the receiver would refuse.
        frames = await _raw(endpoint)
        frames.max_frame = 64
        with pytest.raises(FrameTooLarge):
            await frames.send(m.Failed(id=1, reason="x" * 100))
        await frames.aclose()
        # A reply that would not fit a frame becomes an error; the connection goes on.
        async with QueryClient.connect(endpoint, token) as client:
            client.frames.max_frame = 1 << 20
            data = await client.rows(0, limit=1 << 20)
            assert data["stop"] - data["start"] == data["committed"]
            seen["status"] = await client.status()
        coordinator.stop()

    async with anyio.create_task_group() as tg:
        tg.start_soon(peers)
        await coordinator.run()
    assert f"exceeds the limit of {wire.PEER_MAX_FRAME}" in seen["big"]
    assert f"exceeds the limit of {wire.PEER_MAX_FRAME}" in seen["early"]


async def test_connections_credit_and_refusals_are_limited(tmp_path):
    config = _config(
        tmp_path,
        (8, 8, 8),
        evaluations=360,
        initial=300,
        batch=8,
        max_connections=4,
        delay_s=0.002,
    )
    coordinator = Coordinator.create(config, tmp_path / "run")
    token = coordinator.rundir.token()
    seen: dict[str, object] = {}

    async def peers() -> None:
        endpoint = await _running(coordinator)
        # The handshake deadline (10 s), shortened so that a silent peer is seen off fast.
        coordinator.server.handshake_timeout_s = 0.5
        # A peer that says nothing is dropped when the handshake deadline passes.
        silent = await _raw(endpoint)
        seen["silent"] = (await _denied(silent)).reason
        await _connections(coordinator, 0)
        # More connections than max_connections: the extra one is turned away (retry).
        held = [await _raw(endpoint) for _ in range(4)]
        await _connections(coordinator, 4)
        extra = await _raw(endpoint)
        denied = await _denied(extra)
        seen["extra"] = (denied.reason, denied.retry)
        for frames in held:
            await frames.aclose()
        await anyio.sleep(0.2)
        # Credit: asking for 1024 tasks gets at most EVALUATOR_CREDIT_LIMIT of them.
        greedy = await _raw(endpoint)
        await client_handshake(greedy, token=token, role="evaluator", name="greedy")
        await greedy.send(m.Ready(n=m.MAX_CREDIT))
        got = 0
        with anyio.move_on_after(1.0):
            while True:
                if isinstance(await greedy.receive(), m.Task):
                    got += 1
        seen["greedy"] = got
        payload = msgpack.packb({"t": "ready", "n": m.MAX_CREDIT + 1})
        await greedy.stream.send(struct.pack(">I", len(payload)) + payload)
        seen["too_much"] = (await _denied(greedy)).reason
        # A flood of results the server must refuse (each one logged): cut off.
        flood = await _raw(endpoint)
        await client_handshake(flood, token=token, role="evaluator", name="flood")
        await flood.send(*(m.Result(id=10**9 + i, acc=0.5) for i in range(300)))
        seen["flood"] = (await _denied(flood)).reason
        evaluator = RemoteEvaluator(endpoint, token, name="good", prefetch=4)
        seen["good"] = await evaluator.run()

    with anyio.fail_after(90):
        async with anyio.create_task_group() as tg:
            tg.start_soon(peers)
            summary = await coordinator.run()
    assert summary.finished
    assert seen["silent"] == "handshake timed out"
    assert seen["extra"] == ("too many connections (limit 4)", True)
    assert seen["greedy"] == EVALUATOR_CREDIT_LIMIT
    assert "ready.n must be <= 1024" in seen["too_much"]
    assert "refused results or failure reports" in seen["flood"]
    refused = [
        e
        for e in coordinator.rundir.read_events()
        if e["event"] == "result_refused" and e["evaluator"].startswith("flood@")
    ]
    assert len(refused) == MAX_REFUSED_REPORTS + 1  # then the connection was closed
    assert_exactly_once(open_archive(tmp_path / "run"), 360)


async def test_rows_replies_fit_the_frame_whatever_the_evaluator_names(tmp_path):
    """``rows`` returns what fits in a frame (never an error), even with long names."""
    config = _config(tmp_path, (8, 8, 8), evaluations=500, initial=8, batch=16, delay_s=0.0)
    coordinator = Coordinator.create(config.replace(max_frame=1 << 16), tmp_path / "run")
    token = coordinator.rundir.token()
    pages: list[tuple[int, int]] = []
    rows: dict[str, list] = {}
    name = "\u00e9" * 128  # the longest name, two bytes a character

    async def client() -> None:
        endpoint = await _running(coordinator)
        while coordinator.mirror.n < 400:
            await anyio.sleep(0.01)
        async with QueryClient.connect(endpoint, token) as c:
            since = 0
            while since < 400:
                page = await c.rows(since)
                pages.append((page["start"], page["stop"]))
                for column, values in page["columns"].items():
                    rows.setdefault(column, []).extend(values)
                since = page["stop"]

    async with anyio.create_task_group() as tg:
        tg.start_soon(client)
        tg.start_soon(_evaluate, coordinator, token, name)
        await coordinator.run()
    assert len(pages) > 1 and pages[-1][1] >= 400
    assert all(a == b for (_, a), (b, _) in itertools.pairwise(pages))
    n = len(rows["task_id"])
    assert rows["task_id"] == open_archive(tmp_path / "run")["task_id"][:n].tolist()
    assert set(rows["evaluator"]) == {f"{name}@127.0.0.1"}


async def _evaluate(coordinator: Coordinator, token: bytes, name: str) -> None:
    endpoint = await _running(coordinator)
    await RemoteEvaluator(endpoint, token, name=name, prefetch=8).run()


# ---------------------------------------------------------------------------------------
# The server proves itself too


async def _impostor(task_status, *, proof: bytes | None) -> None:  # type: ignore[no-untyped-def]
    """A fake coordinator: accepts any hello and offers a 'problem' to run."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")

    async def serve(stream) -> None:  # type: ignore[no-untyped-def]
        frames = FrameStream(stream)
        async with frames.stream:
            await frames.send(m.Challenge(nonce=bytes(32), v=1, run="fake"))
            with contextlib.suppress(Exception):
                await frames.receive()
                await frames.send(
                    m.Welcome(
                        run="fake",
                        role="evaluator",
                        max_frame=1 << 20,
                        lease_s=5.0,
                        heartbeat_s=1.0,
                        problem={"problem": "subprocess:run", "options": {"args": ["true"]}},
                        proof=proof,
                    )
                )
                await frames.receive()

    async with listener:
        task_status.started(listener.extra(SocketAttribute.local_port))
        await listener.serve(serve)


@pytest.mark.parametrize("proof", [None, bytes(32)])
async def test_an_impostor_coordinator_is_not_trusted(proof):
    """Whoever takes the coordinator's port cannot make evaluators run its code."""
    loaded: list[dict] = []
    token = b"the-real-token"
    async with anyio.create_task_group() as tg:
        port = await tg.start(lambda task_status: _impostor(task_status, proof=proof))
        endpoint = Endpoint("127.0.0.1", port)
        evaluator = RemoteEvaluator(endpoint, token, name="careful", load_problem=loaded.append)
        with anyio.move_on_after(2.0):
            await evaluator.run()
        frames = await _raw(endpoint)
        with pytest.raises(ServerNotAuthenticated):
            await client_handshake(frames, token=token, role="client", name="", require_proof=True)
        with pytest.raises(ServerNotAuthenticated):
            async with QueryClient.connect(endpoint, token):
                pass
        tg.cancel_scope.cancel()
    assert loaded == []  # the offered problem was never loaded
    assert evaluator.stats.connections == 0  # nor was any session opened


async def test_evaluators_check_the_server_even_when_peers_are_not_checked(tmp_path):
    """auth = false (loopback only) lets any peer in; the welcome still proves the token."""
    coordinator = Coordinator.create(_config(tmp_path, auth=False), tmp_path / "run")
    token = coordinator.rundir.token()
    stats = {}

    async def evaluate() -> None:
        endpoint = await _running(coordinator)
        frames = await _raw(endpoint)
        # Any token gets in, but the welcome's proof is made with the run's token, which
        # this peer cannot check.
        with pytest.raises(ServerNotAuthenticated, match="does not match"):
            await client_handshake(frames, token=b"nothing", role="client", name="")
        await frames.aclose()
        stats["good"] = await RemoteEvaluator(endpoint, token, name="good").run()

    async with anyio.create_task_group() as tg:
        tg.start_soon(evaluate)
        summary = await coordinator.run()
    assert summary.finished and stats["good"].finished
