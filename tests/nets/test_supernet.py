from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from segevo.nets.space import ResNetSpace, get_space
from segevo.nets.supernet import DynamicBatchNorm2d, SuperNet, sandwich

torch.set_num_threads(1)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def perturb_batchnorm(net: nn.Module, seed: int) -> None:
    """Random BN affine weights and running statistics, so that slicing errors would show."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.num_features, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=gen))


@pytest.fixture(scope="module")
def tiny_supernet() -> SuperNet:
    torch.manual_seed(0)
    net = SuperNet(get_space("tiny"), 6)
    perturb_batchnorm(net, 1)
    return net


def test_extract_equals_supernet(tiny_supernet: SuperNet) -> None:
    space = tiny_supernet.space
    images = torch.randn(2, 3, 64, 64)
    tiny_supernet.eval()
    for x in [space.largest(), space.smallest(), *space.sample(4, 3)]:
        tiny_supernet.set_active(x)
        with torch.no_grad():
            expected = tiny_supernet(images)
        net = tiny_supernet.extract(x)
        assert not net.training
        assert n_params(net) == space.params(x, 6)
        with torch.no_grad():
            got = net(images)
        assert expected.shape == (2, 6, 64, 64)
        assert (got - expected).abs().max().item() < 1e-5


def test_extract_with_aux_matches_in_train_mode(tiny_supernet: SuperNet) -> None:
    space = tiny_supernet.space
    x = space.sample(1, 8)[0]
    tiny_supernet.set_active(x)
    net = tiny_supernet.extract(with_aux=True)  # the active one
    assert n_params(net) == space.params(x, 6, with_aux=True)
    images = torch.randn(2, 3, 48, 40)
    tiny_supernet.train()
    net.train()
    try:
        with torch.no_grad():
            expected = tiny_supernet(images)
            got = net(images)
    finally:
        tiny_supernet.eval()
    assert len(expected) == len(got) == 3
    for a, b in zip(expected, got, strict=True):
        assert a.shape == (2, 6, 48, 40)
        assert (a - b).abs().max().item() < 1e-5


def test_extract_r50_on_tiny_input() -> None:
    torch.manual_seed(0)
    space = get_space("r50")
    supernet = SuperNet(space, 3)
    perturb_batchnorm(supernet, 2)
    supernet.eval()
    images = torch.randn(1, 3, 64, 64)
    for x in space.sample(2, 9):
        supernet.set_active(x)
        with torch.no_grad():
            expected = supernet(images)
            got = supernet.extract(x)(images)
        assert (got - expected).abs().max().item() < 1e-5


def test_training_touches_only_the_active_slices() -> None:
    torch.manual_seed(0)
    space = get_space("tiny")
    supernet = SuperNet(space, 4).train()
    x = space.smallest()
    supernet.set_active(x)
    arch = space.decode(x)
    images = torch.randn(2, 3, 32, 32)
    target = torch.randint(0, 4, (2, 32, 32))
    target[:, :4] = 255
    bn = supernet.stages[0][0].conv1.bn
    mean_before = bn.running_mean.clone()
    outputs = supernet(images)
    assert isinstance(outputs, tuple) and all(o.shape == (2, 4, 32, 32) for o in outputs)
    loss = supernet.compute_loss(outputs, target)
    assert torch.isfinite(loss)
    loss.backward()
    # trailing layers of stage 1 (depth 2 of 4) are skipped
    assert all(p.grad is None for p in supernet.stages[0][2].parameters())
    first = supernet.stages[0][0]
    mid = arch.stages[0].layers[0].mid_ch
    grad = first.conv1.conv.weight.grad
    assert grad is not None
    assert grad[:mid, : arch.stem.out_ch].abs().sum() > 0
    assert grad[mid:].abs().sum() == 0 and grad[:, arch.stem.out_ch :].abs().sum() == 0
    # shared BN statistics: only the active prefix moved
    assert not torch.equal(bn.running_mean[:mid], mean_before[:mid])
    assert torch.equal(bn.running_mean[mid:], mean_before[mid:])
    # eval mode gives the main logits only
    supernet.eval()
    with torch.no_grad():
        main = supernet(images)
    assert isinstance(main, torch.Tensor)
    assert supernet.compute_loss(main, target).ndim == 0


def test_sliced_batchnorm_recalibration_matches_plain_batchnorm() -> None:
    torch.manual_seed(0)
    big = DynamicBatchNorm2d.from_bn(nn.BatchNorm2d(8))
    small = nn.BatchNorm2d(5)
    for m in (big, small):
        m.reset_running_stats()
        m.momentum = None  # cumulative average, as a recalibration does
        m.train()
    for _ in range(3):
        batch = torch.randn(4, 5, 3, 3)
        torch.testing.assert_close(big(batch), small(batch))
    torch.testing.assert_close(big.running_mean[:5], small.running_mean)
    torch.testing.assert_close(big.running_var[:5], small.running_var)
    assert torch.all(big.running_mean[5:] == 0)


def test_set_active_rejects_bad_vectors(tiny_supernet: SuperNet) -> None:
    with pytest.raises(ValueError, match="29 digits"):
        tiny_supernet.set_active(np.zeros(3, dtype=int))
    x = tiny_supernet.largest()
    x[3] = 7
    with pytest.raises(ValueError, match=r"x3 .*0\.\.2"):
        tiny_supernet.set_active(x)


def test_sandwich_and_phases() -> None:
    space = get_space("tiny")
    assert isinstance(space, ResNetSpace)
    rng = np.random.default_rng(0)
    for phase in ("depth", "expand", "width", None):
        batch = sandwich(space, rng, phase=phase, n_random=3)
        assert len(batch) == 5
        np.testing.assert_array_equal(batch[0], space.largest())
        assert np.all(space.is_valid(np.stack(batch)))
    smallest_depth = space.smallest(phase="depth")
    arch = space.decode(smallest_depth)
    assert [st.depth for st in arch.stages] == list(space.base_depths)
    assert [st.width_mult for st in arch.stages] == [1.0] * 4
    np.testing.assert_array_equal(space.smallest(phase="width"), space.smallest())
    for x in space.sample(50, 1, phase="expand"):
        arch = space.decode(x)
        assert [st.width_mult for st in arch.stages] == [1.0] * 4
    with pytest.raises(ValueError, match="phase"):
        sandwich(space, rng, phase="wide")


def test_supernet_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_classes"):
        SuperNet(get_space("tiny"), 0)
    with pytest.raises(ValueError, match="ResNetSpace"):
        SuperNet(object(), 3)  # type: ignore[arg-type]
