"""Gradient-boosting regression baseline (scikit-learn), the paper's GB [56]."""

from __future__ import annotations

from typing import Any, ClassVar

from .options import Option, float_range, int_range
from .sklearn_base import EstimatorSurrogate


class GradientBoostingSurrogate(EstimatorSurrogate):
    """``sklearn.ensemble.GradientBoostingRegressor`` on one-hot features (a RankNet teacher)."""

    name = "gb"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "n_estimators": Option(100, int_range(1), "boosting stages"),
        "learning_rate": Option(0.1, float_range(0.0, 1.0, low_open=True), "shrinkage"),
        "max_depth": Option(3, int_range(1), "depth of each tree"),
        "subsample": Option(0.8, float_range(0.0, 1.0, low_open=True), "row fraction per stage"),
    }

    def _estimator(self) -> Any:
        from sklearn.ensemble import GradientBoostingRegressor

        return GradientBoostingRegressor(
            n_estimators=self.options["n_estimators"],
            learning_rate=self.options["learning_rate"],
            max_depth=self.options["max_depth"],
            subsample=self.options["subsample"],
            random_state=self.seed,
        )
