"""The archive's rows in memory: the one read model of a run's evaluations.

:class:`ArchiveRows` holds committed rows as numpy columns (the archive's
:data:`~segevo.engine.archive.COLUMNS`) and answers every question asked of them: the
objective latency of each row (measured, else predicted), its feasibility, the front of the
feasible rows, the hypervolume, the paper's final picks, a pandas frame. The same class is

- what :func:`segevo.engine.archive.open_archive` returns (rows read from disk),
- the coordinator's in-memory mirror, extended after every commit (what the status query,
  the surrogate and the proposer read), and
- what the CLI's reports and the benchmarks read (:func:`segevo.engine.rows.read_run` adds
  the run's configuration).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from segevo.engine.constraints import NO_CONSTRAINTS, Constraints
from segevo.engine.hypervolume import hypervolume, run_reference
from segevo.engine.problems.tabular import pareto_front_mask

__all__ = ["ArchiveRows", "objective_latency", "read_run"]

_INITIAL_CAPACITY = 256


def objective_latency(lat_ms: np.ndarray, lat_pred_ms: np.ndarray) -> np.ndarray:
    """The latency a row is judged by: measured where the evaluator measured it, else the
    table's prediction."""
    lat_ms = np.asarray(lat_ms, dtype=np.float64)
    return np.where(np.isfinite(lat_ms), lat_ms, np.asarray(lat_pred_ms, dtype=np.float64))


class ArchiveRows:
    """Committed rows (growable columns) and everything derived from them.

    ``path``, ``start`` and ``committed_rows`` say where the rows were read from (rows
    ``[start, start + len)`` of an archive holding ``committed_rows``); ``config`` is the
    run's :class:`~segevo.engine.config.RunConfig` when the rows were read with it.
    """

    def __init__(
        self,
        n_var: int,
        constraints: Constraints = NO_CONSTRAINTS,
        *,
        path: Any = None,
        start: int = 0,
        config: Any = None,
    ) -> None:
        from segevo.engine.archive import COLUMNS

        self.n_var = int(n_var)
        self.constraints = constraints
        self.path = path
        self.start = int(start)
        self.config = config
        self.run_dir: Any = None
        """The run directory the rows were read from (set by :func:`read_run`)."""
        self.n = 0
        self._committed: int | None = None
        self._capacity = _INITIAL_CAPACITY
        self._data: dict[str, np.ndarray] = {}
        for name, column in COLUMNS.items():
            shape = (self._capacity, self.n_var) if name == "x" else (self._capacity,)
            self._data[name] = np.zeros(shape, dtype=column.dtype)
        self.evaluators: list[str] = []
        """Distinct evaluator names; the ``evaluator`` column indexes into it."""
        self._evaluator_index: dict[str, int] = {}
        self._front_cache: tuple[int, np.ndarray] | None = None

    # -- filling -------------------------------------------------------------------------
    def _reserve(self, n: int) -> None:
        if n <= self._capacity:
            return
        capacity = max(n, 2 * self._capacity)
        for name, array in self._data.items():
            grown = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
            grown[: self.n] = array[: self.n]
            self._data[name] = grown
        self._capacity = capacity

    def _index(self, name: str) -> int:
        index = self._evaluator_index.get(name)
        if index is None:
            index = self._evaluator_index[name] = len(self.evaluators)
            self.evaluators.append(name)
        return index

    def extend(self, columns: Mapping[str, Any], evaluators: Sequence[str]) -> None:
        """Append rows: the columns :meth:`ArchiveWriter.append` takes (``feasible`` may be
        left out: 1) and each row's evaluator name."""
        k = len(evaluators)
        if k == 0:
            return
        self._reserve(self.n + k)
        stop = self.n + k
        for name, array in self._data.items():
            if name == "evaluator":
                array[self.n : stop] = [self._index(str(e)) for e in evaluators]
            elif name == "feasible" and name not in columns:
                array[self.n : stop] = 1
            else:
                array[self.n : stop] = np.asarray(columns[name]).reshape(array[self.n : stop].shape)
        self.n = stop

    @classmethod
    def from_arrays(
        cls,
        columns: Mapping[str, np.ndarray],
        evaluators: Sequence[str],
        *,
        path: Any = None,
        start: int = 0,
        committed_rows: int | None = None,
        constraints: Constraints = NO_CONSTRAINTS,
    ) -> ArchiveRows:
        """Rows read from an archive: every column, ``evaluator`` as indices into
        ``evaluators`` (out-of-range indices read as no name)."""
        x = np.asarray(columns["x"])
        rows = cls(int(x.shape[1]), constraints, path=path, start=start)
        names = [*evaluators, ""]
        index = np.asarray(columns["evaluator"])
        valid = (index >= 0) & (index < len(evaluators))
        row_names = [names[i] for i in np.where(valid, index, -1).tolist()]
        rows.extend(columns, row_names)
        rows._committed = committed_rows
        return rows

    # -- columns -------------------------------------------------------------------------
    @property
    def committed_rows(self) -> int:
        """Rows the archive held when these were read (all rows for a live mirror)."""
        return self.start + self.n if self._committed is None else self._committed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, name: str) -> np.ndarray:
        """A column (a view; copy before handing it to another thread)."""
        return self._data[name][: self.n]

    def column(self, name: str) -> np.ndarray:
        """A column by name; ``evaluator`` gives the names."""
        return self.evaluator_names if name == "evaluator" else self[name]

    @property
    def columns(self) -> dict[str, np.ndarray]:
        return {name: self[name] for name in self._data}

    @property
    def X(self) -> np.ndarray:
        return self["x"]

    @property
    def task_id(self) -> np.ndarray:
        return self["task_id"]

    @property
    def predictor_version(self) -> np.ndarray:
        return self["predictor_version"]

    @property
    def acc(self) -> np.ndarray:
        return self["acc"]

    @property
    def evaluator_names(self) -> np.ndarray:
        """Each row's evaluator name (object array)."""
        names = np.asarray([*self.evaluators, ""], dtype=object)
        return names[self["evaluator"]]

    @property
    def latency(self) -> np.ndarray:
        """Objective latency: measured when the evaluator measured it, else predicted."""
        return objective_latency(self["lat_ms"], self["lat_pred_ms"])

    @property
    def feasible(self) -> np.ndarray:
        """Whether each row met the run's constraints (the archive's ``feasible`` column)."""
        return self["feasible"] == 1

    # -- the front -----------------------------------------------------------------------
    def front_rows(self) -> np.ndarray:
        """Row indices of the non-dominated feasible rows (max acc, min latency), fastest
        first (more accurate first among equals)."""
        if self._front_cache is not None and self._front_cache[0] == self.n:
            return self._front_cache[1]
        lat = self.latency
        feasible = np.flatnonzero(self.feasible)
        rows = feasible[pareto_front_mask(self.acc[feasible], lat[feasible])]
        rows = rows[np.lexsort((-self.acc[rows], lat[rows]))]
        self._front_cache = (self.n, rows)
        return rows

    def front_mask(self) -> np.ndarray:
        """True for the rows on the feasible front."""
        mask = np.zeros(self.n, dtype=bool)
        mask[self.front_rows()] = True
        return mask

    def reference(self) -> tuple[float, float]:
        """The run's hypervolume reference (its config's, else from these rows), moved onto
        the constraints' corner."""
        configured = None if self.config is None else self.config.hv_reference
        return run_reference(configured, self.constraints, self.latency)

    def hypervolume(self, reference: tuple[float, float] | None = None) -> float:
        """Hypervolume of the feasible front against ``reference`` (default
        :meth:`reference`), the reference moved onto the constraints' corner."""
        rows = self.front_rows()
        ref = self.reference() if reference is None else self.constraints.hv_reference(reference)
        return hypervolume(self.acc[rows], self.latency[rows], ref)

    def picks(self, n: int) -> np.ndarray:
        """Row indices of the paper's final choice among the feasible rows, fastest first."""
        from segevo.engine.pick import pick_tradeoff

        feasible = np.flatnonzero(self.feasible)
        if feasible.size == 0:
            return feasible
        return feasible[pick_tradeoff(self.acc[feasible], self.latency[feasible], n)]

    def row_of_task(self, task_id: int) -> int:
        """The row of a task id (ValueError naming the known range when absent)."""
        rows = np.flatnonzero(self.task_id == int(task_id))
        if rows.size == 0:
            ids = self.task_id
            known = f"{ids.min()}..{ids.max()}" if ids.size else "none yet"
            raise ValueError(
                f"no evaluated architecture with id {task_id} in {self.run_dir or self.path} "
                f"(ids: {known}); "
                "`segevo archive front RUN_DIR` lists the front's ids"
            )
        return int(rows[0])

    # -- answers to the query protocol (docs/protocol.md) ------------------------------
    def front_record(self) -> dict[str, Any]:
        """The ``front`` query's answer: the feasible front, fastest first."""
        rows = self.front_rows()
        return {
            "rows": rows.tolist(),
            "task_id": self.task_id[rows].tolist(),
            "x": self.X[rows].tolist(),
            "acc": self.acc[rows].tolist(),
            "lat_ms": self.latency[rows].tolist(),
        }

    def page(self, since: int, limit: int | None, *, max_frame: int) -> dict[str, Any]:
        """The ``rows`` query's answer: rows from ``since``, as many as fit a frame of
        ``max_frame`` bytes (and at most ``limit`` and 50,000)."""
        from segevo.engine.archive import ROW_COLUMNS

        start = min(max(0, since), self.n)
        stop = min(self.n, start + min(limit or 50_000, 50_000))
        names = self.evaluator_names
        # msgpack takes at most 9 bytes a number; the evaluator's name is the one field of
        # any length (up to 128 characters of the peer's choosing plus its address).
        longest_name = max((len(n.encode()) for n in set(names[start:stop].tolist())), default=0)
        row_bytes = 9 * (self.n_var + 12) + 64 + longest_name
        stop = min(stop, start + max(1, (max_frame - 4096) // row_bytes))
        columns: dict[str, Any] = {name: self[name][start:stop].tolist() for name in ROW_COLUMNS}
        columns["evaluator"] = names[start:stop].tolist()
        return {"start": start, "stop": stop, "committed": self.n, "columns": columns}

    def frame(self) -> Any:
        """The rows as a pandas DataFrame: ``x0..x{n-1}`` columns, then the others."""
        import pandas as pd

        x = self.X
        data: dict[str, Any] = {f"x{i}": x[:, i] for i in range(x.shape[1])}
        for name in self._data:
            if name != "x":
                data[name] = self.column(name)
        return pd.DataFrame(data)


def read_run(run_dir: Any) -> ArchiveRows:
    """The committed rows of the run in ``run_dir`` (a folder or an object-store URL such as
    ``s3://bucket/prefix``) with its configuration (works while the run writes)."""
    from segevo.engine.archive import ArchiveError, open_archive
    from segevo.engine.rundir import RunDir

    rundir = RunDir.open(run_dir)
    config = rundir.load_config()
    if not rundir.archive_path.exists():
        raise ArchiveError(
            f"{rundir.path} has no archive yet: the run has not started evaluating; try again "
            "shortly"
        )
    rows = open_archive(rundir.path)
    rows.run_dir = rundir.path
    rows.config = config
    rows.constraints = config.constraints
    return rows
