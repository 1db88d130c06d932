"""Rank and linear correlation between predicted and true accuracies (via scipy)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(y_true, dtype=np.float64)
    b = np.asarray(y_pred, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(
            f"y_true and y_pred must be vectors of equal length, got {a.shape} and {b.shape}"
        )
    if a.size < 2:
        raise ValueError(f"a correlation needs at least 2 values, got {a.size}")
    for label, arr in (("y_true", a), ("y_pred", b)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise ValueError(f"{label} must be finite; {label}[{bad[0]}] = {arr[bad[0]]}")
    return a, b


def _finite_or_zero(value: float) -> float:
    # A constant vector has no defined correlation; for ranking it is as good as chance.
    return float(value) if np.isfinite(value) else 0.0


def pearson(y_true: Any, y_pred: Any) -> float:
    """Pearson's r; 0.0 when either vector is constant."""
    a, b = _pair(y_true, y_pred)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return _finite_or_zero(stats.pearsonr(a, b).statistic)


def spearman(y_true: Any, y_pred: Any) -> float:
    """Spearman's rho; 0.0 when either vector is constant."""
    a, b = _pair(y_true, y_pred)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return _finite_or_zero(stats.spearmanr(a, b).statistic)


def kendall(y_true: Any, y_pred: Any) -> float:
    """Kendall's tau-b; 0.0 when either vector is constant."""
    a, b = _pair(y_true, y_pred)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return _finite_or_zero(stats.kendalltau(a, b).statistic)


def correlations(y_true: Any, y_pred: Any) -> dict[str, float]:
    """All three: ``{"pearson": r, "spearman": rho, "kendall": tau}``."""
    return {
        "pearson": pearson(y_true, y_pred),
        "spearman": spearman(y_true, y_pred),
        "kendall": kendall(y_true, y_pred),
    }
