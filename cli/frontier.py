"""A run's rows for the commands: read (from a folder or an object-store URL) and traced.

The rows are :class:`segevo.engine.rows.ArchiveRows`, the engine's one read model, with the
run's configuration: the objective latency, feasibility, front, hypervolume and picks shown
here are the ones the search itself works with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segevo.engine.hypervolume import hypervolume
from segevo.engine.location import RemotePath, run_path
from segevo.engine.rows import ArchiveRows

__all__ = ["hypervolume_trace", "read_run"]


def read_run(run_dir: str | Path | RemotePath) -> ArchiveRows:
    """The committed rows of the run in ``run_dir`` (works while the run writes).

    ``run_dir`` is a folder or an object-store URL (``s3://bucket/prefix``).
    """
    from segevo.engine import rows

    return rows.read_run(run_path(run_dir))


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
