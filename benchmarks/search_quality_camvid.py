"""Search quality on the ``tiny`` CamVid supernet through the real engine (issue 9, item 2b).

Each (variant, seed) is one real search: :class:`segevo.engine.run.Coordinator` in steady
state with local evaluators and the engine's defaults (``initial`` 20, ``batch`` 8,
``refit_every`` 4, RankNet, NSGA-II with population 100 for 1000 generations), run to
the largest budget; the hypervolume at the smaller budgets is read off the same archive in
evaluation (commit) order. For one seed every strategy starts from the same initial
population (the coordinator's RNG draws it first).

Variants: ``mosegnas`` (the default strategy: RankNet + latency table + NSGA-II proposals
+ hierarchical pre-screening), ``nsga2``, ``random``, and the pre-screen ablations
``survival``, ``hv``, ``latency`` (``mosegnas`` with that pre-screen).

Evaluations are memoised: the problem is ``_cached_problem:cached_mosegnas`` (this
folder), which answers an architecture evaluated before (by any run, or in a seeded
archive such as the 700 random architectures of ``--seed-from``) from a shared SQLite file
and sleeps for the original evaluation's time, so the steady-state timing a search sees
does not depend on what was cached. Inherited-weight mIoU is deterministic under these
settings (same calibration batches, same validation images), which the benchmark checks
by re-evaluating a few cached architectures before it starts.

Normalisation (both objectives minimised, reference point (1, 1)):

- latency: the table's prediction, ``(lat - lat(lower)) / (lat(upper) - lat(lower))``
  (the smallest and largest architectures of the space);
- accuracy: ``1 - (mIoU - base) / (best - base)``, ``base`` the majority-class mIoU on the
  same validation images (always predicting the most frequent training class), ``best``
  the highest mIoU ever seen for these settings (every cached evaluation, the seeded
  archive included). Both are recorded in ``results.json``.

``--base-config`` is the ``config.json`` of a ``mosegnas`` run on CamVid (its
``problem_options`` name the supernet, the latency table and the data set); a random
search of that problem makes a good ``--seed-from`` archive too. The report's numbers came
from a 700-evaluation random run of the ``benchmarks/supernet_camvid.py`` supernet at
96x128 (``runs/camvid-table``), then::

    python benchmarks/search_quality_camvid.py --base-config runs/camvid-table/config.json \\
        --seed-from runs/camvid-table --seeds 5 --ablation-seeds 3 --budgets 50,100,150 \\
        --variants mosegnas,nsga2,random,survival,hv,latency --jobs 2 \\
        --out runs/search_quality_camvid

Outputs in ``--out``: ``table.md``, ``results.json`` (settings, bounds, curves, table,
diagnostics), ``hv_vs_evaluations.png`` (like the paper's Fig. 10) and ``runs/`` (one
engine run directory per search, reused on a rerun when complete).
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # makes ``_cached_problem`` importable by load_problem

PROBLEM = "_cached_problem:cached_mosegnas"
VARIANTS: dict[str, dict[str, str]] = {
    "mosegnas": {"strategy": "mosegnas", "prescreen": "hierarchical"},
    "nsga2": {"strategy": "nsga2", "prescreen": "hierarchical"},
    "random": {"strategy": "random", "prescreen": "hierarchical"},
    "survival": {"strategy": "mosegnas", "prescreen": "survival"},
    "hv": {"strategy": "mosegnas", "prescreen": "hv"},
    "latency": {"strategy": "mosegnas", "prescreen": "latency"},
}
PRESCREEN_VARIANTS = ("mosegnas", "survival", "hv", "latency")
ABLATIONS = ("survival", "hv", "latency")


# --------------------------------------------------------------------------- one search


def run_config(settings: dict[str, Any], variant: str, seed: int) -> Any:
    """The engine configuration of one search."""
    from segevo.engine.config import RunConfig

    spec = VARIANTS[variant]
    return RunConfig(
        problem=PROBLEM,
        problem_options=dict(settings["problem_options"]),
        evaluations=int(settings["budget"]),
        initial=int(settings["initial"]),
        batch=int(settings["batch"]),
        evaluators=int(settings["evaluators"]),
        refit_every=int(settings["refit_every"]),
        seed=int(seed),
        strategy=spec["strategy"],
        prescreen=spec["prescreen"],
    )


def run_search(job: dict[str, Any]) -> dict[str, Any]:
    """One engine search to the budget, in a fresh run directory (runs in a worker)."""
    import anyio

    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    from segevo.engine.run import Coordinator

    settings, variant, seed = job["settings"], job["variant"], int(job["seed"])
    run_dir = Path(job["run_dir"])
    if run_dir.exists():
        shutil.rmtree(run_dir)  # an unfinished or outdated search of ours: start it again
    config = run_config(settings, variant, seed)
    started = time.perf_counter()
    coordinator = Coordinator.create(config, run_dir)
    summary = anyio.run(coordinator.run)
    if not summary.finished or summary.evaluations < config.evaluations:
        raise RuntimeError(f"{run_dir}: the search stopped early ({summary.reason})")
    problem = coordinator.problem
    return {
        "variant": variant,
        "seed": seed,
        "run_dir": str(run_dir),
        "settings": settings,
        "wall_s": time.perf_counter() - started,
        "cache_hits": int(problem.hits),
        "cache_misses": int(problem.misses),
        "surrogate_fits": int(coordinator.surrogate.fits),
        "proposals": int(coordinator.proposer.proposals),
    }


# --------------------------------------------------------------------------- measuring


def hypervolume_curve(F: np.ndarray) -> np.ndarray:
    """Hypervolume (reference (1, 1)) of the first n rows of ``F``, n = 1..len(F)."""
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


def majority_baseline(problem: Any) -> tuple[float, str]:
    """mIoU of predicting the most frequent training class on the scored validation images."""
    import torch

    from segevo.nets.metrics import mean_iou

    loaded = problem.inner.load()
    train, val = loaded.train_data, loaded.val_data
    majority = int(np.argmax(train.label_counts()))
    count = (
        len(val) if problem.inner.val_images is None else min(len(val), problem.inner.val_images)
    )
    classes = loaded.num_classes
    ignore = int(getattr(val, "ignore_index", 255))
    counts = torch.zeros(classes, dtype=torch.int64)
    for index in range(count):
        label = val[index][1].ravel()
        label = label[label != ignore].long()
        counts += torch.bincount(label, minlength=classes)[:classes]
    confusion = np.zeros((classes, classes), dtype=np.int64)
    confusion[:, majority] = counts.numpy()
    return float(mean_iou(confusion)), str(val.class_names[majority])


def check_determinism(problem: Any, archive: Any, n: int = 3) -> list[dict[str, float]]:
    """Re-evaluate ``n`` archived architectures with the uncached problem; must match exactly."""
    rows = np.linspace(0, len(archive["acc"]) - 1, n).astype(int)
    checks = []
    for row in rows:
        x = archive["x"][row]
        again = problem.inner.evaluate(x)["acc"]
        twice = problem.inner.evaluate(x)["acc"]
        checks.append({"row": int(row), "archived": float(archive["acc"][row]), "now": again})
        if not (again == twice == float(archive["acc"][row])):
            raise RuntimeError(
                f"evaluation is not deterministic: row {row} archived "
                f"{archive['acc'][row]!r}, now {again!r} then {twice!r}; the cache would be wrong"
            )
    return checks


class Normaliser:
    """Maps (mIoU, latency ms) to minimised [0, 1] objectives with fixed bounds."""

    def __init__(self, acc_lo: float, acc_hi: float, lat_lo: float, lat_hi: float) -> None:
        if not (acc_hi > acc_lo and lat_hi > lat_lo):
            raise ValueError(f"empty bounds: acc [{acc_lo}, {acc_hi}], lat [{lat_lo}, {lat_hi}]")
        self.acc = (acc_lo, acc_hi)
        self.lat = (lat_lo, lat_hi)

    def __call__(self, acc: np.ndarray, lat: np.ndarray) -> np.ndarray:
        (a_lo, a_hi), (t_lo, t_hi) = self.acc, self.lat
        return np.column_stack(
            [(a_hi - np.asarray(acc)) / (a_hi - a_lo), (np.asarray(lat) - t_lo) / (t_hi - t_lo)]
        )


def read_run(run_dir: str | Path, problem: Any) -> dict[str, np.ndarray]:
    """A search's rows in evaluation (commit) order, with the table's latency."""
    from segevo.engine.archive import open_archive

    data = open_archive(run_dir)
    X = np.asarray(data["x"], dtype=np.int64)
    return {
        "x": X,
        "acc": np.asarray(data["acc"], dtype=np.float64),
        "lat": np.asarray(problem.latency(X), dtype=np.float64),
        "acc_pred": np.asarray(data["acc_pred"], dtype=np.float64),
        "predictor_version": np.asarray(data["predictor_version"]),
    }


def pymoo_hypervolume(F: np.ndarray) -> float:
    """Independent check of the final value with pymoo's indicator."""
    from pymoo.indicators.hv import HV

    inside = F[np.all(F < 1.0, axis=1)]
    return float(HV(ref_point=np.ones(2))(inside)) if inside.size else 0.0


# --------------------------------------------------------------------------- diagnostics


def kendall(a: np.ndarray, b: np.ndarray) -> float:
    from segevo.surrogates import kendall as tau

    return float(tau(a, b)) if len(a) > 2 else float("nan")


def windows(budgets: Sequence[int], initial: int) -> list[tuple[int, int]]:
    edges = [initial, *[b for b in budgets if b > initial]]
    return list(itertools.pairwise(edges))


def dominated_by_any(rows: np.ndarray, point: np.ndarray) -> bool:
    """Whether some row of ``rows`` dominates ``point`` (both minimised)."""
    return bool(np.any(np.all(rows <= point, axis=1) & np.any(rows < point, axis=1)))


def nondominated(F: np.ndarray) -> np.ndarray:
    """Mask of the rows of ``F`` no other row dominates."""
    return np.array([not dominated_by_any(F, point) for point in F], dtype=bool)


def front_entries(F: np.ndarray) -> np.ndarray:
    """Whether row n was non-dominated by rows 0..n-1 when it arrived (improved the front)."""
    entered = np.zeros(F.shape[0], dtype=bool)
    for n in range(F.shape[0]):
        entered[n] = not dominated_by_any(F[:n], F[n])
    return entered


def run_diagnostics(
    rows: dict[str, np.ndarray], F: np.ndarray, budgets: Sequence[int], initial: int
) -> dict[str, Any]:
    """Per evaluation window: what was chosen and how well it was predicted."""
    entered = front_entries(F)
    out: dict[str, Any] = {}
    for lo, hi in windows(budgets, initial):
        part = slice(lo, hi)
        pred = rows["acc_pred"][part]
        ok = np.isfinite(pred)
        out[f"{lo}-{hi}"] = {
            "front_entries": int(entered[part].sum()),
            "median_acc": float(np.median(rows["acc"][part])),
            "max_acc": float(np.max(rows["acc"][part])),
            "median_lat01": float(np.median(F[part, 1])),
            "lat01_quartiles": [float(v) for v in np.percentile(F[part, 1], [25, 75])],
            "predicted": int(ok.sum()),
            "tau_pred_vs_true": kendall(rows["acc"][part][ok], pred[ok]) if ok.any() else None,
        }
    return out


def surrogate_quality(
    problem: Any,
    settings: dict[str, Any],
    runs: list[dict[str, Any]],
    probe: dict[str, np.ndarray] | None,
    sizes: Sequence[int],
) -> dict[str, Any]:
    """Kendall tau of the engine's surrogate fitted on a run's first n evaluations.

    Scored on (a) the run's next 50 evaluations (the candidates the search actually
    proposed, which is what the pre-screen ranks) and (b) held-out random architectures
    (``probe``: the seeded archive, rows the run did not evaluate).
    """
    from threadpoolctl import threadpool_limits

    from segevo.engine.strategies import make_strategy

    out: dict[int, dict[str, list[float]]] = {}
    for run in runs:
        strategy = make_strategy("mosegnas", problem, seed=int(run["seed"]))
        rows = run["rows"]
        for n in sizes:
            if n >= len(rows["acc"]):
                continue
            with threadpool_limits(limits=1):
                model = strategy.fit_model(rows["x"][:n], rows["acc"][:n])
            entry = out.setdefault(n, {"next_50": [], "held_out_random": []})
            nxt = slice(n, n + 50)
            entry["next_50"].append(kendall(rows["acc"][nxt], model.predict(rows["x"][nxt])))
            if probe is not None:
                seen = {tuple(x) for x in rows["x"][:n].tolist()}
                keep = np.array([tuple(x) not in seen for x in probe["x"].tolist()])
                entry["held_out_random"].append(
                    kendall(probe["acc"][keep], model.predict(probe["x"][keep]))
                )
    return {str(n): v for n, v in sorted(out.items())}


# --------------------------------------------------------------------------- report


def table(
    curves: dict[str, list[np.ndarray]], budgets: Sequence[int], initial: int
) -> tuple[str, dict[str, dict[str, dict[str, float]]]]:
    """Markdown table of median (min-max) hypervolume per variant and budget."""
    numbers: dict[str, dict[str, dict[str, float]]] = {}
    columns = [initial, *budgets]
    lines = [
        "| variant | " + " | ".join(f"HV @ {b}" for b in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for name, runs in curves.items():
        numbers[name] = {}
        cells = []
        for b in columns:
            values = np.array([c[b - 1] for c in runs if c.size >= b])
            stats = {
                "median": float(np.median(values)),
                "min": float(values.min()),
                "max": float(values.max()),
                "n": int(values.size),
            }
            numbers[name][str(b)] = stats
            cells.append(f"{stats['median']:.4f} ({stats['min']:.4f}-{stats['max']:.4f})")
        lines.append(f"| {name} (n={len(runs)}) | " + " | ".join(cells) + " |")
    return "\n".join(lines), numbers


def evaluations_to_reach(curve: np.ndarray, target: float) -> int | None:
    hit = np.flatnonzero(curve >= target - 1e-12)
    return int(hit[0] + 1) if hit.size else None


def plot(
    curves: dict[str, list[np.ndarray]],
    fronts: dict[str, list[np.ndarray]],
    reference: np.ndarray | None,
    budgets: Sequence[int],
    initial: int,
    path: Path,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, runs) in enumerate(curves.items()):
        length = min(c.size for c in runs)
        stack = np.array([c[:length] for c in runs])
        x = np.arange(1, length + 1)
        colour = colours[i % len(colours)]
        ax.plot(
            x,
            np.median(stack, axis=0),
            color=colour,
            label=f"{name} (n={len(runs)})",
            linewidth=2.2 if name == "mosegnas" else 1.3,
        )
        ax.fill_between(x, stack.min(axis=0), stack.max(axis=0), color=colour, alpha=0.12)
        for F in fronts.get(name, []):
            front = F[np.argsort(F[:, 1])]
            bx.step(
                front[:, 1],
                1 - front[:, 0],
                where="post",
                color=colour,
                alpha=0.7,
                linewidth=1.0,
                label=name if F is fronts[name][0] else None,
            )
    if reference is not None:
        x = np.arange(1, reference.size + 1)
        ax.plot(
            x,
            reference,
            color="black",
            linestyle="--",
            linewidth=0.9,
            label="700 random (camvid-table, 1 run)",
        )
    for b in [initial, *budgets]:
        ax.axvline(b, color="grey", linewidth=0.5, linestyle=":")
    ax.set_xlim(1, max(budgets))
    low = min(np.median([c[initial - 1] for c in runs]) for runs in curves.values())
    ax.set_ylim(low - 0.03, None)
    ax.set_xlabel("evaluations")
    ax.set_ylabel("hypervolume (normalised, reference (1, 1))")
    ax.set_title("tiny on CamVid, inherited-weight mIoU: median (band: min-max over seeds)")
    ax.legend(loc="lower right", fontsize=8)
    bx.set_xlabel("latency (normalised by the table's smallest and largest networks)")
    bx.set_ylabel("mIoU (normalised: majority baseline 0, best ever seen 1)")
    bx.set_title(f"evaluated fronts after {max(budgets)} evaluations, every seed")
    bx.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--base-config",
        required=True,
        help="the config.json (or TOML) of a mosegnas run on CamVid whose problem_options to use",
    )
    parser.add_argument("--variants", default="mosegnas,nsga2,random")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--ablation-seeds",
        type=int,
        default=None,
        help="seeds for the pre-screen ablations survival/hv/latency (default: --seeds)",
    )
    parser.add_argument("--budgets", default="50,100,150")
    parser.add_argument("--initial", type=int, default=None, help="default: the engine's")
    parser.add_argument("--batch", type=int, default=None, help="default: the engine's")
    parser.add_argument("--refit-every", type=int, default=None, help="default: the engine's")
    parser.add_argument("--evaluators", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1, help="searches run at once")
    parser.add_argument("--cache", default=None, help="default: OUT/evaluations.sqlite")
    parser.add_argument(
        "--seed-from",
        action="append",
        default=[],
        help="run directory whose archive seeds the cache (repeatable)",
    )
    parser.add_argument(
        "--no-replay-time",
        action="store_true",
        help="answer cached evaluations at once instead of in their time",
    )
    parser.add_argument("--out", default="runs/search_quality_camvid")
    args = parser.parse_args(argv)

    from segevo.engine.archive import open_archive
    from segevo.engine.config import RunConfig, load_toml
    from segevo.engine.problem import load_problem

    budgets = sorted({int(b) for b in args.budgets.split(",")})
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    base = Path(args.base_config)
    base_values = json.loads(base.read_text()) if base.suffix == ".json" else load_toml(base)
    cache = str(Path(args.cache or out / "evaluations.sqlite").resolve())
    problem_options = {
        **base_values["problem_options"],
        "cache": cache,
        "replay_time": not args.no_replay_time,
    }
    engine = RunConfig(problem=PROBLEM)
    settings = {
        "problem": PROBLEM,
        "problem_options": problem_options,
        "budget": max(budgets),
        "initial": args.initial if args.initial is not None else engine.initial,
        "batch": args.batch if args.batch is not None else engine.batch,
        "refit_every": args.refit_every if args.refit_every is not None else engine.refit_every,
        "evaluators": args.evaluators,
    }
    problem = load_problem(PROBLEM, **problem_options)

    # The cache: seed it from earlier archives after checking that evaluation repeats exactly.
    probe = None
    determinism: list[dict[str, float]] = []
    for i, source in enumerate(args.seed_from):
        data = open_archive(source)
        if i == 0:
            determinism = check_determinism(problem, data)
            probe = {
                "x": np.asarray(data["x"], np.int64),
                "acc": np.asarray(data["acc"], np.float64),
            }
        added = problem.store(data["x"], data["acc"], None, f"archive:{Path(source).resolve()}")
        print(f"cache: {added} new of {len(data['acc'])} from {source}")
    print(f"cache {cache}: {problem.all_acc().size} architectures for these settings")

    seed_counts = {
        v: args.seeds if args.ablation_seeds is None or v not in ABLATIONS else args.ablation_seeds
        for v in variants
    }
    jobs, results = [], {}
    for variant in variants:
        for seed in range(seed_counts[variant]):
            name = f"{variant}-s{seed}"
            record = out / "runs" / f"{name}.json"
            if record.exists():
                stored = json.loads(record.read_text())
                if stored.get("settings") == settings:
                    results[(variant, seed)] = stored
                    continue
            jobs.append(
                {
                    "settings": settings,
                    "variant": variant,
                    "seed": seed,
                    "run_dir": str(out / "runs" / name),
                }
            )
    print(
        f"{len(jobs)} searches to run, {len(results)} reused; budget {max(budgets)} each",
        flush=True,
    )

    def keep(result: dict[str, Any]) -> None:
        name = f"{result['variant']}-s{result['seed']}"
        (out / "runs" / f"{name}.json").write_text(json.dumps(result, indent=1))
        results[(result["variant"], result["seed"])] = result
        print(
            f"  {name}: {result['wall_s']:.0f} s, cache {result['cache_hits']} hits / "
            f"{result['cache_misses']} new, {result['surrogate_fits']} fits, "
            f"{result['proposals']} proposals",
            flush=True,
        )

    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs, max_tasks_per_child=1) as pool:
            for result in pool.map(run_search, jobs):
                keep(result)
    else:
        for job in jobs:
            keep(run_search(job))

    report, payload = analyse(
        problem, settings, variants, seed_counts, budgets, results, probe, args.seed_from, out
    )
    payload["determinism_check"] = determinism
    payload["command"] = " ".join([sys.executable, *sys.argv])
    (out / "results.json").write_text(json.dumps(payload, indent=1))
    (out / "table.md").write_text(report + "\n")
    print(report)


def analyse(
    problem: Any,
    settings: dict[str, Any],
    variants: Sequence[str],
    seeds: dict[str, int],
    budgets: Sequence[int],
    results: dict[tuple[str, int], dict[str, Any]],
    probe: dict[str, np.ndarray] | None,
    seed_from: Sequence[str],
    out: Path,
) -> tuple[str, dict[str, Any]]:
    """Curves, table, targets and diagnostics; writes the plot."""
    initial = int(settings["initial"])
    corners = np.asarray(problem.latency(np.stack([problem.lower, problem.upper])), float)
    baseline, majority = majority_baseline(problem)
    best = float(problem.all_acc().max())
    norm = Normaliser(baseline, best, float(corners[0]), float(corners[1]))

    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for variant in variants:
        for seed in range(seeds[variant]):
            result = results[(variant, seed)]
            rows = read_run(result["run_dir"], problem)
            if rows["acc"].size < max(budgets):
                raise RuntimeError(f"{result['run_dir']} has {rows['acc'].size} evaluations")
            rows = {k: v[: max(budgets)] for k, v in rows.items()}
            if rows["lat"].min() < corners[0] - 1e-9 or rows["lat"].max() > corners[1] + 1e-9:
                raise RuntimeError("a latency lies outside the table's smallest..largest range")
            F = norm(rows["acc"], rows["lat"])
            curve = hypervolume_curve(F)
            check = pymoo_hypervolume(F)
            if abs(check - curve[-1]) > 1e-9:
                raise RuntimeError(f"hypervolume {curve[-1]} disagrees with pymoo's {check}")
            runs[variant].append({**result, "rows": rows, "F": F, "hv": curve})

    curves = {v: [r["hv"] for r in runs[v]] for v in variants}
    text, numbers = table(curves, budgets, initial)
    lines = [
        "Hypervolume of the evaluated front, median (min-max) over n seeds; one engine "
        f"search of {max(budgets)} evaluations per strategy and seed, smaller budgets read "
        "off its archive in evaluation order. Column 'HV @ "
        f"{initial}' is the shared initial population.",
        "",
        text,
        "",
    ]
    reference = None
    if probe is not None:
        reference = hypervolume_curve(norm(probe["acc"], problem.latency(probe["x"])))
        marks = [b for b in [*budgets, 300, reference.size] if b <= reference.size]
        lines.append(
            f"reference, the {reference.size} random architectures of {seed_from[0]} "
            "(one random run, in its order): "
            + ", ".join(f"HV @ {b} {reference[b - 1]:.4f}" for b in marks)
        )
    lines.append(
        f"normalisation: mIoU {baseline:.4f} (majority class '{majority}') -> 0, best ever "
        f"seen {best:.4f} -> 1; latency {corners[0]:.4f} ms (space.lower) -> 0, "
        f"{corners[1]:.4f} ms (space.upper) -> 1; reference point (1, 1)"
    )

    targets: dict[str, Any] = {}
    if {"mosegnas", "nsga2", "random"} <= set(variants):
        per_budget = {}
        for b in budgets:
            m = {v: numbers[v][str(b)]["median"] for v in ("mosegnas", "nsga2", "random")}
            per_budget[str(b)] = {
                "mosegnas>nsga2": m["mosegnas"] > m["nsga2"],
                "nsga2>random": m["nsga2"] > m["random"],
                "mosegnas>random": m["mosegnas"] > m["random"],
            }
            lines.append(
                f"@{b}: mosegnas {'>' if m['mosegnas'] > m['nsga2'] else '<='} nsga2 "
                f"({m['mosegnas'] - m['nsga2']:+.4f}), nsga2 "
                f"{'>' if m['nsga2'] > m['random'] else '<='} random "
                f"({m['nsga2'] - m['random']:+.4f}), mosegnas vs random "
                f"{m['mosegnas'] - m['random']:+.4f}"
            )
        last = max(budgets)
        target = numbers["random"][str(last)]["median"]
        reach = [evaluations_to_reach(c, target) for c in curves["mosegnas"]]
        lines.append(
            f"evaluations mosegnas needs to reach random's median HV at {last} ({target:.4f}): "
            f"{reach} (issue target: <= {last // 3})"
        )
        paired = {}
        for better, worse in (("mosegnas", "nsga2"), ("nsga2", "random"), ("mosegnas", "random")):
            common = sorted({r["seed"] for r in runs[better]} & {r["seed"] for r in runs[worse]})
            by_seed = {v: {r["seed"]: r["hv"] for r in runs[v]} for v in (better, worse)}
            paired[f"{better}>{worse}"] = {
                str(b): [
                    float(by_seed[better][s][b - 1] - by_seed[worse][s][b - 1]) for s in common
                ]
                for b in budgets
            }
            lines.append(
                f"paired by seed (same initial population), {better} - {worse}: "
                + "; ".join(
                    f"@{b} wins {sum(d > 0 for d in diffs)}/{len(diffs)}, "
                    f"median {np.median(diffs):+.4f}"
                    for b, diffs in ((b, paired[f"{better}>{worse}"][str(b)]) for b in budgets)
                )
            )
        targets = {
            "order_per_budget": per_budget,
            "paired_differences": paired,
            "mosegnas_reach_random_final": reach,
        }
    present = [v for v in PRESCREEN_VARIANTS if v in variants]
    if len(present) > 1:
        best_pre = {
            str(b): max(present, key=lambda v: numbers[v][str(b)]["median"]) for b in budgets
        }
        targets["best_prescreen_per_budget"] = best_pre
        lines.append(
            "best pre-screen per budget: " + ", ".join(f"{b}: {v}" for b, v in best_pre.items())
        )

    # Diagnostics: initial sample, what each strategy chose, surrogate rank quality.
    lines += ["", "Diagnostics (median over seeds):"]
    init_hv = {v: [float(r["hv"][initial - 1]) for r in runs[v]] for v in variants}
    first_sets: dict[int, set[tuple[int, ...]]] = {}
    shared = True
    for v in variants:
        for r in runs[v]:
            start = set(map(tuple, r["rows"]["x"][:initial].tolist()))
            shared &= first_sets.setdefault(int(r["seed"]), start) == start
    lines.append(
        f"initial population ({initial}) identical across strategies for each seed: {shared}; "
        f"HV @ {initial} per seed: {init_hv[variants[0]]}"
    )
    diagnostics: dict[str, Any] = {"initial_shared": shared, "initial_hv": init_hv}
    for v in variants:
        per_run = [run_diagnostics(r["rows"], r["F"], budgets, initial) for r in runs[v]]
        diagnostics[v] = {"per_run": per_run}
        cells = []
        for window in per_run[0]:
            entries = [p[window]["front_entries"] for p in per_run]
            lat = np.median([p[window]["median_lat01"] for p in per_run])
            acc = np.median([p[window]["median_acc"] for p in per_run])
            taus = [
                p[window]["tau_pred_vs_true"]
                for p in per_run
                if p[window]["tau_pred_vs_true"] is not None
            ]
            tau = f", tau(acc_pred, acc) {np.median(taus):+.2f}" if taus else ""
            cells.append(
                f"evals {window}: front entries {entries}, median mIoU {acc:.4f}, "
                f"median lat01 {lat:.2f}{tau}"
            )
        lines.append(f"{v}: " + "; ".join(cells))
        hits = [r["cache_hits"] for r in runs[v]]
        lines.append(
            f"{v}: cache hits per run {hits} of {max(budgets)} (answered from the cache, "
            f"replayed in their time: {settings['problem_options']['replay_time']}); "
            f"wall s {[round(r['wall_s']) for r in runs[v]]}; fits {[r['surrogate_fits'] for r in runs[v]]}"
        )
    if "mosegnas" in variants:
        sizes = sorted({initial, *[b for b in budgets if b < max(budgets)]})
        quality = surrogate_quality(problem, settings, runs["mosegnas"], probe, sizes)
        diagnostics["surrogate_kendall_tau"] = quality
        lines.append(
            "mosegnas surrogate (engine's RankNet, refitted here on a run's first n rows), "
            "Kendall tau: "
            + "; ".join(
                f"n={n}: next 50 proposed {np.nanmedian(q['next_50']):+.3f}"
                + (
                    f", held-out random {np.nanmedian(q['held_out_random']):+.3f}"
                    if q["held_out_random"]
                    else ""
                )
                for n, q in quality.items()
            )
        )

    fronts = {}
    for v in variants:
        fronts[v] = []
        for r in runs[v]:
            fronts[v].append(r["F"][nondominated(r["F"])])
    plot(curves, fronts, reference, budgets, initial, out / "hv_vs_evaluations.png")
    lines.append("")
    lines.append(f"plot: {out / 'hv_vs_evaluations.png'}; numbers: {out / 'results.json'}")
    lines.append(
        "evaluations memoised by architecture in "
        f"{settings['problem_options']['cache']} (deterministic under these settings; checked)"
    )

    payload = {
        "settings": settings,
        "budgets": list(budgets),
        "seeds": seeds,
        "normalisation": {
            "acc_lo_majority_baseline": baseline,
            "majority_class": majority,
            "acc_hi_best_ever_seen": best,
            "lat_lo_ms": float(corners[0]),
            "lat_hi_ms": float(corners[1]),
            "reference_point": [1.0, 1.0],
        },
        "table": numbers,
        "targets": targets,
        "diagnostics": diagnostics,
        "reference_random_700": None if reference is None else reference.tolist(),
        "runs": [
            {
                "variant": r["variant"],
                "seed": r["seed"],
                "run_dir": r["run_dir"],
                "hv": r["hv"].tolist(),
                "wall_s": r["wall_s"],
                "cache_hits": r["cache_hits"],
                "cache_misses": r["cache_misses"],
                "surrogate_fits": r["surrogate_fits"],
                "proposals": r["proposals"],
            }
            for v in variants
            for r in runs[v]
        ],
    }
    return "\n".join(lines), payload


if __name__ == "__main__":
    main()
