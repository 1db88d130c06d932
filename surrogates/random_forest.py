"""Random-forest regression baseline (scikit-learn), standing in for E2EPP [37].

E2EPP is an ensemble of random-forest-like regression trees grown on architecture
encodings; a scikit-learn random forest on the one-hot features is the closest
well-maintained equivalent.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .options import Option, float_range, int_range
from .sklearn_base import EstimatorSurrogate


class RandomForestSurrogate(EstimatorSurrogate):
    """``sklearn.ensemble.RandomForestRegressor`` on one-hot features."""

    name = "rf"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "n_estimators": Option(200, int_range(1), "trees"),
        "max_features": Option(
            0.33, float_range(0.0, 1.0, low_open=True), "fraction of features tried per split"
        ),
        "min_samples_leaf": Option(1, int_range(1), "fewest training rows in a leaf"),
    }

    def _estimator(self) -> Any:
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(
            n_estimators=self.options["n_estimators"],
            max_features=self.options["max_features"],
            min_samples_leaf=self.options["min_samples_leaf"],
            n_jobs=1,
            random_state=self.seed,
        )
