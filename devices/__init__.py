"""segevo.devices: latency measurement backends and per-device latency look-up tables.

- ``get_device(name, **options)``: ``cpu`` (torch, fixed threads), ``cuda`` / ``cuda:i``
  (CUDA events), or a plugin registered with ``register_device``; ``Device.measure(module,
  input_shape) -> Measurement``.
- ``build_lut(space, device, path, num_classes=...)``: time every part the space can produce
  (resumable); ``load_lut(path, space) -> LatencyTable`` with ``predict(X)`` (ms, paper Eq. 7);
  ``check_lut(space, lut, device)``: Kendall tau / Pearson r / MAPE against whole networks.

Importing this package does not import torch (the engine imports it); measuring does.
"""

from __future__ import annotations

from .base import Device, DeviceUnavailableError, TorchDevice
from .build import BuildResult, build_lut, partial_path
from .check import Agreement, CheckReport, check_lut, plot_check
from .keys import arch_keys
from .lut_file import LUTFileError, LUTSpaceMismatchError
from .measurement import Measurement, Protocol, summarize
from .plan import UnsupportedSpaceError, enumerate_entries, enumerate_keys
from .registry import available_devices, get_device, register_device, unregister_device
from .table import LatencyTable, load_lut

__all__ = [
    "Agreement",
    "BuildResult",
    "CheckReport",
    "Device",
    "DeviceUnavailableError",
    "LUTFileError",
    "LUTSpaceMismatchError",
    "LatencyTable",
    "Measurement",
    "Protocol",
    "TorchDevice",
    "UnsupportedSpaceError",
    "arch_keys",
    "available_devices",
    "build_lut",
    "check_lut",
    "enumerate_entries",
    "enumerate_keys",
    "get_device",
    "load_lut",
    "partial_path",
    "plot_check",
    "register_device",
    "summarize",
    "unregister_device",
]
