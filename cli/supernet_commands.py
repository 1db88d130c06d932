"""``segevo supernet train``: train the weight-sharing supernet (sandwich rule, progressive
shrinking, SGD + poly), on the CPU or GPUs, resumable, scalable with torchrun.

Without ``--output`` the checkpoint goes to the cache folder keyed by the space, data set and
training settings, where ``segevo run`` finds it for the same settings. Several GPUs::

    torchrun --nproc_per_node 4 -m segevo.cli.main supernet train --space r50 \\
        --dataset cityscapes:/data/cityscapes --device cuda --steps 40000 --output runs/r50
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from segevo.cli.common import note, write_json
from segevo.cli.options import (
    dataset_option,
    dataset_option_dict,
    parse_hw,
    space_option_dict,
    space_options,
)


def _load_settings(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    import json
    import tomllib

    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text())
        else:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
    except FileNotFoundError:
        raise click.BadParameter(f"{path} does not exist", param_hint="--config") from None
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise click.BadParameter(f"{path} cannot be read: {exc}", param_hint="--config") from None
    if not isinstance(data, dict):
        raise click.BadParameter(f"{path} must hold a table of options", param_hint="--config")
    return data


@click.group("supernet")
def supernet_group() -> None:
    """Train the weight-sharing supernet."""


@supernet_group.command("train")
@space_options
@dataset_option
@click.option("--steps", type=int, help="SGD steps (default 1000)")
@click.option("--time-budget", "time_budget_s", type=float, help="stop after this many seconds")
@click.option("--batch-size", type=int, help="images per step and process (default 8)")
@click.option("--lr", type=float, help="initial learning rate (default 0.01, poly schedule)")
@click.option("--crop", help="training crop HEIGHTxWIDTH (default: the space's base resolution)")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:i]")
@click.option("--threads", type=int, help="CPU threads for torch")
@click.option("--workers", type=int, help="data-loading processes")
@click.option("--seed", type=int)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML or JSON file of training options (segevo.nets.train.TrainConfig); flags override",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    help="checkpoint folder (default: the cache, where `segevo run` finds it)",
)
def train_command(
    space: str,
    base_hw: str | None,
    dataset: str,
    data_size: str | None,
    steps: int | None,
    time_budget_s: float | None,
    batch_size: int | None,
    lr: float | None,
    crop: str | None,
    device: str,
    threads: int | None,
    workers: int | None,
    seed: int | None,
    config_file: Path | None,
    output: Path | None,
) -> None:
    """Train a supernet (resumes an interrupted training of the same settings)."""
    import dataclasses

    from segevo.cli.display import TrainDisplay, duration
    from segevo.engine.problems.mosegnas import canonical_dataset, supernet_cache_dir
    from segevo.nets.train import TrainConfig, train_supernet

    values = _load_settings(config_file)
    flags = {
        "steps": steps,
        "time_budget_s": time_budget_s,
        "batch_size": batch_size,
        "lr": lr,
        "crop_size": parse_hw(crop),
        "device": device,
        "num_threads": threads,
        "num_workers": workers,
        "seed": seed,
    }
    values.update({k: v for k, v in flags.items() if v is not None})
    values.setdefault("space", space)
    values.setdefault("dataset", dataset)
    if base_hw is not None or "space_options" not in values:
        values["space_options"] = {**values.get("space_options", {}), **space_option_dict(base_hw)}
    if data_size is not None or "dataset_options" not in values:
        values["dataset_options"] = {
            **values.get("dataset_options", {}),
            **dataset_option_dict(data_size),
        }
    values["dataset"] = canonical_dataset(values["dataset"])
    values.pop("checkpoint_dir", None)
    config = TrainConfig.from_dict(values)
    folder = output or supernet_cache_dir(config)
    config = dataclasses.replace(config, checkpoint_dir=str(folder), resume=True)
    main_rank = int(os.environ.get("RANK", "0")) == 0
    if main_rank:
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "train.json", config.to_dict())
        note(f"training a supernet of {config.space} on {config.dataset} -> {folder}")
    with TrainDisplay(live=None if main_rank else False) as display:
        result = train_supernet(config, progress=display if main_rank else None)
    if main_rank:
        click.echo(
            f"{result.checkpoint}: {result.steps} steps (resumed from {result.resumed_from_step}), "
            f"final loss {result.final_loss:.4f}, {duration(result.elapsed_s)}"
        )
