"""Write the synthetic r50 ground-truth table (segevo.surrogates.synthetic) as CSV.

    python benchmarks/make_r50_table.py OUT.csv [--rows 2000] [--seed 0] [--noise 0.002]

The same arguments always give the same file.
"""

from __future__ import annotations

import argparse

from segevo.surrogates.synthetic import make_r50_table, write_table_csv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="CSV to write (columns x0..x28, acc)")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.002, help="std of Gaussian label noise")
    args = parser.parse_args()
    X, y = make_r50_table(args.rows, seed=args.seed, noise=args.noise)
    path = write_table_csv(args.out, X, y)
    print(f"wrote {path}: {X.shape[0]} rows, acc {y.min():.4f}..{y.max():.4f}")


if __name__ == "__main__":
    main()
