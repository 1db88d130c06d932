"""Load: many evaluator connections and query clients against one coordinator process.

A coordinator (the ``synthetic`` problem, random proposals, no local evaluators) runs
in its own process. This process opens ``--evaluators`` evaluator connections (default
32) and ``--clients`` query clients (default 8) on loopback for ``--duration`` seconds:

- each evaluator holds one task at a time, "evaluates" it for a log-normal time
  (``--eval-ms`` mean) and answers with the problem's true accuracy and latency;
  dispatch latency is the time from giving a slot back (``ready``, or a result) to the
  next task arriving;
- each client asks ``status``, ``front`` and ``rows`` in turn, timing every answer;
- a monitor samples ``status`` and counts leases past their expiry (stuck leases).

Then the evaluators leave (every lease must return to the queue), the coordinator is
stopped with SIGTERM (a resumable stop), and the run directory is checked: every result
delivered was archived exactly once with the true values, nothing was refused, and
every task id ever created is archived, still pending in ``state.json``, or abandoned.

    python benchmarks/reliability_load.py                  # 60 s, 32 evaluators, 8 clients
    python benchmarks/reliability_load.py --duration 8 --json

Exit code 0 when every check passes. The numbers (evaluations/s, dispatch and query
latency p50/p99, the coordinator's peak resident memory) depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from segevo.engine import messages as m
from segevo.engine.archive import open_archive
from segevo.engine.client import QueryClient
from segevo.engine.problem import load_problem
from segevo.engine.wire import DISCONNECTS, Endpoint, FrameStream, client_handshake

COORDINATOR = """
import json, sys, anyio
from segevo.engine.config import RunConfig
from segevo.engine.run import Coordinator
coordinator = Coordinator.create(
    RunConfig(**json.loads(sys.argv[1])), sys.argv[2], handle_signals=True
)
summary = anyio.run(coordinator.run)
print(json.dumps({"evaluations": summary.evaluations, "reason": summary.reason}))
sys.exit(0 if summary.reason.startswith("stopped") else 4)
"""


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50_ms": math.nan, "p99_ms": math.nan, "max_ms": math.nan}
    a = np.asarray(values) * 1e3
    return {
        "n": len(values),
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "max_ms": round(float(a.max()), 3),
    }


def _peak_kib(pid: int) -> tuple[int, int]:
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


class Load:
    """The evaluators, clients and monitor of one load run, and what they measured."""

    def __init__(self, endpoint: Endpoint, token: bytes, args: argparse.Namespace) -> None:
        self.endpoint = endpoint
        self.token = token
        self.args = args
        self.problem: Any = None
        self.dispatch: list[float] = []
        self.queries: dict[str, list[float]] = {"status": [], "front": [], "rows": []}
        self.sent: list[int] = []
        self.per_evaluator = [0] * args.evaluators
        self.per_client = [0] * args.clients
        self.stuck_leases = 0
        self.samples = 0
        self.max_leased = 0
        self.errors: list[str] = []
        self.stop = anyio.Event()

    async def evaluator(self, index: int) -> None:
        rng = random.Random(index)
        sigma = 0.5
        mu = math.log(self.args.eval_ms / 1e3) - sigma**2 / 2
        stream = await anyio.connect_tcp(self.endpoint.host, self.endpoint.port)
        frames = FrameStream(stream)
        try:
            welcome = await client_handshake(
                frames,
                token=self.token,
                role=m.EVALUATOR,
                name=f"load-{index}",
                require_proof=True,
            )
            frames.max_frame = welcome.max_frame
            if self.problem is None:
                self.problem = load_problem(welcome.problem)
            async with anyio.create_task_group() as tg:

                async def heartbeats() -> None:
                    while True:
                        await anyio.sleep(welcome.heartbeat_s)
                        await frames.send(m.Heartbeat())

                tg.start_soon(heartbeats)
                freed = time.perf_counter()
                await frames.send(m.Ready(n=1))
                while not self.stop.is_set():
                    message = None
                    # Only the wait for a task may be cut short (to notice the stop): a
                    # task received is always answered.
                    with anyio.move_on_after(0.25):
                        message = await frames.receive()
                    if message is None:
                        continue
                    if isinstance(message, m.Bye):
                        break
                    assert isinstance(message, m.Task), message
                    self.dispatch.append(time.perf_counter() - freed)
                    await anyio.sleep(rng.lognormvariate(mu, sigma))
                    truth = self.problem.evaluate(np.asarray(message.x, dtype=np.int64))
                    freed = time.perf_counter()
                    await frames.send(
                        m.Result(id=message.id, acc=truth["acc"], lat_ms=truth["lat_ms"])
                    )
                    self.sent.append(message.id)
                    self.per_evaluator[index] += 1
                tg.cancel_scope.cancel()
        except Exception as exc:  # recorded: the run's verdict depends on it
            if not isinstance(exc, DISCONNECTS) or not self.stop.is_set():
                self.errors.append(f"evaluator {index}: {type(exc).__name__}: {exc}")
        finally:
            await frames.aclose()

    async def client(self, index: int) -> None:
        kinds = ("status", "front", "rows")
        try:
            async with QueryClient.connect(self.endpoint, self.token, name=f"q{index}") as c:
                i = index
                while not self.stop.is_set():
                    q = kinds[i % 3]
                    i += 1
                    started = time.perf_counter()
                    if q == "rows":
                        await c.rows(since=max(0, i * 37 % 5000), limit=200)
                    else:
                        await c.query(q)
                    self.queries[q].append(time.perf_counter() - started)
                    self.per_client[index] += 1
                    await anyio.sleep(self.args.query_pause_s)
        except Exception as exc:
            self.errors.append(f"client {index}: {type(exc).__name__}: {exc}")

    async def monitor(self) -> None:
        """Counts leases past their expiry by more than the reaper's period (stuck)."""
        async with QueryClient.connect(self.endpoint, self.token, name="monitor") as c:
            while not self.stop.is_set():
                status = await c.status()
                self.samples += 1
                self.max_leased = max(self.max_leased, status["leased"])
                for lease in status["leases"]:
                    left = lease["expires_in_s"]
                    if left is not None and left < -1.5:
                        self.stuck_leases += 1
                await anyio.sleep(0.2)

    async def leases_after_leaving(self) -> dict[str, Any]:
        """Once every evaluator has left, every lease must be back in the queue."""
        async with QueryClient.connect(self.endpoint, self.token, name="after") as c:
            deadline = time.monotonic() + 5
            while True:
                status = await c.status()
                if status["leased"] == 0 and status["evaluators_connected"] == 0:
                    return status
                if time.monotonic() > deadline:
                    self.errors.append(f"leases still held after the evaluators left: {status}")
                    return status
                await anyio.sleep(0.05)

    async def run(self) -> dict[str, Any]:
        async with anyio.create_task_group() as tg:
            for i in range(self.args.evaluators):
                tg.start_soon(self.evaluator, i)
            for i in range(self.args.clients):
                tg.start_soon(self.client, i)
            tg.start_soon(self.monitor)
            await anyio.sleep(self.args.duration)
            self.stop.set()
        return await self.leases_after_leaving()


def run_load(args: argparse.Namespace) -> dict[str, Any]:
    """One load run (see the module docstring); returns the report."""
    work = Path(args.run_dir or tempfile.mkdtemp(prefix="segevo-load-"))
    work.mkdir(parents=True, exist_ok=True)
    run_dir = work / "run"
    config = {
        "problem": "synthetic",
        "evaluations": 390_000,
        "initial": 64,
        "batch": 64,
        "evaluators": 0,
        "strategy": "random",
        "lease_s": args.lease_s,
        "heartbeat_s": args.lease_s / 5,
    }
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    log = open(work / "coordinator.log", "wb")  # noqa: SIM115
    coordinator = subprocess.Popen(
        [sys.executable, "-c", COORDINATOR, json.dumps(config), str(run_dir)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "endpoint.json").exists():
            if coordinator.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the coordinator did not start: {work / 'coordinator.log'}")
            time.sleep(0.05)
        info = json.loads((run_dir / "endpoint.json").read_text())
        endpoint = Endpoint(info["host"], int(info["port"]))
        token = (run_dir / "token").read_text().strip().encode()
        _, peak_before = _peak_kib(coordinator.pid)
        load = Load(endpoint, token, args)
        started = time.monotonic()
        after = anyio.run(load.run)
        wall = time.monotonic() - started
        _, peak = _peak_kib(coordinator.pid)
        coordinator.send_signal(signal.SIGTERM)
        code = coordinator.wait(60)
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
            coordinator.wait()
        log.close()
    return _verdict(run_dir, load, after, wall, peak_before, peak, code)


def _verdict(
    run_dir: Path,
    load: Load,
    after: dict[str, Any],
    wall: float,
    peak_before: int,
    peak: int,
    code: int,
) -> dict[str, Any]:
    data = open_archive(run_dir)
    state = json.loads((run_dir / "state.json").read_text())
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    ids = data["task_id"].tolist()
    pending = {int(t["id"]) for t in state["tasks"]}
    abandoned = {int(a["id"]) for a in state["abandoned"]}
    created = set(range(int(state["next_task_id"])))
    sent = load.sent
    truth = load.problem
    wrong = 0
    if truth is not None and len(data):
        expected = np.asarray([truth.evaluate(x)["acc"] for x in data["x"]])
        wrong = int(np.sum(expected != data["acc"]))
    checks = {
        "coordinator_exit_code": code,
        "duplicates_in_archive": len(ids) - len(set(ids)),
        "results_sent_twice": len(sent) - len(set(sent)),
        "results_lost": len(set(sent) - set(ids)),
        "rows_not_sent_by_us": len(set(ids) - set(sent)),
        "rows_with_wrong_values": wrong,
        "tasks_unaccounted": len(created - set(ids) - pending - abandoned),
        "refused_results": sum(e["event"] == "result_refused" for e in events),
        "stuck_leases": load.stuck_leases,
        "leased_after_leaving": after["leased"],
        "idle_evaluators": sum(1 for n in load.per_evaluator if n == 0),
        "idle_clients": sum(1 for n in load.per_client if n == 0),
        "errors": load.errors,
    }
    ok = (
        code == 0  # stopped by SIGTERM (resumable), not finished: the budget is far away
        and all(v == 0 for k, v in checks.items() if k not in ("coordinator_exit_code", "errors"))
        and not load.errors
    )
    return {
        "ok": ok,
        "duration_s": round(wall, 2),
        "evaluators": load.args.evaluators,
        "clients": load.args.clients,
        "evaluations": len(ids),
        "evaluations_per_s": round(len(ids) / wall, 1),
        "dispatch_latency": _percentiles(load.dispatch),
        "query_latency": {q: _percentiles(v) for q, v in load.queries.items()},
        "status_samples": load.samples,
        "max_leased": load.max_leased,
        "coordinator_peak_rss_mib": round(peak / 1024, 1),
        "coordinator_peak_rss_mib_before_load": round(peak_before / 1024, 1),
        "checks": checks,
        "run_dir": str(run_dir),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--evaluators", type=int, default=32, help="evaluator connections")
    parser.add_argument("--clients", type=int, default=8, help="query clients")
    parser.add_argument("--eval-ms", type=float, default=100.0, help="mean evaluation time")
    parser.add_argument("--query-pause-s", type=float, default=0.02, help="pause per query")
    parser.add_argument("--lease-s", type=float, default=5.0, help="lease length")
    parser.add_argument("--run-dir", help="work folder (default: a new temporary one)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON only")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.evaluators < 1 or args.clients < 0 or args.eval_ms <= 0:
        parser.error("duration and eval-ms must be > 0, evaluators >= 1, clients >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run_load(args)
    if args.json:
        print(json.dumps(report))
    else:
        d = report["dispatch_latency"]
        print(
            f"{report['evaluators']} evaluators + {report['clients']} clients for "
            f"{report['duration_s']} s: {report['evaluations']} evaluations "
            f"({report['evaluations_per_s']}/s)"
        )
        print(f"dispatch latency: p50 {d['p50_ms']} ms, p99 {d['p99_ms']} ms (n={d['n']})")
        for q, v in report["query_latency"].items():
            print(f"{q:>6} query: p50 {v['p50_ms']} ms, p99 {v['p99_ms']} ms (n={v['n']})")
        print(f"coordinator peak memory: {report['coordinator_peak_rss_mib']} MiB")
        print("checks:", json.dumps(report["checks"]))
        print("OK" if report["ok"] else "FAILED")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
