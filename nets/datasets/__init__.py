"""Segmentation data sets behind one ABC, by name: ``get_dataset(spec, split, **options)``.

Specs: ``synthetic`` (the default, generated, nothing to download), ``camvid:PATH``,
``cityscapes:PATH``, ``voc:PATH``, ``cocostuff:PATH``. Items are ``(image float32[3, H, W]
normalised with the ImageNet mean/std, label int64[H, W])`` with 255 = ignore.
"""

from __future__ import annotations

from segevo.nets.datasets.base import (
    IGNORE_INDEX,
    DatasetLayoutError,
    FileSegmentationDataset,
    SegmentationDataset,
)
from segevo.nets.datasets.camvid import CamVid
from segevo.nets.datasets.cityscapes import Cityscapes
from segevo.nets.datasets.cocostuff import CocoStuff10k
from segevo.nets.datasets.registry import (
    DatasetPlugin,
    available_datasets,
    get_dataset,
    parse_spec,
    register_dataset,
    unregister_dataset,
)
from segevo.nets.datasets.synthetic import Synthetic
from segevo.nets.datasets.voc import PascalVOC

register_dataset("synthetic", Synthetic, needs_path=False)
register_dataset("camvid", CamVid)
register_dataset("cityscapes", Cityscapes)
register_dataset("voc", PascalVOC)
register_dataset("cocostuff", CocoStuff10k)

__all__ = [
    "IGNORE_INDEX",
    "CamVid",
    "Cityscapes",
    "CocoStuff10k",
    "DatasetLayoutError",
    "DatasetPlugin",
    "FileSegmentationDataset",
    "PascalVOC",
    "SegmentationDataset",
    "Synthetic",
    "available_datasets",
    "get_dataset",
    "parse_spec",
    "register_dataset",
    "unregister_dataset",
]
