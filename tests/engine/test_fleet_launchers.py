"""Evaluator fleets launched into live runs: submitit's local executor, Slurm, Ray Jobs.

Real coordinators on loopback, real ``segevo evaluator`` processes started by the
engines (submitit's local controller, a single-node slurmctld + slurmd, a Ray head), and
the answers are the archive's rows and the engines' own job states.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from segevo.engine import fleet
from segevo.engine.archive import open_archive
from segevo.engine.client import query_once
from segevo.engine.rundir import read_token
from segevo.engine.wire import parse_endpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_helpers import segevo, subprocess_env, write_config
from fleet_helpers import ray_head, single_node_slurm, slurm_available
from support import (
    assert_exactly_once,
    committed_rows,
    endpoint_of,
    events,
    stop,
    wait_for,
    write_table,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX, /proc")


def _run(tmp_path: Path, *, evaluations: int, delay_s: float) -> tuple[Path, Path]:
    """A run config with no local evaluator: only fleet jobs can finish it."""
    write_table(tmp_path / "t.csv", (4, 4, 4))
    config = write_config(
        tmp_path / "run.toml",
        problem="engine_helpers:delayed_table",
        problem_options={"path": str(tmp_path / "t.csv"), "delay_s": delay_s},
        strategy="random",
        initial=6,
        batch=4,
        evaluations=evaluations,
        evaluators=0,
        lease_s=5.0,
        heartbeat_s=1.0,
    )
    return config, tmp_path / "run"


def _fleet(run_dir: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``segevo fleet RUN_DIR ARGS --json`` in a child process; its parsed output."""
    result = subprocess.run(
        [sys.executable, "-m", "segevo.cli.main", "fleet", str(run_dir), *args, "--json"],
        env={**subprocess_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return {"out": json.loads(result.stdout), "err": result.stderr}


def _states(run_dir: Path) -> dict[str, str]:
    """``{job_id: state}`` as ``segevo fleet --status`` reports them (in this process)."""
    return {job.record.job_id: job.state for job in fleet.status(run_dir)}


def _status(run_dir: Path) -> dict:
    endpoint = parse_endpoint(endpoint_of(run_dir))
    return query_once(endpoint, read_token(run_dir / "token"), "status")


def _connected(run_dir: Path, prefix: str) -> set[str]:
    return {
        e["evaluator"].split("@")[0]
        for e in events(run_dir)
        if e["event"] == "evaluator_connected" and e["evaluator"].startswith(prefix)
    }


def _leases(run_dir: Path, name: str) -> list[int]:
    return [
        lease["task"]
        for lease in _status(run_dir)["leases"]
        if lease["evaluator"].startswith(f"{name}@")
    ]


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_local_fleet_is_listed_cancelled_relaunched_and_loses_nothing(tmp_path):
    config, run_dir = _run(tmp_path, evaluations=30, delay_s=0.3)
    log = tmp_path / "log.txt"
    run = segevo("run", "--config", str(config), "--run-dir", str(run_dir), log=log)
    try:
        wait_for(lambda: endpoint_of(run_dir), 60, "the endpoint file")
        first = _fleet(run_dir, "--workers", "2", "--give-up-after", "30")["out"]
        assert [job["name"] for job in first] == ["fleet-local-0", "fleet-local-1"]
        states = _states(run_dir)
        assert list(states) == [job["job_id"] for job in first]
        assert set(states.values()) == {"RUNNING"}, states
        wait_for(lambda: committed_rows(run_dir) >= 4, 60, "fleet rows")
        wait_for(
            lambda: _leases(run_dir, "fleet-local-0") and _leases(run_dir, "fleet-local-1"),
            30,
            "both fleet evaluators holding a task",
        )
        stopped = _fleet(run_dir, "--stop")["out"]
        assert sorted(stopped) == sorted(job["job_id"] for job in first)
        # The engines' processes are gone: the coordinator sees no evaluator any more.
        wait_for(lambda: _status(run_dir)["evaluators_connected"] == 0, 30, "disconnects")
        assert run.poll() is None  # the run waits, unfinished, for evaluators
        wait_for(lambda: set(_states(run_dir).values()) == {"CANCELLED"}, 30, "cancelled jobs")
        for job in first:  # no controller process is left
            assert not Path(f"/proc/{job['job_id']}/cmdline").exists() or (
                b"submitit" not in Path(f"/proc/{job['job_id']}/cmdline").read_bytes()
            )
        # A new launch continues the numbering and finishes the run.
        second = _fleet(run_dir, "--workers", "1")["out"]
        assert [job["name"] for job in second] == ["fleet-local-2"]
        assert run.wait(120) == 0, log.read_text()
    finally:
        stop(run)
    data = open_archive(run_dir)
    assert_exactly_once(data, 30)
    requeued = {
        task
        for e in events(run_dir)
        if e["event"] == "requeued" and e["evaluator"].startswith("fleet-local-")
        for task in e["tasks"]
    }
    # What the cancelled jobs were evaluating went back to the queue, and was archived once.
    assert requeued
    ids = data["task_id"].tolist()
    assert all(ids.count(task) == 1 for task in requeued)
    names = {n.split("@")[0] for n in data.evaluator_names}
    assert "fleet-local-2" in names and names <= {"fleet-local-0", "fleet-local-1", "fleet-local-2"}
    # The last evaluator saw the run finish and exited 0: submitit recorded its result.
    wait_for(lambda: _states(run_dir)[second[0]["job_id"]] == "COMPLETED", 60, "the last job")
    listed = _fleet(run_dir, "--status")["out"]
    assert [job["name"] for job in listed] == ["fleet-local-0", "fleet-local-1", "fleet-local-2"]
    assert [job["state"] for job in listed] == ["CANCELLED", "CANCELLED", "COMPLETED"]
    assert "exit code 0" in listed[2]["detail"]
    record = json.loads((run_dir / "fleet.json").read_text())
    assert [job["job_id"] for job in record["jobs"]] == [j["job_id"] for j in first + second]


def test_fleet_job_gives_up_on_an_unreachable_coordinator_and_says_why(tmp_path):
    from segevo.engine.config import RunConfig
    from segevo.engine.rundir import RunDir

    run_dir = tmp_path / "run"
    RunDir.create(run_dir, RunConfig(problem="synthetic")).close()  # no coordinator runs
    port = _dead_port()
    job = _fleet(
        run_dir, "--connect", f"127.0.0.1:{port}", "--give-up-after", "1", "--workers", "1"
    )["out"][0]
    wait_for(lambda: _states(run_dir)[job["job_id"]] != "RUNNING", 60, "the job to give up")
    final = _fleet(run_dir, "--status")["out"][0]
    assert final["state"] == "FAILED" and "exited with code 1" in final["detail"], final
    err = Path(job["folder"], f"{job['job_id']}_0_log.err").read_text()
    assert f"cannot reach the coordinator at 127.0.0.1:{port}" in err
    assert "--give-up-after 1" in err and "ConnectionRefusedError" in err  # and the reason


@pytest.mark.skipif(not slurm_available(), reason="Slurm (slurmctld, slurmd) is not installed")
def test_slurm_fleet_job_preempted_mid_task_loses_nothing(tmp_path, monkeypatch):
    config, run_dir = _run(tmp_path, evaluations=36, delay_s=0.25)
    log = tmp_path / "log.txt"
    with single_node_slurm() as slurm_env:
        monkeypatch.setenv("SLURM_CONF", slurm_env["SLURM_CONF"])  # squeue in this process
        run = segevo("run", "--config", str(config), "--run-dir", str(run_dir), log=log)
        try:
            wait_for(lambda: endpoint_of(run_dir), 60, "the endpoint file")
            jobs = _fleet(
                run_dir, "--executor", "slurm", "--workers", "2", "--time", "30", env=slurm_env
            )["out"]
            # One job array, one task per worker.
            assert len({job["job_id"].split("_")[0] for job in jobs}) == 1
            wait_for(lambda: len(_connected(run_dir, "fleet-slurm-")) == 2, 90, "both jobs")
            victim = jobs[0]
            wait_for(lambda: _leases(run_dir, victim["name"]), 30, "the victim to hold a task")
            # What Slurm sends before pre-empting a job (or at its time limit): submitit
            # requeues it, and the connection's leases go back to the queue.
            subprocess.run(
                ["scancel", "--signal=USR2", victim["job_id"]],
                env={**os.environ, **slurm_env},
                check=True,
            )

            wait_for(
                lambda: _states(run_dir)[victim["job_id"]] == "PENDING",
                60,
                "the pre-empted job to be requeued",
            )
            assert run.wait(120) == 0, log.read_text()
            stopped = _fleet(run_dir, "--stop", env=slurm_env)["out"]
            assert victim["job_id"] in stopped
        finally:
            stop(run)
        listed = {
            j["job_id"]: j["state"] for j in _fleet(run_dir, "--status", env=slurm_env)["out"]
        }
        assert listed[victim["job_id"]] in {"CANCELLED", "COMPLETED"}
    data = open_archive(run_dir)
    assert_exactly_once(data, 36)
    requeued = {
        task
        for e in events(run_dir)
        if e["event"] == "requeued" and e["evaluator"].startswith(f"{victim['name']}@")
        for task in e["tasks"]
    }
    assert requeued  # the task it was evaluating went back to the queue...
    ids = data["task_id"].tolist()
    assert all(ids.count(task) == 1 for task in requeued)  # ...and was archived once
    assert {n.split("@")[0] for n in data.evaluator_names} <= {"fleet-slurm-0", "fleet-slurm-1"}
    log_out = Path(victim["folder"], f"{victim['job_id']}_0_log.out").read_text()
    assert "Requeued job" in log_out


def test_ray_fleet_finishes_a_run_and_stops_jobs(tmp_path):
    from ray.job_submission import JobSubmissionClient

    config, run_dir = _run(tmp_path, evaluations=30, delay_s=0.3)
    log = tmp_path / "log.txt"
    with ray_head(num_cpus=2, num_gpus=2) as address:
        run = segevo("run", "--config", str(config), "--run-dir", str(run_dir), log=log)
        try:
            wait_for(lambda: endpoint_of(run_dir), 60, "the endpoint file")
            jobs = _fleet(
                run_dir,
                "--executor",
                "ray",
                "--workers",
                "2",
                "--gpus-per-worker",
                "1",
                "--ray-address",
                address,
            )["out"]
            assert [job["name"] for job in jobs] == ["fleet-ray-0", "fleet-ray-1"]
            wait_for(lambda: len(_connected(run_dir, "fleet-ray-")) == 2, 120, "both Ray jobs")
            assert run.wait(180) == 0, log.read_text()
            client = JobSubmissionClient(address)
            token = read_token(run_dir / "token").decode()
            for job in jobs:
                assert token not in client.get_job_info(job["job_id"]).entrypoint
            wait_for(
                lambda: set(_states(run_dir).values()) == {"SUCCEEDED"}, 60, "the jobs to succeed"
            )
            listed = _fleet(run_dir, "--status")["out"]
            assert [job["state"] for job in listed] == ["SUCCEEDED", "SUCCEEDED"]
            # --gpus-per-worker reaches Ray's scheduler: 3 GPUs on a 2-GPU cluster stay
            # pending (the two 1-GPU workers above ran side by side).
            # (In this process, to spare two imports of Ray: the CLI calls the same.)
            options = {"connect": f"127.0.0.1:{_dead_port()}", "ray_address": address}
            spec = fleet.WorkerSpec(workers=1, gpus_per_worker=3)
            greedy = asdict(fleet.launch(run_dir, "ray", spec, **options)[0][0])
            assert greedy["name"] == "fleet-ray-2" and greedy["gpus"] == 3
            # A job for a coordinator that is gone keeps retrying until --stop ends it.
            spec = fleet.WorkerSpec(workers=1, gpus_per_worker=1)
            straggler = asdict(fleet.launch(run_dir, "ray", spec, **options)[0][0])
            wait_for(
                lambda: client.get_job_status(straggler["job_id"]).value == "RUNNING",
                60,
                "the straggler to run",
            )
            assert client.get_job_status(greedy["job_id"]).value == "PENDING"
            stopped = _fleet(run_dir, "--stop")["out"]
            assert sorted(stopped) == sorted([greedy["job_id"], straggler["job_id"]])
            wait_for(
                lambda: client.get_job_status(straggler["job_id"]).value == "STOPPED",
                60,
                "Ray to stop the job",
            )
            states = _states(run_dir)
            assert states[straggler["job_id"]] == "STOPPED"
            # Ray does not stop a job that never started (ray-project/ray#58353): reported.
            assert states[greedy["job_id"]] in {"STOPPING", "STOPPED"}
        finally:
            stop(run)
            if run.poll() is None:
                run.send_signal(signal.SIGKILL)
    data = open_archive(run_dir)
    assert_exactly_once(data, 30)
    assert {n.split("@")[0] for n in data.evaluator_names} == {"fleet-ray-0", "fleet-ray-1"}


def test_evaluator_gives_up_on_a_port_that_never_welcomes_it(tmp_path):
    # A listener that accepts and hangs up at once (not a coordinator): every attempt
    # connects, none reaches the welcome. That counts as unreachable (it used to reset the
    # clock at each TCP connect, retrying for ever).
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    stop_flag = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop_flag.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    token = tmp_path / "token"
    token.write_text("0" * 64 + "\n")
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "segevo.cli.main",
                "evaluator",
                "--connect",
                f"127.0.0.1:{port}",
                "--token-file",
                str(token),
                "--give-up-after",
                "1",
            ],
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        stop_flag.set()
        thread.join(5)
        listener.close()
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: cannot reach the coordinator at 127.0.0.1:{port}")
    assert "last attempt:" in line and "Traceback" not in result.stderr
