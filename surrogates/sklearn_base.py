"""Shared plumbing for baselines that wrap a scikit-learn regressor."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from .base import Surrogate


class EstimatorSurrogate(Surrogate):
    """A surrogate whose model is one scikit-learn regressor fitted on one-hot features.

    Saved files hold the training data, not the estimator: loading refits it (deterministic
    for the seed), so no pickle is involved.
    """

    _model: Any = None

    @abstractmethod
    def _estimator(self) -> Any:
        """A new, unfitted scikit-learn regressor configured from ``self.options``."""

    def _fit(self, X: np.ndarray, y01: np.ndarray) -> None:
        self._model = self._estimator().fit(self._features(X), y01)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self._model.predict(self._features(X)), dtype=np.float64)
