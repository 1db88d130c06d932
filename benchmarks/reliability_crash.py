"""Crash soak: kill -9 a coordinator again and again, resume each time, lose nothing.

The long version of tests/reliability/test_coordinator_faults.py. One search (a slowed
``synthetic`` problem, surrogate-assisted proposals so that refits happen, one local
evaluator plus one remote evaluator process that must reconnect by itself) is killed
``--rounds`` times, each time either at one of the engine's crash points
(``SEGEVO_CRASH_AT=POINT:N`` with random POINT and N, see segevo.engine.faultpoints) or
by SIGKILL from outside after a random delay, then resumed. After every kill the
committed rows must read back unchanged; at the end the budget must be reached with every
task archived exactly once or abandoned, and every task pending at any kill archived.

    python benchmarks/reliability_crash.py                   # 40 kills
    python benchmarks/reliability_crash.py --rounds 10 --json

Exit code 0 when every check passes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from segevo.engine.archive import COLUMNS, open_archive
from segevo.engine.faultpoints import POINTS
from segevo.engine.problems.synthetic import SyntheticProblem

HERE = Path(__file__).resolve().parent

COORDINATOR = """
import json, os, sys, anyio
from segevo.engine.config import RunConfig
from segevo.engine.run import Coordinator
if sys.argv[1] == "create":
    c = Coordinator.create(RunConfig(**json.loads(sys.argv[3])), sys.argv[2], handle_signals=True)
else:
    local = int(sys.argv[3]) if len(sys.argv) > 3 else None
    c = Coordinator.resume(sys.argv[2], evaluators=local, handle_signals=True)
summary = anyio.run(c.run)
sys.stdout.flush()
os._exit(0 if summary.finished else 3)  # abandoned worker threads must not hold the exit
"""

EVALUATOR = """
import sys, anyio
from segevo.engine.client import RemoteEvaluator
from segevo.engine.wire import parse_endpoint
token = open(sys.argv[2]).read().strip().encode()
stats = anyio.run(RemoteEvaluator(parse_endpoint(sys.argv[1]), token, name="survivor").run)
sys.exit(0 if stats.finished else 1)
"""


class SlowSynthetic(SyntheticProblem):
    """The ``synthetic`` benchmark with an evaluation that takes ``delay_s``."""

    def __init__(self, *, delay_s: float = 0.02, **options: Any) -> None:
        super().__init__(**options)
        self.delay_s = delay_s
        self._options = dict(options, delay_s=delay_s)

    def evaluate(self, x: np.ndarray) -> dict[str, float]:
        time.sleep(self.delay_s)
        return super().evaluate(x)

    def spec(self) -> dict[str, Any]:
        return {"problem": "reliability_crash:slow_synthetic", "options": self._options}


def slow_synthetic(**options: Any) -> SlowSynthetic:
    """Factory for ``reliability_crash:slow_synthetic``."""
    return SlowSynthetic(**options)


def _env(crash: str | None = None) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("SEGEVO_CRASH_AT", None)
    if crash:
        env["SEGEVO_CRASH_AT"] = crash
    return env


def _committed(run_dir: Path) -> int:
    try:
        meta = json.loads((run_dir / "archive.zarr" / "zarr.json").read_text())
    except (OSError, ValueError):
        return 0
    return int(meta.get("attributes", {}).get("committed_rows", 0))


def _listening(run_dir: Path) -> int:
    """How many times a coordinator of this run has started serving."""
    try:
        return (run_dir / "events.jsonl").read_text().count('"event":"listening"')
    except OSError:
        return 0


def _state(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def run_soak(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="segevo-crash-"))
    work.mkdir(parents=True, exist_ok=True)
    run_dir = work / "run"
    log = open(work / "log.txt", "ab")  # noqa: SIM115
    rng = random.Random(args.seed)
    config = {
        "problem": "reliability_crash:slow_synthetic",
        "problem_options": {"delay_s": args.delay_s, "n_var": 6},
        "evaluations": args.evaluations,
        "initial": 10,
        "batch": 6,
        "evaluators": 1,
        "strategy": "mosegnas",
        "surrogate": "rbf",
        "moea_options": {"pop_size": 20, "n_gen": 5},
        "refit_every": 4,
        "lease_s": 3.0,
        "heartbeat_s": 0.5,
    }
    kills: dict[str, int] = {}
    snapshots: list[tuple[dict[str, np.ndarray], set[int]]] = []
    remote = None
    started = time.monotonic()
    finished_early = False
    try:
        for round_ in range(args.rounds):
            external = rng.random() < 0.3
            crash = None if external else f"{rng.choice(POINTS)}:{rng.randint(1, 5)}"
            if crash is not None and crash.startswith("archive.grow"):
                crash = f"archive.column:{rng.randint(1, 30)}"  # growing needs 1,024 rows
            if round_ == 0:
                what = ["create", str(run_dir), json.dumps(config)]
            else:
                what = ["resume", str(run_dir), "1"]
            listening = _listening(run_dir) + 1
            child = subprocess.Popen(
                [sys.executable, "-c", COORDINATOR, *what],
                env=_env(crash),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            if remote is None:
                while not (run_dir / "endpoint.json").exists():
                    time.sleep(0.05)
                info = json.loads((run_dir / "endpoint.json").read_text())
                remote = subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        EVALUATOR,
                        f"{info['host']}:{info['port']}",
                        str(run_dir / "token"),
                    ],
                    env=_env(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            if external:
                # A random moment once this coordinator is serving (not during its start).
                deadline = time.monotonic() + 120
                while _listening(run_dir) < listening and child.poll() is None:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"round {round_}: the coordinator never listened")
                    time.sleep(0.02)
                try:
                    child.wait(rng.uniform(0.0, 2.0))
                except subprocess.TimeoutExpired:
                    child.send_signal(signal.SIGKILL)
            code = child.wait(300)
            if code == 0:
                finished_early = True  # the budget was reached before this kill
                break
            if remote.poll() is not None:
                raise RuntimeError(f"the remote evaluator exited with {remote.returncode}")
            if code != -signal.SIGKILL:
                raise RuntimeError(f"round {round_}: the coordinator exited with {code}")
            label = "external SIGKILL" if external else crash.split(":")[0]  # type: ignore[union-attr]
            kills[label] = kills.get(label, 0) + 1
            data = open_archive(run_dir)
            pending = {int(t["id"]) for t in _state(run_dir).get("tasks", [])}
            snapshot = {name: data[name].copy() for name in COLUMNS}
            if snapshots:
                before = snapshots[-1][0]
                n = len(before["task_id"])
                for name in COLUMNS:
                    if not np.array_equal(snapshot[name][:n], before[name], equal_nan=True):
                        raise AssertionError(f"round {round_}: committed {name} changed")
            snapshots.append((snapshot, pending))
        if not finished_early:
            # The remote evaluator alone: the run ends once it has found this coordinator
            # (and it leaves on the final bye, which it must be connected to hear).
            final = subprocess.Popen(
                [sys.executable, "-c", COORDINATOR, "resume", str(run_dir), "0"],
                env=_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            if final.wait(600) != 0:
                raise RuntimeError("the final resume did not finish the run")
        try:
            remote_code = remote.wait(120) if remote is not None else None
        except subprocess.TimeoutExpired:
            # It never heard the final bye: the run ended while it was between attempts
            # (only possible when the budget ran out before the last round).
            remote_code = None
    finally:
        for child in [remote]:
            if child is not None and child.poll() is None:
                child.kill()
        log.close()
    return _verdict(run_dir, args, kills, snapshots, remote_code, time.monotonic() - started)


def _verdict(
    run_dir: Path,
    args: argparse.Namespace,
    kills: dict[str, int],
    snapshots: list[tuple[dict[str, np.ndarray], set[int]]],
    remote_code: int | None,
    wall: float,
) -> dict[str, Any]:
    data = open_archive(run_dir)
    ids = data["task_id"].tolist()
    abandoned = {int(a["id"]) for a in _state(run_dir).get("abandoned", [])}
    lost_pending: set[int] = set()
    changed = 0
    for snapshot, pending in snapshots:
        n = len(snapshot["task_id"])
        changed += sum(
            not np.array_equal(data[c][:n], snapshot[c], equal_nan=True) for c in COLUMNS
        )
        lost_pending |= pending - set(ids) - abandoned
    everything = set(ids) | abandoned
    events = [
        json.loads(line)
        for line in (run_dir / "events.jsonl").read_text().splitlines()
        if line.strip().endswith("}")
    ]
    checks = {
        "rows": len(ids),
        "budget": args.evaluations,
        "duplicate_tasks": len(ids) - len(set(ids)),
        "duplicate_architectures": len(ids) - len({tuple(x) for x in data["x"].tolist()}),
        "committed_columns_changed": changed,
        "pending_at_a_kill_then_lost": len(lost_pending),
        "task_ids_unaccounted": len(set(range(max(everything) + 1)) - everything),
        "remote_evaluator_exit": remote_code,
    }
    ok = (
        checks["rows"] == args.evaluations
        and remote_code == 0
        and all(
            v == 0
            for k, v in checks.items()
            if k not in ("rows", "budget", "remote_evaluator_exit")
        )
    )
    return {
        "ok": ok,
        "kills": sum(kills.values()),
        "kills_by_kind": dict(sorted(kills.items())),
        "resumes": sum(e["event"] == "resumed" for e in events),
        "refits": sum(e["event"] == "refit" for e in events),
        "remote_reconnects": sum(
            e["event"] == "evaluator_connected" and e["evaluator"].startswith("survivor@")
            for e in events
        ),
        "wall_s": round(wall, 1),
        "checks": checks,
        "run_dir": str(run_dir),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40, help="kills before the final resume")
    parser.add_argument("--evaluations", type=int, default=1200, help="the run's budget")
    parser.add_argument("--delay-s", type=float, default=0.01, help="seconds per evaluation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", help="work folder (default: a new temporary one)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON only")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.evaluations < 20 or args.delay_s < 0:
        parser.error("rounds >= 1, evaluations >= 20, delay-s >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run_soak(args)
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"{report['kills']} kills ({report['kills_by_kind']}), {report['resumes']} resumes, "
            f"{report['refits']} refits, {report['remote_reconnects']} remote connections, "
            f"{report['wall_s']} s"
        )
        print("checks:", json.dumps(report["checks"]))
        print("OK" if report["ok"] else "FAILED")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
