"""``table:PATH.csv``: a tabular benchmark read from a CSV file.

The file has a header row with integer columns ``x0..x{n-1}`` (the architecture) and float
columns for the two objectives: by default ``acc`` (maximised) and ``lat_ms`` (minimised).
``columns=[ACC, COST]`` picks others, e.g. ``["acc", "mflops"]`` for NAS-Bench-Macro; the
engine still calls the cost ``lat_ms``: the cost column is what ``latency(X)`` and
``evaluate(x)["lat_ms"]`` return. Other columns are ignored (they may hold text). Lines
starting with ``#`` are comments; a comment before the header may declare the digit kinds,
``# digit_kinds: categorical,ordinal,...`` (one per x column; the ``digit_kinds`` option
overrides it).

The bounds are the x columns' minimum and maximum unless given; rows outside given bounds
are left out. A table with a row for every architecture of its box is *complete* (O(1)
look-ups). One with fewer rows (a sparse sample such as TransNAS-Bench-101's) is a finite
candidate *pool*: the search proposes only rows that exist (``repair`` snaps each row to
the nearest existing one, ``sample`` draws from the rows), ``evaluate`` of an architecture
the table lacks is a ValueError, ``capacity`` is the number of rows (a larger budget is an
error), and ``objective_bounds``/``pareto_front`` are those of the rows. Loading a pool
logs a warning once per process.

``noise=[COL, ...]`` makes ``evaluate`` return the accuracy of one of these columns, chosen
at random per evaluation (e.g. NAS-Bench-Macro's ``acc_run0..2``, three trainings of each
network): a noisy objective. The choice for the k-th evaluation of an architecture comes
from ``noise_seed``, the architecture and k, so that a run is reproducible whatever the
order in which threads evaluate. ``latency``, ``accuracy``, ``objective_bounds`` and
``pareto_front`` stay on the main accuracy column.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segevo.engine.problem import ArchitectureCodec
from segevo.engine.problems.tabular import TabularProblem

__all__ = ["DEFAULT_COLUMNS", "DIGIT_KINDS", "TableProblem", "file_sha256"]

log = logging.getLogger(__name__)

DEFAULT_COLUMNS = ("acc", "lat_ms")
DIGIT_KINDS = ("categorical", "ordinal")

_X_COLUMN = re.compile(r"x(\d+)")
_DIGIT_KINDS_COMMENT = re.compile(r"digit_kinds\s*[:=]\s*(.*)")
_announced: set[tuple[str, str]] = set()
_announced_lock = threading.Lock()


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Csv:
    """A CSV file's header, data rows with their line numbers, and leading comments."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.header: list[str] = []
        self.rows: list[list[str]] = []
        self.lines: list[int] = []
        self.comments: list[str] = []
        with open(path, newline="") as f:
            reader = csv.reader(f)
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue
                if row[0].lstrip().startswith("#"):
                    if not self.header:
                        self.comments.append(",".join(row).lstrip()[1:].strip())
                    continue
                if not self.header:
                    self.header = [name.strip() for name in row]
                    continue
                if len(row) != len(self.header):
                    raise ValueError(
                        f"{path} line {reader.line_num}: {len(row)} fields, but the header "
                        f"has {len(self.header)}"
                    )
                self.rows.append(row)
                self.lines.append(reader.line_num)
        if not self.header:
            raise ValueError(f"{path} is empty; expected a header x0..x{{n-1}},acc,lat_ms")

    def numbers(self, position: int, name: str) -> np.ndarray:
        """Column ``position`` (called ``name``) as float64; ValueError naming line and column."""
        cells = [row[position] for row in self.rows]
        try:
            return np.array([float(cell) for cell in cells], dtype=np.float64)
        except ValueError:
            for line, cell in zip(self.lines, cells, strict=True):
                try:
                    float(cell)
                except ValueError:
                    raise ValueError(
                        f"{self.path} line {line}: cannot parse column {name!r} = {cell!r} "
                        "as a number"
                    ) from None
            raise


def _names(value: Any, what: str, count: int | None = None) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{what} must be a list of column names, got {value!r}")
    names = tuple(value)
    if not all(isinstance(n, str) and n.strip() for n in names) or not names:
        raise ValueError(f"{what} must be a list of non-empty column names, got {value!r}")
    names = tuple(n.strip() for n in names)
    if count is not None and len(names) != count:
        raise ValueError(f"{what} must name {count} columns, got {list(names)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} names a column twice: {list(names)}")
    return names


def _layout(
    path: Path, header: list[str], wanted: Sequence[str]
) -> tuple[list[int], dict[str, int]]:
    """Positions of the x columns (in order) and of each ``wanted`` column."""
    positions: dict[str, int] = {}
    for pos, name in enumerate(header):
        if name in positions:
            raise ValueError(f"{path}: column {name!r} appears twice in the header")
        positions[name] = pos
    missing = [name for name in wanted if name not in positions]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {missing}; the file has columns {header} (choose the "
            "accuracy and cost columns with the option columns=[ACC, COST], --table-columns)"
        )
    digits = sorted(int(m.group(1)) for name in positions if (m := _X_COLUMN.fullmatch(name)))
    if not digits:
        raise ValueError(f"{path}: no architecture columns; need x0..x{{n-1}}, acc, lat_ms")
    if digits != list(range(len(digits))):
        gap = next(i for i in range(len(digits) + 1) if i not in digits)
        raise ValueError(f"{path}: architecture columns must be x0..x{{n-1}}; x{gap} is missing")
    taken = [name for name in wanted if _X_COLUMN.fullmatch(name)]
    if taken:
        raise ValueError(f"{path}: {taken} are architecture columns, not objectives")
    return [positions[f"x{i}"] for i in digits], positions


def _bounds_option(value: Any, n_var: int, what: str) -> np.ndarray | None:
    if value is None:
        return None
    array = np.asarray(value)
    if array.shape != (n_var,) or array.dtype.kind not in "iu":
        raise ValueError(f"{what} must be {n_var} integers (one per x column), got {value!r}")
    return array.astype(np.int64)


def _digit_kinds(value: Any, n_var: int, where: str) -> list[str]:
    kinds = [value] * n_var if isinstance(value, str) else value
    if not isinstance(kinds, Sequence) or len(kinds) != n_var:
        raise ValueError(
            f"{where}: digit_kinds must be one of {list(DIGIT_KINDS)} or a list of {n_var} of "
            f"them (one per x column), got {value!r}"
        )
    kinds = [k.strip() if isinstance(k, str) else k for k in kinds]
    bad = [k for k in kinds if k not in DIGIT_KINDS]
    if bad:
        raise ValueError(f"{where}: unknown digit kind(s) {bad}; allowed: {list(DIGIT_KINDS)}")
    return list(kinds)


def _missing_example(codec: ArchitectureCodec, sorted_index: np.ndarray) -> list[int]:
    # The first position where the sorted distinct indices leave 0, 1, 2, ... is missing.
    gaps = np.flatnonzero(sorted_index != np.arange(sorted_index.size))
    missing = int(gaps[0]) if gaps.size else int(sorted_index.size)
    return codec.decode(np.array([missing]))[0].tolist()


class TableProblem(TabularProblem):
    """A tabular benchmark loaded from CSV (see the module docstring for the format).

    Options: ``lower``/``upper`` (int lists, default: the data's range), ``sha256`` (when
    given, the file must have this digest; :meth:`spec` records it so a remote evaluator
    refuses a different file at the same path), ``columns`` (the accuracy and cost column
    names), ``noise`` and ``noise_seed`` (accuracy columns one of which each evaluation
    returns at random), ``digit_kinds`` ("categorical"/"ordinal" per x column, or one for
    all), ``complete`` (True: a table that leaves out an architecture of its box is an error
    naming one, instead of a candidate pool).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        lower: Any = None,
        upper: Any = None,
        sha256: str | None = None,
        columns: Sequence[str] = DEFAULT_COLUMNS,
        noise: Sequence[str] | None = None,
        noise_seed: int = 0,
        digit_kinds: Any = None,
        complete: bool = False,
    ) -> None:
        path = Path(path).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"table file {path} does not exist")
        acc_name, cost_name = _names(columns, f"{path}: columns ([ACC, COST])", 2)
        noise_names = () if noise is None else _names(noise, f"{path}: noise")
        if (
            isinstance(noise_seed, bool)
            or not isinstance(noise_seed, int | np.integer)
            or noise_seed < 0
        ):
            raise ValueError(f"noise_seed must be an integer >= 0, got {noise_seed!r}")
        digest = file_sha256(path)
        if sha256 is not None and sha256 != digest:
            raise ValueError(f"{path} has SHA-256 {digest}, expected {sha256}: the file changed")
        table = _Csv(path)
        values = list(dict.fromkeys([acc_name, cost_name, *noise_names]))
        x_cols, positions = _layout(path, table.header, values)
        n_var = len(x_cols)
        if not table.rows:
            raise ValueError(f"{path} has a header but no rows")
        lines = np.asarray(table.lines)
        X_float = np.column_stack([table.numbers(p, f"x{i}") for i, p in enumerate(x_cols)])
        bad = ~np.isfinite(X_float) | (X_float != np.round(X_float))
        if bad.any():
            row, col = (int(v[0]) for v in np.nonzero(bad))
            raise ValueError(
                f"{path} line {lines[row]}: x{col} = {X_float[row, col]} is not an integer"
            )
        columns_read: dict[str, np.ndarray] = {}
        for name in values:
            column = table.numbers(positions[name], name)
            if not np.all(np.isfinite(column)):
                row = int(np.flatnonzero(~np.isfinite(column))[0])
                raise ValueError(f"{path} line {lines[row]}: {name} = {column[row]} is not finite")
            columns_read[name] = column
        X = X_float.astype(np.int64)
        lo = _bounds_option(lower, n_var, "lower")
        hi = _bounds_option(upper, n_var, "upper")
        lo = X.min(axis=0) if lo is None else lo
        hi = X.max(axis=0) if hi is None else hi
        codec = ArchitectureCodec(lo, hi)
        if not codec.fits_int64:
            raise ValueError(f"{path}: the bounds hold {codec.size} architectures, too many")
        rows = np.flatnonzero(np.all((lo <= X) & (hi >= X), axis=1))
        if rows.size == 0:
            raise ValueError(f"{path}: no row lies inside the bounds {lo.tolist()}..{hi.tolist()}")
        X = X[rows]
        index = codec.index(X)
        order = np.argsort(index, kind="stable")
        sorted_index = index[order]
        repeated = np.flatnonzero(sorted_index[1:] == sorted_index[:-1])
        if repeated.size:
            first, second = sorted(lines[rows[order[repeated[0] : repeated[0] + 2]]].tolist())
            raise ValueError(
                f"{path}: architecture {X[order[repeated[0]]].tolist()} appears twice "
                f"(lines {first} and {second})"
            )
        if complete and codec.size > X.shape[0]:
            raise ValueError(
                f"{path}: the bounds {lo.tolist()}..{hi.tolist()} hold {codec.size} architectures "
                f"but the table has {X.shape[0]} rows inside them; missing e.g. x = "
                f"{_missing_example(codec, sorted_index)}"
            )
        super().__init__(
            lo,
            hi,
            columns_read[acc_name][rows],
            columns_read[cost_name][rows],
            architectures=X,
        )
        self.path = path
        self.sha256 = digest
        self.columns = (acc_name, cost_name)
        self.noise = noise_names
        self.noise_seed = int(noise_seed)
        self._noise = (
            np.stack([columns_read[name][rows][self.row_order] for name in noise_names])
            if noise_names
            else None
        )
        self._noise_counts: dict[int, int] = {}
        self._noise_lock = threading.Lock()
        self._digit_kinds_option = digit_kinds
        self._complete = bool(complete)
        declared = next(
            (m.group(1) for c in table.comments if (m := _DIGIT_KINDS_COMMENT.match(c))), None
        )
        if digit_kinds is not None:
            self.digit_kinds = _digit_kinds(digit_kinds, n_var, f"{path}: option")
        elif declared is not None:
            self.digit_kinds = _digit_kinds(declared.split(","), n_var, f"{path}: header comment")
        if self.is_pool:
            self._announce_pool()

    def _announce_pool(self) -> None:
        key = (str(self.path), self.sha256)
        with _announced_lock:
            if key in _announced:
                return
            _announced.add(key)
        log.warning("%s", self.pool_note())

    def pool_note(self) -> str:
        """One line on what the search covers (for a pool: only the table's rows)."""
        if not self.is_pool:
            return f"table {self.path} covers its whole box ({self.size} architectures)"
        return (
            f"table {self.path} covers {self.size} of {self.codec.size} architectures of its "
            "box: searching that pool only"
        )

    def evaluate(self, x: np.ndarray) -> dict[str, float]:
        i = self._position(x)
        if self._noise is None:
            acc = self._acc[i]
        else:
            with self._noise_lock:
                k = self._noise_counts.get(i, 0)
                self._noise_counts[i] = k + 1
            run = np.random.default_rng([self.noise_seed, i, k]).integers(self._noise.shape[0])
            acc = self._noise[run, i]
        return {"acc": float(acc), "lat_ms": float(self._lat[i])}

    def spec(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "lower": self.lower.tolist(),
            "upper": self.upper.tolist(),
            "sha256": self.sha256,
        }
        # Options at their defaults stay out, so older evaluators accept the spec.
        if self.columns != DEFAULT_COLUMNS:
            options["columns"] = list(self.columns)
        if self.noise:
            options["noise"] = list(self.noise)
            options["noise_seed"] = self.noise_seed
        if self._complete:
            options["complete"] = True
        if self._digit_kinds_option is not None:
            options["digit_kinds"] = self.digit_kinds
        return {"problem": f"table:{self.path}", "options": options}
