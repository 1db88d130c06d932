"""Glue for ``segevo train`` and ``segevo export``: build, retrain, recalibrate and score one
chosen network with the pieces of :mod:`segevo.nets`.

Retraining from scratch follows the paper's post-search recipe (Sec. IV-D): SGD with
momentum 0.9 and weight decay 1e-5, learning rate 0.01 decaying with the poly schedule
(power 0.9), batches of 8, random scale from {0.75, ..., 2.0}, crop and horizontal flip
(``nets.transforms.RandomScaleCropFlip``), OHEM cross-entropy on the main and auxiliary heads
(``nets.train.train_standalone``); then mIoU on the validation split
(``nets.evaluate.score_model``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Recipe:
    """The retraining settings (defaults: the paper's, with fewer steps)."""

    steps: int = 2000
    batch_size: int = 8
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-5
    poly_power: float = 0.9
    crop_hw: tuple[int, int] | None = None
    scales: tuple[float, ...] = (0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(
                f"steps and batch size must be >= 1, got {self.steps}, {self.batch_size}"
            )
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


@dataclass(frozen=True)
class Retrained:
    """A retrained network (eval mode, no auxiliary heads) and how it did."""

    net: Any
    losses: list[float]
    miou: float
    pixel_accuracy: float
    val_images: int
    input_hw: tuple[int, int]


def _data(dataset: str, options: dict[str, Any], split: str, **extra: Any) -> Any:
    from segevo.engine.problems.mosegnas import lists_to_tuples
    from segevo.nets.datasets import get_dataset

    return get_dataset(dataset, split, **lists_to_tuples(dict(options)), **extra)


def retrain(
    space: Any,
    x: np.ndarray,
    dataset: str,
    dataset_options: dict[str, Any],
    recipe: Recipe,
    *,
    device: str = "cpu",
    val_images: int | None = None,
    progress: Callable[[Any], None] | None = None,
) -> Retrained:
    """Train architecture ``x`` of ``space`` from scratch on ``dataset`` and score it.

    ``progress`` receives each step's ``segevo.nets.train.TrainProgress`` (a display draws it).
    """
    import torch

    from segevo.nets.blocks import SegmentationNet
    from segevo.nets.evaluate import score_model
    from segevo.nets.train import train_standalone
    from segevo.nets.transforms import RandomScaleCropFlip

    x = np.asarray(space.validate(x))
    arch = space.decode(x)
    crop = recipe.crop_hw or tuple(int(v) for v in getattr(space, "base_hw", arch.input_hw))
    augment = RandomScaleCropFlip(crop, scales=recipe.scales)
    train_data = _data(dataset, dataset_options, "train", augment=augment)
    val_data = _data(dataset, dataset_options, "val")
    torch.manual_seed(recipe.seed)
    model = SegmentationNet.from_arch(arch, train_data.num_classes, with_aux=True).to(device)
    losses = train_standalone(
        model,
        train_data,
        steps=recipe.steps,
        input_hw=tuple(arch.input_hw),
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        momentum=recipe.momentum,
        weight_decay=recipe.weight_decay,
        poly_power=recipe.poly_power,
        seed=recipe.seed,
        progress=progress,
    )
    net = without_aux(model, arch, train_data.num_classes)
    confusion, _, count = score_model(
        net,
        val_data,
        arch.input_hw,
        num_classes=val_data.num_classes,
        ignore_index=int(getattr(val_data, "ignore_index", 255)),
        max_images=val_images,
        device=device,
    )
    return Retrained(
        net=net,
        losses=losses,
        miou=float(confusion.miou()),
        pixel_accuracy=float(confusion.pixel_accuracy()),
        val_images=count,
        input_hw=(int(arch.input_hw[0]), int(arch.input_hw[1])),
    )


def without_aux(model: Any, arch: Any, num_classes: int) -> Any:
    """The deployed network: ``model``'s weights without the auxiliary heads, eval mode."""
    from segevo.nets.blocks import SegmentationNet

    net = SegmentationNet.from_arch(arch, num_classes, with_aux=False)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(("aux16.", "aux32."))}
    net.load_state_dict(state)
    first = next(model.parameters())
    return net.to(first.device).eval()


def inherited_network(
    checkpoint: str,
    x: np.ndarray,
    dataset: str,
    dataset_options: dict[str, Any],
    *,
    calib_batches: int = 8,
    calib_batch_size: int = 8,
    seed: int = 0,
    device: str = "cpu",
) -> tuple[Any, Any, tuple[str, ...]]:
    """``(network, space, class names)``: sub-network ``x`` of a trained supernet with the
    supernet's weights and batch-norm statistics recalibrated for it (as evaluated)."""
    from segevo.nets.evaluate import calibration_batches, recalibrate_batchnorm
    from segevo.nets.train import load_supernet

    supernet: Any
    supernet, payload = load_supernet(checkpoint, device=device)
    space = supernet.space
    x = np.asarray(space.validate(x))
    supernet.set_active(x)
    train_data = _data(dataset, dataset_options, "train")
    batches = calibration_batches(
        train_data,
        space.decode(x).input_hw,
        batches=calib_batches,
        batch_size=calib_batch_size,
        seed=seed,
    )
    recalibrate_batchnorm(supernet, batches, device)
    return supernet.extract(x), space, tuple(payload.get("class_names", ()))
