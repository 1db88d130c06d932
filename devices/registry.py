"""Devices by name: ``get_device("cpu", threads=1)``, ``get_device("cuda:1")``, user plugins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Device

DeviceFactory = Callable[..., Device]

_FACTORIES: dict[str, DeviceFactory] = {}
_INDEXED: set[str] = set()


def register_device(name: str, factory: DeviceFactory, *, indexed: bool = False) -> None:
    """Make ``get_device(name, **options)`` call ``factory(**options)``.

    With ``indexed=True``, ``name:i`` is accepted too and passes ``index=i`` to the factory
    (as ``cuda:1`` does). Registering a taken name raises ValueError.
    """
    if not name or ":" in name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"device name must be letters, digits, '-' or '_', got {name!r}")
    if name in _FACTORIES:
        raise ValueError(f"a device named {name!r} is already registered")
    _FACTORIES[name] = factory
    if indexed:
        _INDEXED.add(name)


def unregister_device(name: str) -> None:
    """Remove a registered device (for plugins and tests)."""
    if name not in _FACTORIES:
        raise ValueError(f"no device named {name!r}; known: {', '.join(available_devices())}")
    del _FACTORIES[name]
    _INDEXED.discard(name)


def available_devices() -> list[str]:
    """Registered device names (indexed ones accept ``name:i``)."""
    return sorted(_FACTORIES)


def get_device(name: str, **options: Any) -> Device:
    """The device called ``name`` (``cpu``, ``cuda``, ``cuda:i``, or a registered plugin).

    Options are the device's keyword options (e.g. ``threads`` for ``cpu``) and the measuring
    protocol's (``warmup``, ``min_repeats``, ``max_repeats``, ``budget_s``, ``max_spread``,
    ``retries``); they are validated now, not at the first measurement.
    """
    base, sep, suffix = name.partition(":")
    if base not in _FACTORIES:
        raise ValueError(
            f"unknown device {name!r}; known: {', '.join(available_devices())} "
            "(indexed ones also as name:i)"
        )
    if sep:
        if base not in _INDEXED or not suffix.isdigit():
            raise ValueError(
                f"device {name!r}: only {sorted(_INDEXED)} take an index, written as name:<int>"
            )
        if "index" in options:
            raise ValueError(f"device {name!r}: give the index in the name or as index=, not both")
        options = {**options, "index": int(suffix)}
    return _FACTORIES[base](**options)


def _register_builtins() -> None:
    from .cpu import CPUDevice
    from .cuda import CUDADevice

    register_device("cpu", CPUDevice)
    register_device("cuda", CUDADevice, indexed=True)


_register_builtins()
