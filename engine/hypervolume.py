"""The hypervolume of a run's front and its reference point, defined once.

Every reader (the coordinator's status, the CLI's reports, the dashboard) measures the
front of (accuracy maximised, latency minimised) against a reference point (accuracy,
latency ms) fixed when the run starts (``RunConfig.hv_reference``; by default the worst
corner of the problem's objective bounds) and moved onto the corner of the feasible region
when the run has constraints, so that the hypervolume is that of the feasible region.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from segevo._core import hypervolume_2d

if TYPE_CHECKING:
    from segevo.engine.constraints import Constraints
    from segevo.engine.problem import Problem

__all__ = ["default_reference", "hypervolume", "hypervolume_trace", "run_reference"]


def default_reference(problem: Problem) -> tuple[float, float]:
    """A run's reference point when none is given: the problem's worst accuracy and
    latency when it knows its bounds, else accuracy 0 and 1.1 x the slowest bound
    architecture's predicted latency."""
    bounds = problem.objective_bounds()
    if bounds is not None:
        return float(bounds["acc"][0]), float(bounds["lat_ms"][1])
    corners = np.stack([problem.lower, problem.upper]).astype(np.int64)
    return 0.0, float(1.1 * np.max(problem.latency(problem.repair(corners))))


def run_reference(
    configured: Any, constraints: Constraints | None, latency: np.ndarray
) -> tuple[float, float]:
    """The reference a run's hypervolume is measured against: ``configured`` (the run
    config's ``hv_reference``), or for a run that recorded none accuracy 0 and 1.1 x the
    slowest row's latency; then moved onto the constraints' corner."""
    if configured is not None:
        reference = (float(configured[0]), float(configured[1]))
    else:
        finite = np.asarray(latency, dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        reference = (0.0, 1.1 * float(finite.max()) if finite.size else 1.0)
    return constraints.hv_reference(reference) if constraints is not None else reference


def hypervolume(acc: np.ndarray, lat: np.ndarray, reference: tuple[float, float]) -> float:
    """Hypervolume of the points (accuracy, latency) against ``reference``; points beyond
    the reference add nothing."""
    acc = np.asarray(acc, dtype=np.float64).ravel()
    if acc.size == 0:
        return 0.0
    F = np.ascontiguousarray(np.column_stack([-acc, np.asarray(lat, dtype=np.float64).ravel()]))
    return float(hypervolume_2d(F, np.array([-reference[0], reference[1]], dtype=np.float64)))


def hypervolume_trace(
    acc: np.ndarray, lat: np.ndarray, reference: tuple[float, float], *, points: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Hypervolume of the first ``n`` rows for up to ``points`` values of ``n`` (1..all)."""
    n = len(acc)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    counts = np.unique(np.linspace(1, n, num=min(points, n)).round().astype(np.int64))
    values = np.array([hypervolume(acc[:k], lat[:k], reference) for k in counts])
    return counts, values
