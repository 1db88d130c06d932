"""COCO-Stuff-10K (v1.1): 182 labels, or the 171 labels that occur, as an option.

Label encoding (the standard one of the v1.1 release and of the papers that report
COCO-Stuff-10K with 182 classes, MoSegNAS included):

* ``annotations/ID.mat`` holds ``S`` with 0 = unlabeled and 1..182 = the COCO-Stuff ids
  (1..91 things, 92..182 stuff); the train id is ``S - 1`` and unlabeled becomes 255.
* ``annotations/ID.png`` (the ``stuffthingmaps`` convention) already holds ``S - 1``,
  0..181 with 255 = unlabeled.

Eleven thing ids (street sign, hat, shoe, eye glasses, plate, mirror, window, desk, door,
blender, hair brush) have no annotation at all. ``classes=171`` drops them and renumbers the
remaining 171 labels contiguously in id order (0..170), as many later code bases do.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import scipy.io

from segevo.nets.datasets.base import (
    IGNORE_INDEX,
    DatasetLayoutError,
    FileSegmentationDataset,
    read_id_list,
    read_index_png,
)

# Index i is train id i of the 182-label encoding (COCO-Stuff id i + 1).
COCOSTUFF_182 = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "street sign", "stop sign", "parking meter", "bench",
    "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe",
    "hat", "backpack", "umbrella", "shoe", "eye glasses", "handbag", "tie", "suitcase",
    "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
    "skateboard", "surfboard", "tennis racket", "bottle", "plate", "wine glass", "cup", "fork",
    "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot",
    "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed", "mirror",
    "dining table", "window", "desk", "toilet", "door", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "blender",
    "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush", "hair brush",
    "banner", "blanket", "branch", "bridge", "building-other", "bush", "cabinet", "cage",
    "cardboard", "carpet", "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds",
    "counter", "cupboard", "curtain", "desk-stuff", "dirt", "door-stuff", "fence",
    "floor-marble", "floor-other", "floor-stone", "floor-tile", "floor-wood", "flower", "fog",
    "food-other", "fruit", "furniture-other", "grass", "gravel", "ground-other", "hill",
    "house", "leaves", "light", "mat", "metal", "mirror-stuff", "moss", "mountain", "mud",
    "napkin", "net", "paper", "pavement", "pillow", "plant-other", "plastic", "platform",
    "playingfield", "railing", "railroad", "river", "road", "rock", "roof", "rug", "salad",
    "sand", "sea", "shelf", "sky-other", "skyscraper", "snow", "solid-other", "stairs", "stone",
    "straw", "structural-other", "table", "tent", "textile-other", "towel", "tree", "vegetable",
    "wall-brick", "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile",
    "wall-wood", "water-other", "waterdrops", "window-blind", "window-other", "wood",
)  # fmt: skip

# COCO-Stuff ids (1-based) of the thing classes that were never annotated.
UNUSED_COCO_IDS = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91)


def _table_171() -> np.ndarray:
    used = [i for i in range(182) if i + 1 not in UNUSED_COCO_IDS]
    table = np.full(256, IGNORE_INDEX, dtype=np.int64)
    table[used] = np.arange(len(used))
    return table


_TABLE_171 = _table_171()
COCOSTUFF_171 = tuple(COCOSTUFF_182[i] for i in range(182) if i + 1 not in UNUSED_COCO_IDS)


class CocoStuff10k(FileSegmentationDataset):
    """COCO-Stuff-10K: 9,000 train and 1,000 test images (``classes`` = 182 or 171)."""

    name = "cocostuff"
    splits = ("train", "test", "all")
    layout: ClassVar[str] = (
        "  images/ID.jpg\n"
        "  annotations/ID.mat (field S: 0 unlabeled, 1..182 COCO-Stuff ids) or ID.png "
        "(0..181, 255 unlabeled)\n"
        "  imageLists/{train,test,all}.txt (one ID per line)"
    )

    def __init__(self, root: str | Path, split: str, *, classes: int = 182, **options: object):
        if classes not in (182, 171):
            raise ValueError(f"classes must be 182 or 171, got {classes!r}")
        self.classes = classes
        super().__init__(root, split, **options)

    @property
    def class_names(self) -> tuple[str, ...]:
        return COCOSTUFF_182 if self.classes == 182 else COCOSTUFF_171

    def find_pairs(self) -> list[tuple[Path, Path]]:
        list_file = self.root / "imageLists" / f"{self.split}.txt"
        if not list_file.is_file():
            raise self.layout_error(f"missing list file {list_file}")
        pairs = []
        for image_id in read_id_list(list_file):
            label = self.root / "annotations" / f"{image_id}.mat"
            if not label.is_file():
                label = label.with_suffix(".png")
            pairs.append((self.root / "images" / f"{image_id}.jpg", label))
        return self.require_files(pairs)

    def decode_label(self, path: Path) -> np.ndarray:
        if path.suffix == ".mat":
            try:
                raw = np.asarray(scipy.io.loadmat(path)["S"], dtype=np.int64)
            except (KeyError, ValueError, OSError) as error:
                raise DatasetLayoutError(
                    f"{path} is not a COCO-Stuff annotation (a .mat with the label map S): {error}"
                ) from error
            train_ids = np.where((raw >= 1) & (raw <= 182), raw - 1, IGNORE_INDEX)
        else:
            raw = read_index_png(path)
            train_ids = np.where((raw >= 0) & (raw <= 181), raw, IGNORE_INDEX)
        if self.classes == 171:
            return _TABLE_171[train_ids]
        return train_ids
