"""Kriging (Gaussian-process regression) baseline (scikit-learn)."""

from __future__ import annotations

from typing import Any, ClassVar

from .options import Option, float_range, int_range
from .sklearn_base import EstimatorSurrogate


class KrigingSurrogate(EstimatorSurrogate):
    """``GaussianProcessRegressor`` with a constant x RBF + white-noise kernel.

    One shared length scale on the one-hot features, fitted by maximum likelihood together
    with the signal and noise levels; labels are normalised inside the GP.
    """

    name = "kriging"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "length_scale": Option(
            3.0, float_range(0.0, low_open=True), "initial RBF length scale (one-hot units)"
        ),
        "noise_level": Option(0.1, float_range(0.0, low_open=True), "initial white-noise level"),
        "n_restarts": Option(0, int_range(0), "extra optimiser restarts from random starts"),
    }

    def _estimator(self) -> Any:
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        kernel = ConstantKernel(1.0, (1e-4, 1e5)) * RBF(
            self.options["length_scale"], (1e-2, 1e4)
        ) + WhiteKernel(self.options["noise_level"], (1e-9, 1e1))
        return GaussianProcessRegressor(
            kernel=kernel,
            normalize_y=True,
            n_restarts_optimizer=self.options["n_restarts"],
            random_state=self.seed,
        )

    def _fit(self, X: Any, y01: Any) -> None:
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        # A hyperparameter at its (wide) bound is a fact about the data, not an error.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            super()._fit(X, y01)
