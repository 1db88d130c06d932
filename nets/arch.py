"""A decoded architecture (``ArchConfig``) and its analytic cost (parameters, multiply-accumulates).

``SearchSpace.decode(x)`` returns an :class:`ArchConfig`: every channel number, stride and
feature size of the network that ``x`` describes, so that the supernet, the standalone network
(``segevo.nets.blocks``) and the latency look-up table all build the very same layers from it.

Feature sizes follow the layers' arithmetic: a stride-2 3x3 convolution with padding 1, the
stem's 3x3/2 max-pool and OFA's ``ceil_mode`` average-pool shortcut all map a side ``n`` to
``ceil(n / 2)``.

Cost convention (the one NAS papers report as "FLOPs"): multiply-accumulates of the
convolutions at the decoded input size, for the deployed network (main head only). Batch norm,
activations, pooling, element-wise products and interpolation are not counted; this is
exactly half of what ``torch.utils.flop_counter.FlopCounterMode`` reports.
"""

from __future__ import annotations

from dataclasses import dataclass


def make_divisible(value: float, divisor: int, min_value: int | None = None) -> int:
    """Round ``value`` to a multiple of ``divisor``, never more than 10% below it (OFA's rule)."""
    if divisor < 1:
        raise ValueError(f"divisor must be >= 1, got {divisor}")
    if min_value is None:
        min_value = divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def half_size(side: int) -> int:
    """The output side of a stride-2 layer of this project (3x3/2 pad 1, ceil-mode avg-pool)."""
    return (side + 1) // 2


HW = tuple[int, int]


@dataclass(frozen=True)
class StemConfig:
    """Stem: conv3x3/2 (3->mid), optional residual conv3x3 (mid->mid), conv3x3 (mid->out), maxpool/2."""

    mid_ch: int
    out_ch: int
    residual: bool
    in_hw: HW
    conv_hw: HW  # after the stride-2 convolution
    out_hw: HW  # after the max-pool (stride 4 in total)


@dataclass(frozen=True)
class LayerConfig:
    """One residual bottleneck: 1x1 (in->mid), 3x3/stride (mid->mid), 1x1 (mid->out)."""

    in_ch: int
    mid_ch: int
    out_ch: int
    stride: int
    in_hw: HW
    out_hw: HW

    @property
    def has_projection(self) -> bool:
        """Whether the shortcut is avg-pool + 1x1 conv + BN (shape changes) or the identity."""
        return self.stride != 1 or self.in_ch != self.out_ch


@dataclass(frozen=True)
class StageConfig:
    """One stage: its active layers (the first ``depth`` of the supernet's stage)."""

    index: int
    depth: int
    width_mult: float
    out_ch: int
    layers: tuple[LayerConfig, ...]
    out_hw: HW


@dataclass(frozen=True)
class DecoderConfig:
    """BiSeNet v1 heads fed by the last three stages (1/8, 1/16, 1/32 of the input).

    ``in8_ch``/``in16_ch``/``in32_ch`` are the widths of those stage outputs; the spatial path
    is the 1/8 feature map itself. ``context_ch`` is the ARM / context width, ``fusion_ch`` the
    feature-fusion output width, ``head_mid_ch``/``aux_mid_ch`` the heads' hidden widths.
    """

    in8_ch: int
    in16_ch: int
    in32_ch: int
    hw8: HW
    hw16: HW
    hw32: HW
    context_ch: int
    fusion_ch: int
    head_mid_ch: int
    aux_mid_ch: int

    @property
    def fusion_in_ch(self) -> int:
        """Width of the fusion input: context features (1/8) concatenated with the spatial path."""
        return self.context_ch + self.in8_ch

    @property
    def fusion_squeeze_ch(self) -> int:
        """Hidden width of the fusion module's channel attention (BiSeNet's out/4)."""
        return max(1, self.fusion_ch // 4)


@dataclass(frozen=True)
class ArchConfig:
    """A decoded architecture: everything needed to build, cost or time it."""

    space: str
    x: tuple[int, ...]
    scale: float
    input_hw: HW
    stem: StemConfig
    stages: tuple[StageConfig, ...]
    decoder: DecoderConfig

    @property
    def layers(self) -> tuple[LayerConfig, ...]:
        """All active bottleneck layers, stage by stage."""
        return tuple(layer for stage in self.stages for layer in stage.layers)


# --- analytic costs -------------------------------------------------------------------------


def _conv_params(in_ch: int, out_ch: int, kernel: int, *, bias: bool = False) -> int:
    return in_ch * out_ch * kernel * kernel + (out_ch if bias else 0)


def _bn_params(ch: int) -> int:
    return 2 * ch


def _conv_macs(in_ch: int, out_ch: int, kernel: int, out_hw: HW) -> int:
    return in_ch * out_ch * kernel * kernel * out_hw[0] * out_hw[1]


def _conv_bn_params(in_ch: int, out_ch: int, kernel: int) -> int:
    return _conv_params(in_ch, out_ch, kernel) + _bn_params(out_ch)


def stem_params(stem: StemConfig) -> int:
    """Parameters of the stem (BN affine weights included, running statistics excluded)."""
    total = _conv_bn_params(3, stem.mid_ch, 3) + _conv_bn_params(stem.mid_ch, stem.out_ch, 3)
    if stem.residual:
        total += _conv_bn_params(stem.mid_ch, stem.mid_ch, 3)
    return total


def stem_macs(stem: StemConfig) -> int:
    """Multiply-accumulates of the stem."""
    total = _conv_macs(3, stem.mid_ch, 3, stem.conv_hw)
    total += _conv_macs(stem.mid_ch, stem.out_ch, 3, stem.conv_hw)
    if stem.residual:
        total += _conv_macs(stem.mid_ch, stem.mid_ch, 3, stem.conv_hw)
    return total


def layer_params(layer: LayerConfig) -> int:
    """Parameters of one bottleneck layer."""
    total = (
        _conv_bn_params(layer.in_ch, layer.mid_ch, 1)
        + _conv_bn_params(layer.mid_ch, layer.mid_ch, 3)
        + _conv_bn_params(layer.mid_ch, layer.out_ch, 1)
    )
    if layer.has_projection:
        total += _conv_bn_params(layer.in_ch, layer.out_ch, 1)
    return total


def layer_macs(layer: LayerConfig) -> int:
    """Multiply-accumulates of one bottleneck layer (the 3x3 carries the stride)."""
    total = (
        _conv_macs(layer.in_ch, layer.mid_ch, 1, layer.in_hw)
        + _conv_macs(layer.mid_ch, layer.mid_ch, 3, layer.out_hw)
        + _conv_macs(layer.mid_ch, layer.out_ch, 1, layer.out_hw)
    )
    if layer.has_projection:
        total += _conv_macs(layer.in_ch, layer.out_ch, 1, layer.out_hw)
    return total


def _head_params(in_ch: int, mid_ch: int, num_classes: int) -> int:
    return _conv_bn_params(in_ch, mid_ch, 3) + _conv_params(mid_ch, num_classes, 1, bias=True)


def _head_macs(in_ch: int, mid_ch: int, num_classes: int, hw: HW) -> int:
    return _conv_macs(in_ch, mid_ch, 3, hw) + _conv_macs(mid_ch, num_classes, 1, hw)


def decoder_params(dec: DecoderConfig, num_classes: int, *, with_aux: bool = False) -> int:
    """Parameters of the BiSeNet decoder (main head; both auxiliary heads if ``with_aux``)."""
    ctx = dec.context_ch
    arm = _conv_bn_params(ctx, ctx, 1)  # attention 1x1 conv + BN, on top of the 3x3 ConvBNReLU
    total = _conv_bn_params(dec.in16_ch, ctx, 3) + arm
    total += _conv_bn_params(dec.in32_ch, ctx, 3) + arm
    total += _conv_bn_params(dec.in32_ch, ctx, 1)  # global context
    total += 2 * _conv_bn_params(ctx, ctx, 3)  # conv_head32, conv_head16
    total += _conv_bn_params(dec.fusion_in_ch, dec.fusion_ch, 1)
    total += 2 * _conv_params(dec.fusion_ch, dec.fusion_squeeze_ch, 1)
    total += _head_params(dec.fusion_ch, dec.head_mid_ch, num_classes)
    if with_aux:
        total += 2 * _head_params(ctx, dec.aux_mid_ch, num_classes)
    return total


def decoder_macs(dec: DecoderConfig, num_classes: int, *, with_aux: bool = False) -> int:
    """Multiply-accumulates of the BiSeNet decoder (eval: main head only, unless ``with_aux``)."""
    ctx = dec.context_ch
    one = (1, 1)
    total = _conv_macs(dec.in32_ch, ctx, 3, dec.hw32) + _conv_macs(ctx, ctx, 1, one)  # arm32
    total += _conv_macs(dec.in16_ch, ctx, 3, dec.hw16) + _conv_macs(ctx, ctx, 1, one)  # arm16
    total += _conv_macs(dec.in32_ch, ctx, 1, one)  # global context on the pooled 1/32 map
    total += _conv_macs(ctx, ctx, 3, dec.hw16)  # conv_head32 after upsampling to 1/16
    total += _conv_macs(ctx, ctx, 3, dec.hw8)  # conv_head16 after upsampling to 1/8
    total += _conv_macs(dec.fusion_in_ch, dec.fusion_ch, 1, dec.hw8)
    total += 2 * _conv_macs(dec.fusion_ch, dec.fusion_squeeze_ch, 1, one)
    total += _head_macs(dec.fusion_ch, dec.head_mid_ch, num_classes, dec.hw8)
    if with_aux:
        total += _head_macs(ctx, dec.aux_mid_ch, num_classes, dec.hw8)
        total += _head_macs(ctx, dec.aux_mid_ch, num_classes, dec.hw16)
    return total


def arch_params(arch: ArchConfig, num_classes: int, *, with_aux: bool = False) -> int:
    """Trainable parameters of the standalone network of ``arch``."""
    total = stem_params(arch.stem) + sum(layer_params(layer) for layer in arch.layers)
    return total + decoder_params(arch.decoder, num_classes, with_aux=with_aux)


def arch_macs(arch: ArchConfig, num_classes: int, *, with_aux: bool = False) -> int:
    """Multiply-accumulates of one forward pass of ``arch`` at ``arch.input_hw``."""
    total = stem_macs(arch.stem) + sum(layer_macs(layer) for layer in arch.layers)
    return total + decoder_macs(arch.decoder, num_classes, with_aux=with_aux)
