"""``random``: uniformly random new architectures (the baseline of issue 9)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from segevo.engine.strategies.base import History, Proposal, Strategy

__all__ = ["RandomStrategy"]


class RandomStrategy(Strategy):
    """Proposes distinct random architectures, none evaluated or pending (under a latency
    bound, those predicted within it first)."""

    name: ClassVar[str] = "random"
    adaptive: ClassVar[bool] = False

    def _propose(
        self, model: Any | None, history: History, k: int, rng: np.random.Generator
    ) -> Proposal:
        return self._proposal(self._new_random(k, rng, history.exclude))
