"""Fleets as Ray jobs (``--executor ray``), through Ray's job server (Ray Jobs).

Each worker is one Ray job whose entrypoint is ``segevo evaluator ...``, submitted with
``entrypoint_num_gpus`` (``--gpus-per-worker``) and ``entrypoint_num_cpus``, so Ray
starts it on a node with the resources free and sets ``CUDA_VISIBLE_DEVICES`` for it.
segevo must be installed on the cluster's nodes (the same version as the coordinator's).

The token travels in the job's ``working_dir`` (a folder holding only the token file,
uploaded to the cluster by Ray), unless ``--token-file`` names a path the nodes can read:
never on a command line, where ``ray job list`` would show it.
"""

from __future__ import annotations

import os
import secrets
import shlex
import tempfile
from pathlib import Path
from typing import Any

from segevo.engine.fleet.record import JobRecord
from segevo.engine.fleet.spec import FleetError, FleetTarget, WorkerSpec, evaluator_args, require

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
SHIPPED_TOKEN = "segevo-token"
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def ray_address(address: str | None) -> str:
    """``--ray-address``, else ``$RAY_API_SERVER_ADDRESS``, ``$RAY_ADDRESS``, or the default."""
    return (
        address
        or os.environ.get("RAY_API_SERVER_ADDRESS")
        or os.environ.get("RAY_ADDRESS")
        or DEFAULT_ADDRESS
    )


def _client(address: str) -> Any:
    job_submission = require("ray.job_submission", "ray")
    try:
        return job_submission.JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise FleetError(
            f"cannot reach Ray's job server at {address} ({' '.join(str(exc).split())[:300]}); "
            "start the cluster (`ray start --head`) or give --ray-address http://HEAD:8265"
        ) from None


def _shipped(target: FleetTarget) -> bool:
    """Whether the token travels with the job (Ray's nodes may not see RUN_DIR)."""
    return not (target.token_file_given and target.token_file)


def entrypoint(target: FleetTarget, name: str, spec: WorkerSpec) -> str:
    """The job's shell command (the token file is the shipped one unless given)."""
    token_file = SHIPPED_TOKEN if _shipped(target) else str(target.token_file)
    return shlex.join(["segevo", *evaluator_args(target, name, spec, token_file=token_file)])


def plan(target: FleetTarget, spec: WorkerSpec, first: int, address: str) -> list[dict[str, Any]]:
    """What :func:`launch` would submit (for ``--dry-run``)."""
    return [
        {
            "name": f"fleet-ray-{i}",
            "entrypoint": entrypoint(target, f"fleet-ray-{i}", spec),
            "entrypoint_num_gpus": spec.gpus_per_worker,
            "entrypoint_num_cpus": spec.cpus_per_worker,
            "address": address,
            "token": "shipped in working_dir" if _shipped(target) else target.token_file,
        }
        for i in range(first, first + spec.workers)
    ]


def launch(target: FleetTarget, spec: WorkerSpec, first: int, address: str) -> list[JobRecord]:
    """Submit ``spec.workers`` Ray jobs; their submission ids are the job ids."""
    if spec.partition:
        raise FleetError("--partition is a Slurm option; Ray places jobs by their resources")
    client = _client(address)
    records: list[JobRecord] = []
    with tempfile.TemporaryDirectory(prefix="segevo-fleet-") as shipped:
        runtime_env: dict[str, Any] = {}
        if _shipped(target):
            token_path = Path(shipped) / SHIPPED_TOKEN
            fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(target.token + b"\n")
            runtime_env["working_dir"] = shipped
        for i in range(first, first + spec.workers):
            name = f"fleet-ray-{i}"
            submission_id = f"segevo-{target.run_id}-{i}-{secrets.token_hex(3)}"
            try:
                job_id = client.submit_job(
                    entrypoint=entrypoint(target, name, spec),
                    submission_id=submission_id,
                    runtime_env=runtime_env or None,
                    entrypoint_num_gpus=spec.gpus_per_worker or None,
                    entrypoint_num_cpus=spec.cpus_per_worker,
                    entrypoint_memory=(
                        int(spec.memory_gb * 2**30) if spec.memory_gb is not None else None
                    ),
                    metadata={"segevo_run": target.run_id, "segevo_worker": name},
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                if records:
                    break  # keep what was submitted; the caller records it
                raise FleetError(
                    f"Ray refused the job ({' '.join(str(exc).split())[:500]})"
                ) from None
            records.append(
                JobRecord(
                    executor="ray",
                    job_id=str(job_id),
                    name=name,
                    address=address,
                    gpus=spec.gpus_per_worker,
                )
            )
    return records


def states(records: list[JobRecord]) -> dict[str, tuple[str, str]]:
    """``{job_id: (state, detail)}`` from Ray's job server."""
    out: dict[str, tuple[str, str]] = {}
    clients: dict[str, Any] = {}
    for record in records:
        address = record.address or DEFAULT_ADDRESS
        try:
            client = clients.get(address) or clients.setdefault(address, _client(address))
            info = client.get_job_info(record.job_id)
        except FleetError as exc:
            out[record.job_id] = ("UNKNOWN", str(exc))
            continue
        except RuntimeError as exc:  # the server forgot the job (a new cluster)
            out[record.job_id] = ("UNKNOWN", " ".join(str(exc).split())[:200])
            continue
        status = str(getattr(info.status, "value", info.status))
        detail = info.message or ""
        if record.stopped and status == "PENDING":
            # Ray leaves a job that never started PENDING after stop_job
            # (ray-project/ray#58353) until its start timeout fails it.
            status, detail = (
                "STOPPING",
                (
                    "stop requested before it started; Ray keeps it PENDING until its start "
                    "timeout (RAY_JOB_START_TIMEOUT_SECONDS) fails it"
                ),
            )
        out[record.job_id] = (status, detail)
    return out


def stop(records: list[JobRecord]) -> None:
    """Stop every Ray job that is not over yet."""
    clients: dict[str, Any] = {}
    for record in records:
        address = record.address or DEFAULT_ADDRESS
        client = clients.get(address) or clients.setdefault(address, _client(address))
        try:
            client.stop_job(record.job_id)
        except RuntimeError as exc:
            if "does not exist" not in str(exc):
                raise FleetError(f"Ray could not stop {record.job_id}: {exc}") from None


__all__ = ["DEFAULT_ADDRESS", "entrypoint", "launch", "plan", "ray_address", "states", "stop"]
