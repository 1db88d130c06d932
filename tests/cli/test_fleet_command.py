"""``segevo fleet``'s input checks, its k8s manifest, and its record (no cluster needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from segevo.cli.main import main
from segevo.engine.config import RunConfig
from segevo.engine.fleet.record import JobRecord, load_jobs, next_index, save_jobs
from segevo.engine.rundir import RunDir
from segevo.engine.wire import Endpoint

yaml = pytest.importorskip("yaml")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run directory whose coordinator listens on 10.1.2.3:7700 (none really does)."""
    path = tmp_path / "run"
    rundir = RunDir.create(path, RunConfig(problem="synthetic"))
    rundir.write_endpoint(Endpoint("10.1.2.3", 7700))
    rundir.close()
    return path


def _fleet(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["fleet", *args])
    return result.exit_code, result.stdout, result.stderr


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_k8s_dry_run_prints_a_secret_and_an_indexed_job(run_dir):
    code, out, _ = _fleet(
        str(run_dir),
        "--executor",
        "k8s",
        "--dry-run",
        "--image",
        "ghcr.io/lab/segevo:1.0",
        "--workers",
        "64",
        "--gpus-per-worker",
        "1",
        "--namespace",
        "nas",
        "--time",
        "120",
    )
    assert code == 0, out
    secret, job = list(yaml.safe_load_all(out))
    token = (run_dir / "token").read_text().strip()
    assert secret["kind"] == "Secret" and secret["stringData"]["token"] == token
    assert secret["metadata"]["namespace"] == "nas"
    assert job["kind"] == "Job" and job["apiVersion"] == "batch/v1"
    spec = job["spec"]
    assert spec["completions"] == spec["parallelism"] == 64
    assert spec["completionMode"] == "Indexed" and spec["activeDeadlineSeconds"] == 7200
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/lab/segevo:1.0"
    argv = container["command"] + container["args"]
    assert argv[:2] == ["segevo", "evaluator"]
    assert argv[argv.index("--connect") + 1] == "10.1.2.3:7700"
    token_file = argv[argv.index("--token-file") + 1]
    mount = container["volumeMounts"][0]
    assert token_file == f"{mount['mountPath']}/token" and mount["readOnly"] is True
    assert pod["volumes"][0]["secret"]["secretName"] == secret["metadata"]["name"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 1}
    assert "$(JOB_COMPLETION_INDEX)" in argv[argv.index("--name") + 1]
    # The token is in the Secret only: not in the Job, not on any command line.
    assert token not in json.dumps(job)
    assert not (run_dir / "fleet.json").exists()  # a dry run records nothing


def test_k8s_without_dry_run_or_image_says_what_to_do(run_dir):
    code, _, err = _fleet(str(run_dir), "--executor", "k8s")
    assert code == 1 and "kubectl apply" in _error_line(err)
    code, _, err = _fleet(str(run_dir), "--executor", "k8s", "--dry-run")
    assert code == 1 and "--image" in _error_line(err)
    code, _, err = _fleet(str(run_dir), "--executor", "k8s", "--dry-run", "--image", "a b")
    assert code == 1 and "--image" in _error_line(err)
    code, _, err = _fleet(
        str(run_dir), "--executor", "k8s", "--dry-run", "--image", "i", "--namespace", "Bad_NS"
    )
    assert code == 1 and "--namespace 'Bad_NS' is not a Kubernetes name" in _error_line(err)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--workers", "0"], "--workers must be an integer in 1..10000, got 0"),
        (["--gpus-per-worker", "-1"], "--gpus-per-worker must be"),
        (["--give-up-after", "nan"], "--give-up-after must be a finite number"),
        (["--time", "0"], "--time must be 1..525600 minutes"),
        (["--connect", "nohost"], "--connect: endpoint 'nohost' has no port"),
        (["--connect", "h:0"], "port 0 is not an address"),
        (["--partition", "gpu"], "--partition is a Slurm option"),
        (["--token-file", "/no/such/token"], "--token-file /no/such/token does not exist"),
    ],
)
def test_bad_input_is_one_line_naming_the_problem(run_dir, args, needle):
    code, _, err = _fleet(str(run_dir), *args)
    assert code != 0
    assert needle in _error_line(err)


def test_a_run_without_a_coordinator_or_not_a_run(tmp_path, run_dir):
    (run_dir / "endpoint.json").unlink()
    code, _, err = _fleet(str(run_dir), "--workers", "2")
    line = _error_line(err)
    assert code == 1 and "no coordinator is running" in line and "--connect" in line
    code, _, err = _fleet(str(tmp_path), "--status")
    assert code == 1 and "not a segevo run directory" in _error_line(err)
    code, _, err = _fleet(str(run_dir), "--status", "--stop")
    assert code == 2 and "exclude each other" in err


def test_missing_extras_name_the_install_command(run_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit -> ImportError
    code, _, err = _fleet(str(run_dir), "--executor", "slurm", "--workers", "2")
    assert code == 1
    assert "pip install 'segevo[slurm]'" in _error_line(err)
    code, _, err = _fleet(str(run_dir), "--executor", "local")
    assert "pip install 'segevo[slurm]'" in _error_line(err)
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.job_submission", None)
    code, _, err = _fleet(str(run_dir), "--executor", "ray", "--ray-address", "http://h:1")
    assert code == 1 and "pip install 'segevo[ray]'" in _error_line(err)


def test_dry_runs_show_the_commands_without_the_token(run_dir):
    token = (run_dir / "token").read_text().strip()
    code, out, _ = _fleet(str(run_dir), "--executor", "slurm", "--dry-run", "--workers", "3")
    assert code == 0
    planned = json.loads(out)
    assert [p["name"] for p in planned] == ["fleet-slurm-0", "fleet-slurm-1", "fleet-slurm-2"]
    argv = planned[0]["command"]
    assert argv[argv.index("--token-file") + 1] == str((run_dir / "token").resolve())
    assert argv[argv.index("--give-up-after") + 1] == "600"
    code, out, err = _fleet(
        str(run_dir), "--executor", "ray", "--dry-run", "--ray-address", "http://head:8265"
    )
    assert code == 0 and token not in out
    (job,) = json.loads(out)
    assert "--token-file segevo-token" in job["entrypoint"]
    assert "warning:" not in err  # 10.1.2.3 is not loopback


def test_a_wildcard_endpoint_becomes_this_host_and_loopback_warns(run_dir):
    import socket

    rundir = RunDir.open(run_dir)
    rundir.write_endpoint(Endpoint("0.0.0.0", 7700))
    code, out, _ = _fleet(str(run_dir), "--executor", "slurm", "--dry-run")
    argv = json.loads(out)[0]["command"]
    assert code == 0 and argv[argv.index("--connect") + 1] == f"{socket.getfqdn()}:7700"
    rundir.write_endpoint(Endpoint("127.0.0.1", 7700))
    code, out, err = _fleet(str(run_dir), "--executor", "slurm", "--dry-run")
    assert code == 0 and "warning: the coordinator listens on 127.0.0.1:7700 (loopback)" in err


def test_the_record_round_trips_and_refuses_damage(run_dir):
    rundir = RunDir.open(run_dir)
    assert load_jobs(rundir) == []
    jobs = [
        JobRecord(executor="slurm", job_id="42_0", name="fleet-slurm-0", folder="/x"),
        JobRecord(executor="slurm", job_id="42_1", name="fleet-slurm-1", folder="/x"),
        JobRecord(executor="ray", job_id="segevo-r-0", name="fleet-ray-0", address="http://h"),
    ]
    save_jobs(rundir, jobs)
    assert load_jobs(rundir) == jobs
    assert next_index(jobs, "slurm") == 2 and next_index(jobs, "ray") == 1
    assert next_index(jobs, "local") == 0
    assert not list(run_dir.glob(".fleet.json*"))  # written aside, then renamed
    code, out, _ = _fleet(str(run_dir), "--status", "--json")
    assert code == 0 and [j["job_id"] for j in json.loads(out)] == ["42_0", "42_1", "segevo-r-0"]
    (run_dir / "fleet.json").write_text('{"format": "segevo-fleet", "version": 1, "jobs": 3}')
    code, _, err = _fleet(str(run_dir), "--status")
    line = _error_line(err)
    assert code == 1 and "fleet.json is damaged" in line and "belongs to run None" in line
    (run_dir / "fleet.json").write_text("{not json")
    code, _, err = _fleet(str(run_dir), "--stop")
    assert code == 1 and "fleet.json is damaged" in _error_line(err)


def test_status_of_a_run_without_a_fleet(run_dir):
    code, out, err = _fleet(str(run_dir), "--status")
    assert code == 0 and out == "" and "no fleet jobs recorded" in err


def test_a_run_directory_on_an_object_store_keeps_its_record_there(tmp_path):
    url = f"memory://segevo-fleet-test/{tmp_path.name}/run"
    try:
        rundir = RunDir.create(url, RunConfig(problem="synthetic"))
    except ValueError as exc:  # a segevo without object-store run directories
        pytest.skip(f"run directories on object stores are not available: {exc}")
    rundir.write_endpoint(Endpoint("10.1.2.3", 7700))
    code, _, err = _fleet(url, "--executor", "slurm", "--dry-run")
    assert code == 1 and "give --log-dir DIR" in _error_line(err)
    code, out, _ = _fleet(url, "--executor", "slurm", "--dry-run", "--log-dir", str(tmp_path))
    argv = json.loads(out)[0]["command"]
    # The jobs cannot read memory://: they get a copy of the token next to their logs.
    assert code == 0 and argv[argv.index("--token-file") + 1] == str(tmp_path / "token")
    save_jobs(RunDir.open(url), [JobRecord(executor="ray", job_id="j-1", name="fleet-ray-0")])
    assert [j.job_id for j in load_jobs(RunDir.open(url))] == ["j-1"]
    code, out, _ = _fleet(url, "--status", "--json")
    assert code == 0 and json.loads(out)[0]["job_id"] == "j-1"
