"""The evaluated front of a run read from its archive: objective latency, front, hypervolume.

The objective latency of a row is the latency the evaluator measured, or the predicted one
where it measured none: the same rule the engine's archive mirror applies, so the fronts
shown here are the fronts the search worked with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segevo import _core
from segevo.engine.location import RemotePath, run_path


@dataclass(frozen=True)
class RunRows:
    """The committed rows of a run (``frame`` columns) plus the objective latency."""

    run_dir: Path | RemotePath
    data: Any  # segevo.engine.archive.ArchiveData
    latency: np.ndarray
    config: Any  # segevo.engine.config.RunConfig

    @property
    def acc(self) -> np.ndarray:
        return np.asarray(self.data["acc"], dtype=np.float64)

    @property
    def x(self) -> np.ndarray:
        return np.asarray(self.data["x"], dtype=np.int64)

    @property
    def task_id(self) -> np.ndarray:
        return np.asarray(self.data["task_id"], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def feasible(self) -> np.ndarray:
        """Whether each row met the run's constraints (the archive's ``feasible`` column)."""
        return np.asarray(self.data["feasible"]) == 1

    def reference(self) -> tuple[float, float]:
        """The run's hypervolume reference point (accuracy, latency ms), moved onto the
        constraints' corner, so that the hypervolume is that of the feasible region."""
        from segevo.engine.hypervolume import run_reference

        return run_reference(self.config.hv_reference, self.config.constraints, self.latency)

    def front_mask(self) -> np.ndarray:
        """True for the rows on the front of the feasible rows."""
        mask = np.zeros(len(self), dtype=bool)
        feasible = np.flatnonzero(self.feasible)
        mask[feasible[front_mask(self.acc[feasible], self.latency[feasible])]] = True
        return mask

    def front(self) -> np.ndarray:
        """Row indices of the feasible front, fastest first."""
        rows = np.flatnonzero(self.front_mask())
        return rows[np.lexsort((-self.acc[rows], self.latency[rows]))]

    def picks(self, n: int) -> np.ndarray:
        """Row indices of the paper's final choice among the feasible rows."""
        from segevo.engine.pick import pick_tradeoff

        feasible = np.flatnonzero(self.feasible)
        if feasible.size == 0:
            return feasible
        return feasible[pick_tradeoff(self.acc[feasible], self.latency[feasible], n)]

    def row_of_task(self, task_id: int) -> int:
        """The archive row of a task id (ValueError naming the known range when absent)."""
        rows = np.flatnonzero(self.task_id == int(task_id))
        if rows.size == 0:
            ids = self.task_id
            known = f"{ids.min()}..{ids.max()}" if ids.size else "none yet"
            raise ValueError(
                f"no evaluated architecture with id {task_id} in {self.run_dir} (ids: {known}); "
                "`segevo archive front RUN_DIR` lists the front's ids"
            )
        return int(rows[0])


def read_run(run_dir: str | Path | RemotePath) -> RunRows:
    """The committed rows of the run in ``run_dir`` (works while the run writes).

    ``run_dir`` is a folder or an object-store URL (``s3://bucket/prefix``).
    """
    from segevo.engine.archive import objective_latency, open_archive
    from segevo.engine.rundir import RunDir

    path = run_path(run_dir)
    rundir = RunDir.open(path)
    config = rundir.load_config()
    if not rundir.archive_path.exists():
        from segevo.engine.archive import ArchiveError

        raise ArchiveError(
            f"{path} has no archive yet: the run has not started evaluating; try again shortly"
        )
    data = open_archive(path)
    return RunRows(path, data, objective_latency(data["lat_ms"], data["lat_pred_ms"]), config)


def front_mask(acc: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """True for the non-dominated rows (accuracy maximised, latency minimised)."""
    acc = np.asarray(acc, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if acc.size == 0:
        return np.zeros(0, dtype=bool)
    ranks = _core.nondominated_rank(np.ascontiguousarray(np.column_stack([-acc, lat])))
    return np.asarray(ranks) == 0


def front_rows(acc: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Row indices of the front, fastest first."""
    rows = np.flatnonzero(front_mask(acc, lat))
    return rows[np.lexsort((-np.asarray(acc)[rows], np.asarray(lat)[rows]))]


def hypervolume_trace(
    acc: np.ndarray, lat: np.ndarray, reference: tuple[float, float], *, points: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Hypervolume of the first ``n`` rows for up to ``points`` values of ``n`` (1..all)."""
    n = len(acc)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    counts = np.unique(np.linspace(1, n, num=min(points, n)).round().astype(np.int64))
    from segevo.engine.hypervolume import hypervolume

    values = np.array([hypervolume(acc[:k], lat[:k], reference) for k in counts])
    return counts, values
