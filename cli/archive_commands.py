"""``segevo archive show|front|export|plot RUN_DIR`` and ``segevo pick RUN_DIR``.

All read the run's archive with :func:`segevo.engine.archive.open_archive`, which returns
only committed rows, so they work on a finished run and on one that is still writing.
"""

from __future__ import annotations

from pathlib import Path

import click

from segevo.cli.common import note
from segevo.cli.locations import RUN_DIR_TYPE

RUN_DIR = click.argument("run_dir", type=RUN_DIR_TYPE)
FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
OUTPUT = click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="file (default stdout)"
)


@click.group("archive")
def archive_group() -> None:
    """Read a run's archive (a live run or a finished one)."""


@archive_group.command("show")
@RUN_DIR
@click.option("--last", type=int, help="only the last N evaluations")
@FORMAT
@OUTPUT
def show_command(run_dir: Path, last: int | None, fmt: str, output: Path | None) -> None:
    """Every evaluated architecture, in the order they were archived."""
    import numpy as np

    from segevo.cli.report import emit, records
    from segevo.engine.rows import read_run

    rows = read_run(run_dir)
    indices = np.arange(len(rows))
    if last is not None:
        if last < 1:
            raise click.BadParameter("must be >= 1", param_hint="--last")
        indices = indices[-last:]
    emit(records(rows, indices), fmt, output)
    _summary(rows, fmt, output)


@archive_group.command("front")
@RUN_DIR
@FORMAT
@OUTPUT
def front_command(run_dir: Path, fmt: str, output: Path | None) -> None:
    """The non-dominated architectures (highest accuracy for their latency), fastest first."""
    from segevo.cli.report import emit, front_records
    from segevo.engine.rows import read_run

    rows = read_run(run_dir)
    emit(front_records(rows), fmt, output)
    _summary(rows, fmt, output)


@archive_group.command("export")
@RUN_DIR
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
)
@OUTPUT
@click.option("--front-only", is_flag=True, help="only the non-dominated architectures")
def export_command(run_dir: Path, fmt: str, output: Path | None, front_only: bool) -> None:
    """Every column of every evaluation as CSV or JSON (x0..x{n-1}, acc, latencies, times)."""
    import numpy as np

    from segevo.cli.common import write_json
    from segevo.cli.report import to_csv
    from segevo.engine.archive import COLUMNS
    from segevo.engine.rows import read_run

    rows = read_run(run_dir)
    data = rows
    keep = np.arange(len(rows))
    if front_only:
        keep = rows.front_rows()
    names = data.evaluator_names
    x = np.asarray(data["x"])
    records = []
    for i in keep.tolist():
        record: dict[str, object] = {"lat_objective_ms": float(rows.latency[i])}
        record.update({f"x{j}": int(v) for j, v in enumerate(x[i])})
        for name in COLUMNS:
            if name == "x":
                continue
            value = names[i] if name == "evaluator" else data[name][i]
            record[name] = value.item() if hasattr(value, "item") else value
        records.append(record)
    if fmt == "csv":
        text = to_csv(records)
        if output is None:
            click.echo(text, nl=False)
        else:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text)
    else:
        write_json(output, records)
    if output is not None:
        note(f"wrote {len(records)} rows to {output}")


@archive_group.command("plot")
@RUN_DIR
@OUTPUT
@click.option("--title", help="figure title")
def plot_command(run_dir: Path, output: Path | None, title: str | None) -> None:
    """PNG of the front over all evaluated points, and hypervolume over evaluations."""
    from segevo.cli.report import plot_front
    from segevo.engine.rows import read_run

    rows = read_run(run_dir)
    if len(rows) == 0:
        raise click.ClickException(f"{run_dir} has no evaluations yet; nothing to plot")
    from segevo.engine.location import local_file_for

    target = output or run_dir / "report" / "front.png"
    if target.suffix.lower() != ".png":
        raise click.BadParameter("the plot is written as PNG: give a .png file", param_hint="-o")
    with local_file_for(target) as png:
        plot_front(rows, png, title=title)
    click.echo(str(target))


@click.command("pick")
@RUN_DIR
@click.option("-n", "count", type=int, default=5, show_default=True, help="networks to pick")
@FORMAT
@OUTPUT
def pick_command(run_dir: Path, count: int, fmt: str, output: Path | None) -> None:
    """The paper's final choice: the most accurate network plus the best trade-offs of the
    front (largest loss in one objective per gain in the other), fastest first."""
    from segevo.cli.report import emit, picks
    from segevo.engine.rows import read_run

    if count < 1:
        raise click.BadParameter("must be >= 1", param_hint="-n")
    rows = read_run(run_dir)
    emit(picks(rows, count), fmt, output)


def _summary(rows: object, fmt: str, output: Path | None) -> None:
    from segevo.engine.hypervolume import hypervolume
    from segevo.engine.rows import ArchiveRows

    assert isinstance(rows, ArchiveRows)
    if fmt != "table" and output is None:
        return  # stdout is data
    on_front = rows.front_mask()
    hv = hypervolume(rows.acc[on_front], rows.latency[on_front], rows.reference())
    budget = rows.config.evaluations
    constraints = rows.config.constraints
    feasible = (
        f", {int(rows.feasible.sum())} feasible ({constraints.describe()})"
        if constraints.active
        else ""
    )
    note(
        f"{len(rows)}/{budget} evaluations{feasible}, {int(on_front.sum())} on the front, "
        f"hypervolume {hv:.6g}"
    )
