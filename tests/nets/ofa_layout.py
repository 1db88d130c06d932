"""OFA-ResNet50 as Once-for-All describes it, written independently of segevo's mapping.

From mit-han-lab/once-for-all: OFAResNets with depth_list [0, 1, 2], expand_ratio_list
[0.2, 0.25, 0.35], width_mult_list [0.65, 0.8, 1.0]; ResNets.BASE_DEPTH_LIST [2, 2, 4, 2],
STAGE_WIDTH_LIST [256, 512, 1024, 2048]; the module names of DynamicConvLayer (``conv.conv``,
``bn.bn``), ResidualBlock (``conv``), DynamicResNetBottleneckBlock (``conv1..3``,
``downsample``) and DynamicLinearLayer (``linear.linear``). Used by the nets and cli tests.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

OFA_WIDTHS = (0.65, 0.8, 1.0)
OFA_EXPANDS = (0.2, 0.25, 0.35)
OFA_DEPTHS = (0, 1, 2)
BASE_DEPTHS = (2, 2, 4, 2)
STAGE_WIDTHS = (256, 512, 1024, 2048)
STRIDES = (1, 2, 2, 2)
BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def ofa_make_divisible(v: float, divisor: int = 8) -> int:
    """OFA's make_divisible (ofa.utils): nearest multiple, never more than 10% below."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def ofa_channels(
    widths: tuple[float, ...] = OFA_WIDTHS, expands: tuple[float, ...] = OFA_EXPANDS
) -> dict[str, list]:
    stem_out = [ofa_make_divisible(64 * w) for w in widths]
    stem_mid = [ofa_make_divisible(c // 2) for c in stem_out]
    stage_out = [[ofa_make_divisible(c * w) for w in widths] for c in STAGE_WIDTHS]
    return {"stem_out": stem_out, "stem_mid": stem_mid, "stage_out": stage_out}


def ofa_mid(out: int, expand: float) -> int:
    """DynamicResNetBottleneckBlock.active_middle_channels."""
    return ofa_make_divisible(round(out * expand))


def ofa_resnet50_shapes(
    *,
    widths: tuple[float, ...] = OFA_WIDTHS,
    expands: tuple[float, ...] = OFA_EXPANDS,
    max_depth: int = max(OFA_DEPTHS),
) -> dict[str, tuple[int, ...]]:
    """Key -> shape of OFAResNets.state_dict() for the given lists (full-size tensors)."""
    ch = ofa_channels(widths, expands)
    shapes: dict[str, tuple[int, ...]] = {}

    def conv_layer(prefix: str, out: int, inp: int, k: int) -> None:  # DynamicConvLayer
        shapes[f"{prefix}.conv.conv.weight"] = (out, inp, k, k)
        for f in BN:
            shapes[f"{prefix}.bn.bn.{f}"] = () if f == "num_batches_tracked" else (out,)

    mid, out = max(ch["stem_mid"]), max(ch["stem_out"])
    conv_layer("input_stem.0", mid, 3, 3)
    conv_layer("input_stem.1.conv", mid, mid, 3)  # ResidualBlock(conv=..., shortcut=Identity)
    conv_layer("input_stem.2", out, mid, 3)
    in_ch, g = out, 0
    for s, base in enumerate(BASE_DEPTHS):
        stage_out = max(ch["stage_out"][s])
        block_mid = ofa_mid(stage_out, max(expands))
        for i in range(base + max_depth):
            conv_layer(f"blocks.{g}.conv1", block_mid, in_ch, 1)
            conv_layer(f"blocks.{g}.conv2", block_mid, block_mid, 3)
            conv_layer(f"blocks.{g}.conv3", stage_out, block_mid, 1)
            if i == 0:  # stride or width change: avgpool_conv downsample
                conv_layer(f"blocks.{g}.downsample", stage_out, in_ch, 1)
            in_ch, g = stage_out, g + 1
    shapes["classifier.linear.linear.weight"] = (1000, in_ch)
    shapes["classifier.linear.linear.bias"] = (1000,)
    return shapes


def random_state(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, Tensor]:
    """Values that keep activations of a deep random network in range."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000 + len(state), dtype=torch.long)
        elif key.endswith(("running_var", "bn.weight")):
            state[key] = 0.5 + 0.5 * torch.rand(shape, generator=gen)
        elif key.endswith(("running_mean", "bn.bias", "linear.bias")):
            state[key] = 0.1 * torch.randn(shape, generator=gen)
        else:
            fan_in = int(np.prod(shape[1:]))
            state[key] = torch.randn(shape, generator=gen) * (1.0 / fan_in) ** 0.5
    return state


def ofa_features(state: dict[str, Tensor], images: Tensor, choice: dict) -> list[Tensor]:
    """OFA-ResNet's forward (eval mode) up to every stage output, from the raw tensors.

    ``choice``: stem_skip (bool), stem_w (index), per stage depth d, width w, and a mid
    width per active block; every layer uses the leading filters/channels (OFA's slicing).
    """

    def conv_bn(x: Tensor, prefix: str, out: int, stride: int, relu: bool) -> Tensor:
        w = state[f"{prefix}.conv.conv.weight"][:out, : x.shape[1]]
        x = F.conv2d(x, w, None, stride, w.shape[-1] // 2)
        bn = {f: state[f"{prefix}.bn.bn.{f}"][:out] for f in BN[:4]}
        x = F.batch_norm(
            x, bn["running_mean"], bn["running_var"], bn["weight"], bn["bias"], False, 0.0, 1e-5
        )
        return F.relu(x) if relu else x

    ch = ofa_channels()
    mid, out = ch["stem_mid"][choice["stem_w"]], ch["stem_out"][choice["stem_w"]]
    x = conv_bn(images, "input_stem.0", mid, 2, True)
    if not choice["stem_skip"]:
        x = x + conv_bn(x, "input_stem.1.conv", mid, 1, True)
    x = F.max_pool2d(conv_bn(x, "input_stem.2", out, 1, True), 3, 2, 1)
    feats, g = [], 0
    for s, base in enumerate(BASE_DEPTHS):
        width = ch["stage_out"][s][choice["w"][s]]
        for i in range(base + max(OFA_DEPTHS)):
            if i < base + choice["d"][s]:
                stride = STRIDES[s] if i == 0 else 1
                if i == 0:
                    short = F.avg_pool2d(x, stride, stride, 0, ceil_mode=True)
                    short = conv_bn(short, f"blocks.{g}.downsample", width, 1, False)
                else:
                    short = x
                m = choice["mids"][s][i]
                y = conv_bn(x, f"blocks.{g}.conv1", m, 1, True)
                y = conv_bn(y, f"blocks.{g}.conv2", m, stride, True)
                y = conv_bn(y, f"blocks.{g}.conv3", width, 1, False)
                x = F.relu(y + short)
            g += 1
        feats.append(x)
    return feats


def r50_choice(x: np.ndarray) -> dict:
    """OFA's choices for an r50 vector, read from the documented 29-digit layout."""
    ch = ofa_channels()
    choice: dict = {"stem_skip": x[1] == 0, "stem_w": int(x[2]), "d": [], "w": [], "mids": []}
    start = 3
    for s, base in enumerate(BASE_DEPTHS):
        d, w = int(x[start]), int(x[start + 1])
        expands = x[start + 2 : start + 2 + base + 2]
        out = ch["stage_out"][s][w]
        choice["d"].append(d)
        choice["w"].append(w)
        choice["mids"].append([ofa_mid(out, OFA_EXPANDS[e - 1]) for e in expands[: base + d]])
        start += 2 + base + 2
    return choice
