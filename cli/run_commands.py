"""``segevo evaluator`` and ``segevo status`` (added to the main group; ``run`` is in search.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np

from segevo.cli.common import finish_process, setup_logging
from segevo.cli.locations import TOKEN_FILE_TYPE, looks_like_run_dir


@click.command("evaluator")
@click.option("--connect", "connect", required=True, help="HOST:PORT of the coordinator")
@click.option(
    "--token-file",
    type=TOKEN_FILE_TYPE,
    required=True,
    help="the run's token file (RUN_DIR/token; a URL such as s3://bucket/run/token works too)",
)
@click.option("--name", help="how the coordinator names this evaluator")
@click.option(
    "--prefetch",
    type=int,
    default=1,
    show_default=True,
    help="tasks held at once (more hides the round trip of very cheap evaluations)",
)
@click.option("--max-tasks", type=int, help="leave after this many results")
@click.option(
    "--give-up-after",
    type=float,
    help="stop when the coordinator stays unreachable this many seconds",
)
@click.option("-v", "--verbose", count=True)
def evaluator_command(
    connect: str,
    token_file: Path,
    name: str | None,
    prefetch: int,
    max_tasks: int | None,
    give_up_after: float | None,
    verbose: int,
) -> None:
    """Attach to a running search and evaluate its tasks (reconnects by itself)."""
    import anyio

    from segevo.engine.client import EvaluatorGaveUp, RemoteEvaluator
    from segevo.engine.rundir import read_token
    from segevo.engine.wire import ConnectionDenied, parse_endpoint

    setup_logging(max(verbose, 1))
    try:
        evaluator = RemoteEvaluator(
            parse_endpoint(connect),
            read_token(token_file),
            name=name,
            prefetch=prefetch,
            max_tasks=max_tasks,
            give_up_after_s=give_up_after,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        stats = anyio.run(evaluator.run)
    except ConnectionDenied as exc:
        click.echo(f"error: {exc}", err=True)
        finish_process(2)
        return
    except EvaluatorGaveUp as exc:
        click.echo(f"error: {exc}", err=True)
        finish_process(1)
        return
    except KeyboardInterrupt:
        finish_process(130)
        return
    click.echo(
        f"{stats.reason}: {stats.completed} evaluated, {stats.failed} failed, "
        f"{stats.connections} connection(s)",
        err=True,
    )
    finish_process(0)


def _offline_status(run_dir: Any) -> dict[str, Any]:
    from segevo.engine.rows import read_run
    from segevo.engine.rundir import RunDir

    rundir = RunDir.open(run_dir)
    rows = read_run(run_dir)
    state = rundir.load_state() or {}
    return {
        "run": rundir.run_id,
        "run_dir": str(run_dir),
        "running": False,
        "evaluations": len(rows),
        "budget": rows.config.evaluations,
        "pending": len(state.get("tasks", [])),
        "constraints": rows.constraints.record(),
        "feasible": int(np.count_nonzero(rows.feasible)),
        "front_size": int(rows.front_rows().size),
        "hypervolume": rows.hypervolume(),
        "hv_reference": list(rows.reference()),
    }


@click.command("status")
@click.argument("target")
@click.option(
    "--token-file",
    type=TOKEN_FILE_TYPE,
    help="token file (needed for HOST:PORT; a run directory has its own)",
)
@click.option("--json", "as_json", is_flag=True, help="print the raw status as JSON")
def status_command(target: str, token_file: Path | None, as_json: bool) -> None:
    """Show a search's progress: TARGET is a run directory (a folder or a URL such as
    s3://bucket/prefix) or HOST:PORT of a live run."""
    from segevo.engine.client import query_once
    from segevo.engine.rundir import RunDir, read_token
    from segevo.engine.wire import parse_endpoint

    try:
        if looks_like_run_dir(target):
            rundir = RunDir.open(target)
            endpoint = rundir.read_endpoint()
            token = read_token(token_file) if token_file else rundir.token()
            status = None
            if endpoint is not None:
                try:
                    status = query_once(endpoint, token, "status")
                    status["running"] = True
                except (OSError, TimeoutError, ValueError):
                    # Not running any more (or someone else has the port): read the files.
                    status = None
            if status is None:
                status = _offline_status(rundir.path)
        else:
            if token_file is None:
                raise click.UsageError("HOST:PORT needs --token-file (the run's RUN_DIR/token)")
            status = query_once(parse_endpoint(target), read_token(token_file), "status")
            status["running"] = True
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except (OSError, ConnectionError) as exc:
        raise click.ClickException(f"cannot reach {target}: {exc}") from None
    if as_json:
        click.echo(json.dumps(status, indent=2, default=str))
        return
    state = "running" if status.get("running") else "not running"
    click.echo(f"run {status.get('run')} ({state})")
    click.echo(f"  evaluations   {status['evaluations']}/{status['budget']}")
    bounds = status.get("constraints") or {}
    if any(v is not None for v in bounds.values()):
        from segevo.engine.constraints import Constraints

        described = Constraints.from_record(bounds).describe()
        click.echo(f"  feasible      {status.get('feasible', 0)} ({described})")
    click.echo(f"  front         {status['front_size']} architectures")
    click.echo(f"  hypervolume   {status['hypervolume']:.6g} (reference {status['hv_reference']})")
    click.echo(f"  pending       {status['pending']}")
    if status.get("running"):
        click.echo(f"  queue         {status['queued']} queued, {status['leased']} leased")
        click.echo(f"  evaluators    {status['evaluators_connected']} connected")
        click.echo(f"  surrogate     version {status['surrogate_version']}")


RUN_COMMANDS = (evaluator_command, status_command)
"""The commands this module adds to the ``segevo`` group."""


def add_run_commands(group: click.Group) -> None:
    """Register ``evaluator`` and ``status`` on a click group (``run`` is segevo.cli.search)."""
    for command in RUN_COMMANDS:
        group.add_command(command)
