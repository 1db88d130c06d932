"""Steady state stays model-driven: after the initial design every task comes from a proposal
made by a fitted model that lacked at most ``max_staleness`` finished results."""

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
from support import write_table

pytestmark = pytest.mark.anyio


async def _run(tmp_path: Path, **config) -> Coordinator:
    coordinator = Coordinator.create(RunConfig(**config), tmp_path / "run")
    with anyio.fail_after(120):
        summary = await coordinator.run()
    assert summary.finished and summary.reason == "budget reached"
    return coordinator


@pytest.mark.parametrize("evaluators", [2, 4])
@pytest.mark.parametrize("max_staleness", [0, 6])
async def test_zero_cost_steady_state_uses_a_fitted_model_for_every_proposal(
    tmp_path, evaluators, max_staleness
):
    write_table(tmp_path / "t.csv", (4, 4, 3, 3, 2), seed=5)
    initial, budget = 10, 60
    await _run(
        tmp_path,
        problem=f"table:{tmp_path / 't.csv'}",
        evaluations=budget,
        initial=initial,
        batch=4,
        evaluators=evaluators,
        strategy="mosegnas",
        surrogate="dt",
        refit_every=4,
        max_staleness=max_staleness,
        moea_options={"pop_size": 16, "n_gen": 5},
    )
    data = open_archive(tmp_path / "run")
    order = np.argsort(data["task_id"])
    versions = data["predictor_version"][order]
    t_submit, t_done = data["t_submit"][order], data["t_done"][order]
    assert len(data) == budget
    # The initial design has no model; every later task was proposed by a fitted one.
    assert np.all(versions[:initial] == -1)
    assert np.all(versions[initial:] >= 1), versions
    assert np.all(np.isfinite(data["acc_pred"][order][initial:]))
    # Staleness: the model a task came from saw all but at most max_staleness of the results
    # that were in when the task was created (the refit events say how many rows each saw).
    events = RunDir.open(tmp_path / "run").read_events()
    rows_of = {e["version"]: e["rows"] for e in events if e["event"] == "refit"}
    for i in range(initial, budget):
        known_then = int(np.count_nonzero(t_done < t_submit[i]))
        assert rows_of[int(versions[i])] >= known_then - max_staleness, (i, versions[i])


async def test_random_strategy_never_waits_for_a_model(tmp_path):
    write_table(tmp_path / "t.csv", (4, 4, 4), seed=6)
    coordinator = await _run(
        tmp_path,
        problem=f"table:{tmp_path / 't.csv'}",
        evaluations=40,
        initial=5,
        batch=4,
        evaluators=2,
        strategy="random",
        max_staleness=0,
    )
    data = open_archive(tmp_path / "run")
    assert np.all(data["predictor_version"] == -1)
    assert coordinator.status()["staleness_waits"] == 0


async def test_nsga2_steady_state_mates_the_archive(tmp_path):
    write_table(tmp_path / "t.csv", (4, 4, 3, 3), seed=7)
    await _run(
        tmp_path,
        problem=f"table:{tmp_path / 't.csv'}",
        evaluations=50,
        initial=8,
        batch=4,
        evaluators=3,
        strategy="nsga2",
    )
    events = RunDir.open(tmp_path / "run").read_events()
    proposals = [e for e in events if e["event"] == "proposal"]
    # Every proposal after the initial design was made from an evaluated population.
    assert proposals and all(e["returned"] > 0 for e in proposals)
    data = open_archive(tmp_path / "run")
    assert len({tuple(x) for x in data["x"].tolist()}) == 50


@pytest.mark.parametrize("max_staleness", [0, 2])
async def test_a_staleness_below_the_refit_period_never_stalls_the_run(tmp_path, max_staleness):
    # Evaluations that take time, and a model allowed to lack fewer results than the refit
    # period: once the queue is empty the evaluators wait for a refit, which must come even
    # though fewer than refit_every new rows are in.
    write_table(tmp_path / "t.csv", (4, 4, 3, 3, 2), seed=7)
    coordinator = await _run(
        tmp_path,
        problem="support:SlowTable",
        problem_options={"path": str(tmp_path / "t.csv"), "delay_s": 0.01},
        evaluations=40,
        initial=8,
        batch=4,
        evaluators=2,
        strategy="mosegnas",
        surrogate="dt",
        refit_every=6,
        max_staleness=max_staleness,
        moea_options={"pop_size": 16, "n_gen": 5},
    )
    data = open_archive(tmp_path / "run")
    assert len(data) == 40 and np.all(
        data["predictor_version"][np.argsort(data["task_id"])][8:] >= 1
    )
    assert coordinator.surrogate.version >= 2
