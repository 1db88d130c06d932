"""Support-vector regression baseline (scikit-learn)."""

from __future__ import annotations

from typing import Any, ClassVar

from .options import Option, float_range, one_of
from .sklearn_base import EstimatorSurrogate


class SVRSurrogate(EstimatorSurrogate):
    """``sklearn.svm.SVR`` with an RBF kernel on one-hot features (labels scaled to [0, 1])."""

    name = "svr"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "C": Option(1.0, float_range(0.0, low_open=True), "regularisation strength (inverse)"),
        "epsilon": Option(0.02, float_range(0.0), "width of the insensitive tube, label units"),
        "kernel": Option("rbf", one_of("rbf", "linear", "poly", "sigmoid"), "SVR kernel"),
    }

    def _estimator(self) -> Any:
        from sklearn.svm import SVR

        return SVR(
            C=self.options["C"],
            epsilon=self.options["epsilon"],
            kernel=self.options["kernel"],
            gamma="scale",
        )
