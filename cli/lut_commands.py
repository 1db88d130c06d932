"""``segevo lut build`` and ``segevo lut check``: per-device latency look-up tables.

``build`` measures every part the search space can produce on the device (resumable: an
interrupted build goes on where it stopped) and writes the table, by default into the cache
where ``segevo run`` looks for it. ``check`` measures sampled whole networks and reports how
well the table ranks and predicts them (Kendall tau, MAPE, the fraction within +-10%) before
and after a linear calibration, beside FLOPs (paper Fig. 4), and stores the calibration in
the table, where predictions apply it. The library reports progress as events; the bars are
drawn here.
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
    from segevo.engine.problems.mosegnas import canonical_dataset, lists_to_tuples
    from segevo.nets.datasets import get_dataset

    options = lists_to_tuples(dataset_option_dict(data_size))
    return int(get_dataset(canonical_dataset(dataset), "val", **options).num_classes)


def _device_options(device: str, threads: int | None, clock: str) -> dict[str, Any]:
    options = device_option_dict(device, threads)
    if clock != "wall":
        if device not in ("cpu", "ort-cpu"):
            raise click.BadParameter(
                f"only cpu and ort-cpu take a clock, not {device!r}", param_hint="--clock"
            )
        options["clock"] = clock
    return options


@click.group("lut")
def lut_group() -> None:
    """Build and check latency look-up tables."""


@lut_group.command("build")
@space_options
@dataset_option
@click.option("--num-classes", type=int, help="decoder classes (default: the data set's)")
@device_options
@click.option(
    "--clock",
    type=click.Choice(["wall", "cpu"]),
    default="wall",
    show_default=True,
    help="cpu/ort-cpu with 1 thread: wall clock, or the thread's CPU time (a loaded machine)",
)
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
    clock: str,
    warmup: int | None,
    repeats: int | None,
    budget_s: float | None,
    output: Path | None,
    fresh: bool,
) -> None:
    """Measure every part of a search space on a device and write the latency table."""
    from segevo.cli.display import LutDisplay, duration
    from segevo.devices import build_lut, get_device
    from segevo.engine.problems.mosegnas import lut_cache_path, space_from_options

    search_space = space_from_options(space, space_option_dict(base_hw))
    classes = _num_classes(dataset, data_size, num_classes)
    protocol = _protocol(warmup, repeats, budget_s)
    dev = get_device(device, **_device_options(device, threads, clock))
    target = output or lut_cache_path(search_space, classes, dev, protocol or None)
    target.parent.mkdir(parents=True, exist_ok=True)
    note(f"latency table of {search_space.name} ({classes} classes) on {dev.name} -> {target}")
    display = LutDisplay()
    measured, elapsed_s, reused = 0, 0.0, None
    with display:
        while True:
            result = build_lut(
                search_space,
                dev,
                target,
                num_classes=classes,
                resume=not fresh,
                progress=display.advance if display.live else None,
                time_limit_s=None if display.live else 10.0,
                **protocol,
            )
            fresh = False
            measured += result.measured
            elapsed_s += result.elapsed_s
            reused = result.reused if reused is None else reused
            if not display.live:
                display(result)
            if result.complete:
                break
    click.echo(
        f"{target}: {result.total} parts ({measured} measured now, {reused} kept from "
        f"before, {result.flagged} with a wide spread) in {duration(elapsed_s)}"
    )


@lut_group.command("check")
@click.argument("lut", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@space_options
@device_options
@click.option(
    "--clock",
    type=click.Choice(["wall", "cpu"]),
    default="wall",
    show_default=True,
    help="cpu/ort-cpu with 1 thread: wall clock, or the thread's CPU time (a loaded machine)",
)
@click.option("--samples", type=int, default=50, show_default=True, help="networks to time")
@click.option("--warmup", type=int, help="untimed calls per network")
@click.option("--repeats", type=int, help="timed calls per network (at least)")
@click.option("--budget-s", type=float, help="seconds of timed calls per network (at least)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--fit",
    type=click.Choice(["robust", "relative", "lsq"]),
    default="robust",
    show_default=True,
    help="calibration line: robust (Huber on relative errors), relative or lsq (in ms)",
)
@click.option(
    "--calibrate/--no-calibrate",
    default=True,
    show_default=True,
    help="store the fitted calibration in the table (only when measured on its device)",
)
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="PNG like Fig. 4")
@click.option("--json", "as_json", is_flag=True, help="print the full report as JSON")
def check_command(
    lut: Path,
    space: str,
    base_hw: str | None,
    device: str,
    threads: int | None,
    clock: str,
    samples: int,
    warmup: int | None,
    repeats: int | None,
    budget_s: float | None,
    seed: int,
    fit: str,
    calibrate: bool,
    plot: Path | None,
    as_json: bool,
) -> None:
    """Time sampled whole networks; report how well the table predicts them and calibrate it.

    Figures: Kendall tau, MAPE and the fraction of networks within +-10% of their measured
    latency, for the plain sums of the table and after the line ms = a x sum + b fitted on
    these networks (and, for that line, on networks left out of its fit); the same for
    FLOPs. With --calibrate (the default) the line is stored in the table file and applied
    by every later prediction; run the check again with another --seed to score it on new
    networks.
    """
    from segevo.cli.display import LutDisplay
    from segevo.devices import check_lut, get_device, load_lut, store_calibration
    from segevo.engine.problems.mosegnas import space_from_options

    search_space = space_from_options(space, space_option_dict(base_hw))
    table = load_lut(lut, search_space)  # refuses a table of another space, naming both
    dev = get_device(device, **_device_options(device, threads, clock))
    same_device = dev.compatible_with(table.device)
    if not same_device:
        note(
            f"note: the table was measured on {table.device.get('backend')} "
            f"{table.device.get('model')} ({table.device.get('threads')} threads); checking "
            f"against {dev.name} here, so no calibration is stored"
        )
    display = LutDisplay(title="measuring networks", live=None if not as_json else False)
    with display:
        report = check_lut(
            search_space,
            table,
            dev,
            samples=samples,
            seed=seed,
            plot_path=plot,
            progress=display.advance if display.live else None,
            fit_method=fit,
            **_protocol(warmup, repeats, budget_s),
        )
    stored = False
    if calibrate and same_device and report.calibration is not None:
        store_calibration(lut, report.calibration)
        stored = True
    if as_json:
        write_json(None, {**report.to_dict(), "calibration_stored": stored})
        return
    click.echo(report.summary())
    if stored and report.calibration is not None:
        cal = report.calibration
        click.echo(
            f"stored in {lut}: predictions are now {cal.slope:.4f} x sum "
            f"{cal.intercept_ms:+.4f} ms (fitted on {cal.networks} networks)"
        )
