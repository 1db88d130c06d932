"""The final choice: high trade-off points of the evaluated front, plus the most accurate.

The paper (Sec. IV-D, Algorithm 1 last line, and its supplement) reports a handful of
architectures chosen "based on their trade-offs", as NSGA-Net does: a point is
interesting when leaving it for a neighbour on the front costs much more in one
objective than it gains in the other. With both objectives normalised to [0, 1] over
the front (accuracy as ``1 - acc``, so both are minimised), the trade-off of front
point ``i`` is

    mu_i = min over front neighbours j of  sacrifice(i -> j) / gain(i -> j),
    sacrifice = sum(max(0, f_j - f_i)),  gain = sum(max(0, f_i - f_j)),

the least deterioration per unit improvement when moving to a neighbour (pymoo's
``HighTradeoffPoints`` score). On a two-objective front the neighbours are the adjacent
points in latency order, so the ends have one neighbour each. Knees have the largest
``mu``. :func:`pick_tradeoff` returns the most accurate architecture and the ``n - 1``
front points with the largest ``mu``.
"""

from __future__ import annotations

import numpy as np

from segevo._core import nondominated_rank

__all__ = ["pick_tradeoff", "tradeoff_scores"]


def _pairs(acc: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    acc = np.asarray(acc, dtype=np.float64).ravel()
    lat = np.asarray(lat, dtype=np.float64).ravel()
    if acc.shape != lat.shape:
        raise ValueError(f"acc and lat need the same length, got {acc.size} and {lat.size}")
    if not (np.all(np.isfinite(acc)) and np.all(np.isfinite(lat))):
        raise ValueError("acc and lat must be finite")
    return acc, lat


def tradeoff_scores(acc: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Trade-off ``mu`` of each point of a front given in any order (see the module doc).

    The points must be mutually non-dominated. A lone point scores ``inf``; a point
    whose neighbour repeats it scores by its other neighbour.
    """
    acc, lat = _pairs(acc, lat)
    n = acc.size
    mu = np.full(n, np.inf)
    if n < 2:
        return mu
    f = np.column_stack([-acc, lat])
    span = f.max(axis=0) - f.min(axis=0)
    f = (f - f.min(axis=0)) / np.where(span > 0, span, 1.0)
    order = np.lexsort((f[:, 0], f[:, 1]))
    g = f[order]
    scores = np.full(n, np.inf)
    for side in (-1, 1):
        neighbour = np.arange(n) + side
        valid = (neighbour >= 0) & (neighbour < n)
        idx = np.flatnonzero(valid)
        diff = g[neighbour[idx]] - g[idx]
        sacrifice = np.maximum(diff, 0.0).sum(axis=1)
        gain = np.maximum(-diff, 0.0).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(gain > 0, sacrifice / np.where(gain > 0, gain, 1.0), np.inf)
        scores[idx] = np.minimum(scores[idx], ratio)
    mu[order] = scores
    return mu


def pick_tradeoff(acc: np.ndarray, lat: np.ndarray, n: int = 5) -> np.ndarray:
    """Indices (into ``acc``/``lat``) of up to ``n`` chosen architectures, fastest first.

    Only non-dominated points are eligible (accuracy maximised, latency minimised;
    repeated points count once). The most accurate (fastest among equals) is always
    chosen; the other ``n - 1`` are the front points with the largest trade-off score,
    ties going to the faster point. Fewer than ``n`` come back when the front is smaller.
    """
    acc, lat = _pairs(acc, lat)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if acc.size == 0:
        return np.zeros(0, dtype=np.int64)
    on_front = np.flatnonzero(nondominated_rank(np.column_stack([-acc, lat])) == 0)
    # Keep one index per distinct point.
    _, first = np.unique(np.column_stack([acc[on_front], lat[on_front]]), axis=0, return_index=True)
    front = on_front[np.sort(first)]
    best = front[np.lexsort((lat[front], -acc[front]))[0]]
    mu = tradeoff_scores(acc[front], lat[front])
    others = np.flatnonzero(front != best)
    ranked = others[np.lexsort((lat[front[others]], -mu[others]))]
    chosen = np.concatenate([[best], front[ranked[: int(n) - 1]]]).astype(np.int64)
    return chosen[np.argsort(lat[chosen], kind="stable")]
