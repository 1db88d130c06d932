from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from segevo.nets.blocks import Bottleneck, SegmentationNet, Stem, timing_units
from segevo.nets.space import get_space

torch.set_num_threads(1)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def avg_pool_ceil(x: np.ndarray, k: int) -> np.ndarray:
    """Numpy oracle: k x k / k average pooling, edge windows averaged over what they cover."""
    n, c, h, w = x.shape
    oh, ow = -(-h // k), -(-w // k)
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = x[:, :, i * k : (i + 1) * k, j * k : (j + 1) * k].mean(axis=(2, 3))
    return out


def test_bottleneck_shortcuts() -> None:
    assert Bottleneck(16, 8, 16, 1).shortcut is None
    assert Bottleneck(16, 8, 32, 1).shortcut is not None
    assert Bottleneck(16, 8, 16, 2).shortcut is not None
    with pytest.raises(ValueError, match="mid_ch"):
        Bottleneck(16, 0, 16, 1)


def test_bottleneck_identity_and_projection_paths() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 6, 7, 5, dtype=torch.float64)
    same = Bottleneck(6, 4, 6, 1).double().eval()
    nn.init.zeros_(same.conv3.bn.weight)  # the residual branch then adds zero
    torch.testing.assert_close(same(x), torch.relu(x))

    down = Bottleneck(6, 4, 10, 2).double().eval()
    nn.init.zeros_(down.conv3.bn.weight)
    assert down.shortcut is not None
    nn.init.ones_(down.shortcut.bn.weight)
    nn.init.zeros_(down.shortcut.bn.bias)
    weight = down.shortcut.conv.weight.detach().numpy()[:, :, 0, 0]
    pooled = avg_pool_ceil(x.numpy(), 2)
    projected = np.einsum("oc,nchw->nohw", weight, pooled) / np.sqrt(1 + 1e-5)
    np.testing.assert_allclose(down(x).detach().numpy(), np.maximum(projected, 0), atol=1e-12)
    assert down(x).shape == (2, 10, 4, 3)


def test_stem_stride_and_residual() -> None:
    x = torch.randn(1, 3, 33, 18)
    assert Stem(8, 16, residual=False)(x).shape == (1, 16, 9, 5)
    stem = Stem(8, 16, residual=True)
    assert stem.residual is not None and stem(x).shape == (1, 16, 9, 5)


@pytest.mark.parametrize("name", ["tiny", "r50"])
def test_params_match_space(name: str) -> None:
    space = get_space(name, base_hw=(64, 64))
    for x in [space.largest(), space.smallest(), *space.sample(2, 5)]:
        arch = space.decode(x)
        for with_aux in (False, True):
            net = SegmentationNet.from_arch(arch, 7, with_aux=with_aux)
            assert n_params(net) == space.params(x, 7, with_aux=with_aux)


@pytest.mark.parametrize("name", ["tiny", "r50"])
def test_flops_match_flop_counter(name: str) -> None:
    space = get_space(name, base_hw=(48, 80))
    for x in [space.largest(), *space.sample(2, 11)]:
        arch = space.decode(x)
        net = SegmentationNet.from_arch(arch, 5).eval()
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            net(torch.zeros(1, 3, *arch.input_hw))
        assert counter.get_total_flops() == 2 * space.flops(x, 5)


def test_feature_sizes_match_decode() -> None:
    space = get_space("tiny", base_hw=(100, 36))
    x = space.sample(1, 2)[0]
    arch = space.decode(x)
    net = SegmentationNet.from_arch(arch, 3, with_aux=True).eval()
    images = torch.zeros(1, 3, *arch.input_hw)
    feats = net.features(images)
    assert [tuple(f.shape[-2:]) for f in feats] == [st.out_hw for st in arch.stages]
    assert [f.shape[1] for f in feats] == [st.out_ch for st in arch.stages]
    assert net(images).shape == (1, 3, *arch.input_hw)
    net.train()
    out = net(torch.zeros(2, 3, 40, 24))
    assert isinstance(out, tuple) and [o.shape for o in out] == [(2, 3, 40, 24)] * 3


def test_timing_units_cover_the_network() -> None:
    space = get_space("tiny")
    x = space.sample(1, 4)[0]
    arch = space.decode(x)
    units = timing_units(arch, 11)
    assert [u.kind for u in units] == ["stem"] + ["bottleneck"] * len(arch.layers) + ["decoder"]
    total = 0
    for unit, expected in zip(units[1:-1], arch.layers, strict=True):
        assert unit.key == (
            f"bottleneck-in:{expected.in_hw[0]}x{expected.in_hw[1]}x{expected.in_ch}"
            f"-out:{expected.out_hw[0]}x{expected.out_hw[1]}x{expected.out_ch}"
            f"-mid:{expected.mid_ch}-stride:{expected.stride}"
        )
    for unit in units:
        module = unit.build()
        assert not module.training
        total += n_params(module)
        with torch.no_grad():
            out = module(*(torch.zeros(shape) for shape in unit.input_shapes))
        if unit.kind == "stem":
            assert out.shape == (1, arch.stem.out_ch, *arch.stem.out_hw)
        elif unit.kind == "decoder":
            assert out.shape == (1, 11, *arch.input_hw)
    assert total == space.params(x, 11)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_scripted_network_matches() -> None:
    space = get_space("tiny")
    net = SegmentationNet.from_arch(space.decode(space.sample(1, 0)[0]), 4).eval()
    scripted = torch.jit.script(net)
    images = torch.randn(1, 3, 40, 56)
    torch.testing.assert_close(scripted(images), net(images), rtol=0, atol=1e-6)
