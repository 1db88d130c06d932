"""A problem whose architectures' accuracy and latency sit in arrays.

Either every architecture of the box (a *complete* table: dense arrays in mixed-radix order,
O(1) look-ups), or a finite *pool* of rows that exist (a sparse sample of the box, such as
TransNAS-Bench-101's): then :meth:`TabularProblem.repair` snaps every row to the nearest one
that exists, :meth:`TabularProblem.sample` draws from the pool, and look-ups of an
architecture the pool lacks are a ValueError.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segevo.engine.problem import ArchitectureCodec, Problem

__all__ = ["TabularProblem", "pareto_front_mask"]

# Elements of one [candidates, pool] score block (int16: 8 MiB), and the most elements the
# per-digit look-up tables of a pool may hold before scores are computed directly instead.
_BLOCK_ELEMENTS = 1 << 22
_MAX_LOOKUP_ELEMENTS = 1 << 25


def pareto_front_mask(acc: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Boolean mask of the points not dominated when maximising ``acc`` and minimising ``lat``.

    Equal points share the front, as in ``_core.first_front``.
    """
    acc = np.asarray(acc, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    n = acc.size
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    order = np.lexsort((-acc, lat))
    a, t = acc[order], lat[order]
    # A point in latency order is on the front iff it is more accurate than everything
    # faster or equally fast, or it repeats a front point exactly.
    best_before = np.maximum.accumulate(np.concatenate(([-np.inf], a[:-1])))
    strictly_better = a > best_before
    new_group = np.concatenate(([True], (a[1:] != a[:-1]) | (t[1:] != t[:-1])))
    group = np.cumsum(new_group) - 1
    group_on_front = np.zeros(group[-1] + 1, dtype=bool)
    group_on_front[group[new_group]] = strictly_better[new_group]
    mask[order] = group_on_front[group]
    return mask


class _NearestRows:
    """Nearest pool row of each candidate: fewest differing digits (Hamming), then the
    smallest L1 distance, then the lowest pool position.

    The three keys fold into one integer score per (candidate, pool row) pair,
    ``hamming * weight + l1`` with ``weight`` larger than any L1 distance, so one argmin
    (which returns the first minimum) applies them in order. When they fit, per-digit
    tables ``score_d[value, row]`` turn a block's score into one gather and add per digit.
    """

    def __init__(self, pool: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        self.pool = np.ascontiguousarray(pool, dtype=np.int64)
        self.lower = np.asarray(lower, dtype=np.int64)
        radix = np.asarray(upper, dtype=np.int64) - self.lower + 1
        self.weight = int((radix - 1).sum()) + 1
        top = (self.pool.shape[1] + 1) * self.weight
        self.dtype = np.int16 if top < 2**15 else np.int32 if top < 2**31 else np.int64
        self.tables: list[np.ndarray] | None = None
        if int(radix.sum()) * self.pool.shape[0] <= _MAX_LOOKUP_ELEMENTS:
            self.tables = []
            for d, r in enumerate(radix.tolist()):
                values = np.arange(r, dtype=np.int64)[:, None] + self.lower[d]
                diff = np.abs(values - self.pool[None, :, d])
                self.tables.append((diff + (diff != 0) * self.weight).astype(self.dtype))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Pool positions (int64 ``[n]``) of the nearest rows of ``X`` (inside the box)."""
        n, m = X.shape[0], self.pool.shape[0]
        out = np.empty(n, dtype=np.int64)
        step = max(1, _BLOCK_ELEMENTS // m)
        for start in range(0, n, step):
            block = X[start : start + step]
            out[start : start + block.shape[0]] = self._score(block).argmin(axis=1)
        return out

    def _score(self, block: np.ndarray) -> np.ndarray:
        if self.tables is not None:
            offsets = block - self.lower
            score = self.tables[0][offsets[:, 0]]
            for d in range(1, block.shape[1]):
                score += self.tables[d][offsets[:, d]]
            return score
        score = np.zeros((block.shape[0], self.pool.shape[0]), dtype=self.dtype)
        for d in range(block.shape[1]):
            diff = np.abs(block[:, d, None] - self.pool[None, :, d]).astype(self.dtype)
            score += diff
            score += (diff != 0).astype(self.dtype) * self.dtype(self.weight)
        return score


class TabularProblem(Problem):
    """Accuracy and latency of the architectures of a table.

    With ``architectures=None`` the arrays hold every architecture of the box in
    mixed-radix order (:class:`ArchitectureCodec`), and ``latency(X)``/``evaluate(x)`` are
    O(1) look-ups. With ``architectures`` (distinct rows inside the box, one per value),
    rows that do not fill the box make a finite candidate pool (see the module docstring);
    rows that fill it are the complete table. The table's latency is both the predicted and
    the measured one.
    """

    def __init__(
        self,
        lower: np.ndarray,
        upper: np.ndarray,
        acc: np.ndarray,
        lat_ms: np.ndarray,
        *,
        architectures: np.ndarray | None = None,
    ) -> None:
        codec = ArchitectureCodec(lower, upper)
        acc = np.ascontiguousarray(acc, dtype=np.float64).ravel()
        lat_ms = np.ascontiguousarray(lat_ms, dtype=np.float64).ravel()
        pool_index: np.ndarray | None = None
        if architectures is not None:
            if not codec.fits_int64:
                raise ValueError(
                    f"the box holds {codec.size} architectures, too many for a table's index"
                )
            X = codec.check(architectures, "architectures")
            if X.shape[0] == 0:
                raise ValueError("a tabular problem needs at least one architecture")
            if acc.size != X.shape[0] or lat_ms.size != X.shape[0]:
                raise ValueError(
                    f"acc and lat_ms need one value per architecture ({X.shape[0]}), "
                    f"got {acc.size} and {lat_ms.size}"
                )
            index = codec.index(X)
            order = np.argsort(index, kind="stable")
            index = index[order]
            if np.any(index[1:] == index[:-1]):
                twice = X[order[int(np.flatnonzero(index[1:] == index[:-1])[0])]]
                raise ValueError(f"architecture {twice.tolist()} appears twice")
            acc, lat_ms = acc[order], lat_ms[order]
            if index.size < codec.size:
                pool_index = index
                self._pool_X = X[order]
                self._pool_X.flags.writeable = False
            # Where each table row came from in ``architectures`` (subclasses reorder
            # their own per-row columns with it).
            self.row_order = order
        if pool_index is None and (not codec.fits_int64 or codec.size > 2**31):
            raise ValueError(
                f"a tabular problem holds at most 2**31 architectures, got {codec.size}"
            )
        expected = codec.size if pool_index is None else pool_index.size
        if acc.size != expected or lat_ms.size != expected:
            raise ValueError(
                f"acc and lat_ms need one value per architecture ({expected}), "
                f"got {acc.size} and {lat_ms.size}"
            )
        if not (np.all(np.isfinite(acc)) and np.all(np.isfinite(lat_ms))):
            raise ValueError("acc and lat_ms must be finite")
        self.lower = codec.lower.copy()
        self.upper = codec.upper.copy()
        self.__dict__["_codec"] = codec
        self._pool_index = pool_index
        self._nearest: _NearestRows | None = None
        self._acc = acc
        self._lat = lat_ms
        self._acc.flags.writeable = False
        self._lat.flags.writeable = False

    @property
    def size(self) -> int:
        """Number of architectures in the table (the box's size when it is complete)."""
        return self.codec.size if self._pool_index is None else int(self._pool_index.size)

    @property
    def capacity(self) -> int:
        return self.size

    @property
    def is_pool(self) -> bool:
        """True when the table's rows do not fill the box: a finite candidate pool."""
        return self._pool_index is not None

    def positions(self, X: np.ndarray, what: str = "X") -> np.ndarray:
        """Table positions (int64) of the rows of ``X``; ValueError for a row not in it."""
        X = self.codec.check(X, what)
        index = self.codec.index(X)
        if self._pool_index is None:
            return index
        pos = np.minimum(np.searchsorted(self._pool_index, index), self._pool_index.size - 1)
        missing = self._pool_index[pos] != index
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise ValueError(
                f"{what}[{row}] = {X[row].tolist()} is not in the table, a pool of {self.size} "
                f"of the {self.codec.size} architectures of its box; repair() snaps rows to it"
            )
        return pos

    def repair(self, X: np.ndarray) -> np.ndarray:
        """Rounded and clipped into the box; for a pool, then snapped to the nearest row that
        exists (fewest differing digits, then smallest L1 distance, then table order)."""
        X = super().repair(X)
        if self._pool_index is None or X.shape[0] == 0:
            return X
        X = np.ascontiguousarray(X)
        index = self.codec.index(X)
        pos = np.minimum(np.searchsorted(self._pool_index, index), self._pool_index.size - 1)
        absent = np.flatnonzero(self._pool_index[pos] != index)
        if absent.size == 0:
            return X
        if self._nearest is None:
            # Built on first use; a race builds it twice, which is harmless.
            self._nearest = _NearestRows(self._pool_X, self.lower, self.upper)
        _, inverse = np.unique(index[absent], return_inverse=True)
        first = absent[np.unique(inverse, return_index=True)[1]]
        snapped = self._nearest(X[first])
        out = X.copy()
        out[absent] = self._pool_X[snapped[inverse.ravel()]]
        return out

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` architectures drawn uniformly from the table's rows (with replacement)."""
        if self._pool_index is None:
            return super().sample(n, rng)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        return self._pool_X[rng.integers(0, self.size, size=n)].copy()

    def latency(self, X: np.ndarray) -> np.ndarray:
        return self._lat[self.positions(X)]

    def accuracy(self, X: np.ndarray) -> np.ndarray:
        """True accuracy of each row (vectorised :meth:`evaluate`, for benchmarks and tests)."""
        return self._acc[self.positions(X)]

    def _position(self, x: np.ndarray) -> int:
        X = self.codec.check(x, "x")
        if X.shape[0] != 1:
            raise ValueError(f"evaluate takes one architecture, got {X.shape[0]}")
        return int(self.positions(X, "x")[0])

    def evaluate(self, x: np.ndarray) -> dict[str, float]:
        i = self._position(x)
        return {"acc": float(self._acc[i]), "lat_ms": float(self._lat[i])}

    def objective_bounds(self) -> dict[str, tuple[float, float]]:
        """Accuracy and latency ranges over the table's rows (the pool's, for a pool)."""
        return {
            "acc": (float(self._acc.min()), float(self._acc.max())),
            "lat_ms": (float(self._lat.min()), float(self._lat.max())),
        }

    def enumerate_architectures(self, limit: int) -> np.ndarray | None:
        return self.architectures() if self.size <= limit else None

    def architectures(self) -> np.ndarray:
        """Every architecture of the table, ``[size, n_var]`` in table order."""
        if self._pool_index is not None:
            return self._pool_X.copy()
        return self.codec.decode(np.arange(self.size, dtype=np.int64))

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        """Read-only views of the accuracy and latency arrays, in table order."""
        return self._acc, self._lat

    def pareto_front(self) -> np.ndarray:
        """The true Pareto-optimal architectures of the table's rows, ``[n_front, n_var]``
        sorted by latency."""
        index = np.flatnonzero(pareto_front_mask(self._acc, self._lat))
        index = index[np.argsort(self._lat[index], kind="stable")]
        if self._pool_index is not None:
            return self._pool_X[index].copy()
        return self.codec.decode(index)

    def write_csv(self, path: str | Path) -> Path:
        """Write the table as CSV (``x0..x{n-1},acc,lat_ms``) readable by ``table:PATH``."""
        path = Path(path)
        X = self.architectures()
        header = ",".join([*(f"x{i}" for i in range(self.n_var)), "acc", "lat_ms"])
        data = np.column_stack([X.astype(np.float64), self._acc, self._lat])
        fmt = ["%d"] * self.n_var + ["%.17g", "%.17g"]
        tmp = path.with_name(path.name + ".tmp")
        np.savetxt(tmp, data, fmt=fmt, delimiter=",", header=header, comments="")
        tmp.replace(path)
        return path
