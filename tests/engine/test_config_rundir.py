"""Run configuration, run directory, security defaults, and the CLI's error paths."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner

from segevo.cli.main import main
from segevo.engine.config import ConfigError, RunConfig, from_mapping, load_toml, resolve
from segevo.engine.run import Coordinator
from segevo.engine.rundir import RunDir, RunDirError, read_token
from segevo.engine.server import Server
from segevo.engine.wire import Endpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_helpers import write_config
from support import write_table


def test_defaults_and_generations():
    config = RunConfig(problem="synthetic")
    assert config.listen == "127.0.0.1:0" and config.auth and not config.sync
    assert RunConfig(problem="p", evaluations=100, initial=20, batch=8).generations == 10
    assert from_mapping(config.to_dict()) == config


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"evaluations": "10"}, "evaluations must be an integer"),
        ({"evaluations": 0}, "evaluations must be >= 1"),
        ({"initial": 50, "evaluations": 10}, "must not exceed evaluations"),
        ({"lease_s": 1.0, "heartbeat_s": 2.0}, "must be shorter than lease_s"),
        ({"sync": "yes"}, "sync must be true or false"),
        ({"listen": "nowhere"}, "listen:"),
        ({"auth": False, "listen": "0.0.0.0:7000"}, "without a token"),
        ({"hv_reference": [1.0]}, "hv_reference"),
        ({"moea_options": [1]}, "table of options"),
        ({"colour": "red"}, "unknown configuration keys"),
    ],
)
def test_bad_values_are_refused_with_the_key_named(values, message):
    with pytest.raises(ConfigError, match=message):
        from_mapping({"problem": "synthetic", **values})


def test_auth_off_is_allowed_on_loopback_only():
    assert not from_mapping({"problem": "p", "auth": False, "listen": "127.0.0.1:0"}).auth
    assert not from_mapping({"problem": "p", "auth": False, "listen": "[::1]:0"}).auth


def test_server_refuses_a_non_loopback_bind_without_a_token():
    with pytest.raises(ValueError, match="without a token"):
        Server(
            None,
            endpoint=Endpoint("0.0.0.0", 0),
            token=None,
            run_id="r",
            lease_s=1,  # type: ignore[arg-type]
            heartbeat_s=0.5,
            max_frame=1024,
            max_connections=1,
        )


def test_toml_and_flags(tmp_path):
    path = write_config(
        tmp_path / "c.toml", problem="synthetic", evaluations=50, problem_options={"seed": 3}
    )
    assert load_toml(path)["problem_options"] == {"seed": 3}
    config = resolve(path, {"evaluations": 60, "batch": None})
    assert config.evaluations == 60 and config.batch == 8 and config.problem_options == {"seed": 3}
    (tmp_path / "bad.toml").write_text("problem = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_toml(tmp_path / "bad.toml")
    (tmp_path / "unknown.toml").write_text('problem = "p"\nspeed = 3\n')
    with pytest.raises(ConfigError, match=r"unknown keys \['speed'\]"):
        load_toml(tmp_path / "unknown.toml")
    with pytest.raises(ConfigError, match="does not exist"):
        load_toml(tmp_path / "missing.toml")


def test_run_directory_files_and_modes(tmp_path):
    config = RunConfig(problem="synthetic")
    rundir = RunDir.create(tmp_path / "run", config)
    assert stat.S_IMODE((tmp_path / "run" / "token").stat().st_mode) == 0o600
    assert len(read_token(rundir.token_path)) == 64
    reopened = RunDir.open(tmp_path / "run")
    assert reopened.run_id == rundir.run_id and reopened.load_config() == config
    rundir.log_event("hello", n=1)
    rundir.log_event("world")
    with open(rundir.events_path, "a") as f:
        f.write('{"t": 1, "event": "cut')  # a line cut by a kill
    assert [e["event"] for e in reopened.read_events()] == ["hello", "world"]
    rundir.write_endpoint(Endpoint("127.0.0.1", 4567))
    assert reopened.read_endpoint() == Endpoint("127.0.0.1", 4567)
    rundir.clear_endpoint()
    assert reopened.read_endpoint() is None
    rundir.save_state({"version": 1, "tasks": []})
    assert reopened.load_state() == {"version": 1, "tasks": []}
    rundir.close()


def test_run_directory_errors(tmp_path):
    with pytest.raises(RunDirError, match="not a folder"):
        RunDir.open(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(RunDirError, match=r"no run\.json"):
        RunDir.open(tmp_path / "plain")
    (tmp_path / "plain" / "x").write_text("")
    with pytest.raises(RunDirError, match="not an empty folder"):
        RunDir.create(tmp_path / "plain", RunConfig(problem="p"))
    RunDir.create(tmp_path / "run", RunConfig(problem="p"))
    marker = tmp_path / "run" / "run.json"
    meta = json.loads(marker.read_text())
    marker.write_text(json.dumps({**meta, "version": 7}))
    with pytest.raises(RunDirError, match="version 7"):
        RunDir.open(tmp_path / "run")
    marker.write_text(json.dumps({**meta, "format": "other"}))
    with pytest.raises(RunDirError, match="format mismatch"):
        RunDir.open(tmp_path / "run")


def test_second_coordinator_on_a_run_directory_is_refused(tmp_path):
    rundir = RunDir.create(tmp_path / "run", RunConfig(problem="p"))
    rundir.acquire()
    other = RunDir.open(tmp_path / "run")
    with pytest.raises(RunDirError, match="in use by another coordinator"):
        other.acquire()
    rundir.release()
    other.acquire()
    other.release()


def test_resume_refuses_a_damaged_state_file(tmp_path):
    write_table(tmp_path / "t.csv", (2, 2))
    config = RunConfig(
        problem=f"table:{tmp_path / 't.csv'}", evaluations=3, initial=2, strategy="random"
    )
    coordinator = Coordinator.create(config, tmp_path / "run")
    anyio.run(coordinator.run)
    (tmp_path / "run" / "state.json").write_text('{"version": 9}')
    with pytest.raises(RunDirError, match="state version 9"):
        anyio.run(Coordinator.resume(tmp_path / "run").run)


def test_cli_status_of_a_finished_run_and_cli_errors(tmp_path):
    write_table(tmp_path / "t.csv", (3, 3))
    config = RunConfig(
        problem=f"table:{tmp_path / 't.csv'}", evaluations=9, initial=3, strategy="random"
    )
    anyio.run(Coordinator.create(config, tmp_path / "run").run)
    runner = CliRunner()
    result = runner.invoke(main, ["status", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["evaluations"] == 9 and status["budget"] == 9 and not status["running"]
    assert status["pending"] == 0 and status["front_size"] >= 1
    result = runner.invoke(main, ["status", str(tmp_path / "run")])
    assert "evaluations   9/9" in result.output
    # Bad input: a clear message and a non-zero exit, nothing written.
    result = runner.invoke(
        main, ["run", "--problem", "table:/nope.csv", "--run-dir", str(tmp_path / "new")]
    )
    assert result.exit_code == 1 and "does not exist" in result.output
    assert not (tmp_path / "new").exists()
    result = runner.invoke(main, ["run", "--resume", str(tmp_path / "run"), "--seed", "3"])
    assert result.exit_code == 2 and "cannot change" in result.output
    result = runner.invoke(main, ["run", "--resume", str(tmp_path)])
    assert result.exit_code == 1 and "not a segevo run directory" in result.output
    result = runner.invoke(main, ["status", "127.0.0.1:1"])
    assert result.exit_code == 2 and "--token-file" in result.output
