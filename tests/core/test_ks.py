"""ks_statistic against scipy; ks_subset_select against the brute-force optimum."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.stats import kstest

from segevo import _core, _reference


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.integers(1, 60),
        elements=st.floats(-2.0, 3.0, allow_nan=False, width=64)
        | st.sampled_from([0.0, 0.25, 1.0]),  # ties and points on the support's edges
    ),
    st.sampled_from([(0.0, 1.0), (-1.0, 2.5), (0.25, 0.5)]),
)
def test_ks_statistic_equals_scipy(samples: np.ndarray, interval: tuple[float, float]) -> None:
    lo, hi = interval
    expected = kstest(samples, "uniform", args=(lo, hi - lo)).statistic
    assert _core.ks_statistic(samples, lo, hi) == expected  # same operations, same bits
    assert _reference.ks_statistic(samples, lo, hi) == expected


def subset_distance(candidates: np.ndarray, fixed: np.ndarray, chosen: np.ndarray) -> float:
    return _reference.ks_statistic(np.concatenate([fixed, candidates[chosen]]), 0.0, 1.0)


@pytest.mark.parametrize("seed", range(6))
def test_subset_select_finds_brute_force_optimum(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    candidates = rng.beta(2.0, 4.0, size=12)
    fixed = rng.random(6)
    chosen = _core.ks_subset_select(candidates, fixed, 4, 0.0, 1.0, seed=seed)
    best = _reference.ks_subset_select(candidates, fixed, 4, 0.0, 1.0)
    assert chosen.dtype == np.int64
    assert len(chosen) == 4
    assert subset_distance(candidates, fixed, chosen) == subset_distance(candidates, fixed, best)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(0, 45),
    st.integers(0, 10),
    st.integers(0, 2**64 - 1),
)
def test_subset_select_returns_sorted_distinct_indices(c: int, k: int, f: int, seed: int) -> None:
    rng = np.random.default_rng(c * 1000 + k)
    candidates = rng.random(c)
    fixed = rng.random(f)
    chosen = _core.ks_subset_select(
        candidates, fixed, k, 0.0, 1.0, pop_size=20, generations=5, seed=seed
    )
    assert chosen.dtype == np.int64
    assert len(chosen) == min(k, c)
    assert np.all(np.diff(chosen) > 0)
    assert chosen.min(initial=0) >= 0 and chosen.max(initial=0) < max(c, 1)
    if c <= k:
        np.testing.assert_array_equal(chosen, np.arange(c))


def test_subset_select_is_deterministic_per_seed() -> None:
    rng = np.random.default_rng(7)
    candidates, fixed = rng.random(100), rng.random(20)
    runs = [_core.ks_subset_select(candidates, fixed, 8, 0.0, 1.0, seed=s) for s in (1, 1, 2)]
    np.testing.assert_array_equal(runs[0], runs[1])
    again = _core.ks_subset_select(candidates, fixed, 8, 0.0, 1.0, seed=np.uint64(1))
    np.testing.assert_array_equal(runs[0], again)


def test_subset_select_improves_on_random_choice() -> None:
    """On a pool too large for brute force, the GA beats the best of many random picks."""
    rng = np.random.default_rng(11)
    candidates, fixed = rng.beta(2.0, 5.0, size=100), rng.random(20)
    chosen = _core.ks_subset_select(candidates, fixed, 8, 0.0, 1.0, seed=3)
    random_best = min(
        subset_distance(candidates, fixed, rng.choice(100, 8, replace=False)) for _ in range(500)
    )
    assert subset_distance(candidates, fixed, chosen) <= random_best


def test_subset_select_edge_cases() -> None:
    cand = np.array([0.1, 0.5, 0.9])
    assert _core.ks_subset_select(cand, np.zeros(0), 0, 0.0, 1.0).shape == (0,)
    assert _core.ks_subset_select(np.zeros(0), np.zeros(0), 3, 0.0, 1.0).shape == (0,)
    np.testing.assert_array_equal(_core.ks_subset_select(cand, np.zeros(0), 5, 0.0, 1.0), [0, 1, 2])
    # One individual and no generations still returns k valid indices.
    chosen = _core.ks_subset_select(cand, np.zeros(0), 2, 0.0, 1.0, pop_size=1, generations=0)
    assert len(chosen) == 2 and chosen[0] < chosen[1]
    # With a single free slot the exact best candidate is easy to know.
    fixed = np.array([0.1, 0.3, 0.5, 0.9])
    pool = np.array([0.05, 0.7, 0.95])
    chosen = _core.ks_subset_select(pool, fixed, 1, 0.0, 1.0)
    dists = [subset_distance(pool, fixed, np.array([i])) for i in range(3)]
    assert subset_distance(pool, fixed, chosen) == min(dists)


def test_reference_refuses_huge_pools() -> None:
    with pytest.raises(ValueError, match="too many"):
        _reference.ks_subset_select(np.random.default_rng(0).random(60), np.zeros(0), 30, 0.0, 1.0)
    assert math.comb(60, 30) > _reference.MAX_SUBSETS
