"""Accuracy of a sub-network with weights inherited from the supernet (paper Algorithm 2).

``evaluate_subnet(supernet, x, train_data, val_data)``:

1. ``supernet.set_active(x)``;
2. batch-norm statistics are recalibrated for that sub-network: every BN layer's running
   statistics are reset and re-estimated as a cumulative average (``momentum=None``) over a
   few training batches, forwarded in train mode under ``no_grad`` (the statistics the
   supernet accumulated during training mix all sub-networks and do not fit any one of them);
3. every validation image is resized to the architecture's input size
   (``space.decode(x).input_hw``), the main logits are upsampled back to the label's size and
   the argmax is scored against the untouched label in a confusion matrix (mIoU as in
   ``segevo.nets.metrics``);
4. seconds per image is the wall time of step 3's forward passes (resize, network, upsample,
   argmax) divided by the number of images, as the paper's Algorithm 2 measures it.

The supernet's batch-norm buffers and train/eval mode are restored afterwards, so evaluating
one sub-network does not change what another evaluation sees; the active sub-network stays x.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import Dataset

from segevo.nets.metrics import ConfusionMatrix
from segevo.nets.transforms import resize_image


@dataclass(frozen=True)
class EvalResult:
    """mIoU (over classes that occur), IoU per class, pixel accuracy and time per image."""

    miou: float
    iou: np.ndarray
    pixel_accuracy: float
    seconds_per_image: float
    images: int
    input_hw: tuple[int, int]
    confusion: np.ndarray
    class_names: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-able summary (NaN IoUs become None)."""
        return {
            "miou": self.miou,
            "iou": [None if np.isnan(v) else float(v) for v in self.iou],
            "pixel_accuracy": self.pixel_accuracy,
            "seconds_per_image": self.seconds_per_image,
            "images": self.images,
            "input_hw": list(self.input_hw),
            "class_names": list(self.class_names),
        }


def batchnorm_layers(module: nn.Module) -> list[_BatchNorm]:
    """Every batch-norm layer of ``module``."""
    return [m for m in module.modules() if isinstance(m, _BatchNorm)]


def recalibrate_batchnorm(
    model: nn.Module, batches: Iterable[torch.Tensor], device: str | torch.device | None = None
) -> int:
    """Re-estimate every BN layer's running statistics on ``batches`` (images only).

    Statistics are reset, then accumulated as an equal-weight average over the batches
    (``momentum=None``), with the model in train mode under ``no_grad``. The model is left
    in eval mode with each layer's momentum restored. Returns the number of batches used.
    """
    layers = batchnorm_layers(model)
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None
    model.train()
    used = 0
    try:
        with torch.no_grad():
            for images in batches:
                if device is not None:
                    images = images.to(device)
                model(images)
                used += 1
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
        model.eval()
    if used == 0 and layers:
        raise ValueError("batch-norm recalibration needs at least one batch of training images")
    return used


def calibration_batches(
    dataset: Dataset,
    input_hw: Sequence[int],
    *,
    batches: int,
    batch_size: int,
    seed: int = 0,
) -> list[torch.Tensor]:
    """``batches`` batches of training images (a seeded random subset) resized to ``input_hw``."""
    if batches < 1 or batch_size < 1:
        raise ValueError(f"need batches >= 1 and batch_size >= 1, got {batches} and {batch_size}")
    count = min(len(dataset), batches * batch_size)  # type: ignore[arg-type]
    order = np.random.default_rng(seed).permutation(len(dataset))[:count]  # type: ignore[arg-type]
    images = [resize_image(dataset[int(i)][0], input_hw) for i in order]
    return [torch.stack(images[k : k + batch_size]) for k in range(0, count, batch_size)]


def _snapshot_bn(model: nn.Module) -> list[dict[str, torch.Tensor]]:
    return [
        {name: buffer.detach().clone() for name, buffer in layer.named_buffers(recurse=False)}
        for layer in batchnorm_layers(model)
    ]


def _restore_bn(model: nn.Module, snapshot: list[dict[str, torch.Tensor]]) -> None:
    for layer, saved in zip(batchnorm_layers(model), snapshot, strict=True):
        for name, value in saved.items():
            getattr(layer, name).copy_(value)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def score_model(
    model: nn.Module,
    val_data: Dataset,
    input_hw: Sequence[int],
    *,
    num_classes: int,
    ignore_index: int = 255,
    max_images: int | None = None,
    device: str | torch.device = "cpu",
) -> tuple[ConfusionMatrix, float, int]:
    """Confusion matrix, seconds per image and image count of ``model`` (eval mode) on
    ``val_data``: each image resized to ``input_hw``, logits upsampled to its label's size."""
    device = torch.device(device)
    confusion = ConfusionMatrix(num_classes, ignore_index)
    count = len(val_data)  # type: ignore[arg-type]
    if max_images is not None:
        count = min(count, int(max_images))
    if count < 1:
        raise ValueError("the validation data set is empty")
    hw = (int(input_hw[0]), int(input_hw[1]))
    model.eval()
    seconds = 0.0
    with torch.inference_mode():
        for index in range(count):
            image, label = val_data[index]
            image = image.to(device)
            _synchronize(device)
            start = time.perf_counter()
            logits = model(resize_image(image, hw).unsqueeze(0))
            if isinstance(logits, tuple | list):
                logits = logits[0]
            logits = torch.nn.functional.interpolate(
                logits, size=tuple(label.shape[-2:]), mode="bilinear", align_corners=False
            )
            prediction = logits.argmax(1)[0]
            _synchronize(device)
            seconds += time.perf_counter() - start
            confusion.update(prediction.cpu(), label)
    return confusion, seconds / count, count


def evaluate_subnet(
    supernet: nn.Module,
    x: Any,
    train_data: Dataset,
    val_data: Dataset,
    *,
    calib_batches: int = 8,
    calib_batch_size: int = 8,
    max_val_images: int | None = None,
    space: Any = None,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> EvalResult:
    """mIoU, IoU per class and seconds per image of sub-network ``x`` with inherited weights.

    ``train_data`` supplies the calibration images (``calib_batches`` x ``calib_batch_size``
    drawn with ``seed``), ``val_data`` the scored ones (the first ``max_val_images`` if given).
    ``space`` defaults to ``supernet.space``. See the module docstring for the procedure.
    """
    space = space if space is not None else getattr(supernet, "space", None)
    if space is None:
        raise ValueError("pass space=: the supernet has no .space to decode the architecture")
    x = np.asarray(space.validate(x))
    input_hw = tuple(int(v) for v in space.decode(x).input_hw)
    if device is None:
        tensor = next(iter([*supernet.parameters(), *supernet.buffers()]), None)
        device = tensor.device if tensor is not None else "cpu"
    device = torch.device(device)
    num_classes = int(getattr(val_data, "num_classes", 0) or getattr(supernet, "num_classes", 0))
    if num_classes < 1:
        raise ValueError("the validation data set must expose num_classes")
    ignore_index = int(getattr(val_data, "ignore_index", 255))

    was_training = supernet.training
    snapshot = _snapshot_bn(supernet)
    cast(Any, supernet).set_active(x)
    try:
        batches = calibration_batches(
            train_data, input_hw, batches=calib_batches, batch_size=calib_batch_size, seed=seed
        )
        recalibrate_batchnorm(supernet, batches, device)
        confusion, seconds, count = score_model(
            supernet,
            val_data,
            input_hw,
            num_classes=num_classes,
            ignore_index=ignore_index,
            max_images=max_val_images,
            device=device,
        )
    finally:
        _restore_bn(supernet, snapshot)
        supernet.train(was_training)
    return EvalResult(
        miou=confusion.miou(),
        iou=confusion.iou(),
        pixel_accuracy=confusion.pixel_accuracy(),
        seconds_per_image=seconds,
        images=count,
        input_hw=input_hw,  # type: ignore[arg-type]
        confusion=confusion.matrix.numpy(),
        class_names=tuple(getattr(val_data, "class_names", ())),
    )
