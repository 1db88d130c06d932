"""``synthetic``: a generated tabular benchmark for search-quality studies.

Every architecture's truth is computed once, so search quality can be scored against the
exact Pareto front. The generator (all draws from ``numpy.random.default_rng(seed)``):

- **latency** is a sum of per-digit costs, like a latency look-up table:
  ``lat = base_ms + sum_i cost_i[x_i]``, each ``cost_i`` increasing from 0 with a digit
  scale drawn log-normally, scaled so the slowest architecture takes
  ``base_ms + span_ms``;
- **accuracy** has a smooth part with diminishing returns in a "capacity" that grows
  with each digit (with a per-digit benefit drawn independently of its cost, so digits
  differ in efficiency and the front is not just "bigger is better"), plus an NK
  landscape (each digit interacts with ``epistasis`` other digits through a random
  table) weighted by ``ruggedness``, which makes the landscape rugged with many local
  optima:
  ``acc = 0.2 + 0.6 * (1 - exp(-3 cap)) / (1 - exp(-3)) + ruggedness * (nk - 0.5)``.

The default (8 digits of 5 values) holds 390,625 architectures.
``python -m segevo.engine.problems.synthetic OUT.csv [--seed S ...]`` writes it as a
``table:`` CSV.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from segevo.engine.problem import ArchitectureCodec
from segevo.engine.problems.tabular import TabularProblem

__all__ = ["SyntheticProblem", "main"]

_MAX_SIZE = 20_000_000


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _non_negative_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


class SyntheticProblem(TabularProblem):
    """A rugged, generated tabular benchmark (see the module docstring).

    Options (keyword-only): ``seed`` (int), ``n_var`` (digits, >= 2), ``n_values``
    (values per digit: an int >= 2 or one int per digit), ``epistasis`` (K other digits
    each digit interacts with, 0 <= K < n_var, default ``min(2, n_var - 1)``), ``ruggedness`` (weight of the NK part),
    ``base_ms`` and ``span_ms`` (latency range).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        n_var: int = 8,
        n_values: int | list[int] = 5,
        epistasis: int | None = None,
        ruggedness: float = 0.3,
        base_ms: float = 2.0,
        span_ms: float = 20.0,
    ) -> None:
        seed = _positive_int("seed", seed, 0)
        n_var = _positive_int("n_var", n_var, 2)
        if isinstance(n_values, list | tuple):
            if len(n_values) != n_var:
                raise ValueError(
                    f"n_values needs {n_var} entries (one per digit), got {len(n_values)}"
                )
            radix = [_positive_int("n_values entry", v, 2) for v in n_values]
        else:
            radix = [_positive_int("n_values", n_values, 2)] * n_var
        epistasis = (
            min(2, n_var - 1) if epistasis is None else _positive_int("epistasis", epistasis, 0)
        )
        if epistasis >= n_var:
            raise ValueError(f"epistasis must be < n_var ({n_var}), got {epistasis}")
        ruggedness = _non_negative_float("ruggedness", ruggedness)
        base_ms = _non_negative_float("base_ms", base_ms)
        span_ms = _non_negative_float("span_ms", span_ms)
        if span_ms == 0:
            raise ValueError("span_ms must be > 0")
        lower = np.zeros(n_var, dtype=np.int64)
        upper = np.array(radix, dtype=np.int64) - 1
        codec = ArchitectureCodec(lower, upper)
        if codec.size > _MAX_SIZE:
            raise ValueError(f"the space holds {codec.size} architectures; at most {_MAX_SIZE}")

        rng = np.random.default_rng(seed)
        costs = [self._rising_steps(rng, r) * rng.lognormal(0.0, 0.6) for r in radix]
        cost_scale = span_ms / sum(float(c[-1]) for c in costs)
        costs = [c * cost_scale for c in costs]
        gains = [self._rising_steps(rng, r) * rng.lognormal(0.0, 0.6) for r in radix]
        gain_total = sum(float(g[-1]) for g in gains)
        neighbours = [
            rng.choice(np.delete(np.arange(n_var), i), size=epistasis, replace=False)
            for i in range(n_var)
        ]
        nk_tables = [
            rng.uniform(0.0, 1.0, size=(radix[i], *(radix[j] for j in neighbours[i])))
            for i in range(n_var)
        ]

        X = codec.decode(np.arange(codec.size, dtype=np.int64))
        lat = np.full(codec.size, base_ms)
        capacity = np.zeros(codec.size)
        nk = np.zeros(codec.size)
        for i in range(n_var):
            lat += costs[i][X[:, i]]
            capacity += gains[i][X[:, i]]
            nk += nk_tables[i][(X[:, i], *(X[:, j] for j in neighbours[i]))]
        capacity /= gain_total
        nk /= n_var
        trend = (1.0 - np.exp(-3.0 * capacity)) / (1.0 - np.exp(-3.0))
        acc = 0.2 + 0.6 * trend + ruggedness * (nk - 0.5)
        super().__init__(lower, upper, acc, lat)
        self._options: dict[str, Any] = {
            "seed": seed,
            "n_var": n_var,
            "n_values": radix,
            "epistasis": epistasis,
            "ruggedness": ruggedness,
            "base_ms": base_ms,
            "span_ms": span_ms,
        }

    @staticmethod
    def _rising_steps(rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` increasing values starting at 0 and ending at 1."""
        steps = np.concatenate(([0.0], np.sort(rng.uniform(0.0, 1.0, size=n - 1))))
        return steps / steps[-1]

    def spec(self) -> dict[str, Any]:
        return {"problem": "synthetic", "options": dict(self._options)}


def main(argv: list[str] | None = None) -> None:
    """Write a synthetic problem as a ``table:`` CSV file."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out", help="CSV file to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-var", type=int, default=8)
    parser.add_argument("--n-values", type=int, default=5)
    parser.add_argument("--epistasis", type=int, default=None)
    parser.add_argument("--ruggedness", type=float, default=0.3)
    args = parser.parse_args(argv)
    problem = SyntheticProblem(
        seed=args.seed,
        n_var=args.n_var,
        n_values=args.n_values,
        epistasis=args.epistasis,
        ruggedness=args.ruggedness,
    )
    path = problem.write_csv(args.out)
    print(f"wrote {problem.size} architectures to {path}")


if __name__ == "__main__":
    main()
