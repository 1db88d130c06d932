"""nondominated_rank, first_front, crowding_distance, hypervolume_2d against oracles."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import moocore
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from pymoo.indicators.hv import HV
from pymoo.operators.survival.rank_and_crowding.metrics import calc_crowding_distance
from pymoo.util.dominator import Dominator
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from segevo import _core, _reference

from .strategies import grid_matrices, objective_matrices

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pymoo_ranks(F: np.ndarray, *, pure_python: bool = False) -> np.ndarray:
    """Ranks from pymoo's NonDominatedSorting (moocore inside, or pymoo's own Python)."""
    if len(F) == 0:
        return np.zeros(0, dtype=np.int64)
    sorter = NonDominatedSorting(dominator=Dominator() if pure_python else None)
    _, rank = sorter.do(F, return_rank=True)
    return np.asarray(rank)


@FAST
@given(objective_matrices())
def test_rank_equals_reference(F: np.ndarray) -> None:
    rank = _core.nondominated_rank(F)
    assert rank.dtype == np.int32
    assert rank.shape == (len(F),)
    np.testing.assert_array_equal(rank, _reference.nondominated_rank(F))


@FAST
@given(grid_matrices(min_m=2, max_m=5, max_n=40))
def test_rank_equals_pymoo(F: np.ndarray) -> None:
    rank = _core.nondominated_rank(F)
    np.testing.assert_array_equal(rank, pymoo_ranks(F))
    np.testing.assert_array_equal(rank, pymoo_ranks(F, pure_python=True))


@FAST
@given(objective_matrices())
def test_first_front_equals_reference(F: np.ndarray) -> None:
    first = _core.first_front(F)
    assert first.dtype == np.bool_
    np.testing.assert_array_equal(first, _reference.first_front(F))
    np.testing.assert_array_equal(first, _core.nondominated_rank(F) == 0)


@pytest.mark.parametrize("n", [0, 1, 2])
@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
def test_tiny_inputs(n: int, m: int) -> None:
    F = np.arange(n * m, dtype=np.float64).reshape(n, m)[::-1].copy()
    np.testing.assert_array_equal(_core.nondominated_rank(F), _reference.nondominated_rank(F))
    np.testing.assert_array_equal(_core.first_front(F), _reference.first_front(F))
    np.testing.assert_array_equal(_core.crowding_distance(F), np.full(n, np.inf))


def test_equal_rows_share_a_front() -> None:
    F = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 3.0], [1.0, 3.0], [1.0, 3.0], [-0.0, 3.0]])
    np.testing.assert_array_equal(_core.nondominated_rank(F), [0, 0, 0, 1, 1, 0])


@pytest.mark.parametrize("m", [2, 3, 4, 5])
@pytest.mark.parametrize("n", [600, 3000, 20_000])
@pytest.mark.parametrize("levels", [3, 40, 0])
def test_large_inputs_equal_moocore(m: int, n: int, levels: int) -> None:
    """Large N (the radix-sort and divide-and-conquer paths); levels 0 = continuous."""
    rng = np.random.default_rng(n * 10 + m + levels)
    if levels:
        F = rng.integers(0, levels, size=(n, m)).astype(np.float64)
    else:
        F = rng.normal(size=(n, m))
    np.testing.assert_array_equal(_core.nondominated_rank(F), moocore.pareto_rank(F))


def test_three_objectives_adversarial_staircase() -> None:
    """Fronts whose 2-D staircases grow with every point: the budgeted sweep gives up and
    the divide and conquer finishes; the ranks must not notice."""
    n = 6000
    i = np.arange(n, dtype=np.float64)
    front0 = np.column_stack([i, -i, i])  # mutually non-dominated, each one a new stair
    F = np.concatenate([front0, front0 + 0.5, front0 + np.array([2.0, 0.0, 0.0])])
    np.random.default_rng(1).shuffle(F)
    np.testing.assert_array_equal(_core.nondominated_rank(F), moocore.pareto_rank(F))


def test_non_contiguous_views() -> None:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 4, size=(200, 6)).astype(np.float64)
    view = base[::2, ::2]
    fortran = np.asfortranarray(base[:, :3])
    np.testing.assert_array_equal(
        _core.nondominated_rank(view), _core.nondominated_rank(np.ascontiguousarray(view))
    )
    np.testing.assert_array_equal(
        _core.crowding_distance(fortran), _reference.crowding_distance(base[:, :3])
    )


def test_threads_share_the_kernels_safely() -> None:
    """The GIL is released in the loops; per-thread scratch must keep results apart."""
    rng = np.random.default_rng(4)
    inputs = [rng.random((3000 + 500 * j, 2 + j % 2)) for j in range(8)]
    expected = [moocore.pareto_rank(F) for F in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            results = list(pool.map(_core.nondominated_rank, inputs))
            for got, want in zip(results, expected, strict=True):
                np.testing.assert_array_equal(got, want)


@FAST
@given(objective_matrices())
def test_crowding_equals_reference(F: np.ndarray) -> None:
    got = _core.crowding_distance(F)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, _reference.crowding_distance(F))


@pytest.mark.parametrize("seed", range(5))
def test_crowding_matches_pymoo_without_ties(seed: int) -> None:
    """pymoo averages over objectives; with distinct values it is ours divided by M."""
    rng = np.random.default_rng(seed)
    F = rng.random((50, 3))
    np.testing.assert_allclose(
        _core.crowding_distance(F), calc_crowding_distance(F) * 3, rtol=1e-12
    )


def test_crowding_hand_computed() -> None:
    F = np.array([[0.0, 4.0], [1.0, 3.0], [3.0, 1.0], [4.0, 0.0]])
    # middle rows: (3 - 0) / 4 + (4 - 1) / 4 = 1.5 and (4 - 1) / 4 + (3 - 0) / 4 = 1.5
    np.testing.assert_array_equal(_core.crowding_distance(F), [np.inf, 1.5, 1.5, np.inf])
    const = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])  # objective 1 adds nothing
    np.testing.assert_array_equal(_core.crowding_distance(const), [np.inf, 1.0, np.inf])


@FAST
@given(grid_matrices(min_m=2, max_m=2, max_n=40))
def test_hypervolume_equals_reference_and_pymoo(F: np.ndarray) -> None:
    ref = (3.5, 4.0)
    got = _core.hypervolume_2d(F, ref)
    assert got == pytest.approx(_reference.hypervolume_2d(F, ref), rel=1e-12, abs=1e-12)
    if len(F):
        assert got == pytest.approx(HV(ref_point=np.array(ref))(F), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_hypervolume_continuous_against_pymoo(seed: int) -> None:
    rng = np.random.default_rng(seed)
    F = rng.random((300, 2)) * 2.0  # some rows beyond the reference point
    ref = np.array([1.5, 1.2])
    assert _core.hypervolume_2d(F, ref) == pytest.approx(HV(ref_point=ref)(F), rel=1e-12)
    assert _core.hypervolume_2d(F, list(ref)) == _core.hypervolume_2d(F, tuple(ref))


def test_hypervolume_hand_computed() -> None:
    F = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [5.0, 0.0], [2.5, 2.5]])
    # (5, 0) lies beyond ref and (2.5, 2.5) is dominated; slabs of height 1: 3 + 2 + 1
    assert _core.hypervolume_2d(F, (4.0, 4.0)) == 6.0
    assert _core.hypervolume_2d(np.zeros((0, 2)), (1.0, 1.0)) == 0.0
    assert _core.hypervolume_2d(np.array([[1.0, 1.0]]), (1.0, 2.0)) == 0.0
