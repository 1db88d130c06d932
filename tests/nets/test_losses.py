from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from segevo.nets.losses import OhemCrossEntropy, ohem_cross_entropy


def two_class_logits(p_class0: list[float]) -> torch.Tensor:
    """Logits [1, 2, 1, n] whose softmax gives probability p for class 0 at each pixel."""
    p = torch.tensor(p_class0, dtype=torch.float64)
    return torch.stack([p.log(), (1 - p).log()])[None, :, None, :]


def test_hand_computed_case() -> None:
    # true-class probabilities 0.9, 0.5, (ignored), 0.2 -> losses 0.105, 0.693, -, 1.609
    logits = two_class_logits([0.9, 0.5, 0.3, 0.8])
    target = torch.tensor([[[0, 1, 255, 1]]])
    hard = [-math.log(0.5), -math.log(0.2)]  # above -log(0.7) = 0.357
    got = ohem_cross_entropy(logits, target, thresh=0.7, min_kept_fraction=0.0)
    assert got.item() == pytest.approx(sum(hard) / 2, rel=1e-12)
    # at least all three labelled pixels are kept when the minimum asks for them
    got = ohem_cross_entropy(logits, target, thresh=0.7, min_kept_fraction=1.0)
    expected = (-math.log(0.9) - math.log(0.5) - math.log(0.2)) / 3
    assert got.item() == pytest.approx(expected, rel=1e-12)
    # no pixel above the threshold (thresh=0.1 -> 2.30): the hardest 3 * 0.5 -> 1 pixel
    got = ohem_cross_entropy(logits, target, thresh=0.1, min_kept_fraction=0.5)
    assert got.item() == pytest.approx(-math.log(0.2), rel=1e-12)


def test_keep_all_equals_cross_entropy() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 6, 7)
    target = torch.randint(0, 5, (2, 6, 7))
    target[0, :2] = 255
    got = ohem_cross_entropy(logits, target, thresh=1.0, min_kept_fraction=1.0)
    torch.testing.assert_close(got, F.cross_entropy(logits, target, ignore_index=255))


def test_all_ignored_is_zero_with_graph() -> None:
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    loss = OhemCrossEntropy()(logits, torch.full((1, 2, 2), 255))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None and torch.all(logits.grad == 0)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="thresh"):
        OhemCrossEntropy(thresh=0.0)
    with pytest.raises(ValueError, match="disagree"):
        ohem_cross_entropy(torch.randn(1, 3, 4, 4), torch.zeros(1, 4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        ohem_cross_entropy(torch.randn(3, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long))
