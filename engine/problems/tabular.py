"""A problem whose every architecture's accuracy and latency sit in dense arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segevo.engine.problem import ArchitectureCodec, Problem

__all__ = ["TabularProblem", "pareto_front_mask"]


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


class TabularProblem(Problem):
    """Accuracy and latency of every architecture of the box, in mixed-radix order.

    ``latency(X)`` and ``evaluate(x)`` are O(1) look-ups through the mixed-radix index
    (:class:`ArchitectureCodec`); the table's latency is both the predicted and the
    measured one.
    """

    def __init__(
        self, lower: np.ndarray, upper: np.ndarray, acc: np.ndarray, lat_ms: np.ndarray
    ) -> None:
        codec = ArchitectureCodec(lower, upper)
        if not codec.fits_int64 or codec.size > 2**31:
            raise ValueError(
                f"a tabular problem holds at most 2**31 architectures, got {codec.size}"
            )
        acc = np.ascontiguousarray(acc, dtype=np.float64).ravel()
        lat_ms = np.ascontiguousarray(lat_ms, dtype=np.float64).ravel()
        if acc.size != codec.size or lat_ms.size != codec.size:
            raise ValueError(
                f"acc and lat_ms need one value per architecture ({codec.size}), "
                f"got {acc.size} and {lat_ms.size}"
            )
        if not (np.all(np.isfinite(acc)) and np.all(np.isfinite(lat_ms))):
            raise ValueError("acc and lat_ms must be finite")
        self.lower = codec.lower.copy()
        self.upper = codec.upper.copy()
        self.__dict__["_codec"] = codec
        self._acc = acc
        self._lat = lat_ms
        self._acc.flags.writeable = False
        self._lat.flags.writeable = False

    @property
    def size(self) -> int:
        """Number of architectures in the table."""
        return self.codec.size

    def latency(self, X: np.ndarray) -> np.ndarray:
        X = self.codec.check(X)
        return self._lat[self.codec.index(X)]

    def accuracy(self, X: np.ndarray) -> np.ndarray:
        """True accuracy of each row (vectorised :meth:`evaluate`, for benchmarks and tests)."""
        X = self.codec.check(X)
        return self._acc[self.codec.index(X)]

    def evaluate(self, x: np.ndarray) -> dict[str, float]:
        X = self.codec.check(x, "x")
        if X.shape[0] != 1:
            raise ValueError(f"evaluate takes one architecture, got {X.shape[0]}")
        i = int(self.codec.index(X)[0])
        return {"acc": float(self._acc[i]), "lat_ms": float(self._lat[i])}

    def objective_bounds(self) -> dict[str, tuple[float, float]]:
        return {
            "acc": (float(self._acc.min()), float(self._acc.max())),
            "lat_ms": (float(self._lat.min()), float(self._lat.max())),
        }

    def architectures(self) -> np.ndarray:
        """Every architecture of the box, ``[size, n_var]`` in table order."""
        return self.codec.decode(np.arange(self.size, dtype=np.int64))

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        """Read-only views of the accuracy and latency arrays, in table order."""
        return self._acc, self._lat

    def pareto_front(self) -> np.ndarray:
        """The true Pareto-optimal architectures, ``[n_front, n_var]`` sorted by latency."""
        index = np.flatnonzero(pareto_front_mask(self._acc, self._lat))
        index = index[np.argsort(self._lat[index], kind="stable")]
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
