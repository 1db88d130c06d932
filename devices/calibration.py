"""A linear calibration of a latency table against whole networks: ``ms ~ a * lut_sum + b``.

A table sums the latencies of parts timed one by one, each on a warm cache; a whole network
differs from that sum by a roughly proportional amount (either way: caches evicted between
layers, layers fused across part boundaries) and a constant one (the call itself). ``segevo lut check`` measures sampled
whole networks, fits ``a`` and ``b`` on them and stores the line in the table file
(:func:`~segevo.devices.lut_file.store_calibration`); ``LatencyTable.predict`` applies it.

Fits (``method``):

- ``lsq``: ordinary least squares in milliseconds (``numpy.polyfit``);
- ``relative``: least squares of the *relative* errors ``(a s + b - m) / m``, so small and
  large networks count alike (the figure the check reports is relative);
- ``robust`` (default): ``relative`` refined by iteratively reweighted least squares with
  Huber weights on the relative errors (``k = 1.345`` robust standard deviations), so that a
  few networks timed during a burst of someone else's work do not tilt the line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

METHODS = ("robust", "relative", "lsq")


class FallingLineError(ValueError):
    """The fitted line does not rise: the table's sums do not order the networks."""


HUBER_K = 1.345


@dataclass(frozen=True)
class Calibration:
    """``predicted_ms = slope * lut_sum_ms + intercept_ms``, fitted on ``networks`` networks
    measured on the device ``device`` (its identity) with ``method``."""

    slope: float
    intercept_ms: float
    networks: int
    method: str = "robust"
    device: dict[str, Any] = field(default_factory=dict)
    fitted: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.slope) and self.slope > 0):
            raise ValueError(f"calibration slope must be a finite number > 0, got {self.slope}")
        if not math.isfinite(self.intercept_ms):
            raise ValueError(f"calibration intercept must be finite, got {self.intercept_ms}")
        if isinstance(self.networks, bool) or not isinstance(self.networks, int):
            raise ValueError(f"calibration networks must be an int, got {self.networks!r}")
        if self.networks < 2:
            raise ValueError(f"a calibration needs >= 2 networks, got {self.networks}")
        if self.method not in METHODS:
            raise ValueError(f"calibration method must be one of {METHODS}, got {self.method!r}")

    def apply(self, lut_sum_ms: np.ndarray) -> np.ndarray:
        """The calibrated latency (ms) of table sums (float64, a new array)."""
        out = np.multiply(np.asarray(lut_sum_ms, dtype=np.float64), self.slope)
        out += self.intercept_ms
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (the inverse of :meth:`from_dict`)."""
        return {
            "slope": self.slope,
            "intercept_ms": self.intercept_ms,
            "networks": self.networks,
            "method": self.method,
            "device": dict(self.device),
            "fitted": self.fitted,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Rebuild from :meth:`to_dict`; ValueError naming a missing or malformed field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a calibration is a mapping, got {type(data).__name__}")
        for name in ("slope", "intercept_ms", "networks"):
            if name not in data:
                raise ValueError(f"calibration lacks the field {name!r}")
        numbers = {k: data[k] for k in ("slope", "intercept_ms")}
        for name, value in numbers.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"calibration field {name!r} must be a number, got {value!r}")
        device = data.get("device", {})
        if not isinstance(device, Mapping):
            raise ValueError("calibration field 'device' must be a mapping")
        return cls(
            slope=float(data["slope"]),
            intercept_ms=float(data["intercept_ms"]),
            networks=data["networks"],
            method=str(data.get("method", "robust")),
            device=dict(device),
            fitted=str(data.get("fitted", "")),
        )


def _weighted_line(s: np.ndarray, m: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Minimise sum w (a s + b - m)^2 over (a, b)."""
    root = np.sqrt(w)
    design = np.column_stack([s * root, root])
    (a, b), *_ = np.linalg.lstsq(design, m * root, rcond=None)
    return float(a), float(b)


def fit_line(predictor: Any, measured: Any, method: str = "robust") -> tuple[float, float]:
    """``(a, b)`` of the line ``measured ~ a * predictor + b`` (see the module docstring)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    s = np.asarray(predictor, dtype=np.float64)
    m = np.asarray(measured, dtype=np.float64)
    if s.ndim != 1 or s.shape != m.shape:
        raise ValueError(
            f"predictor and measured must be 1-D of one length, got {s.shape}, {m.shape}"
        )
    if s.size < 2:
        raise ValueError(f"a line needs >= 2 networks, got {s.size}")
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(m))):
        raise ValueError("predictor and measured values must be finite")
    if np.any(m <= 0):
        raise ValueError("measured latencies must be > 0")
    if np.ptp(s) == 0:
        raise ValueError("every network has the same predicted value; no line can be fitted")
    if method == "lsq":
        a, b = np.polyfit(s, m, 1)
        return float(a), float(b)
    w = 1.0 / m**2  # squared relative errors
    a, b = _weighted_line(s, m, w)
    if method == "relative":
        return a, b
    for _ in range(50):
        r = (a * s + b - m) / m
        scale = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        if scale <= 1e-12:  # (nearly) every point on the line already
            break
        u = np.abs(r) / (HUBER_K * scale)
        huber = np.where(u <= 1.0, 1.0, 1.0 / np.maximum(u, 1e-300))
        a_new, b_new = _weighted_line(s, m, w * huber)
        done = abs(a_new - a) <= 1e-12 * abs(a) and abs(b_new - b) <= 1e-12 * max(abs(b), 1e-9)
        a, b = a_new, b_new
        if done:
            break
    return a, b


def fit_calibration(
    lut_sum_ms: Any,
    measured_ms: Any,
    *,
    method: str = "robust",
    device: Mapping[str, Any] | None = None,
) -> Calibration:
    """The calibration ``measured ~ a * lut_sum + b`` of networks measured on ``device``.

    Raises ValueError when the line does not rise (``a <= 0``: the table does not order the
    networks at all) or the inputs are unusable (fewer than two networks, non-positive or
    non-finite times, all sums equal).
    """
    from .lut_file import now_iso

    a, b = fit_line(lut_sum_ms, measured_ms, method)
    if not a > 0:
        raise FallingLineError(
            f"the fitted line falls (slope {a:.3g}): the table's sums do not follow the "
            "measured latencies; rebuild the table on this device or measure more networks"
        )
    return Calibration(
        slope=a,
        intercept_ms=b,
        networks=int(np.asarray(measured_ms).size),
        method=method,
        device=dict(device or {}),
        fitted=now_iso(),
    )


def within_fraction(predicted: Any, measured: Any, tolerance: float = 0.10) -> float:
    """Fraction of networks with ``|predicted - measured| <= tolerance * measured`` (nn-Meter's
    accuracy figure, +-10% by default)."""
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0 (a fraction, 0.10 = 10%), got {tolerance}")
    p = np.asarray(predicted, dtype=np.float64)
    m = np.asarray(measured, dtype=np.float64)
    if p.shape != m.shape or m.size == 0:
        raise ValueError(
            f"predicted and measured must be non-empty and alike, got {p.shape}, {m.shape}"
        )
    return float(np.mean(np.abs(p - m) <= tolerance * m))


def leave_one_out(lut_sum_ms: Any, measured_ms: Any, method: str = "robust") -> np.ndarray:
    """Each network's calibrated prediction from a line fitted on all the *other* networks:
    how well a calibration carries over to networks it was not fitted on."""
    s = np.asarray(lut_sum_ms, dtype=np.float64)
    m = np.asarray(measured_ms, dtype=np.float64)
    if s.size < 3:
        raise ValueError(f"leave-one-out needs >= 3 networks, got {s.size}")
    out = np.empty_like(s)
    keep = np.ones(s.size, dtype=bool)
    for i in range(s.size):
        keep[i] = False
        a, b = fit_line(s[keep], m[keep], method)
        out[i] = a * s[i] + b
        keep[i] = True
    return out
