"""Data sets by name: ``get_dataset("camvid:/data/CamVid", "train", size=(180, 240))``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from segevo.nets.datasets.base import SegmentationDataset

DatasetFactory = Callable[..., SegmentationDataset]

_REGISTRY: dict[str, tuple[DatasetFactory, bool]] = {}


def register_dataset(name: str, factory: DatasetFactory, *, needs_path: bool = True) -> None:
    """Register ``factory(root, split, **options)`` (or ``factory(split, **options)`` when
    ``needs_path`` is False) under ``name``; the spec is then ``name:PATH`` (or ``name``)."""
    if not name or ":" in name or name != name.strip():
        raise ValueError(f"data set name must be non-empty without ':' or spaces, got {name!r}")
    if name in _REGISTRY:
        raise ValueError(f"data set {name!r} is already registered")
    _REGISTRY[name] = (factory, needs_path)


def available_datasets() -> list[str]:
    """Registered data set names, sorted."""
    return sorted(_REGISTRY)


def parse_spec(spec: str) -> tuple[str, Path | None]:
    """``"name:PATH"`` -> (name, path); ``"name"`` -> (name, None)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"data set spec must be 'NAME' or 'NAME:PATH', got {spec!r}")
    name, sep, path = spec.strip().partition(":")
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown data set {name!r}; known: {', '.join(available_datasets())} "
            "(spec 'NAME' or 'NAME:PATH')"
        )
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
    factory, needs_path = _REGISTRY[name]
    if needs_path and path is None:
        raise ValueError(f"data set {name!r} needs its folder: use the spec '{name}:PATH'")
    if not needs_path and path is not None:
        raise ValueError(f"data set {name!r} takes no folder; use the spec {name!r}")
    allowed = _keyword_options(factory)
    unknown = sorted(set(options) - allowed) if allowed is not None else []
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for data set {name!r}; "
            f"allowed: {', '.join(sorted(allowed or ()))}"
        )
    return factory(path, split, **options) if needs_path else factory(split, **options)


def _keyword_options(factory: DatasetFactory) -> set[str] | None:
    """Keyword-only options a factory (or data set class, through its bases) accepts; None
    when it takes arbitrary keywords that cannot be listed."""
    targets = (
        [vars(klass)["__init__"] for klass in factory.__mro__ if "__init__" in vars(klass)]
        if isinstance(factory, type)
        else [factory]
    )
    names: set[str] = set()
    for target in targets:
        parameters = inspect.signature(target).parameters.values()
        names.update(p.name for p in parameters if p.kind is p.KEYWORD_ONLY)
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            return names
    return None
