"""Search quality at equal evaluation budgets: segevo vs plain NSGA-II vs random search (issue 9).

Every variant runs the engine's own strategy code (``segevo.engine.strategies``:
``initial``, ``fit_model``, ``propose``) in a synchronous simulation loop: ``--initial``
architectures (lower bound, upper bound, random), then batches of ``--batch`` proposals,
each evaluated at once through ``problem.evaluate``; the surrogate is refitted whenever
``--refit-every`` new evaluations have arrived since the last fit (the engine's Surrogate
actor does the same in steady state). The score is the hypervolume of the evaluated
front after each evaluation, with accuracy and latency normalised to [0, 1] by the
problem's known bounds (``problem.objective_bounds()``) and reference point (1, 1).

Variants: ``segevo`` (mosegnas + hierarchical pre-screening), the pre-screen ablations
``hierarchical-paper`` (Algorithm 4 as printed), ``survival``, ``hv``, ``latency`` and
``random-prescreen`` (mosegnas with that pre-screen), ``nsga2`` and ``random``. Results per (variant, seed) are saved as they
finish under ``--out`` and reused on a rerun, so a long benchmark can be resumed.

    python benchmarks/search_quality.py --seeds 5 --jobs 2 --out runs/search_quality
    python benchmarks/search_quality.py --surrogate gb --variants segevo,nsga2,random

Outputs: ``table.md`` (median and interquartile range per budget), ``curves.csv``
(per seed), ``search_quality.png`` (median hypervolume against evaluations, like the
paper's Fig. 10), and a summary printed to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

VARIANTS: dict[str, dict[str, Any]] = {
    "segevo": {"strategy": "mosegnas", "prescreen": "hierarchical"},
    "hierarchical-paper": {"strategy": "mosegnas", "prescreen": "hierarchical-paper"},
    "survival": {"strategy": "mosegnas", "prescreen": "survival"},
    "hv": {"strategy": "mosegnas", "prescreen": "hv"},
    "latency": {"strategy": "mosegnas", "prescreen": "latency"},
    "random-prescreen": {"strategy": "mosegnas", "prescreen": "random"},
    "nsga2": {"strategy": "nsga2"},
    "random": {"strategy": "random"},
}


def normalised_objectives(problem: Any, acc: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """``[1 - acc01, lat01]`` with the problem's known bounds (both minimised, in [0, 1])."""
    bounds = problem.objective_bounds()
    if bounds is None:
        raise ValueError("this benchmark needs a problem with known objective bounds")
    (a_lo, a_hi), (t_lo, t_hi) = bounds["acc"], bounds["lat_ms"]
    return np.column_stack([(a_hi - acc) / (a_hi - a_lo), (lat - t_lo) / (t_hi - t_lo)])


def hypervolume_curve(F: np.ndarray) -> np.ndarray:
    """Hypervolume (reference (1, 1)) of the first n points, for n = 1..len(F)."""
    from segevo._core import hypervolume_2d

    ref = np.array([1.0, 1.0])
    curve = np.zeros(F.shape[0])
    front = F[:0]
    for n in range(F.shape[0]):
        point = F[n : n + 1]
        if not np.any(np.all(front <= point, axis=1)):
            front = np.concatenate([front[~np.all(point <= front, axis=1)], point])
        curve[n] = hypervolume_2d(front, ref)
    return curve


def run_one(config: dict[str, Any]) -> dict[str, Any]:
    """One search; returns its hypervolume curve and diagnostics (runs in a worker process)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from threadpoolctl import threadpool_limits

    from segevo.engine.problem import load_problem
    from segevo.engine.strategies import make_strategy
    from segevo.surrogates import kendall

    problem = load_problem(config["problem"], **config["problem_options"])
    variant = VARIANTS[config["variant"]]
    seed = int(config["seed"])
    options: dict[str, Any] = {"seed": seed}
    if variant["strategy"] == "mosegnas":
        options.update(
            surrogate=config["surrogate"],
            surrogate_options=config["surrogate_options"],
            prescreen=variant["prescreen"],
            moea_options=config["moea_options"],
        )
    strategy = make_strategy(variant["strategy"], problem, **options)
    rng = np.random.default_rng(seed)
    probe = problem.sample(1000, np.random.default_rng(10_000 + seed))
    probe_acc = np.array([problem.evaluate(x)["acc"] for x in probe])
    budget = int(config["budget"])
    started = time.perf_counter()
    fit_seconds = propose_seconds = 0.0
    taus: list[tuple[int, float]] = []
    with threadpool_limits(limits=1):
        X = strategy.initial(min(int(config["initial"]), budget), rng)
        results = [problem.evaluate(x) for x in X]
        acc = np.array([r["acc"] for r in results])
        lat = np.array([r.get("lat_ms", np.nan) for r in results])
        model, fitted_at = None, -1
        while X.shape[0] < budget:
            if model is None or X.shape[0] - fitted_at >= int(config["refit_every"]):
                t0 = time.perf_counter()
                model = strategy.fit_model(X, acc)
                fit_seconds += time.perf_counter() - t0
                fitted_at = X.shape[0]
                if model is not None:
                    taus.append((fitted_at, float(kendall(probe_acc, model.predict(probe)))))
            k = min(int(config["batch"]), budget - X.shape[0])
            t0 = time.perf_counter()
            proposal = strategy.propose(model, X, acc, lat, None, k, rng)
            propose_seconds += time.perf_counter() - t0
            if len(proposal) == 0:
                break
            results = [problem.evaluate(x) for x in proposal.X]
            X = np.concatenate([X, proposal.X])
            acc = np.concatenate([acc, [r["acc"] for r in results]])
            lat = np.concatenate([lat, [r.get("lat_ms", np.nan) for r in results]])
    lat = np.where(np.isfinite(lat), lat, problem.latency(X))
    curve = hypervolume_curve(normalised_objectives(problem, acc, lat))
    return {
        "variant": config["variant"],
        "seed": seed,
        "hv": curve.tolist(),
        "seconds": time.perf_counter() - started,
        "fit_seconds": fit_seconds,
        "propose_seconds": propose_seconds,
        "kendall": taus,
    }


def true_front_hypervolume(problem: Any) -> float | None:
    """Hypervolume of the problem's exact Pareto front, when the problem can list it."""
    if not hasattr(problem, "pareto_front"):
        return None
    front = problem.pareto_front()
    F = normalised_objectives(problem, problem.accuracy(front), problem.latency(front))
    return float(hypervolume_curve(F)[-1])


def evaluations_to_reach(curve: np.ndarray, target: float) -> float:
    """The first evaluation count at which ``curve`` reaches ``target`` (inf if never)."""
    hit = np.flatnonzero(curve >= target - 1e-12)
    return float(hit[0] + 1) if hit.size else float("inf")


def summarise(
    runs: dict[str, list[dict[str, Any]]], budgets: Sequence[int], problem: Any, out: Path
) -> str:
    """Markdown table + targets; also writes curves.csv and the plot."""
    lines = [
        "| variant | " + " | ".join(f"HV @ {b}" for b in budgets) + " | s/run |",
        "|---|" + "---|" * (len(budgets) + 1),
    ]
    medians: dict[str, dict[int, float]] = {}
    for name, seeds in runs.items():
        curves = [np.asarray(r["hv"]) for r in seeds]
        cells = []
        medians[name] = {}
        for b in budgets:
            values = np.array([c[min(b, c.size) - 1] for c in curves])
            q1, med, q3 = np.percentile(values, [25, 50, 75])
            medians[name][b] = float(med)
            cells.append(f"{med:.4f} [{q1:.4f}, {q3:.4f}]")
        seconds = np.median([r["seconds"] for r in seeds])
        lines.append(f"| {name} (n={len(seeds)}) | " + " | ".join(cells) + f" | {seconds:.0f} |")
    text = ["Median hypervolume [25th, 75th percentile] of the evaluated front:", "", *lines, ""]
    optimum = true_front_hypervolume(problem)
    if optimum is not None:
        text.append(f"hypervolume of the exact Pareto front: {optimum:.4f}")
    if "segevo" in runs and "random" in runs:
        last = max(budgets)
        target = medians["random"][last]
        reach = [evaluations_to_reach(np.asarray(r["hv"]), target) for r in runs["segevo"]]
        text.append(
            f"segevo reaches random search's median HV at {last} ({target:.4f}) after a median "
            f"of {np.median(reach):.0f} evaluations (per seed: {[int(r) if np.isfinite(r) else None for r in reach]}); "
            f"target <= {last / 3:.0f}"
        )
    if {"segevo", "nsga2", "random"} <= set(runs):
        order = all(
            medians["segevo"][b] > medians["nsga2"][b] > medians["random"][b] for b in budgets
        )
        text.append(f"segevo > nsga2 > random at every budget: {order}")
    prescreens = [
        n
        for n in ("segevo", "hierarchical-paper", "survival", "hv", "latency", "random-prescreen")
        if n in runs
    ]
    if len(prescreens) > 1:
        best = {b: max(prescreens, key=lambda n: medians[n][b]) for b in budgets}
        text.append(
            "best pre-screen per budget: " + ", ".join(f"{b}: {n}" for b, n in best.items())
        )
    for name, seeds in runs.items():
        taus = [t for r in seeds for t in r["kendall"]]
        if taus:
            by_size = {}
            for n, tau in taus:
                by_size.setdefault(min(budgets, key=lambda b: abs(b - n)), []).append(tau)
            text.append(
                f"{name}: surrogate Kendall tau on 1000 random architectures: "
                + ", ".join(f"~{b}: {np.median(v):.3f}" for b, v in sorted(by_size.items()))
            )
    _write_curves(runs, out / "curves.csv")
    _plot(runs, budgets, out / "search_quality.png", problem)
    return "\n".join(text)


def _write_curves(runs: dict[str, list[dict[str, Any]]], path: Path) -> None:
    with open(path, "w") as f:
        f.write("variant,seed,evaluations,hv\n")
        for name, seeds in runs.items():
            for r in seeds:
                for n, hv in enumerate(r["hv"], start=1):
                    f.write(f"{name},{r['seed']},{n},{hv:.6f}\n")


def _plot(
    runs: dict[str, list[dict[str, Any]]], budgets: Sequence[int], path: Path, problem: Any
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, seeds in runs.items():
        length = min(len(r["hv"]) for r in seeds)
        curves = np.array([r["hv"][:length] for r in seeds])
        x = np.arange(1, length + 1)
        q1, med, q3 = np.percentile(curves, [25, 50, 75], axis=0)
        ax.plot(x, med, label=name, linewidth=2 if name == "segevo" else 1.2)
        ax.fill_between(x, q1, q3, alpha=0.15)
    for b in budgets:
        ax.axvline(b, color="grey", linewidth=0.5, linestyle=":")
    optimum = true_front_hypervolume(problem)
    if optimum is not None:
        ax.axhline(optimum, color="black", linewidth=0.8, linestyle="--", label="exact front")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("hypervolume (normalised, ref (1, 1))")
    ax.set_title(f"Search quality on {problem.spec()['problem']}: median over seeds (band: IQR)")
    lows = [np.median([r["hv"][min(budgets) - 1] for r in seeds]) for seeds in runs.values()]
    ax.set_ylim(min(lows) - 0.05, None)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problem", default="synthetic")
    parser.add_argument("--problem-options", default="{}", help="JSON keyword options")
    parser.add_argument("--budgets", default="100,200,300,500")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--initial", type=int, default=40)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--refit-every", type=int, default=24)
    parser.add_argument("--surrogate", default="ranknet")
    parser.add_argument("--surrogate-options", default='{"threads": 1}', help="JSON")
    parser.add_argument("--moea-options", default='{"n_gen": 200}', help="JSON")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", default="runs/search_quality")
    args = parser.parse_args(argv)

    from segevo.engine.problem import load_problem

    budgets = sorted(int(b) for b in args.budgets.split(","))
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    problem_options = json.loads(args.problem_options)
    problem = load_problem(args.problem, **problem_options)
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    settings = {
        "problem": args.problem,
        "problem_options": problem_options,
        "budget": max(budgets),
        "initial": args.initial,
        "batch": args.batch,
        "refit_every": args.refit_every,
        "surrogate": args.surrogate,
        "surrogate_options": json.loads(args.surrogate_options),
        "moea_options": json.loads(args.moea_options),
    }
    (out / "settings.json").write_text(json.dumps({**settings, "seeds": args.seeds}, indent=1))
    todo, runs = [], {v: [] for v in variants}
    for variant in variants:
        for seed in range(args.seeds):
            path = out / "runs" / f"{variant}-{seed}.json"
            if path.exists():
                stored = json.loads(path.read_text())
                if stored.get("settings") == settings:
                    runs[variant].append(stored)
                    continue
            todo.append({**settings, "variant": variant, "seed": seed})
    print(
        f"{problem.spec()['problem']} ({getattr(problem, 'size', '?')} architectures); "
        f"{len(todo)} runs to do, {sum(map(len, runs.values()))} reused"
    )

    def store(result: dict[str, Any], config: dict[str, Any]) -> None:
        result["settings"] = settings
        (out / "runs" / f"{config['variant']}-{config['seed']}.json").write_text(json.dumps(result))
        runs[config["variant"]].append(result)
        print(
            f"  {config['variant']:>16} seed {config['seed']}: HV@{max(budgets)} "
            f"{result['hv'][-1]:.4f} in {result['seconds']:.0f} s "
            f"(fit {result['fit_seconds']:.0f} s, propose {result['propose_seconds']:.0f} s)",
            flush=True,
        )

    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            for config, result in zip(todo, pool.map(run_one, todo), strict=True):
                store(result, config)
    else:
        for config in todo:
            store(run_one(config), config)
    for variant in variants:
        runs[variant].sort(key=lambda r: r["seed"])
    report = summarise(runs, budgets, problem, out)
    (out / "table.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
