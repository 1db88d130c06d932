"""Data sets: label encodings of every on-disk layout (tiny fake trees), errors, synthetic set."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from segevo.nets.datasets import (
    DatasetLayoutError,
    SegmentationDataset,
    available_datasets,
    get_dataset,
    register_dataset,
)
from segevo.nets.transforms import IMAGENET_MEAN, IMAGENET_STD, RandomScaleCropFlip

torch.set_num_threads(1)

H, W = 6, 8


def write_rgb(path: Path, value: int = 0, suffix_format: str | None = None) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.full((H, W, 3), value, dtype=np.uint8)
    rgb[0, 0] = (255, 0, 128)
    Image.fromarray(rgb).save(path, format=suffix_format)
    return rgb


def write_grey(path: Path, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values.astype(np.uint8), mode="L").save(path)


def write_palette(path: Path, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(values.astype(np.uint8), mode="P")
    palette = np.random.default_rng(0).integers(0, 256, 768).astype(np.uint8)
    image.putpalette(palette.tolist())
    image.save(path)


def label_grid(values: list[int]) -> np.ndarray:
    """An H x W map whose first row cycles through ``values`` (the rest repeats values[0])."""
    grid = np.full((H, W), values[0], dtype=np.int64)
    for k, value in enumerate(values):
        grid[0, k] = value
    return grid


# ---------------------------------------------------------------- fake trees per layout


CAMVID_RAW = [0, 3, 10, 11, 5, 8]
CAMVID_EXPECTED = [0, 3, 10, 255, 5, 8]


def make_camvid(root: Path, with_lists: bool = True) -> str:
    for split, names in (("train", ["a", "b"]), ("val", ["c"])):
        lines = []
        for name in names:
            write_rgb(root / split / f"{name}.png", 40)
            write_grey(root / f"{split}annot" / f"{name}.png", label_grid(CAMVID_RAW))
            lines.append(
                f"/SegNet/CamVid/{split}/{name}.png /SegNet/CamVid/{split}annot/{name}.png"
            )
        if with_lists:
            (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return f"camvid:{root}"


CITY_RAW = [7, 8, 26, 0, 1, 33, 29, 24]
CITY_EXPECTED = [0, 1, 13, 255, 255, 18, 255, 11]


def make_cityscapes(root: Path) -> str:
    for split, items in (
        ("train", [("aachen", "aachen_000000_000019")]),
        ("val", [("lindau", "lindau_000001_000019")]),
    ):
        for city, stem in items:
            write_rgb(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", 90)
            write_grey(
                root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", label_grid(CITY_RAW)
            )
            write_grey(root / "gtFine" / split / city / f"{stem}_gtFine_color.png", label_grid([3]))
    return f"cityscapes:{root}"


VOC_RAW = [0, 15, 255, 20, 1]
VOC_EXPECTED = [0, 15, 255, 20, 1]


def make_voc(root: Path, sbd: bool = False, aug_png: bool = False) -> str:
    voc = root / "VOCdevkit" / "VOC2012"
    lists = voc / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    ids = {"train": ["2007_000032", "2007_000039"], "val": ["2007_000033"]}
    for split, split_ids in ids.items():
        (lists / f"{split}.txt").write_text("\n".join(split_ids) + "\n")
        for image_id in split_ids:
            write_rgb(voc / "JPEGImages" / f"{image_id}.jpg", 120, "JPEG")
            write_palette(voc / "SegmentationClass" / f"{image_id}.png", label_grid(VOC_RAW))
    (lists / "trainval.txt").write_text("\n".join(ids["train"] + ids["val"]) + "\n")
    if sbd:
        dataset = root / "benchmark_RELEASE" / "dataset"
        (dataset / "cls").mkdir(parents=True)
        # SBD ids: one new (2008_000002), one shared with VOC train, one in VOC val (dropped).
        for image_id in ("2008_000002", "2007_000032", "2007_000033"):
            seg = label_grid([7, 0, 12]).astype(np.uint8)
            scipy.io.savemat(
                dataset / "cls" / f"{image_id}.mat",
                {"GTcls": {"Segmentation": seg, "CategoriesPresent": np.array([7, 12])}},
            )
            write_rgb(dataset / "img" / f"{image_id}.jpg", 60, "JPEG")
        (dataset / "train.txt").write_text("2008_000002\n2007_000033\n")
        (dataset / "val.txt").write_text("2007_000032\n")
    if aug_png:
        for image_id in ("2007_000032", "2007_000039", "2007_000033", "2009_000001"):
            write_grey(voc / "SegmentationClassAug" / f"{image_id}.png", label_grid([4, 255, 0]))
        write_rgb(voc / "JPEGImages" / "2009_000001.jpg", 10, "JPEG")
    return f"voc:{root / 'VOCdevkit'}"


COCO_MAT_RAW = [0, 1, 13, 92, 182, 12]
COCO_MAT_182 = [255, 0, 12, 91, 181, 11]
# 171 labels: ids 12 (street sign) and 26, 29, 30, 45, 66, 68, 69, 71, 83, 91 are dropped.
COCO_MAT_171 = [255, 0, 11, 80, 170, 255]


def make_cocostuff(root: Path, png: bool = False) -> str:
    lists = root / "imageLists"
    lists.mkdir(parents=True)
    ids = {"train": ["COCO_train2014_000000000077"], "test": ["COCO_train2014_000000000078"]}
    for split, split_ids in ids.items():
        (lists / f"{split}.txt").write_text("\n".join(split_ids) + "\n")
        for image_id in split_ids:
            write_rgb(root / "images" / f"{image_id}.jpg", 200, "JPEG")
            (root / "annotations").mkdir(exist_ok=True)
            if png:
                write_grey(root / "annotations" / f"{image_id}.png", label_grid([255, 0, 91, 181]))
            else:
                s = label_grid(COCO_MAT_RAW).astype(np.uint16)
                scipy.io.savemat(root / "annotations" / f"{image_id}.mat", {"S": s, "names": "x"})
    (lists / "all.txt").write_text("\n".join(ids["train"] + ids["test"]) + "\n")
    return f"cocostuff:{root}"


FAKE_TREES: dict[str, Callable[[Path], str]] = {
    "synthetic": lambda root: "synthetic",
    "camvid": make_camvid,
    "cityscapes": make_cityscapes,
    "voc": make_voc,
    "cocostuff": make_cocostuff,
}
SMALL_OPTIONS = {"synthetic": {"length": 3}}


# ---------------------------------------------------------------- conformance


@pytest.mark.parametrize("name", available_datasets())
def test_every_registered_dataset_conforms(name: str, tmp_path: Path) -> None:
    # A data set that reads a folder needs a fake-tree builder here; one that needs no
    # folder is built from its name alone (get_dataset says which it is).
    spec = FAKE_TREES[name](tmp_path) if name in FAKE_TREES else name
    options = SMALL_OPTIONS.get(name, {})
    ds = get_dataset(spec, "train", **options)
    assert isinstance(ds, SegmentationDataset)
    assert len(ds) >= 1
    assert ds.num_classes == len(ds.class_names) >= 2
    assert ds.ignore_index == 255
    image, label = ds[0]
    assert image.dtype == torch.float32 and image.ndim == 3 and image.shape[0] == 3
    assert label.dtype == torch.int64 and label.shape == image.shape[1:]
    valid = label[label != 255]
    assert valid.numel() == 0 or (valid.min() >= 0 and valid.max() < ds.num_classes)
    # ImageNet normalisation: values map back into [0, 1] colour.
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    rgb = image * std + mean
    assert rgb.min() >= -1e-5 and rgb.max() <= 1 + 1e-5
    # Common options: resize on load and seeded augmentation.
    resized = get_dataset(spec, "train", size=(9, 10), **options)
    assert resized[0][0].shape == (3, 9, 10) and resized[0][1].shape == (9, 10)
    augmented = get_dataset(spec, "train", augment=RandomScaleCropFlip((4, 4)), **options)
    first, again = augmented[(0, 123)], augmented[(0, 123)]
    assert first[0].shape == (3, 4, 4)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    with pytest.raises(ValueError, match="split"):
        get_dataset(spec, "no-such-split", **options)
    with pytest.raises(IndexError):
        ds[len(ds)]


# ---------------------------------------------------------------- label encodings


def test_camvid_void_becomes_ignore_and_lists_use_file_names(tmp_path: Path) -> None:
    spec = make_camvid(tmp_path)
    train = get_dataset(spec, "train")
    assert len(train) == 2 and train.num_classes == 11
    assert train.class_names[0] == "sky" and train.class_names[10] == "bicyclist"
    image, label = train[1]
    assert label[0, : len(CAMVID_EXPECTED)].tolist() == CAMVID_EXPECTED
    assert (label[1:] == 0).all()
    # Exact normalisation of a known pixel: (255, 0, 128) at (0, 0).
    expected = (
        torch.tensor([255.0, 0.0, 128.0]) / 255 - torch.tensor(IMAGENET_MEAN)
    ) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(image[:, 0, 0], expected, atol=1e-6)
    assert len(get_dataset(spec, "val")) == 1


def test_camvid_without_list_files_uses_sorted_folder(tmp_path: Path) -> None:
    spec = make_camvid(tmp_path, with_lists=False)
    train = get_dataset(spec, "train")
    assert [p[0].name for p in train.pairs] == ["a.png", "b.png"]


def test_cityscapes_label_ids_map_to_train_ids(tmp_path: Path) -> None:
    spec = make_cityscapes(tmp_path)
    val = get_dataset(spec, "val")
    assert len(val) == 1 and val.num_classes == 19 and val.class_names[13] == "car"
    _, label = val[0]
    assert label[0, : len(CITY_EXPECTED)].tolist() == CITY_EXPECTED
    assert (label[1:] == 0).all()


def test_voc_palette_indices_are_class_ids(tmp_path: Path) -> None:
    spec = make_voc(tmp_path)
    train = get_dataset(spec, "train")
    assert len(train) == 2 and train.num_classes == 21 and train.class_names[15] == "person"
    _, label = train[0]
    assert label[0, : len(VOC_EXPECTED)].tolist() == VOC_EXPECTED
    assert len(get_dataset(spec, "trainval")) == 3
    with pytest.raises(DatasetLayoutError, match="SegmentationClassAug"):
        get_dataset(spec, "train_aug")


def test_voc_train_aug_from_sbd_mat_files(tmp_path: Path) -> None:
    spec = make_voc(tmp_path, sbd=True)
    aug = get_dataset(spec, "train_aug", sbd=tmp_path / "benchmark_RELEASE")
    # (SBD train + SBD val + VOC train) - VOC val, sorted.
    assert [p[0].stem for p in aug.pairs] == ["2007_000032", "2007_000039", "2008_000002"]
    # 2007_000032 has an official VOC label (wins), 2008_000002 only SBD's .mat.
    assert aug.pairs[0][1].suffix == ".png" and aug.pairs[2][1].suffix == ".mat"
    _, sbd_label = aug[2]
    assert sbd_label[0, :3].tolist() == [7, 0, 12]
    _, voc_label = aug[0]
    assert voc_label[0, : len(VOC_EXPECTED)].tolist() == VOC_EXPECTED


def test_voc_train_aug_from_segmentation_class_aug(tmp_path: Path) -> None:
    spec = make_voc(tmp_path, aug_png=True)
    aug = get_dataset(spec, "train_aug")
    assert [p[0].stem for p in aug.pairs] == ["2007_000032", "2007_000039", "2009_000001"]
    _, label = aug[2]
    assert label[0, :3].tolist() == [4, 255, 0]


def test_cocostuff_mat_labels_182_and_171(tmp_path: Path) -> None:
    spec = make_cocostuff(tmp_path)
    train = get_dataset(spec, "train")
    assert train.num_classes == 182 and train.class_names[0] == "person"
    assert train.class_names[181] == "wood" and train.class_names[91] == "banner"
    _, label = train[0]
    assert label[0, : len(COCO_MAT_182)].tolist() == COCO_MAT_182
    reduced = get_dataset(spec, "test", classes=171)
    assert reduced.num_classes == 171 and "street sign" not in reduced.class_names
    assert reduced.class_names[11] == "stop sign"
    _, label = reduced[0]
    assert label[0, : len(COCO_MAT_171)].tolist() == COCO_MAT_171
    assert len(get_dataset(spec, "all")) == 2
    with pytest.raises(ValueError, match="182 or 171"):
        get_dataset(spec, "train", classes=180)


def test_cocostuff_png_labels(tmp_path: Path) -> None:
    spec = make_cocostuff(tmp_path, png=True)
    _, label = get_dataset(spec, "train")[0]
    assert label[0, :4].tolist() == [255, 0, 91, 181]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("name", ["camvid", "cityscapes", "voc", "cocostuff"])
def test_missing_folder_names_expected_layout(name: str, tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="Expected layout") as info:
        get_dataset(f"{name}:{tmp_path / 'absent'}", "train")
    assert str(tmp_path / "absent") in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="Expected layout"):
        get_dataset(f"{name}:{tmp_path / 'empty'}", "train")


def test_malformed_trees_name_the_problem(tmp_path: Path) -> None:
    spec = make_camvid(tmp_path / "cv")
    (tmp_path / "cv" / "trainannot" / "b.png").unlink()
    with pytest.raises(DatasetLayoutError, match=r"missing file .*b\.png"):
        get_dataset(spec, "train")
    (tmp_path / "cv" / "val.txt").write_text("only-one-field\n")
    with pytest.raises(DatasetLayoutError, match="line 1"):
        get_dataset(spec, "val")
    spec = make_cocostuff(tmp_path / "coco")
    scipy.io.savemat(
        tmp_path / "coco" / "annotations" / "COCO_train2014_000000000077.mat",
        {"X": np.zeros((2, 2))},
    )
    with pytest.raises(DatasetLayoutError, match="label map S"):
        get_dataset(spec, "train")[0]
    camvid_rgb_label = make_camvid(tmp_path / "rgb")
    write_rgb(tmp_path / "rgb" / "valannot" / "c.png")
    with pytest.raises(DatasetLayoutError, match="single-channel"):
        get_dataset(camvid_rgb_label, "val")[0]


def test_spec_errors_list_known_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"known: .*camvid.*synthetic"):
        get_dataset("imagenet:/x")
    with pytest.raises(ValueError, match="camvid:PATH"):
        get_dataset("camvid")
    with pytest.raises(ValueError, match="takes no folder"):
        get_dataset(f"synthetic:{tmp_path}")
    with pytest.raises(ValueError, match=r"unknown option.*colour.*allowed: augment, sbd, size"):
        get_dataset(f"voc:{tmp_path}", "train", colour=True)
    with pytest.raises(ValueError, match=r"unknown option.*allowed: augment, ignore_border"):
        get_dataset("synthetic", "train", root=tmp_path)
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("camvid", lambda root, split: None)  # type: ignore[arg-type,return-value]


# ---------------------------------------------------------------- synthetic


def test_synthetic_is_deterministic_per_seed_and_split() -> None:
    a = get_dataset("synthetic", "train", size=(32, 64), length=4, seed=3)
    b = get_dataset("synthetic", "train", size=(32, 64), length=4, seed=3)
    c = get_dataset("synthetic", "train", size=(32, 64), length=4, seed=4)
    v = get_dataset("synthetic", "val", size=(32, 64), length=4, seed=3)
    for index in range(4):
        assert torch.equal(a[index][0], b[index][0]) and torch.equal(a[index][1], b[index][1])
    assert not torch.equal(a[0][0], c[0][0])
    assert not torch.equal(a[0][0], v[0][0])
    assert len(a) == 4 and a[0][0].shape == (3, 32, 64)


def test_synthetic_classes_and_options() -> None:
    ds = get_dataset("synthetic", "train", size=(32, 48), length=40, num_classes=5)
    assert ds.num_classes == 5 and ds.class_names[0] == "background"
    counts = ds.label_counts()
    assert (counts > 0).all(), "every class appears somewhere in 40 scenes"
    assert counts[0] / counts.sum() < 0.9
    bordered = get_dataset("synthetic", "train", size=(32, 48), length=2, ignore_border=True)
    plain = get_dataset("synthetic", "train", size=(32, 48), length=2)
    border_label, plain_label = bordered[0][1], plain[0][1]
    assert (border_label == 255).any() and not (plain_label == 255).any()
    keep = border_label != 255
    assert torch.equal(border_label[keep], plain_label[keep])
    for bad in (
        {"num_classes": 1},
        {"num_classes": 99},
        {"length": 0},
        {"size": (4, 4)},
        {"seed": -1},
    ):
        with pytest.raises(ValueError):
            get_dataset("synthetic", "train", **bad)


def test_synthetic_classes_need_both_shape_and_colour() -> None:
    from segevo.nets.datasets.synthetic import OBJECT_KINDS

    assert len(set(OBJECT_KINDS)) == len(OBJECT_KINDS)
    first_six = OBJECT_KINDS[:6]
    shapes = [s for s, _ in first_six]
    colours = [c for _, c in first_six]
    assert all(shapes.count(s) == 2 for s in set(shapes))
    assert all(colours.count(c) == 3 for c in set(colours))
    ds = get_dataset("synthetic", "train", size=(32, 48), length=1)
    assert ds.class_names[:3] == ("background", "red disc", "red square")


# ---------------------------------------------------------------- real data


def test_real_camvid_reads_a_few_images(camvid_root: Path) -> None:
    train = get_dataset(f"camvid:{camvid_root}", "train")
    val = get_dataset(f"camvid:{camvid_root}", "val")
    assert len(train) == 367 and len(val) == 101
    for index in (0, 100):
        image, label = train[index]
        assert image.shape == (3, 360, 480) and label.shape == (360, 480)
        values = set(label.unique().tolist())
        assert values <= set(range(11)) | {255}
        assert len(values - {255}) >= 4, "a road scene shows several classes"
    small = get_dataset(f"camvid:{camvid_root}", "val", size=(90, 120))
    assert small[0][0].shape == (3, 90, 120)
