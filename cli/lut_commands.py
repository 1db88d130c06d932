"""``segevo lut build`` and ``segevo lut check``: per-device latency look-up tables.

``build`` measures every part the search space can produce on the device (resumable: an
interrupted build goes on where it stopped) and writes the table, by default into the cache
where ``segevo run`` looks for it. ``check`` measures sampled whole networks and reports how
well the table ranks and predicts them (Kendall tau, MAPE), beside FLOPs (paper Fig. 4).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from segevo.cli.common import note, write_json
from segevo.cli.options import (
    dataset_option,
    dataset_option_dict,
    device_option_dict,
    device_options,
    space_option_dict,
    space_options,
)


def _protocol(warmup: int | None, repeats: int | None, budget_s: float | None) -> dict[str, Any]:
    protocol: dict[str, Any] = {}
    if warmup is not None:
        protocol["warmup"] = warmup
    if repeats is not None:
        protocol["min_repeats"] = repeats
        protocol["max_repeats"] = max(repeats, 200)
    if budget_s is not None:
        protocol["budget_s"] = budget_s
    return protocol


def _num_classes(dataset: str, data_size: str | None, num_classes: int | None) -> int:
    if num_classes is not None:
        if num_classes < 1:
            raise click.BadParameter("must be >= 1", param_hint="--num-classes")
        return num_classes
    from segevo.engine.problems.mosegnas import _lists_to_tuples, canonical_dataset
    from segevo.nets.datasets import get_dataset

    options = _lists_to_tuples(dataset_option_dict(data_size))
    return int(get_dataset(canonical_dataset(dataset), "val", **options).num_classes)


@click.group("lut")
def lut_group() -> None:
    """Build and check latency look-up tables."""


@lut_group.command("build")
@space_options
@dataset_option
@click.option("--num-classes", type=int, help="decoder classes (default: the data set's)")
@device_options
@click.option("--warmup", type=int, help="untimed calls per part")
@click.option("--repeats", type=int, help="timed calls per part (at least)")
@click.option("--budget-s", type=float, help="seconds of timed calls per part (at least)")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="table file (.json); default: the cache, where `segevo run` finds it",
)
@click.option("--fresh", is_flag=True, help="ignore an earlier partial build of the same file")
def build_command(
    space: str,
    base_hw: str | None,
    dataset: str,
    data_size: str | None,
    num_classes: int | None,
    device: str,
    threads: int | None,
    warmup: int | None,
    repeats: int | None,
    budget_s: float | None,
    output: Path | None,
    fresh: bool,
) -> None:
    """Measure every part of a search space on a device and write the latency table."""
    from segevo.cli.display import LutDisplay, duration
    from segevo.devices import build_lut, get_device
    from segevo.engine.problems.mosegnas import _space, lut_cache_path

    search_space = _space(space, space_option_dict(base_hw))
    classes = _num_classes(dataset, data_size, num_classes)
    protocol = _protocol(warmup, repeats, budget_s)
    dev = get_device(device, **device_option_dict(device, threads))
    target = output or lut_cache_path(search_space, classes, dev, protocol or None)
    target.parent.mkdir(parents=True, exist_ok=True)
    note(f"latency table of {search_space.name} ({classes} classes) on {dev.name} -> {target}")
    display = LutDisplay()
    with display:
        while True:
            result = build_lut(
                search_space,
                dev,
                target,
                num_classes=classes,
                resume=not fresh,
                progress=display.live,
                time_limit_s=None if display.live else 10.0,
                **protocol,
            )
            fresh = False
            if not display.live:
                display(result)
            if result.complete:
                break
    click.echo(
        f"{target}: {result.total} parts ({result.measured} measured now, {result.reused} "
        f"kept from before, {result.flagged} with a wide spread) in {duration(result.elapsed_s)}"
    )


@lut_group.command("check")
@click.argument("lut", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@space_options
@device_options
@click.option("--samples", type=int, default=50, show_default=True, help="networks to time")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="PNG like Fig. 4")
@click.option("--json", "as_json", is_flag=True, help="print the full report as JSON")
def check_command(
    lut: Path,
    space: str,
    base_hw: str | None,
    device: str,
    threads: int | None,
    samples: int,
    seed: int,
    plot: Path | None,
    as_json: bool,
) -> None:
    """Time sampled whole networks; report Kendall tau and MAPE of the table (and FLOPs)."""
    from segevo.devices import check_lut, get_device, load_lut
    from segevo.engine.problems.mosegnas import _space

    search_space = _space(space, space_option_dict(base_hw))
    table = load_lut(lut, search_space)  # refuses a table of another space, naming both
    dev = get_device(device, **device_option_dict(device, threads))
    if not dev.compatible_with(table.device):
        note(
            f"note: the table was measured on {table.device.get('model')} "
            f"({table.device.get('threads')} threads); checking against {dev.name} here"
        )
    report = check_lut(
        search_space,
        table,
        dev,
        samples=samples,
        seed=seed,
        plot_path=plot,
        progress=not as_json,
    )
    if as_json:
        write_json(None, report.to_dict())
    else:
        click.echo(report.summary())
