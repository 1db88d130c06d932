"""The one place that sums table entries: ``segevo._core`` when built, numpy otherwise.

``lut_sum`` sums rows of entry indices; ``lut_predict`` (native only) goes from architecture
vectors straight to summed latency through :class:`~segevo.devices.plan.PredictTerms`. A core
built before ``lut_predict`` existed lacks it: :func:`fused_available` says so, and callers
then build index rows with :class:`~segevo.devices.plan.IndexPlan` and call ``lut_sum``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

_native_lut_sum: Callable[[Any, Any], Any] | None
try:
    from segevo._core import lut_sum as _native_lut_sum
except ImportError:  # the C++ core is not built in this checkout
    _native_lut_sum = None

_native_lut_predict: Callable[..., Any] | None
try:
    from segevo._core import lut_predict as _native_lut_predict
except ImportError:  # no core, or one built before lut_predict was added
    _native_lut_predict = None


def native_available() -> bool:
    """Whether the C++ ``lut_sum`` is in use."""
    return _native_lut_sum is not None


def fused_available() -> bool:
    """Whether the C++ ``lut_predict`` (the fused index-and-sum kernel) is available."""
    return _native_lut_predict is not None


def lut_sum(indices: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``out[b] = sum(table[i] for i in indices[b] if i != -1)`` as float64 ``[B]``."""
    if _native_lut_sum is not None:
        return np.asarray(_native_lut_sum(indices, table), dtype=np.float64)
    return numpy_lut_sum(indices, table)


def lut_predict(X: np.ndarray, terms_args: tuple[np.ndarray, ...]) -> np.ndarray:
    """``segevo._core.lut_predict(X, *terms_args)``; RuntimeError when the core lacks it."""
    if _native_lut_predict is None:
        raise RuntimeError("segevo._core.lut_predict is not available (rebuild the C++ core)")
    return np.asarray(_native_lut_predict(X, *terms_args), dtype=np.float64)


def numpy_lut_sum(indices: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The numpy version: a zero appended to the table absorbs every -1."""
    idx = np.asarray(indices)
    values = np.asarray(table, dtype=np.float64)
    if idx.ndim != 2 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"indices must be a 2-D integer array, got {idx.dtype} {idx.shape}")
    if idx.size and (idx.min() < -1 or idx.max() >= values.shape[0]):
        raise ValueError(f"indices must lie in -1..{values.shape[0] - 1}")
    padded = np.append(values, 0.0)
    return padded[idx].sum(axis=1)
