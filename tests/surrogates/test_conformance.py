"""The contract every registered surrogate keeps (one test suite, parametrized over all)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from segevo.surrogates import (
    NotFittedError,
    available_surrogates,
    load_surrogate,
    make_surrogate,
    surrogate_class,
)

from .conftest import FAST_OPTIONS, TOY_LOWER, TOY_UPPER

ALL = available_surrogates()


def make(name: str, seed: int = 0, **extra: object):
    return make_surrogate(
        name, TOY_LOWER, TOY_UPPER, seed=seed, **{**FAST_OPTIONS.get(name, {}), **extra}
    )


def test_the_paper_methods_are_registered() -> None:
    assert set(ALL) >= {"ranknet", "rbf", "kriging", "svr", "dt", "gb", "rf", "mlp"}


@pytest.mark.parametrize("name", ALL)
def test_fits_and_predicts_right_shape(name: str, toy_data) -> None:
    X, y, X_test, _ = toy_data
    model = make(name)
    assert model.fit(X, y) is model
    pred = model.predict(X_test)
    assert pred.dtype == np.float64 and pred.shape == (X_test.shape[0],)
    assert np.all(np.isfinite(pred))
    assert model.predict(X_test[0]).shape == (1,)  # a single vector is one row
    assert model.predict(X_test[:0]).shape == (0,)


@pytest.mark.parametrize("name", ALL)
def test_beats_chance_on_a_separable_toy(name: str, toy_data) -> None:
    X, y, X_test, y_test = toy_data
    pred = make(name).fit(X, y).predict(X_test)
    tau = stats.kendalltau(y_test, pred).statistic
    # 80 test rows: chance gives |tau| < 0.25 with probability > 0.999.
    assert tau > 0.4, f"{name}: Kendall tau {tau:.3f}"


@pytest.mark.parametrize("name", ALL)
def test_deterministic_for_a_seed(name: str, toy_data) -> None:
    X, y, X_test, _ = toy_data
    first = make(name, seed=7).fit(X, y).predict(X_test)
    second = make(name, seed=7).fit(X, y).predict(X_test)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_refuses_non_finite_y(name: str, bad: float, toy_data) -> None:
    X, y, _, _ = toy_data
    y = y.copy()
    y[5] = bad
    with pytest.raises(ValueError, match=r"y must be finite; y\[5\]"):
        make(name).fit(X, y)


@pytest.mark.parametrize("name", ALL)
def test_refuses_x_outside_the_bounds(name: str, toy_data) -> None:
    X, y, X_test, _ = toy_data
    X_bad = X.copy()
    X_bad[3, 2] = TOY_UPPER[2] + 1
    with pytest.raises(ValueError, match=r"row 3, digit x2 = 5 is outside its bounds \[0, 4\]"):
        make(name).fit(X_bad, y)
    model = make(name).fit(X, y)
    X_neg = X_test[:4].copy()
    X_neg[1, 0] = -1
    with pytest.raises(ValueError, match=r"row 1, digit x0 = -1"):
        model.predict(X_neg)
    with pytest.raises(ValueError, match="integers"):
        model.predict(X_test[:2] + 0.5)
    with pytest.raises(ValueError, match=r"\[n, 6\]"):
        model.predict(X_test[:, :5])


@pytest.mark.parametrize("name", ALL)
def test_refuses_mismatched_or_tiny_training_data(name: str, toy_data) -> None:
    X, y, _, _ = toy_data
    with pytest.raises(ValueError, match="one accuracy per row"):
        make(name).fit(X, y[:-1])
    with pytest.raises(ValueError, match="at least 2 rows"):
        make(name).fit(X[:1], y[:1])


@pytest.mark.parametrize("name", ALL)
def test_predict_before_fit_is_refused(name: str, toy_data) -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        make(name).predict(toy_data[0])


@pytest.mark.parametrize("name", ALL)
def test_unknown_or_bad_options_are_refused_eagerly(name: str) -> None:
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['no_such_option'\]"):
        make_surrogate(name, TOY_LOWER, TOY_UPPER, no_such_option=1)
    declared = surrogate_class(name).OPTIONS
    for option in declared:
        with pytest.raises(ValueError, match=f"option '{option}' of surrogate '{name}'"):
            make_surrogate(name, TOY_LOWER, TOY_UPPER, **{option: "not a valid value"})
    with pytest.raises(ValueError, match="seed"):
        make_surrogate(name, TOY_LOWER, TOY_UPPER, seed=-1)
    with pytest.raises(ValueError, match="device"):
        make_surrogate(name, TOY_LOWER, TOY_UPPER, device="tpu")


@pytest.mark.parametrize("name", ALL)
def test_save_load_round_trip(name: str, toy_data, tmp_path) -> None:
    X, y, X_test, _ = toy_data
    model = make(name, seed=3).fit(X, y)
    path = model.save(tmp_path / f"{name}.npz")
    # The file is plain npz: it opens without pickle.
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(archive["meta"].tobytes())
    assert meta["name"] == name and meta["seed"] == 3
    loaded = load_surrogate(path)
    assert type(loaded) is type(model) and loaded.options == model.options
    np.testing.assert_array_equal(loaded.predict(X_test), model.predict(X_test))


def test_unknown_surrogate_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown surrogate 'nope'; known: ranknet"):
        make_surrogate("nope", TOY_LOWER, TOY_UPPER)
