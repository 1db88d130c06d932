"""The evaluation archive: append-only zarr arrays under ``RUN_DIR/archive.zarr``.

One row per archived evaluation, one zarr array per column (see :data:`COLUMNS` and
docs/archive.md). Arrays are allocated in whole chunks ahead of the data (their shape is a
capacity); the group attribute ``committed_rows`` says how many rows are valid and is
written *after* the rows' data. A reader slices every array to ``committed_rows``, so it
never sees a half-written row, even while another process appends.

Only :class:`ArchiveWriter` writes, one batch of rows per call (one zarr write per
column), and only past ``committed_rows``: committed rows are never changed. zarr's local
store replaces a chunk file atomically, so a chunk that holds committed rows is only ever
swapped for a copy holding the same committed rows plus new ones.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from segevo.engine.constraints import Constraints
from segevo.engine.faultpoints import crashpoint
from segevo.engine.location import RemotePath, run_path
from segevo.engine.rows import ArchiveRows

ARCHIVE_FORMAT = "segevo-archive"
ARCHIVE_VERSION = 1
ARCHIVE_DIRNAME = "archive.zarr"
DEFAULT_CHUNK_ROWS = 1024

_INT64_FILL = np.iinfo(np.int64).min
_INT32_FILL = np.iinfo(np.int32).min


@dataclass(frozen=True)
class Column:
    """One archive array: dtype, fill value of unwritten rows, meaning."""

    dtype: str
    fill: float | int
    doc: str


COLUMNS: dict[str, Column] = {
    "task_id": Column("int64", _INT64_FILL, "the task's id, unique within the run"),
    "x": Column("int64", _INT64_FILL, "the architecture (2-D: rows x digits)"),
    "acc": Column("float64", math.nan, "accuracy from the high-fidelity evaluation"),
    "lat_ms": Column("float64", math.nan, "latency measured by the evaluator (NaN if none)"),
    "lat_pred_ms": Column("float64", math.nan, "latency predicted at proposal time (the LUT)"),
    "acc_pred": Column("float64", math.nan, "accuracy predicted at proposal time (NaN if none)"),
    "predictor_version": Column(
        "int32", _INT32_FILL, "version of the surrogate that predicted acc_pred (-1: none)"
    ),
    "evaluator": Column("int32", _INT32_FILL, "index into the attribute 'evaluators' (names)"),
    "t_submit": Column("float64", math.nan, "unix time the task was created"),
    "t_done": Column("float64", math.nan, "unix time the result was accepted"),
    "feasible": Column(
        "int8", -1, "1 if the row meets the run's constraints (attribute 'constraints'), else 0"
    ),
}
_ADDED_COLUMNS = {"feasible": 1}
"""Columns newer than version 1 archives, with the value their old rows take (every row of
an archive written before constraints existed was feasible)."""
ROW_COLUMNS = tuple(name for name in COLUMNS if name != "evaluator")
"""Columns a caller supplies to :meth:`ArchiveWriter.append` (plus ``evaluator`` names)."""


class ArchiveError(ValueError):
    """The archive is missing, of another format or version, or unreadable."""


class ArchiveCorruptError(ArchiveError):
    """A chunk or metadata file of the archive cannot be decoded."""


def archive_path(location: str | Path | RemotePath) -> Path | RemotePath:
    """``location`` itself if it is an ``archive.zarr`` folder, else ``location/archive.zarr``.

    A URL (``s3://bucket/prefix``) gives a :class:`~segevo.engine.location.RemotePath`.
    """
    path = run_path(location)
    if path.name.endswith(".zarr"):
        return path
    return path / ARCHIVE_DIRNAME


def _store(path: Path | RemotePath, mode: str) -> Any:
    """What zarr opens: the folder's name locally, an ``FsspecStore`` on an object store."""
    if isinstance(path, RemotePath):
        return path.zarr_store(read_only=mode == "r")
    return str(path)


def _open_group(path: Path | RemotePath, mode: str) -> zarr.Group:
    try:
        present = (path / "zarr.json").is_file()
    except Exception as exc:  # an object store: unreachable, refused, no credentials
        if not isinstance(exc, OSError) and isinstance(path, Path):
            raise
        raise ArchiveError(f"{path} cannot be read: {type(exc).__name__}: {exc}") from exc
    if not present:
        raise ArchiveError(f"{path} is not a segevo archive (no zarr.json)")
    try:
        group = zarr.open_group(_store(path, mode), mode=mode)  # type: ignore[arg-type]
    except Exception as exc:  # zarr raises many kinds for broken metadata
        raise ArchiveCorruptError(f"{path}: cannot open the archive's metadata: {exc}") from exc
    attrs = group.attrs.asdict()
    if attrs.get("format") != ARCHIVE_FORMAT:
        raise ArchiveError(f"{path} is not a segevo archive (format {attrs.get('format')!r})")
    if attrs.get("version") != ARCHIVE_VERSION:
        raise ArchiveError(
            f"{path} is archive version {attrs.get('version')!r}; this segevo reads version "
            f"{ARCHIVE_VERSION}"
        )
    return group


def _attr_int(path: Path | RemotePath, attrs: Mapping[str, Any], key: str) -> int:
    value = attrs.get(key)
    if type(value) is not int or value < 0:
        raise ArchiveCorruptError(
            f"{path}: attribute {key!r} is {value!r}, expected an integer >= 0"
        )
    return value


def _attr_names(path: Path | RemotePath, attrs: Mapping[str, Any]) -> list[str]:
    names = attrs.get("evaluators", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ArchiveCorruptError(f"{path}: attribute 'evaluators' must be a list of names")
    return list(names)


def _array(path: Path | RemotePath, group: zarr.Group, name: str) -> zarr.Array:
    try:
        node = group[name]
    except KeyError:
        raise ArchiveCorruptError(f"{path}: array {name!r} is missing") from None
    except Exception as exc:  # zarr raises many kinds for a garbled metadata file
        raise ArchiveCorruptError(
            f"{path}: the metadata of array {name!r} cannot be read ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(node, zarr.Array):
        raise ArchiveCorruptError(f"{path}: {name!r} is not an array")
    return node


class ArchiveWriter:
    """The single writer of an archive (the Archive actor owns one)."""

    def __init__(self, path: Path | RemotePath, group: zarr.Group) -> None:
        self.path = path
        self._group = group
        self._add_missing_columns(path, group)
        self._arrays = {name: _array(path, group, name) for name in COLUMNS}
        attrs = group.attrs.asdict()
        self.committed_rows = _attr_int(path, attrs, "committed_rows")
        self.n_var = _attr_int(path, attrs, "n_var")
        self.evaluators = _attr_names(path, attrs)
        self._evaluator_index = {name: i for i, name in enumerate(self.evaluators)}
        # The smallest array bounds what may be written: a writer killed between the
        # resizes of a grow leaves some arrays longer than others.
        self._capacity = min(int(a.shape[0]) for a in self._arrays.values())
        self._chunk_rows = int(self._arrays["acc"].chunks[0])

    @staticmethod
    def _add_missing_columns(path: Path | RemotePath, group: zarr.Group) -> None:
        """An archive from before a column existed gets it, filled for its committed rows."""
        missing = [name for name in _ADDED_COLUMNS if name not in group]
        if not missing or group.read_only:
            return
        reference = _array(path, group, "acc")
        committed = _attr_int(path, group.attrs.asdict(), "committed_rows")
        for name in missing:
            column = COLUMNS[name]
            array = group.create_array(
                name,
                shape=reference.shape,
                chunks=reference.chunks,
                dtype=column.dtype,
                fill_value=column.fill,
            )
            array.attrs["doc"] = column.doc
            if committed:
                array[:committed] = _ADDED_COLUMNS[name]

    @classmethod
    def create(
        cls, location: str | Path | RemotePath, n_var: int, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
    ) -> ArchiveWriter:
        """Create a new, empty archive (refuses to overwrite an existing one)."""
        if n_var < 1:
            raise ValueError(f"n_var must be >= 1, got {n_var}")
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        path = archive_path(location)
        if isinstance(path, RemotePath):
            return cls._create_remote(path, n_var, chunk_rows)
        if path.exists():
            raise ArchiveError(f"{path} already exists; an archive is never overwritten")
        # Built aside and renamed into place: a reader sees no archive or a complete one.
        # Earlier staging folders are leftovers of a writer killed while creating (the
        # caller holds the run's lock, so no one else is creating one now).
        for stale in path.parent.glob(f".{path.name}.creating-*"):
            shutil.rmtree(stale, ignore_errors=True)
        staging = path.with_name(f".{path.name}.creating-{os.getpid()}")
        group = zarr.open_group(str(staging), mode="w-")
        for name, column in COLUMNS.items():
            shape: tuple[int, ...] = (chunk_rows, n_var) if name == "x" else (chunk_rows,)
            chunks: tuple[int, ...] = (chunk_rows, n_var) if name == "x" else (chunk_rows,)
            array = group.create_array(
                name, shape=shape, chunks=chunks, dtype=column.dtype, fill_value=column.fill
            )
            array.attrs["doc"] = column.doc
        group.attrs.update(
            {
                "format": ARCHIVE_FORMAT,
                "version": ARCHIVE_VERSION,
                "n_var": int(n_var),
                "created": time.time(),
                "evaluators": [],
                "committed_rows": 0,
            }
        )
        os.rename(staging, path)
        return cls(path, zarr.open_group(str(path), mode="r+"))

    @classmethod
    def _create_remote(cls, path: RemotePath, n_var: int, chunk_rows: int) -> ArchiveWriter:
        """Create on an object store, which cannot rename: the group's metadata goes last.

        Each array is created under its own prefix first, then the group's ``zarr.json``
        with every attribute in one PUT; a reader sees no archive (no ``zarr.json``) or a
        complete empty one. Keys without a group ``zarr.json`` are what a writer killed
        while creating left (the caller holds the run's lock) and are removed first.
        """
        if (path / "zarr.json").exists():
            raise ArchiveError(f"{path} already exists; an archive is never overwritten")
        if path.exists():
            path.rmtree()
        for name, column in COLUMNS.items():
            shape: tuple[int, ...] = (chunk_rows, n_var) if name == "x" else (chunk_rows,)
            zarr.create_array(
                (path / name).zarr_store(read_only=False),
                shape=shape,
                chunks=shape,
                dtype=column.dtype,
                fill_value=column.fill,
                attributes={"doc": column.doc},
            )
        zarr.create_group(
            path.zarr_store(read_only=False),
            attributes={
                "format": ARCHIVE_FORMAT,
                "version": ARCHIVE_VERSION,
                "n_var": int(n_var),
                "created": time.time(),
                "evaluators": [],
                "committed_rows": 0,
            },
        )
        return cls(path, zarr.open_group(_store(path, "r+"), mode="r+"))

    @classmethod
    def open(cls, location: str | Path | RemotePath) -> ArchiveWriter:
        """Open an existing archive to append after its committed rows (resume)."""
        path = archive_path(location)
        return cls(path, _open_group(path, "r+"))

    def record_constraints(self, record: Mapping[str, Any]) -> None:
        """Write the run's constraints (what the ``feasible`` column was computed against)."""
        self._group.attrs["constraints"] = dict(record)

    def evaluator_index(self, name: str) -> int:
        """The integer stored in the ``evaluator`` column for an evaluator's name."""
        index = self._evaluator_index.get(name)
        if index is None:
            index = len(self.evaluators)
            self.evaluators.append(name)
            self._evaluator_index[name] = index
        return index

    def append(self, rows: Mapping[str, Any], evaluator_names: Sequence[str]) -> int:
        """Append a batch of rows (one zarr write per column); returns ``committed_rows``.

        ``rows`` maps every name in :data:`ROW_COLUMNS` to equally long arrays (``x`` of
        shape ``[n, n_var]``; ``feasible`` may be left out: 1); ``evaluator_names`` gives
        each row's evaluator.
        """
        n = len(evaluator_names)
        if n == 0:
            return self.committed_rows
        data: dict[str, np.ndarray] = {}
        rows = {**{k: np.full(n, v) for k, v in _ADDED_COLUMNS.items() if k not in rows}, **rows}
        for name in ROW_COLUMNS:
            if name not in rows:
                raise ValueError(f"append needs column {name!r}; columns are {list(ROW_COLUMNS)}")
            array = np.asarray(rows[name], dtype=COLUMNS[name].dtype)
            expected = (n, self.n_var) if name == "x" else (n,)
            if array.shape != expected:
                raise ValueError(f"column {name!r} has shape {array.shape}, expected {expected}")
            data[name] = array
        unknown = set(rows) - set(ROW_COLUMNS)
        if unknown:
            raise ValueError(f"unknown archive columns {sorted(unknown)}; known: {list(COLUMNS)}")
        data["evaluator"] = np.asarray(
            [self.evaluator_index(name) for name in evaluator_names], dtype=np.int32
        )
        start = self.committed_rows
        stop = start + n
        if stop > self._capacity:
            self._grow(stop)
        for name, array in data.items():
            self._arrays[name][start:stop] = array
            crashpoint("archive.column")
        crashpoint("archive.before_commit")
        # The commit point: readers trust rows below committed_rows only.
        self._group.attrs.update({"evaluators": list(self.evaluators), "committed_rows": stop})
        self.committed_rows = stop
        return stop

    def _grow(self, needed: int) -> None:
        capacity = max(self._capacity * 2, needed)
        capacity = -(-capacity // self._chunk_rows) * self._chunk_rows
        for name, array in self._arrays.items():
            if array.shape[0] < capacity:
                array.resize((capacity, self.n_var) if name == "x" else (capacity,))
                crashpoint("archive.grow")
        self._capacity = capacity


def open_archive(
    location: str | Path | RemotePath,
    *,
    start: int = 0,
    stop: int | None = None,
    retries: int = 3,
) -> ArchiveRows:
    """Read the committed rows ``[start, stop)`` of a run's archive (all by default).

    ``location`` is a run directory or an ``archive.zarr`` folder. Safe while another
    process appends: the row count is read first and every array is sliced to it.
    A chunk that cannot be decoded raises :class:`ArchiveCorruptError` naming the array.
    """
    path = archive_path(location)
    last_error: Exception | None = None
    for _ in range(max(1, retries)):
        try:
            return _read(path, start, stop)
        except ArchiveCorruptError as exc:
            # A reader racing a writer on a non-atomic store could see a partial file;
            # a persistent failure is a real corruption.
            last_error = exc
            time.sleep(0.05)
    assert last_error is not None
    raise last_error


def _read(path: Path | RemotePath, start: int, stop: int | None) -> ArchiveRows:
    group = _open_group(path, "r")
    attrs = group.attrs.asdict()
    committed = _attr_int(path, attrs, "committed_rows")
    evaluators = _attr_names(path, attrs)
    n_var = _attr_int(path, attrs, "n_var")
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    stop = committed if stop is None else min(int(stop), committed)
    start = min(start, stop)
    columns: dict[str, np.ndarray] = {}
    for name in COLUMNS:
        if name in _ADDED_COLUMNS and name not in group:
            columns[name] = np.full(stop - start, _ADDED_COLUMNS[name], dtype=COLUMNS[name].dtype)
            continue
        array = _array(path, group, name)
        if array.shape[0] < stop:
            raise ArchiveCorruptError(
                f"{path}: array {name!r} holds {array.shape[0]} rows but {committed} are committed"
            )
        try:
            columns[name] = np.asarray(array[start:stop])
        except Exception as exc:  # codec / file errors from zarr and numcodecs
            raise ArchiveCorruptError(
                f"{path}: array {name!r} rows {start}..{stop} cannot be read ({type(exc).__name__}: "
                f"{exc}); a chunk file is truncated or corrupt"
            ) from exc
    if columns["x"].ndim != 2 or columns["x"].shape[1] != n_var:
        raise ArchiveCorruptError(
            f"{path}: array 'x' has shape {columns['x'].shape}, n_var {n_var}"
        )
    _check_filled(path, start, columns)
    try:
        constraints = Constraints.from_record(attrs.get("constraints"))
    except ValueError as exc:
        raise ArchiveCorruptError(f"{path}: attribute 'constraints': {exc}") from None
    return ArchiveRows.from_arrays(
        columns,
        evaluators,
        path=path,
        start=start,
        committed_rows=committed,
        constraints=constraints,
    )


def _check_filled(path: Path | RemotePath, start: int, columns: dict[str, np.ndarray]) -> None:
    """Committed rows never hold fill values; where they do, a chunk file went missing."""
    unwritten = (
        (columns["task_id"] == _INT64_FILL)
        | np.any(columns["x"] == _INT64_FILL, axis=1)
        | ~np.isfinite(columns["acc"])
        | ~np.isfinite(columns["t_done"])
        | (columns["evaluator"] == _INT32_FILL)
    )
    if unwritten.any():
        rows = np.flatnonzero(unwritten) + start
        raise ArchiveCorruptError(
            f"{path}: committed rows {int(rows[0])}..{int(rows[-1])} hold unwritten values "
            f"({rows.size} rows); a chunk file is missing or was replaced"
        )
