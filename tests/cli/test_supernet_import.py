"""``segevo supernet import-ofa`` and ``segevo supernet train --init-from`` on a generated
OFA-ResNet50 state dict (OFA's names and shapes, see tests/nets/ofa_layout.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from segevo.cli.main import main
from segevo.nets.train import load_checkpoint, load_supernet

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nets"))

from ofa_layout import ofa_resnet50_shapes, random_state

COMMON = ["--base-hw", "32x32", "--data-size", "32x32"]


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ofa_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    state = random_state(ofa_resnet50_shapes())
    path = tmp_path_factory.mktemp("ofa") / "ofa_resnet50_d0-1-2_e0.2-0.25-0.35_w0.65-0.8-1.0"
    # as OFA publishes it, with DataParallel prefixes on top
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 1}, path)
    return path, state


def invoke(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def test_r50_import_maps_the_backbone_and_reports_it(ofa_file, tmp_path) -> None:
    source, state = ofa_file
    out, report_path = tmp_path / "r50-ofa.pt", tmp_path / "report.json"
    result = invoke(
        "supernet", "import-ofa", str(source), *COMMON, "-o", str(out), "--json", str(report_path)
    )
    assert result.exit_code == 0, result.output
    assert (
        "mapped 366 OFA tensors (0 sliced) into r50; unmapped 2 (OFA's ImageNet classifier); "
        "missing 74 (aux16, aux32, decoder" in result.output
    )
    assert f"--init-from {out}" in result.output
    report = json.loads(report_path.read_text())
    assert report["mapped"] == 366 and report["source_stage_depths"] == [4, 4, 6, 4]
    assert report["mapping"][0]["source"] == "input_stem.0.conv.conv.weight"  # unwrapped
    supernet, payload = load_supernet(out)
    assert payload["imported"]["from"] == "ofa-resnet50" and payload["config"]["space"] == "r50"
    torch.testing.assert_close(
        supernet.stages[2][5].conv2.conv.weight, state["blocks.13.conv2.conv.conv.weight"]
    )
    verbose = invoke("supernet", "import-ofa", str(source), *COMMON, "-o", str(out), "-v")
    assert verbose.exit_code == 0, verbose.output
    assert "mapped    blocks.17.downsample" not in verbose.output  # only first blocks project
    assert "mapped    blocks.14.downsample.conv.conv.weight -> stages.3.0.shortcut.conv.weight" in (
        verbose.output
    )
    assert "unmapped  classifier.linear.linear.weight" in verbose.output
    assert "missing   decoder.head.classifier.weight" in verbose.output


def test_other_layouts_fail_with_one_clear_line(tmp_path) -> None:
    mbv3 = tmp_path / "ofa_mbv3.pth"
    first_conv = {"first_conv.conv.weight": torch.zeros(16, 3, 3, 3)}
    torch.save({"state_dict": first_conv}, mbv3)
    result = invoke("supernet", "import-ofa", str(mbv3), "-o", str(tmp_path / "x.pt"))
    assert result.exit_code != 0
    assert "not an OFA-ResNet50 state dict" in result.output and "MobileNetV3" in result.output
    assert not (tmp_path / "x.pt").exists()


def test_tiny_needs_slice_then_trains_from_the_import(ofa_file, tmp_path) -> None:
    source, _ = ofa_file
    out = tmp_path / "tiny-ofa.pt"
    args = ["supernet", "import-ofa", str(source), "--space", "tiny", *COMMON, "-o", str(out)]
    result = invoke(*args)
    assert result.exit_code != 0 and "allow slicing (--slice)" in result.output
    result = invoke(*args, "--slice")
    assert result.exit_code == 0, result.output
    # every tensor but the 61 scalar batch-norm counters takes OFA's leading channels
    assert "mapped 366 OFA tensors (305 sliced) into tiny" in result.output
    result = invoke(
        "supernet",
        "train",
        *COMMON,
        "--steps",
        "1",
        "--batch-size",
        "2",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--init-from",
        str(out),
        "-o",
        str(tmp_path / "sn"),
    )
    assert result.exit_code == 0, result.output
    assert f"started from the weights of {out.resolve()}" in result.output
    assert load_checkpoint(tmp_path / "sn")["config"]["init_from"] == str(out.resolve())
