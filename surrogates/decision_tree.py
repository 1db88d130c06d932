"""Decision-tree regression baseline (scikit-learn)."""

from __future__ import annotations

from typing import Any, ClassVar

from .options import Option, int_range, optional
from .sklearn_base import EstimatorSurrogate


class DecisionTreeSurrogate(EstimatorSurrogate):
    """``sklearn.tree.DecisionTreeRegressor`` on one-hot features (also a RankNet teacher)."""

    name = "dt"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "max_depth": Option(None, optional(int_range(1)), "deepest split; None grows fully"),
        "min_samples_leaf": Option(5, int_range(1), "fewest training rows in a leaf"),
    }

    def _estimator(self) -> Any:
        from sklearn.tree import DecisionTreeRegressor

        return DecisionTreeRegressor(
            max_depth=self.options["max_depth"],
            min_samples_leaf=self.options["min_samples_leaf"],
            random_state=self.seed,
        )
