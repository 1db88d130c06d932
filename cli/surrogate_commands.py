"""``segevo surrogate bench``: compare accuracy predictors as the paper's Table V / Fig. 9 do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from segevo.cli.common import note


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise click.BadParameter(f"expected integers separated by commas, got {text!r}") from None
    if not values:
        raise click.BadParameter(f"give at least one {what}")
    return values


def _method_options(items: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    options: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        method, dot, name = key.partition(".")
        if not sep or not dot or not method or not name:
            raise click.BadParameter(
                f"expected METHOD.OPTION=VALUE (e.g. ranknet.epochs=200), got {item!r}",
                param_hint="--option",
            )
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        options.setdefault(method, {})[name] = value
    return options


def _table(source: Path) -> tuple[Any, Any, Any]:
    """``(X, y, space)`` from a CSV table or a run directory's archive."""
    if source.is_dir():
        from segevo.cli.report import run_space
        from segevo.engine.rows import read_run

        rows = read_run(source)
        described = run_space(rows)
        return rows.X, rows.acc, described[0] if described else None
    from segevo.surrogates.bench import read_table

    X, y = read_table(source)
    return X, y, None


@click.group("surrogate")
def surrogate_group() -> None:
    """Accuracy predictors."""


@surrogate_group.command("bench")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--methods", help="comma-separated surrogate names (default: all)")
@click.option("--sizes", default="100,200,300,500,1000", show_default=True, help="training sizes N")
@click.option("--repeats", type=int, default=11, show_default=True)
@click.option("--test-size", type=int, default=100, show_default=True)
@click.option("--space", help="search space for one-hot features (tiny, r50); default: bounds")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--option", "method_options", multiple=True, help="METHOD.OPTION=VALUE, repeatable")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="folder for results.csv, summary.csv/.md and kendall_vs_n.png",
)
def bench_command(
    source: Path,
    methods: str | None,
    sizes: str,
    repeats: int,
    test_size: int,
    space: str | None,
    seed: int,
    method_options: tuple[str, ...],
    out: Path | None,
) -> None:
    """Fit every predictor on N architectures of SOURCE and rank a held-out set.

    SOURCE is a CSV (columns x0..x{n-1}, acc) or a run directory (its archive).
    """
    from segevo.cli.display import duration
    from segevo.surrogates.bench import run_benchmark, summarize, to_markdown, write_report

    X, y, run_space = _table(source)
    chosen_space: Any = space or run_space
    names = [m for m in methods.replace(" ", "").split(",") if m] if methods else None
    size_list = _ints(sizes, "size")
    largest = X.shape[0] - test_size
    if largest < 2:
        raise click.BadParameter(
            f"{source} holds {X.shape[0]} architectures; the test set alone takes {test_size}",
            param_hint="--test-size",
        )
    fitting = [n for n in size_list if n <= largest]
    if not fitting:
        raise click.BadParameter(
            f"every N in {size_list} exceeds the {largest} rows left after the test set",
            param_hint="--sizes",
        )
    if len(fitting) < len(size_list):
        note(f"left out N > {largest} (not enough rows): {sorted(set(size_list) - set(fitting))}")

    def progress(done: int, total: int, label: str) -> None:
        note(f"[{done}/{total}] {label}")

    import time

    start = time.perf_counter()
    results = run_benchmark(
        (X, y),
        methods=names,
        sizes=fitting,
        repeats=repeats,
        test_size=test_size,
        seed=seed,
        space=chosen_space,
        options=_method_options(method_options),
        progress=progress,
    )
    click.echo(to_markdown(summarize(results)), nl=False)
    note(f"{len(results)} fits in {duration(time.perf_counter() - start)}")
    if out is not None:
        paths = write_report(results, out)
        note("wrote " + ", ".join(str(p) for p in paths.values()))
