"""Latency-table keys: one string per distinct part configuration (paper Eq. 7's terms).

A key names exactly what the part's cost depends on, so two parts with the same key run the
same computation on the same shapes:

- ``stem-in:HxWx3-out:HxWxC-mid:M-residual:R``
- ``bottleneck-in:HxWxCin-out:HxWxCout-mid:M-stride:S``
- ``decoder-in8:HxWxC-in16:HxWxC-in32:HxWxC-ctx:C-fusion:F-head:M-out:HxW-classes:K``
  (the BiSeNet heads and the final upsampling, fed by the last three stages' features).

Written once, here, and torch-free: ``segevo.devices`` looks latencies up by these keys and
``segevo.nets.blocks.timing_units`` names the modules it times with them.
"""

from __future__ import annotations

from segevo.nets.arch import HW, ArchConfig, DecoderConfig, LayerConfig, StemConfig

__all__ = ["arch_keys", "decoder_key", "layer_key", "stem_key"]


def _shape(hw: HW, channels: int) -> str:
    return f"{hw[0]}x{hw[1]}x{channels}"


def stem_key(stem: StemConfig) -> str:
    """Key of a stem configuration."""
    return (
        f"stem-in:{_shape(stem.in_hw, 3)}-out:{_shape(stem.out_hw, stem.out_ch)}"
        f"-mid:{stem.mid_ch}-residual:{int(stem.residual)}"
    )


def layer_key(layer: LayerConfig) -> str:
    """Key of a bottleneck layer configuration."""
    return (
        f"bottleneck-in:{_shape(layer.in_hw, layer.in_ch)}-out:{_shape(layer.out_hw, layer.out_ch)}"
        f"-mid:{layer.mid_ch}-stride:{layer.stride}"
    )


def decoder_key(decoder: DecoderConfig, input_hw: HW, num_classes: int) -> str:
    """Key of the tail + decoder (everything after the backbone) of an architecture."""
    return (
        f"decoder-in8:{_shape(decoder.hw8, decoder.in8_ch)}"
        f"-in16:{_shape(decoder.hw16, decoder.in16_ch)}"
        f"-in32:{_shape(decoder.hw32, decoder.in32_ch)}"
        f"-ctx:{decoder.context_ch}-fusion:{decoder.fusion_ch}-head:{decoder.head_mid_ch}"
        f"-out:{input_hw[0]}x{input_hw[1]}-classes:{num_classes}"
    )


def arch_keys(arch: ArchConfig, num_classes: int) -> list[str]:
    """Every key an architecture's latency sums over: stem, active layers, decoder (Eq. 7)."""
    keys = [stem_key(arch.stem)]
    keys.extend(layer_key(layer) for layer in arch.layers)
    keys.append(decoder_key(arch.decoder, arch.input_hw, num_classes))
    return keys
