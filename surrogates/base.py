"""The surrogate plugin interface: an accuracy predictor over integer architecture vectors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from .encoding import OneHotEncoder, OneHotSpace, as_bounds
from .options import Option, resolve_options
from .persist import SurrogateRecord, space_record, write_record


class NotFittedError(ValueError):
    """``predict`` or ``save`` was called before ``fit``."""


def _check_device(device: Any) -> str:
    if not isinstance(device, str) or not (
        device == "cpu" or device == "cuda" or device.startswith("cuda:")
    ):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:<index>', got {device!r}")
    if device.startswith("cuda:") and not device[5:].isdigit():
        raise ValueError(f"device index must be a non-negative integer, got {device!r}")
    return device


class Surrogate(ABC):
    """Predicts accuracy (higher is better) from integer architecture vectors.

    Construct through :func:`segevo.surrogates.make_surrogate`. ``fit(X, y)`` takes an integer
    matrix ``X [n, n_var]`` within ``[lower, upper]`` and finite accuracies ``y``;
    ``predict(X)`` returns ``float64[n]`` on the scale of ``y``. Every model learns on ``y``
    min-max scaled to ``[0, 1]`` from one-hot features (see :mod:`.encoding`); predictions
    are mapped back with the same affine map, so ranking is unaffected.

    Subclasses set ``name`` and ``OPTIONS`` and implement ``_fit``/``_predict``. A subclass
    whose fitted state is a set of numpy arrays returns them from ``_state`` so that
    :meth:`save` stores them; one that returns ``None`` is refitted from the stored training
    data on load (deterministic for the seed), which avoids pickling library objects.
    """

    name: ClassVar[str] = ""
    OPTIONS: ClassVar[Mapping[str, Option]] = {}
    #: True when the model only runs on the CPU (``device`` is then accepted and ignored).
    CPU_ONLY: ClassVar[bool] = True

    def __init__(
        self,
        lower: Any = None,
        upper: Any = None,
        *,
        seed: int = 0,
        space: OneHotSpace | None = None,
        device: str = "cpu",
        **options: Any,
    ) -> None:
        if space is not None:
            space_lower, space_upper = as_bounds(space.lower, space.upper)
            if lower is None and upper is None:
                lower, upper = space_lower, space_upper
            else:
                lo, hi = as_bounds(lower, upper)
                if not (np.array_equal(lo, space_lower) and np.array_equal(hi, space_upper)):
                    raise ValueError(
                        f"lower/upper differ from the bounds of the given search space "
                        f"{getattr(space, 'name', '')!r}; pass the space's bounds or omit them"
                    )
        elif lower is None or upper is None:
            raise ValueError("give lower and upper bounds, or a search space")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self.device = _check_device(device)
        self.options: dict[str, Any] = resolve_options(self.name, self.OPTIONS, options)
        self.encoder = OneHotEncoder(lower, upper, space)
        self._train_X: np.ndarray | None = None
        self._train_y: np.ndarray | None = None
        self._y_min = 0.0
        self._y_span = 1.0

    # -- public API -------------------------------------------------------------------------

    @property
    def lower(self) -> np.ndarray:
        return self.encoder.lower

    @property
    def upper(self) -> np.ndarray:
        return self.encoder.upper

    @property
    def space(self) -> OneHotSpace | None:
        return self.encoder.space

    @property
    def is_fitted(self) -> bool:
        return self._train_X is not None

    def fit(self, X: Any, y: Any) -> Self:
        """Learn from architectures ``X`` (integer ``[n, n_var]``) and accuracies ``y``."""
        X_int = self.encoder.validate(X)
        y_arr = np.asarray(y, dtype=np.float64)
        if y_arr.ndim != 1 or y_arr.shape[0] != X_int.shape[0]:
            raise ValueError(
                f"y must be a vector with one accuracy per row of X ({X_int.shape[0]}), "
                f"got shape {y_arr.shape}"
            )
        bad = np.flatnonzero(~np.isfinite(y_arr))
        if bad.size:
            raise ValueError(f"y must be finite; y[{bad[0]}] = {y_arr[bad[0]]}")
        if X_int.shape[0] < 2:
            raise ValueError(f"fit needs at least 2 rows, got {X_int.shape[0]}")
        self._y_min = float(y_arr.min())
        span = float(y_arr.max() - y_arr.min())
        self._y_span = span if span > 0 else 1.0
        self._fit(X_int, (y_arr - self._y_min) / self._y_span)
        self._train_X = X_int.copy()
        self._train_y = y_arr.copy()
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted accuracy of every row of ``X``, ``float64[n]`` (higher = more accurate)."""
        if not self.is_fitted:
            raise NotFittedError(f"surrogate {self.name!r} is not fitted; call fit(X, y) first")
        X_int = self.encoder.validate(X)
        if X_int.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        scaled = np.asarray(self._predict(X_int), dtype=np.float64).reshape(-1)
        return self._y_min + self._y_span * scaled

    def save(self, path: str | Path) -> Path:
        """Write the fitted surrogate to ``path`` (format: :mod:`segevo.surrogates.persist`)."""
        return write_record(self.record(), path)

    def record(self) -> SurrogateRecord:
        """Everything :meth:`save` stores: settings, label scaling, training data and (for a
        model whose ``_state`` gives them) the fitted parameters."""
        if self._train_X is None or self._train_y is None:
            raise NotFittedError(f"surrogate {self.name!r} is not fitted; nothing to save")
        return SurrogateRecord(
            name=self.name,
            seed=self.seed,
            device=self.device,
            options=self.options,
            lower=self.lower.tolist(),
            upper=self.upper.tolist(),
            space=space_record(self.space),
            y_min=self._y_min,
            y_span=self._y_span,
            train_X=np.asarray(self._train_X, dtype=np.int64),
            train_y=np.asarray(self._train_y, dtype=np.float64),
            params=dict(self._state() or {}),
        )

    @classmethod
    def from_record(
        cls, record: SurrogateRecord, *, space: OneHotSpace | None = None, device: str = "cpu"
    ) -> Self:
        """The fitted surrogate ``record`` describes (the inverse of :meth:`record`).

        ``space`` is the search space the record names (None for bounds-only features);
        ``device`` replaces the recorded one. Stored parameters are restored; without them
        the model is fitted again on the stored data (deterministic for the seed).
        """
        lower, upper = as_bounds(record.lower, record.upper)
        surrogate = cls(
            None if space is not None else lower,
            None if space is not None else upper,
            seed=record.seed,
            space=space,
            device=device,
            **record.options,
        )
        if not (np.array_equal(surrogate.lower, lower) and np.array_equal(surrogate.upper, upper)):
            raise ValueError("stored bounds differ from the search space's bounds")
        if record.params:
            surrogate._restore(dict(record.params))
            surrogate._train_X = surrogate.encoder.validate(record.train_X)
            surrogate._train_y = np.asarray(record.train_y, dtype=np.float64)
            surrogate._y_min = float(record.y_min)
            surrogate._y_span = float(record.y_span)
        else:
            surrogate.fit(record.train_X, record.train_y)
        return surrogate

    def __repr__(self) -> str:
        state = "fitted" if self.is_fitted else "unfitted"
        return f"<{type(self).__name__} {self.name!r} n_var={self.encoder.n_var} {state}>"

    # -- what a plugin implements ---------------------------------------------------------

    @abstractmethod
    def _fit(self, X: np.ndarray, y01: np.ndarray) -> None:
        """Fit on validated integer rows and labels scaled to [0, 1]."""

    @abstractmethod
    def _predict(self, X: np.ndarray) -> np.ndarray:
        """Scores on the [0, 1] label scale for validated integer rows (at least one row)."""

    def _state(self) -> dict[str, np.ndarray] | None:
        """Fitted parameters as named arrays, or None to be refitted from data on load."""
        return None

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        """Rebuild the fitted model from what ``_state`` returned."""
        raise ValueError(f"surrogate {self.name!r} does not restore from stored arrays")

    def _features(self, X: np.ndarray) -> np.ndarray:
        return self.encoder.transform(X)
