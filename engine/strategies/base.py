"""The strategy interface shared by ``mosegnas``, ``nsga2`` and ``random``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from segevo.engine.constraints import NO_CONSTRAINTS, Constraints
from segevo.engine.problem import Problem, fresh_mask

__all__ = ["History", "Proposal", "Strategy", "known_keys", "new_random"]


@dataclass(frozen=True)
class Proposal:
    """Architectures to evaluate, with what was predicted for them.

    ``X`` int64 ``[k, n_var]``; ``acc_pred`` float64 ``[k]`` (NaN when the strategy has no
    accuracy model); ``lat_pred`` float64 ``[k]`` (the problem's predicted latency, ms).
    """

    X: np.ndarray
    acc_pred: np.ndarray
    lat_pred: np.ndarray

    def __post_init__(self) -> None:
        n = self.X.shape[0]
        if self.X.ndim != 2 or self.acc_pred.shape != (n,) or self.lat_pred.shape != (n,):
            raise ValueError(
                f"inconsistent proposal shapes: X {self.X.shape}, acc_pred "
                f"{self.acc_pred.shape}, lat_pred {self.lat_pred.shape}"
            )

    def __len__(self) -> int:
        return int(self.X.shape[0])


@dataclass(frozen=True)
class History:
    """``propose``'s arguments, checked: int64 ``X_done`` ``[n, n_var]`` with finite
    ``acc_done`` and ``lat_done`` (predicted where it was not measured), int64
    ``X_pending``, and ``exclude``, the sorted keys of both (never to be proposed again).
    """

    X_done: np.ndarray
    acc_done: np.ndarray
    lat_done: np.ndarray
    X_pending: np.ndarray
    exclude: np.ndarray

    @property
    def F_done(self) -> np.ndarray:
        """``[-acc_done, lat_done]`` per evaluated row: both minimised, as the MOEA sees them."""
        return np.column_stack([-self.acc_done, self.lat_done])


def known_keys(problem: Problem, *arrays: np.ndarray | None) -> np.ndarray:
    """Sorted distinct keys (``problem.codec.keys``) of every row of the given arrays."""
    parts = [problem.codec.keys(problem.codec.check(a)) for a in arrays if a is not None and len(a)]
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(parts))


def new_random(
    problem: Problem,
    n: int,
    rng: np.random.Generator,
    exclude_keys: np.ndarray,
    *,
    attempts: int = 20,
    first: np.ndarray | None = None,
) -> np.ndarray:
    """Up to ``n`` distinct repaired architectures whose keys are not in ``exclude_keys``.

    ``first`` rows (e.g. the bound architectures) are tried before random ones. Fewer
    than ``n`` come back only when ``attempts`` rounds of sampling found no more, which
    happens when the space is (nearly) exhausted.
    """
    n_var = problem.n_var
    chosen = np.zeros((0, n_var), dtype=np.int64)
    pool = [] if first is None else [problem.codec.check(problem.repair(first))]
    for _ in range(attempts + 1):
        if chosen.shape[0] >= n:
            break
        if not pool:
            pool = [problem.codec.check(problem.sample(2 * (n - chosen.shape[0]) + 8, rng))]
        candidates = pool.pop()
        keep = fresh_mask(problem.codec.keys(candidates), exclude_keys, problem.codec.keys(chosen))
        chosen = np.concatenate([chosen, candidates[keep][: n - chosen.shape[0]]])
    return chosen


class Strategy(ABC):
    """Proposes architectures to evaluate; called by the engine from worker threads.

    Methods are pure: state lives in the arguments, randomness comes from the ``rng``
    passed in, and ``fit_model`` derives its seed from the strategy's seed and the data
    size. ``options`` is a msgpack-able record of the resolved settings.
    """

    name: ClassVar[str] = ""
    adaptive: ClassVar[bool] = True
    """Whether proposals depend on the results so far (False: the engine never waits for a
    model or for results before asking for more, e.g. random search)."""

    def __init__(self, problem: Problem, *, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.problem = problem
        self.seed = int(seed)
        self.options: dict[str, Any] = {"strategy": self.name, "seed": self.seed}
        self.constraints: Constraints = NO_CONSTRAINTS
        """Deployment bounds; proposals keep to the latency bound by the predicted latency
        and the model-driven ones to the accuracy bound by the predicted accuracy."""

    def constrain(self, constraints: Constraints) -> Strategy:
        """Search within ``constraints`` from now on (returns ``self``)."""
        if not isinstance(constraints, Constraints):
            raise ValueError(f"constraints must be a Constraints, got {type(constraints).__name__}")
        self.constraints = constraints
        return self

    def initial(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` distinct repaired architectures: the lower and upper bounds, then random.

        Under a latency bound, bound architectures predicted beyond it are left out and
        random ones predicted within it come first.
        """
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"n must be an integer >= 0, got {n!r}")
        bounds = np.stack([self.problem.lower, self.problem.upper]).astype(np.int64)
        if self.constraints.max_latency_ms is None:
            return new_random(self.problem, int(n), rng, np.zeros(0, np.int64), first=bounds)
        bounds = self.problem.codec.check(self.problem.repair(bounds))
        bounds = bounds[self.constraints.latency_violation(self.problem.latency(bounds)) <= 0]
        first = new_random(self.problem, len(bounds), rng, np.zeros(0, np.int64), first=bounds)
        rest = self._new_random(int(n) - len(first), rng, known_keys(self.problem, first))
        return np.concatenate([first, rest])[: int(n)]

    def _new_random(self, n: int, rng: np.random.Generator, exclude: np.ndarray) -> np.ndarray:
        """:func:`new_random`, preferring architectures predicted within the latency bound."""
        if n <= 0:
            return np.zeros((0, self.problem.n_var), np.int64)
        if self.constraints.max_latency_ms is None:
            return new_random(self.problem, n, rng, exclude)
        pool = new_random(self.problem, 8 * n, rng, exclude)
        return self._least_violating(pool, n)

    def _least_violating(self, X: np.ndarray, n: int) -> np.ndarray:
        """``n`` rows of ``X``, those predicted within the latency bound first (else by how
        little they exceed it), in their given order otherwise."""
        if self.constraints.max_latency_ms is None or X.shape[0] == 0:
            return X[:n]
        violation = self.constraints.latency_violation(self.problem.latency(X))
        return X[np.argsort(violation, kind="stable")[:n]]

    def fit_model(self, X: np.ndarray, acc: np.ndarray) -> Any | None:
        """A fitted accuracy model for ``propose``, or None for model-free strategies."""
        return None

    def save_model(self, model: Any, path: Path) -> Path | None:
        """Write a model from :meth:`fit_model` to ``path`` for a later resume.

        Returns the file written, or None when the strategy keeps no checkpoints (then a
        resumed run fits its model again from the archive).
        """
        return None

    def load_model(self, path: Path) -> Any:
        """A model written by :meth:`save_model`; ValueError when ``path`` cannot be used."""
        raise ValueError(f"strategy {self.name!r} keeps no model checkpoints")

    def propose(
        self,
        model: Any | None,
        X_done: np.ndarray,
        acc_done: np.ndarray,
        lat_done: np.ndarray,
        X_pending: np.ndarray,
        k: int,
        rng: np.random.Generator,
    ) -> Proposal:
        """Up to ``k`` distinct architectures, none in ``X_done`` or ``X_pending``.

        ``lat_done`` is the high-fidelity latency of ``X_done`` (NaN where the problem did
        not measure it; the predicted latency stands in). Fewer than ``k`` come back only
        when the space holds no more new architectures. Checks its arguments (ValueError),
        then asks the strategy's :meth:`_propose`.
        """
        history = self._check_history(X_done, acc_done, lat_done, X_pending, k)
        if k == 0:
            return self._proposal(np.zeros((0, self.problem.n_var), np.int64))
        return self._propose(model, history, int(k), rng)

    @abstractmethod
    def _propose(
        self, model: Any | None, history: History, k: int, rng: np.random.Generator
    ) -> Proposal:
        """What :meth:`propose` returns, for a checked ``history`` and ``k >= 1``."""

    # Helpers shared by the strategies.

    def _check_history(
        self,
        X_done: np.ndarray,
        acc_done: np.ndarray,
        lat_done: np.ndarray,
        X_pending: np.ndarray,
        k: int,
    ) -> History:
        codec = self.problem.codec
        X_done = (
            codec.check(X_done, "X_done") if len(X_done) else np.zeros((0, codec.n_var), np.int64)
        )
        X_pending = (
            codec.check(X_pending, "X_pending")
            if X_pending is not None and len(X_pending)
            else np.zeros((0, codec.n_var), np.int64)
        )
        acc_done = np.asarray(acc_done, dtype=np.float64).ravel()
        lat_done = np.asarray(lat_done, dtype=np.float64).ravel()
        if acc_done.size != X_done.shape[0] or lat_done.size != X_done.shape[0]:
            raise ValueError(
                f"acc_done and lat_done need one value per row of X_done ({X_done.shape[0]}), "
                f"got {acc_done.size} and {lat_done.size}"
            )
        if not np.all(np.isfinite(acc_done)):
            raise ValueError("acc_done must be finite")
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
            raise ValueError(f"k must be an integer >= 0, got {k!r}")
        missing = ~np.isfinite(lat_done)
        if missing.any():
            lat_done = lat_done.copy()
            lat_done[missing] = self.problem.latency(X_done[missing])
        exclude = known_keys(self.problem, X_done, X_pending)
        return History(X_done, acc_done, lat_done, X_pending, exclude)

    def _proposal(self, X: np.ndarray, acc_pred: np.ndarray | None = None) -> Proposal:
        X = np.ascontiguousarray(X, dtype=np.int64).reshape(-1, self.problem.n_var)
        lat = self.problem.latency(X) if X.shape[0] else np.zeros(0)
        acc = np.full(X.shape[0], np.nan) if acc_pred is None else np.asarray(acc_pred, np.float64)
        return Proposal(X, acc, np.asarray(lat, dtype=np.float64))
