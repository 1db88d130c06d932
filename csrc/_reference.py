"""Plain numpy reference of every function in :mod:`segevo._core`.

This module is the test oracle: each function states the definition as directly as
numpy allows, trading speed for clarity. The native functions must agree with it
(bit for bit where the floating-point operations are the same, see each docstring).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "crowding_distance",
    "first_front",
    "hypervolume_2d",
    "ks_statistic",
    "ks_subset_select",
    "lut_predict",
    "lut_sum",
    "nondominated_rank",
]

#: The brute-force subset search refuses pools with more combinations than this.
MAX_SUBSETS = 2_000_000


def _objectives(F: npt.ArrayLike, name: str = "F", n_obj: int | None = None) -> np.ndarray:
    arr = np.asarray(F)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array [n_points, n_objectives], got shape {arr.shape}"
        )
    if arr.dtype != np.float64:
        raise ValueError(f"{name} must have dtype float64, got {arr.dtype}")
    if n_obj is not None and arr.shape[1] != n_obj:
        raise ValueError(f"{name} must have shape [n_points, {n_obj}], got {arr.shape}")
    if arr.shape[1] == 0 and arr.shape[0] > 0:
        raise ValueError(f"{name} has no objective columns (shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite")
    return arr


def _samples(x: npt.ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array [n], got shape {arr.shape}")
    if arr.dtype != np.float64:
        raise ValueError(f"{name} must have dtype float64, got {arr.dtype}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite")
    return arr


def _interval(lo: float, hi: float) -> None:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"lo and hi must be finite, got lo={lo} and hi={hi}")
    if not lo < hi:
        raise ValueError(f"lo must be smaller than hi, got lo={lo} and hi={hi}")


def dominance_matrix(F: np.ndarray) -> np.ndarray:
    """``D[i, j]`` is True iff row i dominates row j (<= everywhere, < somewhere)."""
    le = (F[:, None, :] <= F[None, :, :]).all(axis=2)
    lt = (F[:, None, :] < F[None, :, :]).any(axis=2)
    return le & lt


def nondominated_rank(F: npt.ArrayLike) -> np.ndarray:
    """Front index of each row (0 = non-dominated), by peeling off fronts one at a time."""
    F = _objectives(F)
    n = F.shape[0]
    rank = np.full(n, -1, dtype=np.int32)
    if n == 0:
        return rank
    dominates = dominance_matrix(F)
    remaining = np.ones(n, dtype=bool)
    front = 0
    while remaining.any():
        # A remaining row is in this front if no remaining row dominates it.
        dominated = dominates[np.ix_(remaining, remaining)].any(axis=0)
        members = np.flatnonzero(remaining)[~dominated]
        rank[members] = front
        remaining[members] = False
        front += 1
    return rank


def first_front(F: npt.ArrayLike) -> np.ndarray:
    """True for the rows that no other row dominates."""
    F = _objectives(F)
    if F.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    return ~dominance_matrix(F).any(axis=0)


def crowding_distance(F: npt.ArrayLike) -> np.ndarray:
    """NSGA-II crowding distance (Deb et al. 2002).

    For each objective with a positive range: the rows are sorted by it (ties by row
    index, a stable sort); the first and last are infinite; every other row adds
    ``(next - previous) / (max - min)``. An objective whose values are all equal adds
    nothing. With at most two rows, every row is infinite.
    """
    F = _objectives(F)
    n, m = F.shape
    if n <= 2:
        return np.full(n, np.inf)
    dist = np.zeros(n)
    for j in range(m):
        order = np.argsort(F[:, j], kind="stable")
        values = F[order, j]
        spread = values[-1] - values[0]
        if not spread > 0:
            continue
        dist[order[0]] = np.inf
        dist[order[-1]] = np.inf
        for s in range(1, n - 1):
            dist[order[s]] += (values[s + 1] - values[s - 1]) / spread
    return dist


def hypervolume_2d(F: npt.ArrayLike, ref: Sequence[float]) -> float:
    """Area dominated by the rows of F and bounded by ref (minimisation).

    Computed as the union of the rectangles ``[f0, ref0] x [f1, ref1]`` on the grid of
    all coordinates: each grid cell counts once if some point dominates its corner.
    """
    F = _objectives(F, n_obj=2)
    if len(ref) != 2:
        raise ValueError("ref must be a sequence of two real numbers (the reference point)")
    r0, r1 = float(ref[0]), float(ref[1])
    if not (math.isfinite(r0) and math.isfinite(r1)):
        raise ValueError("ref must be finite")
    inside = F[(F[:, 0] < r0) & (F[:, 1] < r1)]
    if len(inside) == 0:
        return 0.0
    xs = np.unique(np.append(inside[:, 0], r0))
    ys = np.unique(np.append(inside[:, 1], r1))
    area = 0.0
    for i in range(len(xs) - 1):
        for j in range(len(ys) - 1):
            covered = ((inside[:, 0] <= xs[i]) & (inside[:, 1] <= ys[j])).any()
            if covered:
                area += (xs[i + 1] - xs[i]) * (ys[j + 1] - ys[j])
    return float(area)


def lut_sum(indices: npt.ArrayLike, table: npt.ArrayLike) -> np.ndarray:
    """``out[b] = sum_j table[indices[b, j]]`` with -1 meaning an absent slot.

    Each row is summed left to right, as the native kernel does, so results match
    bit for bit.
    """
    idx = np.asarray(indices)
    tab = np.asarray(table)
    if idx.ndim != 2:
        raise ValueError(
            f"indices must be a 2-D array [n_architectures, n_slots], got shape {idx.shape}"
        )
    if idx.dtype.kind not in "iu":
        raise ValueError(f"indices must have an integer dtype, got {idx.dtype}")
    if tab.ndim != 1 or tab.dtype != np.float64:
        raise ValueError(f"table must be a 1-D float64 array, got {tab.dtype} {tab.shape}")
    if not np.isfinite(tab).all():
        raise ValueError("table must be finite")
    wide = idx.astype(np.int64)
    if wide.size and (wide.min() < -1 or wide.max() >= len(tab)):
        raise ValueError(f"indices out of range: allowed are -1 and 0..{len(tab) - 1}")
    padded = np.concatenate([[0.0], tab])  # padded[0] is the absent slot
    out = np.zeros(idx.shape[0])
    for j in range(idx.shape[1]):
        out += padded[wide[:, j] + 1]
    return out


def _int64_array(a: npt.ArrayLike, name: str, ndim: int) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    if arr.dtype != np.int64:
        raise ValueError(f"{name} must have dtype int64, got {arr.dtype}")
    return arr


def lut_predict(
    X: npt.ArrayLike,
    lower: npt.ArrayLike,
    upper: npt.ArrayLike,
    term_digits: npt.ArrayLike,
    term_strides: npt.ArrayLike,
    term_offsets: npt.ArrayLike,
    tables: npt.ArrayLike,
) -> np.ndarray:
    """``out[r] = sum_t tables[term_offsets[t] + sum_j (X[r, d_tj] - lower[d_tj]) * s_tj]``.

    Digits ``d_tj = term_digits[t, j]`` (-1: unused slot), strides ``s_tj = term_strides[t, j]``.
    Every digit of every row must lie in ``lower .. upper`` and no term may sum over a NaN
    entry (an invalid combination); the first offending row (a digit before a term) raises
    ValueError. Terms are added left to right from 0.0, as the native kernel does, so the
    results match bit for bit. Python integers throughout: no overflow, any integer dtype.
    """
    x = np.asarray(X)
    if x.ndim != 2:
        raise ValueError(f"X must be a 2-D array [n_rows, n_digits], got shape {x.shape}")
    if x.dtype.kind not in "iu":
        raise ValueError(f"X must have an integer dtype, got {x.dtype}")
    lo = _int64_array(lower, "lower", 1)
    hi = _int64_array(upper, "upper", 1)
    digits = _int64_array(term_digits, "term_digits", 2)
    strides = _int64_array(term_strides, "term_strides", 2)
    offsets = _int64_array(term_offsets, "term_offsets", 1)
    tab = np.asarray(tables)
    if tab.ndim != 1 or tab.dtype != np.float64:
        raise ValueError(f"tables must be a 1-D float64 array, got {tab.dtype} {tab.shape}")
    if np.isinf(tab).any():
        raise ValueError("tables must be finite or NaN (an invalid combination)")
    n_var = x.shape[1]
    if lo.shape != (n_var,) or hi.shape != (n_var,) or (hi < lo).any():
        raise ValueError(f"lower and upper must be [{n_var}] with lower <= upper")
    if strides.shape != digits.shape or offsets.shape != (digits.shape[0],):
        raise ValueError("term_digits, term_strides and term_offsets disagree in shape")
    terms = []
    for t in range(digits.shape[0]):
        pairs = [(int(d), int(s)) for d, s in zip(digits[t], strides[t], strict=True) if d != -1]
        if any(not 0 <= d < n_var for d, _ in pairs) or any(s < 0 for _, s in pairs):
            raise ValueError(f"term {t}: a digit is out of range or a stride is negative")
        last = int(offsets[t]) + sum(s * (int(hi[d]) - int(lo[d])) for d, s in pairs)
        if offsets[t] < 0 or last >= tab.shape[0]:
            raise ValueError(f"term {t} reaches past the end of tables")
        terms.append((int(offsets[t]), pairs))
    out = np.zeros(x.shape[0])
    for r in range(x.shape[0]):
        row = [int(v) for v in x[r]]
        for d, v in enumerate(row):
            if not lo[d] <= v <= hi[d]:
                raise ValueError(
                    f"row {r}: digit x{d} = {v} is outside its allowed range {lo[d]}..{hi[d]}"
                )
        total = 0.0
        for t, (offset, pairs) in enumerate(terms):
            value = tab[offset + sum((row[d] - int(lo[d])) * s for d, s in pairs)]
            if np.isnan(value):
                raise ValueError(f"row {r}: term {t} is an invalid combination")
            total += value
        out[r] = total
    return out


def ks_statistic(samples: npt.ArrayLike, lo: float, hi: float) -> float:
    """Kolmogorov-Smirnov D of the samples against Uniform(lo, hi)."""
    x = np.sort(_samples(samples, "samples"))
    _interval(lo, hi)
    n = len(x)
    if n == 0:
        raise ValueError("samples is empty; the K-S statistic needs at least one sample")
    cdf = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    d_plus = (np.arange(1.0, n + 1) / n - cdf).max()
    d_minus = (cdf - np.arange(0.0, n) / n).max()
    return float(max(d_plus, d_minus))


def ks_subset_select(
    candidates: npt.ArrayLike,
    fixed: npt.ArrayLike,
    k: int,
    lo: float,
    hi: float,
) -> np.ndarray:
    """The exact optimum by brute force over all ``comb(C, k)`` subsets (small pools only).

    Returns the lexicographically first optimal subset; the native GA may return any
    subset with the same (optimal) statistic.
    """
    cand = _samples(candidates, "candidates")
    fix = _samples(fixed, "fixed")
    _interval(lo, hi)
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    C = len(cand)
    if k == 0 or C == 0:
        return np.zeros(0, dtype=np.int64)
    if k >= C:
        return np.arange(C, dtype=np.int64)
    if math.comb(C, k) > MAX_SUBSETS:
        raise ValueError(f"comb({C}, {k}) subsets is too many for the brute-force reference")
    best: tuple[int, ...] = ()
    best_d = math.inf
    for subset in itertools.combinations(range(C), k):
        d = ks_statistic(np.concatenate([fix, cand[list(subset)]]), lo, hi)
        if d < best_d:
            best, best_d = subset, d
    return np.asarray(best, dtype=np.int64)
