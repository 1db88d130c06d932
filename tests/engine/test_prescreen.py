"""Pre-screening: valid selections for every method, and each method does what it claims."""

from __future__ import annotations

import numpy as np
import pytest
from moocore import hypervolume
from scipy.stats import kstest

from segevo.engine.prescreen import available_prescreens, eligible_candidates, prescreen


def _pool(seed: int, n: int = 60, n_done: int = 30) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    codes = rng.choice(4**5, size=n + n_done, replace=False)  # distinct architectures
    every = (codes[:, None] // 4 ** np.arange(5)) % 4
    X, X_done = every[:n].copy(), every[n:].copy()
    X[7] = X[3]  # a repeated candidate
    lat = 1.0 + X.sum(axis=1) + rng.uniform(0, 0.5, n)
    acc = np.sqrt(lat) + rng.normal(0, 0.2, n)
    X_done[0] = X[10]  # a candidate that is already evaluated
    lat_done = 1.0 + X_done.sum(axis=1) + rng.uniform(0, 0.5, n_done)
    acc_done = np.sqrt(lat_done) + rng.normal(0, 0.2, n_done)
    return {
        "X": X,
        "acc": acc,
        "lat": lat,
        "X_done": X_done,
        "acc_done": acc_done,
        "lat_done": lat_done,
    }


def _select(
    method: str, pool: dict[str, np.ndarray], k: int, seed: int = 0, exclude=None
) -> np.ndarray:
    return prescreen(
        method,
        pool["X"],
        pool["acc"],
        pool["lat"],
        k,
        acc_done=pool["acc_done"],
        lat_done=pool["lat_done"],
        rng=np.random.default_rng(seed),
        exclude=pool["X_done"] if exclude is None else exclude,
    )


def _ks(values: np.ndarray, lo: float, hi: float) -> float:
    return float(kstest(values, "uniform", args=(lo, hi - lo)).statistic)


@pytest.mark.parametrize("method", available_prescreens())
@pytest.mark.parametrize("k", [0, 1, 8, 57, 80])
def test_selection_is_valid(method: str, k: int) -> None:
    pool = _pool(1)
    pending = pool["X"][[20, 21]]
    exclude = np.concatenate([pool["X_done"], pending])
    chosen = _select(method, pool, k, exclude=exclude)
    eligible = eligible_candidates(pool["X"], exclude)
    assert eligible.size == 60 - 1 - 1 - 2  # repeat, evaluated, two pending
    assert chosen.dtype == np.int64 and chosen.size == min(k, eligible.size)
    rows = {tuple(x) for x in pool["X"][chosen]}
    assert len(rows) == chosen.size  # distinct architectures
    assert not rows & {tuple(x) for x in exclude}


def test_unknown_method_and_bad_input() -> None:
    pool = _pool(0)
    with pytest.raises(ValueError, match="unknown pre-screen"):
        _select("best", pool, 3)
    with pytest.raises(ValueError, match="k must be"):
        _select("random", pool, -1)
    with pytest.raises(ValueError, match="acc_pred needs 60"):
        prescreen(
            "random",
            pool["X"],
            pool["acc"][:5],
            pool["lat"],
            3,
            acc_done=pool["acc_done"],
            lat_done=pool["lat_done"],
            rng=np.random.default_rng(0),
        )
    with pytest.raises(ValueError, match="finite"):
        prescreen(
            "random",
            pool["X"],
            pool["acc"] * np.nan,
            pool["lat"],
            3,
            acc_done=pool["acc_done"],
            lat_done=pool["lat_done"],
            rng=np.random.default_rng(0),
        )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paper_hierarchical_ks_no_worse_than_random_subsets(seed: int) -> None:
    pool = _pool(seed)
    k = 8
    chosen = _select("hierarchical-paper", pool, k, seed=seed)
    done_acc, done_lat = pool["acc_done"], pool["lat_done"]
    front = np.array(
        [
            not np.any(
                (done_acc >= done_acc[i])
                & (done_lat <= done_lat[i])
                & ((done_acc > done_acc[i]) | (done_lat < done_lat[i]))
            )
            for i in range(done_acc.size)
        ]
    )
    fixed = done_lat[front]
    eligible = eligible_candidates(pool["X"], pool["X_done"])
    lat = pool["lat"]
    lo = min(fixed.min(), lat[eligible].min())
    hi = max(fixed.max(), lat[eligible].max())
    # The K-S part is a prefix of the selection (accuracy fills the rest): Eq. 8 allows
    # any size up to k, so compare the best prefix with random subsets of every size.
    ours = min(_ks(np.concatenate([fixed, lat[chosen[:m]]]), lo, hi) for m in range(1, k + 1))
    rng = np.random.default_rng(100 + seed)
    random_best = min(
        _ks(np.concatenate([fixed, lat[rng.choice(eligible, m, replace=False)]]), lo, hi)
        for m in range(1, k + 1)
        for _ in range(30)
    )
    assert ours <= random_best + 1e-12


def test_paper_hierarchical_fills_by_predicted_accuracy() -> None:
    # The evaluated front covers [0, 10] evenly and every candidate sits near 5 ms, so
    # K-S takes few candidates (more would bunch up) and predicted accuracy picks the rest.
    rng = np.random.default_rng(8)
    n = 40
    X = np.column_stack([np.arange(n), np.zeros(n, np.int64)])
    lat = 5.0 + rng.uniform(-0.05, 0.05, n)
    acc = rng.uniform(0, 1, n)
    lat_done = np.linspace(0.0, 10.0, 11)
    acc_done = lat_done.copy()  # faster is less accurate: all on the front
    k = 6
    chosen = prescreen(
        "hierarchical-paper",
        X,
        acc,
        lat,
        k,
        acc_done=acc_done,
        lat_done=lat_done,
        rng=np.random.default_rng(0),
    )
    assert chosen.size == k
    fits = []
    for m in range(0, k + 1):
        rest = np.setdiff1d(np.arange(n), chosen[:m])
        best = rest[np.argsort(-acc[rest])][: k - m]
        fits.append(np.array_equal(chosen[m:], best))
    sizes = [m for m, ok in enumerate(fits) if ok]
    assert sizes and min(sizes) < k  # a K-S prefix, then the most accurate of the rest
    assert min(sizes) <= 2


def _non_dominated(acc: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return np.array(
        [
            not np.any((acc >= acc[i]) & (lat <= lat[i]) & ((acc > acc[i]) | (lat < lat[i])))
            for i in range(acc.size)
        ]
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hierarchical_ks_along_the_front_no_worse_than_random_subsets(seed: int) -> None:
    pool = _pool(seed)
    k = 8
    chosen = _select("hierarchical", pool, k, seed=seed)
    eligible = eligible_candidates(pool["X"], pool["X_done"])
    acc, lat = pool["acc"][eligible], pool["lat"][eligible]
    done_acc, done_lat = pool["acc_done"], pool["lat_done"]
    # Oracle: the front of evaluated + predicted points, its normalised arc length by latency.
    all_acc, all_lat = np.concatenate([done_acc, acc]), np.concatenate([done_lat, lat])
    on = _non_dominated(all_acc, all_lat)
    order = np.argsort(all_lat[on])
    f_acc, f_lat = all_acc[on][order], all_lat[on][order]
    da = np.diff(f_acc) / (f_acc.max() - f_acc.min())
    dl = np.diff(f_lat) / (f_lat.max() - f_lat.min())
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(da, dl))])
    fixed = np.interp(done_lat[_non_dominated(done_acc, done_lat)], f_lat, arc)
    position = np.interp(pool["lat"], f_lat, arc)
    ours = _ks(np.concatenate([fixed, position[chosen]]), 0.0, arc[-1])
    rng = np.random.default_rng(200 + seed)
    for _ in range(200):
        subset = rng.choice(eligible, k, replace=False)
        assert ours <= _ks(np.concatenate([fixed, position[subset]]), 0.0, arc[-1]) + 1e-12


def test_hierarchical_follows_the_front_where_it_is_steep() -> None:
    # A front that gains most of its accuracy in the first 20% of the latency range:
    # spacing along the front asks for more fast candidates than spacing in latency does.
    lat = np.linspace(1.0, 11.0, 101)
    acc = 1.0 - np.exp(-(lat - 1.0) / 1.0)
    X = np.column_stack([np.arange(lat.size), np.zeros(lat.size, np.int64)])
    lat_done, acc_done = lat[::25], acc[::25]
    exclude = X[::25]

    def pick(method: str) -> np.ndarray:
        return prescreen(
            method,
            X,
            acc,
            lat,
            10,
            acc_done=acc_done,
            lat_done=lat_done,
            rng=np.random.default_rng(0),
            exclude=exclude,
        )

    fast_along_front = np.count_nonzero(lat[pick("hierarchical")] < 3.0)
    fast_by_latency = np.count_nonzero(lat[pick("hierarchical-paper")] < 3.0)
    assert fast_along_front >= 4 and fast_along_front > fast_by_latency


def test_latency_spreads_evenly() -> None:
    pool = _pool(4, n=200)
    k = 10
    chosen = _select("latency", pool, k)
    eligible = eligible_candidates(pool["X"], pool["X_done"])
    lat = pool["lat"]
    lo, hi = lat[eligible].min(), lat[eligible].max()
    ours = _ks(lat[chosen], lo, hi)
    rng = np.random.default_rng(0)
    randoms = [_ks(lat[rng.choice(eligible, k, replace=False)], lo, hi) for _ in range(100)]
    assert ours <= min(randoms) + 1e-12


def test_hv_first_pick_has_the_largest_contribution() -> None:
    pool = _pool(5)
    chosen = _select("hv", pool, 4)
    eligible = eligible_candidates(pool["X"], pool["X_done"])
    cand = np.column_stack([-pool["acc"][eligible], pool["lat"][eligible]])
    done = np.column_stack([-pool["acc_done"], pool["lat_done"]])
    points = np.concatenate([done, cand])
    ideal, nadir = points.min(axis=0), points.max(axis=0)
    norm = lambda F: (F - ideal) / (nadir - ideal)  # noqa: E731
    ref = np.array([1.1, 1.1])
    base = hypervolume(norm(done), ref=ref)
    gains = [
        hypervolume(norm(np.concatenate([done, cand[i : i + 1]])), ref=ref) - base
        for i in range(len(eligible))
    ]
    assert chosen[0] == eligible[int(np.argmax(gains))]


def test_survival_prefers_non_dominated_candidates() -> None:
    pool = _pool(6)
    k = 5
    chosen = _select("survival", pool, k)
    F = np.concatenate(
        [
            np.column_stack([-pool["acc_done"], pool["lat_done"]]),
            np.column_stack([-pool["acc"], pool["lat"]]),
        ]
    )
    n_done = pool["acc_done"].size
    first_front = [
        i
        for i in range(n_done, F.shape[0])
        if not np.any(np.all(F[i] >= F, axis=1) & np.any(F[i] > F, axis=1))
    ]
    eligible = set(eligible_candidates(pool["X"], pool["X_done"]).tolist())
    first = [i - n_done for i in first_front if i - n_done in eligible]
    if len(first) >= k:
        assert set(chosen.tolist()) <= set(first)
    else:
        assert set(first) <= set(chosen.tolist())


def test_random_depends_only_on_the_rng() -> None:
    pool = _pool(7)
    a, b = _select("random", pool, 6, seed=3), _select("random", pool, 6, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, _select("random", pool, 6, seed=4))
