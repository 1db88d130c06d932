"""Standalone (static) network modules, built from plain channel numbers.

These are the layers a deployed network runs. ``SuperNet.extract(x)`` builds them with copied
weights, and the latency look-up table builds the same modules with random weights to time
each part in isolation, so that a LUT measures exactly what a deployed network runs.

- :class:`Stem`: conv3x3/2 (3->mid), optional residual conv3x3 (mid->mid), conv3x3 (mid->out),
  max-pool 3x3/2: stride 4 in total.
- :class:`Bottleneck`: 1x1 (in->mid) -> 3x3/stride (mid->mid) -> 1x1 (mid->out), each with BN,
  ReLU after the sum; shortcut = avg-pool(stride, ceil) + 1x1 conv + BN when the shape changes
  (OFA-ResNet's ``avgpool_conv`` downsampling), the identity otherwise.
- BiSeNet v1 decoder (:class:`BiSeNetDecoder`): :class:`AttentionRefinement` on the 1/16 and
  1/32 features, a :class:`GlobalContext` (global average of the 1/32 features), nearest
  upsampling with a :class:`ConvBNReLU` after each step, :class:`FeatureFusion` of the 1/8
  context features with the spatial path (the stage-2 features at 1/8, as in the common ResNet
  BiSeNet variant), and the main :class:`SegHead`.
- :class:`SegmentationNet`: stem + stages + decoder (+ the two auxiliary heads when built
  ``with_aux``). In eval mode it returns the main logits at the input size; in train mode
  with auxiliary heads, ``(main, aux16, aux32)``: ``aux16`` reads the 1/8 context features of
  the 1/16 branch, ``aux32`` the 1/16 context features of the 1/32 branch. Logits are
  upsampled bilinearly (``align_corners=False``) to the size of the images given.

For the latency table, :func:`timing_units` lists, for a decoded architecture, every part to
time: ``TimingUnit(kind, key, build, input_shapes)`` with ``kind`` in ``stem``, ``bottleneck``,
``decoder``; ``key`` as in DESIGN.md (e.g. ``bottleneck-in:64x128x256-out:32x64x512-mid:128-
stride:2``); ``build()`` returns a fresh module in eval mode whose ``forward`` takes one tensor
per entry of ``input_shapes`` (batch 1). Summing the units' latencies follows paper Eq. 7.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segevo.nets.arch import ArchConfig, DecoderConfig, LayerConfig, StemConfig
from segevo.nets.keys import decoder_key, stem_key
from segevo.nets.keys import layer_key as bottleneck_key


class ConvBNReLU(nn.Module):
    """Conv (no bias) -> BatchNorm -> optional ReLU, 'same' padding for odd kernels."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, *, relu: bool = True
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.relu = relu

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn(self.conv(x))
        return F.relu(x) if self.relu else x


class Stem(nn.Module):
    """OFA-ResNet stem: stride 4 in total; the middle residual conv is optional (stem depth)."""

    def __init__(self, mid_ch: int, out_ch: int, residual: bool = True) -> None:
        super().__init__()
        self.conv1 = ConvBNReLU(3, mid_ch, 3, 2)
        self.residual = ConvBNReLU(mid_ch, mid_ch, 3) if residual else None
        self.conv2 = ConvBNReLU(mid_ch, out_ch, 3)
        self.pool = nn.MaxPool2d(3, 2, 1)

    @classmethod
    def from_config(cls, cfg: StemConfig) -> Stem:
        """The stem of a decoded architecture."""
        return cls(cfg.mid_ch, cfg.out_ch, cfg.residual)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        if self.residual is not None:
            x = x + self.residual(x)
        return self.pool(self.conv2(x))


class Projection(nn.Module):
    """OFA's ``avgpool_conv`` shortcut: avg-pool(stride, ceil_mode) -> 1x1 conv -> BN."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(stride, stride, 0, ceil_mode=True) if stride > 1 else None
        self.conv = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)

    def forward(self, x: Tensor) -> Tensor:
        if self.pool is not None:
            x = self.pool(x)
        return self.bn(self.conv(x))


class Bottleneck(nn.Module):
    """Residual bottleneck ``in -> mid -> out`` with the stride on the 3x3 convolution."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        for field, value in (
            ("in_ch", in_ch),
            ("mid_ch", mid_ch),
            ("out_ch", out_ch),
            ("stride", stride),
        ):
            if int(value) != value or value < 1:
                raise ValueError(f"Bottleneck {field} must be a positive integer, got {value!r}")
        self.conv1 = ConvBNReLU(in_ch, mid_ch, 1)
        self.conv2 = ConvBNReLU(mid_ch, mid_ch, 3, stride)
        self.conv3 = ConvBNReLU(mid_ch, out_ch, 1, relu=False)
        self.shortcut = (
            Projection(in_ch, out_ch, stride) if stride != 1 or in_ch != out_ch else None
        )

    @classmethod
    def from_config(cls, cfg: LayerConfig) -> Bottleneck:
        """The layer of a decoded architecture."""
        return cls(cfg.in_ch, cfg.mid_ch, cfg.out_ch, cfg.stride)

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.shortcut is None else self.shortcut(x)
        return F.relu(self.conv3(self.conv2(self.conv1(x))) + residual)


class AttentionRefinement(nn.Module):
    """BiSeNet ARM: 3x3 ConvBNReLU, then channel attention from the global average."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_ch, out_ch, 3)
        self.attention = ConvBNReLU(out_ch, out_ch, 1, relu=False)

    def forward(self, x: Tensor) -> Tensor:
        feat = self.conv(x)
        weight = torch.sigmoid(self.attention(feat.mean(dim=(2, 3), keepdim=True)))
        return feat * weight


class GlobalContext(nn.Module):
    """Global average of the 1/32 features through a 1x1 ConvBNReLU (a 1x1 map, broadcast)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_ch, out_ch, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x.mean(dim=(2, 3), keepdim=True))


class FeatureFusion(nn.Module):
    """BiSeNet FFM: concat(context, spatial) -> 1x1 ConvBNReLU -> squeeze-excite, residual."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        squeeze = max(1, out_ch // 4)
        self.fuse = ConvBNReLU(in_ch, out_ch, 1)
        self.squeeze = nn.Conv2d(out_ch, squeeze, 1, bias=False)
        self.excite = nn.Conv2d(squeeze, out_ch, 1, bias=False)

    def forward(self, context: Tensor, spatial: Tensor) -> Tensor:
        feat = self.fuse(torch.cat([context, spatial], dim=1))
        pooled = feat.mean(dim=(2, 3), keepdim=True)
        weight = torch.sigmoid(self.excite(F.relu(self.squeeze(pooled))))
        return feat + feat * weight


class SegHead(nn.Module):
    """3x3 ConvBNReLU -> 1x1 classifier (with bias); logits at the input feature size."""

    def __init__(self, in_ch: int, mid_ch: int, num_classes: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_ch, mid_ch, 3)
        self.classifier = nn.Conv2d(mid_ch, num_classes, 1, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.conv(x))


class BiSeNetDecoder(nn.Module):
    """BiSeNet v1 context path + fusion + main head on stage features at 1/8, 1/16, 1/32.

    ``forward(feat8, feat16, feat32)`` returns ``(main logits at 1/8, cp8, cp16)``: ``cp8``
    and ``cp16`` are the context features the auxiliary heads read.
    """

    def __init__(
        self,
        in8_ch: int,
        in16_ch: int,
        in32_ch: int,
        num_classes: int,
        *,
        context_ch: int = 128,
        fusion_ch: int = 256,
        head_mid_ch: int = 256,
    ) -> None:
        super().__init__()
        self.arm16 = AttentionRefinement(in16_ch, context_ch)
        self.arm32 = AttentionRefinement(in32_ch, context_ch)
        self.context = GlobalContext(in32_ch, context_ch)
        self.conv_head32 = ConvBNReLU(context_ch, context_ch, 3)
        self.conv_head16 = ConvBNReLU(context_ch, context_ch, 3)
        self.fusion = FeatureFusion(context_ch + in8_ch, fusion_ch)
        self.head = SegHead(fusion_ch, head_mid_ch, num_classes)

    @classmethod
    def from_config(cls, cfg: DecoderConfig, num_classes: int) -> BiSeNetDecoder:
        """The decoder of a decoded architecture."""
        return cls(
            cfg.in8_ch,
            cfg.in16_ch,
            cfg.in32_ch,
            num_classes,
            context_ch=cfg.context_ch,
            fusion_ch=cfg.fusion_ch,
            head_mid_ch=cfg.head_mid_ch,
        )

    def forward(
        self, feat8: Tensor, feat16: Tensor, feat32: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        sum32 = self.arm32(feat32) + self.context(feat32)
        cp16 = self.conv_head32(F.interpolate(sum32, size=feat16.shape[-2:], mode="nearest"))
        sum16 = self.arm16(feat16) + cp16
        cp8 = self.conv_head16(F.interpolate(sum16, size=feat8.shape[-2:], mode="nearest"))
        main = self.head(self.fusion(cp8, feat8))
        return main, cp8, cp16


def upsample_logits(logits: Tensor, size: list[int]) -> Tensor:
    """Bilinear upsampling of logits to the image size (``align_corners=False``)."""
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


class SegmentationNet(nn.Module):
    """A standalone segmentation network: stem, bottleneck stages, BiSeNet decoder.

    Eval mode (or no auxiliary heads): ``forward(images)`` returns the main logits
    ``[N, num_classes, H, W]`` at the images' size. Train mode with auxiliary heads: the
    tuple ``(main, aux16, aux32)``, each at the images' size.
    """

    def __init__(
        self,
        stem: Stem,
        stages: list[nn.Sequential],
        decoder: BiSeNetDecoder,
        aux16: SegHead | None = None,
        aux32: SegHead | None = None,
    ) -> None:
        super().__init__()
        if len(stages) < 3:
            raise ValueError(f"a SegmentationNet needs at least 3 stages, got {len(stages)}")
        if (aux16 is None) != (aux32 is None):
            raise ValueError("give both auxiliary heads or neither")
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.decoder = decoder
        self.aux16 = aux16
        self.aux32 = aux32

    @classmethod
    def from_arch(
        cls, arch: ArchConfig, num_classes: int, *, with_aux: bool = False
    ) -> SegmentationNet:
        """A freshly initialised network for a decoded architecture."""
        if int(num_classes) != num_classes or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        stages = [
            nn.Sequential(*(Bottleneck.from_config(la) for la in st.layers)) for st in arch.stages
        ]
        dec = arch.decoder
        aux16 = SegHead(dec.context_ch, dec.aux_mid_ch, num_classes) if with_aux else None
        aux32 = SegHead(dec.context_ch, dec.aux_mid_ch, num_classes) if with_aux else None
        decoder = BiSeNetDecoder.from_config(dec, num_classes)
        return cls(Stem.from_config(arch.stem), stages, decoder, aux16, aux32)

    def features(self, images: Tensor) -> list[Tensor]:
        """Every stage's output, in order."""
        x = self.stem(images)
        feats: list[Tensor] = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats

    def forward(self, images: Tensor) -> Tensor | tuple[Tensor, Tensor, Tensor]:
        size = images.shape[-2:]
        return self.decode_features(self.features(images), size)

    def decode_features(
        self, feats: list[Tensor], size: list[int]
    ) -> Tensor | tuple[Tensor, Tensor, Tensor]:
        """Decoder and heads on the stage outputs; logits upsampled to ``size``."""
        main, cp8, cp16 = self.decoder(feats[-3], feats[-2], feats[-1])
        main = upsample_logits(main, size)
        if self.training and self.aux16 is not None and self.aux32 is not None:
            return (
                main,
                upsample_logits(self.aux16(cp8), size),
                upsample_logits(self.aux32(cp16), size),
            )
        return main


# --- latency look-up-table support -----------------------------------------------------------


class DecoderWithUpsample(nn.Module):
    """The decoder plus the final upsampling to ``out_hw``: the decoder's share of latency."""

    def __init__(self, decoder: BiSeNetDecoder, out_hw: tuple[int, int]) -> None:
        super().__init__()
        self.decoder = decoder
        self.out_hw = [int(out_hw[0]), int(out_hw[1])]

    def forward(self, feat8: Tensor, feat16: Tensor, feat32: Tensor) -> Tensor:
        main, _, _ = self.decoder(feat8, feat16, feat32)
        return upsample_logits(main, self.out_hw)


@dataclass(frozen=True)
class TimingUnit:
    """One part of a network to time in isolation (see the module docstring)."""

    kind: str
    key: str
    build: Callable[[], nn.Module]
    input_shapes: tuple[tuple[int, ...], ...]


def _eval(module: nn.Module) -> nn.Module:
    return module.eval()


def timing_units(arch: ArchConfig, num_classes: int) -> list[TimingUnit]:
    """The parts of ``arch``'s deployed network, each with its LUT key and input shape(s).

    The stem, every active bottleneck (in order) and the decoder with its final upsampling.
    The sum of the parts is the whole network (paper Eq. 7). Modules are built lazily.
    """
    stem = arch.stem
    units = [
        TimingUnit(
            "stem",
            stem_key(stem),
            lambda: _eval(Stem.from_config(stem)),
            ((1, 3, *stem.in_hw),),
        )
    ]
    for layer in arch.layers:
        units.append(
            TimingUnit(
                "bottleneck",
                bottleneck_key(layer),
                lambda la=layer: _eval(Bottleneck.from_config(la)),
                ((1, layer.in_ch, *layer.in_hw),),
            )
        )
    dec = arch.decoder
    units.append(
        TimingUnit(
            "decoder",
            decoder_key(dec, arch.input_hw, num_classes),
            lambda: _eval(
                DecoderWithUpsample(BiSeNetDecoder.from_config(dec, num_classes), arch.input_hw)
            ),
            (
                (1, dec.in8_ch, *dec.hw8),
                (1, dec.in16_ch, *dec.hw16),
                (1, dec.in32_ch, *dec.hw32),
            ),
        )
    )
    return units
