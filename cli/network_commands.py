"""``segevo export`` and ``segevo train``: turn a chosen architecture into a usable network.

- ``export RUN_DIR --arch ID``: the sub-network with the supernet's weights (batch-norm
  statistics recalibrated for it, as it was evaluated) as TorchScript, a JSON sidecar and
  ONNX (when the onnx package is installed);
- ``train [RUN_DIR] --arch ID``: the architecture retrained from scratch with the paper's
  recipe (segevo.cli.retrain), scored on the validation split, then exported the same way.

An architecture is named by its id in the run (``--arch``, see ``segevo archive front``) or
given as a vector (``--x 2,1,0,...``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from segevo.cli.common import format_arch, note, parse_arch
from segevo.cli.locations import RUN_DIR_TYPE
from segevo.cli.options import dataset_option_dict, parse_hw, space_option_dict


def _local_below(run_dir: Any, folder: str) -> Path:
    """``RUN_DIR/folder``, or ``./folder`` for a run directory on an object store (networks
    are written locally; copy them where they are needed)."""
    return run_dir / folder if isinstance(run_dir, Path) else Path(folder)


def _choose(run_dir: Path | None, arch: int | None, x: str | None) -> tuple[np.ndarray, str]:
    """The architecture vector and a label for file names."""
    if (arch is None) == (x is None):
        raise click.UsageError("name the architecture with --arch ID (needs RUN_DIR) or --x VECTOR")
    if x is not None:
        return parse_arch(x), "custom"
    if run_dir is None or arch is None:
        raise click.UsageError("--arch ID needs the RUN_DIR it belongs to")
    from segevo.engine.rows import read_run

    rows = read_run(run_dir)
    return rows.X[rows.row_of_task(int(arch))], f"arch-{arch}"


def _mosegnas_options(run_dir: Path) -> dict[str, Any]:
    from segevo.engine.rundir import RunDir

    config = RunDir.open(run_dir).load_config()
    if config.problem != "mosegnas":
        raise click.ClickException(
            f"{run_dir} searched the problem {config.problem!r}, which has no networks to "
            "export; export and train need a mosegnas run"
        )
    return dict(config.problem_options)


def _write_export(
    net: Any, space: Any, x: np.ndarray, class_names: Any, path: Path, onnx: bool | None
) -> None:
    from segevo.nets.export import export_network

    files = export_network(net, path, space=space, x=x, class_names=list(class_names), onnx=onnx)
    click.echo(f"torchscript  {files.torchscript}")
    click.echo(f"metadata     {files.metadata}")
    if files.onnx is not None:
        click.echo(f"onnx         {files.onnx}")
    elif files.note:
        note(files.note)


ONNX = click.option(
    "--onnx/--no-onnx",
    default=None,
    help="ONNX beside the TorchScript file (default: when the onnx package is installed)",
)


@click.command("export")
@click.argument("run_dir", type=RUN_DIR_TYPE)
@click.option("--arch", type=int, help="the architecture's id in the run")
@click.option("--x", "x_text", help="or the architecture vector, e.g. 2,1,0,...")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="TorchScript file (.pt)"
)
@ONNX
@click.option("--device", default="cpu", show_default=True, help="where to recalibrate")
def export_command(
    run_dir: Path,
    arch: int | None,
    x_text: str | None,
    output: Path | None,
    onnx: bool | None,
    device: str,
) -> None:
    """Export a sub-network with its inherited weights (TorchScript, ONNX)."""
    from segevo.cli.retrain import inherited_network

    options = _mosegnas_options(run_dir)
    x, label = _choose(run_dir, arch, x_text)
    net, space, class_names = inherited_network(
        options["supernet"],
        x,
        options["dataset"],
        dict(options.get("dataset_options") or {}),
        calib_batches=int(options.get("calib_batches", 8)),
        calib_batch_size=int(options.get("calib_batch_size", 8)),
        seed=int(options.get("seed", 0)),
        device=device,
    )
    target = output or _local_below(run_dir, "export") / f"{label}.pt"
    _write_export(net, space, x, class_names, target, onnx)


@click.command("train")
@click.argument("run_dir", required=False, type=RUN_DIR_TYPE)
@click.option("--arch", type=int, help="the architecture's id in RUN_DIR")
@click.option("--x", "x_text", help="or the architecture vector, e.g. 2,1,0,...")
@click.option("--space", help="search space (default: the run's, else tiny)")
@click.option("--base-hw", help="the space's base resolution HEIGHTxWIDTH (default: the run's)")
@click.option("--dataset", help="data set spec (default: the run's, else synthetic)")
@click.option("--data-size", help="resize images on load to HEIGHTxWIDTH (default: the run's)")
@click.option("--steps", type=int, default=2000, show_default=True)
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--lr", type=float, default=0.01, show_default=True)
@click.option("--weight-decay", type=float, default=1e-5, show_default=True)
@click.option("--crop", help="training crop HEIGHTxWIDTH (default: the space's base resolution)")
@click.option("--val-images", type=int, help="score on the first N validation images only")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:i]")
@click.option("--threads", type=int, help="torch CPU threads (default: torch's choice)")
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    help="folder for model.pt, metrics.json (default RUN_DIR/retrained/arch-ID)",
)
@ONNX
def train_command(
    run_dir: Path | None,
    arch: int | None,
    x_text: str | None,
    space: str | None,
    base_hw: str | None,
    dataset: str | None,
    data_size: str | None,
    steps: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    crop: str | None,
    val_images: int | None,
    seed: int,
    device: str,
    threads: int | None,
    output: Path | None,
    onnx: bool | None,
) -> None:
    """Retrain a chosen architecture from scratch (SGD, poly schedule, scale/crop/flip)."""
    if threads is not None:
        if threads < 1:
            raise click.BadParameter("must be >= 1", param_hint="--threads")
        import torch

        torch.set_num_threads(threads)
    from segevo.cli.retrain import Recipe, retrain
    from segevo.engine.problems.mosegnas import canonical_dataset, space_from_options

    options: dict[str, Any] = _mosegnas_options(run_dir) if run_dir is not None else {}
    x, label = _choose(run_dir, arch, x_text)
    space_name = space or options.get("space", "tiny")
    space_opts = dict(options.get("space_options") or {}) if space is None else {}
    space_opts.update(space_option_dict(base_hw))
    data_spec = canonical_dataset(dataset or options.get("dataset", "synthetic"))
    data_opts = dict(options.get("dataset_options") or {}) if dataset is None else {}
    data_opts.update(dataset_option_dict(data_size))
    search_space = space_from_options(space_name, space_opts)
    crop_hw = parse_hw(crop)
    recipe = Recipe(
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        crop_hw=(crop_hw[0], crop_hw[1]) if crop_hw else None,
        seed=seed,
    )
    note(f"retraining {format_arch(x)} on {data_spec} for {steps} steps")
    start = time.perf_counter()
    from segevo.cli.display import TrainDisplay

    with TrainDisplay(title="retrain") as display:
        result = retrain(
            search_space,
            x,
            data_spec,
            data_opts,
            recipe,
            device=device,
            val_images=val_images,
            progress=display,
        )
    elapsed = time.perf_counter() - start
    folder = output or (
        _local_below(run_dir, "retrained") / label if run_dir else Path("retrained") / label
    )
    folder.mkdir(parents=True, exist_ok=True)
    metrics = {
        "x": [int(v) for v in x],
        "space": space_name,
        "space_options": space_opts,
        "dataset": data_spec,
        "dataset_options": data_opts,
        "recipe": {k: getattr(recipe, k) for k in recipe.__dataclass_fields__},
        "miou": result.miou,
        "pixel_accuracy": result.pixel_accuracy,
        "val_images": result.val_images,
        "input_hw": list(result.input_hw),
        "first_loss": result.losses[0],
        "final_loss": result.losses[-1],
        "seconds": round(elapsed, 1),
    }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    from segevo.nets.datasets import get_dataset

    class_names = get_dataset(
        data_spec,
        "val",
        **{k: tuple(v) if isinstance(v, list) else v for k, v in data_opts.items()},
    ).class_names
    click.echo(
        f"mIoU {result.miou:.4f} (pixel accuracy {result.pixel_accuracy:.4f}, "
        f"{result.val_images} validation images) after {steps} steps; loss "
        f"{result.losses[0]:.3f} -> {result.losses[-1]:.3f}"
    )
    _write_export(result.net, search_space, x, class_names, folder / "model.pt", onnx)
    click.echo(f"metrics      {folder / 'metrics.json'}")
