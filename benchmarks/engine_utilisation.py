"""Evaluator utilisation: steady state vs the generational ``--sync`` mode.

4 local evaluators, evaluation times log-normal with mean 200 ms (sigma 0.5), 400
evaluations on the ``synthetic`` problem. Busy fraction = time spent evaluating /
(evaluators x wall time from the first evaluation's start to the last one's end).
Target (issue 6): >= 95 % in steady state. The strategy defaults to ``nsga2`` (a real
MOEA whose proposals cost milliseconds), so the figure measures the engine; pass
``--strategy mosegnas --surrogate dt`` to include surrogate fits and proposals.

    python benchmarks/engine_utilisation.py [--evaluations 400] [--evaluators 4]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
import engine_problems

from segevo.engine.config import RunConfig
from segevo.engine.run import Coordinator


def measure(args: argparse.Namespace, sync: bool, work: Path) -> dict:
    engine_problems.INTERVALS.clear()
    config = RunConfig(
        problem="engine_problems:slow",
        problem_options={
            "inner": "synthetic",
            "inner_options": {"seed": 1},
            "mean_s": args.mean_s,
            "sigma": args.sigma,
            "seed": 7,
        },
        evaluations=args.evaluations,
        initial=args.initial,
        batch=args.batch,
        evaluators=args.evaluators,
        strategy=args.strategy,
        surrogate=args.surrogate,
        moea_options={"pop_size": 40, "n_gen": 50} if args.strategy == "mosegnas" else {},
        sync=sync,
    )
    coordinator = Coordinator.create(config, work / ("sync" if sync else "steady"))
    wall_start = time.perf_counter()
    summary = anyio.run(coordinator.run)
    wall = time.perf_counter() - wall_start
    intervals = sorted(engine_problems.INTERVALS)
    first = intervals[0][0]
    last = max(end for _, end in intervals)
    busy = sum(end - start for start, end in intervals)
    window = last - first
    return {
        "mode": "sync" if sync else "steady",
        "evaluations": summary.evaluations,
        "busy_fraction": round(busy / (args.evaluators * window), 4),
        "window_s": round(window, 3),
        "ideal_s": round(busy / args.evaluators, 3),
        "wall_s": round(wall, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=400)
    parser.add_argument("--evaluators", type=int, default=4)
    parser.add_argument("--mean-s", type=float, default=0.2)
    parser.add_argument("--sigma", type=float, default=0.5)
    parser.add_argument("--initial", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--strategy", default="nsga2")
    parser.add_argument("--surrogate", default="ranknet")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [measure(args, sync, Path(tmp)) for sync in (False, True)]
    print(
        json.dumps(
            {
                "strategy": args.strategy,
                "evaluators": args.evaluators,
                "mean_eval_s": args.mean_s,
                "target_steady": 0.95,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
