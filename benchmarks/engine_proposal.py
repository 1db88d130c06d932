"""Proposal step: segevo's NSGA-II vs pymoo's stock NSGA-II, side by side (issue 6 target).

The problem is the proposer's real one: minimise (-predicted accuracy, predicted latency)
over the 29-digit ``r50`` space, population 100, 1000 generations (paper Table I).
Accuracy comes from a fitted RankNet (``segevo.surrogates``; its predict runs in numpy)
or, with ``--model mlp`` or when RankNet is unavailable, from a numpy MLP of the same
shape (3 x 300) with random weights. Latency is a gather-sum over a random per-digit
table (29 indices per architecture, -1 for inactive layers) through ``_core.lut_sum``:
the same work as a latency look-up table's predict.
Both optimisers get the same objective function and the search space's repair, with
BLAS limited to one thread. Besides the time, the hypervolume of each final population
(on the same normalisation) shows that the faster one does not do less.

    python benchmarks/engine_proposal.py [--generations 1000] [--repeats 3] [--model ranknet|mlp]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits


def _accuracy_model(space, kind: str, rng: np.random.Generator) -> tuple[Callable, str]:
    if kind == "ranknet":
        from segevo.surrogates import make_surrogate

        try:
            model = make_surrogate("ranknet", space=space, seed=0, epochs=20)
        except (ImportError, ValueError) as exc:
            print(f"RankNet unavailable ({exc}); using a numpy MLP of the same shape")
        else:
            X = space.sample(100, rng)
            model.fit(X, rng.uniform(0.3, 0.8, size=X.shape[0]))
            return model.predict, "RankNet 3x300 (segevo.surrogates, fitted on 100 random rows)"
    n_features = space.onehot(space.sample(1, rng)).shape[1]
    sizes = [n_features, 300, 300, 300, 1]
    weights = [
        rng.normal(0.0, 1.0 / np.sqrt(a), size=(a, b)).astype(np.float32)
        for a, b in itertools.pairwise(sizes)
    ]
    biases = [np.zeros(b, np.float32) for b in sizes[1:]]

    def predict(X: np.ndarray) -> np.ndarray:
        h = space.onehot(X).astype(np.float32)
        for w, b in zip(weights[:-1], biases[:-1], strict=True):
            h = np.maximum(h @ w + b, 0.0)
        return (1.0 / (1.0 + np.exp(-(h @ weights[-1] + biases[-1])))).ravel().astype(np.float64)

    return predict, "numpy MLP 3x300 (random weights; stands in for RankNet)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generations", type=int, default=1000)
    parser.add_argument("--pop-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", choices=("ranknet", "mlp"), default="ranknet")
    args = parser.parse_args()

    from pymoo.algorithms.moo.nsga2 import NSGA2 as PymooNSGA2
    from pymoo.core.problem import Problem as PymooProblem
    from pymoo.core.repair import Repair
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.optimize import minimize as pymoo_minimize

    from segevo._core import hypervolume_2d, lut_sum
    from segevo.engine.moea import minimize
    from segevo.nets.space import get_space

    space = get_space("r50")
    rng = np.random.default_rng(0)
    predict, model_label = _accuracy_model(space, args.model, rng)
    n_var = space.n_var
    offsets = np.concatenate([[0], np.cumsum(space.upper - space.lower + 1)[:-1]])
    table = rng.uniform(0.05, 1.0, size=int((space.upper - space.lower + 1).sum()))
    expand = np.array([name.endswith("expand") for name in space.digit_names])

    def latency(X: np.ndarray) -> np.ndarray:
        # An inactive layer (expand digit 0) has no entry, as in a real look-up table.
        indices = np.where(expand & (X == 0), -1, X - space.lower + offsets)
        return lut_sum(np.ascontiguousarray(indices, dtype=np.int64), table)

    def objectives(X: np.ndarray) -> np.ndarray:
        return np.column_stack([-predict(X), latency(X)])

    class Proposer(PymooProblem):
        def __init__(self) -> None:
            super().__init__(n_var=n_var, n_obj=2, xl=space.lower, xu=space.upper, vtype=int)

        def _evaluate(self, x, out, *a, **k):
            out["F"] = objectives(np.asarray(x, dtype=np.int64))

    class SpaceRepair(Repair):
        def _do(self, problem, X, **kwargs):
            return space.repair(np.rint(X).astype(np.int64))

    def run_segevo(seed: int) -> tuple[float, np.ndarray]:
        start = time.perf_counter()
        result = minimize(
            objectives,
            space.lower,
            space.upper,
            n_gen=args.generations,
            pop_size=args.pop_size,
            rng=np.random.default_rng(seed),
            repair=space.repair,
        )
        return time.perf_counter() - start, result.F

    def run_pymoo(seed: int) -> tuple[float, np.ndarray]:
        algorithm = PymooNSGA2(
            pop_size=args.pop_size,
            sampling=IntegerRandomSampling(),
            crossover=SBX(prob=0.9, eta=15, vtype=float, repair=SpaceRepair()),
            mutation=PM(prob=1.0, prob_var=0.05, eta=20, vtype=float, repair=SpaceRepair()),
            repair=SpaceRepair(),
            eliminate_duplicates=True,
        )
        start = time.perf_counter()
        result = pymoo_minimize(
            Proposer(), algorithm, ("n_gen", args.generations + 1), seed=seed, verbose=False
        )
        return time.perf_counter() - start, result.pop.get("F")

    print(f"accuracy model: {model_label}")
    print("latency: random per-digit table summed by segevo._core.lut_sum")
    print(
        f"r50 space ({n_var} digits), population {args.pop_size}, {args.generations} "
        f"generations, 1 BLAS thread, {args.repeats} repeats (median)"
    )
    times: dict[str, list[float]] = {"segevo": [], "pymoo": []}
    fronts: dict[str, list[np.ndarray]] = {"segevo": [], "pymoo": []}
    with threadpool_limits(limits=1):
        objectives(space.sample(4, rng))
        for repeat in range(args.repeats):
            for name, runner in (("segevo", run_segevo), ("pymoo", run_pymoo)):
                seconds, F = runner(repeat)
                times[name].append(seconds)
                fronts[name].append(F)
    every = np.concatenate([F for runs in fronts.values() for F in runs])
    ideal, nadir = every.min(axis=0), every.max(axis=0)

    def hv(F: np.ndarray) -> float:
        return hypervolume_2d((F - ideal) / (nadir - ideal), np.array([1.1, 1.1]))

    seg, pym = statistics.median(times["segevo"]), statistics.median(times["pymoo"])
    print(f"{'optimiser':<22}{'median s':>10}{'min s':>9}{'HV (median)':>13}")
    for name, label in (("segevo", "segevo NSGA2"), ("pymoo", "pymoo NSGA2 (stock)")):
        hvs = [hv(F) for F in fronts[name]]
        print(
            f"{label:<22}{statistics.median(times[name]):>10.3f}{min(times[name]):>9.3f}"
            f"{statistics.median(hvs):>13.4f}"
        )
    print(f"ratio pymoo / segevo: {pym / seg:.1f}x   (target: segevo <= 2 s)")


if __name__ == "__main__":
    main()
