"""Data sets by name: ``get_dataset("camvid:/data/CamVid", "train", size=(180, 240))``.

Data sets are plugins of the shared mechanism (:mod:`segevo.nets.plugins`): built-ins are
registered in :mod:`segevo.nets.datasets`, others with :func:`register_dataset` or through an
entry point in the group ``segevo.datasets`` naming a factory (a data set class, or a
:class:`DatasetPlugin`; a factory with ``needs_path = False`` is built without a folder).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segevo.nets.datasets.base import SegmentationDataset
from segevo.nets.plugins import PluginError, Registry, check_options, keyword_options

DatasetFactory = Callable[..., SegmentationDataset]


@dataclass(frozen=True)
class DatasetPlugin:
    """``factory(root, split, **options)``, or ``factory(split, **options)`` when
    ``needs_path`` is False (the spec is then ``name`` rather than ``name:PATH``)."""

    factory: DatasetFactory
    needs_path: bool = True


def _adapt(name: str, plugin: Any) -> DatasetPlugin:
    if isinstance(plugin, DatasetPlugin):
        return plugin
    if not callable(plugin):
        raise TypeError(f"a data set plugin is a factory, got {type(plugin).__name__}")
    return DatasetPlugin(plugin, bool(getattr(plugin, "needs_path", True)))


_REGISTRY: Registry[DatasetPlugin] = Registry(
    "datasets",
    "data set",
    adapt=_adapt,
    name_rule=(
        lambda n: bool(n) and ":" not in n and n == n.strip(),
        "non-empty without ':' or spaces",
    ),
    hint=" (spec 'NAME' or 'NAME:PATH')",
)


def register_dataset(name: str, factory: DatasetFactory, *, needs_path: bool = True) -> None:
    """Register ``factory(root, split, **options)`` (or ``factory(split, **options)`` when
    ``needs_path`` is False) under ``name``; the spec is then ``name:PATH`` (or ``name``)."""
    _REGISTRY.register(name, DatasetPlugin(factory, needs_path))


def unregister_dataset(name: str) -> None:
    """Remove a data set registered in code (for plugins that clean up, and tests)."""
    _REGISTRY.unregister(name)


def available_datasets() -> list[str]:
    """Registered data set names, sorted."""
    return _REGISTRY.names()


def parse_spec(spec: str) -> tuple[str, Path | None]:
    """``"name:PATH"`` -> (name, path); ``"name"`` -> (name, None)."""
    if not isinstance(spec, str) or not spec.strip():
        raise PluginError(f"data set spec must be 'NAME' or 'NAME:PATH', got {spec!r}")
    name, sep, path = spec.strip().partition(":")
    if name not in _REGISTRY:
        raise _REGISTRY.unknown(name)
    return name, (Path(path).expanduser() if sep and path else None)


def get_dataset(
    spec: str = "synthetic", split: str = "train", **options: Any
) -> SegmentationDataset:
    """The data set named by ``spec`` (``synthetic``, ``camvid:PATH``, ``cityscapes:PATH``,
    ``voc:PATH``, ``cocostuff:PATH`` or a registered one), split ``split``.

    Options are keyword-only and validated by the data set (e.g. ``size=(H, W)``,
    ``augment=RandomScaleCropFlip(...)``).
    """
    name, path = parse_spec(spec)
    plugin = _REGISTRY.get(name)
    if plugin.needs_path and path is None:
        raise PluginError(f"data set {name!r} needs its folder: use the spec '{name}:PATH'")
    if not plugin.needs_path and path is not None:
        raise PluginError(f"data set {name!r} takes no folder; use the spec {name!r}")
    allowed = keyword_options(plugin.factory)
    if allowed is not None:  # a factory taking **options validates them itself
        check_options("data set", name, options, allowed)
    if plugin.needs_path:
        return plugin.factory(path, split, **options)
    return plugin.factory(split, **options)
