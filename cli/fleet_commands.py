"""``segevo fleet``: launch, list and cancel evaluator jobs through submitit, Ray or k8s."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from segevo.engine.fleet.spec import EXECUTORS


@click.command("fleet")
@click.argument("run_dir")
@click.option(
    "--executor",
    type=click.Choice(EXECUTORS),
    default="local",
    show_default=True,
    help="local processes and Slurm through submitit, Ray Jobs, or a k8s manifest (--dry-run)",
)
@click.option("--workers", "-n", type=int, default=1, show_default=True, help="evaluator jobs")
@click.option("--gpus-per-worker", type=int, default=0, show_default=True)
@click.option("--cpus-per-worker", type=int, default=1, show_default=True)
@click.option("--mem-gb", type=float, help="memory per worker (Slurm --mem, Ray, k8s)")
@click.option("--partition", help="Slurm partition")
@click.option(
    "--time",
    "time_min",
    type=int,
    help="minutes per job (Slurm, local: default 240, jobs requeue themselves at the limit; "
    "k8s: activeDeadlineSeconds)",
)
@click.option(
    "--give-up-after",
    type=float,
    default=600.0,
    show_default=True,
    help="seconds a job keeps trying to reach the coordinator before it exits",
)
@click.option("--prefetch", type=int, default=1, show_default=True, help="tasks each holds")
@click.option("--connect", help="HOST:PORT the jobs connect to (default: RUN_DIR's endpoint)")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="a token file path the jobs can read (default: RUN_DIR/token, or shipped to them)",
)
@click.option(
    "--log-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="submitit's folder for job scripts and logs (default RUN_DIR/fleet/EXECUTOR)",
)
@click.option("--ray-address", help="Ray's job server (default $RAY_ADDRESS or :8265)")
@click.option("--image", help="k8s: container image with segevo installed")
@click.option("--namespace", default="default", show_default=True, help="k8s namespace")
@click.option("--dry-run", is_flag=True, help="print what would be submitted; submit nothing")
@click.option("--status", "show_status", is_flag=True, help="list the jobs launched for RUN_DIR")
@click.option("--stop", "stop_jobs", is_flag=True, help="cancel the jobs launched for RUN_DIR")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def fleet_command(
    run_dir: str,
    executor: str,
    workers: int,
    gpus_per_worker: int,
    cpus_per_worker: int,
    mem_gb: float | None,
    partition: str | None,
    time_min: int | None,
    give_up_after: float,
    prefetch: int,
    connect: str | None,
    token_file: Path | None,
    log_dir: Path | None,
    ray_address: str | None,
    image: str | None,
    namespace: str,
    dry_run: bool,
    show_status: bool,
    stop_jobs: bool,
    as_json: bool,
) -> None:
    """Launch WORKERS `segevo evaluator` jobs for the run in RUN_DIR (or list/cancel them).

    \b
    segevo fleet runs/camvid --executor slurm --workers 64 --gpus-per-worker 1 \\
        --partition gpu --time 240
    segevo fleet runs/camvid --status
    segevo fleet runs/camvid --stop
    """
    from segevo.engine import fleet

    if sum([dry_run, show_status, stop_jobs]) > 1:
        raise click.UsageError("--dry-run, --status and --stop exclude each other")
    try:
        if show_status:
            _print_status(fleet.status(run_dir), as_json)
            return
        if stop_jobs:
            stopped = fleet.stop(run_dir)
            if as_json:
                click.echo(json.dumps([s.record.job_id for s in stopped]))
            else:
                for job in stopped:
                    click.echo(
                        f"cancelled {job.record.executor} job {job.record.job_id} "
                        f"({job.record.name})"
                    )
                click.echo(f"{len(stopped)} job(s) cancelled", err=True)
            return
        spec = fleet.WorkerSpec(
            workers=workers,
            gpus_per_worker=gpus_per_worker,
            cpus_per_worker=cpus_per_worker,
            partition=partition,
            time_min=time_min,
            give_up_after_s=give_up_after,
            prefetch=prefetch,
            memory_gb=mem_gb,
        )
        if executor != "k8s" and (image is not None or namespace != "default"):
            raise click.UsageError("--image and --namespace are for --executor k8s")
        if dry_run:
            planned, warnings = fleet.plan(
                run_dir,
                executor,
                spec,
                connect=connect,
                token_file=token_file,
                log_dir=log_dir,
                ray_address=ray_address,
                image=image,
                namespace=namespace,
            )
            _warn(warnings)
            if executor == "k8s":
                from segevo.engine.fleet.k8s import to_yaml

                click.echo(json.dumps(planned, indent=2) if as_json else to_yaml(planned), nl=False)
            else:
                click.echo(json.dumps(planned, indent=2))
            return
        records, warnings = fleet.launch(
            run_dir,
            executor,
            spec,
            connect=connect,
            token_file=token_file,
            log_dir=log_dir,
            ray_address=ray_address,
        )
    except ValueError as exc:  # FleetError, RunDirError: a message that says what to do
        raise click.ClickException(str(exc)) from None
    _warn(warnings)
    if as_json:
        click.echo(json.dumps([_record_dict(r) for r in records], indent=2))
        return
    for record in records:
        click.echo(f"{record.executor} job {record.job_id}  {record.name}")
    click.echo(
        f"{len(records)} evaluator job(s) submitted; `segevo fleet {run_dir} --status` lists "
        f"them, `--stop` cancels them",
        err=True,
    )


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


def _record_dict(record: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(record)


def _print_status(jobs: list[Any], as_json: bool) -> None:
    if as_json:
        click.echo(
            json.dumps(
                [{**_record_dict(j.record), "state": j.state, "detail": j.detail} for j in jobs],
                indent=2,
            )
        )
        return
    if not jobs:
        click.echo("no fleet jobs recorded for this run", err=True)
        return
    width = max(len(j.record.job_id) for j in jobs)
    for job in jobs:
        detail = f"  {job.detail}" if job.detail else ""
        click.echo(
            f"{job.record.executor:<6} {job.record.job_id:<{width}}  {job.record.name:<16} "
            f"{job.state}{detail}"
        )
    active = sum(j.active for j in jobs)
    click.echo(f"{len(jobs)} job(s), {active} pending or running", err=True)


__all__ = ["fleet_command"]
