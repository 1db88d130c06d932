from __future__ import annotations

import numpy as np
import pytest

from segevo.nets.space import get_space
from segevo.surrogates import OneHotEncoder, make_surrogate


def test_bounds_one_hot_by_hand() -> None:
    enc = OneHotEncoder([0, 1, 2], [1, 3, 2])
    assert enc.n_features == 2 + 3 + 1
    got = enc.transform(enc.validate([[1, 1, 2], [0, 3, 2]]))
    expected = np.array([[0, 1, 1, 0, 0, 1], [1, 0, 0, 0, 1, 1]], dtype=np.float32)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.float32


def test_bad_bounds() -> None:
    with pytest.raises(ValueError, match=r"upper < lower at digit x1"):
        OneHotEncoder([0, 3], [1, 2])
    with pytest.raises(ValueError, match="equal length"):
        OneHotEncoder([0, 0], [1])
    with pytest.raises(ValueError, match="integers"):
        OneHotEncoder([0.5], [1])


class FakeSpace:
    """A two-digit space whose second digit is 'inactive' (zero block) when it is 0."""

    name = "fake"
    lower = np.array([0, 0])
    upper = np.array([2, 2])

    def onehot(self, X: np.ndarray) -> np.ndarray:
        out = np.zeros((len(X), 5), dtype=np.float32)
        out[np.arange(len(X)), X[:, 0]] = 1
        active = X[:, 1] > 0
        out[np.flatnonzero(active), 2 + X[active, 1]] = 1
        return out

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, 3, size=(n, 2))

    def digest(self) -> str:
        return "fake-1"


def test_space_encoding_is_used(tmp_path) -> None:
    space = FakeSpace()
    enc = OneHotEncoder(space.lower, space.upper, space)
    assert enc.n_features == 5
    np.testing.assert_array_equal(enc.transform(np.array([[1, 0]])), [[0, 1, 0, 0, 0]])
    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, size=(60, 2))
    y = X[:, 0] * 1.0 - (X[:, 1] == 0) + rng.normal(0, 0.01, 60)
    model = make_surrogate("ranknet", space=space, epochs=30, hidden_units=32, synthetic_size=4)
    assert model.encoder.uses_space and np.array_equal(model.lower, space.lower)
    model.fit(X, y)
    path = model.save(tmp_path / "m")
    assert path.name == "m.npz"
    from segevo.surrogates import load_surrogate

    loaded = load_surrogate(path, space=space)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    with pytest.raises(ValueError, match="pass space="):
        load_surrogate(path)  # "fake" is not a registered search space


def test_bounds_that_disagree_with_the_space_are_refused() -> None:
    with pytest.raises(ValueError, match="differ from the bounds of the given search space"):
        make_surrogate("dt", [0, 0], [2, 3], space=FakeSpace())
    with pytest.raises(ValueError, match="give lower and upper"):
        make_surrogate("dt")


def test_real_r50_space_gives_zero_blocks_for_inactive_layers() -> None:
    from segevo.surrogates.synthetic import make_r50_table

    space = get_space("r50")
    X, y = make_r50_table(150, seed=3)
    model = make_surrogate("rf", space=space, n_estimators=10).fit(X[:100], y[:100])
    features = model.encoder.transform(X)
    # One 1 per digit except inactive layers (expand digit 0), which give an empty block.
    from segevo.surrogates.synthetic import expansion_digits

    inactive = ((X == 0) & expansion_digits()[None, :]).sum(axis=1)
    np.testing.assert_array_equal(features.sum(axis=1), X.shape[1] - inactive)
    assert model.predict(X[100:]).shape == (50,)
