"""Plain MLP regression baseline trained with the mean-squared error (scikit-learn).

The paper's Table VI baseline: the same 3 x 300 network as RankNet but with the MSE loss
and no synthetic data.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .options import Option, float_range, int_range
from .sklearn_base import EstimatorSurrogate


class MLPSurrogate(EstimatorSurrogate):
    """``sklearn.neural_network.MLPRegressor`` (ReLU, Adam, MSE) on one-hot features."""

    name = "mlp"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "hidden_layers": Option(3, int_range(1, 16), "number of hidden layers"),
        "hidden_units": Option(300, int_range(1), "units per hidden layer"),
        "epochs": Option(500, int_range(1), "training epochs (Adam, mini-batches of 200)"),
        "learning_rate": Option(8e-4, float_range(0.0, low_open=True), "Adam step size"),
        "alpha": Option(1e-4, float_range(0.0), "L2 penalty"),
    }

    def _estimator(self) -> Any:
        from sklearn.neural_network import MLPRegressor

        return MLPRegressor(
            hidden_layer_sizes=(self.options["hidden_units"],) * self.options["hidden_layers"],
            learning_rate_init=self.options["learning_rate"],
            alpha=self.options["alpha"],
            max_iter=self.options["epochs"],
            # A fixed epoch budget, as for RankNet; convergence warnings are not useful here.
            n_iter_no_change=self.options["epochs"],
            tol=0.0,
            random_state=self.seed,
        )

    def _fit(self, X: Any, y01: Any) -> None:
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            super()._fit(X, y01)
