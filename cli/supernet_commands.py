"""``segevo supernet train``: train the weight-sharing supernet (sandwich rule, progressive
shrinking, SGD + poly), on the CPU or GPUs, resumable, scalable with torchrun.
``segevo supernet import-ofa``: start from OFA-ResNet50's ImageNet weights instead of random
ones (``segevo.nets.ofa_import``; docs/ofa_import.md), then ``train --init-from FILE``.

Without ``--output`` the checkpoint goes to the cache folder keyed by the space, data set and
training settings, where ``segevo run`` finds it for the same settings. Several GPUs::

    torchrun --nproc_per_node 4 -m segevo.cli.main supernet train --space r50 \\
        --dataset cityscapes:/data/cityscapes --device cuda --steps 40000 --output runs/r50

The library reports progress through a callback; these commands draw it
(``segevo.cli.display.TrainDisplay``: rich on a terminal, plain lines otherwise).
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
    "--init-from",
    "init_from",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="start a fresh training from this supernet checkpoint's weights "
    "(e.g. one written by `segevo supernet import-ofa`)",
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
    init_from: Path | None,
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
        # absolute, so that the cache key does not depend on the working folder
        "init_from": str(init_from.resolve()) if init_from is not None else None,
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
        if result.initialised_from:
            note(f"started from the weights of {result.initialised_from}")
        click.echo(
            f"{result.checkpoint}: {result.steps} steps (resumed from {result.resumed_from_step}), "
            f"final loss {result.final_loss:.4f}, {duration(result.elapsed_s)}"
        )


@supernet_group.command("import-ofa")
@click.argument("checkpoint", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--space", default="r50", show_default=True, help="search space to fill")
@click.option(
    "--base-hw", help="the space's base input resolution HEIGHTxWIDTH (default: the preset's)"
)
@dataset_option
@click.option(
    "--slice",
    "allow_slicing",
    is_flag=True,
    help="allow a narrower or shallower space than OFA-ResNet50 (e.g. tiny): take OFA's "
    "leading channels and blocks, as OFA does for elastic width and depth",
)
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the decoder init")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="segevo checkpoint to write (default: CHECKPOINT's name + -SPACE.segevo.pt, here)",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the full report (every source -> target tensor, names left out) as JSON",
)
@click.option("--verbose", "-v", is_flag=True, help="list every mapped and left-out tensor")
def import_ofa_command(
    checkpoint: Path,
    space: str,
    base_hw: str | None,
    dataset: str,
    data_size: str | None,
    allow_slicing: bool,
    seed: int,
    output: Path | None,
    json_path: Path | None,
    verbose: bool,
) -> None:
    """Map an OFA-ResNet50 (Once-for-All) ImageNet state dict into a supernet checkpoint.

    The backbone (stem and the 18 bottleneck blocks) is copied; OFA's ImageNet classifier is
    dropped; the BiSeNet decoder and auxiliary heads are not in OFA and stay as initialised,
    so train next: segevo supernet train --init-from OUTPUT (same --space and --dataset).
    """
    from segevo.engine.problems.mosegnas import (
        canonical_dataset,
        lists_to_tuples,
        space_from_options,
    )
    from segevo.nets.datasets import get_dataset
    from segevo.nets.ofa_import import OFALayoutError, import_ofa_checkpoint
    from segevo.nets.train import TrainConfig, save_checkpoint

    space_opts = space_option_dict(base_hw)
    data_opts = dataset_option_dict(data_size)
    search_space = space_from_options(space, space_opts)
    data_spec = canonical_dataset(dataset)
    data = get_dataset(data_spec, "val", **lists_to_tuples(data_opts))
    config = TrainConfig(
        space=space, space_options=space_opts, dataset=data_spec, dataset_options=data_opts
    )
    try:
        payload, report = import_ofa_checkpoint(
            checkpoint,
            search_space,
            config=config.to_dict(),
            num_classes=int(data.num_classes),
            class_names=list(data.class_names),
            allow_slicing=allow_slicing,
            seed=seed,
        )
    except OFALayoutError as exc:
        message = str(exc)
        raise click.ClickException(
            message if str(checkpoint) in message else f"{checkpoint}: {message}"
        ) from None
    target = output or Path(
        f"{checkpoint.name.removesuffix('.pth').removesuffix('.pt')}-{space}.segevo.pt"
    )
    save_checkpoint(target, payload)
    counts = report.counts()
    if verbose:
        for move in report.moves:
            shapes = (
                f"  {list(move.source_shape)} -> {list(move.target_shape)}" if move.sliced else ""
            )
            note(f"mapped    {move.source} -> {move.target}{shapes}")
        for name in report.unmapped:
            note(f"unmapped  {name}")
        for name in report.missing:
            note(f"missing   {name}")
    if json_path is not None:
        write_json(json_path, {"checkpoint": str(target), **report.to_dict()})
    decoder_parts = sorted({name.split(".")[0] for name in report.missing})
    dropped = [name.split(".")[0] for name in report.unmapped]
    reasons = []
    if "classifier" in dropped:
        reasons.append("OFA's ImageNet classifier")
    if "blocks" in dropped:
        reasons.append(f"{dropped.count('blocks')} of blocks beyond the stage depths")
    click.echo(
        f"{target}: mapped {counts['mapped']} OFA tensors ({counts['sliced']} sliced) into "
        f"{search_space.name}; unmapped {counts['unmapped']} ({', '.join(reasons) or 'none'}); "
        f"missing {counts['missing']} ({', '.join(decoder_parts) or 'none'}: not in OFA, "
        "left as initialised)"
    )
    flags = f"--space {space}" + (f" --base-hw {base_hw}" if base_hw else "")
    flags += f" --dataset {dataset}" + (f" --data-size {data_size}" if data_size else "")
    note(f"next: segevo supernet train {flags} --init-from {target}")
