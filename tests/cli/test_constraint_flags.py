"""``segevo run --max-latency / --min-accuracy / --moea`` through the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_helpers import segevo, write_table

from segevo.engine.archive import open_archive


def _table(tmp_path: Path) -> tuple[Path, np.ndarray]:
    path = write_table(tmp_path / "t.csv", (4, 4, 3, 3))
    lat = np.loadtxt(path, delimiter=",", skiprows=1)[:, -1]
    return path, lat


def test_a_latency_bound_is_kept_and_picks_are_feasible(tmp_path):
    table, lat = _table(tmp_path)
    bound = float(np.quantile(lat, 0.3))
    run = tmp_path / "run"
    result = segevo(
        "run", "-p", f"table:{table}", "-n", "24", "--initial", "8", "-k", "4",
        "--surrogate", "dt", "--max-latency", str(bound), "--run-dir", str(run),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = open_archive(run)
    assert data["feasible"].all() and np.all(data["lat_pred_ms"] <= bound)
    shown = segevo("archive", "show", str(run))
    assert f"24 feasible (latency <= {bound:g} ms)" in shown.stderr + shown.stdout


def test_picks_come_from_the_rows_that_meet_an_accuracy_bound(tmp_path):
    table, _ = _table(tmp_path)
    run = tmp_path / "run"
    result = segevo(
        "run", "-p", f"table:{table}", "-n", "30", "--initial", "8", "--strategy", "random",
        "--min-accuracy", "0.6", "--run-dir", str(run),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = open_archive(run)
    assert data["feasible"].tolist() == (data["acc"] >= 0.6).astype(int).tolist()
    assert 0 < data["feasible"].sum() < 30  # random search meets it only sometimes
    picked = segevo("pick", str(run), "-n", "3", "--format", "json")
    assert picked.returncode == 0, picked.stderr
    rows = json.loads(picked.stdout)
    assert rows and all(row["acc"] >= 0.6 and row["feasible"] for row in rows)


def test_a_bound_no_architecture_meets_is_a_clear_error(tmp_path):
    table, lat = _table(tmp_path)
    result = segevo(
        "run", "-p", f"table:{table}", "-n", "24", "--initial", "6", "--strategy", "random",
        "--max-latency", str(lat.min() / 3), "--run-dir", str(tmp_path / "run"),
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: no architecture can meet --max-latency")
    assert "Traceback" not in result.stderr


def test_an_unknown_pymoo_algorithm_lists_the_known_ones(tmp_path):
    table, _ = _table(tmp_path)
    result = segevo(
        "run", "-p", f"table:{table}", "-n", "10", "--initial", "4", "--moea", "pymoo:NOPE",
        "--run-dir", str(tmp_path / "run"),
    )  # fmt: skip
    assert result.returncode != 0
    assert "unknown pymoo algorithm 'NOPE'" in result.stderr and "SMSEMOA" in result.stderr
    assert not (tmp_path / "run").exists()
