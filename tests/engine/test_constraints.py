"""Latency and accuracy constraints: feasibility, constrained survival, proposals that keep to
the bound, the archive's ``feasible`` column, feasible-region hypervolume, picks, and a bound
no architecture can meet."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import numpy as np
import pytest
import zarr

from segevo.engine.archive import ArchiveWriter, open_archive
from segevo.engine.config import ConfigError, RunConfig, from_mapping
from segevo.engine.constraints import Constraints
from segevo.engine.moea import minimize, survival_order
from segevo.engine.problem import load_problem
from segevo.engine.rows import read_run
from segevo.engine.run import Coordinator
from segevo.engine.strategies import make_strategy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support import write_table

pytestmark = pytest.mark.anyio


def test_violation_is_the_sum_of_relative_excesses():
    c = Constraints(max_latency_ms=10.0, min_accuracy=0.5)
    acc = np.array([0.6, 0.4, 0.6, 0.25, np.nan])
    lat = np.array([9.0, 9.0, 15.0, 20.0, 10.0])
    np.testing.assert_allclose(c.violation(acc, lat), [0.0, 0.2, 0.5, 1.5, 0.0])
    assert c.feasible(acc, lat).tolist() == [True, False, False, False, True]
    assert c.hv_reference((0.0, 30.0)) == (0.5, 10.0)
    assert not Constraints().active and Constraints().feasible(acc, lat).all()


@pytest.mark.parametrize(
    "values, message",
    [
        ({"max_latency_ms": 0}, "max_latency_ms must be > 0"),
        ({"max_latency_ms": float("nan")}, "max_latency_ms must be finite"),
        ({"min_accuracy": "high"}, "min_accuracy must be a number"),
    ],
)
def test_bad_bounds_are_refused_by_the_config(values, message):
    with pytest.raises(ConfigError, match=message):
        from_mapping({"problem": "synthetic", **values})


def test_constrained_survival_puts_feasible_rows_first_then_by_violation():
    rng = np.random.default_rng(3)
    F = rng.random((40, 2))
    cv = np.where(rng.random(40) < 0.5, 0.0, rng.random(40))
    order, rank, _crowding = survival_order(F, 30, cv)
    feasible = np.flatnonzero(cv == 0)
    expected_feasible, expected_rank, _ = survival_order(F[feasible], 30)
    # The oracle: NSGA-II survival among the feasible rows, then the rest by violation.
    assert order[: feasible.size].tolist() == feasible[expected_feasible].tolist()
    assert rank[: feasible.size].tolist() == expected_rank.tolist()
    rest = order[feasible.size :]
    assert (
        rest.tolist()
        == np.flatnonzero(cv > 0)[np.argsort(cv[cv > 0], kind="stable")][
            : 30 - feasible.size
        ].tolist()
    )
    assert np.all(np.diff(rank[feasible.size :]) > 0)  # distinct violations, distinct ranks
    assert np.all(rank[feasible.size :] > expected_rank.max())


def test_nsga2_with_a_constraint_ends_with_a_feasible_front():
    lower, upper = np.zeros(6, np.int64), np.full(6, 4, np.int64)

    def objectives(X):
        return np.column_stack([-X.sum(1), X.sum(1) + 0.1 * X[:, 0]])

    def violation(X, F):
        return Constraints(max_latency_ms=8.0).latency_violation(F[:, 1])

    result = minimize(
        objectives,
        lower,
        upper,
        n_gen=30,
        pop_size=30,
        rng=np.random.default_rng(0),
        violation=violation,
    )
    assert np.all(result.cv == 0)
    assert np.all(result.F[:, 1] <= 8.0)
    # The best feasible accuracy, found by brute force: sum 8 with x0 = 0.
    assert -result.F[:, 0].min() == 8


@pytest.mark.parametrize("strategy", ["mosegnas", "nsga2", "random"])
def test_proposals_keep_to_the_latency_bound(tmp_path, strategy):
    X, acc, lat = write_table(tmp_path / "t.csv", (4, 4, 3, 3, 2), seed=1)
    problem = load_problem(f"table:{tmp_path / 't.csv'}")
    bound = float(np.quantile(lat, 0.3))
    options = {"surrogate": "dt", "moea_options": {"pop_size": 20, "n_gen": 5}}
    s = make_strategy(strategy, problem, seed=0, **(options if strategy == "mosegnas" else {}))
    s.constrain(Constraints(max_latency_ms=bound))
    rng = np.random.default_rng(0)
    X0 = s.initial(12, rng)
    assert np.all(problem.latency(X0) <= bound)
    truth = {tuple(x): (a, t) for x, a, t in zip(X.tolist(), acc, lat, strict=True)}
    acc0 = np.array([truth[tuple(x)][0] for x in X0.tolist()])
    model = s.fit_model(X0, acc0)
    proposal = s.propose(model, X0, acc0, problem.latency(X0), np.zeros((0, 5), np.int64), 8, rng)
    assert len(proposal) == 8
    assert np.all(proposal.lat_pred <= bound)
    assert not set(map(tuple, proposal.X.tolist())) & set(map(tuple, X0.tolist()))


async def _run(tmp_path: Path, name: str = "run", **config) -> Coordinator:
    coordinator = Coordinator.create(RunConfig(**config), tmp_path / name)
    with anyio.fail_after(120):
        await coordinator.run()
    return coordinator


async def test_a_constrained_run_records_feasibility_and_the_feasible_hypervolume(tmp_path):
    _X, _acc, lat = write_table(tmp_path / "t.csv", (4, 4, 3, 3, 2), seed=2)
    bound = float(np.quantile(lat, 0.4))
    coordinator = await _run(
        tmp_path,
        problem=f"table:{tmp_path / 't.csv'}",
        evaluations=40,
        initial=10,
        batch=4,
        strategy="mosegnas",
        surrogate="dt",
        moea_options={"pop_size": 20, "n_gen": 5},
        max_latency_ms=bound,
        hv_reference=(0.0, 20.0),
    )
    data = open_archive(tmp_path / "run")
    assert data.constraints == Constraints(max_latency_ms=bound)
    lat_rows = data["lat_pred_ms"]
    assert data["feasible"].tolist() == (lat_rows <= bound).astype(int).tolist()
    # Proposals keep to the bound, so (the table being exact) every row is feasible.
    assert data["feasible"].all()
    # Oracle: brute-force hypervolume of the feasible rows in the box (acc >= 0, lat <= bound).
    ok = data["feasible"] == 1
    a, t = data["acc"][ok], lat_rows[ok]
    grid_hv = 0.0
    order = np.argsort(t)
    best = -np.inf
    edges = [*t[order], bound]
    for i, j in enumerate(order):
        best = max(best, a[j])
        grid_hv += max(best, 0.0) * (edges[i + 1] - edges[i])
    status = coordinator.status()
    assert status["feasible"] == int(ok.sum())
    assert status["hypervolume"] == pytest.approx(grid_hv)
    rows = read_run(tmp_path / "run")
    assert rows.reference() == (0.0, bound)
    assert set(rows.picks(5).tolist()) <= set(np.flatnonzero(ok).tolist())


async def test_picks_and_front_leave_out_infeasible_rows(tmp_path):
    # Unconstrained search, then the same archive read under an accuracy bound: the front
    # and the picks come only from rows that meet it.
    _X, _acc, _lat = write_table(tmp_path / "t.csv", (4, 4, 3, 3), seed=4)
    await _run(
        tmp_path,
        problem=f"table:{tmp_path / 't.csv'}",
        evaluations=30,
        initial=10,
        batch=4,
        strategy="random",
        min_accuracy=0.6,
    )
    rows = read_run(tmp_path / "run")
    assert rows.feasible.tolist() == (rows.acc >= 0.6).tolist()
    assert np.all(rows.acc[rows.front_rows()] >= 0.6)
    assert np.all(rows.acc[rows.picks(3)] >= 0.6)


async def test_a_latency_bound_no_architecture_meets_stops_after_the_initial_design(tmp_path):
    _X, _acc, lat = write_table(tmp_path / "t.csv", (4, 4, 3), seed=0)
    coordinator = await _run(
        tmp_path,
        problem=f"table:{tmp_path / 't.csv'}",
        evaluations=30,
        initial=8,
        batch=4,
        strategy="random",
        max_latency_ms=float(lat.min()) / 2,
    )
    summary = coordinator.summary(finished=False)
    assert summary.reason.startswith("infeasible: no architecture can meet --max-latency")
    assert f"{lat.min():.4g} ms" in summary.reason
    assert 8 <= summary.evaluations < 30


def test_an_archive_from_before_the_feasible_column_reads_and_resumes(tmp_path):
    writer = ArchiveWriter.create(tmp_path / "run", 3)
    rows = {
        "task_id": np.arange(2),
        "x": np.ones((2, 3), np.int64),
        "acc": np.array([0.5, 0.6]),
        "lat_ms": np.full(2, np.nan),
        "lat_pred_ms": np.array([1.0, 2.0]),
        "acc_pred": np.full(2, np.nan),
        "predictor_version": np.full(2, -1),
        "t_submit": np.ones(2),
        "t_done": np.ones(2),
    }
    writer.append(rows, ["a", "a"])
    # Take the column away, as in an archive written by an older segevo.
    group = zarr.open_group(str(tmp_path / "run" / "archive.zarr"), mode="r+")
    del group["feasible"]
    assert open_archive(tmp_path / "run")["feasible"].tolist() == [1, 1]
    reopened = ArchiveWriter.open(tmp_path / "run")
    reopened.append({**rows, "task_id": np.arange(2, 4), "feasible": np.array([0, 1])}, ["b"] * 2)
    assert open_archive(tmp_path / "run")["feasible"].tolist() == [1, 1, 0, 1]
