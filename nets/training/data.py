"""Training data: the resumable augmentation sampler and the augmented training split."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any, cast

import numpy as np
from torch.utils.data import DistributedSampler, Sampler

from segevo.nets.datasets import SegmentationDataset, get_dataset
from segevo.nets.space import SearchSpace
from segevo.nets.training.config import TrainConfig
from segevo.nets.transforms import RandomScaleCropFlip


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
