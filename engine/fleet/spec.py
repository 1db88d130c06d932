"""What a fleet is: the run it serves, how many evaluators, what each one asks for.

:class:`FleetTarget` is read from a run directory (address and token only through
:meth:`RunDir.open`, :meth:`~RunDir.read_endpoint` and :meth:`~RunDir.token`);
:class:`WorkerSpec` holds the resources; :func:`evaluator_argv` is the one
``segevo evaluator`` command line every launcher runs.
"""

from __future__ import annotations

import ipaddress
import math
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segevo.engine.wire import Endpoint, is_loopback, parse_endpoint

EXECUTORS = ("local", "slurm", "ray", "k8s")
"""The ``--executor`` choices."""

INSTALL_HINTS = {
    "submitit": "pip install 'segevo[slurm]'",
    "ray": "pip install 'segevo[ray]'",
}


class FleetError(ValueError):
    """Bad fleet input or environment: the message says what is wrong and what to do."""


class MissingExtra(FleetError):
    """An optional dependency a launcher needs is not installed."""

    def __init__(self, module: str, executor: str) -> None:
        package = module.split(".")[0]
        super().__init__(
            f"--executor {executor} needs the {package!r} package, which is not installed; "
            f"install it with `{INSTALL_HINTS[package]}`"
        )
        self.module = module


def require(module: str, executor: str) -> Any:
    """Import an optional dependency, or raise :class:`MissingExtra` naming the install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(module, executor) from None


def local_folder(location: str | Path) -> Path | None:
    """The local folder of a run directory, or None for one on an object store (``s3://``).

    ``file://`` URLs are local folders, as segevo.engine.location reads them.
    """
    try:
        from segevo.engine.location import run_path
    except ImportError:  # a segevo without object-store run directories
        return None if "://" in str(location) else Path(location)
    path = run_path(str(location))
    return path if isinstance(path, Path) else None


def is_remote(location: str | Path) -> bool:
    """Whether a run directory is on an object store rather than in a local folder."""
    return local_folder(location) is None


@dataclass(frozen=True)
class FleetTarget:
    """The run a fleet serves: where its coordinator listens and how to authenticate."""

    run_dir: str
    run_id: str
    endpoint: Endpoint
    token: bytes = field(repr=False)
    token_file: str | None
    """A token file path valid where the jobs run, or None (the launcher ships the token)."""
    token_file_given: bool = False
    """Whether ``token_file`` was given (``--token-file``) rather than RUN_DIR/token."""


def _wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def open_target(
    run_dir: str | Path,
    *,
    connect: str | None = None,
    token_file: str | Path | None = None,
) -> FleetTarget:
    """The run in ``run_dir``: its coordinator's endpoint (or ``connect``) and its token.

    A coordinator bound to a wildcard address (``0.0.0.0``, ``::``) is reached through this
    machine's host name, which is where ``segevo fleet`` is run (next to the coordinator).
    """
    from segevo.engine.rundir import RunDir

    location = str(run_dir)
    rundir = RunDir.open(location)
    if connect is not None:
        try:
            endpoint = parse_endpoint(connect)
        except ValueError as exc:
            raise FleetError(f"--connect: {exc}") from None
        if endpoint.port == 0:
            raise FleetError(f"--connect {connect}: port 0 is not an address jobs can reach")
    else:
        found = rundir.read_endpoint()
        if found is None:
            raise FleetError(
                f"no coordinator is running on {location} (it has no endpoint.json); start "
                f"or resume it first (`segevo run --resume {location} --listen HOST:PORT`), "
                "or give --connect HOST:PORT"
            )
        endpoint = found
        if _wildcard(endpoint.host):
            endpoint = Endpoint(socket.getfqdn(), endpoint.port)
    token = rundir.token()
    if token_file is not None:
        path = Path(token_file)
        if not path.is_file():
            raise FleetError(f"--token-file {token_file} does not exist or is not a file")
        resolved: str | None = str(path.resolve())
    else:
        folder = local_folder(location)
        resolved = None if folder is None else str(folder.resolve() / "token")
    return FleetTarget(
        location, rundir.run_id, endpoint, token, resolved, token_file_given=token_file is not None
    )


def loopback_warning(target: FleetTarget, executor: str) -> str | None:
    """A warning when jobs that may run on other machines are given a loopback address."""
    if executor == "local" or not is_loopback(target.endpoint.host):
        return None
    return (
        f"the coordinator listens on {target.endpoint} (loopback): only jobs on this machine "
        "can reach it; for jobs on other nodes restart it with `segevo run --resume RUN_DIR "
        "--listen 0.0.0.0:PORT`"
    )


@dataclass(frozen=True)
class WorkerSpec:
    """The resources and evaluator options of every worker of one launch."""

    workers: int
    gpus_per_worker: int = 0
    cpus_per_worker: int = 1
    partition: str | None = None
    time_min: int | None = None
    give_up_after_s: float = 600.0
    prefetch: int = 1
    memory_gb: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.workers, int) or not 1 <= self.workers <= 10_000:
            raise FleetError(f"--workers must be an integer in 1..10000, got {self.workers!r}")
        if not isinstance(self.gpus_per_worker, int) or not 0 <= self.gpus_per_worker <= 64:
            raise FleetError(
                f"--gpus-per-worker must be an integer in 0..64, got {self.gpus_per_worker!r}"
            )
        if not isinstance(self.cpus_per_worker, int) or not 1 <= self.cpus_per_worker <= 1024:
            raise FleetError(
                f"--cpus-per-worker must be an integer in 1..1024, got {self.cpus_per_worker!r}"
            )
        if self.time_min is not None and not 1 <= self.time_min <= 525_600:
            raise FleetError(f"--time must be 1..525600 minutes, got {self.time_min!r}")
        if not (math.isfinite(self.give_up_after_s) and self.give_up_after_s >= 0):
            raise FleetError(
                f"--give-up-after must be a finite number of seconds >= 0, "
                f"got {self.give_up_after_s!r}"
            )
        if not 1 <= self.prefetch <= 1024:
            raise FleetError(f"--prefetch must be in 1..1024, got {self.prefetch!r}")
        if self.partition is not None and (not self.partition or self.partition.strip() == ""):
            raise FleetError("--partition must not be empty")
        if self.memory_gb is not None and not (
            math.isfinite(self.memory_gb) and self.memory_gb > 0
        ):
            raise FleetError(f"--mem-gb must be a positive number, got {self.memory_gb!r}")


def evaluator_args(
    target: FleetTarget, name: str, spec: WorkerSpec, *, token_file: str
) -> list[str]:
    """The arguments after ``segevo`` that attach one fleet worker to the run."""
    return [
        "evaluator",
        "--connect",
        str(target.endpoint),
        "--token-file",
        token_file,
        "--name",
        name,
        "--prefetch",
        str(spec.prefetch),
        "--give-up-after",
        f"{spec.give_up_after_s:g}",
    ]


def evaluator_argv(
    target: FleetTarget, name: str, spec: WorkerSpec, *, token_file: str
) -> list[str]:
    """``segevo evaluator ...`` with this interpreter (for jobs that share its environment)."""
    return [
        sys.executable,
        "-m",
        "segevo.cli.main",
        *evaluator_args(target, name, spec, token_file=token_file),
    ]


__all__ = [
    "EXECUTORS",
    "FleetError",
    "FleetTarget",
    "MissingExtra",
    "WorkerSpec",
    "evaluator_args",
    "evaluator_argv",
    "is_remote",
    "local_folder",
    "loopback_warning",
    "open_target",
    "require",
]
