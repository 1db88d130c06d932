"""Devices by name: ``get_device("cpu", threads=1)``, ``get_device("cuda:1")``, user plugins.

Devices are plugins of the shared mechanism (:mod:`segevo.nets.plugins`): built-ins are
registered below, others with :func:`register_device` or through an entry point in the group
``segevo.devices`` naming a device factory (a :class:`Device` subclass, or a
:class:`DevicePlugin` to accept ``name:i``; a factory with ``indexed = True`` does too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from segevo.nets.plugins import PluginError, Registry, check_options, keyword_options

from .base import Device

DeviceFactory = Callable[..., Device]


@dataclass(frozen=True)
class DevicePlugin:
    """A device factory; ``indexed``: ``name:i`` is accepted and passes ``index=i``."""

    factory: DeviceFactory
    indexed: bool = False


def _adapt(name: str, plugin: Any) -> DevicePlugin:
    if isinstance(plugin, DevicePlugin):
        return plugin
    if not callable(plugin):
        raise TypeError(f"a device plugin is a Device factory, got {type(plugin).__name__}")
    return DevicePlugin(plugin, bool(getattr(plugin, "indexed", False)))


def _valid_name(name: str) -> bool:
    return bool(name) and ":" not in name and name.replace("_", "").replace("-", "").isalnum()


_REGISTRY: Registry[DevicePlugin] = Registry(
    "devices",
    "device",
    adapt=_adapt,
    name_rule=(_valid_name, "letters, digits, '-' or '_'"),
    hint=" (indexed ones also as name:i)",
)


def register_device(name: str, factory: DeviceFactory, *, indexed: bool = False) -> None:
    """Make ``get_device(name, **options)`` call ``factory(**options)``.

    With ``indexed=True``, ``name:i`` is accepted too and passes ``index=i`` to the factory
    (as ``cuda:1`` does). Registering a taken name raises ValueError.
    """
    _REGISTRY.register(name, DevicePlugin(factory, indexed))


def unregister_device(name: str) -> None:
    """Remove a registered device (for plugins and tests)."""
    _REGISTRY.unregister(name)


def available_devices() -> list[str]:
    """Registered device names (indexed ones accept ``name:i``)."""
    return _REGISTRY.names()


def get_device(name: str, **options: Any) -> Device:
    """The device called ``name`` (``cpu``, ``cuda``, ``cuda:i``, or a registered plugin).

    Options are the device's keyword options (e.g. ``threads`` for ``cpu``) and the measuring
    protocol's (``warmup``, ``min_repeats``, ``max_repeats``, ``budget_s``, ``max_spread``,
    ``retries``); they are validated now, not at the first measurement.
    """
    if not isinstance(name, str):
        raise PluginError(f"device name must be a string, got {name!r}")
    base, sep, suffix = name.partition(":")
    plugin = _REGISTRY.find(base) if base else None
    if plugin is None:
        raise _REGISTRY.unknown(name)
    if sep:
        if not plugin.indexed or not suffix.isdigit():
            indexed = [n for n in available_devices() if _indexed(n)]
            raise PluginError(
                f"device {name!r}: only {indexed} take an index, written as name:<int>"
            )
        if "index" in options:
            raise PluginError(f"device {name!r}: give the index in the name or as index=, not both")
        options = {**options, "index": int(suffix)}
    allowed = keyword_options(plugin.factory)
    if allowed is not None:  # a factory taking **options validates them itself
        check_options("device", base, options, allowed)
    return plugin.factory(**options)


def _indexed(name: str) -> bool:
    try:
        plugin = _REGISTRY.find(name)
    except PluginError:
        return False
    return plugin is not None and plugin.indexed


def _register_builtins() -> None:
    from .cpu import CPUDevice
    from .cuda import CUDADevice
    from .ort import OrtCPUDevice, OrtCUDADevice

    register_device("cpu", CPUDevice)
    register_device("cuda", CUDADevice, indexed=True)
    register_device("ort-cpu", OrtCPUDevice)
    register_device("ort-cuda", OrtCUDADevice, indexed=True)


_register_builtins()
