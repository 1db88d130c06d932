"""Strategies: initial samples, proposals never repeat done/pending work, options, quality."""

from __future__ import annotations

import numpy as np
import pytest

from segevo._core import hypervolume_2d
from segevo.engine.problems import SyntheticProblem
from segevo.engine.strategies import MOEAOptions, Proposal, available_strategies, make_strategy

FAST = {"surrogate": "gb", "moea_options": {"n_gen": 15, "pop_size": 30}}


def _strategy(name: str, problem: SyntheticProblem, **options: object):
    extra = dict(FAST) if name == "mosegnas" else {}
    extra.update(options)
    return make_strategy(name, problem, seed=1, **extra)


@pytest.fixture(scope="module")
def problem() -> SyntheticProblem:
    return SyntheticProblem(seed=2, n_var=5, n_values=4)


def test_initial_has_bounds_then_distinct_random(problem: SyntheticProblem) -> None:
    strategy = _strategy("random", problem)
    X = strategy.initial(30, np.random.default_rng(0))
    assert X.shape == (30, problem.n_var) and X.dtype == np.int64
    np.testing.assert_array_equal(X[0], problem.lower)
    np.testing.assert_array_equal(X[1], problem.upper)
    assert np.unique(X, axis=0).shape[0] == 30
    tiny = SyntheticProblem(seed=0, n_var=2, n_values=2)
    assert _strategy("random", tiny).initial(10, np.random.default_rng(0)).shape == (4, 2)
    with pytest.raises(ValueError, match="n must be"):
        strategy.initial(-1, np.random.default_rng(0))


@pytest.mark.parametrize("name", available_strategies())
def test_proposals_never_repeat_done_or_pending(name: str, problem: SyntheticProblem) -> None:
    strategy = _strategy(name, problem)
    rng = np.random.default_rng(5)
    X_done = strategy.initial(20, rng)
    acc_done = problem.accuracy(X_done)
    lat_done = problem.latency(X_done)
    X_pending = problem.sample(0, rng)
    for _ in range(4):
        model = strategy.fit_model(X_done, acc_done)
        assert (model is None) == (name != "mosegnas")
        proposal = strategy.propose(model, X_done, acc_done, lat_done, X_pending, 6, rng)
        assert isinstance(proposal, Proposal) and len(proposal) == 6
        assert proposal.X.dtype == np.int64
        seen = {tuple(x) for x in np.concatenate([X_done, X_pending])}
        new = [tuple(x) for x in proposal.X]
        assert len(set(new)) == 6 and not set(new) & seen
        np.testing.assert_array_equal(proposal.lat_pred, problem.latency(proposal.X))
        assert np.all(np.isnan(proposal.acc_pred)) == (name != "mosegnas")
        # Half of the proposal completes, the other half stays pending.
        X_done = np.concatenate([X_done, proposal.X[:3]])
        acc_done = np.concatenate([acc_done, problem.accuracy(proposal.X[:3])])
        lat_done = np.concatenate([lat_done, problem.latency(proposal.X[:3])])
        X_pending = np.concatenate([X_pending, proposal.X[3:]])


@pytest.mark.parametrize("name", available_strategies())
def test_exhausted_space_returns_what_is_left(name: str) -> None:
    small = SyntheticProblem(seed=1, n_var=2, n_values=[3, 4])
    strategy = _strategy(name, small)
    every = small.architectures()
    done, pending = every[:8], every[8:10]
    model = strategy.fit_model(done, small.accuracy(done))
    proposal = strategy.propose(
        model, done, small.accuracy(done), small.latency(done), pending, 5, np.random.default_rng(0)
    )
    assert {tuple(x) for x in proposal.X} == {tuple(x) for x in every[10:]}
    nothing = strategy.propose(
        model, every, small.accuracy(every), small.latency(every), None, 3, np.random.default_rng(0)
    )
    assert len(nothing) == 0


@pytest.mark.parametrize("name", available_strategies())
def test_proposals_are_deterministic_for_an_rng(name: str, problem: SyntheticProblem) -> None:
    strategy = _strategy(name, problem)
    X = strategy.initial(15, np.random.default_rng(1))
    acc, lat = problem.accuracy(X), problem.latency(X)
    lat[:4] = np.nan  # unmeasured latency: the predicted one stands in
    a = strategy.propose(strategy.fit_model(X, acc), X, acc, lat, None, 5, np.random.default_rng(7))
    b = strategy.propose(strategy.fit_model(X, acc), X, acc, lat, None, 5, np.random.default_rng(7))
    np.testing.assert_array_equal(a.X, b.X)


def test_option_validation(problem: SyntheticProblem) -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        make_strategy("bayes", problem)
    with pytest.raises(ValueError, match="unknown pre-screen"):
        make_strategy("mosegnas", problem, surrogate="gb", prescreen="best")
    with pytest.raises(ValueError, match="unknown surrogate"):
        make_strategy("mosegnas", problem, surrogate="oracle")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \[.*\] for MOEA"):
        make_strategy("nsga2", problem, moea_options={"population": 10})
    with pytest.raises(ValueError, match="pop_size"):
        make_strategy("nsga2", problem, moea_options={"pop_size": 1})
    with pytest.raises(ValueError, match="crossover"):
        make_strategy("nsga2", problem, moea_options={"crossover": "one_point"})
    with pytest.raises(ValueError, match="bad operator option"):
        make_strategy("nsga2", problem, moea_options={"mutation_options": {"sigma": 1}})
    with pytest.raises(ValueError, match="no moea_options"):
        make_strategy("random", problem, moea_options={"pop_size": 10})
    with pytest.raises(ValueError):
        make_strategy("mosegnas", problem, surrogate="gb", surrogate_options={"no_such_option": 1})
    with pytest.raises(ValueError, match="seed"):
        make_strategy("random", problem, seed=-1)
    strategy = make_strategy("mosegnas", problem, surrogate="gb", prescreen="hv")
    assert strategy.options["prescreen"] == "hv"
    assert strategy.options["moea_options"] == MOEAOptions().record()


def test_bad_history_is_refused(problem: SyntheticProblem) -> None:
    strategy = _strategy("random", problem)
    X = strategy.initial(5, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="one value per row"):
        strategy.propose(None, X, np.zeros(4), np.zeros(5), None, 2, rng)
    with pytest.raises(ValueError, match="outside the bounds"):
        strategy.propose(None, X + 10, np.zeros(5), np.zeros(5), None, 2, rng)
    with pytest.raises(ValueError, match="k must be"):
        strategy.propose(None, X, np.zeros(5), np.zeros(5), None, -2, rng)


def _search_hv(name: str, problem: SyntheticProblem, seed: int, budget: int) -> float:
    strategy = make_strategy(name, problem, seed=seed, **(FAST if name == "mosegnas" else {}))
    rng = np.random.default_rng(seed)
    X = strategy.initial(20, rng)
    while X.shape[0] < budget:
        acc = problem.accuracy(X)
        proposal = strategy.propose(
            strategy.fit_model(X, acc),
            X,
            acc,
            problem.latency(X),
            None,
            min(8, budget - X.shape[0]),
            rng,
        )
        X = np.concatenate([X, proposal.X])
    bounds = problem.objective_bounds()
    (a_lo, a_hi), (t_lo, t_hi) = bounds["acc"], bounds["lat_ms"]
    F = np.column_stack(
        [(a_hi - problem.accuracy(X)) / (a_hi - a_lo), (problem.latency(X) - t_lo) / (t_hi - t_lo)]
    )
    return hypervolume_2d(F, np.array([1.0, 1.0]))


def test_mosegnas_beats_random_search(problem: SyntheticProblem) -> None:
    seeds = range(3)
    ours = np.mean([_search_hv("mosegnas", problem, s, 60) for s in seeds])
    baseline = np.mean([_search_hv("random", problem, s, 60) for s in seeds])
    assert ours > baseline


def _predicted_front_keys(strategy, model, problem, X_all, exclude_rows):
    # Brute force: every architecture not excluded, scored by the model, non-dominated ones.
    taken = {tuple(x) for x in exclude_rows.tolist()}
    rest = np.array([x for x in X_all.tolist() if tuple(x) not in taken])
    acc, lat = model.predict(rest), problem.latency(rest)
    front = [
        i
        for i in range(len(rest))
        if not np.any((acc >= acc[i]) & (lat <= lat[i]) & ((acc > acc[i]) | (lat < lat[i])))
    ]
    return {tuple(x) for x in rest[front].tolist()}


def test_a_small_space_is_scored_exhaustively(problem: SyntheticProblem) -> None:
    # 4**5 = 1024 architectures: under the default limit, so the proposal is the exact
    # predicted front of everything not yet evaluated, best first.
    strategy = _strategy("mosegnas", problem, prescreen="survival")
    X = strategy.initial(40, np.random.default_rng(3))
    done, pending = X[:30], X[30:]
    acc, lat = problem.accuracy(done), problem.latency(done)
    model = strategy.fit_model(done, acc)
    front = _predicted_front_keys(strategy, model, problem, problem.architectures(), X)
    k = min(4, len(front))
    proposal = strategy.propose(model, done, acc, lat, pending, k, np.random.default_rng(0))
    assert len(proposal) == k and {tuple(x) for x in proposal.X.tolist()} <= front
    off = _strategy("mosegnas", problem, prescreen="survival", moea_options={"exhaustive": 0})
    assert off.moea.exhaustive == 0
    with pytest.raises(ValueError, match="exhaustive"):
        _strategy("mosegnas", problem, moea_options={"exhaustive": -1})
