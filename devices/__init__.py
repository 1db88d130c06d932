"""segevo.devices: latency measurement backends and per-device latency look-up tables.

- ``get_device(name, **options)``: ``cpu`` (torch, fixed threads), ``cuda`` / ``cuda:i``
  (CUDA events), ``ort-cpu`` / ``ort-cuda[:i]`` (ONNX Runtime sessions of exported modules),
  or a plugin registered with ``register_device``; ``Device.measure(module, input_shape) ->
  Measurement``.
- ``build_lut(space, device, path, num_classes=...)``: time every part the space can produce
  (resumable; progress as ``BuildProgress`` events); ``load_lut(path, space) -> LatencyTable``
  with ``predict(X)`` (ms, paper Eq. 7, calibrated when the table has a calibration) through
  its ``LutPredictor``;
- ``check_lut(space, lut, device)``: Kendall tau / MAPE / fraction within +-10% against whole
  networks, before and after a linear ``Calibration``; ``store_calibration(path, cal)``.

Importing this package does not import torch (the engine imports it); measuring does.
"""

from __future__ import annotations

from .base import Device, DeviceUnavailableError, TorchDevice
from .build import BuildProgress, BuildResult, build_lut, partial_path
from .calibration import Calibration, fit_calibration, within_fraction
from .check import Agreement, CheckProgress, CheckReport, check_lut, check_report, plot_check
from .keys import arch_keys
from .lut_file import LUTFileError, LUTSpaceMismatchError, store_calibration
from .measurement import Measurement, Protocol, summarize
from .ort import OrtDevice
from .plan import UnsupportedSpaceError, enumerate_entries, enumerate_keys
from .predictor import LutPredictor
from .registry import available_devices, get_device, register_device, unregister_device
from .table import LatencyTable, load_lut

__all__ = [
    "Agreement",
    "BuildProgress",
    "BuildResult",
    "Calibration",
    "CheckProgress",
    "CheckReport",
    "Device",
    "DeviceUnavailableError",
    "LUTFileError",
    "LUTSpaceMismatchError",
    "LatencyTable",
    "LutPredictor",
    "Measurement",
    "OrtDevice",
    "Protocol",
    "TorchDevice",
    "UnsupportedSpaceError",
    "arch_keys",
    "available_devices",
    "build_lut",
    "check_lut",
    "check_report",
    "enumerate_entries",
    "enumerate_keys",
    "fit_calibration",
    "get_device",
    "load_lut",
    "partial_path",
    "plot_check",
    "register_device",
    "store_calibration",
    "summarize",
    "unregister_device",
    "within_fraction",
]
