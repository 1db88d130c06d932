"""Evaluators that die, vanish, hang or lie: the search still archives each task once.

- process level: ``kill -9`` of an evaluator in the middle of its tasks; an evaluator
  frozen with SIGSTOP past its lease, then thawed (its late result is a refused
  duplicate and it goes on working);
- protocol level: an evaluator that drops its connection without a word while holding
  tasks; results with NaN or infinite accuracy or a negative latency, unknown ids, ids of
  tasks handed to another evaluator or to none, duplicates, failure reports for tasks it
  does not hold;
- a task that hangs every evaluator it meets: timed out by ``task_timeout_s``, counted
  as a failed attempt, abandoned after ``max_attempts`` and replaced.

Every archived accuracy is checked against the table it came from (the oracle), so a
garbage result that slipped through would show.
"""

from __future__ import annotations

import math
import signal
import socket
import struct
import sys
import time
from pathlib import Path

import anyio
import numpy as np
import pytest
from anyio.abc import SocketAttribute

from segevo.engine import messages as m
from segevo.engine.archive import open_archive
from segevo.engine.client import RemoteEvaluator, query_once
from segevo.engine.config import RunConfig
from segevo.engine.problems.table import TableProblem
from segevo.engine.run import Coordinator
from segevo.engine.rundir import read_token
from segevo.engine.wire import FrameStream, client_handshake, parse_endpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relhelpers import segevo, slow_config, write_config, write_table
from support import assert_exactly_once, endpoint_of, evaluator_args, events, stop, wait_for


def _assert_truthful(data, table: Path) -> None:
    """Every archived row holds the table's own accuracy and latency for its architecture."""
    truth = TableProblem(table)
    np.testing.assert_array_equal(data["acc"], truth.accuracy(data["x"]))
    np.testing.assert_array_equal(data["lat_ms"], truth.latency(data["x"]))


# ---------------------------------------------------------------------------------------
# Real evaluator processes: kill -9 and SIGSTOP


def _leases(run_dir: Path, prefix: str) -> list[int]:
    status = query_once(
        parse_endpoint(endpoint_of(run_dir)), read_token(run_dir / "token"), "status"
    )
    return [lease["task"] for lease in status["leases"] if lease["evaluator"].startswith(prefix)]


@pytest.mark.skipif(sys.platform != "linux", reason="POSIX signals")
def test_killed_and_frozen_evaluator_processes(tmp_path):
    table = write_table(tmp_path / "t.csv", (4, 4, 4))
    values = slow_config(
        table,
        delay_s=0.5,
        evaluations=16,
        initial=6,
        batch=4,
        evaluators=0,
        lease_s=1.0,
        heartbeat_s=0.2,
    )
    config = write_config(tmp_path / "run.toml", values)
    run_dir = tmp_path / "run"
    log = tmp_path / "log.txt"
    run = segevo("run", "--config", str(config), "--run-dir", str(run_dir), log=log)
    children = [run]

    def evaluator(name: str, prefetch: int = 1):
        child = segevo(
            *evaluator_args(run_dir, name, "--prefetch", str(prefetch), "--give-up-after", "20"),
            log=log,
        )
        children.append(child)
        return child

    try:
        wait_for(lambda: endpoint_of(run_dir), 60, "the endpoint file")
        victim = evaluator("victim", prefetch=2)
        wait_for(lambda: _leases(run_dir, "victim@"), 60, "the victim to hold tasks")
        time.sleep(0.2)  # into its first 0.5 s evaluation
        held = _leases(run_dir, "victim@")
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(10) == -signal.SIGKILL

        sleeper = evaluator("sleeper")
        wait_for(lambda: _leases(run_dir, "sleeper@"), 60, "the sleeper to hold a task")
        sleeper.send_signal(signal.SIGSTOP)
        # Frozen, it sends no heartbeat: what it holds must expire (whatever it held at the
        # moment of the signal, a result in flight included).
        frozen = wait_for(
            lambda: [
                e["task"]
                for e in events(run_dir)
                if e["event"] == "lease_expired" and e["evaluator"].startswith("sleeper@")
            ],
            30,
            "the frozen sleeper's lease to expire",
        )

        rescuer = evaluator("rescuer")

        def archived(task: int) -> bool:
            try:
                return task in open_archive(run_dir)["task_id"].tolist()
            except ValueError:
                return False

        wait_for(lambda: all(archived(t) for t in frozen), 60, "the frozen task to be redone")
        sleeper.send_signal(signal.SIGCONT)  # wakes up long past its lease
        assert run.wait(90) == 0, log.read_text()[-3000:]
        assert rescuer.wait(30) == 0 and sleeper.wait(30) == 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGCONT)
            stop(child)

    data = open_archive(run_dir)
    assert_exactly_once(data, 16)
    _assert_truthful(data, table)
    log_events = events(run_dir)
    names = dict(zip(data["task_id"].tolist(), data.evaluator_names, strict=True))
    # The victim's tasks went back to the queue with the reason, and others did them.
    requeued = [
        e for e in log_events if e["event"] == "requeued" and e["evaluator"].startswith("victim@")
    ]
    assert requeued and set(held) <= set(requeued[0]["tasks"]) and requeued[0]["reason"]
    for task in held:
        assert not names[task].startswith("victim@")
    # The frozen sleeper's lease ran out for want of heartbeats...
    expired = [e for e in log_events if e["event"] == "lease_expired"]
    assert {e["task"] for e in expired} >= set(frozen)
    assert all("heartbeat" in e["reason"] for e in expired if e["task"] in frozen)
    # ...its late result was refused as a duplicate, and it carried on afterwards.
    late = [
        e
        for e in log_events
        if e["event"] == "result_refused" and e["evaluator"].startswith("sleeper@")
    ]
    assert {e["task"] for e in late} >= set(frozen)
    assert all("duplicate" in e["reason"] for e in late)
    # Its one connection outlived the freeze (the coordinator does not drop a late
    # evaluator, it refuses the stale result), and it left on the final bye (exit 0).
    connects = [
        e
        for e in log_events
        if e["event"] == "evaluator_connected" and e["evaluator"].startswith("sleeper@")
    ]
    assert len(connects) == 1


# ---------------------------------------------------------------------------------------
# Protocol level: vanishing and lying evaluators


async def _evaluator(endpoint, token: bytes, name: str) -> FrameStream:
    stream = await anyio.connect_tcp(endpoint.host, endpoint.port)
    frames = FrameStream(stream)
    await client_handshake(frames, token=token, role="evaluator", name=name)
    return frames


async def _tasks(frames: FrameStream, n: int) -> list[m.Task]:
    out = []
    with anyio.fail_after(20):
        while len(out) < n:
            message = await frames.receive()
            assert isinstance(message, m.Task), message
            out.append(message)
    return out


async def _abort(frames: FrameStream) -> None:
    """Close with a TCP reset: no goodbye, tasks still held."""
    sock = frames.stream.extra(SocketAttribute.raw_socket)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await frames.stream.aclose()


@pytest.mark.anyio
async def test_lying_and_vanishing_evaluators_are_refused_with_reasons(tmp_path):
    table = write_table(tmp_path / "t.csv", (4, 4, 4))
    truth = TableProblem(table)
    config = RunConfig(
        **slow_config(table, delay_s=0.005, evaluations=30, initial=8, batch=4, evaluators=0)
    )
    coordinator = Coordinator.create(config, tmp_path / "run")
    token = coordinator.rundir.token()
    done: dict[str, object] = {}

    def refusals(task: int) -> list[str]:
        return [
            e["reason"]
            for e in coordinator.rundir.read_events()
            if e["event"] in ("result_refused", "failure_refused") and e["task"] == task
        ]

    async def liars() -> None:
        while coordinator.bound is None:
            await anyio.sleep(0.01)
        endpoint = coordinator.bound
        a = await _evaluator(endpoint, token, "liar-a")
        b = await _evaluator(endpoint, token, "liar-b")
        await a.send(m.Ready(n=2))
        t1, t2 = await _tasks(a, 2)
        await b.send(m.Ready(n=1))
        (t3,) = await _tasks(b, 1)
        never_given = next(t for t in coordinator.dispatcher.tasks.values() if not t.given)
        true3 = truth.evaluate(np.asarray(t3.x))
        # First, while no report has given any credit back (so nothing more was handed
        # out, to b or to a): a result for a task still waiting in the queue.
        await b.send(
            m.Result(id=never_given.id, acc=0.5),  # queued, handed to no one
            m.Result(id=t1.id, acc=0.99),  # a's task
            m.Result(id=10**12, acc=0.5),  # unknown id
            m.Failed(id=t2.id, reason="not mine to fail"),
            m.Result(id=t3.id, acc=true3["acc"], lat_ms=true3["lat_ms"]),  # the truth
            m.Result(id=t3.id, acc=0.0, lat_ms=1.0),  # sent again, altered
        )
        with anyio.fail_after(20):
            while len(refusals(t3.id)) < 1:
                await anyio.sleep(0.02)
        await a.send(
            m.Result(id=t1.id, acc=math.nan),
            m.Result(id=t2.id, acc=0.5, lat_ms=-1.0),
        )
        with anyio.fail_after(20):
            while len(refusals(t1.id)) < 2 or len(refusals(t2.id)) < 2 or not refusals(t3.id):
                await anyio.sleep(0.02)
        assert any("never handed to liar-b" in r for r in refusals(t1.id))
        assert any("not a finite number" in r for r in refusals(t1.id))
        assert any("not a finite number >= 0" in r for r in refusals(t2.id))
        assert any("never handed to liar-b" in r for r in refusals(t2.id))
        assert any("unknown to this run" in r for r in refusals(10**12))
        assert any("never handed out" in r for r in refusals(never_given.id))
        assert any("duplicate" in r for r in refusals(t3.id))
        # The refusals kept b's connection open: its credit came back and it gets more.
        await b.send(m.Heartbeat())
        more = await _tasks(b, 1)
        # a gets its re-queued tasks back (its credit was returned by the refusals); now
        # both vanish without a word, holding tasks.
        await _tasks(a, 2)
        await _abort(a)
        await _abort(b)
        done.update(t1=t1.id, t2=t2.id, t3=t3.id, more=more[0].id)

    async def good() -> None:
        while "t1" not in done:
            await anyio.sleep(0.01)
        done["good"] = await RemoteEvaluator(coordinator.bound, token, name="good").run()

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(liars)
            tg.start_soon(good)
            summary = await coordinator.run()
    assert summary.finished and done["good"].finished
    data = open_archive(tmp_path / "run")
    assert_exactly_once(data, 30)
    _assert_truthful(data, table)
    log_events = coordinator.rundir.read_events()
    owner = dict(zip(data["task_id"].tolist(), data.evaluator_names, strict=True))
    assert owner[done["t3"]].startswith("liar-b@")  # its one true result was kept
    for task in (done["t1"], done["t2"], done["more"]):
        assert owner[task].startswith("good@")  # redone after the liars vanished
    vanished = [
        e for e in log_events if e["event"] == "requeued" and e["evaluator"].startswith("liar")
    ]
    assert done["more"] in {t for e in vanished for t in e["tasks"]}
    assert all(e["reason"] for e in vanished)


# ---------------------------------------------------------------------------------------
# A task that hangs whoever evaluates it


@pytest.mark.anyio
async def test_a_task_that_hangs_every_evaluator_is_timed_out_then_abandoned(tmp_path):
    table = write_table(tmp_path / "t.csv", (3, 3, 3))
    poison = [0, 0, 0]  # the lower bound: always in the initial population
    config = RunConfig(
        **slow_config(
            table,
            delay_s=0.01,
            hang_for=[poison],
            hang_s=2.5,
            evaluations=14,
            initial=5,
            batch=3,
            evaluators=2,
            task_timeout_s=0.4,
            max_attempts=2,
        )
    )
    coordinator = Coordinator.create(config, tmp_path / "run")
    with anyio.fail_after(60):
        summary = await coordinator.run()
    assert summary.finished and summary.evaluations == 14
    data = open_archive(tmp_path / "run")
    assert_exactly_once(data, 14)
    _assert_truthful(data, table)
    assert poison not in data["x"].tolist()
    log_events = coordinator.rundir.read_events()
    timeouts = [e for e in log_events if e["event"] == "lease_expired" and e["task"] == 0]
    assert len(timeouts) == 2 and all("task_timeout_s" in e["reason"] for e in timeouts)
    # Each lease got its own 0.4 s, not what was left of the first one's.
    assert timeouts[1]["t"] - timeouts[0]["t"] >= 0.35
    assert [e["x"] for e in log_events if e["event"] == "abandoned"] == [poison]
    # The first hung evaluation's result came back after the task was abandoned: refused
    # (the second may still be hanging when the run ends; it is left behind).
    late = [e for e in log_events if e["event"] == "result_refused" and e["task"] == 0]
    assert late and all("abandoned" in e["reason"] for e in late)
