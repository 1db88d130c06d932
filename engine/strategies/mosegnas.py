"""``mosegnas``: the paper's loop body (Algorithm 1, lines 9-13) as a steady-state proposer.

``fit_model`` fits the chosen surrogate (default ``auto``; the paper's RankNet is ``ranknet``) on every evaluated architecture.
``propose`` runs NSGA-II on predicted accuracy and predicted latency, its population seeded
with the evaluated front, then pre-screens the final population down to ``k`` new
architectures (default: the hierarchical K-S pre-screening, Algorithm 4).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from segevo.engine.moea import minimize, survival_order
from segevo.engine.prescreen import prescreen, prescreen_plugin
from segevo.engine.problem import Problem, fresh_mask
from segevo.engine.pymoo_moea import minimize_with_pymoo
from segevo.engine.strategies.base import History, Proposal, Strategy
from segevo.engine.strategies.options import MOEAOptions

__all__ = ["MoSegNASStrategy"]


def _surrogate_factory() -> Any:
    from segevo.surrogates import make_surrogate, surrogate_class

    return make_surrogate, surrogate_class


class MoSegNASStrategy(Strategy):
    """Surrogate-assisted NSGA-II proposals with pre-screening.

    Options: ``surrogate`` (a name from :func:`segevo.surrogates.available_surrogates`),
    ``surrogate_options`` (that surrogate's keyword options), ``prescreen`` (one of
    :func:`segevo.engine.prescreen.available_prescreens`) and ``moea_options``
    (:class:`MOEAOptions`). With no model (fewer than 2 evaluations) it proposes random
    architectures.
    """

    name: ClassVar[str] = "mosegnas"

    def __init__(
        self,
        problem: Problem,
        *,
        seed: int = 0,
        surrogate: str = "auto",
        surrogate_options: dict[str, Any] | None = None,
        prescreen: str = "hierarchical",
        moea_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(problem, seed=seed)
        _, surrogate_class = _surrogate_factory()
        surrogate_class(surrogate)  # an unknown name raises, naming the known ones
        prescreen_plugin(prescreen)
        self.surrogate = surrogate
        self.surrogate_options = dict(surrogate_options or {})
        # Constructing one validates the surrogate options now rather than at the first fit.
        self._new_surrogate(0)
        self.prescreen = prescreen
        self.moea = MOEAOptions.parse(moea_options)
        self.options.update(
            surrogate=surrogate,
            surrogate_options=dict(self.surrogate_options),
            prescreen=prescreen,
            moea_options=self.moea.record(),
        )

    def _new_surrogate(self, seed: int) -> Any:
        make_surrogate, _ = _surrogate_factory()
        return make_surrogate(
            self.surrogate,
            self.problem.lower,
            self.problem.upper,
            seed=seed,
            space=self.problem.space,
            digit_kinds=getattr(self.problem, "digit_kinds", None),
            **self.surrogate_options,
        )

    def fit_model(self, X: np.ndarray, acc: np.ndarray) -> Any | None:
        """The surrogate fitted on ``(X, acc)``; None with fewer than 2 rows.

        Its seed depends only on the strategy's seed and ``len(X)``, so refits are
        reproducible whatever thread runs them.
        """
        X = self.problem.codec.check(X, "X") if len(X) else np.zeros((0, self.problem.n_var))
        if X.shape[0] < 2:
            return None
        seed = (self.seed * 1_000_003 + X.shape[0]) % (2**31 - 1)
        return self._new_surrogate(seed).fit(X, np.asarray(acc, dtype=np.float64))

    def save_model(self, model: Any, path: Path) -> Path | None:
        """The surrogate's own file format (numpy arrays and JSON; no pickle)."""
        return Path(model.save(path))

    def load_model(self, path: Path) -> Any:
        """A surrogate saved by :meth:`save_model`, checked against this strategy's settings."""
        from segevo.surrogates import load_surrogate

        model = load_surrogate(path, space=self.problem.space)
        if model.name != self.surrogate:
            raise ValueError(f"{path} holds a {model.name!r} surrogate, not {self.surrogate!r}")
        if not (
            np.array_equal(model.lower, self.problem.lower)
            and np.array_equal(model.upper, self.problem.upper)
        ):
            raise ValueError(f"{path} was fitted on other bounds than this problem's")
        return model

    def _propose(
        self, model: Any | None, history: History, k: int, rng: np.random.Generator
    ) -> Proposal:
        X_done, exclude = history.X_done, history.exclude
        if model is None:
            return self._proposal(self._new_random(k, rng, exclude))
        problem = self.problem
        constraints = self.constraints

        def objectives(X: np.ndarray) -> np.ndarray:
            return np.column_stack([-model.predict(X), problem.latency(X)])

        def violation(X: np.ndarray, F: np.ndarray) -> np.ndarray:
            return constraints.violation(-F[:, 0], F[:, 1])

        candidates = self._enumerated_candidates(exclude)
        if candidates is not None:
            acc_pred, lat_pred = model.predict(candidates), problem.latency(candidates)
            n = max(self.moea.pop_size, k)
            order, _, _ = survival_order(
                np.column_stack([-acc_pred, lat_pred]),
                n,
                constraints.violation(acc_pred, lat_pred) if constraints.active else None,
            )
            return self._prescreened(
                candidates[order], acc_pred[order], lat_pred[order], history, k, rng
            )
        seeds = None
        if X_done.shape[0] and self.moea.max_seeds:
            cv_done = constraints.violation(history.acc_done, history.lat_done)
            order, rank, _ = survival_order(history.F_done, self.moea.max_seeds, cv_done)
            seeds = X_done[order[rank == rank[0]]] if order.size else None
        run_moea = minimize
        extra_options: dict[str, Any] = self.moea.operators()
        if self.moea.algorithm != "nsga2":
            run_moea = partial(minimize_with_pymoo, self.moea.algorithm.partition(":")[2])
            extra_options = {"sample": problem.sample, "keys": problem.codec.keys}
        result = run_moea(
            objectives,
            problem.lower,
            problem.upper,
            n_gen=self.moea.n_gen,
            rng=rng,
            pop_size=self.moea.pop_size,
            seeds=seeds,
            exclude_keys=exclude,
            repair=problem.repair,
            violation=violation if constraints.active else None,
            **extra_options,
        )
        candidates, acc_pred, lat_pred = result.X, -result.F[:, 0], result.F[:, 1]
        fresh = fresh_mask(problem.codec.keys(candidates), exclude)
        if np.count_nonzero(fresh) < k:
            # The surrogate's optimum is already evaluated; widen the pool with new
            # random architectures so that exactly k can still be chosen.
            taken = np.unique(np.concatenate([exclude, problem.codec.keys(candidates)]))
            extra = self._new_random(4 * k, rng, taken)
            if extra.shape[0]:
                candidates = np.concatenate([candidates, extra])
                acc_pred = np.concatenate([acc_pred, model.predict(extra)])
                lat_pred = np.concatenate([lat_pred, problem.latency(extra)])
        return self._prescreened(candidates, acc_pred, lat_pred, history, k, rng)

    def _enumerated_candidates(self, exclude: np.ndarray) -> np.ndarray | None:
        """Every architecture not yet evaluated or pending, when there are few enough to
        score them all (``moea_options.exhaustive``); None otherwise."""
        if not self.moea.exhaustive:
            return None
        if "_all" not in self.__dict__:
            # Idempotent, so a race between proposal threads only costs a second listing.
            self.__dict__["_all"] = self.problem.enumerate_architectures(self.moea.exhaustive)
        every = self.__dict__["_all"]
        if every is None:
            return None
        return every[fresh_mask(self.problem.codec.keys(every), exclude)]

    def _prescreened(
        self,
        candidates: np.ndarray,
        acc_pred: np.ndarray,
        lat_pred: np.ndarray,
        history: History,
        k: int,
        rng: np.random.Generator,
    ) -> Proposal:
        X_done = history.X_done
        if self.constraints.active:
            # Pre-screening chooses among the candidates predicted feasible; with fewer
            # than k of those, the least violating ones are the proposal.
            fresh = fresh_mask(self.problem.codec.keys(candidates), history.exclude)
            candidates, acc_pred, lat_pred = candidates[fresh], acc_pred[fresh], lat_pred[fresh]
            violation = self.constraints.violation(acc_pred, lat_pred)
            feasible = violation <= 0
            if np.count_nonzero(feasible) < k:
                best = np.argsort(violation, kind="stable")[:k]
                return Proposal(candidates[best], acc_pred[best], lat_pred[best])
            candidates, acc_pred, lat_pred = (
                candidates[feasible],
                acc_pred[feasible],
                lat_pred[feasible],
            )
        if candidates.shape[0] <= k:
            return Proposal(candidates, acc_pred, lat_pred)
        chosen = prescreen(
            self.prescreen,
            candidates,
            acc_pred,
            lat_pred,
            k,
            acc_done=history.acc_done,
            lat_done=history.lat_done,
            rng=rng,
            exclude=np.concatenate([X_done, history.X_pending]),
        )
        if not prescreen_plugin(self.prescreen).ranked:
            # A subset pre-screen returns a set; the engine feeds a proposal best first, so a
            # random order makes every prefix a spread-out sample of that set.
            chosen = chosen[rng.permutation(chosen.size)]
        return Proposal(candidates[chosen], acc_pred[chosen], lat_pred[chosen])
