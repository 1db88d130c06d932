"""Pre-screening: which of the MOEA's candidates get the expensive evaluation.

``prescreen(method, X, acc_pred, lat_pred, k, acc_done=..., lat_done=..., rng=...)``
returns indices of exactly ``min(k, C)`` distinct eligible candidates, where a candidate
is eligible unless it repeats an earlier candidate or a row of ``exclude`` (the
architectures already evaluated or pending). Methods (paper Sec. III-E, Sec. V-B):

``hierarchical`` (default; Algorithm 4 with two changes, see below)
    Selection by latency, the cheap high-fidelity objective: ``_core.ks_subset_select``
    picks the ``k`` candidates that make the evaluated front's latencies plus the chosen
    ones closest (Kolmogorov-Smirnov) to uniform, so new evaluations fill the front's gaps.
    Latency is measured *along the front*: each latency is mapped to the arc length, in
    objectives normalised to [0, 1], of the current front estimate (the evaluated front
    with true accuracy, joined with the candidates' predicted points) up to that
    latency. Uniform coverage in that coordinate spaces the evaluations evenly along the
    front, where plain latency puts most of them where the front is flat.
``hierarchical-paper`` (Algorithm 4 as printed)
    The non-dominated evaluated architectures' high-fidelity latencies are the ``fixed``
    sample; the candidates' latencies come from the look-up table. For each subset size
    ``k' = 1..k``, ``_core.ks_subset_select`` picks the ``k'`` candidates that make
    ``fixed + chosen`` closest to Uniform(lo, hi) (Eq. 8); the size with the smallest K-S
    statistic wins (ties go to the larger size), which solves Eq. 8's ``|x| <= K``. The
    remaining slots are filled by predicted accuracy, best first. **Range of interest**:
    ``[lo, hi]`` spans the latencies of the evaluated front and of the candidates
    together: the candidates approximate the predicted front, so this is where the front
    can still improve, and it needs no device-specific latency range from the user.
``survival``
    NSGA-II's environmental survival (rank, then crowding distance) over the evaluated
    architectures (true objectives) merged with the candidates (predicted objectives).
``hv``
    Greedy hypervolume contribution: repeatedly take the candidate whose predicted point
    adds the most hypervolume to the evaluated front plus the candidates taken so far
    (objectives normalised over all these points, reference 1.1); once no candidate adds
    any, the rest follow the ``survival`` order.
``latency``
    Uniform spread in latency only: ``ks_subset_select`` on the candidates' latencies over
    their own range, without the evaluated front.
``random``
    A uniformly random subset.

Why ``hierarchical`` differs from the paper: on the synthetic benchmark
(an earlier, simulated loop; docs/benchmarks.md) the printed version sent most evaluations to slow
architectures. The evaluated front is dense where accuracy still rises quickly (low
latency) and sparse where it saturates, so making the front's latencies uniform keeps
asking for slow architectures, and the accuracy fill (taken whenever a smaller subset
had the lower K-S distance, which is most of the time) picks the slowest, most accurate
candidates too. Measuring latency along the front and always taking ``k`` by K-S fixes
both; the numbers are in the search-quality report.

All functions are pure: randomness only from the ``rng`` argument.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from segevo._core import (
    hypervolume_2d,
    ks_statistic,
    ks_subset_select,
    nondominated_rank,
)
from segevo.engine.moea import rank_and_crowding
from segevo.engine.problem import fresh_mask, row_keys
from segevo.nets.plugins import Registry

__all__ = [
    "PRESCREENS",
    "PrescreenPlugin",
    "Screening",
    "available_prescreens",
    "eligible_candidates",
    "prescreen",
    "prescreen_plugin",
    "register_prescreen",
    "unregister_prescreen",
]

PRESCREENS: tuple[str, ...] = (
    "hierarchical",
    "hierarchical-paper",
    "survival",
    "hv",
    "latency",
    "random",
)
"""The built-in pre-screens; :func:`available_prescreens` adds plugins (registered with
:func:`register_prescreen` or through entry points in the group ``segevo.prescreens``)."""


def eligible_candidates(X: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """Indices of the first occurrence of each distinct row of ``X`` not in ``exclude``."""
    X = np.ascontiguousarray(X, dtype=np.int64)
    if X.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    excluded = None
    if exclude is not None and len(exclude):
        exclude = np.ascontiguousarray(exclude, dtype=np.int64)
        if exclude.ndim != 2 or exclude.shape[1] != X.shape[1]:
            raise ValueError(f"exclude must have shape [n, {X.shape[1]}], got {exclude.shape}")
        excluded = row_keys(exclude)
    return np.flatnonzero(fresh_mask(row_keys(X), excluded))


@dataclass(frozen=True)
class _Screening:
    """One call's eligible candidates (predicted ``acc``, ``lat``), the ``k`` to choose,
    the evaluated architectures' true ``acc_done``/``lat_done`` and the ``rng``."""

    acc: np.ndarray
    lat: np.ndarray
    k: int
    acc_done: np.ndarray
    lat_done: np.ndarray
    rng: np.random.Generator

    @property
    def F(self) -> np.ndarray:
        """The candidates' predicted objectives ``[-acc, lat]`` (both minimised)."""
        return np.column_stack([-self.acc, self.lat])

    @property
    def F_done(self) -> np.ndarray:
        """The evaluated architectures' objectives ``[-acc_done, lat_done]``."""
        return np.column_stack([-self.acc_done, self.lat_done])

    def front_latency(self) -> np.ndarray:
        """High-fidelity latencies of the non-dominated evaluated architectures."""
        if self.acc_done.size == 0:
            return np.zeros(0)
        return self.lat_done[nondominated_rank(self.F_done) == 0]

    def by_accuracy(self) -> np.ndarray:
        """Candidate indices, highest predicted accuracy first."""
        return np.argsort(-self.acc, kind="stable")

    def seed(self) -> int:
        """A seed for a ``_core`` kernel, drawn from ``rng``."""
        return int(self.rng.integers(0, 2**31 - 1))


def _fill(first: np.ndarray, preference: np.ndarray, k: int) -> np.ndarray:
    """``first`` followed by the best of ``preference`` not already in it, ``k`` in all."""
    rest = preference[~np.isin(preference, first)]
    return np.concatenate([first, rest])[:k].astype(np.int64)


def _front_arc_length(s: _Screening) -> tuple[np.ndarray, np.ndarray] | None:
    """Latency knots and the normalised arc length of the estimated front at each.

    None when the front estimate has no extent (a single point).
    """
    F = np.concatenate([s.F_done, s.F])
    front = F[nondominated_rank(F) == 0]
    # Equal latencies on a front share the accuracy too; one knot each.
    _, first = np.unique(front[:, 1], return_index=True)
    front = front[first]
    if front.shape[0] < 2:
        return None
    span = front.max(axis=0) - front.min(axis=0)
    steps = np.linalg.norm(np.diff(front, axis=0) / np.where(span > 0, span, 1.0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    return (front[:, 1], arc) if arc[-1] > 0 else None


def _hierarchical(s: _Screening) -> np.ndarray:
    fixed = s.front_latency()
    knots = _front_arc_length(s)
    if knots is None:
        return _hierarchical_paper(s)
    # Latencies outside the front's range clamp to its ends.
    position = np.interp(s.lat, *knots)
    fixed_position = np.interp(fixed, *knots)
    chosen = ks_subset_select(
        position, fixed_position, s.k, 0.0, float(knots[1][-1]), seed=s.seed()
    )
    return _fill(chosen, s.by_accuracy(), s.k)


def _hierarchical_paper(s: _Screening) -> np.ndarray:
    fixed = s.front_latency()
    both = np.concatenate([fixed, s.lat])
    lo, hi = float(both.min()), float(both.max())
    chosen = np.zeros(0, dtype=np.int64)
    if hi > lo:
        best = np.inf
        for size in range(1, s.k + 1):
            subset = ks_subset_select(s.lat, fixed, size, lo, hi, seed=s.seed())
            d = ks_statistic(np.concatenate([fixed, s.lat[subset]]), lo, hi)
            if d <= best:
                best, chosen = d, subset
    return _fill(chosen, s.by_accuracy(), s.k)


def _survival_preference(s: _Screening) -> np.ndarray:
    """Candidates ordered by NSGA-II survival among evaluated + candidate points."""
    rank, crowding = rank_and_crowding(np.concatenate([s.F_done, s.F]))
    n_done = s.acc_done.size
    return np.lexsort((-crowding[n_done:], rank[n_done:]))


def _survival(s: _Screening) -> np.ndarray:
    return _survival_preference(s)[: s.k].astype(np.int64)


def _hv(s: _Screening) -> np.ndarray:
    cand = s.F
    done = s.F_done
    if done.shape[0]:
        done = done[nondominated_rank(done) == 0]
    points = np.concatenate([done, cand])
    ideal, nadir = points.min(axis=0), points.max(axis=0)
    scale = np.where(nadir > ideal, nadir - ideal, 1.0)
    cand_n, current = (cand - ideal) / scale, (done - ideal) / scale
    ref = np.array([1.1, 1.1])
    chosen: list[int] = []
    available = np.ones(cand.shape[0], dtype=bool)
    base = hypervolume_2d(current, ref) if current.shape[0] else 0.0
    while len(chosen) < s.k:
        gains = np.full(cand.shape[0], -np.inf)
        for i in np.flatnonzero(available):
            gains[i] = hypervolume_2d(np.concatenate([current, cand_n[i : i + 1]]), ref) - base
        best = int(np.argmax(gains))
        if not gains[best] > 0:
            break
        chosen.append(best)
        available[best] = False
        current = np.concatenate([current, cand_n[best : best + 1]])
        base += gains[best]
    return _fill(np.array(chosen, dtype=np.int64), _survival_preference(s), s.k)


def _latency(s: _Screening) -> np.ndarray:
    lo, hi = float(s.lat.min()), float(s.lat.max())
    if hi > lo:
        chosen = ks_subset_select(s.lat, np.zeros(0), s.k, lo, hi, seed=s.seed())
    else:
        chosen = np.zeros(0, dtype=np.int64)
    return _fill(chosen, s.rng.permutation(s.lat.size), s.k)


def _random(s: _Screening) -> np.ndarray:
    return s.rng.choice(s.lat.size, size=s.k, replace=False).astype(np.int64)


_METHODS: dict[str, Callable[[_Screening], np.ndarray]] = {
    "hierarchical": _hierarchical,
    "hierarchical-paper": _hierarchical_paper,
    "survival": _survival,
    "hv": _hv,
    "latency": _latency,
    "random": _random,
}
# Pre-screens whose result is already in order of preference (the others choose a set).
_RANKED = frozenset({"survival", "hv"})

# -- the pre-screen plugins ------------------------------------------------------------------

Screening = _Screening
"""What a pre-screen plugin is given (public name of the screening record)."""

SelectFunction = Callable[[Screening], np.ndarray]


@dataclass(frozen=True)
class PrescreenPlugin:
    """A pre-screen: ``select(screening)`` returns ``screening.k`` distinct indices into the
    screening's candidates (called only when there are more eligible candidates than ``k``,
    so ``1 <= k < len(screening.acc)``). ``ranked``: the indices are in order of preference
    (else they are a set, which a strategy may shuffle)."""

    select: SelectFunction
    ranked: bool = False


def _adapt(name: str, plugin: object) -> PrescreenPlugin:
    if isinstance(plugin, PrescreenPlugin):
        return plugin
    if not callable(plugin):
        raise TypeError(f"a pre-screen plugin is a select function, got {type(plugin).__name__}")
    return PrescreenPlugin(plugin, bool(getattr(plugin, "ranked", False)))


def _register_builtins() -> None:
    for name in PRESCREENS:
        _REGISTRY.register(name, PrescreenPlugin(_METHODS[name], ranked=name in _RANKED))


_REGISTRY: Registry[PrescreenPlugin] = Registry(
    "prescreens",
    "pre-screen",
    adapt=_adapt,
    name_rule=(lambda n: n.replace("-", "_").isidentifier(), "letters, digits, '_' or '-'"),
    builtins=_register_builtins,
    order="registered",
)


def register_prescreen(
    name: str, select: SelectFunction, *, ranked: bool = False, replace: bool = False
) -> None:
    """Make ``prescreen(name, ...)`` (and the ``mosegnas`` strategy's ``prescreen=name``)
    call ``select(screening)``; see :class:`PrescreenPlugin`."""
    _REGISTRY.register(name, PrescreenPlugin(select, ranked), replace=replace)


def unregister_prescreen(name: str) -> None:
    """Remove a pre-screen registered in code (for plugins that clean up, and tests)."""
    _REGISTRY.unregister(name)


def available_prescreens() -> list[str]:
    """Names accepted by :func:`prescreen`: the built-ins (:data:`PRESCREENS`), then plugins."""
    return _REGISTRY.names()


def prescreen_plugin(name: str) -> PrescreenPlugin:
    """The pre-screen called ``name``; an unknown name raises ValueError listing the known."""
    return _REGISTRY.get(name)


def _checked_selection(name: str, chosen: object, k: int, n: int) -> np.ndarray:
    indices = np.asarray(chosen)
    if indices.ndim != 1 or indices.size != k or (indices.size and indices.dtype.kind not in "iu"):
        raise ValueError(
            f"pre-screen {name!r} must return {k} integer indices, got {indices.dtype} "
            f"of shape {indices.shape}"
        )
    indices = indices.astype(np.int64, copy=False)
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise ValueError(f"pre-screen {name!r} returned an index outside [0, {n})")
    if np.unique(indices).size != indices.size:
        raise ValueError(f"pre-screen {name!r} returned an index twice")
    return indices


def _vector(name: str, value: np.ndarray, n: int | None = None) -> np.ndarray:
    value = np.asarray(value, dtype=np.float64).ravel()
    if n is not None and value.size != n:
        raise ValueError(f"{name} needs {n} values, got {value.size}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{name} must be finite")
    return value


def prescreen(
    method: str,
    X: np.ndarray,
    acc_pred: np.ndarray,
    lat_pred: np.ndarray,
    k: int,
    *,
    acc_done: np.ndarray,
    lat_done: np.ndarray,
    rng: np.random.Generator,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """Indices into ``X`` of the candidates to evaluate, in order of preference.

    ``X`` ``[C, n_var]`` are the candidates with predicted accuracy ``acc_pred`` and
    look-up-table latency ``lat_pred``; ``acc_done``/``lat_done`` are the evaluated
    architectures' accuracy and high-fidelity latency; ``exclude`` holds rows that must
    not be chosen (evaluated or pending). Returns ``min(k, eligible)`` distinct indices.
    """
    plugin = prescreen_plugin(method)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise ValueError(f"k must be an integer >= 0, got {k!r}")
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be a [C, n_var] array, got shape {X.shape}")
    acc_pred = _vector("acc_pred", acc_pred, X.shape[0])
    lat_pred = _vector("lat_pred", lat_pred, X.shape[0])
    acc_done = _vector("acc_done", acc_done)
    lat_done = _vector("lat_done", lat_done, acc_done.size)
    eligible = eligible_candidates(X, exclude)
    k = min(int(k), eligible.size)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    screening = _Screening(acc_pred[eligible], lat_pred[eligible], k, acc_done, lat_done, rng)
    if k == eligible.size:
        return eligible[screening.by_accuracy()]
    chosen = _checked_selection(method, plugin.select(screening), k, eligible.size)
    return eligible[chosen]
