"""Evaluator fleets: many ``segevo evaluator`` jobs launched through a cluster's own engine.

``segevo fleet RUN_DIR --executor local|slurm|ray --workers N`` submits N evaluator jobs
that attach to the run's coordinator (address and token read from RUN_DIR); the job ids
go to ``RUN_DIR/fleet.json``, from which ``--status`` and ``--stop`` work.

- ``local``, ``slurm``: submitit (:mod:`.submitit_backend`; a Slurm job array);
- ``ray``: Ray Jobs (:mod:`.ray_backend`);
- ``k8s``: a manifest to apply (:mod:`.k8s`), nothing is submitted.

A job that dies or is pre-empted loses nothing: the coordinator re-queues the leases of
a connection that closes; a job that cannot reach the coordinator for
``--give-up-after`` seconds exits with a message naming the address and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segevo.engine.fleet.record import JobRecord, load_jobs, next_index, save_jobs
from segevo.engine.fleet.spec import (
    EXECUTORS,
    FleetError,
    FleetTarget,
    MissingExtra,
    WorkerSpec,
    local_folder,
    loopback_warning,
    open_target,
)

SUBMITIT_EXECUTORS = ("local", "slurm")


@dataclass(frozen=True)
class JobStatus:
    """One job of a fleet as its engine reports it now."""

    record: JobRecord
    state: str
    detail: str = ""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


ACTIVE_STATES = frozenset(
    {
        "RUNNING",
        "PENDING",
        "CONFIGURING",
        "COMPLETING",
        "REQUEUED",
        "RESIZING",
        "SUSPENDED",
        "STOPPING",
    }
)


def log_folder(run_dir: str, executor: str, log_dir: str | Path | None) -> Path:
    """Where submitit keeps a fleet's scripts, logs and results."""
    if log_dir is not None:
        return Path(log_dir).resolve()
    folder = local_folder(run_dir)
    if folder is None:
        raise FleetError(
            f"{run_dir} is not a local folder, so the job logs cannot go inside it: give "
            "--log-dir DIR (a folder the jobs' nodes can write)"
        )
    return folder.resolve() / "fleet" / executor


def launch(
    run_dir: str | Path,
    executor: str,
    spec: WorkerSpec,
    *,
    connect: str | None = None,
    token_file: str | Path | None = None,
    log_dir: str | Path | None = None,
    ray_address: str | None = None,
) -> tuple[list[JobRecord], list[str]]:
    """Submit the jobs and record them; returns the new records and any warnings."""
    from segevo.engine.rundir import RunDir

    if executor not in EXECUTORS:
        raise FleetError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if executor == "k8s":
        raise FleetError(
            "segevo does not submit to Kubernetes itself: print the manifest with "
            "`segevo fleet RUN_DIR --executor k8s --dry-run --image IMAGE` and apply it with "
            "`kubectl apply -f -`"
        )
    target = open_target(run_dir, connect=connect, token_file=token_file)
    rundir = RunDir.open(str(run_dir))
    warnings = [w for w in [loopback_warning(target, executor)] if w]
    jobs = load_jobs(rundir)
    first = next_index(jobs, executor)
    if executor in SUBMITIT_EXECUTORS:
        from segevo.engine.fleet import submitit_backend

        new = submitit_backend.launch(
            executor, target, spec, first, log_folder(target.run_dir, executor, log_dir)
        )
    else:
        from segevo.engine.fleet import ray_backend

        new = ray_backend.launch(target, spec, first, ray_backend.ray_address(ray_address))
        if len(new) < spec.workers:
            warnings.append(f"Ray accepted only {len(new)} of {spec.workers} jobs")
    save_jobs(rundir, [*jobs, *new])
    return new, warnings


def plan(
    run_dir: str | Path,
    executor: str,
    spec: WorkerSpec,
    *,
    connect: str | None = None,
    token_file: str | Path | None = None,
    log_dir: str | Path | None = None,
    ray_address: str | None = None,
    image: str | None = None,
    namespace: str = "default",
) -> tuple[Any, list[str]]:
    """What ``launch`` would submit (``--dry-run``); for k8s, the manifest documents."""
    from segevo.engine.rundir import RunDir

    if executor not in EXECUTORS:
        raise FleetError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    target = open_target(run_dir, connect=connect, token_file=token_file)
    warnings = [w for w in [loopback_warning(target, executor)] if w]
    if executor == "k8s":
        from segevo.engine.fleet import k8s

        if image is None:
            raise FleetError(
                "--executor k8s needs --image IMAGE (a container image with segevo installed)"
            )
        return k8s.manifest(target, spec, image=image, namespace=namespace), warnings
    first = next_index(load_jobs(RunDir.open(str(run_dir))), executor)
    if executor in SUBMITIT_EXECUTORS:
        from segevo.engine.fleet import submitit_backend

        folder = log_folder(target.run_dir, executor, log_dir)
        return submitit_backend.plan(executor, target, spec, first, folder), warnings
    from segevo.engine.fleet import ray_backend

    address = ray_backend.ray_address(ray_address)
    return ray_backend.plan(target, spec, first, address), warnings


def status(run_dir: str | Path) -> list[JobStatus]:
    """Every recorded job with its state now (asked of its engine)."""
    from segevo.engine.rundir import RunDir

    records = load_jobs(RunDir.open(str(run_dir)))
    found: dict[str, tuple[str, str]] = {}
    submitit_records = [r for r in records if r.executor in SUBMITIT_EXECUTORS]
    ray_records = [r for r in records if r.executor == "ray"]
    if submitit_records:
        from segevo.engine.fleet import submitit_backend

        found.update(submitit_backend.states(submitit_records))
    if ray_records:
        from segevo.engine.fleet import ray_backend

        found.update(ray_backend.states(ray_records))
    return [JobStatus(r, *found.get(r.job_id, ("UNKNOWN", "no engine for it"))) for r in records]


def stop(run_dir: str | Path) -> list[JobStatus]:
    """Cancel every recorded job still pending or running; returns those cancelled."""
    import time

    from segevo.engine.rundir import RunDir

    rundir = RunDir.open(str(run_dir))
    current = status(run_dir)
    to_stop = [s for s in current if s.active]
    submitit_records = [s.record for s in to_stop if s.record.executor in SUBMITIT_EXECUTORS]
    ray_records = [s.record for s in to_stop if s.record.executor == "ray"]
    if submitit_records:
        from segevo.engine.fleet import submitit_backend

        submitit_backend.stop(submitit_records)
    if ray_records:
        from segevo.engine.fleet import ray_backend

        ray_backend.stop(ray_records)
    now = time.time()
    stopped_ids = {s.record.job_id for s in to_stop}
    records = load_jobs(rundir)
    for record in records:
        if record.job_id in stopped_ids:
            record.stopped = now
    save_jobs(rundir, records)
    return to_stop


__all__ = [
    "EXECUTORS",
    "FleetError",
    "FleetTarget",
    "JobRecord",
    "JobStatus",
    "MissingExtra",
    "WorkerSpec",
    "launch",
    "log_folder",
    "plan",
    "status",
    "stop",
]
