"""The quick start end to end (shrunk), in a real subprocess, and what it leaves behind."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_helpers import segevo

from segevo.engine.archive import open_archive
from segevo.engine.pick import pick_tradeoff


def test_quick_start_runs_the_mosegnas_problem_to_its_budget(quick_run):
    out = quick_run.process.stdout
    err = quick_run.process.stderr
    assert "budget reached: 8/8 evaluations" in out, out + err
    assert "picked networks" in out
    assert "supernet: trained" in err and "latency table: built" in err

    config = json.loads((quick_run.run_dir / "config.json").read_text())
    assert config["problem"] == "mosegnas" and config["evaluations"] == 8
    options = config["problem_options"]
    # The resolved config names the artefacts it used, inside the cache SEGEVO_CACHE chose.
    for key in ("supernet", "lut"):
        path = Path(options[key])
        assert path.is_file() and quick_run.cache in path.parents, (key, path)
    assert options["space"] == "tiny" and options["dataset"] == "synthetic"
    assert options["space_options"] == {"base_hw": [48, 64]}
    # Measured latencies get a reference from a measurement of the largest network.
    assert config["hv_reference"][0] == 0.0 and config["hv_reference"][1] > 0

    data = open_archive(quick_run.run_dir)
    assert len(data) == 8
    assert np.all((data["acc"] >= 0) & (data["acc"] <= 1))
    assert np.all(np.isfinite(data["lat_ms"]) & (data["lat_ms"] > 0))  # measured
    assert np.all(np.isfinite(data["lat_pred_ms"]) & (data["lat_pred_ms"] > 0))  # the LUT
    assert len({tuple(x) for x in data["x"].tolist()}) == 8

    # The printed picks are pick_tradeoff's choice on the archive (measured latency).
    chosen = pick_tradeoff(data["acc"], data["lat_ms"], 5)
    report = (quick_run.run_dir / "report" / "picks.csv").read_text().splitlines()
    ids = [int(line.split(",")[0]) for line in report[1:]]
    assert ids == data["task_id"][chosen].tolist()
    assert (quick_run.run_dir / "report" / "front.png").stat().st_size > 10_000


def test_a_second_quick_start_reuses_the_cached_supernet_and_table(quick_run, tmp_path):
    options = json.loads((quick_run.run_dir / "config.json").read_text())["problem_options"]
    mtimes = {key: Path(options[key]).stat().st_mtime_ns for key in ("supernet", "lut")}
    again = segevo(
        "run",
        "--config",
        str(quick_run.config),
        "--run-dir",
        str(tmp_path / "again"),
        "-n",
        "5",
        SEGEVO_CACHE=str(quick_run.cache),
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "supernet: cached" in again.stderr and "latency table: cached" in again.stderr
    assert "budget reached: 5/5" in again.stdout
    first = json.loads((quick_run.run_dir / "config.json").read_text())["problem_options"]
    second = json.loads((tmp_path / "again" / "config.json").read_text())["problem_options"]
    assert first["supernet"] == second["supernet"] and first["lut"] == second["lut"]
    # Reused, not rebuilt: the files are the same ones, untouched.
    for key in ("supernet", "lut"):
        assert Path(second[key]).stat().st_mtime_ns == mtimes[key], key
