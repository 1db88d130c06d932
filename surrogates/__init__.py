"""segevo.surrogates: accuracy predictors (RankNet and baselines) and correlation metrics.

``make_surrogate(name, lower, upper, *, seed=0, space=None, device="cpu", **options)`` builds
one of :func:`available_surrogates`; ``fit(X, y)``/``predict(X)``/``save(path)`` and
:func:`load_surrogate` follow. Importing this package loads neither torch nor scikit-learn;
a surrogate's module is imported when it is first made. Other surrogates plug in with
:func:`register_surrogate` or an entry point in the group ``segevo.surrogates``.
"""

from __future__ import annotations

from .base import NotFittedError, Surrogate
from .encoding import OneHotEncoder
from .metrics import correlations, kendall, pearson, spearman
from .options import Option
from .persist import SurrogateRecord
from .registry import (
    available_surrogates,
    load_surrogate,
    make_surrogate,
    register_surrogate,
    surrogate_class,
    unregister_surrogate,
)

__all__ = [
    "NotFittedError",
    "OneHotEncoder",
    "Option",
    "Surrogate",
    "SurrogateRecord",
    "available_surrogates",
    "correlations",
    "kendall",
    "load_surrogate",
    "make_surrogate",
    "pearson",
    "register_surrogate",
    "spearman",
    "surrogate_class",
    "unregister_surrogate",
]
