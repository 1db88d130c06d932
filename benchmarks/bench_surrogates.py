"""Compare RankNet with the baseline predictors on a table of (architecture, accuracy) rows.

    python benchmarks/bench_surrogates.py TABLE.csv --out DIR [--repeats 11]
        [--sizes 100 200 300 500 1000] [--methods ranknet rbf ...] [--space r50]
        [--options '{"ranknet": {"epochs": 200}}'] [--seed 0] [--test-size 100]

TABLE.csv has columns x0..x{n-1}, acc (benchmarks/make_r50_table.py writes one). DIR gets
results.csv (every fit), summary.csv / summary.md (mean (std) of Pearson, Spearman,
Kendall and fit time per method and N) and kendall_vs_n.png (the paper's Fig. 9).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from segevo.surrogates import available_surrogates
from segevo.surrogates.bench import run_benchmark, summarize, to_markdown, write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", help="CSV with columns x0..x{n-1}, acc")
    parser.add_argument("--out", required=True, help="folder for the report")
    parser.add_argument("--methods", nargs="+", default=available_surrogates())
    parser.add_argument("--sizes", nargs="+", type=int, default=[100, 200, 300, 500, 1000])
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--test-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--space", default=None, help="search space name, e.g. r50")
    parser.add_argument("--options", default="{}", help="JSON: per-method surrogate options")
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads")
    args = parser.parse_args()
    started = time.perf_counter()

    def progress(done: int, total: int, label: str) -> None:
        elapsed = time.perf_counter() - started
        print(f"[{done}/{total} {elapsed:7.1f}s] {label}", file=sys.stderr, flush=True)

    results = run_benchmark(
        args.table,
        methods=args.methods,
        sizes=args.sizes,
        repeats=args.repeats,
        test_size=args.test_size,
        seed=args.seed,
        space=args.space,
        options=json.loads(args.options),
        threads=args.threads,
        progress=progress,
    )
    paths = write_report(results, args.out)
    print(to_markdown(summarize(results)))
    print(
        f"total {time.perf_counter() - started:.0f}s; wrote " + ", ".join(map(str, paths.values()))
    )


if __name__ == "__main__":
    main()
