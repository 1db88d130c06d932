"""``LutPredictor``: a latency table's Eq. 7 bound once, then one kernel call per batch.

Building the predictor does the parsing: the table's entries are regrouped into the fused
kernel's terms (:func:`~segevo.devices.plan.predict_terms`), the arrays are checked and made
contiguous with the dtypes ``segevo._core.lut_predict`` reads, and the table's calibration
(``ms = slope * sum + intercept``) is kept. ``predictor(X)`` then only checks the shape of
``X`` and runs the kernel. No torch import: the engine calls this.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from segevo._core import lut_predict

from .calibration import Calibration
from .plan import PredictTerms, as_matrix, predict_terms


class LutPredictor:
    """Predicted latency (ms) of architectures of one space from one table.

    ``terms`` holds the pre-summed tables the kernel gathers from; ``calibration`` (or None)
    is applied to the sums unless ``calibrated=False`` is asked for.
    """

    def __init__(self, terms: PredictTerms, *, calibration: Calibration | None = None) -> None:
        self.terms = terms
        self.calibration = calibration
        self.n_var = int(terms.lower.shape[0])
        self._args = tuple(
            np.ascontiguousarray(a, dtype=dtype)
            for a, dtype in zip(
                terms.native_args(),
                (np.int64, np.int64, np.int64, np.int64, np.int64, np.float64),
                strict=True,
            )
        )
        for array in self._args:
            array.setflags(write=False)
        # the kernel checks the term layout even for no rows: a malformed one fails now
        lut_predict(np.zeros((0, self.n_var), dtype=np.int64), *self._args)

    @classmethod
    def from_latencies(
        cls,
        space: Any,
        num_classes: int,
        latency_ms: Mapping[str, float],
        *,
        calibration: Calibration | None = None,
    ) -> LutPredictor:
        """The predictor of a table whose entry ``key`` is ``latency_ms[key]`` milliseconds
        (KeyError naming a key of the space the mapping lacks)."""
        return cls(predict_terms(space, num_classes, latency_ms), calibration=calibration)

    @property
    def n_terms(self) -> int:
        """Fused terms summed per architecture."""
        return len(self.terms.labels)

    def predict(self, X: Any, *, calibrated: bool = True) -> np.ndarray:
        """Latency in ms (float64 ``[n]``) of each row of ``X`` (``[n, n_var]`` or one vector).

        Digits outside their bounds, or an invalid combination, raise ValueError naming the
        row and digit. ``calibrated=False`` gives the plain sums of table entries.
        """
        arr = as_matrix(X, self.n_var)
        if arr.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        out = np.asarray(lut_predict(arr, *self._args), dtype=np.float64)
        if calibrated and self.calibration is not None:
            out *= self.calibration.slope
            out += self.calibration.intercept_ms
        return out

    __call__ = predict

    def with_calibration(self, calibration: Calibration | None) -> LutPredictor:
        """The same table with another calibration (or none); the arrays are shared."""
        twin = object.__new__(LutPredictor)
        twin.__dict__.update(self.__dict__)
        twin.calibration = calibration
        return twin
