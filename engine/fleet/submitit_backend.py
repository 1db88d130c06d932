"""Fleets through submitit: ``--executor slurm`` (a job array) and ``--executor local``.

Each job runs :class:`~segevo.engine.fleet.worker.EvaluatorJob`; submitit writes its
submission, logs and result under ``FOLDER/%j`` (``FOLDER`` is ``RUN_DIR/fleet/EXECUTOR``
unless ``--log-dir`` says otherwise; on Slurm it must be on a file system the nodes see).

States come from the engines themselves: ``squeue`` for Slurm jobs still known to the
controller, the controller process for local jobs, and submitit's result file for jobs
that ended (``COMPLETED``, or ``FAILED`` with the reason).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from segevo.engine.fleet.record import JobRecord
from segevo.engine.fleet.spec import FleetError, FleetTarget, WorkerSpec, evaluator_argv, require
from segevo.engine.fleet.worker import EvaluatorJob

DEFAULT_TIME_MIN = 240
"""Wall time per job when ``--time`` is not given; jobs requeue themselves at the limit."""
MAX_REQUEUES = 100
"""Time-limit requeues per job (pre-emption requeues are not counted by submitit)."""
TOKEN_COPY = "token"


def _token_file_for_jobs(target: FleetTarget, folder: Path) -> str:
    """A token file the jobs can read: the run's own, or a 0600 copy next to the logs."""
    if target.token_file is not None:
        return target.token_file
    copy = folder / TOKEN_COPY
    fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(target.token + b"\n")
    return str(copy)


def local_gpus() -> list[int]:
    """This machine's GPU indices: ``$CUDA_VISIBLE_DEVICES`` when set, else ``nvidia-smi -L``."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        parts = [p.strip() for p in visible.split(",") if p.strip()]
        if not all(p.isdigit() for p in parts):
            raise FleetError(
                f"CUDA_VISIBLE_DEVICES={visible!r} holds names, not GPU indices; set it to "
                "indices (e.g. 0,1,2,3) to split this machine's GPUs between local workers"
            )
        return [int(p) for p in parts]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [i for i, line in enumerate(ln for ln in listing.splitlines() if ln.startswith("GPU "))]


def make_executor(executor: str, folder: Path, spec: WorkerSpec) -> Any:
    """A submitit executor with the fleet's resources."""
    submitit = require("submitit", executor)
    if executor == "slurm" and shutil.which("sbatch") is None:
        raise FleetError(
            "--executor slurm needs Slurm's `sbatch` on PATH (run `segevo fleet` on a login "
            "node of the cluster), or use --executor local"
        )
    executor_obj = submitit.AutoExecutor(
        folder=folder, cluster=executor, slurm_max_num_timeout=MAX_REQUEUES
    )
    parameters: dict[str, Any] = {
        "timeout_min": spec.time_min or DEFAULT_TIME_MIN,
        "cpus_per_task": spec.cpus_per_worker,
        "tasks_per_node": 1,
        "nodes": 1,
        "name": "segevo-evaluator",
    }
    if spec.gpus_per_worker:
        parameters["gpus_per_node"] = spec.gpus_per_worker
    if spec.memory_gb is not None:
        parameters["mem_gb"] = spec.memory_gb
    if executor == "slurm":
        if spec.partition:
            parameters["slurm_partition"] = spec.partition
        parameters["slurm_array_parallelism"] = spec.workers
    elif spec.partition:
        raise FleetError("--partition is a Slurm option; --executor local has no partitions")
    try:
        executor_obj.update_parameters(**parameters)
    except (ValueError, AssertionError, NameError) as exc:
        raise FleetError(f"submitit refused the job parameters: {exc}") from None
    return executor_obj


def plan(
    executor: str, target: FleetTarget, spec: WorkerSpec, first: int, folder: Path
) -> list[dict[str, Any]]:
    """What :func:`launch` would submit (for ``--dry-run``), without submitting."""
    token_file = target.token_file or str(folder / TOKEN_COPY)
    return [
        {
            "name": f"fleet-{executor}-{i}",
            "command": evaluator_argv(target, f"fleet-{executor}-{i}", spec, token_file=token_file),
            "gpus": spec.gpus_per_worker,
            "cpus": spec.cpus_per_worker,
            "time_min": spec.time_min or DEFAULT_TIME_MIN,
            "partition": spec.partition,
            "folder": str(folder),
        }
        for i in range(first, first + spec.workers)
    ]


def launch(
    executor: str, target: FleetTarget, spec: WorkerSpec, first: int, folder: Path
) -> list[JobRecord]:
    """Submit ``spec.workers`` evaluator jobs (one Slurm job array; local processes)."""
    folder.mkdir(parents=True, exist_ok=True)
    submitter = make_executor(executor, folder, spec)
    token_file = _token_file_for_jobs(target, folder)
    workers = []
    for i in range(first, first + spec.workers):
        name = f"fleet-{executor}-{i}"
        workers.append(
            (name, EvaluatorJob(evaluator_argv(target, name, spec, token_file=token_file), name))
        )
    try:
        with _controllers_detached(folder if executor == "local" else None):
            jobs = _submit_all(executor, submitter, spec, [job for _, job in workers])
    except (OSError, subprocess.CalledProcessError, RuntimeError) as exc:
        raise FleetError(
            f"{executor} refused the jobs: {' '.join(str(exc).split())[:800]}"
        ) from None
    return [
        JobRecord(
            executor=executor,
            job_id=str(job.job_id),
            name=name,
            folder=str(folder),
            gpus=spec.gpus_per_worker,
        )
        for (name, _), job in zip(workers, jobs, strict=True)
    ]


@contextmanager
def _controllers_detached(folder: Path | None) -> Iterator[None]:
    """While submitting local jobs, point fds 0-2 away from ours.

    submitit starts each local job's controller with this process's stdin, stdout and
    stderr; a pipe (``segevo fleet ... | tee``, a test capturing output) would then stay
    open until every job ended, and whoever reads it would wait that long.
    """
    if folder is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in (0, 1, 2)]
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(folder / "controllers.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        yield
    finally:
        for fd, copy in zip((0, 1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)
        os.close(null)
        os.close(log)


def _submit_all(
    executor: str, submitter: Any, spec: WorkerSpec, jobs: list[EvaluatorJob]
) -> list[Any]:
    if executor == "local" and spec.gpus_per_worker:
        # One slice of this machine's GPUs per worker (submitit would give every local
        # job the first G).
        devices = local_gpus()
        g = spec.gpus_per_worker
        if g * len(jobs) > len(devices):
            raise FleetError(
                f"{len(jobs)} local workers x {g} GPU(s) need {g * len(jobs)} GPUs; this "
                f"machine has {len(devices)} ({devices or 'none found'})"
            )
        submitted = []
        for k, job in enumerate(jobs):
            submitter.update_parameters(visible_gpus=devices[k * g : (k + 1) * g])
            submitted.append(submitter.submit(job))
        return submitted
    with submitter.batch():
        return [submitter.submit(job) for job in jobs]


# -- states ---------------------------------------------------------------------------------


def _result_state(record: JobRecord) -> tuple[str, str]:
    """``(COMPLETED|FAILED, detail)`` from submitit's result file, or ``("", "")``."""
    submitit = require("submitit", record.executor)
    assert record.folder is not None
    paths = submitit.core.utils.JobPaths(record.folder, job_id=record.job_id, task_id=0)
    if not paths.result_pickle.exists():
        return "", ""
    try:
        outcome, value = submitit.core.utils.pickle_load(paths.result_pickle)
    except Exception as exc:  # a result file cut by a kill
        return "FAILED", f"unreadable result file: {exc}"
    if outcome == "success":
        return "COMPLETED", str(value)
    lines = [line for line in str(value).strip().splitlines() if line.strip()]
    return "FAILED", (lines[-1] if lines else "failed")


def _local_controller_alive(record: JobRecord) -> bool:
    """Whether the submitit controller with this pid still runs this job's folder."""
    try:
        pid = int(record.job_id)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (ValueError, OSError):
        return False
    # An exited (zombie) or reused pid has another (or an empty) command line.
    return b"submitit.local._local" in cmdline and (record.folder or "").encode() in cmdline


def _squeue_states(records: list[JobRecord]) -> dict[str, str]:
    """Slurm's state of every job it still knows (``{job_id: state}``)."""
    if not records or shutil.which("squeue") is None:
        return {}
    bases = sorted({record.job_id.split("_")[0] for record in records})
    states: dict[str, str] = {}
    for base in bases:
        # One query per array: a job the controller forgot makes squeue fail for all.
        result = subprocess.run(
            ["squeue", "--noheader", "--array", "--format=%i|%T", f"--jobs={base}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            continue
        for line in result.stdout.splitlines():
            job_id, _, state = line.strip().partition("|")
            if job_id:
                states[job_id] = state
    return states


def states(records: list[JobRecord]) -> dict[str, tuple[str, str]]:
    """``{job_id: (state, detail)}`` for local and Slurm job records."""
    out: dict[str, tuple[str, str]] = {}
    queued = _squeue_states([r for r in records if r.executor == "slurm"])
    for record in records:
        if record.executor == "slurm" and record.job_id in queued:
            out[record.job_id] = (queued[record.job_id], "")
            continue
        if record.executor == "local" and _local_controller_alive(record):
            state = "STOPPING" if record.stopped else "RUNNING"
            out[record.job_id] = (state, f"pid {record.job_id}")
            continue
        state, detail = _result_state(record)
        if record.stopped and state != "COMPLETED":
            state, detail = "CANCELLED", "by segevo fleet --stop"
        elif not state:
            state, detail = "ENDED", "no result file (killed, or ended by its engine)"
        out[record.job_id] = (state, detail)
    return out


def stop(records: list[JobRecord]) -> None:
    """Cancel jobs: ``scancel`` for Slurm, SIGINT to local controllers (as submitit does)."""
    slurm = [r.job_id for r in records if r.executor == "slurm"]
    if slurm:
        if shutil.which("scancel") is None:
            raise FleetError("cannot cancel Slurm jobs here: `scancel` is not on PATH")
        result = subprocess.run(["scancel", *slurm], capture_output=True, text=True, timeout=60)
        if result.returncode != 0 and "Invalid job id" not in result.stderr:
            raise FleetError(f"scancel failed: {' '.join(result.stderr.split())}")
    for record in records:
        if record.executor == "local" and _local_controller_alive(record):
            # The controller stops its task on SIGINT; the task stops its evaluator.
            os.kill(int(record.job_id), signal.SIGINT)


__all__ = ["DEFAULT_TIME_MIN", "launch", "make_executor", "plan", "states", "stop"]
