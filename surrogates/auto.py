"""``auto``: the default accuracy predictor, a cross-validated ensemble on mixed encodings.

Three cheap models, each on features that suit it (see :class:`.encoding.MixedEncoder`):

- ``krr``: kernel ridge regression with a constant mean on one-hot + ordinal columns; the
  kernel (Gaussian at five widths, linear = additive main effects, quadratic = main effects
  plus pairwise interactions) and the ridge are chosen at every fit by the closed-form
  leave-one-out error, on at most ``tune_rows`` rows (a seeded subsample), then refitted on
  all rows.
- ``rf``: a random forest on the same columns; its out-of-bag predictions come for free.
- ``gb``: gradient boosting on the ordinal columns (raw digit order; one-hot blocks only for
  digits declared ``categorical``); out-of-fold predictions from ``gb_folds`` extra fits.

Each model's score is standardised by the mean and spread of its out-of-fold predictions,
and the ensemble is a weighted sum with weights in ``{0..4}^k`` chosen to maximise the
Spearman correlation of the out-of-fold ensemble with the labels (``weights="cv"``), so a
table where one model is clearly best gets mostly that model. Predictions are a monotone
map of that sum onto the label scale (the training labels' quantiles), independent of which
rows are predicted together.

Why these three (docs/benchmarks.md, "Accuracy predictors"): on the public tables no single
baseline wins everywhere (GB on NAS-Bench-Macro, RF on TransNAS micro, kriging on TransNAS
macro and RBF/kriging on the synthetic r50 table); the cross-validated mix is at least as good
as the best of them on each, and fits in well under a second at N = 300. RankNet is not a
member: its teacher stacking alone costs more than the whole of ``auto``.

Saved files hold the training data; loading refits (deterministic for the seed), so no
pickle is involved.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import numpy as np

from .base import Surrogate
from .encoding import DIGIT_KINDS, ONEHOT_MAX_VALUES, MixedEncoder
from .options import Option, int_range, one_of, subset_of

COMPONENTS = ("krr", "rf", "gb")
# Gaussian widths (on squared distance / n_features) and ridges (x mean kernel diagonal).
_GAMMAS = (0.25, 0.5, 1.0, 2.0, 4.0)
_RIDGES = (1e-3, 1e-2, 1e-1, 1.0)
_KERNELS = (*(f"gauss{g}" for g in _GAMMAS), "linear", "quadratic")


def _check_kinds(value: Any) -> str | None:
    if value is None or value in DIGIT_KINDS:
        return None
    if isinstance(value, list | tuple) and value and all(k in DIGIT_KINDS for k in value):
        return None
    return f"must be None, one of {list(DIGIT_KINDS)} or a list of them, got {value!r}"


def _squared_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    d = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * (A @ B.T)
    return np.maximum(d, 0.0, out=d)


def _kernel(name: str, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    n_features = max(A.shape[1], 1)
    if name.startswith("gauss"):
        return np.exp(-float(name[5:]) / n_features * _squared_distances(A, B))
    inner = A @ B.T / n_features
    return inner if name == "linear" else (1.0 + inner) ** 2


class _KernelRidge:
    """Kernel ridge regression with a GLS constant mean; closed-form leave-one-out."""

    def __init__(self, kernel: str, ridge: float) -> None:
        self.kernel, self.ridge = kernel, ridge

    @staticmethod
    def solve(K: np.ndarray, y: np.ndarray, ridge: float) -> tuple[np.ndarray, float, np.ndarray]:
        """``(alpha, mean, leave-one-out predictions)`` for kernel ``K`` and ridge factor."""
        from scipy.linalg import cho_factor, lapack

        n = y.size
        A = K + (ridge * float(np.mean(np.diag(K))) + 1e-10) * np.eye(n)
        factor, lower = cho_factor(A, lower=False, check_finite=False)
        inverse, info = lapack.dpotri(factor, lower=lower)
        if info != 0:
            raise np.linalg.LinAlgError(f"dpotri failed ({info})")
        inverse = np.triu(inverse) + np.triu(inverse, 1).T
        ones_inv = inverse.sum(axis=0)
        mean = float(ones_inv @ y / ones_inv.sum())
        alpha = inverse @ (y - mean)
        return alpha, mean, y - alpha / np.diag(inverse)

    @classmethod
    def tuned(cls, F: np.ndarray, y: np.ndarray) -> _KernelRidge:
        best: tuple[float, str, float] | None = None
        for name in _KERNELS:
            K = _kernel(name, F, F)
            for ridge in _RIDGES:
                try:
                    _, _, loo = cls.solve(K, y, ridge)
                except np.linalg.LinAlgError:
                    continue
                error = float(np.mean((loo - y) ** 2))
                if best is None or error < best[0]:
                    best = (error, name, ridge)
        if best is None:  # every system singular: a heavily ridged additive model
            return cls("linear", 10.0)
        return cls(best[1], best[2])

    def fit(self, F: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Fit on all rows; returns the leave-one-out predictions."""
        self.train = F
        self.alpha, self.mean, loo = self.solve(_kernel(self.kernel, F, F), y, self.ridge)
        return loo

    def predict(self, F: np.ndarray) -> np.ndarray:
        return _kernel(self.kernel, F, self.train) @ self.alpha + self.mean


def _spearman_rows(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman correlation of every row of ``scores`` with ``y`` (ties by order)."""
    ranks = np.argsort(np.argsort(scores, axis=1, kind="stable"), axis=1).astype(np.float64)
    ranks -= ranks.mean(axis=1, keepdims=True)
    target = np.argsort(np.argsort(y, kind="stable")).astype(np.float64)
    target -= target.mean()
    norm = np.sqrt((ranks * ranks).sum(axis=1) * (target * target).sum()) + 1e-300
    return (ranks @ target) / norm


class AutoSurrogate(Surrogate):
    """The default predictor: KRR + random forest + gradient boosting, weighted by CV."""

    name = "auto"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "components": Option(list(COMPONENTS), subset_of(*COMPONENTS), "ensemble members"),
        "weights": Option(
            "cv", one_of("cv", "equal"), "'cv': chosen on out-of-fold predictions; 'equal'"
        ),
        "rf_trees": Option(100, int_range(1), "trees of the random forest"),
        "gb_stages": Option(100, int_range(1), "boosting stages"),
        "gb_depth": Option(3, int_range(1), "depth of each boosting tree"),
        "gb_folds": Option(3, int_range(2, 10), "folds for the boosting out-of-fold scores"),
        "tune_rows": Option(
            400, int_range(10), "most rows the kernel choice is made on (a seeded subsample)"
        ),
        "digit_kinds": Option(
            None,
            _check_kinds,
            "per-digit 'categorical'/'ordinal'/'both' (or one for all); None: from "
            "space.digit_kinds, else 'both' for boxes of <= onehot_max values, else 'ordinal'",
        ),
        "onehot_max": Option(
            ONEHOT_MAX_VALUES, int_range(1), "largest box that gets a one-hot block by default"
        ),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Replaces the plain one-hot encoder; validation is the same, features differ.
        self.encoder = MixedEncoder(
            self.encoder.lower,
            self.encoder.upper,
            self.encoder.space,
            self.options["digit_kinds"],
            onehot_max=self.options["onehot_max"],
        )
        kinds = self.encoder.digit_kinds
        self._tree_raw = np.flatnonzero([k != "categorical" for k in kinds])
        self._tree_hot = np.flatnonzero([k == "categorical" for k in kinds])
        self._members: dict[str, Any] = {}
        self._scale: dict[str, tuple[float, float]] = {}
        self._weights: dict[str, float] = {}
        self._reference = np.zeros(0)
        self._quantiles = np.zeros(0)

    # -- features ---------------------------------------------------------------------------

    def _tree_features(self, X: np.ndarray) -> np.ndarray:
        raw = X[:, self._tree_raw].astype(np.float32)
        if not self._tree_hot.size:
            return raw
        d = self._tree_hot
        values = [np.arange(self.lower[i], self.upper[i] + 1) for i in d]
        hot = [
            (X[:, i : i + 1] == v[None, :]).astype(np.float32)
            for i, v in zip(d, values, strict=True)
        ]
        return np.hstack([raw, *hot])

    # -- members ----------------------------------------------------------------------------

    def _fit_krr(self, F: np.ndarray, y01: np.ndarray) -> np.ndarray:
        tune = self.options["tune_rows"]
        if F.shape[0] > tune:
            rows = np.random.default_rng([self.seed, 0x4B52]).choice(F.shape[0], tune, False)
            model = _KernelRidge.tuned(F[rows], y01[rows])
        else:
            model = _KernelRidge.tuned(F, y01)
        self._members["krr"] = model
        return model.fit(F, y01)

    def _fit_rf(self, F: np.ndarray, y01: np.ndarray) -> np.ndarray:
        import warnings

        from sklearn.ensemble import RandomForestRegressor

        model = RandomForestRegressor(
            n_estimators=self.options["rf_trees"],
            max_features=0.33,
            oob_score=True,
            n_jobs=1,
            random_state=self.seed,
        )
        with warnings.catch_warnings():
            # Tiny N: a row may be in every bootstrap sample (no OOB score); handled below.
            warnings.simplefilter("ignore", UserWarning)
            model.fit(F, y01)
        self._members["rf"] = model
        oob = np.asarray(model.oob_prediction_, dtype=np.float64)
        missing = ~np.isfinite(oob)
        if missing.any():
            oob[missing] = float(np.mean(y01))
        return oob

    def _new_gb(self) -> Any:
        from sklearn.ensemble import GradientBoostingRegressor

        return GradientBoostingRegressor(
            n_estimators=self.options["gb_stages"],
            max_depth=self.options["gb_depth"],
            subsample=0.8,
            random_state=self.seed,
        )

    def _fit_gb(self, T: np.ndarray, y01: np.ndarray) -> np.ndarray:
        n_folds = min(self.options["gb_folds"], T.shape[0])
        folds = np.random.default_rng([self.seed, 0x6742]).permutation(T.shape[0]) % n_folds
        oof = np.full(T.shape[0], float(np.mean(y01)))
        for fold in range(n_folds):
            held = folds == fold
            if (~held).sum() >= 2:
                oof[held] = self._new_gb().fit(T[~held], y01[~held]).predict(T[held])
        self._members["gb"] = self._new_gb().fit(T, y01)
        return oof

    # -- Surrogate --------------------------------------------------------------------------

    def _member_scores(self, X: np.ndarray) -> dict[str, np.ndarray]:
        names = self.options["components"]
        F = self._features(X).astype(np.float64) if {"krr", "rf"} & set(names) else None
        scores = {}
        for name in names:
            model = self._members[name]
            inputs = self._tree_features(X) if name == "gb" else F
            scores[name] = np.asarray(model.predict(inputs), dtype=np.float64)
        return scores

    def _combine(self, scores: dict[str, np.ndarray]) -> np.ndarray:
        total = np.zeros(next(iter(scores.values())).shape[0])
        for name, score in scores.items():
            mean, spread = self._scale[name]
            total += self._weights[name] * (score - mean) / spread
        return total

    def _fit(self, X: np.ndarray, y01: np.ndarray) -> None:
        self._members, self._scale = {}, {}
        names = self.options["components"]
        oof: dict[str, np.ndarray] = {}
        if {"krr", "rf"} & set(names):
            F = self._features(X).astype(np.float64)
            if "krr" in names:
                oof["krr"] = self._fit_krr(F, y01)
            if "rf" in names:
                oof["rf"] = self._fit_rf(F, y01)
        if "gb" in names:
            oof["gb"] = self._fit_gb(self._tree_features(X), y01)
        for name in names:
            spread = float(np.std(oof[name]))
            self._scale[name] = (float(np.mean(oof[name])), spread if spread > 1e-12 else 1.0)
        self._weights = self._choose_weights(names, oof, y01)
        # Map the ensemble score monotonically onto the label scale: the i-th smallest
        # training score goes to the i-th smallest training label.
        self._reference = np.sort(self._combine(self._member_scores(X)))
        self._quantiles = np.sort(y01)

    def _choose_weights(
        self, names: list[str], oof: dict[str, np.ndarray], y01: np.ndarray
    ) -> dict[str, float]:
        if self.options["weights"] == "equal" or len(names) == 1:
            return dict.fromkeys(names, 1.0)
        grid = np.array([w for w in itertools.product(range(5), repeat=len(names)) if any(w)])
        z = np.stack([(oof[n] - self._scale[n][0]) / self._scale[n][1] for n in names])
        quality = _spearman_rows(grid @ z, y01)
        best = grid[int(np.argmax(quality))]  # first maximum: deterministic
        return {n: float(w) for n, w in zip(names, best, strict=True)}

    def _predict(self, X: np.ndarray) -> np.ndarray:
        score = self._combine(self._member_scores(X))
        # The interpolation is flat where training labels tie and beyond the training
        # scores; a small linear term keeps the map strictly increasing everywhere.
        ref = self._reference
        span = max(float(ref[-1] - ref[0]), 1e-12)
        return np.interp(score, ref, self._quantiles) + 1e-3 * (score - ref[0]) / span

    @property
    def weights(self) -> dict[str, float]:
        """The ensemble weights chosen at the last fit."""
        return dict(self._weights)

    @property
    def kernel(self) -> tuple[str, float] | None:
        """The kernel and ridge factor the KRR member chose at the last fit."""
        model = self._members.get("krr")
        return None if model is None else (model.kernel, model.ridge)
