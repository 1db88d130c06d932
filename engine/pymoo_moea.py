"""Any pymoo multi-objective algorithm as the proposal MOEA (``--moea pymoo:NAME``).

The proposal step optimises predicted accuracy and table latency over the integer box.
:func:`minimize_with_pymoo` runs a pymoo algorithm on that problem with the same inputs and
result as :func:`segevo.engine.moea.minimize`: the population is seeded with the evaluated
front, every candidate is the problem's canonical form (``repair``), and the constraint
violation becomes pymoo's inequality constraint ``G <= 0``. Variables are integers:
pymoo's SBX and polynomial mutation work on reals and are rounded, then repaired.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from segevo.engine.moea import MOEAResult, Objectives, Violation, rank_and_crowding
from segevo.engine.problem import fresh_mask

__all__ = ["PYMOO_ALGORITHMS", "check_pymoo_algorithm", "minimize_with_pymoo"]


@dataclass(frozen=True)
class _Entry:
    module: str
    attribute: str
    ref_dirs: bool = False
    """Whether the algorithm needs reference directions (given: Das-Dennis, pop_size - 1
    partitions for two objectives, so that the population size stays the one asked for)."""
    needs: str | None = None
    """An optional package the pymoo module imports."""


PYMOO_ALGORITHMS: dict[str, _Entry] = {
    "NSGA2": _Entry("pymoo.algorithms.moo.nsga2", "NSGA2"),
    "NSGA3": _Entry("pymoo.algorithms.moo.nsga3", "NSGA3", ref_dirs=True),
    "UNSGA3": _Entry("pymoo.algorithms.moo.unsga3", "UNSGA3", ref_dirs=True),
    "AGEMOEA": _Entry("pymoo.algorithms.moo.age", "AGEMOEA", needs="numba"),
    "AGEMOEA2": _Entry("pymoo.algorithms.moo.age2", "AGEMOEA2", needs="numba"),
    "SMSEMOA": _Entry("pymoo.algorithms.moo.sms", "SMSEMOA"),
    "SPEA2": _Entry("pymoo.algorithms.moo.spea2", "SPEA2"),
    "RVEA": _Entry("pymoo.algorithms.moo.rvea", "RVEA", ref_dirs=True),
    "CTAEA": _Entry("pymoo.algorithms.moo.ctaea", "CTAEA", ref_dirs=True),
    "MOEAD": _Entry("pymoo.algorithms.moo.moead", "MOEAD", ref_dirs=True),
}
"""pymoo algorithms that run on two objectives with SBX/PM-style operators, by their names."""


def check_pymoo_algorithm(name: str) -> str:
    """The canonical upper-case name; ValueError listing the known ones otherwise."""
    key = str(name).upper()
    if key not in PYMOO_ALGORITHMS:
        raise ValueError(
            f"unknown pymoo algorithm {name!r}; choose one of {', '.join(PYMOO_ALGORITHMS)} "
            "(written pymoo:NAME)"
        )
    return key


def _algorithm_class(name: str) -> Any:
    entry = PYMOO_ALGORITHMS[name]
    try:
        module = importlib.import_module(entry.module)
    except Exception as exc:
        hint = f" (pip install {entry.needs})" if entry.needs else ""
        raise ValueError(f"pymoo algorithm {name} cannot be loaded{hint}: {exc}") from exc
    return getattr(module, entry.attribute)


def minimize_with_pymoo(
    name: str,
    objectives: Objectives,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    n_gen: int,
    rng: np.random.Generator,
    pop_size: int = 100,
    seeds: np.ndarray | None = None,
    exclude_keys: np.ndarray | None = None,
    repair: Callable[[np.ndarray], np.ndarray] | None = None,
    sample: Callable[[int, np.random.Generator], np.ndarray] | None = None,
    violation: Violation | None = None,
    keys: Callable[[np.ndarray], np.ndarray] | None = None,
    **_operators: Any,
) -> MOEAResult:
    """Run pymoo's ``name`` for ``n_gen`` generations; the final population, best first.

    ``exclude_keys`` (with ``keys``, the problem's codec) only shape the initial
    population; the caller drops rows it already has. segevo's own operator options
    (``crossover``, ``mutation``) do not apply: the algorithm's SBX and polynomial
    mutation are used, rounded to integers.
    """
    from pymoo.core.problem import Problem as PymooProblem
    from pymoo.core.repair import Repair
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.optimize import minimize
    from pymoo.util.ref_dirs import get_reference_directions

    name = check_pymoo_algorithm(name)
    lower = np.asarray(lower, dtype=np.int64)
    upper = np.asarray(upper, dtype=np.int64)
    canonical = repair or (lambda X: np.clip(X, lower, upper))

    def integers(X: np.ndarray) -> np.ndarray:
        X = np.clip(np.rint(np.asarray(X, dtype=np.float64)), lower, upper).astype(np.int64)
        return np.ascontiguousarray(canonical(X), dtype=np.int64)

    class _Canonical(Repair):
        def _do(self, problem: Any, X: np.ndarray, **kwargs: Any) -> np.ndarray:
            return integers(X).astype(np.float64)

    n_constraints = 0 if violation is None else 1

    class _Surrogate(PymooProblem):
        def __init__(self) -> None:
            super().__init__(
                n_var=lower.size, n_obj=2, n_ieq_constr=n_constraints, xl=lower, xu=upper
            )

        def _evaluate(self, X: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            Xi = integers(X)
            F = np.asarray(objectives(Xi), dtype=np.float64)
            out["F"] = F
            if violation is not None:
                out["G"] = np.asarray(violation(Xi, F), dtype=np.float64).reshape(-1, 1)

    initial = _initial_population(
        pop_size, lower, upper, rng, seeds, exclude_keys, integers, sample, keys
    )
    options: dict[str, Any] = {
        "sampling": initial.astype(np.float64),
        "crossover": SBX(prob=0.9, eta=15, vtype=float),
        "mutation": PM(eta=20, vtype=float),
        "repair": _Canonical(),
    }
    entry = PYMOO_ALGORITHMS[name]
    if entry.ref_dirs:
        options["ref_dirs"] = get_reference_directions("das-dennis", 2, n_partitions=pop_size - 1)
    if name not in {"MOEAD", "UNSGA3", "CTAEA"}:
        options["pop_size"] = pop_size
    if name != "MOEAD":
        options["eliminate_duplicates"] = True
    algorithm = _algorithm_class(name)(**options)
    seed = int(rng.integers(0, 2**31 - 1))
    result = minimize(
        _Surrogate(), algorithm, ("n_gen", max(1, int(n_gen) + 1)), seed=seed, verbose=False
    )
    population = result.pop if result.pop is not None else result.opt
    X = integers(population.get("X"))
    F = np.asarray(population.get("F"), dtype=np.float64)
    cv = (
        np.zeros(X.shape[0])
        if violation is None
        else np.maximum(np.asarray(population.get("G"), np.float64).reshape(-1), 0.0)
    )
    X, first = np.unique(X, axis=0, return_index=True)
    F, cv = F[first], cv[first]
    rank, crowding = rank_and_crowding(F)
    # Feasible rows first (by rank), then by violation, as the built-in NSGA-II orders them.
    order = np.lexsort((-crowding, rank, cv))
    return MOEAResult(
        X[order],
        F[order],
        rank[order],
        crowding[order],
        int(n_gen),
        int(result.algorithm.evaluator.n_eval),
        cv[order],
    )


def _initial_population(
    pop_size: int,
    lower: np.ndarray,
    upper: np.ndarray,
    rng: np.random.Generator,
    seeds: np.ndarray | None,
    exclude_keys: np.ndarray | None,
    integers: Callable[[np.ndarray], np.ndarray],
    sample: Callable[[int, np.random.Generator], np.ndarray] | None,
    keys: Callable[[np.ndarray], np.ndarray] | None,
) -> np.ndarray:
    """``seeds`` plus new random architectures (not excluded where ``keys`` is given)."""
    parts = [integers(seeds)[:pop_size]] if seeds is not None and len(seeds) else []
    have = sum(p.shape[0] for p in parts)
    for _ in range(20):
        if have >= pop_size:
            break
        n = 2 * (pop_size - have) + 8
        drawn = (
            sample(n, rng)
            if sample is not None
            else rng.integers(lower, upper + 1, size=(n, lower.size), dtype=np.int64)
        )
        drawn = integers(drawn)
        if keys is not None and exclude_keys is not None and exclude_keys.size:
            drawn = drawn[fresh_mask(keys(drawn), exclude_keys)]
        parts.append(drawn)
        merged = np.concatenate(parts)
        # Distinct rows in order of first appearance, so that the seeds stay in.
        _, first = np.unique(merged, axis=0, return_index=True)
        parts = [merged[np.sort(first)]]
        have = parts[0].shape[0]
    X = np.concatenate(parts) if parts else np.zeros((0, lower.size), np.int64)
    X = X[:pop_size]
    if X.shape[0] < 2:
        raise ValueError("could not build an initial population of at least 2 architectures")
    return X
