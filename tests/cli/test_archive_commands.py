"""``segevo archive show|front|export|plot``, ``segevo pick`` and ``segevo status`` on runs
made through the engine: finished ones, and one that is still writing."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import anyio
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_helpers import subprocess_env, write_table

from segevo.cli.main import main
from segevo.engine.archive import open_archive
from segevo.engine.config import RunConfig
from segevo.engine.pick import pick_tradeoff
from segevo.engine.run import Coordinator
from segevo.engine.rundir import RunDirError


def brute_force_front(acc: np.ndarray, lat: np.ndarray) -> set[int]:
    """Indices no other point dominates (max acc, min lat), by pairwise comparison."""
    front = set()
    for i in range(len(acc)):
        dominated = any(
            acc[j] >= acc[i] and lat[j] <= lat[i] and (acc[j] > acc[i] or lat[j] < lat[i])
            for j in range(len(acc))
        )
        if not dominated:
            front.add(i)
    return front


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("archive")
    table = write_table(root / "t.csv", (3, 3, 3))
    config = RunConfig(
        problem=f"table:{table}", evaluations=20, initial=5, strategy="random", seed=3
    )
    anyio.run(Coordinator.create(config, root / "run").run)
    return root / "run"


def invoke(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def test_show_lists_every_row_in_archive_order(finished_run):
    result = invoke("archive", "show", str(finished_run), "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    data = open_archive(finished_run)
    assert [r["id"] for r in rows] == data["task_id"].tolist()
    assert [r["acc"] for r in rows] == pytest.approx(data["acc"].tolist())
    assert [r["x"] for r in rows] == [",".join(map(str, x)) for x in data["x"].tolist()]
    last = json.loads(
        invoke("archive", "show", str(finished_run), "--last", "3", "--format", "json").stdout
    )
    assert [r["id"] for r in last] == data["task_id"][-3:].tolist()
    table = invoke("archive", "show", str(finished_run))
    assert table.exit_code == 0 and table.stdout.splitlines()[0].split() == [
        "id",
        "acc",
        "lat_ms",
        "x",
    ]
    assert len(table.stdout.splitlines()) == 21
    assert "20/20 evaluations" in table.stderr


def test_front_is_the_brute_force_front_fastest_first(finished_run):
    data = open_archive(finished_run)
    expected = brute_force_front(data["acc"], data["lat_ms"])
    result = invoke("archive", "front", str(finished_run), "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    ids = [int(r["id"]) for r in rows]
    assert set(ids) == {int(data["task_id"][i]) for i in expected}
    lat = [float(r["lat_ms"]) for r in rows]
    assert lat == sorted(lat)


def test_export_writes_every_column_as_csv_and_json(finished_run, tmp_path):
    out = tmp_path / "all.csv"
    result = invoke("archive", "export", str(finished_run), "-o", str(out))
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    reference = open_archive(finished_run).frame()
    assert list(frame.columns[1:]) == list(reference.columns)
    np.testing.assert_allclose(frame["acc"], reference["acc"])
    assert (
        frame[["x0", "x1", "x2"]].to_numpy().tolist()
        == reference[["x0", "x1", "x2"]].to_numpy().tolist()
    )
    front = json.loads(
        invoke("archive", "export", str(finished_run), "--format", "json", "--front-only").stdout
    )
    data = open_archive(finished_run)
    assert len(front) == len(brute_force_front(data["acc"], data["lat_ms"]))
    assert {"x0", "acc", "lat_ms", "t_done", "evaluator"} <= set(front[0])


def test_plot_writes_a_png(finished_run, tmp_path):
    target = tmp_path / "front.png"
    result = invoke("archive", "plot", str(finished_run), "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 10_000
    bad = invoke("archive", "plot", str(finished_run), "-o", str(tmp_path / "front.jpg"))
    assert bad.exit_code == 2 and "PNG" in bad.output


def test_pick_is_pick_tradeoff_on_the_archive(finished_run):
    data = open_archive(finished_run)
    chosen = pick_tradeoff(data["acc"], data["lat_ms"], 3)
    result = invoke("pick", str(finished_run), "-n", "3", "--format", "json")
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in json.loads(result.stdout)] == data["task_id"][chosen].tolist()
    assert invoke("pick", str(finished_run), "-n", "0").exit_code == 2


def test_not_a_run_directory_is_one_line_and_debug_shows_the_traceback(tmp_path):
    result = invoke("archive", "show", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "not a segevo run directory" in result.stderr and "Traceback" not in result.stderr
    debug = invoke("--debug", "archive", "show", str(tmp_path))
    assert isinstance(debug.exception, RunDirError)


def test_commands_read_a_run_that_is_still_writing(tmp_path):
    table = write_table(tmp_path / "t.csv", (4, 4, 4))
    config = tmp_path / "slow.toml"
    config.write_text(
        f'problem = "cli_helpers:slow_table"\nevaluations = 40\ninitial = 5\n'
        f'strategy = "random"\n[problem_options]\npath = "{table}"\ndelay_s = 0.15\n'
    )
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "segevo.cli.main",
            "run",
            "--config",
            str(config),
            "--run-dir",
            str(run_dir),
        ],
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        seen = 0
        while seen < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
            result = invoke("archive", "show", str(run_dir), "--format", "json")
            seen = len(json.loads(result.stdout)) if result.exit_code == 0 else 0
        assert 5 <= seen < 40, seen
        live = json.loads(invoke("archive", "show", str(run_dir), "--format", "json").stdout)
        status = invoke("status", str(run_dir), "--json")
        assert status.exit_code == 0 and json.loads(status.stdout)["running"] is True
        assert process.wait(timeout=90) == 0
    finally:
        process.kill()
    final = json.loads(invoke("archive", "show", str(run_dir), "--format", "json").stdout)
    assert len(final) == 40
    assert final[: len(live)] == live  # the live view was a prefix of the final archive


def test_the_live_view_shows_the_runs_front(finished_run):
    from rich.console import Console

    from segevo.cli.display import SearchDisplay

    data = open_archive(finished_run)
    front = sorted(brute_force_front(data["acc"], data["lat_ms"]), key=lambda i: data["lat_ms"][i])
    status = {
        "evaluations": 20,
        "budget": 20,
        "evaluators_connected": 1,
        "front_size": len(front),
        "hypervolume": 1.0,
        "rate_per_s": 4.0,
        "finished": True,
    }
    display = SearchDisplay(finished_run, live=False)
    display._refresh_front(status)
    console = Console(file=io.StringIO(), width=100)
    console.print(display.renderable(status))
    text = console.file.getvalue()
    assert "20/20 evaluations" in text and "best accuracy at each latency" in text
    shown = [line.split() for line in text.splitlines() if line.strip()[:1].isdigit()]
    assert [int(cells[2]) for cells in shown] == data["task_id"][front].tolist()
    assert "best acc @ latency" in display.line(status)
