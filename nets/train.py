"""Supernet training: sandwich rule, progressive activation, SGD + poly, checkpoints, torchrun.

Each step takes one batch and runs forward/backward on the largest sub-network, the smallest
one and ``random_subnets`` random ones (the sandwich rule), accumulating their gradients
before a single SGD step. Options are activated progressively, as the paper does after OFA:
during the ``depth`` phase only input scale and depths vary (expand and width at maximum),
then the ``expand`` phase adds the per-layer expand ratios and the ``width`` phase
everything. "Smallest" means the smallest network of the current phase. Each sub-network sees
the batch at its own input scale (the crop resized by the architecture's scale).

The learning rate follows the poly schedule ``lr * (1 - progress) ** power``, where progress
is the fraction of the step count or of the time budget used, whichever is further along.

Checkpoints (``CHECKPOINT_DIR/last.pt``) are written every ``checkpoint_interval_s`` seconds
and at the end, atomically (temporary file, then rename), so an interrupted run resumes from
the last complete one and never loses it. Sub-network sampling is seeded by the step number
and augmentation by the sample's position, so a resumed run continues exactly where it was.

Multi-process: launch with ``torchrun --nproc_per_node N -m segevo.nets.train --config
FILE.json``. Every rank reads its own share of each epoch (DistributedSampler order) and
gradients are averaged over ranks once per step (see ``segevo.nets.distributed``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from segevo.nets.datasets import SegmentationDataset, get_dataset
from segevo.nets.distributed import (
    DistInfo,
    average_gradients,
    broadcast_parameters,
    init_distributed,
    shutdown_distributed,
    sync_buffers,
)
from segevo.nets.losses import ohem_cross_entropy
from segevo.nets.space import PHASES, SearchSpace, get_space
from segevo.nets.supernet import SuperNet, sandwich
from segevo.nets.transforms import PAPER_SCALES, RandomScaleCropFlip, resize_image, resize_label

__all__ = [
    "AugmentSampler",
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "load_checkpoint",
    "load_supernet",
    "phase_at",
    "poly_lr",
    "save_checkpoint",
    "segmentation_loss",
    "subnet_input_hw",
    "train_standalone",
    "train_supernet",
]

CHECKPOINT_NAME = "last.pt"
CHECKPOINT_FORMAT = 1
DEFAULT_PHASES: tuple[tuple[str, float], ...] = (("depth", 0.0), ("expand", 0.25), ("width", 0.5))


def _pair(value: Any, what: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        value = (value, value)
    pair = tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"{what} must be (height, width) with positive integers, got {value!r}")
    return int(pair[0]), int(pair[1])


@dataclass
class TrainConfig:
    """Everything that defines a supernet training run (JSON-able; checked on creation).

    ``steps`` and/or ``time_budget_s`` bound the run (training stops at the first reached).
    ``crop_size`` defaults to the space's base resolution; ``data_size`` resizes every image on
    load (use it to train at reduced resolution). ``phases`` lists ``(phase, start)`` pairs:
    the sampling phase (``depth``, ``expand``, ``width``) that begins at that fraction of the
    run. ``device`` ``"auto"`` picks ``cuda:LOCAL_RANK`` when CUDA is available, else CPU.
    """

    space: str = "tiny"
    space_options: dict[str, Any] = field(default_factory=dict)
    dataset: str = "synthetic"
    dataset_options: dict[str, Any] = field(default_factory=dict)
    split: str = "train"
    data_size: tuple[int, int] | None = None
    crop_size: tuple[int, int] | None = None
    scales: tuple[float, ...] = PAPER_SCALES
    batch_size: int = 8
    steps: int | None = 1000
    time_budget_s: float | None = None
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-5
    poly_power: float = 0.9
    phases: tuple[tuple[str, float], ...] = DEFAULT_PHASES
    random_subnets: int = 1
    checkpoint_dir: str | None = None
    checkpoint_interval_s: float = 300.0
    resume: bool = True
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    num_threads: int | None = None
    display: bool = False

    def __post_init__(self) -> None:
        self.data_size = _pair(self.data_size, "data_size")
        self.crop_size = _pair(self.crop_size, "crop_size")
        self.scales = tuple(float(s) for s in self.scales)
        if not self.scales or any(not math.isfinite(s) or s <= 0 for s in self.scales):
            raise ValueError(f"scales must be positive numbers, got {self.scales!r}")
        self.phases = tuple((str(name), float(start)) for name, start in self.phases)
        if not self.phases or self.phases[0][1] != 0.0:
            raise ValueError(f"phases must start at 0.0, got {self.phases!r}")
        starts = [start for _, start in self.phases]
        if starts != sorted(starts) or starts[-1] >= 1.0:
            raise ValueError(f"phase starts must increase within [0, 1), got {self.phases!r}")
        for name, _ in self.phases:
            if name not in PHASES:
                raise ValueError(f"unknown phase {name!r}; known: {', '.join(PHASES)}")
        if self.steps is None and self.time_budget_s is None:
            raise ValueError("give steps, time_budget_s or both (training needs an end)")
        if self.steps is not None and (not isinstance(self.steps, int) or self.steps < 1):
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ValueError(f"time_budget_s must be > 0, got {self.time_budget_s!r}")
        positive = {
            "batch_size": self.batch_size,
            "lr": self.lr,
            "checkpoint_interval_s": self.checkpoint_interval_s,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if not isinstance(self.batch_size, int):
            raise ValueError(f"batch_size must be an integer, got {self.batch_size!r}")
        if not 0 <= self.momentum < 1 or self.weight_decay < 0 or self.poly_power < 0:
            raise ValueError(
                "need 0 <= momentum < 1, weight_decay >= 0 and poly_power >= 0, got "
                f"{self.momentum}, {self.weight_decay}, {self.poly_power}"
            )
        if not isinstance(self.random_subnets, int) or self.random_subnets < 0:
            raise ValueError(f"random_subnets must be an integer >= 0, got {self.random_subnets!r}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the known ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; known: {sorted(known)}")
        return cls(**values)


@dataclass(frozen=True)
class TrainProgress:
    """What a progress callback receives after each step."""

    step: int
    steps: int | None
    elapsed_s: float
    time_budget_s: float | None
    progress: float
    phase: str
    lr: float
    loss: float
    images_per_s: float


@dataclass
class TrainResult:
    """The trained supernet, where it was saved and how the run went."""

    supernet: SuperNet
    checkpoint: Path | None
    steps: int
    elapsed_s: float
    final_loss: float
    resumed_from_step: int
    losses: list[float]


# --------------------------------------------------------------------------- schedule


def poly_lr(base_lr: float, progress: float, power: float) -> float:
    """The poly schedule: ``base_lr * (1 - progress) ** power`` (progress clipped to [0, 1])."""
    return base_lr * (1.0 - min(max(progress, 0.0), 1.0)) ** power


def phase_at(progress: float, phases: tuple[tuple[str, float], ...]) -> str:
    """The sampling phase active at ``progress`` (the last one whose start has passed)."""
    current = phases[0][0]
    for name, start in phases:
        if progress >= start:
            current = name
    return current


def subnet_input_hw(space: SearchSpace, x: np.ndarray, crop_hw: tuple[int, int]) -> tuple[int, int]:
    """The crop's size at the sub-network's input scale (e.g. 0.5 x crop for scale 0.5)."""
    arch = space.decode(x)
    scale = float(getattr(arch, "scale", 1.0))
    return max(1, round(crop_hw[0] * scale)), max(1, round(crop_hw[1] * scale))


def segmentation_loss(model: nn.Module, outputs: Any, target: torch.Tensor) -> torch.Tensor:
    """The model's own ``compute_loss`` when it has one, else OHEM cross-entropy summed over
    the main and (in train mode) auxiliary outputs, as BiSeNet trains."""
    compute = getattr(model, "compute_loss", None)
    if callable(compute):
        return compute(outputs, target)
    heads = outputs if isinstance(outputs, tuple | list) else (outputs,)
    return sum(
        (ohem_cross_entropy(h, target) for h in heads), torch.zeros((), device=target.device)
    )


# --------------------------------------------------------------------------- data


class AugmentSampler(Sampler):
    """Endless ``(index, augmentation seed)`` pairs for one rank, resumable at any position.

    Epoch ``e`` visits the DistributedSampler permutation of that epoch (the rank's share);
    the seed of each sample is derived from ``(seed, epoch, rank, position)``, so the stream is
    the same whatever the number of loader workers and after a resume at ``start``.
    """

    def __init__(
        self, length: int, *, rank: int, world_size: int, seed: int, start: int = 0
    ) -> None:
        if length < world_size:
            raise ValueError(f"{length} training items cannot be shared by {world_size} ranks")
        self.length = length
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.start = start

    def _epoch_indices(self, epoch: int) -> list[int]:
        sampler: DistributedSampler = DistributedSampler(
            cast(Any, range(self.length)),
            num_replicas=self.world_size,
            rank=self.rank,
            shuffle=True,
            seed=self.seed,
            drop_last=True,
        )
        sampler.set_epoch(epoch)
        return list(sampler)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        per_epoch = self.length // self.world_size
        epoch, position = divmod(self.start, per_epoch)
        while True:
            indices = self._epoch_indices(epoch)
            for pos in range(position, per_epoch):
                state = np.random.SeedSequence([self.seed, epoch, self.rank, pos])
                yield indices[pos], int(state.generate_state(1)[0])
            epoch, position = epoch + 1, 0

    def __len__(self) -> int:  # an endless stream; DataLoader only needs a number
        return sys.maxsize


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` with torch.save to a temporary file beside ``path``, then rename it.

    A crash while writing leaves the previous checkpoint untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint written by :func:`train_supernet` (checked to be one)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no supernet checkpoint at {path}")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("kind") != "segevo-supernet":
        raise ValueError(f"{path} is not a segevo supernet checkpoint")
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} has checkpoint format {payload.get('format')}, expected {CHECKPOINT_FORMAT}"
        )
    return payload


def load_supernet(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a trained supernet from its checkpoint: ``(supernet in eval mode, checkpoint)``.

    The checkpoint also carries ``config``, ``class_names``, ``num_classes``, ``step``.
    """
    payload = load_checkpoint(path, map_location=device)
    config = payload["config"]
    space = get_space(config["space"], **config.get("space_options", {}))
    if space.digest() != payload["space_digest"]:
        raise ValueError(
            f"checkpoint {path} was trained on a different definition of space {config['space']!r}"
        )
    supernet = SuperNet(space, payload["num_classes"])
    supernet.load_state_dict(payload["model"])
    return supernet.to(device).eval(), payload


# --------------------------------------------------------------------------- training


def _resolve_device(name: str, info: DistInfo) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{info.local_rank}" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{info.local_rank}")
    return device


def build_train_dataset(config: TrainConfig, crop_hw: tuple[int, int]) -> SegmentationDataset:
    """The training split with the paper's augmentation at ``crop_hw``."""
    options = dict(config.dataset_options)
    if config.data_size is not None:
        options["size"] = config.data_size
    augment = RandomScaleCropFlip(crop_hw, scales=config.scales)
    return get_dataset(config.dataset, config.split, augment=augment, **options)


def default_crop(space: SearchSpace, config: TrainConfig) -> tuple[int, int]:
    """``config.crop_size``, else the space's base resolution, else the data size."""
    if config.crop_size is not None:
        return config.crop_size
    base = getattr(space, "base_hw", None)
    if base is not None:
        return int(base[0]), int(base[1])
    if config.data_size is not None:
        return config.data_size
    raise ValueError("give crop_size: the space has no base resolution to default to")


def train_supernet(
    config: TrainConfig, *, progress: Callable[[TrainProgress], None] | None = None
) -> TrainResult:
    """Train (or resume training of) a supernet as ``config`` says; see the module docstring."""
    hint = config.device
    if hint == "auto":
        hint = "cuda" if torch.cuda.is_available() else "cpu"
    info = init_distributed(hint)
    try:
        return _train(config, info, progress)
    finally:
        shutdown_distributed(info)


def _train(
    config: TrainConfig,
    info: DistInfo,
    progress: Callable[[TrainProgress], None] | None,
) -> TrainResult:
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
    step, elapsed_before, losses = 0, 0.0, []
    if checkpoint_path is not None and checkpoint_path.exists():
        if not config.resume:
            raise ValueError(
                f"{checkpoint_path} exists and resume is off; choose another checkpoint_dir "
                "or resume=True (an existing checkpoint is never overwritten by a fresh run)"
            )
        payload = load_checkpoint(checkpoint_path, map_location=device)
        if (
            payload["space_digest"] != space.digest()
            or payload["num_classes"] != dataset.num_classes
        ):
            raise ValueError(
                f"{checkpoint_path} was trained for another space or class count "
                f"({payload['config']['space']}, {payload['num_classes']} classes)"
            )
        supernet.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        step, elapsed_before = int(payload["step"]), float(payload["elapsed_s"])
        losses = list(payload.get("losses", []))
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

    def fraction(step_now: int, elapsed: float) -> float:
        parts = []
        if config.steps is not None:
            parts.append(step_now / config.steps)
        if config.time_budget_s is not None:
            parts.append(elapsed / config.time_budget_s)
        return max(parts)

    def payload_now(elapsed: float, finished: bool) -> dict[str, Any]:
        return {
            "kind": "segevo-supernet",
            "format": CHECKPOINT_FORMAT,
            "step": step,
            "elapsed_s": elapsed,
            "finished": finished,
            "config": config.to_dict(),
            "space_digest": space.digest(),
            "num_classes": dataset.num_classes,
            "class_names": list(dataset.class_names),
            "model": supernet.state_dict(),
            "optimizer": optimizer.state_dict(),
            "losses": losses[-10000:],
        }

    display = _RichDisplay(config) if config.display and info.is_main and progress is None else None
    callback = progress if progress is not None else (display.update if display else None)
    supernet.train()
    start_time = time.perf_counter()
    elapsed = elapsed_before
    last_save = elapsed
    speed = 0.0
    batches = iter(loader)
    try:
        with display if display is not None else contextlib.nullcontext():
            while fraction(step, elapsed) < 1.0:
                step_start = time.perf_counter()
                done = fraction(step, elapsed)
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
                if (
                    checkpoint_path is not None
                    and elapsed - last_save >= config.checkpoint_interval_s
                ):
                    sync_buffers(supernet, info)
                    if info.is_main:
                        save_checkpoint(checkpoint_path, payload_now(elapsed, finished=False))
                    last_save = elapsed
                if callback is not None and info.is_main:
                    callback(
                        TrainProgress(
                            step=step,
                            steps=config.steps,
                            elapsed_s=elapsed,
                            time_budget_s=config.time_budget_s,
                            progress=min(1.0, fraction(step, elapsed)),
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
    )


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
) -> list[float]:
    """Train one network (e.g. ``supernet.extract(x, with_aux=True)``) for ``steps`` SGD steps
    with the poly schedule; batches come from ``dataset`` (give it an ``augment``) and are
    resized to ``input_hw`` when given. Returns the loss per step; the model ends in eval mode.
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
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = poly_lr(lr, step / steps, poly_power)
        images, labels = next(batches)
        if input_hw is not None:
            images, labels = resize_image(images, input_hw), resize_label(labels, input_hw)
        optimizer.zero_grad(set_to_none=True)
        loss = segmentation_loss(model, model(images.to(device)), labels.to(device))
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


class _RichDisplay:
    """A rich progress bar with loss, learning rate, phase and images per second."""

    def __init__(self, config: TrainConfig) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.by_time = config.steps is None
        self.progress = Progress(
            TextColumn("[bold]supernet[/]"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
        )
        self.task = self.progress.add_task("train", total=1.0, status="starting")

    def __enter__(self) -> _RichDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, state: TrainProgress) -> None:
        status = (
            f"step {state.step}  loss {state.loss:.3f}  lr {state.lr:.2e}  "
            f"{state.phase}  {state.images_per_s:.1f} img/s"
        )
        self.progress.update(self.task, completed=state.progress, status=status)


# --------------------------------------------------------------------------- command line


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: list[str] | None = None) -> int:
    """``python -m segevo.nets.train [--config FILE.json] [--set KEY=JSON ...]`` (torchrun-able)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, help="JSON file of TrainConfig fields")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one field (JSON value)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    args = parser.parse_args(argv)
    values: dict[str, Any] = json.loads(args.config.read_text()) if args.config else {}
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep:
            parser.error(f"--set needs KEY=VALUE, got {item!r}")
        values[key] = _parse_value(text)
    values.setdefault("display", not args.quiet)
    try:
        config = TrainConfig.from_dict(values)
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    result = train_supernet(config)
    if int(os.environ.get("RANK", "0")) == 0:
        print(
            json.dumps(
                {
                    "checkpoint": str(result.checkpoint) if result.checkpoint else None,
                    "steps": result.steps,
                    "elapsed_s": round(result.elapsed_s, 3),
                    "final_loss": result.final_loss,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
