"""``table:PATH.csv``: a tabular benchmark read from a CSV file.

The file has a header row with integer columns ``x0..x{n-1}`` and float columns ``acc``
and ``lat_ms`` (other columns are ignored). Every architecture inside the bounds must
appear exactly once; the bounds are the columns' minimum and maximum unless given, and
rows outside given bounds are left out. A missing combination is an error at load time
that names an example.
"""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np

from segevo.engine.problem import ArchitectureCodec
from segevo.engine.problems.tabular import TabularProblem

__all__ = ["TableProblem", "file_sha256"]

_X_COLUMN = re.compile(r"x(\d+)")


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_header(path: Path) -> list[str]:
    with open(path, newline="") as f:
        try:
            header = next(csv.reader(f))
        except StopIteration:
            raise ValueError(
                f"{path} is empty; expected a header x0..x{{n-1}},acc,lat_ms"
            ) from None
    return [name.strip() for name in header]


def _column_layout(path: Path, header: list[str]) -> tuple[list[int], int, int]:
    positions: dict[str, int] = {}
    for pos, name in enumerate(header):
        if name in positions:
            raise ValueError(f"{path}: column {name!r} appears twice in the header")
        positions[name] = pos
    missing = [name for name in ("acc", "lat_ms") if name not in positions]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; need x0..x{{n-1}}, acc, lat_ms")
    digits = sorted(int(m.group(1)) for name in positions if (m := _X_COLUMN.fullmatch(name)))
    if not digits:
        raise ValueError(f"{path}: no architecture columns; need x0..x{{n-1}}, acc, lat_ms")
    if digits != list(range(len(digits))):
        gap = next(i for i in range(len(digits) + 1) if i not in digits)
        raise ValueError(f"{path}: architecture columns must be x0..x{{n-1}}; x{gap} is missing")
    return [positions[f"x{i}"] for i in digits], positions["acc"], positions["lat_ms"]


def _bounds_option(value: Any, n_var: int, what: str) -> np.ndarray | None:
    if value is None:
        return None
    array = np.asarray(value)
    if array.shape != (n_var,) or array.dtype.kind not in "iu":
        raise ValueError(f"{what} must be {n_var} integers (one per x column), got {value!r}")
    return array.astype(np.int64)


class TableProblem(TabularProblem):
    """A tabular benchmark loaded from CSV (see the module docstring for the format).

    Options: ``lower``/``upper`` (int lists, default: the data's range) and ``sha256``
    (when given, the file must have this digest; :meth:`spec` records it so a remote
    evaluator refuses a different file at the same path).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        lower: Any = None,
        upper: Any = None,
        sha256: str | None = None,
    ) -> None:
        path = Path(path).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"table file {path} does not exist")
        digest = file_sha256(path)
        if sha256 is not None and sha256 != digest:
            raise ValueError(f"{path} has SHA-256 {digest}, expected {sha256}: the file changed")
        header = _read_header(path)
        x_cols, acc_col, lat_col = _column_layout(path, header)
        n_var = len(x_cols)
        try:
            # Only the needed columns are converted, so extra columns may hold text.
            data = np.loadtxt(
                path,
                delimiter=",",
                skiprows=1,
                dtype=np.float64,
                ndmin=2,
                usecols=[*x_cols, acc_col, lat_col],
            )
        except ValueError as exc:
            raise ValueError(f"{path}: cannot parse the numbers: {exc}") from exc
        if data.shape[0] == 0:
            raise ValueError(f"{path} has a header but no rows")
        X_float = data[:, :n_var]
        acc = data[:, n_var]
        lat = data[:, n_var + 1]
        bad = ~np.isfinite(X_float) | (X_float != np.round(X_float))
        if bad.any():
            row, col = (int(v[0]) for v in np.nonzero(bad))
            raise ValueError(
                f"{path} line {row + 2}: x{col} = {X_float[row, col]} is not an integer"
            )
        for name, values in (("acc", acc), ("lat_ms", lat)):
            if not np.all(np.isfinite(values)):
                row = int(np.flatnonzero(~np.isfinite(values))[0])
                raise ValueError(f"{path} line {row + 2}: {name} = {values[row]} is not finite")
        X = X_float.astype(np.int64)
        lo = _bounds_option(lower, n_var, "lower")
        hi = _bounds_option(upper, n_var, "upper")
        lo = X.min(axis=0) if lo is None else lo
        hi = X.max(axis=0) if hi is None else hi
        codec = ArchitectureCodec(lo, hi)
        inside = np.all((lo <= X) & (hi >= X), axis=1)
        rows = np.flatnonzero(inside)
        X, acc, lat = X[rows], acc[rows], lat[rows]
        if codec.size > X.shape[0]:
            index = codec.index(X) if codec.fits_int64 else None
            example = self._missing_example(codec, index)
            raise ValueError(
                f"{path}: the bounds {lo.tolist()}..{hi.tolist()} hold {codec.size} architectures "
                f"but the table has {X.shape[0]} rows inside them; missing e.g. x = {example}"
            )
        index = codec.index(X)
        order = np.argsort(index, kind="stable")
        sorted_index = index[order]
        repeated = np.flatnonzero(sorted_index[1:] == sorted_index[:-1])
        if repeated.size:
            first, second = sorted(rows[order[repeated[0] : repeated[0] + 2]].tolist())
            raise ValueError(
                f"{path}: architecture {X[order[repeated[0]]].tolist()} appears twice "
                f"(lines {first + 2} and {second + 2})"
            )
        super().__init__(lo, hi, acc[order], lat[order])
        self.path = path
        self.sha256 = digest

    @staticmethod
    def _missing_example(codec: ArchitectureCodec, index: np.ndarray | None) -> list[int]:
        if index is None:
            return codec.lower.tolist()
        present = np.unique(index)
        # The first position where the sorted present indices leave 0, 1, 2, ... is missing.
        gaps = np.flatnonzero(present != np.arange(present.size))
        missing = int(gaps[0]) if gaps.size else int(present.size)
        return codec.decode(np.array([missing]))[0].tolist()

    def spec(self) -> dict[str, Any]:
        options = {
            "lower": self.lower.tolist(),
            "upper": self.upper.tolist(),
            "sha256": self.sha256,
        }
        return {"problem": f"table:{self.path}", "options": options}
