"""``segevo run``: run or resume a search, with the quick start and the ``mosegnas`` options.

The engine's run options (problem, budget, strategy, listen, resume...) plus ``--dataset``, ``--space``, ``--device``, ``--supernet``,
``--lut`` (segevo.cli.run_options), the quick-start defaults when no problem is named, the
preparation of a ``mosegnas`` run (supernet and latency table, with progress), a live view
of the front, and at the end the picked networks and where the files are.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from segevo.cli.common import finish_process, note, setup_logging
from segevo.cli.display import SearchDisplay
from segevo.cli.locations import RUN_DIR_TYPE
from segevo.cli.run_options import prepare_run_config, problem_flag_options, resolve_run_config

if TYPE_CHECKING:
    from segevo.engine.location import RunPath

PICKS = 5
INFEASIBLE = "infeasible: "  # the stop reason of a run whose bounds no architecture meets


@click.command("run")
@click.option(
    "--problem", "-p", help="mosegnas (default), table:PATH.csv, synthetic or module:attribute"
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file with any run option; flags override it",
)
@click.option("--evaluations", "-n", type=int, help="budget of high-fidelity evaluations")
@click.option("--initial", type=int, help="initial population N")
@click.option("--batch", "-k", type=int, help="K: candidates chosen per proposal")
@click.option("--evaluators", type=int, help="local evaluators inside this process")
@click.option("--listen", help="HOST:PORT to serve evaluators and clients (default 127.0.0.1:0)")
@click.option(
    "--run-dir",
    type=RUN_DIR_TYPE,
    help="run directory: a folder (default runs/<time>) or a URL such as s3://bucket/prefix",
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
@click.option("--surrogate", help="accuracy predictor (default auto; the paper's: ranknet)")
@click.option(
    "--max-staleness",
    type=int,
    help="steady state: results a model may lack when it proposes (default 8)",
)
@click.option(
    "--max-latency",
    "max_latency_ms",
    type=float,
    metavar="MS",
    help="only networks at most this fast are feasible (proposals keep to it by the LUT)",
)
@click.option(
    "--min-accuracy",
    type=float,
    metavar="A",
    help="only networks at least this accurate are feasible",
)
@click.option(
    "--moea",
    metavar="nsga2|pymoo:NAME",
    help="proposal MOEA on the predictions: nsga2 (default) or a pymoo algorithm, "
    "e.g. pymoo:SMSEMOA",
)
@click.option("--lease", "lease_s", type=float, help="task lease in seconds")
@click.option(
    "--dashboard",
    metavar="[HOST:]PORT",
    help="serve the live web dashboard there (read-only; port 0: any free port)",
)
@click.option(
    "--table-columns",
    metavar="ACC,COST",
    help="table problems: the accuracy and cost columns (default acc,lat_ms)",
)
@click.option(
    "--table-noise",
    metavar="COL1,COL2,...",
    help="table problems: each evaluation returns one of these accuracy columns at random",
)
@problem_flag_options
@click.option("-v", "--verbose", count=True)
def run_command(
    problem: str | None,
    config_file: Path | None,
    evaluations: int | None,
    initial: int | None,
    batch: int | None,
    evaluators: int | None,
    listen: str | None,
    run_dir: RunPath | None,
    resume: str | None,
    seed: int | None,
    sync: bool | None,
    strategy: str | None,
    prescreen: str | None,
    surrogate: str | None,
    max_staleness: int | None,
    max_latency_ms: float | None,
    min_accuracy: float | None,
    moea: str | None,
    lease_s: float | None,
    dashboard: str | None,
    table_columns: str | None,
    table_noise: str | None,
    verbose: int,
    **flags: Any,
) -> None:
    """Run (or resume) a search to its budget; with no options, the quick start.

    The quick start searches the `tiny` space on the built-in synthetic data set for the
    CPU: it trains a small supernet and builds a CPU latency table first (both cached for
    the next run), then evaluates 100 networks and prints the picked ones.
    """
    import anyio

    from segevo.engine.run import Coordinator

    setup_logging(verbose)
    options: dict[str, Any] = {
        "handle_signals": True,
        "progress_interval_s": 0.5,
        "dashboard": _dashboard_address(dashboard),
    }
    if resume is not None:
        target = RUN_DIR_TYPE.convert(resume, None, None) if resume else run_dir
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
            "max_staleness": max_staleness,
            "max_latency": max_latency_ms,
            "min_accuracy": min_accuracy,
            "moea": moea,
            "lease": lease_s,
            "table_columns": table_columns,
            "table_noise": table_noise,
            **flags,
        }
        ignored = sorted(k for k, v in given.items() if v is not None)
        if ignored:
            raise click.UsageError(
                f"--resume continues the run as configured; these cannot change: {ignored}"
            )
        display = SearchDisplay(target)
        coordinator = Coordinator.resume(
            target, evaluators=evaluators, listen=listen, on_progress=display, **options
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
            "max_staleness": max_staleness,
            "max_latency_ms": max_latency_ms,
            "min_accuracy": min_accuracy,
            "lease_s": lease_s,
        }
        config = resolve_run_config(config_file, overrides, flags)
        config = _with_moea(config, moea)
        config = _with_table_options(config, table_columns, table_noise)
        target = run_dir or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
        config = prepare_run_config(config)
        display = SearchDisplay(target)
        coordinator = Coordinator.create(config, target, on_progress=display, **options)
    note(f"run directory: {coordinator.rundir.path}")
    coordinator.on_progress = _announcing(coordinator, display)
    if coordinator.rundir.remote:
        display.front_source = coordinator.front
    with display:
        summary = anyio.run(coordinator.run)
        display(coordinator.status())  # the final state stays on screen
    click.echo(
        f"{summary.reason}: {summary.evaluations}/{summary.budget} evaluations, front "
        f"{summary.front_size}, hypervolume {summary.hypervolume:.6g}, "
        f"{summary.elapsed_s:.1f} s ({summary.run_dir})"
    )
    if summary.evaluations:
        _final_report(summary.run_dir)
    if summary.reason.startswith(INFEASIBLE):
        click.echo(f"error: {summary.reason.removeprefix(INFEASIBLE)}", err=True)
        finish_process(2)
    finish_process(0 if summary.finished else 3)


def _with_moea(config: Any, moea: str | None) -> Any:
    """``--moea`` as the ``algorithm`` of ``moea_options`` (checked now)."""
    if moea is None:
        return config
    from segevo.engine.strategies import MOEAOptions

    options = {**config.moea_options, "algorithm": moea}
    try:
        MOEAOptions.parse(options)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--moea") from None
    return config.replace(moea_options=options)


def _with_table_options(config: Any, columns: str | None, noise: str | None) -> Any:
    """``--table-columns``/``--table-noise`` as the table problem's ``columns``/``noise``."""
    if columns is None and noise is None:
        return config
    if not config.problem.startswith("table:"):
        used = " and ".join(
            n for n, v in (("--table-columns", columns), ("--table-noise", noise)) if v is not None
        )
        raise click.UsageError(f"{used} apply to table:PATH.csv problems, not {config.problem!r}")
    options = dict(config.problem_options)
    if columns is not None:
        names = [n.strip() for n in columns.split(",") if n.strip()]
        if len(names) != 2:
            raise click.UsageError(f"--table-columns takes ACC,COST, got {columns!r}")
        options["columns"] = names
    if noise is not None:
        names = [n.strip() for n in noise.split(",") if n.strip()]
        if not names:
            raise click.UsageError(f"--table-noise takes COL1,COL2,..., got {noise!r}")
        options["noise"] = names
    return config.replace(problem_options=options)


def _dashboard_address(text: str | None) -> str | None:
    """``--dashboard``, checked before the run starts."""
    if text is None:
        return None
    from segevo.engine.dashboard.serve import parse_address

    try:
        parse_address(text)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    return text


def _announcing(coordinator: Any, display: SearchDisplay) -> Any:
    """The progress callback, which first says where evaluators can attach."""
    announced = False

    def progress(status: dict[str, Any]) -> None:
        nonlocal announced
        if not announced and coordinator.bound is not None:
            announced = True
            display.message(
                f"listening on {coordinator.bound}; add evaluators with: segevo evaluator "
                f"--connect {coordinator.bound} --token-file {coordinator.rundir.token_path}"
            )
            if getattr(coordinator, "dashboard_url", None):
                display.message(f"dashboard: {coordinator.dashboard_url}")
        display(status)

    return progress


def _final_report(run_dir: RunPath) -> None:
    """The picked networks, a front plot and CSV files in RUN_DIR/report/, and where all is."""
    from segevo.cli.report import emit, front_records, picks, plot_front, to_csv
    from segevo.engine.location import local_file_for
    from segevo.engine.rows import read_run

    rows = read_run(run_dir)
    chosen = picks(rows, PICKS)
    report = run_dir / "report"
    report.mkdir(exist_ok=True)
    (report / "picks.csv").write_text(to_csv(chosen))
    (report / "front.csv").write_text(to_csv(front_records(rows)))
    with local_file_for(report / "front.png") as png:
        plot_front(rows, png)
    click.echo("\npicked networks (most accurate + best trade-offs, fastest first):")
    emit(chosen, "table", None)
    click.echo(
        f"\nfiles in {run_dir}:\n"
        f"  archive.zarr      every evaluation (segevo archive show {run_dir})\n"
        f"  config.json       the resolved configuration (--resume reads it)\n"
        f"  report/picks.csv  the networks above; report/front.csv the whole front\n"
        f"  report/front.png  the front over every evaluated network, hypervolume"
    )
    if rows.config.problem == "mosegnas":
        click.echo(
            f"next: segevo export {run_dir} --arch ID  (the network with its supernet weights)\n"
            f"      segevo train {run_dir} --arch ID   (retrained from scratch)"
        )
