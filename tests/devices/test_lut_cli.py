"""`segevo lut check` end to end: it measures, reports the +-10% figures and stores the
calibration in the table only when it measured on the table's own device."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from segevo.cli.main import main
from segevo.devices import get_device
from segevo.devices.lut_file import read_record, write_record

from .conftest import random_record

FAST = ["--warmup", "1", "--repeats", "3", "--budget-s", "0.01", "--samples", "3"]


@pytest.fixture
def table(tmp_path: Path, tiny) -> Path:
    """A tiny table of random entries that says it was measured on this machine's cpu."""
    path = tmp_path / "tiny-cpu.json"
    record = replace(random_record(tiny, 11, seed=3), device=get_device("cpu").identity())
    write_record(path, record)
    return path


def test_check_stores_the_calibration_it_fits(table: Path) -> None:
    result = CliRunner().invoke(
        main, ["lut", "check", str(table), "--device", "cpu", *FAST, "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["samples"] == 3 and len(report["measured_ms"]) == 3
    assert {"within_10", "within_10_fit", "kendall_tau"} <= set(report["lut"])
    stored = read_record(table).calibration
    if report["calibration"] is None:  # random entries may not follow the networks at all
        assert not report["calibration_stored"] and stored is None
        return
    assert report["calibration_stored"] and stored is not None
    assert stored.slope == pytest.approx(report["calibration"]["slope"])
    assert stored.networks == 3 and stored.device["backend"] == "cpu"
    assert json.loads(table.read_text())["version"] == 2


def test_check_on_another_device_does_not_calibrate(table: Path) -> None:
    pytest.importorskip("onnxruntime")
    result = CliRunner().invoke(main, ["lut", "check", str(table), "--device", "ort-cpu", *FAST])
    assert result.exit_code == 0, result.output
    assert "no calibration is stored" in result.output
    assert "within +-10%" in result.output
    assert read_record(table).calibration is None


def test_clock_only_for_the_cpu_devices(table: Path) -> None:
    result = CliRunner().invoke(
        main, ["lut", "check", str(table), "--device", "cuda", "--clock", "cpu", *FAST]
    )
    assert result.exit_code != 0 and "--clock" in result.output
