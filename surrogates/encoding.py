"""Integer architecture vectors: bounds checking and one-hot features for the predictors.

Without a search space every digit ``d`` gets its own block of ``upper[d] - lower[d] + 1``
columns and exactly one 1 per block. With a space (anything with ``lower``, ``upper`` and
``onehot(X)``, e.g. ``segevo.nets.space.SearchSpace``) the space encodes, so an inactive
layer gives an all-zero block instead of looking like a choice.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class OneHotSpace(Protocol):
    """What the encoder needs from a search space."""

    lower: Any
    upper: Any

    def onehot(self, X: np.ndarray) -> np.ndarray: ...


def as_bounds(lower: Any, upper: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check per-variable bounds and return them as int64 vectors."""
    lo = np.asarray(lower)
    hi = np.asarray(upper)
    if lo.ndim != 1 or hi.ndim != 1 or lo.shape != hi.shape or lo.size == 0:
        raise ValueError(
            f"lower and upper must be non-empty 1-d vectors of equal length, "
            f"got shapes {lo.shape} and {hi.shape}"
        )
    for label, arr in (("lower", lo), ("upper", hi)):
        if arr.dtype.kind not in "iu" and not (
            arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))
        ):
            raise ValueError(f"{label} must hold integers, got {arr.tolist()}")
    lo = lo.astype(np.int64)
    hi = hi.astype(np.int64)
    bad = np.flatnonzero(hi < lo)
    if bad.size:
        d = int(bad[0])
        raise ValueError(f"upper < lower at digit x{d}: lower={lo[d]}, upper={hi[d]}")
    return lo, hi


class OneHotEncoder:
    """Validates integer matrices against bounds and turns them into float32 one-hot rows."""

    def __init__(self, lower: Any, upper: Any, space: OneHotSpace | None = None) -> None:
        self.lower, self.upper = as_bounds(lower, upper)
        self.space = space
        sizes = self.upper - self.lower + 1
        # Column where each digit's block starts (bounds-only encoding).
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self._bounds_features = int(sizes.sum())
        self._n_features: int | None = None if space is not None else self._bounds_features

    @property
    def n_var(self) -> int:
        return int(self.lower.size)

    @property
    def uses_space(self) -> bool:
        return self.space is not None

    @property
    def n_features(self) -> int:
        if self._n_features is None:
            probe = self.space.onehot(self.lower[None, :])  # type: ignore[union-attr]
            self._n_features = int(np.asarray(probe).shape[1])
        return self._n_features

    def validate(self, X: Any) -> np.ndarray:
        """``X`` as an int64 ``[n, n_var]`` matrix; ``ValueError`` names the first bad row/digit."""
        arr = np.asarray(X)
        if arr.ndim == 1 and arr.size == self.n_var:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self.n_var:
            raise ValueError(
                f"X must be an integer matrix [n, {self.n_var}], got shape {arr.shape}"
            )
        if arr.dtype.kind == "f":
            finite = np.isfinite(arr)
            if not finite.all() or np.any(arr != np.round(np.where(finite, arr, 0))):
                row, digit = np.argwhere(~finite | (arr != np.round(np.where(finite, arr, 0))))[0]
                raise ValueError(
                    f"X must hold integers; row {row}, digit x{digit} is {arr[row, digit]!r}"
                )
        elif arr.dtype.kind not in "iu":
            raise ValueError(f"X must hold integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64, copy=False)
        outside = (arr < self.lower) | (arr > self.upper)
        if outside.any():
            row, digit = (int(v) for v in np.argwhere(outside)[0])
            raise ValueError(
                f"X row {row}, digit x{digit} = {arr[row, digit]} is outside its bounds "
                f"[{self.lower[digit]}, {self.upper[digit]}]"
            )
        return arr

    def column_indices(self, X: np.ndarray) -> np.ndarray:
        """The hot column of every digit (bounds-only encoding), int64 ``[n, n_var]``."""
        return X - self.lower + self.offsets

    def transform(self, X: np.ndarray) -> np.ndarray:
        """One-hot features of an already validated matrix, float32 ``[n, n_features]``."""
        if self.space is not None:
            features = np.asarray(self.space.onehot(X), dtype=np.float32)
            if features.ndim != 2 or features.shape[0] != X.shape[0]:
                raise ValueError(
                    f"space.onehot returned shape {features.shape} for {X.shape[0]} rows"
                )
            return features
        features = np.zeros((X.shape[0], self._bounds_features), dtype=np.float32)
        rows = np.repeat(np.arange(X.shape[0]), self.n_var)
        features[rows, self.column_indices(X).ravel()] = 1.0
        return features
