"""Evaluator utilisation: steady state vs the generational ``--sync`` mode.

4 local evaluators, evaluation times log-normal with mean 200 ms (sigma 0.5), 400
evaluations on the ``synthetic`` problem. Busy fraction = time spent evaluating /
(evaluators x wall time from the first evaluation's start to the last one's end).
Target (issue 6): >= 95 % in steady state. The strategy defaults to ``nsga2`` (a real
MOEA whose proposals cost milliseconds), so the figure measures the engine; pass
``--strategy mosegnas`` to include surrogate fits and proposals with the engine's defaults,
and ``--staleness 4,8,16`` for the trade-off of ``max_staleness`` (one steady run each).

    python benchmarks/engine_utilisation.py [--evaluations 400] [--evaluators 4]
    python benchmarks/engine_utilisation.py --strategy mosegnas --staleness 4,8,16 --no-sync
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


def measure(args: argparse.Namespace, sync: bool, work: Path, staleness: int | None) -> dict:
    engine_problems.INTERVALS.clear()
    extra: dict = {} if staleness is None else {"max_staleness": staleness}
    if args.surrogate:
        extra["surrogate"] = args.surrogate
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
        sync=sync,
        **extra,
    )
    name = f"{'sync' if sync else 'steady'}-{staleness}"
    coordinator = Coordinator.create(config, work / name)
    wall_start = time.perf_counter()
    summary = anyio.run(coordinator.run)
    wall = time.perf_counter() - wall_start
    intervals = sorted(engine_problems.INTERVALS)
    first = intervals[0][0]
    last = max(end for _, end in intervals)
    busy = sum(end - start for start, end in intervals)
    window = last - first
    status = coordinator.status()
    return {
        "mode": "sync" if sync else "steady",
        "max_staleness": config.max_staleness,
        "surrogate": config.surrogate,
        "staleness_waits": status["staleness_waits"],
        "proposals": status["proposals"],
        "refits": status["surrogate_version"],
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
    parser.add_argument("--surrogate", default=None, help="default: the engine's")
    parser.add_argument("--staleness", default="", help="comma-separated max_staleness values")
    parser.add_argument("--no-sync", action="store_true", help="skip the --sync run")
    args = parser.parse_args()
    values = [int(v) for v in args.staleness.split(",") if v] or [None]
    with tempfile.TemporaryDirectory() as tmp:
        results = [measure(args, False, Path(tmp), v) for v in values]
        if not args.no_sync:
            results.append(measure(args, True, Path(tmp), None))
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
