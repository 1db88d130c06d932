"""``random``: uniformly random new architectures (the baseline of issue 9)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from segevo.engine.strategies.base import Proposal, Strategy, new_random

__all__ = ["RandomStrategy"]


class RandomStrategy(Strategy):
    """Proposes distinct random architectures, none evaluated or pending."""

    name: ClassVar[str] = "random"

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
        *_, exclude = self._check_history(X_done, acc_done, lat_done, X_pending, k)
        return self._proposal(new_random(self.problem, int(k), rng, exclude))
