"""Problems for the engine benchmarks (importable as ``engine_problems:slow``).

``slow`` wraps any segevo problem and makes each evaluation sleep for a log-normally
distributed time, recording every evaluation's (start, end) so a benchmark can measure
how busy its evaluators were. Sleeping releases the GIL, like a real evaluation on a
GPU or in native code.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from segevo.engine.problem import Problem, load_problem

INTERVALS: list[tuple[float, float]] = []
"""(start, end) of every evaluation in this process (perf_counter seconds)."""
_LOCK = threading.Lock()


class SlowProblem(Problem):
    """``inner`` with evaluations lasting a log-normal time of the given mean."""

    def __init__(
        self,
        *,
        inner: str,
        inner_options: dict[str, Any] | None = None,
        mean_s: float = 0.2,
        sigma: float = 0.5,
        seed: int = 0,
    ) -> None:
        if mean_s < 0 or sigma < 0:
            raise ValueError(f"mean_s and sigma must be >= 0, got {mean_s}, {sigma}")
        self.inner = load_problem(inner, **(inner_options or {}))
        self.lower = self.inner.lower
        self.upper = self.inner.upper
        self.space = getattr(self.inner, "space", None)
        self.mean_s = mean_s
        self.sigma = sigma
        self._rng = np.random.default_rng(seed)
        self._rng_lock = threading.Lock()

    def repair(self, X: np.ndarray) -> np.ndarray:
        return self.inner.repair(X)

    def latency(self, X: np.ndarray) -> np.ndarray:
        return self.inner.latency(X)

    def evaluate(self, x: np.ndarray) -> dict[str, float]:
        with self._rng_lock:
            mu = np.log(self.mean_s) - self.sigma**2 / 2 if self.mean_s > 0 else 0.0
            delay = float(self._rng.lognormal(mu, self.sigma)) if self.mean_s > 0 else 0.0
        start = time.perf_counter()
        time.sleep(delay)
        out = self.inner.evaluate(x)
        with _LOCK:
            INTERVALS.append((start, time.perf_counter()))
        return out

    def objective_bounds(self) -> dict[str, tuple[float, float]] | None:
        return self.inner.objective_bounds()


def slow(**options: Any) -> SlowProblem:
    """Factory for ``engine_problems:slow``."""
    return SlowProblem(**options)
