"""The supernet training loop: sandwich rule, progressive phases, SGD + poly, checkpoints.

See :mod:`segevo.nets.train` for what one step does and how a run resumes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from segevo.nets.distributed import (
    DistInfo,
    average_gradients,
    broadcast_parameters,
    init_distributed,
    shutdown_distributed,
    sync_buffers,
)
from segevo.nets.losses import segmentation_loss
from segevo.nets.space import get_space
from segevo.nets.supernet import SuperNet, sandwich
from segevo.nets.training.checkpoint import (
    CHECKPOINT_NAME,
    initialise_from,
    load_checkpoint,
    save_checkpoint,
    supernet_payload,
)
from segevo.nets.training.config import TrainConfig, TrainProgress, TrainResult
from segevo.nets.training.data import AugmentSampler, build_train_dataset, default_crop
from segevo.nets.training.schedule import phase_at, poly_lr, run_fraction, subnet_input_hw
from segevo.nets.transforms import resize_image, resize_label

ProgressCallback = Callable[[TrainProgress], None]


def _resolve_device(name: str, info: DistInfo) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{info.local_rank}" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{info.local_rank}")
    return device


@dataclass
class _Start:
    """Where a run begins: from scratch, from its own checkpoint, or from ``init_from``."""

    step: int = 0
    elapsed_s: float = 0.0
    losses: list[float] = field(default_factory=list)
    initialised_from: str | None = None


def _starting_point(
    config: TrainConfig,
    checkpoint_path: Path | None,
    supernet: SuperNet,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
) -> _Start:
    """Load the run's own checkpoint (resume) or the ``init_from`` weights into ``supernet``."""
    if checkpoint_path is not None and checkpoint_path.exists():
        if not config.resume:
            raise ValueError(
                f"{checkpoint_path} exists and resume is off; choose another checkpoint_dir "
                "or resume=True (an existing checkpoint is never overwritten by a fresh run)"
            )
        payload = load_checkpoint(checkpoint_path, map_location=device)
        if (
            payload["space_digest"] != supernet.space.digest()
            or payload["num_classes"] != supernet.num_classes
        ):
            raise ValueError(
                f"{checkpoint_path} was trained for another space or class count "
                f"({payload['config']['space']}, {payload['num_classes']} classes)"
            )
        supernet.load_state_dict(payload["model"])
        if payload.get("optimizer") is None:  # weights only (an imported file): a fresh run
            return _Start()
        optimizer.load_state_dict(payload["optimizer"])
        return _Start(
            int(payload["step"]), float(payload["elapsed_s"]), list(payload.get("losses", []))
        )
    if config.init_from is not None:
        initialise_from(supernet, config.init_from, map_location=device)
        return _Start(initialised_from=config.init_from)
    return _Start()


def train_supernet(config: TrainConfig, *, progress: ProgressCallback | None = None) -> TrainResult:
    """Train (or resume training of) a supernet as ``config`` says.

    ``progress`` (on the main process only) receives a :class:`TrainProgress` after every
    step; nothing is drawn here.
    """
    hint = config.device
    if hint == "auto":
        hint = "cuda" if torch.cuda.is_available() else "cpu"
    info = init_distributed(hint)
    try:
        return _train(config, info, progress)
    finally:
        shutdown_distributed(info)


def _train(config: TrainConfig, info: DistInfo, progress: ProgressCallback | None) -> TrainResult:
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    device = _resolve_device(config.device, info)
    space = get_space(config.space, **config.space_options)
    crop_hw = default_crop(space, config)
    dataset = build_train_dataset(config, crop_hw)

    torch.manual_seed(config.seed)
    supernet = SuperNet(space, dataset.num_classes).to(device)
    optimizer = torch.optim.SGD(
        supernet.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    checkpoint_path = (
        Path(config.checkpoint_dir) / CHECKPOINT_NAME if config.checkpoint_dir else None
    )
    begin = _starting_point(config, checkpoint_path, supernet, optimizer, device)
    step, elapsed_before, losses = begin.step, begin.elapsed_s, begin.losses
    broadcast_parameters(supernet, info)
    resumed_from = step

    sampler = AugmentSampler(
        len(dataset),
        rank=info.rank,
        world_size=info.world_size,
        seed=config.seed,
        start=step * config.batch_size,
    )
    loader = DataLoader(
        dataset,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.num_workers,
        drop_last=True,
        pin_memory=device.type == "cuda",
    )

    def payload_now(elapsed: float, finished: bool) -> dict[str, Any]:
        return supernet_payload(
            supernet,
            config=config.to_dict(),
            space=space,
            num_classes=dataset.num_classes,
            class_names=list(dataset.class_names),
            step=step,
            elapsed_s=elapsed,
            finished=finished,
            optimizer=optimizer.state_dict(),
            losses=losses,
        )

    callback = progress if info.is_main else None
    supernet.train()
    start_time = time.perf_counter()
    elapsed = elapsed_before
    last_save = elapsed
    speed = 0.0
    batches = iter(loader)
    try:
        while run_fraction(step, elapsed, config) < 1.0:
            step_start = time.perf_counter()
            done = run_fraction(step, elapsed, config)
            phase = phase_at(done, config.phases)
            lr = poly_lr(config.lr, done, config.poly_power)
            for group in optimizer.param_groups:
                group["lr"] = lr
            images, labels = next(batches)
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad(set_to_none=True)
            rng = np.random.default_rng([config.seed, step])
            step_loss = 0.0
            archs = sandwich(space, rng, phase=phase, n_random=config.random_subnets)
            for x in archs:
                supernet.set_active(x)
                hw = subnet_input_hw(space, x, crop_hw)
                inputs = resize_image(images, hw)
                target = resize_label(labels, hw)
                loss = segmentation_loss(supernet, supernet(inputs), target)
                loss.backward()
                step_loss += float(loss.detach())
            local_elapsed = elapsed_before + time.perf_counter() - start_time
            shared = average_gradients(
                supernet,
                info,
                torch.tensor([local_elapsed, step_loss / len(archs)], dtype=torch.float64),
            )
            optimizer.step()
            step += 1
            elapsed, mean_loss = float(shared[0]), float(shared[1])
            if not math.isfinite(mean_loss):
                raise FloatingPointError(
                    f"training loss became {mean_loss} at step {step}; lower lr ({config.lr})"
                )
            losses.append(mean_loss)
            step_time = time.perf_counter() - step_start
            rate = config.batch_size * info.world_size / max(step_time, 1e-9)
            speed = rate if speed == 0.0 else 0.9 * speed + 0.1 * rate
            if checkpoint_path is not None and elapsed - last_save >= config.checkpoint_interval_s:
                sync_buffers(supernet, info)
                if info.is_main:
                    save_checkpoint(checkpoint_path, payload_now(elapsed, finished=False))
                last_save = elapsed
            if callback is not None:
                callback(
                    TrainProgress(
                        step=step,
                        steps=config.steps,
                        elapsed_s=elapsed,
                        time_budget_s=config.time_budget_s,
                        progress=min(1.0, run_fraction(step, elapsed, config)),
                        phase=phase,
                        lr=lr,
                        loss=mean_loss,
                        images_per_s=speed,
                    )
                )
    finally:
        del batches
    sync_buffers(supernet, info)
    if checkpoint_path is not None and info.is_main and step > resumed_from:
        save_checkpoint(checkpoint_path, payload_now(elapsed, finished=True))
    supernet.set_active(space.largest())
    return TrainResult(
        supernet=supernet,
        checkpoint=checkpoint_path,
        steps=step,
        elapsed_s=elapsed,
        final_loss=losses[-1] if losses else float("nan"),
        resumed_from_step=resumed_from,
        losses=losses,
        initialised_from=begin.initialised_from,
    )
