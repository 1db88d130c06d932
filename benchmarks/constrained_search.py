"""Constrained search through the product: ``--max-latency`` against filtering afterwards.

For each public table (the cost column as the constrained "latency") and each bound (a
quantile of the table's cost), two real steady-state ``Coordinator`` runs per seed, the same
as ``segevo run`` starts (benchmarks/search_quality_tables.py's ``run_segevo``):

- ``constrained``: the default search with ``max_latency_ms`` = the bound;
- ``filtered``: the default search without it, its rows filtered by the bound afterwards;
- the peers, filtered afterwards too: stock pymoo NSGA-II and random search, at 1x and 3x
  the budget (``pymoo-nsga2``, ``pymoo-nsga2@3x``, ``random``, ``random@3x``; the same
  functions as benchmarks/search_quality_tables.py, paired by seed).

Score: the best feasible accuracy found within the first 100 and 200 evaluations, as a
regret against the best feasible accuracy in the whole table (lower is better), and the
fraction of evaluations spent on feasible networks.

    python benchmarks/constrained_search.py --seeds 3 --out runs/constrained
    python benchmarks/constrained_search.py --report --out runs/constrained
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import search_quality_tables as sq  # noqa: E402

BUDGETS = (100, 200)
PEERS = ("pymoo-nsga2", "pymoo-nsga2@3x", "random", "random@3x")
# pymoo's duplicate elimination runs out of new rows of the 610-row CamVid pool before 600.
SKIP = {("camvid", "pymoo-nsga2@3x")}
QUANTILES = (0.2, 0.5)
ALL_BUDGETS = (*BUDGETS, 3 * max(BUDGETS))


def table_rows(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and cost of every architecture the problem can produce."""
    problem = sq.load(name)
    X = problem.enumerate_architectures(10**6)
    if X is None:
        raise ValueError(f"{name}: too many architectures to list")
    return problem.accuracy(X), problem.latency(X)


def best_feasible(acc: np.ndarray, lat: np.ndarray, bound: float, budget: int) -> float:
    acc, lat = np.asarray(acc[:budget]), np.asarray(lat[:budget])
    ok = lat <= bound
    return float(acc[ok].max()) if ok.any() else float("nan")


def report(out: Path) -> str:
    results: dict[tuple[str, float, str], list[dict[str, Any]]] = {}
    for path in sorted(out.glob("*.json")):
        r = json.loads(path.read_text())
        results.setdefault((r["problem"], r["quantile"], r["method"]), []).append(r)
    head = "| problem | bound (quantile) | method | seeds | "
    head += " | ".join(f"regret @{b}" for b in ALL_BUDGETS) + " | feasible share @200 |"
    lines = [head, "|---|---|---|---|" + "---|" * (len(ALL_BUDGETS) + 1)]
    for (problem, q, method), rows in sorted(results.items()):
        cells = []
        for b in ALL_BUDGETS:
            values = [row["regret"][str(b)] for row in rows if str(b) in row["regret"]]
            if not values:
                cells.append("")
                continue
            missing = sum(np.isnan(values))
            cell = f"{np.nanmedian(values):.4f}" if missing < len(values) else "none found"
            cells.append(cell + (f" ({missing} none)" if 0 < missing < len(values) else ""))
        share = np.median([row["feasible_share"] for row in rows])
        lines.append(
            f"| {problem} | {rows[0]['bound']:.4g} ({q:g}) | {method} | {len(rows)} | "
            + " | ".join(cells)
            + f" | {share:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default="macro,tn-micro,tn-macro,camvid")
    parser.add_argument("--quantiles", default=",".join(map(str, QUANTILES)))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], help="RunConfig key=value")
    parser.add_argument("--tag", default="")
    parser.add_argument("--out", type=Path, default=Path("runs/constrained"))
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report:
        print(report(args.out))
        return
    args.eval_ms = 0.0
    extra = sq.parse_set(args.set)
    for name in args.problems.split(","):
        if name == "camvid" and not sq.CAMVID.exists():
            print(f"skipping camvid: {sq.CAMVID} does not exist", flush=True)
            continue
        all_acc, all_lat = table_rows(name)
        for q in map(float, args.quantiles.split(",")):
            bound = float(np.quantile(all_lat, q))
            truth = float(all_acc[all_lat <= bound].max())
            for seed in range(args.seeds):
                for method in ("constrained", "filtered", *PEERS):
                    if (name, method) in SKIP:
                        continue
                    ours = method in ("constrained", "filtered")
                    tag = f"-{args.tag}" if args.tag and ours else ""
                    path = args.out / f"{name}--{q:g}--{method}{tag}--{seed}.json"
                    if path.exists():
                        continue
                    started = time.perf_counter()
                    budget = max(BUDGETS) * (3 if method.endswith("@3x") else 1)
                    if method.startswith("pymoo"):
                        record = sq.run_pymoo(name, seed, budget)
                    elif method.startswith("random"):
                        record = sq.run_random(name, seed, budget)
                    else:
                        bounds = {"max_latency_ms": bound} if method == "constrained" else {}
                        record = sq.run_segevo(name, {}, seed, budget, {**extra, **bounds}, args)
                    acc, lat = np.asarray(record["acc"]), np.asarray(record["lat"])
                    result = {
                        "problem": name,
                        "quantile": q,
                        "bound": bound,
                        "method": method + tag,
                        "seed": seed,
                        "truth": truth,
                        "regret": {
                            str(b): truth - best_feasible(acc, lat, bound, b)
                            for b in ALL_BUDGETS
                            if b <= budget
                        },
                        "feasible_share": float(np.mean(lat[: max(BUDGETS)] <= bound)),
                        "wall_s": time.perf_counter() - started,
                    }
                    path.write_text(json.dumps(result))
                    print(
                        f"{name} q={q:g} {method} seed {seed}: regret {result['regret']} "
                        f"feasible {result['feasible_share']:.2f} ({result['wall_s']:.1f} s)",
                        flush=True,
                    )
    print(report(args.out))


if __name__ == "__main__":
    main()
