"""The vectorised ranking loss against a brute-force double loop over Eq. (5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segevo.surrogates.ranking_loss import pairwise_rank_loss


def brute_force_eq5(pred: list[float], target: list[float], margin: float) -> float:
    n, total = len(pred), 0.0
    for i in range(n):
        for j in range(n):
            delta = 1.0 if pred[i] > pred[j] else -1.0
            total += max(0.0, margin - delta * (target[i] - target[j]))
    return total / (2 * n)


def brute_force_margin(pred: list[float], target: list[float], margin: float) -> float:
    n, total = len(pred), 0.0
    for i in range(n):
        for j in range(n):
            gap = target[i] - target[j]
            sign = 1.0 if gap > 0 else (-1.0 if gap < 0 else 0.0)
            total += max(0.0, margin - sign * (pred[i] - pred[j]))
    return total / (2 * n)


def brute_force_eq5_gradient(pred: list[float], target: list[float], margin: float) -> np.ndarray:
    # Straight-through reading: d(delta_ij)/d(pred_i - pred_j) = 1 where the hinge is active.
    n = len(pred)
    grad = np.zeros(n)
    for i in range(n):
        for j in range(n):
            delta = 1.0 if pred[i] > pred[j] else -1.0
            if margin - delta * (target[i] - target[j]) > 0:
                grad[i] += -(target[i] - target[j]) / (2 * n)
                grad[j] += (target[i] - target[j]) / (2 * n)
    return grad


def brute_force_margin_gradient(
    pred: list[float], target: list[float], margin: float
) -> np.ndarray:
    n = len(pred)
    grad = np.zeros(n)
    for i in range(n):
        for j in range(n):
            gap = target[i] - target[j]
            sign = 1.0 if gap > 0 else (-1.0 if gap < 0 else 0.0)
            if margin - sign * (pred[i] - pred[j]) > 0:
                grad[i] += -sign / (2 * n)
                grad[j] += sign / (2 * n)
    return grad


@pytest.fixture
def batch() -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(5)
    pred = rng.uniform(0, 1, 9).tolist()
    target = rng.uniform(0, 1, 9).tolist()
    target[4] = target[2]  # a tie in the labels
    pred[7] = pred[1]  # a tie in the predictions
    return pred, target


@pytest.mark.parametrize("margin", [0.0, 0.05, 0.3])
def test_eq5_value_equals_the_double_loop(batch, margin: float) -> None:
    pred, target = batch
    got = pairwise_rank_loss(
        torch.tensor(pred, dtype=torch.float64),
        torch.tensor(target, dtype=torch.float64),
        margin,
        "eq5",
    )
    assert got.item() == pytest.approx(brute_force_eq5(pred, target, margin), rel=1e-12)


@pytest.mark.parametrize("margin", [0.0, 0.05, 0.3])
def test_margin_value_equals_the_double_loop(batch, margin: float) -> None:
    pred, target = batch
    got = pairwise_rank_loss(
        torch.tensor(pred, dtype=torch.float64),
        torch.tensor(target, dtype=torch.float64),
        margin,
        "margin",
    )
    assert got.item() == pytest.approx(brute_force_margin(pred, target, margin), rel=1e-12)


@pytest.mark.parametrize(
    ("reading", "oracle"),
    [("eq5", brute_force_eq5_gradient), ("margin", brute_force_margin_gradient)],
)
def test_gradients_equal_the_double_loop(batch, reading: str, oracle) -> None:
    pred, target = batch
    p = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    pairwise_rank_loss(p, torch.tensor(target, dtype=torch.float64), 0.05, reading).backward()
    np.testing.assert_allclose(p.grad.numpy(), oracle(pred, target, 0.05), rtol=1e-12, atol=1e-15)


def test_perfect_ranking_with_wide_gaps_costs_only_the_diagonal() -> None:
    target = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    # Predictions ordered like the labels and 0.5 apart: every off-diagonal hinge is 0 under
    # the margin reading; the diagonal contributes n * margin / (2n) = margin / 2.
    assert pairwise_rank_loss(target.clone(), target, 0.05, "margin").item() == pytest.approx(0.025)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="reading must be one of"):
        pairwise_rank_loss(torch.zeros(3), torch.zeros(3), 0.05, "other")
    with pytest.raises(ValueError, match="equal length"):
        pairwise_rank_loss(torch.zeros(3), torch.zeros(4), 0.05)
