"""Search quality through the product: real ``Coordinator`` runs on public benchmark tables.

Every segevo variant is a real steady-state (or ``--sync``) run of the engine, exactly what
``segevo run`` starts: local evaluator tasks, the Proposer/Surrogate/Archive actors, the
zarr archive. Evaluations are zero-cost table look-ups unless ``--eval-ms`` gives them a
log-normal duration. The peers run on the same problem objects, paired by seed:

- ``pymoo-nsga2``: stock pymoo NSGA-II (population 20, duplicates eliminated, integer
  sampling/SBX/PM with rounding, the problem's ``repair`` for candidate pools), stopped at the
  budget;
- ``random``: distinct architectures drawn by the problem's own ``sample`` (uniform over the
  box, or over the rows of a candidate pool), at 1x and 3x the budget.

Score: hypervolume regret against the table's true front (``problem.pareto_front()``), both
objectives normalised to [0, 1] by the table's bounds, reference (1, 1); lower is better.
A segevo run's regret at smaller budgets is read off the same archive in commit order.

    python benchmarks/search_quality_tables.py --seeds 5 --out runs/sq-tables
    python benchmarks/search_quality_tables.py --problems macro --variants default,sync \\
        --set max_staleness=16 --tag r16

Results per (problem, variant, seed) are saved under ``--out`` as they finish and reused on a
rerun, so the benchmark can be resumed; ``--report`` prints the median table of everything
saved there.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
TABLES = HERE.parents[0].parent / "shared" / "data" / "tables"
CAMVID = HERE / "data" / "camvid_tiny_table.csv"

PROBLEMS: dict[str, dict[str, Any]] = {
    "macro": {
        "problem": f"table:{TABLES / 'nasbench_macro_cifar10.csv'}",
        "problem_options": {"columns": ["acc", "mflops"]},
    },
    "macro-noisy": {
        "problem": f"table:{TABLES / 'nasbench_macro_cifar10.csv'}",
        "problem_options": {
            "columns": ["acc", "mflops"],
            "noise": ["acc_run0", "acc_run1", "acc_run2"],
        },
    },
    "tn-micro": {
        "problem": f"table:{TABLES / 'transnas_segmentsemantic_micro.csv'}",
        "problem_options": {"columns": ["acc", "flops"]},
    },
    "tn-macro": {
        "problem": f"table:{TABLES / 'transnas_segmentsemantic_macro.csv'}",
        "problem_options": {"columns": ["acc", "flops"]},
    },
    "synthetic": {"problem": "synthetic", "problem_options": {"seed": 0}},
    "camvid": {"problem": f"table:{CAMVID}", "problem_options": {}},
}

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "sync": {"sync": True},
    "e4": {"evaluators": 4},
    "nsga2": {"strategy": "nsga2"},
}


def load(name: str) -> Any:
    from segevo.engine.problem import load_problem

    spec = PROBLEMS[name]
    return load_problem(spec["problem"], **spec["problem_options"])


class Scorer:
    """Normalised hypervolume regret against a problem's true front."""

    def __init__(self, problem: Any) -> None:
        bounds = problem.objective_bounds()
        self.acc_lo, self.acc_hi = bounds["acc"]
        self.lat_lo, self.lat_hi = bounds["lat_ms"]
        front = problem.pareto_front()
        self.best = self.hv(problem.accuracy(front), problem.latency(front))

    def hv(self, acc: np.ndarray, lat: np.ndarray) -> float:
        from segevo import _core

        if len(acc) == 0:
            return 0.0
        f1 = (self.acc_hi - np.asarray(acc, float)) / (self.acc_hi - self.acc_lo)
        f2 = (np.asarray(lat, float) - self.lat_lo) / (self.lat_hi - self.lat_lo)
        F = np.ascontiguousarray(np.column_stack([f1, f2]))
        return float(_core.hypervolume_2d(F, np.array([1.0, 1.0])))

    def regret(self, acc: np.ndarray, lat: np.ndarray) -> float:
        return self.best - self.hv(acc, lat)


def run_segevo(
    name: str, variant: dict[str, Any], seed: int, budget: int, extra: dict[str, Any], args: Any
) -> dict[str, Any]:
    import anyio

    from segevo.engine.archive import open_archive
    from segevo.engine.config import RunConfig
    from segevo.engine.run import Coordinator

    spec = PROBLEMS[name]
    values: dict[str, Any] = {
        "problem": spec["problem"],
        "problem_options": dict(spec["problem_options"]),
        "evaluations": budget,
        "evaluators": 2,
        "seed": seed,
        **variant,
        **extra,
    }
    if args.eval_ms:
        values["problem_options"] = {
            "inner": spec["problem"],
            "inner_options": dict(spec["problem_options"]),
            "mean_s": args.eval_ms / 1000.0,
            "sigma": 0.5,
            "seed": seed,
        }
        values["problem"] = "engine_problems:slow"
    config = RunConfig(**values)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        coordinator = Coordinator.create(config, Path(tmp) / "run")
        summary = anyio.run(coordinator.run)
        wall = time.perf_counter() - started
        data = open_archive(Path(tmp) / "run")
        acc = np.asarray(data["acc"], float)
        x = np.asarray(data["x"])
        versions = np.asarray(data["predictor_version"])
        status = coordinator.status()
    problem = load(name)
    # Scored on the table's main accuracy column: with --table-noise the archive holds the
    # noisy observations, the regret is that of the networks found.
    acc, lat = problem.accuracy(x), problem.latency(x)
    return {
        "acc": acc.tolist(),
        "lat": lat.tolist(),
        "wall_s": wall,
        "model_rows": int(np.count_nonzero(versions >= 1)),
        "finished": summary.finished,
        "staleness_waits": status.get("staleness_waits"),
        "proposals": status.get("proposals"),
    }


def run_pymoo(name: str, seed: int, budget: int, pop: int = 20) -> dict[str, Any]:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem as PymooProblem
    from pymoo.core.repair import Repair
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.optimize import minimize

    problem = load(name)
    seen_acc: list[float] = []
    seen_lat: list[float] = []

    class Wrapped(PymooProblem):
        def __init__(self) -> None:
            super().__init__(
                n_var=problem.n_var, n_obj=2, xl=problem.lower, xu=problem.upper, vtype=int
            )

        def _evaluate(self, X: np.ndarray, out: dict, *a: Any, **k: Any) -> None:
            X = problem.repair(np.rint(X).astype(np.int64))
            rows = [problem.evaluate(x) for x in X]
            acc = np.array([r["acc"] for r in rows])
            lat = np.array([r["lat_ms"] for r in rows])
            seen_acc.extend(problem.accuracy(X).tolist())
            seen_lat.extend(lat.tolist())
            out["F"] = np.column_stack([-acc, lat])

    class ToProblem(Repair):
        def _do(self, _problem: Any, X: np.ndarray, **kwargs: Any) -> np.ndarray:
            return problem.repair(np.rint(X).astype(np.int64)).astype(float)

    algorithm = NSGA2(
        pop_size=pop,
        sampling=IntegerRandomSampling(),
        crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
        mutation=PM(eta=20, vtype=float, repair=RoundingRepair()),
        repair=ToProblem(),
        eliminate_duplicates=True,
    )
    minimize(Wrapped(), algorithm, ("n_evals", budget), seed=seed, verbose=False)
    return {"acc": seen_acc[:budget], "lat": seen_lat[:budget]}


def run_random(name: str, seed: int, budget: int) -> dict[str, Any]:
    from segevo.engine.strategies.base import new_random

    problem = load(name)
    rng = np.random.default_rng(10_000 + seed)
    X = new_random(problem, budget, rng, np.zeros(0, np.int64), attempts=200)
    return {"acc": problem.accuracy(X).tolist(), "lat": problem.latency(X).tolist()}


def regrets(scorer: Scorer, record: dict[str, Any], budgets: list[int]) -> dict[str, float]:
    acc, lat = np.asarray(record["acc"]), np.asarray(record["lat"])
    return {str(b): scorer.regret(acc[:b], lat[:b]) for b in budgets if b <= len(acc)}


def parse_set(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = json.loads(value) if value[:1] in '[{"0123456789-tf' else value
    return out


def report(out: Path) -> str:
    """Median regret per (problem, method, budget) over every result saved in ``out``."""
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for path in sorted(out.glob("*.json")):
        record = json.loads(path.read_text())
        results.setdefault((record["problem"], record["method"]), []).append(record["regret"])
    lines = ["| problem | method | seeds | " + " | ".join(f"@{b}" for b in ALL_BUDGETS) + " |"]
    lines.append("|---|---|---|" + "---|" * len(ALL_BUDGETS))
    for (problem, method), rows in sorted(results.items()):
        cells = []
        for b in ALL_BUDGETS:
            values = [r[str(b)] for r in rows if str(b) in r]
            cells.append(f"{np.median(values):.4f}" if values else "")
        lines.append(f"| {problem} | {method} | {len(rows)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


ALL_BUDGETS = [50, 100, 200, 600]
PLOTTED = ("default", "nsga2", "pymoo-nsga2@3x", "random@3x")


def plot(out: Path, path: Path) -> Path:
    """Median regret against evaluations, one panel per problem (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for file in sorted(out.glob("*.json")):
        record = json.loads(file.read_text())
        if record["method"] in PLOTTED:
            results.setdefault((record["problem"], record["method"]), []).append(record["regret"])
    problems = sorted({p for p, _ in results})
    cols = min(3, len(problems))
    rows = -(-len(problems) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.ravel()[len(problems) :]:
        ax.set_visible(False)
    for ax, problem in zip(axes.ravel(), problems, strict=False):
        for method in PLOTTED:
            rows = results.get((problem, method), [])
            budgets = [b for b in ALL_BUDGETS if any(str(b) in r for r in rows)]
            medians = [np.median([r[str(b)] for r in rows if str(b) in r]) for b in budgets]
            label = {"default": "segevo default"}.get(method, method.replace("@3x", ""))
            ax.plot(budgets, np.maximum(medians, 1e-5), marker="o", label=label)
        ax.set_title(problem)
        ax.set_xlabel("evaluations")
        ax.set_yscale("log")
    for row in axes:
        row[0].set_ylabel("median HV regret")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default="macro,tn-micro,tn-macro,synthetic,camvid")
    parser.add_argument("--variants", default="default,sync,e4,nsga2,pymoo,random")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--set", action="append", default=[], help="RunConfig key=value")
    parser.add_argument("--tag", default="", help="suffix for variants run with --set")
    parser.add_argument("--eval-ms", type=float, default=0.0, help="log-normal eval time")
    parser.add_argument("--out", type=Path, default=Path("runs/sq-tables"))
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--plot", type=Path, default=None, help="with --report: a PNG here")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report:
        print(report(args.out))
        if args.plot is not None:
            print(f"wrote {plot(args.out, args.plot)}")
        return
    extra = parse_set(args.set)
    for name in args.problems.split(","):
        if name == "camvid" and not CAMVID.exists():
            print(f"skipping camvid: {CAMVID} does not exist", flush=True)
            continue
        scorer = Scorer(load(name))
        for variant in args.variants.split(","):
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                jobs: list[tuple[str, int]] = []
                if variant == "pymoo":
                    jobs = [("pymoo-nsga2", args.budget), ("pymoo-nsga2@3x", 3 * args.budget)]
                elif variant == "random":
                    jobs = [("random", args.budget), ("random@3x", 3 * args.budget)]
                else:
                    jobs = [(variant + (f"-{args.tag}" if args.tag else ""), args.budget)]
                for method, budget in jobs:
                    path = args.out / f"{name}--{method}--{seed}.json"
                    if path.exists():
                        continue
                    started = time.perf_counter()
                    if variant == "pymoo":
                        record = run_pymoo(name, seed, budget)
                    elif variant == "random":
                        record = run_random(name, seed, budget)
                    else:
                        record = run_segevo(name, VARIANTS[variant], seed, budget, extra, args)
                    result = {
                        "problem": name,
                        "method": method,
                        "seed": seed,
                        "settings": extra,
                        "regret": regrets(scorer, record, ALL_BUDGETS),
                        "wall_s": time.perf_counter() - started,
                        **{k: v for k, v in record.items() if k not in ("acc", "lat")},
                    }
                    path.write_text(json.dumps(result))
                    print(
                        f"{name} {method} seed {seed}: regret {result['regret']} "
                        f"({result['wall_s']:.1f} s)",
                        flush=True,
                    )
    print(report(args.out))


if __name__ == "__main__":
    main()
