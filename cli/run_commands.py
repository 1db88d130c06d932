"""``segevo run``, ``segevo evaluator`` and ``segevo status`` (added to the main group)."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

log = logging.getLogger("segevo.cli")


def _setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def _status_line(status: dict[str, Any]) -> str:
    return (
        f"evaluations {status['evaluations']}/{status['budget']}  "
        f"front {status['front_size']}  hv {status['hypervolume']:.4g}  "
        f"queue {status['queued']}  leased {status['leased']}  "
        f"evaluators {status['evaluators_connected']}  "
        f"surrogate v{status['surrogate_version']}  {status['rate_per_s']:.1f}/s"
    )


class _Progress:
    """A live rich line on a terminal; plain log lines every few seconds otherwise."""

    def __init__(self, interactive: bool, plain_every_s: float = 10.0) -> None:
        self.interactive = interactive
        self.plain_every_s = plain_every_s
        self._last_plain = 0.0
        self._live: Any = None

    def __enter__(self) -> _Progress:
        if self.interactive:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                "", console=Console(stderr=True), refresh_per_second=4, transient=False
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def __call__(self, status: dict[str, Any]) -> None:
        line = _status_line(status)
        if self._live is not None:
            self._live.update(line)
            return
        now = time.monotonic()
        if now - self._last_plain >= self.plain_every_s:
            self._last_plain = now
            click.echo(line, err=True)


def _finish_process(code: int) -> None:
    """Exit, without waiting for an abandoned worker thread (a surrogate fit, a proposal)."""
    busy = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if busy:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    sys.exit(code)


@click.command("run")
@click.option("--problem", "-p", help="table:PATH.csv, synthetic, mosegnas or module:attribute")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file with any RunConfig key; flags override it",
)
@click.option("--evaluations", "-n", type=int, help="budget of high-fidelity evaluations")
@click.option("--initial", type=int, help="initial population N")
@click.option("--batch", "-k", type=int, help="K: candidates chosen per proposal")
@click.option("--evaluators", type=int, help="local evaluators inside this process")
@click.option("--listen", help="HOST:PORT to serve evaluators and clients (default 127.0.0.1:0)")
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="run directory (default runs/<time>)",
)
@click.option(
    "--resume",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[RUN_DIR]",
    help="continue the run in RUN_DIR (or --run-dir) to its budget",
)
@click.option("--seed", type=int)
@click.option(
    "--sync/--steady",
    default=None,
    help="generational Algorithm 1 instead of asynchronous steady state",
)
@click.option("--strategy", help="mosegnas (default), nsga2 or random")
@click.option("--prescreen", help="hierarchical (default), survival, hv, latency or random")
@click.option("--surrogate", help="accuracy predictor (default ranknet)")
@click.option("--lease", "lease_s", type=float, help="task lease in seconds")
@click.option("-v", "--verbose", count=True)
def run_command(
    problem: str | None,
    config_file: Path | None,
    evaluations: int | None,
    initial: int | None,
    batch: int | None,
    evaluators: int | None,
    listen: str | None,
    run_dir: Path | None,
    resume: str | None,
    seed: int | None,
    sync: bool | None,
    strategy: str | None,
    prescreen: str | None,
    surrogate: str | None,
    lease_s: float | None,
    verbose: int,
) -> None:
    """Run (or resume) a search to its budget."""
    import anyio

    from segevo.engine.config import resolve
    from segevo.engine.run import Coordinator

    _setup_logging(verbose)
    progress = _Progress(interactive=sys.stderr.isatty())
    options = {"on_progress": progress, "handle_signals": True, "progress_interval_s": 0.5}
    try:
        if resume is not None:
            target = Path(resume) if resume else run_dir
            if target is None:
                raise click.UsageError("--resume needs a run directory (--resume RUN_DIR)")
            given = {
                "problem": problem,
                "config": config_file,
                "evaluations": evaluations,
                "initial": initial,
                "batch": batch,
                "seed": seed,
                "sync": sync,
                "strategy": strategy,
                "prescreen": prescreen,
                "surrogate": surrogate,
                "lease": lease_s,
            }
            ignored = sorted(k for k, v in given.items() if v is not None)
            if ignored:
                raise click.UsageError(
                    f"--resume continues the run as configured; these cannot change: {ignored}"
                )
            coordinator = Coordinator.resume(
                target, evaluators=evaluators, listen=listen, **options
            )
        else:
            overrides = {
                "problem": problem,
                "evaluations": evaluations,
                "initial": initial,
                "batch": batch,
                "evaluators": evaluators,
                "listen": listen,
                "seed": seed,
                "sync": sync,
                "strategy": strategy,
                "prescreen": prescreen,
                "surrogate": surrogate,
                "lease_s": lease_s,
            }
            config = resolve(config_file, overrides)
            target = run_dir or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
            coordinator = Coordinator.create(config, target, **options)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"run directory: {coordinator.rundir.path}", err=True)
    with progress:
        try:
            summary = anyio.run(coordinator.run)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {coordinator.config.listen}: {exc}"
            ) from None
    click.echo(
        f"{summary.reason}: {summary.evaluations}/{summary.budget} evaluations, front "
        f"{summary.front_size}, hypervolume {summary.hypervolume:.6g}, "
        f"{summary.elapsed_s:.1f} s ({summary.run_dir})"
    )
    _finish_process(0 if summary.finished else 3)


@click.command("evaluator")
@click.option("--connect", "connect", required=True, help="HOST:PORT of the coordinator")
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="the run's token file (RUN_DIR/token)",
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

    _setup_logging(max(verbose, 1))
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
        _finish_process(2)
        return
    except EvaluatorGaveUp as exc:
        click.echo(f"error: {exc}", err=True)
        _finish_process(1)
        return
    except KeyboardInterrupt:
        _finish_process(130)
        return
    click.echo(
        f"{stats.reason}: {stats.completed} evaluated, {stats.failed} failed, "
        f"{stats.connections} connection(s)",
        err=True,
    )
    _finish_process(0)


def _offline_status(run_dir: Path) -> dict[str, Any]:
    from segevo.engine.actors.archive_actor import ArchiveMirror
    from segevo.engine.archive import open_archive
    from segevo.engine.rundir import RunDir

    rundir = RunDir.open(run_dir)
    config = rundir.load_config()
    data = open_archive(run_dir)
    mirror = ArchiveMirror.from_data(data)
    state = rundir.load_state() or {}
    reference = config.hv_reference or (0.0, float("inf"))
    return {
        "run": rundir.run_id,
        "run_dir": str(run_dir),
        "running": False,
        "evaluations": mirror.n,
        "budget": config.evaluations,
        "pending": len(state.get("tasks", [])),
        "front_size": int(mirror.front_rows().size),
        "hypervolume": mirror.hypervolume(tuple(reference)),
        "hv_reference": list(reference),
    }


@click.command("status")
@click.argument("target")
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="token file (needed for HOST:PORT; a run directory has its own)",
)
@click.option("--json", "as_json", is_flag=True, help="print the raw status as JSON")
def status_command(target: str, token_file: Path | None, as_json: bool) -> None:
    """Show a search's progress: TARGET is a run directory or HOST:PORT of a live run."""
    from segevo.engine.client import query_once
    from segevo.engine.rundir import RunDir, read_token
    from segevo.engine.wire import parse_endpoint

    try:
        if Path(target).is_dir():
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
                status = _offline_status(Path(target))
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
    click.echo(f"  front         {status['front_size']} architectures")
    click.echo(f"  hypervolume   {status['hypervolume']:.6g} (reference {status['hv_reference']})")
    click.echo(f"  pending       {status['pending']}")
    if status.get("running"):
        click.echo(f"  queue         {status['queued']} queued, {status['leased']} leased")
        click.echo(f"  evaluators    {status['evaluators_connected']} connected")
        click.echo(f"  surrogate     version {status['surrogate_version']}")


RUN_COMMANDS = (run_command, evaluator_command, status_command)
"""The commands this module adds to the ``segevo`` group."""


def add_run_commands(group: click.Group) -> None:
    """Register ``run``, ``evaluator`` and ``status`` on a click group."""
    for command in RUN_COMMANDS:
        group.add_command(command)
