"""The search-space interface (:class:`SearchSpace`) and what every space shares.

See :mod:`segevo.nets.space` for the encoding of the presets.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from segevo.nets.arch import ArchConfig

PHASES: tuple[str, ...] = ("depth", "expand", "width")
"""Progressive-shrinking phases, in training order (each adds elastic dimensions)."""

DEFAULT_NUM_CLASSES = 19  # Cityscapes; the heads' output width when the caller gives none


class SearchSpace(ABC):
    """An integer-encoded architecture space (bounds, canonical form, decoding and cost).

    Subclasses define the bounds and digit names in ``__init__`` and implement the abstract
    methods; bound checks, validity, digests and the largest/smallest architectures are shared.
    """

    name: str
    lower: np.ndarray
    upper: np.ndarray
    digit_names: tuple[str, ...]

    @property
    def n_var(self) -> int:
        """Number of digits of an architecture vector."""
        return int(self.lower.shape[0])

    # -- abstract -------------------------------------------------------------------------
    @abstractmethod
    def repair(self, X: Any) -> np.ndarray:
        """Canonical int64 form of every vector (clipped to the bounds; idempotent)."""

    @abstractmethod
    def sample(self, n: int, rng: Any = None, *, phase: str | None = None) -> np.ndarray:
        """``n`` canonical architectures drawn uniformly (int64 ``[n, n_var]``)."""

    @abstractmethod
    def decode(self, x: Any) -> ArchConfig:
        """The network that one valid vector describes."""

    @abstractmethod
    def onehot(self, X: Any, *, validate: bool = True) -> np.ndarray:
        """One-hot features (float32 ``[n, n_features]``) for accuracy predictors.

        ``validate=False`` is for rows already known to be canonical (from ``repair`` or
        ``sample``): it skips the bound and canonical-form checks, so such a row that is not
        canonical gives meaningless features instead of a ValueError.
        """

    @abstractmethod
    def count(self, *, phase: str | None = None) -> int:
        """Exact number of distinct (canonical) architectures."""

    @abstractmethod
    def definition(self) -> dict[str, Any]:
        """JSON-able description of everything that defines the space (hashed by ``digest``)."""

    @abstractmethod
    def flops(self, x: Any, num_classes: int = DEFAULT_NUM_CLASSES) -> Any:
        """Multiply-accumulates of the deployed network (int; int64 array for a batch)."""

    @abstractmethod
    def params(
        self, x: Any, num_classes: int = DEFAULT_NUM_CLASSES, *, with_aux: bool = False
    ) -> Any:
        """Trainable parameters of the network (int; int64 array for a batch)."""

    def _structure_errors(self, X: np.ndarray) -> str | None:
        """Message for the first in-bounds vector of ``X`` that is not canonical, else None."""
        repaired = self.repair(X)
        bad = np.argwhere(repaired != X)
        if not bad.size:
            return None
        i, j = (int(v) for v in bad[0])
        return (
            f"row {i}: digit x{j} ({self.digit_names[j]}) = {X[i, j]} is not canonical here; "
            f"repair() gives {repaired[i, j]}"
        )

    # -- shared ---------------------------------------------------------------------------
    def _as_matrix(self, X: Any) -> tuple[np.ndarray, bool]:
        """``X`` as a 2-D array with ``n_var`` columns, and whether it was a single vector."""
        arr = np.asarray(X)
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.integer)
            or np.issubdtype(arr.dtype, np.floating)
            or np.issubdtype(arr.dtype, np.bool_)
        ):
            raise ValueError(f"architecture vectors must be numeric, got dtype {arr.dtype}")
        single = arr.ndim == 1
        if single:
            arr = arr[None, :]
        if arr.ndim != 2:
            raise ValueError(
                f"expected one architecture vector or a 2-D batch of them, got shape {arr.shape}"
            )
        if arr.shape[1] != self.n_var:
            raise ValueError(
                f"architecture vectors of space {self.name!r} have {self.n_var} digits, "
                f"got {arr.shape[1]}"
            )
        return arr, single

    def _clip_int(self, X: Any) -> tuple[np.ndarray, bool]:
        arr, single = self._as_matrix(X)
        if np.issubdtype(arr.dtype, np.floating):
            if not np.all(np.isfinite(arr)):
                raise ValueError("architecture vectors must be finite (found NaN or inf)")
            arr = np.rint(arr)
        out = np.clip(arr.astype(np.int64), self.lower, self.upper)
        return out, single

    def digit_range(self, j: int) -> str:
        """Human-readable allowed range of digit ``j`` (e.g. ``'0..3'``)."""
        return f"{int(self.lower[j])}..{int(self.upper[j])}"

    def validate(self, X: Any) -> np.ndarray:
        """Return ``X`` as int64 if every vector is valid, else raise ValueError naming the digit.

        Checks the length, integrality, the bounds of each digit and the canonical form (an
        active layer needs ``e >= 1``, an inactive one ``e = 0``).
        """
        arr, single = self._as_matrix(X)
        if np.issubdtype(arr.dtype, np.floating):
            if not np.all(np.isfinite(arr)):
                raise ValueError("architecture vectors must be finite (found NaN or inf)")
            bad = np.argwhere(arr != np.rint(arr))
            if bad.size:
                i, j = (int(v) for v in bad[0])
                raise ValueError(
                    f"{self._row(i, single)}digit x{j} ({self.digit_names[j]}) = {arr[i, j]} "
                    f"is not an integer; allowed {self.digit_range(j)}"
                )
        arr = arr.astype(np.int64)
        bad = np.argwhere((arr < self.lower) | (arr > self.upper))
        if bad.size:
            i, j = (int(v) for v in bad[0])
            raise ValueError(
                f"{self._row(i, single)}digit x{j} ({self.digit_names[j]}) = {arr[i, j]} is "
                f"outside its allowed range {self.digit_range(j)}"
            )
        # A row is canonical when repair() leaves it alone: a few array operations, so the
        # digit-by-digit search for the message runs only when some row is not.
        if not np.array_equal(self.repair(arr), arr):
            message = self._structure_errors(arr)
            if message is not None:
                raise ValueError(message if not single else message.split(": ", 1)[1])
        return arr[0] if single else arr

    @staticmethod
    def _row(i: int, single: bool) -> str:
        return "" if single else f"row {i}: "

    def is_valid(self, X: Any) -> np.ndarray | bool:
        """Whether each vector is integral, in bounds and canonical (``repair(x) == x``)."""
        arr, single = self._as_matrix(X)
        ok = np.ones(arr.shape[0], dtype=bool)
        if np.issubdtype(arr.dtype, np.floating):
            finite = np.all(np.isfinite(arr), axis=1)
            ok &= finite
            arr = np.where(np.isfinite(arr), arr, 0)
            ok &= np.all(arr == np.rint(arr), axis=1)
        ints = np.rint(arr).astype(np.int64) if np.issubdtype(arr.dtype, np.floating) else arr
        ints = ints.astype(np.int64)
        ok &= np.all((ints >= self.lower) & (ints <= self.upper), axis=1)
        ok &= np.all(self.repair(ints) == ints, axis=1)
        return bool(ok[0]) if single else ok

    def largest(self) -> np.ndarray:
        """The largest architecture (every digit at its upper bound): the supernet itself."""
        return self.repair(self.upper)

    def smallest(self, *, phase: str | None = None) -> np.ndarray:
        """The smallest architecture (the canonical form of the lower bounds); spaces with
        sampling phases also give the smallest of a phase."""
        if phase is not None:
            raise ValueError(f"space {self.name!r} has no sampling phases")
        return self.repair(self.lower)

    def digest(self) -> str:
        """Stable sha256 (hex) of ``definition()``; independent of the registered name."""
        text = json.dumps(self.definition(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, n_var={self.n_var})"


def as_rng(rng: Any) -> np.random.Generator:
    """``rng`` itself when it is a Generator, else ``numpy.random.default_rng(rng)``."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def check_phase(phase: str | None) -> str:
    """The sampling phase ``phase`` names (None: ``"width"``, the whole space)."""
    if phase is None:
        return "width"
    if phase not in PHASES:
        raise ValueError(f"unknown sampling phase {phase!r}; known: {', '.join(PHASES)} or None")
    return phase


def check_num_classes(num_classes: int) -> int:
    """``num_classes`` as an int, or ValueError unless it is a positive integer."""
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    return int(num_classes)
