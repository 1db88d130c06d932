"""``RUN_DIR/fleet.json``: every job ``segevo fleet`` launched for a run.

::

    {"format": "segevo-fleet", "version": 1, "run_id": "...",
     "jobs": [{"executor": "slurm", "job_id": "4242_0", "name": "fleet-slurm-0",
               "submitted": 1767000000.0, "folder": "/.../fleet/slurm", ...}, ...]}

The file is replaced whole (written aside and renamed; on an object store, one PUT), so a
reader never sees half of it. A run directory on an object store (``s3://...``) goes
through the same path object the run directory uses.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from segevo.engine.fleet.spec import FleetError

FLEET_FORMAT = "segevo-fleet"
FLEET_VERSION = 1
FLEET_FILE = "fleet.json"


@dataclass
class JobRecord:
    """One launched job: enough to ask its engine about it and to cancel it."""

    executor: str
    job_id: str
    name: str
    submitted: float = field(default_factory=time.time)
    folder: str | None = None
    """submitit's job folder (local, slurm): logs and result files."""
    address: str | None = None
    """Ray's job server (``http://HOST:8265``)."""
    gpus: int = 0
    stopped: float | None = None
    """When ``segevo fleet --stop`` cancelled it."""

    @classmethod
    def from_dict(cls, data: Any) -> JobRecord:
        if not isinstance(data, dict):
            raise ValueError("a job entry is not an object")
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"a job entry has unknown keys {sorted(unknown)}")
        missing = {"executor", "job_id", "name"} - set(data)
        if missing:
            raise ValueError(f"a job entry lacks {sorted(missing)}")
        return cls(**data)


def _record_path(rundir: Any) -> Any:
    return rundir.path / FLEET_FILE


def load_jobs(rundir: Any) -> list[JobRecord]:
    """The jobs recorded for a run (empty when it never had a fleet)."""
    path = _record_path(rundir)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise FleetError(f"{path} cannot be read: {exc}") from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FLEET_FORMAT:
            raise ValueError(f"not a {FLEET_FORMAT} file")
        if data.get("version") != FLEET_VERSION:
            raise ValueError(f"version {data.get('version')!r}, this segevo reads {FLEET_VERSION}")
        if data.get("run_id") != rundir.run_id:
            raise ValueError(
                f"it belongs to run {data.get('run_id')!r}, not to this run ({rundir.run_id})"
            )
        jobs = data.get("jobs")
        if not isinstance(jobs, list):
            raise ValueError("'jobs' is not a list")
        return [JobRecord.from_dict(job) for job in jobs]
    except (ValueError, TypeError) as exc:
        raise FleetError(
            f"{path} is damaged ({exc}); move it aside to start a new fleet record"
        ) from None


def save_jobs(rundir: Any, jobs: list[JobRecord]) -> None:
    """Replace ``fleet.json`` with ``jobs`` (atomically)."""
    from segevo.engine.rundir import write_json_atomic

    write_json_atomic(
        _record_path(rundir),
        {
            "format": FLEET_FORMAT,
            "version": FLEET_VERSION,
            "run_id": rundir.run_id,
            "jobs": [asdict(job) for job in jobs],
        },
    )


def next_index(jobs: list[JobRecord], executor: str) -> int:
    """The first worker number not used by an earlier launch on this executor."""
    prefix = f"fleet-{executor}-"
    used = [
        int(job.name[len(prefix) :])
        for job in jobs
        if job.name.startswith(prefix) and job.name[len(prefix) :].isdigit()
    ]
    return max(used, default=-1) + 1


__all__ = ["FLEET_FILE", "JobRecord", "load_jobs", "next_index", "save_jobs"]
