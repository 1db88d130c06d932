"""The integer NSGA-II: operators, survival against pymoo, convergence to a brute-force front."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymoo.operators.survival.rank_and_crowding.metrics import calc_crowding_distance
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from segevo.engine.moea import (
    NSGA2,
    PolynomialMutation,
    RandomResetMutation,
    SBXCrossover,
    TwoPointCrossover,
    UniformCrossover,
    make_crossover,
    make_mutation,
    minimize,
    rank_and_crowding,
    survival_order,
)
from segevo.engine.problems.tabular import pareto_front_mask

bounds = st.lists(st.tuples(st.integers(-3, 3), st.integers(0, 4)), min_size=1, max_size=8)


def _box(pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    lower = np.array([lo for lo, _ in pairs], dtype=np.int64)
    return lower, lower + np.array([w for _, w in pairs], dtype=np.int64)


@settings(max_examples=40, deadline=None)
@given(pairs=bounds, seed=st.integers(0, 2**16))
def test_operators_keep_bounds(pairs: list[tuple[int, int]], seed: int) -> None:
    lower, upper = _box(pairs)
    rng = np.random.default_rng(seed)
    A = rng.integers(lower, upper + 1, size=(30, lower.size))
    B = rng.integers(lower, upper + 1, size=(30, lower.size))
    crossovers = [
        UniformCrossover(prob=1.0),
        TwoPointCrossover(prob=1.0),
        SBXCrossover(lower, upper, prob=1.0),
    ]
    for crossover in crossovers:
        C1, C2 = crossover(A, B, rng)
        for C in (C1, C2):
            assert C.dtype == np.int64 and np.all((lower <= C) & (upper >= C))
    for mutation in (
        PolynomialMutation(lower, upper, prob_var=0.5),
        RandomResetMutation(lower, upper, prob_var=0.5),
    ):
        M = mutation(A, rng)
        assert M.dtype == np.int64 and np.all((lower <= M) & (upper >= M))


def test_mask_crossovers_take_each_value_from_a_parent() -> None:
    rng = np.random.default_rng(0)
    A, B = np.zeros((50, 6), np.int64), np.ones((50, 6), np.int64)
    for crossover in (UniformCrossover(prob=1.0), TwoPointCrossover(prob=1.0)):
        C1, C2 = crossover(A, B, rng)
        np.testing.assert_array_equal(C1 + C2, 1)  # complementary children
    C1, _ = TwoPointCrossover(prob=1.0)(A, B, rng)
    for row in C1:  # one contiguous run of ones
        assert np.count_nonzero(np.diff(np.concatenate([[0], row, [0]]))) <= 2
    C1, C2 = UniformCrossover(prob=0.0)(A, B, rng)
    np.testing.assert_array_equal(C1, A)


def test_mutations_change_at_the_requested_rate() -> None:
    lower, upper = np.zeros(10, np.int64), np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    rng = np.random.default_rng(1)
    X = rng.integers(lower, upper + 1, size=(4000, 10))
    for mutation in (
        PolynomialMutation(lower, upper, prob_var=0.05),
        RandomResetMutation(lower, upper, prob_var=0.05),
    ):
        changed = mutation(X, rng) != X
        assert changed.mean() == pytest.approx(0.05, abs=0.005)
    fixed = PolynomialMutation(np.zeros(3, np.int64), np.zeros(3, np.int64), prob_var=1.0)
    np.testing.assert_array_equal(fixed(np.zeros((5, 3), np.int64), rng), 0)


def test_reset_mutation_is_uniform_over_other_values() -> None:
    mutation = RandomResetMutation(np.array([0]), np.array([3]), prob_var=1.0)
    out = mutation(np.full((8000, 1), 2), np.random.default_rng(2)).ravel()
    counts = np.bincount(out, minlength=4)
    assert counts[2] == 0
    np.testing.assert_allclose(counts[[0, 1, 3]] / 8000, 1 / 3, atol=0.03)


def test_operator_factories_validate() -> None:
    lo, hi = np.zeros(2, np.int64), np.ones(2, np.int64)
    assert isinstance(make_crossover("sbx", lo, hi, eta=5), SBXCrossover)
    assert isinstance(make_mutation("reset", lo, hi), RandomResetMutation)
    with pytest.raises(ValueError, match="unknown crossover"):
        make_crossover("three_point", lo, hi)
    with pytest.raises(ValueError, match="unknown mutation"):
        make_mutation("gaussian", lo, hi)
    with pytest.raises(ValueError, match=r"prob must be in \[0, 1\]"):
        UniformCrossover(prob=1.5)
    with pytest.raises(ValueError, match="eta"):
        PolynomialMutation(lo, hi, eta=0)


def test_rank_and_crowding_match_pymoo() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 2, 5, 60, 200):
        F = rng.integers(0, 6, size=(n, 2)).astype(np.float64)  # many ties and repeats
        rank, _ = rank_and_crowding(F)
        expected_rank = np.empty(n, dtype=np.int64)
        for r, members in enumerate(NonDominatedSorting().do(F)):
            expected_rank[members] = r
        np.testing.assert_array_equal(rank, expected_rank)
        # Crowding on distinct values (pymoo breaks ties by position, so compare without them).
        F = rng.permutation(n * 2).reshape(n, 2).astype(np.float64)
        rank, crowding = rank_and_crowding(F)
        for r in range(rank.max() + 1):
            members = np.flatnonzero(rank == r)
            if members.size >= 3:
                # pymoo averages over the objectives where NSGA-II sums.
                expected = 2.0 * calc_crowding_distance(F[members])
                np.testing.assert_allclose(crowding[members], expected)
            else:
                assert np.all(np.isinf(crowding[members]))


def test_survival_order_takes_fronts_then_crowding() -> None:
    F = np.array([[0, 4], [1, 3], [2, 2], [3, 1], [4, 0], [5, 5], [1, 4.5], [6, 6]], dtype=float)
    order, rank, _ = survival_order(F, 6)
    assert set(order[:5].tolist()) == {0, 1, 2, 3, 4}
    assert rank.tolist() == [0, 0, 0, 0, 0, 1]
    assert order[5] in (5, 6)
    order3, _, _ = survival_order(F, 3)
    assert set(order3[:2].tolist()) == {0, 4}  # boundary points have infinite crowding


def _table_problem(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A 4-digit, 4-value problem with two conflicting random objectives and its true front."""
    rng = np.random.default_rng(seed)
    lower, upper = np.zeros(4, np.int64), np.full(4, 3, np.int64)
    X = np.array(list(itertools.product(range(4), repeat=4)))
    cost = rng.uniform(0, 1, size=(4, 4)).cumsum(axis=1)
    lat = cost[np.arange(4), X].sum(axis=1)
    acc = np.sqrt(lat) + 0.3 * rng.uniform(size=X.shape[0])
    return lower, upper, np.column_stack([-acc, lat]), X


@pytest.mark.parametrize("seed", [0, 1])
def test_nsga2_reaches_the_brute_force_front(seed: int) -> None:
    lower, upper, table, X_all = _table_problem(seed)

    def objectives(X: np.ndarray) -> np.ndarray:
        return table[X @ np.array([64, 16, 4, 1])]

    true_front = pareto_front_mask(-table[:, 0], table[:, 1])
    result = minimize(
        objectives, lower, upper, n_gen=80, pop_size=60, rng=np.random.default_rng(seed)
    )
    found = {tuple(x) for x in result.X[result.rank == 0]}
    expected = {tuple(x) for x in X_all[true_front]}
    assert found <= expected  # everything on NSGA-II's first front is truly optimal
    assert len(found & expected) >= 0.9 * min(len(expected), 60)


def test_ask_tell_eliminates_duplicates_and_exclusions() -> None:
    lower, upper = np.zeros(3, np.int64), np.full(3, 2, np.int64)
    excluded = np.array([[0, 0, 0], [2, 2, 2], [1, 1, 1]])
    algorithm = NSGA2(
        lower,
        upper,
        rng=np.random.default_rng(0),
        pop_size=8,
        exclude=excluded,
        seeds=np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0]]),
    )
    X = algorithm.ask()
    assert X.shape == (8, 3) and np.unique(X, axis=0).shape[0] == 8
    assert [0, 0, 0] in X.tolist()  # seeds are kept even when excluded
    algorithm.tell(X, np.column_stack([X.sum(1), -X.sum(1)]).astype(float))
    for _ in range(20):
        X = algorithm.ask()
        keys = {tuple(x) for x in X}
        assert len(keys) == X.shape[0]
        assert not keys & {tuple(x) for x in algorithm.X}
        assert not keys & {tuple(x) for x in excluded}
        if X.shape[0] == 0:
            break
        algorithm.tell(X, np.column_stack([X.sum(1), -X.sum(1)]).astype(float))


def test_repair_is_applied_to_every_asked_architecture() -> None:
    lower, upper = np.zeros(4, np.int64), np.full(4, 3, np.int64)

    def sorted_repair(X: np.ndarray) -> np.ndarray:
        return np.sort(X, axis=1)  # canonical form: non-decreasing digits

    algorithm = NSGA2(lower, upper, rng=np.random.default_rng(4), pop_size=10, repair=sorted_repair)
    for _ in range(10):
        X = algorithm.ask()
        np.testing.assert_array_equal(X, np.sort(X, axis=1))
        algorithm.tell(X, np.column_stack([X.sum(1), (3 - X).sum(1) + X[:, 0]]).astype(float))


def test_ask_tell_errors() -> None:
    lower, upper = np.zeros(2, np.int64), np.full(2, 5, np.int64)
    algorithm = NSGA2(lower, upper, rng=np.random.default_rng(0), pop_size=4)
    with pytest.raises(ValueError, match="last ask"):
        algorithm.tell(np.zeros((4, 2), np.int64), np.zeros((4, 2)))
    X = algorithm.ask()
    with pytest.raises(ValueError, match="finite"):
        algorithm.tell(X, np.full((X.shape[0], 2), np.nan))
    with pytest.raises(ValueError, match="no population"):
        algorithm.result()
    with pytest.raises(ValueError, match="pop_size"):
        NSGA2(lower, upper, rng=np.random.default_rng(0), pop_size=1)
    with pytest.raises(ValueError, match="outside the bounds"):
        NSGA2(lower, upper, rng=np.random.default_rng(0), seeds=np.array([[9, 9]]))
    tiny = NSGA2(np.zeros(1, np.int64), np.zeros(1, np.int64), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least 2 distinct"):
        tiny.ask()


def test_minimize_is_deterministic_for_a_seed() -> None:
    lower, upper, table, _ = _table_problem(5)

    def objectives(X: np.ndarray) -> np.ndarray:
        return table[X @ np.array([64, 16, 4, 1])]

    a = minimize(objectives, lower, upper, n_gen=10, pop_size=20, rng=np.random.default_rng(9))
    b = minimize(objectives, lower, upper, n_gen=10, pop_size=20, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(a.X, b.X)
    assert a.n_gen == 10 and a.n_evals >= 20
