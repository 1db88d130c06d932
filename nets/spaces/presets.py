"""The ``r50`` and ``tiny`` presets and the registry behind :func:`get_space` (a
:class:`segevo.nets.plugins.Registry`, like every plugin family)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from segevo.nets.plugins import Registry, callable_plugin, check_options
from segevo.nets.spaces.base import SearchSpace
from segevo.nets.spaces.resnet import ResNetSpace

SpaceFactory = Callable[..., SearchSpace]

_COMMON = {
    "scales": (0.5, 0.625, 0.75, 0.875, 1.0),
    "base_depths": (2, 2, 4, 2),
    "max_depths": (4, 4, 6, 4),
    "strides": (1, 2, 2, 2),
    "width_mults": (0.65, 0.8, 1.0),
    "expand_ratios": (0.2, 0.25, 0.35),
}


def _options(name: str, options: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    check_options("search space", name, options, defaults)
    return {**defaults, **options}


def r50_space(**options: Any) -> ResNetSpace:
    """The paper's space: OFA-ResNet50 widths, BiSeNet heads (128/256), base 1024x2048.

    Option: ``base_hw=(H, W)``.
    """
    opts = _options("r50", options, {"base_hw": (1024, 2048)})
    return ResNetSpace(
        name="r50",
        base_hw=opts["base_hw"],
        stem_out=(40, 48, 64),
        stem_mid=(24, 24, 32),
        stage_channels=(256, 512, 1024, 2048),
        divisor=8,
        context_ch=128,
        fusion_ch=256,
        head_mid_ch=256,
        aux_mid_ch=64,
        **_COMMON,
    )


def tiny_space(**options: Any) -> ResNetSpace:
    """A quarter of r50's widths (channel divisor 2), heads 32/64, base 96x128 (CamVid's 3:4).

    Option: ``base_hw=(H, W)``.
    """
    opts = _options("tiny", options, {"base_hw": (96, 128)})
    return ResNetSpace(
        name="tiny",
        base_hw=opts["base_hw"],
        stem_out=(10, 12, 16),
        stem_mid=(6, 6, 8),
        stage_channels=(64, 128, 256, 512),
        divisor=2,
        context_ch=32,
        fusion_ch=64,
        head_mid_ch=64,
        aux_mid_ch=16,
        **_COMMON,
    )


def _builtins() -> None:
    _REGISTRY.register("r50", r50_space)
    _REGISTRY.register("tiny", tiny_space)


_REGISTRY: Registry[SpaceFactory] = Registry(
    "spaces",
    "search space",
    adapt=callable_plugin("a search space plugin is a factory(**options) -> SearchSpace"),
    builtins=_builtins,
)
"""Search spaces: the presets, spaces registered in code, and entry points in the group
``segevo.spaces`` (a factory ``(**options) -> SearchSpace``)."""


def register_space(name: str, factory: SpaceFactory, *, replace: bool = False) -> None:
    """Register ``factory(**options) -> SearchSpace`` under ``name`` for ``get_space``."""
    _REGISTRY.register(name, factory, replace=replace)


def unregister_space(name: str) -> None:
    """Remove a space registered in code (for plugins that clean up, and tests)."""
    _REGISTRY.unregister(name)


def available_spaces() -> list[str]:
    """Names accepted by ``get_space``."""
    return _REGISTRY.names()


def get_space(name: str, **options: Any) -> SearchSpace:
    """Build the registered space ``name`` with its keyword options (e.g. ``base_hw``)."""
    space = _REGISTRY.get(name)(**options)
    if not isinstance(space, SearchSpace):
        raise ValueError(
            f"factory for space {name!r} returned {type(space).__name__}, not a SearchSpace"
        )
    return space
