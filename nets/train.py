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

Progress: :func:`train_supernet` and :func:`train_standalone` take an optional ``progress``
callback that receives a :class:`TrainProgress` after every step; the library draws nothing
(the ``segevo`` command line draws with rich, ``python -m segevo.nets.train`` prints lines).

``init_from``: a fresh run can start from the weights of another supernet checkpoint of the
same space, e.g. OFA-ResNet50's ImageNet weights imported by ``segevo supernet import-ofa``
(:mod:`segevo.nets.ofa_import`).

This module is the public face; the parts live in :mod:`segevo.nets.training`.
"""

from __future__ import annotations

import sys

from segevo.nets.losses import segmentation_loss
from segevo.nets.training.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    initialise_from,
    load_checkpoint,
    load_supernet,
    save_checkpoint,
    supernet_payload,
)
from segevo.nets.training.command import main
from segevo.nets.training.config import DEFAULT_PHASES, TrainConfig, TrainProgress, TrainResult
from segevo.nets.training.data import AugmentSampler, build_train_dataset, default_crop
from segevo.nets.training.schedule import phase_at, poly_lr, subnet_input_hw
from segevo.nets.training.standalone import train_standalone
from segevo.nets.training.supernet_loop import ProgressCallback, train_supernet

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_NAME",
    "DEFAULT_PHASES",
    "AugmentSampler",
    "ProgressCallback",
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "build_train_dataset",
    "default_crop",
    "initialise_from",
    "load_checkpoint",
    "load_supernet",
    "main",
    "phase_at",
    "poly_lr",
    "save_checkpoint",
    "segmentation_loss",
    "subnet_input_hw",
    "supernet_payload",
    "train_standalone",
    "train_supernet",
]

if __name__ == "__main__":
    sys.exit(main())
