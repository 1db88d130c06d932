"""Segmentation accuracy from a confusion matrix (the paper's mIoU, Sec. IV-B).

``confusion[i, j]`` counts pixels whose ground truth is class ``i`` and whose prediction is
``j`` (the paper's ``p_ij``). The IoU of class ``i`` is ``p_ii / (sum_j p_ij + sum_j p_ji -
p_ii)``, and mIoU is their mean over the classes.

Classes absent from both the ground truth and the predictions have a 0/0 IoU: it is NaN and
left out of the mean (so mIoU averages over the classes that occur). A class present in the
ground truth but never predicted, or predicted but absent from the ground truth, has IoU 0
and counts. Pixels labelled ``ignore_index`` count nowhere.
"""

from __future__ import annotations

import numpy as np
import torch


def confusion_matrix(
    prediction: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = 255
) -> torch.Tensor:
    """int64 ``[K, K]`` confusion matrix of one batch (rows: ground truth, columns: prediction)."""
    if prediction.shape != target.shape:
        raise ValueError(
            f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape"
        )
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    target = target.reshape(-1).to(torch.int64)
    prediction = prediction.reshape(-1).to(torch.int64)
    keep = target != ignore_index
    target, prediction = target[keep], prediction[keep]
    for name, values in (("target", target), ("prediction", prediction)):
        if values.numel() and (int(values.min()) < 0 or int(values.max()) >= num_classes):
            raise ValueError(
                f"{name} holds values outside 0..{num_classes - 1} (and ignore {ignore_index}): "
                f"min {int(values.min())}, max {int(values.max())}"
            )
    counts = torch.bincount(target * num_classes + prediction, minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes).cpu()


def iou_per_class(confusion: np.ndarray | torch.Tensor) -> np.ndarray:
    """float64 IoU per class; NaN for classes absent from both ground truth and prediction."""
    matrix = np.asarray(confusion, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a confusion matrix is square [K, K], got shape {matrix.shape}")
    hits = np.diag(matrix)
    union = matrix.sum(axis=1) + matrix.sum(axis=0) - hits
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, hits / union, np.nan)


def mean_iou(confusion: np.ndarray | torch.Tensor) -> float:
    """mIoU: the mean of :func:`iou_per_class` over the classes that occur (NaN-mean)."""
    iou = iou_per_class(confusion)
    if np.all(np.isnan(iou)):
        return float("nan")
    return float(np.nanmean(iou))


def pixel_accuracy(confusion: np.ndarray | torch.Tensor) -> float:
    """Fraction of counted pixels predicted correctly."""
    matrix = np.asarray(confusion, dtype=np.float64)
    total = matrix.sum()
    return float(np.trace(matrix) / total) if total > 0 else float("nan")


class ConfusionMatrix:
    """Accumulates a confusion matrix over batches: ``update(pred, target)`` then ``miou()``."""

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch of predicted class ids and labels of the same shape."""
        self.matrix += confusion_matrix(prediction, target, self.num_classes, self.ignore_index)

    def iou(self) -> np.ndarray:
        """IoU per class (NaN where a class never occurs)."""
        return iou_per_class(self.matrix)

    def miou(self) -> float:
        """Mean IoU over the classes that occur."""
        return mean_iou(self.matrix)

    def pixel_accuracy(self) -> float:
        """Fraction of counted pixels predicted correctly."""
        return pixel_accuracy(self.matrix)


def majority_class_miou(label_counts: np.ndarray) -> float:
    """mIoU of always predicting the most frequent class, from per-class pixel counts.

    Its IoU is its pixel share; every other class that occurs gets 0; absent classes are
    left out, as in :func:`mean_iou`.
    """
    counts = np.asarray(label_counts, dtype=np.float64)
    if counts.ndim != 1 or counts.sum() <= 0:
        raise ValueError("label_counts must be a 1-D array of per-class pixel counts, not all 0")
    present = int(np.count_nonzero(counts))
    return float(counts.max() / counts.sum() / present)
