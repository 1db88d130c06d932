"""The one place that sums table entries: ``segevo._core.lut_sum`` when built, numpy otherwise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

_native_lut_sum: Callable[[Any, Any], Any] | None
try:
    from segevo._core import lut_sum as _native_lut_sum
except ImportError:  # the C++ core is not built in this checkout
    _native_lut_sum = None


def native_available() -> bool:
    """Whether the C++ ``lut_sum`` is in use."""
    return _native_lut_sum is not None


def lut_sum(indices: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``out[b] = sum(table[i] for i in indices[b] if i != -1)`` as float64 ``[B]``."""
    if _native_lut_sum is not None:
        return np.asarray(_native_lut_sum(indices, table), dtype=np.float64)
    return numpy_lut_sum(indices, table)


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
