"""Training one fixed network (a chosen architecture, retrained from scratch)."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

from segevo.nets.datasets import SegmentationDataset
from segevo.nets.losses import segmentation_loss
from segevo.nets.training.config import TrainProgress
from segevo.nets.training.data import AugmentSampler
from segevo.nets.training.schedule import poly_lr
from segevo.nets.transforms import resize_image, resize_label


def train_standalone(
    model: nn.Module,
    dataset: SegmentationDataset,
    *,
    steps: int,
    input_hw: tuple[int, int] | None = None,
    batch_size: int = 8,
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 1e-5,
    poly_power: float = 0.9,
    seed: int = 0,
    progress: Callable[[TrainProgress], None] | None = None,
) -> list[float]:
    """Train one network (e.g. ``supernet.extract(x, with_aux=True)``) for ``steps`` SGD steps
    with the poly schedule; batches come from ``dataset`` (give it an ``augment``) and are
    resized to ``input_hw`` when given. Returns the loss per step; the model ends in eval mode.

    ``progress`` receives a :class:`TrainProgress` (phase ``"standalone"``) after every step.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"need steps >= 1 and batch_size >= 1, got {steps} and {batch_size}")
    device = next(model.parameters()).device
    optimizer = torch.optim.SGD(
        model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay
    )
    sampler = AugmentSampler(len(dataset), rank=0, world_size=1, seed=seed)
    batches = iter(DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=True))
    losses = []
    model.train()
    start = time.perf_counter()
    speed = 0.0
    for step in range(steps):
        step_start = time.perf_counter()
        step_lr = poly_lr(lr, step / steps, poly_power)
        for group in optimizer.param_groups:
            group["lr"] = step_lr
        images, labels = next(batches)
        if input_hw is not None:
            images, labels = resize_image(images, input_hw), resize_label(labels, input_hw)
        optimizer.zero_grad(set_to_none=True)
        loss = segmentation_loss(model, model(images.to(device)), labels.to(device))
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            rate = batch_size / max(time.perf_counter() - step_start, 1e-9)
            speed = rate if speed == 0.0 else 0.9 * speed + 0.1 * rate
            progress(
                TrainProgress(
                    step=step + 1,
                    steps=steps,
                    elapsed_s=time.perf_counter() - start,
                    time_budget_s=None,
                    progress=(step + 1) / steps,
                    phase="standalone",
                    lr=step_lr,
                    loss=losses[-1],
                    images_per_s=speed,
                )
            )
    model.eval()
    return losses
