"""``segevo run``'s configuration (quick start, flags, TOML) and the one-line errors."""

from __future__ import annotations

import errno
import json
import socket
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_helpers import segevo, write_table
from support import write_toml

from segevo.cli.display import SearchDisplay, duration
from segevo.cli.errors import EXIT_UNREACHABLE, explain
from segevo.cli.main import main
from segevo.cli.run_options import QUICK_PROBLEM, QUICK_RUN, resolve_run_config
from segevo.devices import LUTSpaceMismatchError
from segevo.engine.config import ConfigError
from segevo.engine.rundir import RunDirError

NO_FLAGS = {"dataset": None, "space": None, "device": None, "supernet": None, "lut": None}


def test_no_problem_named_means_the_quick_start():
    config = resolve_run_config(None, {}, NO_FLAGS)
    assert config.problem == "mosegnas"
    assert config.evaluations == QUICK_RUN["evaluations"] and config.initial == QUICK_RUN["initial"]
    options = config.problem_options
    assert options["space"] == "tiny" and options["dataset"] == "synthetic"
    assert options["device"] == "cpu" and options["train"] == QUICK_PROBLEM["train"]


def test_flags_override_the_toml_file_which_overrides_the_quick_start(tmp_path):
    toml = write_toml(
        tmp_path / "c.toml",
        {
            "evaluations": 30,
            "problem_options": {"space": "tiny", "val_images": 16, "dataset": "synthetic"},
        },
    )
    config = resolve_run_config(
        toml, {"evaluations": 12}, {**NO_FLAGS, "device": "cuda:1", "lut": Path("t.json")}
    )
    assert config.evaluations == 12  # flag over file
    assert config.batch == QUICK_RUN["batch"]  # quick start where neither says
    options = config.problem_options
    assert (
        options["val_images"] == 16 and options["device"] == "cuda:1" and options["lut"] == "t.json"
    )
    assert "device_options" not in options  # CPU threads do not apply to a GPU


def test_real_data_keeps_the_nets_defaults_for_sizes(tmp_path):
    config = resolve_run_config(
        None, {}, {**NO_FLAGS, "dataset": f"camvid:{tmp_path}", "space": "r50"}
    )
    options = config.problem_options
    assert "space_options" not in options and "dataset_options" not in options
    assert "val_images" not in options  # every validation image


def test_a_named_problem_keeps_the_engine_defaults_and_refuses_mosegnas_flags(tmp_path):
    table = write_table(tmp_path / "t.csv")
    config = resolve_run_config(None, {"problem": f"table:{table}"}, NO_FLAGS)
    assert config.evaluations == 100 and config.problem_options == {}
    with pytest.raises(click.UsageError, match="--dataset"):
        resolve_run_config(
            None, {"problem": f"table:{table}"}, {**NO_FLAGS, "dataset": "synthetic"}
        )
    toml = write_toml(
        tmp_path / "c.toml", {"problem": f"table:{table}", "evaluations": 7, "initial": 3}
    )
    assert resolve_run_config(toml, {}, NO_FLAGS).evaluations == 7
    with pytest.raises(ConfigError, match="unknown"):
        resolve_run_config(write_toml(tmp_path / "bad.toml", {"colour": "red"}), {}, NO_FLAGS)


def one_line_error(result) -> str:
    text = result.output.strip()
    assert result.exit_code != 0, text
    assert text.startswith("error: ") and "\n" not in text and "Traceback" not in text, text
    return text


def test_missing_data_set_folder(tmp_path):
    result = CliRunner().invoke(
        main,
        ["run", "--dataset", f"camvid:{tmp_path / 'CamVid'}", "--run-dir", str(tmp_path / "r")],
    )
    text = one_line_error(result)
    assert "does not exist" in text and "--dataset camvid:PATH" in text
    assert not (tmp_path / "r").exists()


def test_a_lut_for_another_space_refuses_the_run(quick_run, tmp_path):
    options = json.loads((quick_run.run_dir / "config.json").read_text())["problem_options"]
    toml = write_toml(
        tmp_path / "c.toml", {"problem_options": {"space_options": {"base_hw": [32, 32]}}}
    )
    result = CliRunner().invoke(
        main,
        [
            "run",
            "--config",
            str(toml),
            "--supernet",
            options["supernet"],
            "--lut",
            options["lut"],
            "--run-dir",
            str(tmp_path / "r"),
        ],
    )
    text = one_line_error(result)
    assert "built for space" in text and "segevo lut build" in text
    assert not (tmp_path / "r").exists()


def test_not_a_run_directory_to_resume(tmp_path):
    text = one_line_error(CliRunner().invoke(main, ["run", "--resume", str(tmp_path)]))
    assert "not a segevo run directory" in text


def test_a_port_in_use(tmp_path):
    table = write_table(tmp_path / "t.csv")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = segevo(
            "run",
            "-p",
            f"table:{table}",
            "-n",
            "5",
            "--initial",
            "2",
            "--listen",
            f"127.0.0.1:{port}",
            "--run-dir",
            str(tmp_path / "r"),
        )
    assert result.returncode == 1, result.stdout + result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and "in use" in line and "--listen" in line
    assert "Traceback" not in result.stderr


def test_a_dead_coordinator(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    token = tmp_path / "token"
    token.write_text("0" * 64 + "\n")
    result = CliRunner().invoke(main, ["status", f"127.0.0.1:{port}", "--token-file", str(token)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert str(port) in result.output
    gone = segevo(
        "evaluator",
        "--connect",
        f"127.0.0.1:{port}",
        "--token-file",
        str(token),
        "--give-up-after",
        "1",
    )
    assert gone.returncode != 0
    assert "error:" in gone.stderr and "Traceback" not in gone.stderr


def test_explain_maps_known_errors_to_actions():
    refused = explain(ConnectionRefusedError(111, "Connection refused"))
    assert refused.code == EXIT_UNREACHABLE and "segevo run --resume" in refused.message
    in_use = explain(OSError(errno.EADDRINUSE, "Address already in use"))
    assert "--listen" in in_use.message and in_use.code == 1
    assert "run.json" in explain(RunDirError("x is not a segevo run directory")).message
    mismatch = explain(LUTSpaceMismatchError("table t was built for space 'r50'"))
    assert "segevo lut build" in mismatch.message
    assert explain(KeyboardInterrupt()).code == 130
    assert explain(RuntimeError("bug")) is None  # an internal error: a traceback with --debug


def test_unexpected_errors_say_internal_and_debug_raises(monkeypatch):
    def broken(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("segevo.engine.rows.read_run", broken)
    result = CliRunner().invoke(main, ["archive", "show", "anything"])
    assert result.exit_code == 1 and "internal error: RuntimeError: boom" in result.output
    assert "--debug" in result.output
    debug = CliRunner().invoke(main, ["--debug", "archive", "show", "anything"])
    assert isinstance(debug.exception, RuntimeError)


def test_search_display_plain_line(tmp_path):
    display = SearchDisplay(tmp_path, live=False)
    status = {
        "evaluations": 10,
        "budget": 40,
        "evaluators_connected": 2,
        "front_size": 3,
        "hypervolume": 1.5,
        "rate_per_s": 0.5,
    }
    line = display.line(status)
    assert "10/40 evaluations" in line and "evaluators 2" in line and "front 3" in line
    assert "1m00s left" in line
    assert duration(59.6) == "1m00s" and duration(3700) == "1h01m" and duration(float("nan")) == "?"
