"""What ``segevo run`` adds to the engine's run configuration: the quick start and ``mosegnas``.

- :func:`problem_flag_options` adds ``--dataset``, ``--space``, ``--device``, ``--supernet``
  and ``--lut`` to a click command (they set the ``mosegnas`` problem's options);
- :func:`resolve_run_config` is :func:`segevo.engine.config.resolve` plus: with no problem
  named anywhere, the quick start (the ``mosegnas`` problem on the ``tiny`` space and the
  synthetic data set, on the CPU, with a small budget); the problem flags merged into
  ``problem_options`` (flags override the TOML file);
- :func:`prepare_run_config` trains the supernet and builds the latency table a ``mosegnas``
  run needs when they are not given (or reuses the cached ones) with live progress, checks
  that checkpoint, data set and table fit together, and returns the configuration with
  their paths filled in, which the run directory then records.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from segevo.cli.common import note
from segevo.cli.display import LutDisplay, TrainDisplay, duration

# The quick start: `segevo run` with no arguments. Sized to finish on two CPU cores in a
# few minutes (measured in docs/cli.md); every value can be overridden.
QUICK_RUN: dict[str, Any] = {
    "evaluations": 100,
    "initial": 16,
    "batch": 4,
    "evaluators": 1,
    "moea_options": {"pop_size": 60, "n_gen": 200},
}
QUICK_TRAIN: dict[str, Any] = {
    "steps": 2000,
    "time_budget_s": 300.0,
    "batch_size": 8,
    "lr": 0.05,
    "checkpoint_interval_s": 60.0,
    # One thread: on a shared or busy machine a second torch thread costs far more than it
    # gives (steps 10x slower measured on a loaded 2-core machine).
    "num_threads": 1,
}
QUICK_PROBLEM: dict[str, Any] = {
    "space": "tiny",
    "space_options": {"base_hw": [48, 64]},
    "dataset": "synthetic",
    "dataset_options": {"size": [48, 64]},
    "device": "cpu",
    "device_options": {"threads": 1},
    # The LUT is the latency objective: timing each network while the search keeps the
    # other core busy measures the contention more than the network (measure_latency=true
    # for a dedicated device).
    "measure_latency": False,
    "calib_batches": 2,
    "calib_batch_size": 8,
    "val_images": 32,
    "threads": 1,
    "train": QUICK_TRAIN,
    "lut_protocol": {
        "warmup": 2,
        "min_repeats": 5,
        "max_repeats": 50,
        "budget_s": 0.02,
        "retries": 1,
    },
}
# Options that belong to the quick start's own data (a data set of another size needs others).
_QUICK_DATA_KEYS = ("space_options", "dataset_options", "val_images")


def problem_flag_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Click options for the ``mosegnas`` problem (each lands in ``problem_options``)."""
    options = [
        click.option(
            "--lut",
            type=click.Path(dir_okay=False, path_type=Path),
            help="latency table (segevo lut build); default: build or reuse a cached one",
        ),
        click.option(
            "--supernet",
            type=click.Path(path_type=Path),
            help="trained supernet checkpoint; default: train or reuse a cached one",
        ),
        click.option(
            "--device", help="latency target: cpu (default), cuda[:i], ort-cpu or ort-cuda[:i]"
        ),
        click.option("--space", help="search space: tiny (default) or r50"),
        click.option(
            "--dataset",
            help="synthetic (default), camvid:PATH, cityscapes:PATH, voc:PATH or cocostuff:PATH",
        ),
    ]
    for option in options:
        function = option(function)
    return function


def _given(flags: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in flags.items() if v is not None}


def resolve_run_config(
    config_file: Path | None, overrides: dict[str, Any], flags: dict[str, Any]
) -> Any:
    """The run configuration from a TOML file, command-line overrides and problem flags.

    Returns a validated :class:`segevo.engine.config.RunConfig` (paths not prepared yet).
    """
    from segevo.engine.config import from_mapping, load_toml

    values: dict[str, Any] = load_toml(config_file) if config_file is not None else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    flags = _given(flags)
    if "problem" not in values:
        values["problem"] = "mosegnas"
        for key, value in QUICK_RUN.items():
            values.setdefault(key, copy.deepcopy(value))
        if values["initial"] > values["evaluations"]:
            values["initial"] = values["evaluations"]
    if values["problem"] != "mosegnas":
        if flags:
            names = ", ".join(f"--{k}" for k in sorted(flags))
            raise click.UsageError(
                f"{names} set the mosegnas problem's options; this run's problem is "
                f"{values['problem']!r}"
            )
        return from_mapping(values)
    options = dict(values.get("problem_options") or {})
    options.update(flags)
    values["problem_options"] = _with_quick_defaults(options)
    return from_mapping(values)


def _with_quick_defaults(options: dict[str, Any]) -> dict[str, Any]:
    """The quick start's value for every ``mosegnas`` option left out.

    The data-size options (input resolution, validation images) are the quick start's only
    with its own space and data set; on another data set the nets' defaults apply.
    """
    quick_data = (
        options.get("dataset", QUICK_PROBLEM["dataset"]) == QUICK_PROBLEM["dataset"]
        and options.get("space", QUICK_PROBLEM["space"]) == QUICK_PROBLEM["space"]
    )
    out = dict(options)
    for key, value in QUICK_PROBLEM.items():
        if key in _QUICK_DATA_KEYS and not quick_data:
            continue
        if key == "device_options" and out.get("device", "cpu") not in ("cpu", "ort-cpu"):
            continue  # threads is a CPU option
        out.setdefault(key, copy.deepcopy(value))
    return out


def prepare_run_config(config: Any) -> Any:
    """For ``mosegnas``: make or find the supernet and table; check they fit; fill in paths.

    Other problems come back unchanged.
    """
    if config.problem != "mosegnas":
        return config
    problem = prepare_mosegnas(dict(config.problem_options))
    changes: dict[str, Any] = {"problem_options": problem.options}
    if problem.measure_latency and config.hv_reference is None:
        # The engine's default reference comes from the table; measured latencies of the
        # same networks can lie beyond it, and would then add nothing to the hypervolume.
        changes["hv_reference"] = list(measured_reference(problem))
    return config.replace(**changes)


def prepare_mosegnas(options: dict[str, Any]) -> Any:
    """The ``mosegnas`` problem of ``options``, its supernet and table made or found first,
    loaded and checked (``problem.options`` names the files)."""
    from segevo.devices import get_device
    from segevo.engine.problems.mosegnas import (
        MoSegNASProblem,
        canonical_dataset,
        check_options,
        ensure_lut,
        ensure_supernet,
        lists_to_tuples,
        space_from_options,
        train_config,
    )
    from segevo.nets.datasets import get_dataset

    options = dict(options)
    check_options(options)  # mistakes surface now, not after minutes of training
    space_name = options.get("space", "tiny")
    space = space_from_options(space_name, options.get("space_options"))
    options["dataset"] = canonical_dataset(options.get("dataset", "synthetic"))
    data_options = lists_to_tuples(dict(options.get("dataset_options") or {}))
    num_classes = get_dataset(options["dataset"], "val", **data_options).num_classes
    if options.get("supernet") is None:
        config = train_config(
            space_name,
            options.get("space_options"),
            options["dataset"],
            options.get("dataset_options"),
            options.get("train"),
        )
        limits = []
        if config.steps is not None:
            limits.append(f"{config.steps} steps")
        if config.time_budget_s is not None:
            limits.append(duration(config.time_budget_s))
        note(
            f"supernet: {space.name} on {options['dataset']} (at most {' or '.join(limits)}); "
            "reused from the cache when trained before"
        )
        with TrainDisplay() as display:
            prepared = ensure_supernet(config, progress=display, on_wait=display.message)
        note(f"supernet: {'trained' if prepared.made else 'cached'} {prepared.path}")
        options["supernet"] = str(prepared.path)
    if options.get("lut") is None:
        device = get_device(
            options.get("device", "cpu"), **dict(options.get("device_options") or {})
        )
        protocol = options.get("lut_protocol")
        note(
            f"latency table: {space.name} on {device.name}; reused from the cache when built before"
        )
        lut_display = LutDisplay()
        with lut_display:
            prepared = ensure_lut(
                space,
                num_classes,
                device,
                protocol,
                progress=lut_display.advance if lut_display.live else None,
                chunk_s=None if lut_display.live else 10.0,
                on_chunk=None if lut_display.live else lut_display,
                on_wait=lut_display.message,
            )
        note(f"latency table: {'built' if prepared.made else 'cached'} {prepared.path}")
        options["lut"] = str(prepared.path)
    problem = MoSegNASProblem(**options)
    problem.load()  # checkpoint, data set and table must fit together before the run starts
    return problem


def measured_reference(problem: Any) -> tuple[float, float]:
    """A hypervolume reference for measured latencies: accuracy 0, and 1.5 x the measured
    latency of the largest network (or 1.1 x its table latency, if that is larger)."""
    import numpy as np

    largest = problem.space.largest()
    measured = problem.measure(largest)
    predicted = float(problem.latency(np.asarray([largest]))[0])
    return 0.0, max(1.5 * measured, 1.1 * predicted)
