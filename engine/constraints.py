"""Deployment constraints of a search: ``--max-latency MS`` and ``--min-accuracy A``.

One definition of feasibility for the whole engine: proposals (on predicted accuracy and
the latency table), pre-screening, the archive's ``feasible`` column, the hypervolume of the
feasible region and the choice of networks all use :class:`Constraints`.

The violation of a row is the sum of its relative excesses, ``(lat - max) / max`` and
``(min - acc) / max(|min|, 1e-9)``, each clipped at 0: 0 means feasible, and larger means
further away, so that a constrained NSGA-II (Deb's constraint domination) can walk an
infeasible population towards the feasible region.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from segevo.engine.problem import Problem
    from segevo.engine.rows import ArchiveRows

__all__ = ["NO_CONSTRAINTS", "Constraints", "fastest_predicted_latency", "initial_design_verdict"]


def _optional_number(name: str, value: Any, *, positive: bool) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and number <= 0:
        raise ValueError(f"{name} must be > 0 (milliseconds), got {value!r}")
    return number


@dataclass(frozen=True)
class Constraints:
    """Upper bound on latency (ms) and lower bound on accuracy; None: unconstrained."""

    max_latency_ms: float | None = None
    min_accuracy: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "max_latency_ms",
            _optional_number("max_latency_ms", self.max_latency_ms, positive=True),
        )
        object.__setattr__(
            self,
            "min_accuracy",
            _optional_number("min_accuracy", self.min_accuracy, positive=False),
        )

    @property
    def active(self) -> bool:
        """Whether any bound is set."""
        return self.max_latency_ms is not None or self.min_accuracy is not None

    def latency_violation(self, lat: np.ndarray) -> np.ndarray:
        """Relative excess of each latency over ``max_latency_ms`` (0 where within it)."""
        lat = np.asarray(lat, dtype=np.float64)
        if self.max_latency_ms is None:
            return np.zeros(lat.shape)
        return np.maximum(lat - self.max_latency_ms, 0.0) / self.max_latency_ms

    def accuracy_violation(self, acc: np.ndarray) -> np.ndarray:
        """Relative shortfall of each accuracy below ``min_accuracy``; NaN (unknown) is 0."""
        acc = np.asarray(acc, dtype=np.float64)
        if self.min_accuracy is None:
            return np.zeros(acc.shape)
        short = np.maximum(self.min_accuracy - acc, 0.0) / max(abs(self.min_accuracy), 1e-9)
        return np.where(np.isnan(short), 0.0, short)

    def violation(self, acc: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Total violation per row (0: feasible)."""
        return self.accuracy_violation(acc) + self.latency_violation(lat)

    def feasible(self, acc: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Boolean mask of rows within every bound (an unknown accuracy counts as within)."""
        return self.violation(acc, lat) <= 0.0

    def hv_reference(self, reference: tuple[float, float]) -> tuple[float, float]:
        """The hypervolume reference moved onto the feasible region's corner: accuracy at
        least ``min_accuracy``, latency at most ``max_latency_ms``."""
        acc_ref, lat_ref = float(reference[0]), float(reference[1])
        if self.min_accuracy is not None:
            acc_ref = max(acc_ref, self.min_accuracy)
        if self.max_latency_ms is not None:
            lat_ref = min(lat_ref, self.max_latency_ms)
        return acc_ref, lat_ref

    def describe(self) -> str:
        """``latency <= 12 ms, accuracy >= 0.7`` (or ``none``)."""
        parts = []
        if self.max_latency_ms is not None:
            parts.append(f"latency <= {self.max_latency_ms:g} ms")
        if self.min_accuracy is not None:
            parts.append(f"accuracy >= {self.min_accuracy:g}")
        return ", ".join(parts) or "none"

    def record(self) -> dict[str, float | None]:
        """A JSON-able copy (the run config's and the archive's attributes)."""
        return {"max_latency_ms": self.max_latency_ms, "min_accuracy": self.min_accuracy}

    @classmethod
    def from_record(cls, record: Any) -> Constraints:
        """The inverse of :meth:`record`; None or an empty dict is unconstrained."""
        if not record:
            return NO_CONSTRAINTS
        if not isinstance(record, dict) or set(record) - {"max_latency_ms", "min_accuracy"}:
            raise ValueError(
                f"constraints must be a table with max_latency_ms and/or min_accuracy, got {record!r}"
            )
        return cls(record.get("max_latency_ms"), record.get("min_accuracy"))


NO_CONSTRAINTS = Constraints()


def fastest_predicted_latency(problem: Problem, *, listed: int = 20_000) -> float:
    """The smallest predicted latency over every architecture when there are at most
    ``listed``, else over the lower-bound one and a sample of 4096."""
    every = problem.enumerate_architectures(listed)
    if every is None:
        lowest = problem.repair(problem.lower[None, :].astype(np.int64))
        every = np.concatenate([lowest, problem.sample(4096, np.random.default_rng(0))])
    return float(np.min(problem.latency(every)))


def initial_design_verdict(
    constraints: Constraints, problem: Problem, rows: ArchiveRows
) -> tuple[bool, str] | None:
    """What to say once the initial design is archived: None when a row meets the bounds;
    ``(True, why)`` when the latency bound is below every architecture's predicted latency
    (the run cannot succeed); ``(False, what)`` when nothing meets the bounds yet."""
    if not constraints.active or rows.feasible.any():
        return None
    bound = constraints.max_latency_ms
    if bound is not None:
        fastest = fastest_predicted_latency(problem)
        if fastest > bound:
            return True, (
                f"no architecture can meet --max-latency {bound:g} ms: the fastest one the "
                f"problem can produce is predicted at {fastest:.4g} ms"
            )
    return False, (
        f"none of the {len(rows)} initial architectures meets {constraints.describe()} "
        f"(best accuracy {float(rows.acc.max()):.4g}, fastest {float(rows.latency.min()):.4g} "
        "ms); the search goes on towards the bounds"
    )
