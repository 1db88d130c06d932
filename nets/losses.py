"""Online hard example mining (OHEM) cross-entropy, as BiSeNet trains with.

Per-pixel cross-entropy over the labelled pixels (``ignore_index`` excluded); the pixels whose
loss exceeds ``-log(thresh)`` (predicted probability of the true class below ``thresh``) are
kept, but never fewer than the ``min_kept`` hardest ones; the loss is their mean.

:func:`segmentation_loss` is the training loss of a network's outputs: its own
``compute_loss`` (the supernet's main + weighted auxiliary heads), else OHEM summed over
the heads it returns.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IGNORE_INDEX = 255


def ohem_cross_entropy(
    logits: Tensor,
    target: Tensor,
    *,
    thresh: float = 0.7,
    min_kept_fraction: float = 1 / 16,
    ignore_index: int = IGNORE_INDEX,
) -> Tensor:
    """OHEM cross-entropy of ``logits [N, C, H, W]`` against ``target [N, H, W]`` (int64).

    ``min_kept_fraction`` of the labelled pixels (at least one) are always kept. With no
    labelled pixel the loss is a zero that still carries the graph.
    """
    if not 0.0 < thresh <= 1.0:
        raise ValueError(f"thresh must be in (0, 1], got {thresh}")
    if not 0.0 <= min_kept_fraction <= 1.0:
        raise ValueError(f"min_kept_fraction must be in [0, 1], got {min_kept_fraction}")
    if logits.dim() != 4 or target.dim() != 3:
        raise ValueError(
            f"expected logits [N, C, H, W] and target [N, H, W], got {tuple(logits.shape)} and {tuple(target.shape)}"
        )
    if logits.shape[0] != target.shape[0] or logits.shape[2:] != target.shape[1:]:
        raise ValueError(
            f"logits {tuple(logits.shape)} and target {tuple(target.shape)} disagree in batch or size"
        )
    pixel_loss = F.cross_entropy(
        logits, target.long(), ignore_index=ignore_index, reduction="none"
    ).flatten()
    labelled = pixel_loss[(target != ignore_index).flatten()]
    if labelled.numel() == 0:
        return logits.sum() * 0.0
    n_min = max(1, int(labelled.numel() * min_kept_fraction))
    hard = labelled[labelled > -math.log(thresh)]
    if hard.numel() >= n_min:
        return hard.mean()
    return torch.topk(labelled, n_min, sorted=False).values.mean()


class OhemCrossEntropy(nn.Module):
    """Module form of :func:`ohem_cross_entropy`."""

    def __init__(
        self,
        *,
        thresh: float = 0.7,
        min_kept_fraction: float = 1 / 16,
        ignore_index: int = IGNORE_INDEX,
    ) -> None:
        super().__init__()
        if not 0.0 < thresh <= 1.0:
            raise ValueError(f"thresh must be in (0, 1], got {thresh}")
        if not 0.0 <= min_kept_fraction <= 1.0:
            raise ValueError(f"min_kept_fraction must be in [0, 1], got {min_kept_fraction}")
        self.thresh = thresh
        self.min_kept_fraction = min_kept_fraction
        self.ignore_index = ignore_index

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return ohem_cross_entropy(
            logits,
            target,
            thresh=self.thresh,
            min_kept_fraction=self.min_kept_fraction,
            ignore_index=self.ignore_index,
        )


def segmentation_loss(model: nn.Module, outputs: Any, target: Tensor) -> Tensor:
    """The model's own ``compute_loss`` when it has one, else OHEM cross-entropy summed over
    the main and (in train mode) auxiliary outputs, as BiSeNet trains."""
    compute = getattr(model, "compute_loss", None)
    if callable(compute):
        return compute(outputs, target)
    heads = outputs if isinstance(outputs, tuple | list) else (outputs,)
    return sum(
        (ohem_cross_entropy(h, target) for h in heads), torch.zeros((), device=target.device)
    )
