"""Engine overhead: evaluations per second end to end with a zero-cost problem.

A tabular problem whose evaluation is a table look-up, the ``random`` strategy, and two
remote evaluator processes attached over TCP on loopback: every evaluation goes through
proposal, dispatch (a ``task`` frame), the evaluator, a ``result`` frame, the dispatcher's
exactly-once check and a grouped zarr append. Target (issue 6): >= 1,000 evaluations/s.

    python benchmarks/engine_overhead.py [--evaluations 5000] [--evaluators 2] [--prefetch 64]
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import numpy as np

from segevo.engine.archive import open_archive
from segevo.engine.config import RunConfig
from segevo.engine.run import Coordinator


def write_table(path: Path, radix: tuple[int, ...], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    X = np.array(list(itertools.product(*(range(r) for r in radix))))
    acc = rng.random(len(X))
    lat = 1.0 + X.sum(axis=1) + rng.random(len(X))
    header = ",".join([*(f"x{i}" for i in range(len(radix))), "acc", "lat_ms"])
    data = np.column_stack([X, acc, lat])
    fmt = ["%d"] * len(radix) + ["%.6f", "%.6f"]
    np.savetxt(path, data, fmt=fmt, delimiter=",", header=header, comments="")


async def run(args: argparse.Namespace, work: Path) -> dict:
    table = work / "table.csv"
    write_table(table, (10, 10, 10, 10, 4))
    config = RunConfig(
        problem=f"table:{table}",
        evaluations=args.evaluations,
        initial=16,
        batch=64,
        evaluators=0,
        strategy="random",
        lease_s=30.0,
        heartbeat_s=5.0,
    )
    coordinator = Coordinator.create(config, work / "run")
    children: list[subprocess.Popen] = []

    async def attach() -> None:
        while coordinator.bound is None:
            await anyio.sleep(0.01)
        for i in range(args.evaluators):
            children.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "segevo.cli.main",
                        "evaluator",
                        "--connect",
                        str(coordinator.bound),
                        "--token-file",
                        str(work / "run" / "token"),
                        "--name",
                        f"ev{i}",
                        "--prefetch",
                        str(args.prefetch),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    started = time.perf_counter()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(attach)
            summary = await coordinator.run()
    finally:
        for child in children:
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
    wall = time.perf_counter() - started
    data = open_archive(work / "run")
    t_done = np.sort(data["t_done"])
    # Steady rate: from the 5th percentile row to the last, so evaluator start-up
    # (interpreter and import time, not engine overhead) is left out.
    first = t_done[len(t_done) // 20]
    steady = (len(t_done) - len(t_done) // 20 - 1) / (t_done[-1] - first)
    return {
        "evaluations": int(summary.evaluations),
        "unique_tasks": len(np.unique(data["task_id"])),
        "evaluators": args.evaluators,
        "prefetch": args.prefetch,
        "wall_s_including_startup": round(wall, 3),
        "evaluations_per_s_steady": round(float(steady), 1),
        "evaluations_per_s_overall": round(summary.evaluations / wall, 1),
        "archive_appends": coordinator.archive.appends,
        "rows_per_append": round(summary.evaluations / max(1, coordinator.archive.appends), 1),
        "target_per_s": 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=5000)
    parser.add_argument("--evaluators", type=int, default=2)
    parser.add_argument("--prefetch", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = anyio.run(run, args, Path(tmp))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
