"""``segevo supernet train``, ``lut build|check``, ``export`` and ``train`` on small inputs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from segevo.cli.main import main
from segevo.engine.archive import open_archive
from segevo.engine.problems.mosegnas import supernet_cache_dir
from segevo.nets.datasets import get_dataset
from segevo.nets.evaluate import score_model
from segevo.nets.export import load_exported
from segevo.nets.train import TrainConfig, load_checkpoint


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def invoke(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def options(quick_run):
    return json.loads((quick_run.run_dir / "config.json").read_text())["problem_options"]


def test_supernet_train_into_a_folder_and_into_the_cache(tmp_path, monkeypatch):
    common = [
        "supernet",
        "train",
        "--base-hw",
        "32x32",
        "--data-size",
        "32x32",
        "--batch-size",
        "2",
        "--threads",
        "1",
        "--device",
        "cpu",
    ]
    result = invoke(*common, "--steps", "2", "-o", str(tmp_path / "sn"))
    assert result.exit_code == 0, result.output
    payload = load_checkpoint(tmp_path / "sn")
    assert payload["finished"] and payload["step"] == 2
    assert json.loads((tmp_path / "sn" / "train.json").read_text())["steps"] == 2
    # Longer training of the same folder resumes it.
    result = invoke(*common, "--steps", "3", "-o", str(tmp_path / "sn"))
    assert result.exit_code == 0 and "resumed from 2" in result.output
    # Without --output: the cache folder `segevo run` looks in for these settings.
    monkeypatch.setenv("SEGEVO_CACHE", str(tmp_path / "cache"))
    result = invoke(*common, "--steps", "1")
    assert result.exit_code == 0, result.output
    config = TrainConfig(
        steps=1,
        batch_size=2,
        space_options={"base_hw": [32, 32]},
        dataset_options={"size": [32, 32]},
    )
    assert load_checkpoint(supernet_cache_dir(config))["step"] == 1


def test_lut_build_resumes_a_complete_table_and_check_reports_agreement(options, tmp_path):
    copy = tmp_path / "lut.json"
    shutil.copy(options["lut"], copy)
    result = invoke("lut", "build", "--space", "tiny", "--base-hw", "48x64", "-o", str(copy))
    assert result.exit_code == 0, result.output
    assert "0 measured now" in result.output and "kept from before" in result.output
    result = invoke("lut", "check", str(copy), "--base-hw", "48x64", "--samples", "3", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["samples"] == 3 and len(report["measured_ms"]) == 3
    assert all(v > 0 for v in report["measured_ms"])


def test_a_lut_for_another_space_is_one_actionable_line(options):
    result = invoke("lut", "check", options["lut"], "--space", "tiny", "--samples", "3")
    assert result.exit_code == 1
    line = result.output.strip()
    assert line.startswith("error: ") and "\n" not in line
    assert "segevo lut build" in line


def test_export_is_the_network_that_was_evaluated(quick_run, options, tmp_path):
    data = open_archive(quick_run.run_dir)
    row = int(np.argmax(data["acc"]))
    arch_id = int(data["task_id"][row])
    target = tmp_path / "net.pt"
    result = invoke(
        "export", str(quick_run.run_dir), "--arch", str(arch_id), "-o", str(target), "--no-onnx"
    )
    assert result.exit_code == 0, result.output
    module, meta = load_exported(target)
    assert meta["x"] == data["x"][row].tolist() and meta["num_classes"] == 8
    # Scored like the search scored it, the export reaches the archived accuracy.
    val = get_dataset("synthetic", "val", size=tuple(options["dataset_options"]["size"]))
    confusion, _, _ = score_model(
        module, val, meta["input_hw"], num_classes=8, max_images=options["val_images"]
    )
    assert confusion.miou() == pytest.approx(float(data["acc"][row]), abs=0.02)
    missing = invoke("export", str(quick_run.run_dir), "--arch", "999", "-o", str(target))
    assert missing.exit_code == 1 and "no evaluated architecture with id 999" in missing.output


def test_train_retrains_from_scratch_and_exports(quick_run, tmp_path):
    data = open_archive(quick_run.run_dir)
    arch_id = int(data["task_id"][0])
    out = tmp_path / "retrained"
    result = invoke(
        "train",
        str(quick_run.run_dir),
        "--arch",
        str(arch_id),
        "--steps",
        "3",
        "--batch-size",
        "2",
        "--val-images",
        "4",
        "-o",
        str(out),
        "--no-onnx",
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["miou"] <= 1.0 and metrics["val_images"] == 4
    assert metrics["recipe"]["lr"] == 0.01 and metrics["recipe"]["momentum"] == 0.9
    assert np.isfinite(metrics["final_loss"])
    module, meta = load_exported(out / "model.pt")
    assert meta["x"] == data["x"][0].tolist()
    logits = module(torch.zeros(1, 3, *meta["input_hw"]))
    assert tuple(logits.shape) == (1, 8, *meta["input_hw"])
    usage = invoke("train", "--arch", "3")
    assert usage.exit_code == 2 and "RUN_DIR" in usage.output


def test_export_of_a_table_run_says_why_not(tmp_path):
    import anyio
    from cli_helpers import write_table

    from segevo.engine.config import RunConfig
    from segevo.engine.run import Coordinator

    table = write_table(tmp_path / "t.csv", (2, 2))
    anyio.run(
        Coordinator.create(
            RunConfig(problem=f"table:{table}", evaluations=4, initial=2, strategy="random"),
            tmp_path / "run",
        ).run
    )
    result = invoke("export", str(tmp_path / "run"), "--arch", "0")
    assert result.exit_code == 1 and "mosegnas run" in result.output
