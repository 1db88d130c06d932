"""The default predictor ``auto`` on digits of both kinds, without being told their kind.

Oracles: known functions of the digits (monotone in a wide ordinal digit, arbitrary over
the values of a small categorical one) and scipy's Kendall tau.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr

from segevo.surrogates import make_surrogate
from segevo.surrogates.encoding import MixedEncoder, resolve_digit_kinds


def _wide_problem(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # Digit 0 is a channel count 8..128 in steps of 1; digits 1-3 are 4-way operation choices.
    rng = np.random.default_rng(seed)
    lower = np.array([8, 0, 0, 0])
    upper = np.array([128, 3, 3, 3])
    X = rng.integers(lower, upper + 1, size=(n, 4))
    return X, lower, upper, rng.permutation(4)


def _wide_target(X: np.ndarray, op_effect: np.ndarray) -> np.ndarray:
    # Saturating in the channel count (what accuracy does), a small operation effect.
    return np.log(X[:, 0].astype(float)) + 0.05 * op_effect[X[:, 1]]


def test_a_wide_ordinal_digit_gets_one_ordinal_column_and_small_boxes_both():
    kinds = resolve_digit_kinds(np.array([8, 0, 0]), np.array([128, 3, 9]))
    assert kinds == ["ordinal", "both", "ordinal"]
    encoder = MixedEncoder(np.array([8, 0]), np.array([128, 3]))
    F = encoder.transform(np.array([[8, 0], [128, 3], [68, 1]]))
    # One-hot block of digit 1 (4 columns), then the ordinal columns of digits 0 and 1.
    np.testing.assert_allclose(F[:, 4:], [[0.0, 0.0], [1.0, 1.0], [0.5, 1 / 3]])
    np.testing.assert_array_equal(F[:, :4], [[1, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, 0]])


@pytest.mark.parametrize("seed", [0, 1])
def test_the_default_predictor_ranks_a_monotone_function_of_a_wide_ordinal_digit(seed):
    X, lower, upper, op_effect = _wide_problem(100, seed)
    model = make_surrogate("auto", lower, upper, seed=seed).fit(X, _wide_target(X, op_effect))
    # Sweep the channel count with the operations fixed: the prediction must rise with it.
    sweep = np.column_stack([np.arange(8, 129), np.zeros((121, 3), dtype=np.int64)])
    rho = spearmanr(sweep[:, 0], model.predict(sweep)).statistic
    assert rho > 0.95
    X_test, *_ = _wide_problem(200, seed + 100)
    tau = kendalltau(model.predict(X_test), _wide_target(X_test, op_effect)).statistic
    assert tau > 0.8


def test_the_default_predictor_learns_categorical_digits_with_no_order():
    rng = np.random.default_rng(3)
    lower, upper = np.zeros(6, np.int64), np.full(6, 4)
    effect = rng.normal(size=(6, 5))  # a value's effect has nothing to do with its order
    X = rng.integers(0, 5, size=(300, 6))
    y = effect[np.arange(6), X].sum(axis=1)
    model = make_surrogate("auto", lower, upper, seed=0).fit(X[:200], y[:200])
    assert kendalltau(model.predict(X[200:]), y[200:]).statistic > 0.8


def test_declared_digit_kinds_override_the_box_size():
    lower, upper = np.zeros(2, np.int64), np.array([3, 3])
    model = make_surrogate("auto", lower, upper, digit_kinds=["categorical", "ordinal"])
    assert model.encoder.digit_kinds == ["categorical", "ordinal"]
    assert model.encoder.n_features == 4 + 1
    with pytest.raises(ValueError, match="digit_kinds"):
        make_surrogate("auto", lower, upper, digit_kinds=["categorical"])
    with pytest.raises(ValueError, match="digit_kinds"):
        make_surrogate("auto", lower, upper, digit_kinds="sideways")
