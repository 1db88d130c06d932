"""Radial-basis-function interpolation baseline (scipy), also a RankNet teacher."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .base import Surrogate
from .options import Option, float_range, one_of

# Kernels that need no polynomial tail of degree >= 1: one-hot columns are collinear
# (every block sums to one), so a linear tail would be singular.
KERNELS = ("multiquadric", "inverse_multiquadric", "inverse_quadratic", "gaussian", "linear")


class RBFSurrogate(Surrogate):
    """``scipy.interpolate.RBFInterpolator`` on one-hot features with a constant tail.

    On one-hot rows the distance is ``sqrt(2 * digits that differ)``; ``epsilon`` scales it.
    ``smoothing`` (on labels scaled to [0, 1]) keeps repeated rows from making the system
    singular and damps noise.
    """

    name = "rbf"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "kernel": Option("multiquadric", one_of(*KERNELS), "radial basis function"),
        "epsilon": Option(0.1, float_range(0.0, low_open=True), "shape parameter"),
        "smoothing": Option(1e-5, float_range(0.0), "ridge added to the kernel diagonal"),
    }

    _model: Any = None

    def _fit(self, X: np.ndarray, y01: np.ndarray) -> None:
        from scipy.interpolate import RBFInterpolator

        self._model = RBFInterpolator(
            self._features(X).astype(np.float64),
            y01,
            kernel=self.options["kernel"],
            epsilon=self.options["epsilon"],
            smoothing=self.options["smoothing"],
            degree=0,
        )

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self._model(self._features(X).astype(np.float64)), dtype=np.float64)
