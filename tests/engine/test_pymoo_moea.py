"""``--moea pymoo:NAME``: pymoo's algorithms as the proposal MOEA."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import anyio
import numpy as np
import pytest

from segevo._core import hypervolume_2d, nondominated_rank
from segevo.engine.archive import open_archive
from segevo.engine.config import RunConfig
from segevo.engine.problem import load_problem
from segevo.engine.pymoo_moea import PYMOO_ALGORITHMS, minimize_with_pymoo
from segevo.engine.run import Coordinator
from segevo.engine.strategies import MOEAOptions, make_strategy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support import write_table

LOWER, UPPER = np.zeros(4, np.int64), np.full(4, 5, np.int64)


def _objectives(X: np.ndarray) -> np.ndarray:
    # A concave trade-off with an interaction, so that the front is not the whole box.
    s = X.sum(1) / 20.0
    return np.column_stack([1 - np.sqrt(s) + 0.05 * (X[:, 0] - X[:, 1]) ** 2 / 25, s])


def _repair(X: np.ndarray) -> np.ndarray:
    # A canonical form: digit 3 is inactive (0) whenever digit 2 is 0.
    X = X.copy()
    X[X[:, 2] == 0, 3] = 0
    return X


def _true_front_hv(ref: np.ndarray) -> float:
    box = _repair(np.array(list(itertools.product(range(6), repeat=4)), dtype=np.int64))
    F = _objectives(np.unique(box, axis=0))
    return hypervolume_2d(F[np.asarray(nondominated_rank(F)) == 0], ref)


@pytest.mark.parametrize("name", ["NSGA2", "NSGA3", "SMSEMOA", "SPEA2", "RVEA"])
def test_a_pymoo_algorithm_finds_the_brute_force_front(name):
    result = minimize_with_pymoo(
        name,
        _objectives,
        LOWER,
        UPPER,
        n_gen=40,
        rng=np.random.default_rng(1),
        pop_size=24,
        repair=_repair,
    )
    assert result.X.dtype == np.int64
    assert np.all((result.X >= LOWER) & (result.X <= UPPER))
    np.testing.assert_array_equal(result.X, _repair(result.X))
    assert np.unique(result.X, axis=0).shape[0] == result.X.shape[0]
    np.testing.assert_allclose(result.F, _objectives(result.X))
    ref = np.array([1.2, 1.1])
    front = result.F[result.rank == 0]
    assert hypervolume_2d(front, ref) >= 0.97 * _true_front_hv(ref)


def test_a_pymoo_algorithm_keeps_to_a_constraint():
    def violation(X, F):
        return np.maximum(F[:, 1] - 0.5, 0.0)

    result = minimize_with_pymoo(
        "NSGA2",
        _objectives,
        LOWER,
        UPPER,
        n_gen=30,
        rng=np.random.default_rng(0),
        pop_size=20,
        violation=violation,
    )
    assert np.all(result.cv[result.rank == 0] == 0)
    assert np.all(result.F[result.cv == 0, 1] <= 0.5)


def test_moea_option_names_are_checked_and_canonical():
    assert MOEAOptions.parse({"algorithm": "pymoo:smsemoa"}).algorithm == "pymoo:SMSEMOA"
    # A named pymoo algorithm runs instead of the exhaustive scoring of small spaces.
    assert MOEAOptions.parse({"algorithm": "pymoo:NSGA3"}).exhaustive == 0
    assert MOEAOptions.parse({}).algorithm == "nsga2"
    with pytest.raises(ValueError, match=r"unknown pymoo algorithm 'FOO'.*SMSEMOA"):
        MOEAOptions.parse({"algorithm": "pymoo:FOO"})
    with pytest.raises(ValueError, match=r"use nsga2 .* or pymoo:NAME"):
        MOEAOptions.parse({"algorithm": "deap:NSGA2"})
    assert "AGEMOEA2" in PYMOO_ALGORITHMS


def test_the_nsga2_strategy_refuses_a_pymoo_moea(tmp_path):
    write_table(tmp_path / "t.csv", (3, 3, 3))
    problem = load_problem(f"table:{tmp_path / 't.csv'}")
    with pytest.raises(ValueError, match="applies to the mosegnas strategy"):
        make_strategy("nsga2", problem, moea_options={"algorithm": "pymoo:NSGA2"})


@pytest.mark.anyio
async def test_a_run_with_a_pymoo_moea_reaches_its_budget(tmp_path):
    write_table(tmp_path / "t.csv", (4, 4, 3, 3, 2), seed=3)
    config = RunConfig(
        problem=f"table:{tmp_path / 't.csv'}",
        evaluations=36,
        initial=12,
        batch=4,
        surrogate="dt",
        moea_options={"algorithm": "pymoo:SMSEMOA", "pop_size": 16, "n_gen": 5},
    )
    coordinator = Coordinator.create(config, tmp_path / "run")
    with anyio.fail_after(120):
        summary = await coordinator.run()
    assert summary.reason == "budget reached"
    data = open_archive(tmp_path / "run")
    assert len(data) == 36
    assert np.unique(data["x"], axis=0).shape[0] == 36
    assert np.all(data["predictor_version"][np.argsort(data["task_id"])][12:] >= 1)
