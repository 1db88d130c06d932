"""Surrogate checkpoints in the run directory: written after each refit, used on resume."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import anyio
import numpy as np
import pytest

from segevo.engine.archive import open_archive
from segevo.engine.config import RunConfig
from segevo.engine.problem import load_problem
from segevo.engine.run import Coordinator, _make_strategy
from segevo.engine.rundir import RunDir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import write_table

pytestmark = pytest.mark.anyio


def _config(table: Path, surrogate: str, evaluations: int = 26) -> RunConfig:
    return RunConfig(
        problem=f"table:{table}",
        evaluations=evaluations,
        initial=6,
        batch=4,
        evaluators=2,
        strategy="mosegnas",
        surrogate=surrogate,
        sync=True,
        moea_options={"pop_size": 12, "n_gen": 4},
    )


async def _run_until(config: RunConfig, run_dir: Path, stop_at: int | None) -> None:
    coordinator = Coordinator.create(config, run_dir)

    async def stop_early() -> None:
        while coordinator.mirror.n < stop_at:
            await anyio.sleep(0.001)
        coordinator.stop("test stop")

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            if stop_at is not None:
                tg.start_soon(stop_early)
            await coordinator.run()


async def _resume(run_dir: Path) -> list[dict]:
    """Resume to the budget; the events logged by the resumed run."""
    before = len(RunDir.open(run_dir).read_events())
    with anyio.fail_after(120):
        summary = await Coordinator.resume(run_dir).run()
    assert summary.finished
    return RunDir.open(run_dir).read_events()[before:]


def _latest(run_dir: Path) -> dict:
    return json.loads((run_dir / "surrogate" / "latest.json").read_text())


@pytest.mark.parametrize("surrogate", ["ranknet", "dt"])
async def test_the_checkpoint_is_the_model_fitted_on_the_rows_it_names(tmp_path, surrogate):
    write_table(tmp_path / "t.csv", (3, 3, 3, 2), seed=4)
    config = _config(tmp_path / "t.csv", surrogate, evaluations=18)
    run_dir = tmp_path / "run"
    await _run_until(config, run_dir, None)
    latest = _latest(run_dir)
    data = open_archive(run_dir)
    refits = [e for e in RunDir.open(run_dir).read_events() if e["event"] == "refit"]
    assert latest["version"] == refits[-1]["version"] == max(e["version"] for e in refits)
    assert latest["rows"] == refits[-1]["rows"] <= len(data)
    # Only the newest model is kept.
    assert sorted(p.name for p in (run_dir / "surrogate").iterdir()) == [
        "latest.json",
        latest["file"],
    ]
    # Oracle: the strategy fitted afresh on the archive's first `rows` rows.
    problem = load_problem(config.problem)
    strategy = _make_strategy(config, problem)
    rows = latest["rows"]
    refitted = strategy.fit_model(data["x"][:rows], data["acc"][:rows])
    loaded = strategy.load_model(run_dir / "surrogate" / latest["file"])
    np.testing.assert_allclose(loaded.predict(data["x"]), refitted.predict(data["x"]), atol=1e-6)


async def test_a_resumed_run_starts_from_the_checkpoint_and_keeps_counting(tmp_path):
    write_table(tmp_path / "t.csv", (3, 3, 3, 2), seed=5)
    run_dir = tmp_path / "run"
    await _run_until(_config(tmp_path / "t.csv", "dt"), run_dir, stop_at=14)
    saved = _latest(run_dir)
    events = await _resume(run_dir)
    restored = [e for e in events if e["event"] == "surrogate_restored"]
    assert [(e["version"], e["rows"]) for e in restored] == [(saved["version"], saved["rows"])]
    refits = [e["version"] for e in events if e["event"] == "refit"]
    assert refits == list(range(saved["version"] + 1, saved["version"] + 1 + len(refits)))
    data = open_archive(run_dir)
    assert len(data) == 26 and len(np.unique(data["task_id"])) == 26
    assert _latest(run_dir)["version"] == max([saved["version"], *refits])


def _garbage_model(folder: Path) -> None:
    (folder / _latest(folder.parent)["file"]).write_bytes(b"not a model")


def _not_json(folder: Path) -> None:
    (folder / "latest.json").write_text("{truncated")


def _rows_beyond_the_archive(folder: Path) -> None:
    record = _latest(folder.parent)
    record["rows"] = 10_000
    (folder / "latest.json").write_text(json.dumps(record))


def _path_outside_the_folder(folder: Path) -> None:
    record = _latest(folder.parent)
    record["file"] = "../config.json"
    (folder / "latest.json").write_text(json.dumps(record))


def _older_than_a_used_version(folder: Path) -> None:
    # As after a kill between a refit whose model proposals used and its checkpoint.
    record = _latest(folder.parent)
    assert int(open_archive(folder.parent)["predictor_version"].max()) > 1
    record["version"] = 1
    (folder / "latest.json").write_text(json.dumps(record))


def _model_missing(folder: Path) -> None:
    (folder / _latest(folder.parent)["file"]).unlink()


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    """A search stopped part-way, with a checkpoint (copied by each test)."""
    folder = tmp_path_factory.mktemp("stopped")
    write_table(folder / "t.csv", (3, 3, 3, 2), seed=6)
    anyio.run(_run_until, _config(folder / "t.csv", "dt"), folder / "run", 14)
    return folder / "run"


@pytest.mark.parametrize(
    "damage",
    [
        _garbage_model,
        _not_json,
        _rows_beyond_the_archive,
        _path_outside_the_folder,
        _older_than_a_used_version,
        _model_missing,
    ],
)
async def test_an_unusable_checkpoint_is_reported_and_the_model_fitted_again(
    tmp_path, stopped_run, damage
):
    run_dir = tmp_path / "run"
    shutil.copytree(stopped_run, run_dir)
    before = open_archive(run_dir)
    used_before = int(before["predictor_version"].max())
    damage(run_dir / "surrogate")
    events = await _resume(run_dir)
    kinds = [e["event"] for e in events]
    assert "surrogate_restored" not in kinds
    unusable = [e for e in events if e["event"] == "surrogate_checkpoint_unusable"]
    assert len(unusable) == 1 and unusable[0]["error"]
    refits = [e["version"] for e in events if e["event"] == "refit"]
    assert refits and min(refits) > used_before
    after = open_archive(run_dir)
    assert len(after) == 26
    np.testing.assert_array_equal(after["x"][: len(before)], before["x"])
