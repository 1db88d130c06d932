"""The dashboard's copy of a run's committed rows: growable numpy columns, append-only.

Every data source (a coordinator in this process, a run directory, a remote coordinator)
appends the rows it learns about here, on the event loop, in commit order. Readers slice
``[start, stop)`` of committed rows; those rows never change afterwards, and a growth
replaces the arrays instead of resizing them in place, so a slice taken on the event loop
can be encoded to JSON in a worker thread while new rows arrive.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from segevo.engine.actors.signal import Changed
from segevo.engine.problems.tabular import pareto_front_mask
from segevo.engine.rows import objective_latency

FLOAT_FIELDS = ("acc", "lat_ms", "lat_measured_ms", "lat_pred_ms", "acc_pred", "t_submit", "t_done")
INT_FIELDS = ("task_id", "predictor_version", "feasible")
FIELDS = (
    "index",
    "task_id",
    "x",
    *FLOAT_FIELDS[:5],
    "predictor_version",
    "feasible",
    "evaluator",
    *FLOAT_FIELDS[5:],
)
"""Every field a row has, in the order ``/api/rows`` lists them."""

MAX_LIMIT = 20_000
DEFAULT_LIMIT = 5_000


class RowStore:
    """Committed rows (see the module docstring); ``changed`` fires after each append."""

    def __init__(self, n_var: int | None = None) -> None:
        self.n_var = n_var  # None: taken from the first rows
        self.n = 0
        self.batches = 0
        self._capacity = 0
        self._x = np.zeros((0, n_var or 0), dtype=np.int64)
        self.counts: Counter[str] = Counter()
        """Rows per evaluator name."""
        self._cols: dict[str, np.ndarray] = {}
        for name in FLOAT_FIELDS:
            self._cols[name] = np.zeros(0)
        for name in INT_FIELDS:
            self._cols[name] = np.zeros(0, dtype=np.int64)
        self.evaluator: list[str] = []
        self.changed = Changed()
        self._front = np.zeros(0, dtype=np.int64)

    def _reserve(self, n: int) -> None:
        if n <= self._capacity:
            return
        capacity = max(n, 2 * self._capacity, 1024)

        def grow(a: np.ndarray) -> np.ndarray:
            out = np.zeros((capacity, *a.shape[1:]), dtype=a.dtype)
            out[: self.n] = a[: self.n]
            return out

        self._x = grow(self._x)
        self._cols = {k: grow(v) for k, v in self._cols.items()}
        self._capacity = capacity

    def append(self, columns: Mapping[str, Any], evaluators: Sequence[str]) -> None:
        """Append rows given archive-style columns (``lat_ms`` measured, NaN when not).

        ``columns`` holds ``task_id``, ``x``, ``acc``, ``lat_ms``, ``lat_pred_ms``,
        ``acc_pred``, ``predictor_version``, ``t_submit`` and ``t_done``.
        """
        k = len(evaluators)
        if k == 0:
            return
        x = np.asarray(columns["x"], dtype=np.int64).reshape(k, -1)
        if self.n_var is None:
            self.n_var = int(x.shape[1])
            self._x = np.zeros((self._capacity, self.n_var), dtype=np.int64)
        if x.shape[1] != self.n_var:
            raise ValueError(f"rows have {x.shape[1]} digits, the run {self.n_var}")
        self._reserve(self.n + k)
        stop = self.n + k
        self._x[self.n : stop] = x
        measured = np.asarray(columns["lat_ms"], dtype=np.float64)
        predicted = np.asarray(columns["lat_pred_ms"], dtype=np.float64)
        values = {
            "acc": columns["acc"],
            "lat_ms": objective_latency(measured, predicted),
            # Rows from before the archive had the column, or from a peer without it.
            "feasible": columns.get("feasible", np.ones(k, dtype=np.int64)),
            "lat_measured_ms": measured,
            "lat_pred_ms": predicted,
            "acc_pred": columns["acc_pred"],
            "t_submit": columns["t_submit"],
            "t_done": columns["t_done"],
            "task_id": columns["task_id"],
            "predictor_version": columns["predictor_version"],
        }
        for name, value in values.items():
            self._cols[name][self.n : stop] = np.asarray(value)
        names = [str(e) for e in evaluators]
        self.evaluator.extend(names)
        self.counts.update(names)
        self._update_front(self.n, stop)
        self.n = stop
        self.batches += 1
        self.changed.notify()

    # -- reads -----------------------------------------------------------------------------
    def column(self, name: str) -> np.ndarray:
        if name == "x":
            return self._x[: self.n]
        return self._cols[name][: self.n]

    def _update_front(self, start: int, stop: int) -> None:
        # The front of all rows is the front of the old front plus the new rows: a row
        # dominated once stays dominated. So an append costs O(front + new rows).
        rows = np.concatenate([self._front, np.arange(start, stop, dtype=np.int64)])
        acc = self._cols["acc"][rows]
        lat = self._cols["lat_ms"][rows]
        ok = np.isfinite(acc) & np.isfinite(lat) & (self._cols["feasible"][rows] == 1)
        rows, acc, lat = rows[ok], acc[ok], lat[ok]
        keep = pareto_front_mask(acc, lat)
        rows, lat = rows[keep], lat[keep]
        self._front = rows[np.lexsort((rows, lat))]

    def front_rows(self) -> np.ndarray:
        """Row indices of the non-dominated feasible rows, fastest first (kept up to date on
        append)."""
        return self._front

    def snapshot(self, start: int, stop: int, fields: Iterable[str]) -> dict[str, Any]:
        """Views of rows ``[start, stop)`` (cheap; call on the event loop, encode anywhere)."""
        out: dict[str, Any] = {}
        for name in fields:
            if name == "index":
                out[name] = np.arange(start, stop, dtype=np.int64)
            elif name == "evaluator":
                out[name] = self.evaluator[start:stop]
            else:
                out[name] = self.column(name)[start:stop]
        return out


def parse_fields(text: str | None) -> tuple[str, ...]:
    """``fields=a,b`` of a request (all fields when absent); ValueError names unknown ones."""
    if text is None or text == "":
        return FIELDS
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        raise ValueError(f"unknown fields {unknown}; known: {', '.join(FIELDS)}")
    if "index" not in names:
        names = ("index", *names)
    return names


def plain(values: Any) -> list:
    """A column as JSON values: finite floats stay, NaN and infinities become null."""
    if isinstance(values, list):
        return values
    array = np.asarray(values)
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        items = array.tolist()
        if finite.all():
            return items
        if array.ndim == 1:
            return [v if ok else None for v, ok in zip(items, finite.tolist(), strict=True)]
    return array.tolist()


CHUNK = 1000
"""Rows per ``json.dumps`` call: one call holds the GIL throughout, so a big page encoded
in a worker thread would still stall the event loop; short calls let it run in between."""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _chunked_list(items: Sequence[Any]) -> str:
    parts = [_dumps(list(items[i : i + CHUNK]))[1:-1] for i in range(0, len(items), CHUNK)]
    return "[" + ",".join(p for p in parts if p) + "]"


def encode_rows(
    snapshot: Mapping[str, Any], *, start: int, stop: int, total: int, columns: bool
) -> bytes:
    """The ``/api/rows`` body: row objects (default) or one list per field (``columns``)."""
    head = f'{{"start":{start},"next":{stop},"total":{total},'
    names = list(snapshot)
    k = len(next(iter(snapshot.values()))) if names else 0
    if columns:
        body = ",".join(
            f"{_dumps(name)}:{_chunked_list(plain(values))}" for name, values in snapshot.items()
        )
        return (head + '"columns":{' + body + "}}").encode()
    parts = []
    for i in range(0, k, CHUNK):
        data = [plain(snapshot[name][i : i + CHUNK]) for name in names]
        rows = [dict(zip(names, row, strict=True)) for row in zip(*data, strict=True)]
        parts.append(_dumps(rows)[1:-1])
    return (head + '"rows":[' + ",".join(p for p in parts if p) + "]}").encode()


def finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)
