"""The data set ABC shared by every segmentation data set, and the file-backed variant.

An item is ``(image, label)``: ``image`` float32 ``[3, H, W]`` normalised with the ImageNet
mean and standard deviation, ``label`` int64 ``[H, W]`` with class ids ``0..num_classes-1``
and ``ignore_index`` (255) for pixels that count neither in the loss nor in mIoU.

Indexing with a pair ``(index, seed)`` applies the data set's ``augment`` transform with a
generator seeded by ``seed``; this is how training gets per-sample random augmentation that
is reproducible whatever the number of loader workers (see ``segevo.nets.train``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from segevo.nets.transforms import normalize, resize_image, resize_label

IGNORE_INDEX = 255


class DatasetLayoutError(ValueError):
    """A data folder is missing or does not have the layout its data set expects."""


class PairTransform(Protocol):
    """A random transform of an (image, label) pair driven by an explicit generator."""

    def __call__(
        self, image: torch.Tensor, label: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


def parse_size(size: Sequence[int] | int | None, what: str = "size") -> tuple[int, int] | None:
    """Validate a ``(height, width)`` option (an int means a square); None passes through."""
    if size is None:
        return None
    if isinstance(size, int):
        size = (size, size)
    values = tuple(size)
    if len(values) != 2 or not all(isinstance(v, int | np.integer) and v > 0 for v in values):
        raise ValueError(f"{what} must be (height, width) with two positive integers, got {size!r}")
    return int(values[0]), int(values[1])


class SegmentationDataset(Dataset, ABC):
    """A semantic segmentation data set (one split of it).

    Subclasses define ``name``, ``class_names`` and implement ``__len__`` and ``load_raw``.
    Options common to every data set (keyword-only): ``size`` resizes every item to
    ``(height, width)`` on load (bilinear image, nearest label); ``augment`` is a
    :class:`PairTransform` applied to items requested as ``(index, seed)``.
    """

    name: ClassVar[str]
    splits: ClassVar[tuple[str, ...]]
    ignore_index: int = IGNORE_INDEX

    def __init__(
        self,
        split: str,
        *,
        size: Sequence[int] | int | None = None,
        augment: PairTransform | None = None,
    ) -> None:
        if split not in self.splits:
            raise ValueError(
                f"unknown split {split!r} for data set {self.name!r}; known: {', '.join(self.splits)}"
            )
        if augment is not None and not callable(augment):
            raise ValueError(f"augment must be callable (image, label, generator), got {augment!r}")
        self.split = split
        self.size = parse_size(size)
        self.augment = augment

    @property
    @abstractmethod
    def class_names(self) -> tuple[str, ...]:
        """One name per class id."""

    @property
    def num_classes(self) -> int:
        """Number of classes (label values ``0..num_classes-1``; ``ignore_index`` aside)."""
        return len(self.class_names)

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def load_raw(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Item ``index`` as stored: uint8 ``[H, W, 3]`` RGB image and int64 ``[H, W]`` label."""

    def __getitem__(self, index: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        seed: int | None = None
        if isinstance(index, tuple):
            index, seed = index
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index %= len(self)
        raw_image, raw_label = self.load_raw(index)
        if raw_image.shape[:2] != raw_label.shape:
            raise DatasetLayoutError(
                f"{self.name} item {index}: image is {raw_image.shape[:2]} but its label is "
                f"{raw_label.shape}; images and labels must have the same height and width"
            )
        image = normalize(raw_image)
        label = torch.from_numpy(np.ascontiguousarray(raw_label, dtype=np.int64))
        if self.size is not None and tuple(label.shape) != self.size:
            image = resize_image(image, self.size)
            label = resize_label(label, self.size)
        if self.augment is not None:
            generator = None
            if seed is not None:
                generator = torch.Generator().manual_seed(int(seed))
            image, label = self.augment(image, label, generator)
        return image, label

    def label_counts(self) -> np.ndarray:
        """Pixel count per class over the whole split (ignored pixels excluded)."""
        counts = np.zeros(self.num_classes, dtype=np.int64)
        for index in range(len(self)):
            _, label = self.load_raw(index)
            valid = label[label != self.ignore_index]
            counts += np.bincount(valid.ravel(), minlength=self.num_classes)[: self.num_classes]
        return counts

    def __repr__(self) -> str:
        return f"{type(self).__name__}(split={self.split!r}, items={len(self)}, classes={self.num_classes})"


def read_rgb(path: Path) -> np.ndarray:
    """An image file as uint8 ``[H, W, 3]`` RGB."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def read_index_png(path: Path) -> np.ndarray:
    """A single-channel label PNG (grey or palette) as its raw integer values, ``[H, W]``.

    Palette PNGs (VOC) keep their indices: PIL's ``P`` mode array is the index map.
    """
    with Image.open(path) as image:
        if image.mode not in ("L", "P", "I", "I;16", "1"):
            raise DatasetLayoutError(
                f"label file {path} has image mode {image.mode}; expected a single-channel "
                "(grey or palette) PNG holding one class value per pixel"
            )
        return np.asarray(image, dtype=np.int64)


class FileSegmentationDataset(SegmentationDataset):
    """A data set read from (image file, label file) pairs found by a subclass."""

    layout: ClassVar[str]

    def __init__(self, root: str | Path, split: str, **options: object) -> None:
        super().__init__(split, **options)  # type: ignore[arg-type]
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise self.layout_error(f"folder {self.root} does not exist")
        self.pairs: list[tuple[Path, Path]] = self.find_pairs()
        if not self.pairs:
            raise self.layout_error(f"no images found for split {split!r} under {self.root}")

    @abstractmethod
    def find_pairs(self) -> list[tuple[Path, Path]]:
        """The (image path, label path) pairs of this split, in a stable order."""

    @abstractmethod
    def decode_label(self, path: Path) -> np.ndarray:
        """The label file as train ids (int64 ``[H, W]``, ignore = 255)."""

    def layout_error(self, problem: str) -> DatasetLayoutError:
        """An error naming the problem and the layout this data set expects."""
        return DatasetLayoutError(
            f"{self.name} data set: {problem}.\nExpected layout under the data folder:\n{self.layout}"
        )

    def require_files(self, pairs: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
        """``pairs`` unchanged, or a layout error naming the first missing file."""
        for image_path, label_path in pairs:
            for path in (image_path, label_path):
                if not path.is_file():
                    raise self.layout_error(f"missing file {path}")
        return pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def load_raw(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        image_path, label_path = self.pairs[index]
        return read_rgb(image_path), self.decode_label(label_path)


def read_id_list(path: Path) -> list[str]:
    """Non-empty stripped lines of a text list file."""
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]
