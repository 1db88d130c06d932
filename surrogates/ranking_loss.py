"""The pairwise ranking loss of the paper's Eq. (5), vectorised over all pairs of a batch.

Eq. (5) reads::

    L_rank = 1/(2N) * sum_{i,j} max(0, gamma - delta(yhat_i, yhat_j) * (y_i - y_j))
    delta(a, b) = 1 if a > b else -1

with ``y`` the labels scaled to [0, 1] and ``yhat`` the sigmoid outputs. The sum runs over
all ordered pairs, the diagonal included (each diagonal term is the constant ``gamma``, as
``delta(a, a) = -1``), so the value equals a plain double loop.

``delta`` is a sign, so the loss as written is piecewise constant in the predictions and
gives no gradient. Our reading (``reading="eq5"``, the default): the value is exactly
Eq. (5), and the gradient treats ``delta`` as the prediction difference
``yhat_i - yhat_j`` (a straight-through estimator). A pair whose hinge is active then
pulls ``yhat_i - yhat_j`` toward the sign of ``y_i - y_j`` with a force proportional to the
label gap ``|y_i - y_j|``: mis-ordered pairs always, correctly ordered pairs only while their
label gap is below the margin.

``reading="margin"`` is the usual margin ranking loss with the roles of labels and
predictions swapped, ``max(0, gamma - sign(y_i - y_j) * (yhat_i - yhat_j))``, kept for
comparison.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

READINGS = ("eq5", "margin")
"""The readings of Eq. (5); importing this module does not import torch (RankNet's options
name them), the loss itself does."""


def pairwise_rank_loss(
    pred: torch.Tensor, target: torch.Tensor, margin: float, reading: str = "eq5"
) -> torch.Tensor:
    """Mean-over-``2N`` hinge over all ordered pairs of the batch (see the module text)."""
    import torch

    if reading not in READINGS:
        raise ValueError(f"reading must be one of {READINGS}, got {reading!r}")
    if pred.ndim != 1 or pred.shape != target.shape:
        raise ValueError(
            f"pred and target must be vectors of equal length, got {tuple(pred.shape)} "
            f"and {tuple(target.shape)}"
        )
    n = pred.shape[0]
    pred_gap = pred[:, None] - pred[None, :]
    label_gap = target[:, None] - target[None, :]
    if reading == "eq5":
        sign = torch.where(pred_gap > 0, 1.0, -1.0).to(pred.dtype)
        # Forward value: the sign; backward: d(delta)/d(pred_gap) = 1.
        delta = sign + (pred_gap - pred_gap.detach())
        hinge = torch.clamp(margin - delta * label_gap, min=0.0)
    else:
        hinge = torch.clamp(margin - torch.sign(label_gap) * pred_gap, min=0.0)
    return hinge.sum() / (2 * n)
