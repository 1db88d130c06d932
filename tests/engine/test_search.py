"""Whole searches inside the test process: table problems with a known Pareto front."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import numpy as np
import pytest

from segevo.engine.archive import open_archive
from segevo.engine.config import RunConfig
from segevo.engine.run import Coordinator
from segevo.engine.rundir import RunDir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_helpers import brute_force_front
from support import write_table

pytestmark = pytest.mark.anyio


def _lookup(X_table, values, X):
    index = {tuple(x): i for i, x in enumerate(X_table.tolist())}
    return values[[index[tuple(x)] for x in X.tolist()]]


async def _run(tmp_path: Path, **config) -> tuple[Coordinator, object]:
    coordinator = Coordinator.create(RunConfig(**config), tmp_path / "run")
    with anyio.fail_after(60):
        summary = await coordinator.run()
    return coordinator, summary


def _check_exactly_once(data, budget):
    assert len(data) == budget
    assert len(np.unique(data["task_id"])) == budget
    assert len({tuple(x) for x in data["x"].tolist()}) == budget


async def test_random_search_over_the_whole_space_finds_the_true_front(tmp_path):
    X_table, acc_table, lat_table = write_table(tmp_path / "t.csv", (3, 3, 3))
    coordinator, summary = await _run(
        tmp_path,
        problem=f"table:{tmp_path / 't.csv'}",
        evaluations=27,
        initial=5,
        batch=4,
        evaluators=2,
        strategy="random",
    )
    assert summary.finished and summary.reason == "budget reached"
    data = open_archive(tmp_path / "run")
    _check_exactly_once(data, 27)
    # Every row holds the table's values for its architecture.
    np.testing.assert_allclose(data["acc"], _lookup(X_table, acc_table, data["x"]))
    np.testing.assert_allclose(data["lat_ms"], _lookup(X_table, lat_table, data["x"]))
    np.testing.assert_allclose(data["lat_pred_ms"], data["lat_ms"])
    assert set(data.evaluator_names) == {"local-0", "local-1"}
    assert np.all(data["t_done"] >= data["t_submit"])
    # The live front query equals the brute-force front of the whole table.
    front = coordinator.front()
    true_front = {tuple(x) for x in X_table[brute_force_front(acc_table, lat_table)].tolist()}
    assert {tuple(x) for x in front["x"]} == true_front
    assert front["lat_ms"] == sorted(front["lat_ms"])


async def test_mosegnas_steady_state_with_a_cheap_surrogate(tmp_path):
    import sklearn.tree  # noqa: F401  (warm: the first fit must not pay for the import)

    X_table, acc_table, _ = write_table(tmp_path / "t.csv", (4, 3, 3, 2), seed=1)
    coordinator, summary = await _run(
        tmp_path,
        # Evaluations take a little time, so surrogate fits land during the run.
        problem="engine_helpers:delayed_table",
        problem_options={"path": str(tmp_path / "t.csv"), "delay_s": 0.05},
        evaluations=30,
        initial=8,
        batch=4,
        evaluators=2,
        strategy="mosegnas",
        surrogate="dt",
        refit_every=4,
        moea_options={"pop_size": 16, "n_gen": 8},
    )
    assert summary.finished
    data = open_archive(tmp_path / "run")
    _check_exactly_once(data, 30)
    np.testing.assert_allclose(data["acc"], _lookup(X_table, acc_table, data["x"]))
    # Lower and upper bound architectures are in the initial population.
    rows = {tuple(x) for x in data["x"].tolist()}
    assert (0, 0, 0, 0) in rows and (3, 2, 2, 1) in rows
    # Some proposals used a fitted surrogate, and its predictions were archived.
    used = data["predictor_version"] >= 1
    assert used.any()
    assert np.all(np.isfinite(data["acc_pred"][used]))
    assert np.all(np.isnan(data["acc_pred"][data["predictor_version"] == -1]))
    # Status figures against independent oracles.
    status = coordinator.status()
    lat = data["lat_ms"]
    front_rows = brute_force_front(data["acc"], lat)
    assert status["front_size"] == len(front_rows)
    from pymoo.indicators.hv import HV

    ref = status["hv_reference"]
    F = np.column_stack([-data["acc"][front_rows], lat[front_rows]])
    assert status["hypervolume"] == pytest.approx(HV(ref_point=np.array([-ref[0], ref[1]]))(F))
    assert status["evaluations"] == 30 and status["budget"] == 30


async def test_sync_mode_is_generational(tmp_path):
    write_table(tmp_path / "t.csv", (3, 3, 3, 2), seed=2)
    _, summary = await _run(
        tmp_path,
        problem=f"table:{tmp_path / 't.csv'}",
        evaluations=22,
        initial=6,
        batch=4,
        evaluators=3,
        strategy="mosegnas",
        surrogate="dt",
        sync=True,
        moea_options={"pop_size": 12, "n_gen": 5},
    )
    assert summary.finished
    data = open_archive(tmp_path / "run")
    _check_exactly_once(data, 22)
    # Algorithm 1: N initial, then T = ceil((22 - 6) / 4) = 4 generations of K = 4.
    generations = [
        e for e in RunDir.open(tmp_path / "run").read_events() if e["event"] == "generation"
    ]
    assert [e["generation"] for e in generations] == [1, 2, 3, 4]
    assert [e["tasks"] for e in generations] == [4, 4, 4, 4]
    # A generation is proposed only after every earlier evaluation was archived.
    order = np.argsort(data["task_id"])
    t_submit, t_done = data["t_submit"][order], data["t_done"][order]
    starts = [6, 10, 14, 18]
    for start in starts:
        assert t_submit[start : start + 4].min() >= t_done[:start].max()
    # Each generation's proposal used the surrogate refitted on all earlier rows.
    versions = data["predictor_version"][order]
    assert np.all(versions[:6] == -1)
    assert list(versions[6::4]) == [1, 2, 3, 4]


async def test_stop_and_resume_in_process_reaches_the_budget(tmp_path):
    write_table(tmp_path / "t.csv", (4, 4, 4), seed=3)
    config = RunConfig(
        problem=f"table:{tmp_path / 't.csv'}",
        evaluations=40,
        initial=6,
        batch=4,
        evaluators=2,
        strategy="random",
    )
    first = Coordinator.create(config, tmp_path / "run")

    async def stop_early():
        while first.mirror.n < 10:
            await anyio.sleep(0.001)
        first.stop("test stop")

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_early)
            summary = await first.run()
    assert not summary.finished and summary.reason == "test stop"
    before = open_archive(tmp_path / "run")
    assert 10 <= len(before) < 40
    second = Coordinator.resume(tmp_path / "run")
    with anyio.fail_after(60):
        summary = await second.run()
    assert summary.finished
    after = open_archive(tmp_path / "run")
    _check_exactly_once(after, 40)
    for name in ("task_id", "x", "acc", "t_done"):
        np.testing.assert_array_equal(after[name][: len(before)], before[name])
    kinds = [e["event"] for e in RunDir.open(tmp_path / "run").read_events()]
    assert kinds.count("started") == 1 and kinds.count("resumed") == 1


async def test_status_rows_and_front_queries(tmp_path):
    write_table(tmp_path / "t.csv", (3, 3, 3))
    coordinator, _ = await _run(
        tmp_path,
        problem=f"table:{tmp_path / 't.csv'}",
        evaluations=12,
        initial=4,
        batch=4,
        evaluators=1,
        strategy="random",
    )
    data = open_archive(tmp_path / "run")
    page = coordinator.query("rows", since=5, limit=4)
    assert (page["start"], page["stop"], page["committed"]) == (5, 9, 12)
    assert page["columns"]["task_id"] == data["task_id"][5:9].tolist()
    assert page["columns"]["x"] == data["x"][5:9].tolist()
    assert page["columns"]["evaluator"] == ["local-0"] * 4
    assert coordinator.query("rows", since=50)["columns"]["acc"] == []
    with pytest.raises(ValueError, match="unknown query"):
        coordinator.query("drop")


def test_a_used_run_directory_is_refused(tmp_path):
    write_table(tmp_path / "t.csv", (2, 2))
    config = RunConfig(
        problem=f"table:{tmp_path / 't.csv'}", evaluations=3, initial=2, strategy="random"
    )
    Coordinator.create(config, tmp_path / "run")
    with pytest.raises(ValueError, match="already exists"):
        Coordinator.create(config, tmp_path / "run")


def test_a_budget_larger_than_the_space_is_refused(tmp_path):
    write_table(tmp_path / "t.csv", (2, 3))
    config = RunConfig(problem=f"table:{tmp_path / 't.csv'}", evaluations=7, initial=2)
    with pytest.raises(ValueError, match=r"evaluations \(7\) exceeds the 6 distinct architectures"):
        Coordinator.create(config, tmp_path / "run")


async def test_resume_of_a_run_killed_before_its_archive_existed(tmp_path):
    write_table(tmp_path / "t.csv", (3, 3))
    config = RunConfig(
        problem=f"table:{tmp_path / 't.csv'}", evaluations=5, initial=2, strategy="random"
    )
    Coordinator.create(config, tmp_path / "run")  # run directory made, never run
    with anyio.fail_after(60):
        summary = await Coordinator.resume(tmp_path / "run").run()
    assert summary.finished
    _check_exactly_once(open_archive(tmp_path / "run"), 5)
