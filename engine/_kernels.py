"""Pareto and K-S kernels: segevo._core when it provides them, else moocore/scipy/numpy."""

from __future__ import annotations

import numpy as np

try:
    from segevo import _core
except ImportError:
    _core = None  # type: ignore[assignment]


def _has(name: str) -> bool:
    return _core is not None and hasattr(_core, name)


def nondominated_rank(F: np.ndarray) -> np.ndarray:
    F = np.ascontiguousarray(F, dtype=np.float64)
    if _has("nondominated_rank"):
        return _core.nondominated_rank(F)
    if F.shape[0] == 0:
        return np.zeros(0, dtype=np.int32)
    import moocore

    return np.asarray(moocore.pareto_rank(F), dtype=np.int32)


def crowding_distance(F: np.ndarray) -> np.ndarray:
    F = np.ascontiguousarray(F, dtype=np.float64)
    if _has("crowding_distance"):
        return _core.crowding_distance(F)
    n, m = F.shape
    distance = np.zeros(n)
    if n <= 2:
        distance[:] = np.inf
        return distance
    for j in range(m):
        order = np.argsort(F[:, j], kind="stable")
        values = F[order, j]
        span = values[-1] - values[0]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (values[2:] - values[:-2]) / span
    return distance


def hypervolume_2d(F: np.ndarray, ref: np.ndarray) -> float:
    F = np.ascontiguousarray(F, dtype=np.float64).reshape(-1, 2)
    ref = np.ascontiguousarray(ref, dtype=np.float64)
    if _has("hypervolume_2d"):
        return float(_core.hypervolume_2d(F, ref))
    F = F[np.all(ref > F, axis=1)]
    if F.shape[0] == 0:
        return 0.0
    order = np.lexsort((F[:, 1], F[:, 0]))
    F = F[order]
    best = np.minimum.accumulate(F[:, 1])
    keep = np.concatenate(([True], best[1:] < best[:-1]))
    x, y = F[keep, 0], best[keep]
    widths = np.diff(np.concatenate((x, [ref[0]])))
    return float(np.sum(widths * (ref[1] - y)))


def ks_statistic(samples: np.ndarray, lo: float, hi: float) -> float:
    if _has("ks_statistic"):
        return float(_core.ks_statistic(np.ascontiguousarray(samples, dtype=np.float64), lo, hi))
    s = np.sort(np.clip((np.asarray(samples, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0))
    n = s.size
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - s), np.max(s - (i - 1) / n)))


def ks_subset_select(
    candidates: np.ndarray,
    fixed: np.ndarray,
    k: int,
    lo: float,
    hi: float,
    pop_size: int = 100,
    generations: int = 60,
    seed: int = 0,
) -> np.ndarray:
    candidates = np.ascontiguousarray(candidates, dtype=np.float64)
    fixed = np.ascontiguousarray(fixed, dtype=np.float64)
    if _has("ks_subset_select"):
        return _core.ks_subset_select(candidates, fixed, k, lo, hi, pop_size, generations, seed)
    c = candidates.size
    if k >= c:
        return np.arange(c, dtype=np.int64)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    rows = np.arange(pop_size)[:, None]

    def fitness(mask: np.ndarray) -> np.ndarray:
        chosen = np.broadcast_to(candidates, mask.shape)[mask].reshape(mask.shape[0], k)
        vals = np.concatenate([np.broadcast_to(fixed, (mask.shape[0], fixed.size)), chosen], axis=1)
        s = np.sort(np.clip((vals - lo) / (hi - lo), 0.0, 1.0), axis=1)
        n = s.shape[1]
        i = np.arange(1, n + 1)
        return np.maximum(np.max(i / n - s, axis=1), np.max(s - (i - 1) / n, axis=1))

    def pick(allowed: np.ndarray, count: np.ndarray) -> np.ndarray:
        """Per row, ``count`` random positions among the allowed ones."""
        score = np.where(allowed, rng.random(allowed.shape), -1.0)
        order = np.argsort(-score, axis=1)
        rank = np.empty_like(order)
        rank[rows, order] = np.arange(c)
        return rank < count[:, None]

    pop = pick(np.ones((pop_size, c), dtype=bool), np.full(pop_size, k))
    fit = fitness(pop)
    for _ in range(generations):
        a, b = rng.integers(0, pop_size, (2, pop_size))
        pa = np.where((fit[a] <= fit[b])[:, None], pop[a], pop[b])
        a, b = rng.integers(0, pop_size, (2, pop_size))
        pb = np.where((fit[a] <= fit[b])[:, None], pop[a], pop[b])
        common = pa & pb
        child = common | pick(pa ^ pb, k - common.sum(axis=1))
        mutate = rng.random(pop_size) < 0.5
        drop = pick(child, np.ones(pop_size, dtype=np.int64)) & mutate[:, None]
        add = pick(~child, np.ones(pop_size, dtype=np.int64)) & mutate[:, None]
        child = (child & ~drop) | add
        child_fit = fitness(child)
        merged = np.concatenate([pop, child])
        merged_fit = np.concatenate([fit, child_fit])
        best = np.argsort(merged_fit, kind="stable")[:pop_size]
        pop, fit = merged[best], merged_fit[best]
    return np.flatnonzero(pop[0]).astype(np.int64)
