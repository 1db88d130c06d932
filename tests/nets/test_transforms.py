"""Transforms: normalisation, resizing, the paper's scale/crop/flip augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segevo.nets.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PAPER_SCALES,
    EvalResize,
    RandomScaleCropFlip,
    denormalize,
    normalize,
    resize_image,
    resize_label,
)

torch.set_num_threads(1)


def coordinate_pair(height: int = 8, width: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """An image whose channel 0 is the column index and a label equal to the column index."""
    image = torch.zeros(3, height, width)
    image[0] = torch.arange(width, dtype=torch.float32)
    label = torch.arange(width).repeat(height, 1)
    return image, label


def test_normalize_round_trip_and_values() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3)).astype(np.uint8)
    image = normalize(rgb)
    assert image.shape == (3, 5, 7) and image.dtype == torch.float32
    expected = (rgb[2, 3] / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    assert np.allclose(image[:, 2, 3].numpy(), expected, atol=1e-6)
    assert np.array_equal(denormalize(image).numpy(), rgb)
    with pytest.raises(ValueError, match="RGB"):
        normalize(np.zeros((4, 4), dtype=np.uint8))


def test_resize_label_keeps_label_values() -> None:
    label = torch.tensor([[0, 1], [255, 3]])
    up = resize_label(label, (4, 4))
    assert up.tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [255, 255, 3, 3], [255, 255, 3, 3]]
    assert up.dtype == torch.int64
    assert resize_label(torch.stack([label, label]), (4, 4)).shape == (2, 4, 4)
    assert resize_image(torch.zeros(2, 3, 5, 5), (3, 4)).shape == (2, 3, 3, 4)


def test_augmentation_is_deterministic_given_a_generator() -> None:
    image, label = coordinate_pair()
    augment = RandomScaleCropFlip((6, 6))
    runs = [augment(image, label, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    outcomes = {
        tuple(augment(image, label, torch.Generator().manual_seed(s))[1].flatten().tolist())
        for s in range(30)
    }
    assert len(outcomes) > 5, "different seeds give different crops"


def test_crop_keeps_image_and_label_aligned_and_flips_both() -> None:
    image, label = coordinate_pair()
    augment = RandomScaleCropFlip((6, 6), scales=(1.0,))
    flips = 0
    for seed in range(40):
        out_image, out_label = augment(image, label, torch.Generator().manual_seed(seed))
        assert out_image.shape == (3, 6, 6) and out_label.shape == (6, 6)
        # At scale 1 the image's channel 0 still equals the column index held by the label.
        assert torch.equal(out_image[0], out_label.float())
        row = out_label[0].tolist()
        if row[0] > row[-1]:
            flips += 1
            assert row == sorted(row, reverse=True)
        else:
            assert row == sorted(row)
        assert row[-1] - row[0] in (5, -5)
    assert 8 <= flips <= 32, "flip happens about half of the time"


def test_scale_comes_from_the_list_and_small_images_are_padded_with_ignore() -> None:
    image, label = coordinate_pair(8, 12)
    augment = RandomScaleCropFlip((16, 20), scales=(0.5,), flip=False)
    out_image, out_label = augment(image, label, torch.Generator().manual_seed(0))
    # 0.5 x (8, 12) = (4, 6) real pixels in the top-left corner; the rest is padding.
    assert out_label.shape == (16, 20)
    assert (out_label[4:] == 255).all() and (out_label[:, 6:] == 255).all()
    assert (out_label[:4, :6] != 255).all()
    assert (out_image[:, 4:] == 0).all()
    assert PAPER_SCALES == (0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
    # Scale 2 doubles every side: a 2x crop of a 1-pixel-wide stripe is 2 pixels wide.
    stripe = torch.zeros(10, 10, dtype=torch.int64)
    stripe[:, 5] = 1
    _, doubled = RandomScaleCropFlip((20, 20), scales=(2.0,), flip=False)(
        torch.zeros(3, 10, 10), stripe, torch.Generator().manual_seed(0)
    )
    assert int((doubled == 1).sum()) == 40


def test_augmentation_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="crop_size"):
        RandomScaleCropFlip((0, 4))
    with pytest.raises(ValueError, match="scales"):
        RandomScaleCropFlip((4, 4), scales=())
    with pytest.raises(ValueError, match="scales"):
        RandomScaleCropFlip((4, 4), scales=(1.0, -0.5))


def test_eval_resize_resizes_image_only() -> None:
    image, label = coordinate_pair(8, 12)
    out_image, out_label = EvalResize((4, 6))(image, label)
    assert out_image.shape == (3, 4, 6)
    assert out_label is label
    with pytest.raises(ValueError):
        EvalResize((4,))
