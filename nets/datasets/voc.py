"""PASCAL VOC 2012 segmentation, optionally augmented with SBD (the 10,582-image train_aug)."""

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

VOC_CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


def read_sbd_mat(path: Path) -> np.ndarray:
    """The class map of an SBD ``cls/*.mat`` file (``GTcls.Segmentation``)."""
    try:
        content = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
        return np.asarray(content["GTcls"].Segmentation, dtype=np.int64)
    except (KeyError, AttributeError, ValueError, OSError) as error:
        raise DatasetLayoutError(
            f"{path} is not an SBD class file (a .mat with the struct GTcls.Segmentation): {error}"
        ) from error


class PascalVOC(FileSegmentationDataset):
    """PASCAL VOC 2012 (21 classes; 255 marks object borders and is ignored).

    ``root`` is the ``VOC2012`` folder (or a ``VOCdevkit`` folder holding it). Split
    ``train_aug`` is the usual (SBD train + SBD val + VOC train) - VOC val set; it reads
    ``SegmentationClassAug/*.png`` when that folder exists (ids from
    ``ImageSets/Segmentation/train_aug.txt`` or ``trainaug.txt`` when present), otherwise the
    SBD release given by ``sbd=PATH`` (or found at ``ROOT/SBD``). Where an image has an official
    VOC label (``SegmentationClass``) that label wins over SBD's ``.mat``.
    """

    name = "voc"
    splits = ("train", "val", "trainval", "train_aug")
    layout: ClassVar[str] = (
        "  JPEGImages/ID.jpg\n"
        "  SegmentationClass/ID.png (palette PNG: 0..20 classes, 255 border)\n"
        "  ImageSets/Segmentation/{train,val,trainval}.txt (one ID per line)\n"
        "  for train_aug, either SegmentationClassAug/ID.png (+ optional\n"
        "  ImageSets/Segmentation/train_aug.txt) or the SBD release passed as sbd=PATH:\n"
        "  SBD/dataset/{cls/ID.mat, img/ID.jpg, train.txt, val.txt}"
    )

    def __init__(
        self, root: str | Path, split: str, *, sbd: str | Path | None = None, **options: object
    ) -> None:
        root = Path(root).expanduser()
        for candidate in (root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
            if (candidate / "JPEGImages").is_dir():
                root = candidate
                break
        self.sbd = Path(sbd).expanduser() if sbd is not None else None
        super().__init__(root, split, **options)

    @property
    def class_names(self) -> tuple[str, ...]:
        return VOC_CLASSES

    def _ids(self, name: str) -> list[str]:
        path = self.root / "ImageSets" / "Segmentation" / f"{name}.txt"
        if not path.is_file():
            raise self.layout_error(f"missing list file {path}")
        return read_id_list(path)

    def _sbd_dataset_dir(self) -> Path | None:
        candidates = [self.sbd] if self.sbd is not None else [self.root / "SBD"]
        for base in candidates:
            if base is None:
                continue
            for folder in (base, base / "dataset", base / "benchmark_RELEASE" / "dataset"):
                if (folder / "cls").is_dir():
                    return folder
        if self.sbd is not None:
            raise self.layout_error(f"sbd={self.sbd} has no cls/ folder of SBD .mat files")
        return None

    def find_pairs(self) -> list[tuple[Path, Path]]:
        images = self.root / "JPEGImages"
        labels = self.root / "SegmentationClass"
        if not images.is_dir():
            raise self.layout_error(f"folder {images} does not exist")
        if self.split != "train_aug":
            ids = self._ids(self.split)
            return self.require_files([(images / f"{i}.jpg", labels / f"{i}.png") for i in ids])
        return self._train_aug_pairs(images, labels)

    def _train_aug_pairs(self, images: Path, labels: Path) -> list[tuple[Path, Path]]:
        val_ids = set(self._ids("val"))
        aug_labels = self.root / "SegmentationClassAug"
        if aug_labels.is_dir():
            ids: list[str] | None = None
            for list_name in ("train_aug", "trainaug"):
                list_file = self.root / "ImageSets" / "Segmentation" / f"{list_name}.txt"
                if list_file.is_file():
                    ids = read_id_list(list_file)
                    break
            if ids is None:
                ids = sorted(p.stem for p in aug_labels.glob("*.png") if p.stem not in val_ids)
            return self.require_files([(images / f"{i}.jpg", aug_labels / f"{i}.png") for i in ids])
        sbd = self._sbd_dataset_dir()
        if sbd is None:
            raise self.layout_error(
                "split 'train_aug' needs SegmentationClassAug/ or the SBD release (sbd=PATH)"
            )
        sbd_ids: set[str] = set()
        for name in ("train", "val"):
            if (sbd / f"{name}.txt").is_file():
                sbd_ids.update(read_id_list(sbd / f"{name}.txt"))
        if not sbd_ids:
            sbd_ids = {p.stem for p in (sbd / "cls").glob("*.mat")}
        all_ids = sorted((sbd_ids | set(self._ids("train"))) - val_ids)
        pairs = []
        for i in all_ids:
            image = images / f"{i}.jpg"
            if not image.is_file():
                image = sbd / "img" / f"{i}.jpg"
            label = labels / f"{i}.png"
            if not label.is_file():
                label = sbd / "cls" / f"{i}.mat"
            pairs.append((image, label))
        return self.require_files(pairs)

    def decode_label(self, path: Path) -> np.ndarray:
        raw = read_sbd_mat(path) if path.suffix == ".mat" else read_index_png(path)
        return np.where(raw < len(VOC_CLASSES), raw, IGNORE_INDEX)
