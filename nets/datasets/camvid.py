"""CamVid in the SegNet layout: 11 classes, value 11 (void) ignored."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from segevo.nets.datasets.base import (
    IGNORE_INDEX,
    FileSegmentationDataset,
    read_id_list,
    read_index_png,
)

CAMVID_CLASSES = (
    "sky",
    "building",
    "pole",
    "road",
    "pavement",
    "tree",
    "sign_symbol",
    "fence",
    "car",
    "pedestrian",
    "bicyclist",
)


class CamVid(FileSegmentationDataset):
    """CamVid (SegNet tutorial version).

    Images ``{split}/NAME.png``, labels ``{split}annot/NAME.png`` (one value per pixel,
    0..10 = classes, 11 = void -> ignore). ``{split}.txt`` lists "image label" pairs whose
    paths may point elsewhere (e.g. /SegNet/CamVid/...): only their file names are used.
    Without the list file, every PNG of ``{split}/`` is used, sorted by name.
    """

    name = "camvid"
    splits = ("train", "val", "test")
    layout: ClassVar[str] = (
        "  train/*.png, trainannot/*.png (same names; 0..10 classes, 11 void), train.txt\n"
        "  val/*.png, valannot/*.png, val.txt; test/*.png, testannot/*.png, test.txt\n"
        "  (the list files are optional: lines 'IMAGE_PATH LABEL_PATH', file names are used)"
    )

    @property
    def class_names(self) -> tuple[str, ...]:
        return CAMVID_CLASSES

    def find_pairs(self) -> list[tuple[Path, Path]]:
        image_dir = self.root / self.split
        label_dir = self.root / f"{self.split}annot"
        list_file = self.root / f"{self.split}.txt"
        if list_file.is_file():
            pairs = []
            for line_no, line in enumerate(read_id_list(list_file), start=1):
                fields = line.split()
                if len(fields) != 2:
                    raise self.layout_error(
                        f"{list_file} line {line_no} has {len(fields)} fields; expected "
                        "'IMAGE_PATH LABEL_PATH'"
                    )
                pairs.append((image_dir / Path(fields[0]).name, label_dir / Path(fields[1]).name))
            return self.require_files(pairs)
        if not image_dir.is_dir() or not label_dir.is_dir():
            raise self.layout_error(f"folders {image_dir.name}/ and {label_dir.name}/ are needed")
        images = sorted(image_dir.glob("*.png"))
        return self.require_files([(path, label_dir / path.name) for path in images])

    def decode_label(self, path: Path) -> np.ndarray:
        raw = read_index_png(path)
        return np.where(raw < len(CAMVID_CLASSES), raw, IGNORE_INDEX)
