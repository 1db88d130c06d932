"""Search spaces: integer encodings of segmentation networks, their bounds, repair and cost.

An architecture is an integer vector ``x`` with ``space.lower <= x <= space.upper``. The
presets ``r50`` and ``tiny`` are OFA-ResNet50-like backbones under BiSeNet v1 heads (paper
Sec. III-B; the digits below are *inferred* from OFA-ResNet50, which the paper's Fig. 5 matches).

Layout of ``x`` (29 digits for the presets; a custom :class:`ResNetSpace` with other stage
depths or stage counts keeps the same order)::

    x0              input scale index   0..4 -> {0.5, 0.625, 0.75, 0.875, 1.0} x base (H, W)
    x1              stem depth          0 = skip, 1 = keep the residual 3x3 conv of the stem
    x2              stem width          0..2 -> stem out/mid channels (r50: 40/24, 48/24, 64/32)
    then, for each stage s = 1..4 (max depth L_s = 4, 4, 6, 4):
    d_s             depth               0..L_s-base_s -> base_s + d_s layers (base 2, 2, 4, 2)
    w_s             width               0..2 -> out channels x {0.65, 0.8, 1.0}
    e_s,1..e_s,L_s  expand per layer    1..3 -> mid = make_divisible(out x {0.2, 0.25, 0.35}, 8);
                                        0 = the layer is not active (beyond the stage depth)

    r50:  x3..x8 stage 1, x9..x14 stage 2, x15..x22 stage 3, x23..x28 stage 4.

Canonical form: a layer beyond its stage's depth carries ``e = 0``, an active layer ``e >= 1``
(the first ``base_s`` layers are always active, so their lower bound is 1). Where rounding to
the channel divisor makes two choices give the same channel count (possible in custom or small
spaces, never in ``r50``/``tiny``), the smallest index is the canonical one. ``repair`` maps any
integer vector to its canonical form, so equal networks get equal vectors; ``is_valid`` is true
exactly for canonical vectors, and ``count`` is the number of them (4,098,191,328,270 for the
presets; the paper's "approximately 10^14" likely counts encodings rather than networks).

The input size is ``round(base * scale)`` per side; every stride-2 layer maps a side ``n`` to
``ceil(n / 2)`` (see ``segevo.nets.arch``, which also defines what ``flops``/``params`` count).

Sampling phases (progressive shrinking for supernet training): ``sample(n, rng, phase=...)``
draws uniformly from a sub-space in which only some dimensions are elastic:

- ``"depth"``: input scale, stem depth and stage depths vary; expand and width stay at maximum;
- ``"expand"``: as ``"depth"`` plus the per-layer expand ratios;
- ``"width"`` (or ``None``, the default): everything, i.e. the whole space.

Presets: ``get_space("r50", base_hw=(1024, 2048))`` (the paper's widths, Cityscapes size) and
``get_space("tiny", base_hw=(96, 128))`` (the same 29-digit structure at a quarter of the
widths, channel divisor 2, smaller heads and a small base resolution, so that brief supernet
training plus a ~100-evaluation search fit in minutes on two CPU cores). The base resolution
is part of the definition and therefore of ``digest()``.

This module is the public face (import from here); the parts live in
:mod:`segevo.nets.spaces` (the interface, ``ResNetSpace``, option checks, presets/registry).
"""

from __future__ import annotations

from segevo.nets.spaces.base import DEFAULT_NUM_CLASSES, PHASES, SearchSpace
from segevo.nets.spaces.presets import (
    SpaceFactory,
    available_spaces,
    get_space,
    r50_space,
    register_space,
    tiny_space,
    unregister_space,
)
from segevo.nets.spaces.resnet import ResNetSpace

__all__ = [
    "DEFAULT_NUM_CLASSES",
    "PHASES",
    "ResNetSpace",
    "SearchSpace",
    "SpaceFactory",
    "available_spaces",
    "get_space",
    "r50_space",
    "register_space",
    "tiny_space",
    "unregister_space",
]
