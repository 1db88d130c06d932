"""Responsiveness: latency of ``status`` queries while a proposal runs.

A coordinator process runs ``mosegnas`` with the paper's NSGA-II setting (population
100, 1000 generations) on the ``synthetic`` problem, so every proposal keeps a worker
thread busy for a while; two local evaluators take 300 ms per evaluation. This process
connects as a query client and asks ``status`` every 10 ms, timing each round trip over
TCP and noting whether a proposal was running. Target (issue 6): p99 <= 50 ms while a
proposal runs.

    python benchmarks/engine_responsiveness.py [--evaluations 40] [--surrogate rf]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import numpy as np

from segevo.engine.client import QueryClient, QueryError
from segevo.engine.rundir import read_token
from segevo.engine.wire import Endpoint

HERE = Path(__file__).resolve().parent


def write_toml(path: Path, args: argparse.Namespace) -> None:
    path.write_text(
        "\n".join(
            [
                'problem = "engine_problems:slow"',
                f"evaluations = {args.evaluations}",
                "initial = 10",
                "batch = 8",
                "evaluators = 2",
                'strategy = "mosegnas"',
                f'surrogate = "{args.surrogate}"',
                "[problem_options]",
                'inner = "synthetic"',
                "mean_s = 0.3",
                "[problem_options.inner_options]",
                "seed = 1",
                "[moea_options]",
                f"pop_size = {args.pop_size}",
                f"n_gen = {args.n_gen}",
            ]
        )
        + "\n"
    )


async def probe(run_dir: Path, period_s: float) -> list[tuple[float, bool]]:
    while not (run_dir / "endpoint.json").exists():
        await anyio.sleep(0.05)
    meta = json.loads((run_dir / "endpoint.json").read_text())
    endpoint = Endpoint(meta["host"], int(meta["port"]))
    samples: list[tuple[float, bool]] = []
    async with QueryClient.connect(endpoint, read_token(run_dir / "token")) as client:
        while True:
            started = time.perf_counter()
            try:
                status = await client.status()
            except (QueryError, anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                break
            samples.append((time.perf_counter() - started, bool(status["proposing"])))
            if status["finished"]:
                break
            await anyio.sleep(period_s)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=40)
    parser.add_argument("--surrogate", default="rf")
    parser.add_argument("--pop-size", type=int, default=100)
    parser.add_argument("--n-gen", type=int, default=1000)
    parser.add_argument("--period-s", type=float, default=0.01)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_toml(work / "run.toml", args)
        env = dict(
            os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
        )
        coordinator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "segevo.cli.main",
                "run",
                "--config",
                str(work / "run.toml"),
                "--run-dir",
                str(work / "run"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            samples = anyio.run(probe, work / "run", args.period_s)
        finally:
            coordinator.wait(120)
    during = np.array([s for s, busy in samples if busy]) * 1000
    idle = np.array([s for s, busy in samples if not busy]) * 1000

    def summary(values: np.ndarray) -> dict:
        if values.size == 0:
            return {"queries": 0}
        return {
            "queries": int(values.size),
            "p50_ms": round(float(np.percentile(values, 50)), 2),
            "p99_ms": round(float(np.percentile(values, 99)), 2),
            "max_ms": round(float(values.max()), 2),
        }

    print(
        json.dumps(
            {
                "moea": {"pop_size": args.pop_size, "n_gen": args.n_gen},
                "during_proposal": summary(during),
                "otherwise": summary(idle),
                "target_p99_ms": 50,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
