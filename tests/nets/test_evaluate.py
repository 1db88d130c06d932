"""Inherited-weight evaluation: BN recalibration, hand-computed mIoU, supernet vs extracted net."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from segevo.nets.datasets import get_dataset
from segevo.nets.evaluate import (
    calibration_batches,
    evaluate_subnet,
    recalibrate_batchnorm,
    score_model,
)
from segevo.nets.space import get_space
from segevo.nets.supernet import SuperNet

torch.set_num_threads(1)


def test_recalibration_is_an_equal_weight_average_of_batch_statistics() -> None:
    model = nn.Sequential(nn.BatchNorm2d(3))
    model[0].running_mean.fill_(100.0)
    model[0].running_var.fill_(100.0)
    generator = torch.Generator().manual_seed(0)
    batches = [torch.randn(4, 3, 5, 6, generator=generator) * (k + 1) + k for k in range(3)]
    used = recalibrate_batchnorm(model, batches)
    assert used == 3 and not model.training
    assert model[0].momentum == 0.1, "momentum is restored"
    means = torch.stack([b.mean(dim=(0, 2, 3)) for b in batches]).mean(0)
    variances = torch.stack([b.var(dim=(0, 2, 3), unbiased=True) for b in batches]).mean(0)
    assert torch.allclose(model[0].running_mean, means, atol=1e-5)
    assert torch.allclose(model[0].running_var, variances, atol=1e-4)
    with pytest.raises(ValueError, match="at least one batch"):
        recalibrate_batchnorm(model, [])


@dataclass
class FixedArch:
    input_hw: tuple[int, int]


class FixedSpace:
    """A one-architecture space whose input size is the images' own size."""

    def __init__(self, input_hw: tuple[int, int]) -> None:
        self.input_hw = input_hw

    def validate(self, x: object) -> np.ndarray:
        return np.asarray(x)

    def decode(self, x: object) -> FixedArch:
        return FixedArch(self.input_hw)


class ThresholdNet(nn.Module):
    """Predicts class 1 where the (normalised) red channel is above its BN mean, else 0."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(1, affine=False)
        self.active = None
        self.shapes: list[tuple[int, ...]] = []

    def set_active(self, x: object) -> None:
        self.active = x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(images.shape))
        score = self.bn(images[:, :1])
        return torch.cat([-score, score], dim=1)


class ListData(torch.utils.data.Dataset):
    num_classes = 3
    ignore_index = 255
    class_names = ("zero", "one", "two")

    def __init__(self, items: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.items[index]


def image_from_red(red: list[list[float]]) -> torch.Tensor:
    plane = torch.tensor(red)
    return torch.stack([plane, torch.zeros_like(plane), torch.zeros_like(plane)])


def test_evaluation_of_a_fixed_net_matches_hand_computation() -> None:
    # Calibration images: red values 0 and 2 in equal numbers -> BN mean 1.
    train = ListData(
        [(image_from_red([[0.0, 2.0], [2.0, 0.0]]), torch.zeros(2, 2, dtype=torch.int64))] * 4
    )
    val = ListData(
        [
            (image_from_red([[0.0, 3.0], [3.0, 3.0]]), torch.tensor([[0, 1], [0, 255]])),
            (image_from_red([[0.5, 0.5], [4.0, 0.0]]), torch.tensor([[0, 2], [1, 1]])),
        ]
    )
    net = ThresholdNet()
    net.bn.running_mean.fill_(50.0)
    result = evaluate_subnet(
        net, [0], train, val, calib_batches=2, calib_batch_size=2, space=FixedSpace((2, 2))
    )
    # Predictions (red > 1): image 1 [[0, 1], [1, 1]], image 2 [[0, 0], [1, 0]].
    # Counted pixels (truth, prediction): (0,0) (1,1) (0,1) | (0,0) (2,0) (1,1) (1,0).
    confusion = np.array([[2, 1, 0], [1, 2, 0], [1, 0, 0]])
    assert np.array_equal(result.confusion, confusion)
    # IoU: class 0 = 2 / (3 + 4 - 2), class 1 = 2 / (3 + 3 - 2), class 2 = 0 / (1 + 0 - 0).
    assert np.allclose(result.iou, [2 / 5, 2 / 4, 0.0])
    assert result.miou == pytest.approx((2 / 5 + 2 / 4 + 0.0) / 3)
    assert result.pixel_accuracy == pytest.approx(4 / 7)
    assert result.images == 2 and result.seconds_per_image > 0
    assert result.class_names == ("zero", "one", "two")
    assert net.bn.running_mean.item() == 50.0, "the net's own statistics are restored"
    assert net.active == [0]


def test_inputs_are_resized_and_logits_upsampled_to_the_label() -> None:
    val = ListData([(image_from_red([[3.0] * 8] * 6), torch.ones(6, 8, dtype=torch.int64))])
    net = ThresholdNet()
    result = evaluate_subnet(
        net, [0], val, val, calib_batches=1, calib_batch_size=1, space=FixedSpace((3, 4))
    )
    assert net.shapes[-1] == (1, 3, 3, 4)
    assert result.confusion.sum() == 48, "scored at the label's full 6x8 size"


@pytest.fixture(scope="module")
def tiny_setup() -> tuple[SuperNet, object, object]:
    torch.manual_seed(0)
    space = get_space("tiny", base_hw=(32, 48))
    data = {
        split: get_dataset("synthetic", split, size=(32, 48), length=6, num_classes=4)
        for split in ("train", "val")
    }
    net = SuperNet(space, 4)
    # Give the shared statistics values that fit no sub-network, as after weight sharing.
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-3, 3)
            module.running_var.uniform_(5, 9)
    return net, data["train"], data["val"]


def test_supernet_evaluation_matches_the_extracted_network(tiny_setup) -> None:
    net, train, val = tiny_setup
    space = net.space
    x = space.sample(1, np.random.default_rng(3))[0]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    result = evaluate_subnet(net, x, train, val, calib_batches=2, calib_batch_size=3)
    for name, value in net.state_dict().items():
        assert torch.equal(value, before[name]), f"evaluation changed {name}"

    # Independent route: standalone network, its own recalibration, same scoring.
    hw = space.decode(x).input_hw
    assert result.input_hw == tuple(hw)
    standalone = net.extract(x)
    batches = calibration_batches(train, hw, batches=2, batch_size=3, seed=0)
    recalibrate_batchnorm(standalone, batches)
    confusion, _, count = score_model(standalone, val, hw, num_classes=4)
    assert count == len(val)
    assert np.array_equal(result.confusion, confusion.matrix.numpy())
    assert result.miou == pytest.approx(confusion.miou())

    # Recalibration really replaced the stale shared statistics.
    stale_bn = next(m for m in net.extract(x).modules() if isinstance(m, nn.BatchNorm2d))
    fresh_bn = next(m for m in standalone.modules() if isinstance(m, nn.BatchNorm2d))
    assert not torch.allclose(stale_bn.running_mean, fresh_bn.running_mean)
    assert not torch.allclose(stale_bn.running_var, fresh_bn.running_var)


def test_evaluate_rejects_invalid_architectures(tiny_setup) -> None:
    net, train, val = tiny_setup
    bad = net.space.largest().copy()
    bad[0] = 99
    with pytest.raises(ValueError, match="x0"):
        evaluate_subnet(net, bad, train, val)
