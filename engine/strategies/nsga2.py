"""``nsga2``: plain NSGA-II on true evaluations, in steady-state batches, no surrogate.

Each batch: NSGA-II survival (rank, crowding) over every evaluated architecture picks the
parent population (``pop_size``); binary tournaments, crossover and mutation make ``k``
new distinct offspring, none evaluated or pending.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from segevo.engine.moea import NSGA2
from segevo.engine.strategies.base import History, Proposal, Strategy
from segevo.engine.strategies.options import MOEAOptions

__all__ = ["NSGA2Strategy"]


class NSGA2Strategy(Strategy):
    """Steady-state NSGA-II without a model; ``moea_options`` set ``pop_size`` and operators."""

    name: ClassVar[str] = "nsga2"

    def __init__(
        self, problem: Any, *, seed: int = 0, moea_options: dict[str, Any] | None = None
    ) -> None:
        super().__init__(problem, seed=seed)
        self.moea = MOEAOptions.parse(moea_options, default_pop_size=40)
        if self.moea.algorithm != "nsga2":
            raise ValueError(
                f"the nsga2 strategy evolves on true evaluations with segevo's NSGA-II; the "
                f"proposal MOEA {self.moea.algorithm!r} applies to the mosegnas strategy"
            )
        self.options["moea_options"] = self.moea.record()

    def _propose(
        self, model: Any | None, history: History, k: int, rng: np.random.Generator
    ) -> Proposal:
        X_done, exclude = history.X_done, history.exclude
        if X_done.shape[0] < 2:
            return self._proposal(self._new_random(k, rng, exclude))
        constrained = self.constraints.max_latency_ms is not None
        algorithm = NSGA2(
            self.problem.lower,
            self.problem.upper,
            rng=rng,
            pop_size=max(2, min(self.moea.pop_size, X_done.shape[0])),
            # Under a latency bound, more children than needed, so that those predicted
            # beyond it can be left out.
            n_offsprings=4 * k if constrained else k,
            repair=self.problem.repair,
            exclude_keys=exclude,
            **self.moea.operators(),
        )
        cv = self.constraints.violation(history.acc_done, history.lat_done)
        algorithm.set_population(X_done, history.F_done, cv)
        X = self._least_violating(algorithm.ask(), k)
        if X.shape[0] < k:
            more_exclude = np.unique(np.concatenate([exclude, self.problem.codec.keys(X)]))
            X = np.concatenate([X, self._new_random(k - X.shape[0], rng, more_exclude)])
        return self._proposal(X)
