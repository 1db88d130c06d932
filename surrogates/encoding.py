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


DIGIT_KINDS = ("categorical", "ordinal", "both")
#: Boxes of at most this many values get a one-hot block beside their ordinal column when no
#: kind is declared. Measured on the tables of docs/benchmarks.md (all boxes there hold 2..5
#: values): ordinal + one-hot beat one-hot alone for kernel models; wider boxes (channel
#: counts, say) carry their information in the order, and a one-hot block of 12+ columns
#: per digit only dilutes the distance.
ONEHOT_MAX_VALUES = 8


def resolve_digit_kinds(
    lower: np.ndarray,
    upper: np.ndarray,
    digit_kinds: Any = None,
    *,
    space: Any = None,
    onehot_max: int = ONEHOT_MAX_VALUES,
) -> list[str]:
    """One kind per digit: ``digit_kinds`` if given, else ``space.digit_kinds``, else by box size.

    A single kind (a string) applies to every digit. Without a declaration a digit is
    ``"both"`` when its box holds at most ``onehot_max`` values and ``"ordinal"`` otherwise.
    """
    n_var = int(lower.size)
    if digit_kinds is None and space is not None:
        digit_kinds = getattr(space, "digit_kinds", None)
    if digit_kinds is None:
        sizes = upper - lower + 1
        return ["both" if int(s) <= onehot_max else "ordinal" for s in sizes]
    kinds = [digit_kinds] * n_var if isinstance(digit_kinds, str) else list(digit_kinds)
    if len(kinds) != n_var:
        raise ValueError(f"digit_kinds must give one kind per digit ({n_var}), got {len(kinds)}")
    bad = [k for k in kinds if k not in DIGIT_KINDS]
    if bad:
        raise ValueError(f"unknown digit kind(s) {bad}; allowed: {list(DIGIT_KINDS)}")
    return [str(k) for k in kinds]


class MixedEncoder(OneHotEncoder):
    """One-hot blocks for categorical digits plus an ordinal column for ordinal ones.

    Columns: first the one-hot part (bounds blocks of the digits whose kind is
    ``categorical`` or ``both``, in digit order; with a space, the whole of
    ``space.onehot(X)``, inactive layers as zero blocks), then one column
    ``(x - lower) / (upper - lower)`` (0 for a one-value box) for each digit whose kind is
    ``ordinal`` or ``both``, in digit order. With a space the kinds only choose the ordinal
    columns: the space's one-hot encoding is kept whole.
    """

    def __init__(
        self,
        lower: Any,
        upper: Any,
        space: OneHotSpace | None = None,
        digit_kinds: Any = None,
        *,
        onehot_max: int = ONEHOT_MAX_VALUES,
    ) -> None:
        super().__init__(lower, upper, space)
        self.digit_kinds = resolve_digit_kinds(
            self.lower, self.upper, digit_kinds, space=space, onehot_max=onehot_max
        )
        self.onehot_digits = np.array(
            [k in ("categorical", "both") for k in self.digit_kinds], dtype=bool
        )
        self.ordinal_digits = np.flatnonzero([k in ("ordinal", "both") for k in self.digit_kinds])
        sizes = self.upper - self.lower + 1
        hot_sizes = np.where(self.onehot_digits, sizes, 0)
        self._hot_offsets = np.concatenate([[0], np.cumsum(hot_sizes)[:-1]]).astype(np.int64)
        self._hot_features = int(hot_sizes.sum())
        span = (self.upper - self.lower)[self.ordinal_digits]
        self._ordinal_scale = 1.0 / np.maximum(span, 1).astype(np.float64)
        if space is None:
            self._n_features = self._hot_features + int(self.ordinal_digits.size)

    @property
    def n_features(self) -> int:
        if self._n_features is None:
            probe = self.space.onehot(self.lower[None, :])  # type: ignore[union-attr]
            self._n_features = int(np.asarray(probe).shape[1]) + int(self.ordinal_digits.size)
        return self._n_features

    def ordinal(self, X: np.ndarray) -> np.ndarray:
        """The ordinal columns of an already validated matrix, float32 ``[n, n_ordinal]``."""
        d = self.ordinal_digits
        return ((X[:, d] - self.lower[d]) * self._ordinal_scale).astype(np.float32)

    def transform(self, X: np.ndarray) -> np.ndarray:
        if self.space is not None:
            hot = super().transform(X)
        else:
            hot = np.zeros((X.shape[0], self._hot_features), dtype=np.float32)
            digits = np.flatnonzero(self.onehot_digits)
            if digits.size:
                cols = X[:, digits] - self.lower[digits] + self._hot_offsets[digits]
                rows = np.repeat(np.arange(X.shape[0]), digits.size)
                hot[rows, cols.ravel()] = 1.0
        return np.hstack([hot, self.ordinal(X)])
