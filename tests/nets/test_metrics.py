"""mIoU from a confusion matrix, against hand-computed cases and a brute-force count."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from segevo.nets.metrics import (
    ConfusionMatrix,
    confusion_matrix,
    iou_per_class,
    majority_class_miou,
    mean_iou,
    pixel_accuracy,
)


def test_hand_computed_case() -> None:
    # 4 classes; class 3 appears in neither ground truth nor prediction; 255 is ignored.
    target = torch.tensor([[0, 0, 1, 1], [2, 2, 2, 255]])
    prediction = torch.tensor([[0, 1, 1, 1], [2, 0, 2, 3]])
    matrix = confusion_matrix(prediction, target, num_classes=4)
    expected = [
        [1, 1, 0, 0],  # truth 0: one right, one predicted as 1
        [0, 2, 0, 0],  # truth 1: both right
        [1, 0, 2, 0],  # truth 2: two right, one predicted as 0
        [0, 0, 0, 0],
    ]
    assert matrix.tolist() == expected
    iou = iou_per_class(matrix)
    # class 0: 1 / (2 + 2 - 1) = 1/3; class 1: 2 / (2 + 3 - 2) = 2/3; class 2: 2 / (3 + 2 - 2)
    assert np.allclose(iou[:3], [1 / 3, 2 / 3, 2 / 3])
    assert math.isnan(iou[3])
    assert mean_iou(matrix) == pytest.approx((1 / 3 + 2 / 3 + 2 / 3) / 3)
    assert pixel_accuracy(matrix) == pytest.approx(5 / 7)


def test_predicted_but_absent_class_counts_as_zero() -> None:
    target = torch.tensor([0, 0, 0, 0])
    prediction = torch.tensor([0, 0, 0, 1])
    iou = iou_per_class(confusion_matrix(prediction, target, 3))
    assert iou[0] == pytest.approx(3 / 4) and iou[1] == 0.0 and math.isnan(iou[2])
    assert mean_iou(confusion_matrix(prediction, target, 3)) == pytest.approx(3 / 8)


def test_accumulator_matches_brute_force_over_batches() -> None:
    rng = np.random.default_rng(0)
    accumulator = ConfusionMatrix(5)
    brute = np.zeros((5, 5), dtype=np.int64)
    for _ in range(3):
        target = rng.integers(0, 5, (2, 7, 9))
        target[rng.random(target.shape) < 0.1] = 255
        prediction = rng.integers(0, 5, (2, 7, 9))
        accumulator.update(torch.from_numpy(prediction), torch.from_numpy(target))
        for t, p in zip(target.ravel(), prediction.ravel(), strict=True):
            if t != 255:
                brute[t, p] += 1
    assert np.array_equal(accumulator.matrix.numpy(), brute)
    ious = []
    for k in range(5):
        inter = brute[k, k]
        union = brute[k, :].sum() + brute[:, k].sum() - inter
        ious.append(inter / union)
    assert accumulator.miou() == pytest.approx(np.mean(ious))
    assert np.allclose(accumulator.iou(), ious)


def test_majority_baseline() -> None:
    counts = np.array([60, 30, 10, 0])
    # Predict class 0 everywhere: IoU 0.6 for it, 0 for classes 1 and 2, class 3 left out.
    assert majority_class_miou(counts) == pytest.approx(0.6 / 3)
    matrix = np.zeros((4, 4), dtype=np.int64)
    matrix[:, 0] = counts
    assert mean_iou(matrix) == pytest.approx(majority_class_miou(counts))


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(torch.zeros(2, 2), torch.zeros(2, 3), 3)
    with pytest.raises(ValueError, match=r"outside 0\.\.2"):
        confusion_matrix(torch.tensor([3]), torch.tensor([0]), 3)
    with pytest.raises(ValueError, match="square"):
        iou_per_class(np.zeros((2, 3)))
    assert math.isnan(mean_iou(np.zeros((3, 3))))
