"""Cityscapes fine annotations: gtFine labelIds mapped to the 19 evaluation train ids."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from segevo.nets.datasets.base import IGNORE_INDEX, FileSegmentationDataset, read_index_png

CITYSCAPES_CLASSES = (
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
)

# labelId -> trainId of the official cityscapesScripts label table; every other id is ignored.
LABEL_ID_TO_TRAIN_ID = {
    7: 0,
    8: 1,
    11: 2,
    12: 3,
    13: 4,
    17: 5,
    19: 6,
    20: 7,
    21: 8,
    22: 9,
    23: 10,
    24: 11,
    25: 12,
    26: 13,
    27: 14,
    28: 15,
    31: 16,
    32: 17,
    33: 18,
}


def _lookup_table() -> np.ndarray:
    table = np.full(256, IGNORE_INDEX, dtype=np.int64)
    for label_id, train_id in LABEL_ID_TO_TRAIN_ID.items():
        table[label_id] = train_id
    return table


_TRAIN_ID_TABLE = _lookup_table()


class Cityscapes(FileSegmentationDataset):
    """Cityscapes with fine annotations (``gtFine``), 19 classes."""

    name = "cityscapes"
    splits = ("train", "val", "test")
    layout: ClassVar[str] = (
        "  leftImg8bit/{train,val,test}/CITY/CITY_SEQ_FRAME_leftImg8bit.png\n"
        "  gtFine/{train,val,test}/CITY/CITY_SEQ_FRAME_gtFine_labelIds.png"
    )
    image_suffix = "_leftImg8bit.png"
    label_suffix = "_gtFine_labelIds.png"

    @property
    def class_names(self) -> tuple[str, ...]:
        return CITYSCAPES_CLASSES

    def find_pairs(self) -> list[tuple[Path, Path]]:
        image_root = self.root / "leftImg8bit" / self.split
        label_root = self.root / "gtFine" / self.split
        for folder in (image_root, label_root):
            if not folder.is_dir():
                raise self.layout_error(f"folder {folder} does not exist")
        pairs = []
        for image_path in sorted(image_root.glob(f"*/*{self.image_suffix}")):
            stem = image_path.name[: -len(self.image_suffix)]
            city = image_path.parent.name
            pairs.append((image_path, label_root / city / f"{stem}{self.label_suffix}"))
        return self.require_files(pairs)

    def decode_label(self, path: Path) -> np.ndarray:
        raw = read_index_png(path)
        if raw.min() < 0 or raw.max() > 255:
            raise self.layout_error(f"{path} holds values outside 0..255; expected labelIds")
        return _TRAIN_ID_TABLE[raw]
