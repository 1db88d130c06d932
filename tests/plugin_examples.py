"""One worked plugin per family, as a user's package would write it (CONTRIBUTING.md,
"Plugins"). Nothing is registered on import: ``tests/test_plugin_examples.py`` registers them
in code, and ``tests/nets/test_plugins.py`` installs them through entry points.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch

from segevo.devices import Device, Measurement
from segevo.engine.prescreen import Screening
from segevo.engine.problem import Problem
from segevo.engine.strategies import Proposal, Strategy
from segevo.engine.strategies.base import History, new_random
from segevo.nets.datasets import SegmentationDataset
from segevo.surrogates import Option, Surrogate
from segevo.surrogates.options import float_range

# -- problems: factory(argument, **options) -> Problem ----------------------------------------


class OneMax(Problem):
    """``n_var`` digits in 0..3; accuracy rises with the digit sum, and so does latency."""

    def __init__(self, n_var: int) -> None:
        self.lower = np.zeros(n_var, dtype=np.int64)
        self.upper = np.full(n_var, 3, dtype=np.int64)

    def latency(self, X: np.ndarray) -> np.ndarray:
        return 1.0 + np.atleast_2d(X).sum(axis=1).astype(np.float64)

    def evaluate(self, x: np.ndarray) -> dict[str, float]:
        return {"acc": float(np.sum(x)) / (3 * self.n_var)}


def onemax(argument: str | None, *, n_var: int = 4) -> Problem:
    """``load_problem("onemax", n_var=6)``; spec() is recorded by load_problem."""
    if argument:
        raise ValueError(f"onemax takes no argument, got 'onemax:{argument}'")
    return OneMax(n_var)


# -- strategies: a Strategy subclass (or factory) taking the options it declares --------------


class CheapestFirst(Strategy):
    """Random new architectures, the lowest predicted latency first."""

    name: ClassVar[str] = "cheapest_first"
    adaptive: ClassVar[bool] = False

    def __init__(self, problem: Problem, *, seed: int = 0, pool: int = 4) -> None:
        super().__init__(problem, seed=seed)
        self.pool = pool

    def _propose(
        self, model: Any | None, history: History, k: int, rng: np.random.Generator
    ) -> Proposal:
        X = new_random(self.problem, self.pool * k, rng, history.exclude)
        order = np.argsort(self.problem.latency(X), kind="stable")
        return self._proposal(X[order[:k]])


# -- pre-screens: select(screening) -> k distinct candidate indices --------------------------


def fastest(screening: Screening) -> np.ndarray:
    """The ``k`` candidates with the lowest predicted latency, fastest first."""
    return np.argsort(screening.lat, kind="stable")[: screening.k]


fastest.ranked = True  # type: ignore[attr-defined]  # the order is a preference


# -- surrogates: a Surrogate subclass whose ``name`` is its registered name -------------------


class RidgeSurrogate(Surrogate):
    """Ridge regression on the one-hot features (closed form)."""

    name: ClassVar[str] = "ridge"
    OPTIONS: ClassVar[Mapping[str, Option]] = {
        "alpha": Option(1e-2, float_range(0.0, low_open=True), "L2 penalty"),
    }

    def _fit(self, X: np.ndarray, y01: np.ndarray) -> None:
        F = self._features(X).astype(np.float64)
        F = np.column_stack([F, np.ones(len(F))])
        gram = F.T @ F + self.options["alpha"] * np.eye(F.shape[1])
        self._w = np.linalg.solve(gram, F.T @ y01)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        F = self._features(X).astype(np.float64)
        return np.column_stack([F, np.ones(len(F))]) @ self._w

    def _state(self) -> dict[str, np.ndarray]:
        return {"w": self._w}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        self._w = state["w"]


# -- devices: a factory(**options) -> Device ------------------------------------------------


class ParamClock(Device):
    """'Latency' proportional to the parameter count: instant and deterministic."""

    def __init__(self, *, ms_per_mparam: float = 1.0) -> None:
        if not ms_per_mparam > 0:
            raise ValueError(f"ms_per_mparam must be > 0, got {ms_per_mparam!r}")
        self.ms_per_mparam = ms_per_mparam

    @property
    def name(self) -> str:
        return "param-clock"

    def identity(self) -> dict[str, Any]:
        return {
            "backend": "param-clock",
            "model": f"{self.ms_per_mparam} ms/Mparam",
            "threads": 1,
            "torch": torch.__version__,
        }

    def measure(self, module: torch.nn.Module, input_shape: Any, **protocol: Any) -> Measurement:
        ms = self.ms_per_mparam * sum(p.numel() for p in module.parameters()) / 1e6 + 1e-3
        return Measurement(count=1, mean_ms=ms, std_ms=0.0, median_ms=ms, p95_ms=ms, min_ms=ms)


# -- data sets: a SegmentationDataset class (``needs_path = False``: no folder) --------------


class Stripes(SegmentationDataset):
    """Vertical stripes of two classes; the image is the label painted grey and white."""

    name: ClassVar[str] = "stripes"
    splits: ClassVar[tuple[str, ...]] = ("train", "val")
    needs_path: ClassVar[bool] = False

    def __init__(self, split: str, *, length: int = 4, **common: Any) -> None:
        super().__init__(split, **common)
        self.length = length

    @property
    def class_names(self) -> tuple[str, ...]:
        return ("grey", "white")

    def __len__(self) -> int:
        return self.length

    def load_raw(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        label = np.tile((np.arange(16) // (2 + index % 3)) % 2, (12, 1)).astype(np.int64)
        image = np.repeat((128 + 127 * label)[..., None], 3, axis=2).astype(np.uint8)
        return image, label
