"""A fast NSGA-II for integer variables, with pymoo's ask/tell shape.

The proposal step of MoSegNAS (paper Algorithm 1, line 11; Table I: population 100,
1000 generations, crossover probability 0.9, mutation probability 0.05) runs NSGA-II on
*predicted* objectives, so the optimiser's own overhead dominates unless it is lean.
This one keeps everything vectorised in numpy, sorts with ``segevo._core``, and asks the
objective callable only for new, distinct offspring.

Operators are injected: ``sampling(n, rng) -> X``, ``crossover(A, B, rng) -> (C1, C2)``,
``mutation(X, rng) -> X`` and ``repair(X) -> X`` (a problem's canonical form). Survival
is NSGA-II's: non-dominated rank, then crowding distance within the last front.
Duplicates (within the offspring, against the population and against an ``exclude``
set, e.g. architectures already evaluated) are removed before evaluation.

>>> import numpy as np
>>> lower, upper = np.zeros(3, np.int64), np.full(3, 4, np.int64)
>>> def objectives(X):
...     return np.column_stack([X.sum(1), (4 - X).sum(1)])
>>> result = minimize(objectives, lower, upper, n_gen=20, pop_size=20, rng=np.random.default_rng(0))
>>> bool(np.all(result.F.sum(1) == 12))
True
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from segevo._core import crowding_distance, nondominated_rank
from segevo.engine.problem import ArchitectureCodec, fresh_mask

__all__ = [
    "NSGA2",
    "Crossover",
    "MOEAResult",
    "Mutation",
    "PolynomialMutation",
    "RandomResetMutation",
    "SBXCrossover",
    "TwoPointCrossover",
    "UniformCrossover",
    "make_crossover",
    "make_mutation",
    "minimize",
    "rank_and_crowding",
    "survival_order",
]

Objectives = Callable[[np.ndarray], np.ndarray]
"""Vectorised objectives: ``[n, n_var]`` int64 -> ``[n, n_obj]`` float64, all minimised."""
Violation = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""Constraint violation of rows ``X`` with objectives ``F``: ``[n]`` float64, 0 = feasible."""


class Crossover(Protocol):
    def __call__(
        self, A: np.ndarray, B: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]: ...


class Mutation(Protocol):
    def __call__(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...


def _probability(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return float(value)


class _MaskCrossover(ABC):
    """Children swap the variables where a mask is set; pairs cross with probability ``prob``."""

    def __init__(self, *, prob: float = 0.9) -> None:
        self.prob = _probability("crossover prob", prob)

    @abstractmethod
    def _mask(self, n: int, n_var: int, rng: np.random.Generator) -> np.ndarray:
        """Boolean ``[n, n_var]``: where the children take the other parent's value."""

    def __call__(
        self, A: np.ndarray, B: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        n, n_var = A.shape
        mask = self._mask(n, n_var, rng)
        mask &= np.asarray(rng.random(n) < self.prob)[:, None]
        return np.where(mask, B, A), np.where(mask, A, B)


class UniformCrossover(_MaskCrossover):
    """Each variable comes from either parent with equal chance."""

    def _mask(self, n: int, n_var: int, rng: np.random.Generator) -> np.ndarray:
        return rng.random((n, n_var)) < 0.5


class TwoPointCrossover(_MaskCrossover):
    """The children exchange one contiguous segment of variables."""

    def _mask(self, n: int, n_var: int, rng: np.random.Generator) -> np.ndarray:
        cuts = np.sort(rng.integers(0, n_var + 1, size=(n, 2)), axis=1)
        position = np.arange(n_var)
        return (position >= cuts[:, :1]) & (position < cuts[:, 1:])


class SBXCrossover:
    """Simulated binary crossover (Deb) on integers, widened by half a step and rounded.

    Widening the bounds by 0.5 gives the end values the same share as inner values
    after rounding.
    """

    def __init__(
        self,
        lower: np.ndarray,
        upper: np.ndarray,
        *,
        prob: float = 0.9,
        eta: float = 15.0,
        prob_var: float = 0.5,
    ) -> None:
        self.prob = _probability("crossover prob", prob)
        self.prob_var = _probability("crossover prob_var", prob_var)
        if eta <= 0:
            raise ValueError(f"SBX eta must be > 0, got {eta}")
        self.eta = float(eta)
        self.lower = np.asarray(lower, dtype=np.int64)
        self.upper = np.asarray(upper, dtype=np.int64)

    def __call__(
        self, A: np.ndarray, B: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        n, n_var = A.shape
        xl = self.lower - 0.5 + 1e-9
        xu = self.upper + 0.5 - 1e-9
        a, b = A.astype(np.float64), B.astype(np.float64)
        y1, y2 = np.minimum(a, b), np.maximum(a, b)
        gap = y2 - y1
        active = (rng.random((n, n_var)) < self.prob_var) & (gap > 0)
        active &= np.asarray(rng.random(n) < self.prob)[:, None]
        safe_gap = np.where(gap > 0, gap, 1.0)
        u = rng.random((n, n_var))
        power = 1.0 / (self.eta + 1.0)

        def betaq(beta: np.ndarray) -> np.ndarray:
            alpha = 2.0 - np.power(beta, -(self.eta + 1.0))
            low = u <= 1.0 / alpha
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(
                    low,
                    np.power(u * alpha, power),
                    np.power(1.0 / np.maximum(2.0 - u * alpha, 1e-12), power),
                )

        c1 = 0.5 * (y1 + y2 - betaq(1.0 + 2.0 * (y1 - xl) / safe_gap) * gap)
        c2 = 0.5 * (y1 + y2 + betaq(1.0 + 2.0 * (xu - y2) / safe_gap) * gap)
        swap = rng.random((n, n_var)) < 0.5
        c1, c2 = np.where(swap, c2, c1), np.where(swap, c1, c2)
        c1 = np.clip(np.rint(c1), self.lower, self.upper).astype(np.int64)
        c2 = np.clip(np.rint(c2), self.lower, self.upper).astype(np.int64)
        return np.where(active, c1, A), np.where(active, c2, B)


class PolynomialMutation:
    """Polynomial mutation (Deb) on integers; each variable mutates with ``prob_var``.

    The value is perturbed on bounds widened by half a step and rounded; a mutated
    variable that rounds back to its old value moves one step in the perturbation's
    direction instead, so that ``prob_var`` is the real rate of change on short ranges.
    """

    def __init__(
        self, lower: np.ndarray, upper: np.ndarray, *, prob_var: float = 0.05, eta: float = 1.0
    ) -> None:
        self.prob_var = _probability("mutation prob_var", prob_var)
        if eta <= 0:
            raise ValueError(f"mutation eta must be > 0, got {eta}")
        self.eta = float(eta)
        self.lower = np.asarray(lower, dtype=np.int64)
        self.upper = np.asarray(upper, dtype=np.int64)

    def __call__(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, n_var = X.shape
        active = (rng.random((n, n_var)) < self.prob_var) & (self.upper > self.lower)
        if not active.any():
            return X
        rows, cols = np.nonzero(active)
        x = X[rows, cols].astype(np.float64)
        xl = self.lower[cols] - 0.5 + 1e-9
        xu = self.upper[cols] + 0.5 - 1e-9
        span = xu - xl
        d1, d2 = (x - xl) / span, (xu - x) / span
        u = rng.random(x.size)
        power = 1.0 / (self.eta + 1.0)
        low = u < 0.5
        val_low = 2.0 * u + (1.0 - 2.0 * u) * np.power(1.0 - d1, self.eta + 1.0)
        val_high = 2.0 * (1.0 - u) + 2.0 * (u - 0.5) * np.power(1.0 - d2, self.eta + 1.0)
        deltaq = np.where(low, np.power(val_low, power) - 1.0, 1.0 - np.power(val_high, power))
        y = np.rint(x + deltaq * span).astype(np.int64)
        old = X[rows, cols]
        step = np.where(deltaq < 0, -1, 1)
        # At a bound the one-step move must point inwards.
        step = np.where(old + step > self.upper[cols], -1, step)
        step = np.where(old + step < self.lower[cols], 1, step)
        y = np.where(y == old, old + step, y)
        Y = X.copy()
        Y[rows, cols] = np.clip(y, self.lower[cols], self.upper[cols])
        return Y


class RandomResetMutation:
    """Each variable, with ``prob_var``, takes a different value drawn uniformly."""

    def __init__(self, lower: np.ndarray, upper: np.ndarray, *, prob_var: float = 0.05) -> None:
        self.prob_var = _probability("mutation prob_var", prob_var)
        self.lower = np.asarray(lower, dtype=np.int64)
        self.upper = np.asarray(upper, dtype=np.int64)

    def __call__(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        active = (rng.random(X.shape) < self.prob_var) & (self.upper > self.lower)
        if not active.any():
            return X
        rows, cols = np.nonzero(active)
        width = self.upper[cols] - self.lower[cols]
        # Drawing from width values and skipping the old one gives a uniform different value.
        offset = rng.integers(0, width) + 1
        old = X[rows, cols] - self.lower[cols]
        Y = X.copy()
        Y[rows, cols] = (old + offset) % (width + 1) + self.lower[cols]
        return Y


def make_crossover(name: str, lower: np.ndarray, upper: np.ndarray, **options: Any) -> Crossover:
    """``uniform``, ``two_point`` or ``sbx``, with keyword options (``prob``, ...)."""
    if name == "uniform":
        return UniformCrossover(**options)
    if name == "two_point":
        return TwoPointCrossover(**options)
    if name == "sbx":
        return SBXCrossover(lower, upper, **options)
    raise ValueError(f"unknown crossover {name!r}; choose uniform, two_point or sbx")


def make_mutation(name: str, lower: np.ndarray, upper: np.ndarray, **options: Any) -> Mutation:
    """``polynomial`` or ``reset``, with keyword options (``prob_var``, ``eta``)."""
    if name == "polynomial":
        return PolynomialMutation(lower, upper, **options)
    if name == "reset":
        return RandomResetMutation(lower, upper, **options)
    raise ValueError(f"unknown mutation {name!r}; choose polynomial or reset")


def rank_and_crowding(F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-dominated rank (0 = first front) and crowding distance within each front."""
    F = np.ascontiguousarray(F, dtype=np.float64)
    rank = nondominated_rank(F).astype(np.int64)
    crowding = np.zeros(F.shape[0])
    if F.shape[0]:
        for front in range(int(rank.max()) + 1):
            members = np.flatnonzero(rank == front)
            crowding[members] = crowding_distance(F[members])
    return rank, crowding


def survival_order(
    F: np.ndarray, n: int | None = None, cv: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NSGA-II survival: the indices of the ``n`` best rows, best first.

    Whole fronts are taken in rank order; the front that does not fit is cut by
    crowding distance (largest first). Crowding is computed per front only for the
    fronts that are needed. Returns ``(order, rank, crowding)`` of the chosen rows.

    With ``cv`` (constraint violation per row, 0 = feasible), Deb's constraint domination:
    feasible rows first, by rank and crowding; then infeasible ones by increasing
    violation, each given its own rank after the feasible ranks (so that a binary
    tournament prefers the smaller violation) and crowding 0.
    """
    if cv is not None:
        cv = np.asarray(cv, dtype=np.float64).ravel()
        if cv.shape[0] != np.shape(F)[0] or np.any(np.isnan(cv)):
            raise ValueError(f"cv must be {np.shape(F)[0]} non-NaN values, got shape {cv.shape}")
        if np.any(cv > 0):
            return _constrained_survival_order(F, n, cv)
    F = np.ascontiguousarray(F, dtype=np.float64)
    total = F.shape[0]
    n = total if n is None else min(n, total)
    rank = nondominated_rank(F).astype(np.int64)
    by_rank = np.argsort(rank, kind="stable")
    chosen: list[np.ndarray] = []
    crowd: list[np.ndarray] = []
    taken = 0
    start = 0
    sorted_rank = rank[by_rank]
    while taken < n:
        stop = int(np.searchsorted(sorted_rank, sorted_rank[start], side="right"))
        members = by_rank[start:stop]
        distance = crowding_distance(F[members])
        if taken + members.size > n:
            keep = np.argsort(-distance, kind="stable")[: n - taken]
            members, distance = members[keep], distance[keep]
        chosen.append(members)
        crowd.append(distance)
        taken += members.size
        start = stop
    order = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    crowding = np.concatenate(crowd) if crowd else np.zeros(0)
    return order, rank[order], crowding


def _constrained_survival_order(
    F: np.ndarray, n: int | None, cv: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    total = cv.shape[0]
    n = total if n is None else min(n, total)
    feasible = np.flatnonzero(cv <= 0)
    infeasible = np.flatnonzero(cv > 0)
    order_f, rank_f, crowd_f = survival_order(np.asarray(F)[feasible], n)
    order_f = feasible[order_f]
    need = n - order_f.size
    by_violation = infeasible[np.argsort(cv[infeasible], kind="stable")][:need]
    first = int(rank_f.max()) + 1 if rank_f.size else 0
    # Equal violations share a rank, so the tournament only prefers a strictly smaller one.
    _, dense = np.unique(cv[by_violation], return_inverse=True)
    order = np.concatenate([order_f, by_violation]).astype(np.int64)
    rank = np.concatenate([rank_f, first + dense.astype(np.int64)])
    crowding = np.concatenate([crowd_f, np.zeros(by_violation.size)])
    return order, rank, crowding


@dataclass(frozen=True)
class MOEAResult:
    """The final population: architectures, objectives, rank and crowding, best first."""

    X: np.ndarray
    F: np.ndarray
    rank: np.ndarray
    crowding: np.ndarray
    n_gen: int
    n_evals: int
    cv: np.ndarray | None = None
    """Constraint violation of each row (0 = feasible; all 0 without constraints)."""


class NSGA2:
    """NSGA-II over an integer box, driven by ``ask()`` / ``tell(X, F)``.

    The first ``ask()`` returns the initial population: ``seeds`` (repaired, distinct)
    plus random architectures up to ``pop_size``. Later calls return up to
    ``n_offsprings`` new offspring (binary tournament on rank and crowding, crossover,
    mutation, repair), none equal to each other, to a population member or to an
    excluded row (``exclude`` rows, or their ``exclude_keys`` from ``codec.keys``). ``tell`` merges them and applies NSGA-II survival. Each instance is
    used by one thread; all randomness comes from ``rng``.
    """

    def __init__(
        self,
        lower: np.ndarray,
        upper: np.ndarray,
        *,
        rng: np.random.Generator,
        pop_size: int = 100,
        n_offsprings: int | None = None,
        crossover: str | Crossover = "two_point",
        mutation: str | Mutation = "polynomial",
        crossover_options: dict[str, Any] | None = None,
        mutation_options: dict[str, Any] | None = None,
        sampling: Callable[[int, np.random.Generator], np.ndarray] | None = None,
        repair: Callable[[np.ndarray], np.ndarray] | None = None,
        seeds: np.ndarray | None = None,
        exclude: np.ndarray | None = None,
        exclude_keys: np.ndarray | None = None,
        max_mating_attempts: int = 20,
    ) -> None:
        self.codec = ArchitectureCodec(lower, upper)
        self.lower, self.upper = self.codec.lower, self.codec.upper
        if pop_size < 2:
            raise ValueError(f"pop_size must be >= 2, got {pop_size}")
        self.pop_size = int(pop_size)
        self.n_offsprings = int(n_offsprings or pop_size)
        if self.n_offsprings < 1:
            raise ValueError(f"n_offsprings must be >= 1, got {n_offsprings}")
        if max_mating_attempts < 1:
            raise ValueError(f"max_mating_attempts must be >= 1, got {max_mating_attempts}")
        self.rng = rng
        self.crossover: Crossover = (
            make_crossover(crossover, self.lower, self.upper, **(crossover_options or {}))
            if isinstance(crossover, str)
            else crossover
        )
        self.mutation: Mutation = (
            make_mutation(mutation, self.lower, self.upper, **(mutation_options or {}))
            if isinstance(mutation, str)
            else mutation
        )
        self.sampling = sampling or self._uniform_sampling
        self.repair = repair or (lambda X: np.clip(X, self.lower, self.upper))
        self.max_mating_attempts = int(max_mating_attempts)
        excluded = [] if exclude_keys is None else [np.asarray(exclude_keys)]
        if exclude is not None and len(exclude):
            excluded.append(self.codec.keys(self.codec.check(exclude, "exclude")))
        self._exclude = np.unique(np.concatenate(excluded)) if excluded else None
        self._seeds = None if seeds is None or len(seeds) == 0 else self.codec.check(seeds, "seeds")
        self.X: np.ndarray | None = None
        self.F: np.ndarray | None = None
        self.CV: np.ndarray | None = None
        self.rank: np.ndarray | None = None
        self.crowding: np.ndarray | None = None
        self._pop_keys: np.ndarray | None = None
        self._asked: np.ndarray | None = None
        self.n_gen = 0
        self.n_evals = 0
        self._fresh_rate = 1.0

    def _uniform_sampling(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(self.lower, self.upper + 1, size=(n, self.codec.n_var), dtype=np.int64)

    def _fresh(self, X: np.ndarray, known: list[np.ndarray | None]) -> np.ndarray:
        """Rows of X whose keys are distinct and in none of the key arrays ``known``."""
        return X[fresh_mask(self.codec.keys(X), *known)]

    def _repaired(self, X: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self.repair(X), dtype=np.int64)

    def _initial_population(self) -> np.ndarray:
        parts: list[np.ndarray] = []
        if self._seeds is not None:
            parts.append(self._fresh(self._repaired(self._seeds), [])[: self.pop_size])
        have = sum(p.shape[0] for p in parts)
        for _ in range(self.max_mating_attempts):
            if have >= self.pop_size:
                break
            candidates = self._repaired(self.sampling(2 * (self.pop_size - have), self.rng))
            known = [np.sort(self.codec.keys(np.concatenate(parts)))] if parts else []
            fresh = self._fresh(candidates, [*known, self._exclude])[: self.pop_size - have]
            parts.append(fresh)
            have += fresh.shape[0]
        X = np.concatenate(parts) if parts else np.zeros((0, self.codec.n_var), np.int64)
        if X.shape[0] < 2:
            raise ValueError(
                "could not build an initial population of at least 2 distinct architectures; "
                "the space is too small or fully excluded"
            )
        return X

    def _tournament(self, n: int) -> np.ndarray:
        assert self.X is not None and self.rank is not None and self.crowding is not None
        a, b = self.rng.integers(0, self.X.shape[0], size=(2, n))
        a_wins = (self.rank[a] < self.rank[b]) | (
            (self.rank[a] == self.rank[b]) & (self.crowding[a] >= self.crowding[b])
        )
        return np.where(a_wins, a, b)

    def _offspring(self) -> np.ndarray:
        assert self.X is not None
        fresh = np.zeros((0, self.codec.n_var), dtype=np.int64)
        known = [self._pop_keys, self._exclude]
        for _ in range(self.max_mating_attempts):
            need = self.n_offsprings - fresh.shape[0]
            # A converged population breeds many duplicates; making as many extra children
            # as the last round's duplicate rate suggests saves whole mating rounds (the
            # first fresh ones are kept, so this equals mating round after round).
            n_pairs = int(np.ceil(min(need / self._fresh_rate, 10 * need) / 2))
            parents = self._tournament(2 * n_pairs)
            C1, C2 = self.crossover(self.X[parents[:n_pairs]], self.X[parents[n_pairs:]], self.rng)
            children = self._repaired(self.mutation(np.concatenate([C1, C2]), self.rng))
            new = self._fresh(np.concatenate([fresh, children]), known)[fresh.shape[0] :]
            self._fresh_rate = max(new.shape[0] / children.shape[0], 0.1)
            fresh = np.concatenate([fresh, new[:need]])
            if fresh.shape[0] >= self.n_offsprings:
                break
        return fresh

    def ask(self) -> np.ndarray:
        """The next architectures to evaluate (possibly fewer than asked for, never 0 rows
        unless no new distinct offspring could be made)."""
        X = self._initial_population() if self.X is None else self._offspring()
        self._asked = X
        return X

    def tell(self, X: np.ndarray, F: np.ndarray, cv: np.ndarray | None = None) -> None:
        """Objectives ``F`` (``[n, n_obj]``, minimised) of the rows ``X`` from the last ask,
        and optionally their constraint violations ``cv`` (0 = feasible; see
        :func:`survival_order`)."""
        if (
            self._asked is None
            or X.shape != self._asked.shape
            or not np.array_equal(X, self._asked)
        ):
            raise ValueError("tell() needs exactly the architectures returned by the last ask()")
        F = np.asarray(F, dtype=np.float64)
        if F.ndim != 2 or F.shape[0] != X.shape[0] or not np.all(np.isfinite(F)):
            raise ValueError(f"F must be a finite [{X.shape[0]}, n_obj] array, got shape {F.shape}")
        cv = self._checked_cv(cv, X.shape[0])
        self._asked = None
        self.n_evals += X.shape[0]
        if self.X is None:
            allX, allF, allCV = X, F, cv
        else:
            assert self.F is not None and self.CV is not None
            if F.shape[1] != self.F.shape[1]:
                raise ValueError(f"F has {F.shape[1]} objectives, expected {self.F.shape[1]}")
            allX, allF = np.concatenate([self.X, X]), np.concatenate([self.F, F])
            allCV = np.concatenate([self.CV, cv])
            self.n_gen += 1
        self._survive(allX, allF, allCV)

    @staticmethod
    def _checked_cv(cv: np.ndarray | None, n: int) -> np.ndarray:
        if cv is None:
            return np.zeros(n)
        cv = np.asarray(cv, dtype=np.float64).ravel()
        if cv.shape != (n,) or not np.all(np.isfinite(cv)) or np.any(cv < 0):
            raise ValueError(f"cv must be {n} finite values >= 0, got shape {cv.shape}")
        return cv

    def _survive(self, X: np.ndarray, F: np.ndarray, cv: np.ndarray) -> None:
        order, rank, crowding = survival_order(F, self.pop_size, cv)
        self.X, self.F, self.rank, self.crowding = X[order], F[order], rank, crowding
        self.CV = cv[order]
        self._pop_keys = np.sort(self.codec.keys(self.X))

    def set_population(self, X: np.ndarray, F: np.ndarray, cv: np.ndarray | None = None) -> None:
        """Start from already evaluated architectures: survival picks ``pop_size`` of them."""
        X = self.codec.check(X, "X")
        F = np.asarray(F, dtype=np.float64)
        if F.ndim != 2 or F.shape[0] != X.shape[0] or not np.all(np.isfinite(F)):
            raise ValueError(f"F must be a finite [{X.shape[0]}, n_obj] array, got shape {F.shape}")
        if X.shape[0] < 2:
            raise ValueError(f"a population needs at least 2 architectures, got {X.shape[0]}")
        self._survive(X, F, self._checked_cv(cv, X.shape[0]))
        self._asked = None

    def result(self) -> MOEAResult:
        """The current population, best first."""
        if self.X is None:
            raise ValueError("no population yet: call ask() and tell() first")
        assert self.F is not None and self.rank is not None and self.crowding is not None
        return MOEAResult(
            self.X.copy(),
            self.F.copy(),
            self.rank.copy(),
            self.crowding.copy(),
            self.n_gen,
            self.n_evals,
            None if self.CV is None else self.CV.copy(),
        )


def minimize(
    objectives: Objectives,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    n_gen: int,
    rng: np.random.Generator,
    violation: Violation | None = None,
    **options: Any,
) -> MOEAResult:
    """Run :class:`NSGA2` for ``n_gen`` generations after the initial population.

    ``options`` go to :class:`NSGA2` (``pop_size``, ``seeds``, ``exclude``, ``repair``,
    operators, ...). ``violation(X, F)`` gives each row's constraint violation (0 =
    feasible; constraint domination, :func:`survival_order`). Stops early when no new
    distinct offspring can be made.
    """
    if n_gen < 0:
        raise ValueError(f"n_gen must be >= 0, got {n_gen}")
    algorithm = NSGA2(lower, upper, rng=rng, **options)

    def tell(X: np.ndarray) -> None:
        F = objectives(X)
        algorithm.tell(X, F, None if violation is None else violation(X, F))

    tell(algorithm.ask())
    for _ in range(n_gen):
        X = algorithm.ask()
        if X.shape[0] == 0:
            break
        tell(X)
    return algorithm.result()
