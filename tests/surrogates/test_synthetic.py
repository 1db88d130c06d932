from __future__ import annotations

import numpy as np
import pytest

from segevo.nets.space import get_space
from segevo.surrogates.bench import read_table
from segevo.surrogates.synthetic import (
    BASE_LAYERS,
    MAX_LAYERS,
    N_VAR,
    R50GroundTruth,
    make_r50_table,
    r50_bounds,
    sample_r50,
    stage_offsets,
    write_table_csv,
)


def test_reproducible_from_the_seed() -> None:
    X1, y1 = make_r50_table(300, seed=4)
    X2, y2 = make_r50_table(300, seed=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    X3, _y3 = make_r50_table(300, seed=5)
    assert not np.array_equal(X1, X3)
    # Another seed is another function, too.
    assert not np.allclose(R50GroundTruth(4)(X1), R50GroundTruth(5)(X1))


def test_rows_are_distinct_canonical_and_in_bounds() -> None:
    X, y = make_r50_table(500, seed=0)
    assert X.shape == (500, N_VAR) == (500, 29)
    assert len({row.tobytes() for row in X}) == 500
    lower, upper = r50_bounds()
    assert np.all(lower <= X) and np.all(upper >= X)
    for at, base, most in zip(stage_offsets(), BASE_LAYERS, MAX_LAYERS, strict=True):
        depth = base + X[:, at]
        expand = X[:, at + 2 : at + 2 + most]
        np.testing.assert_array_equal((expand > 0).sum(axis=1), depth)
        assert np.all((expand > 0) == (np.arange(most)[None, :] < depth[:, None]))
    assert y.min() > 0.4 and y.max() < 0.85 and y.std() > 0.02


def test_rows_are_valid_in_the_real_r50_space() -> None:
    space = get_space("r50")
    X, _ = make_r50_table(200, seed=1)
    assert np.all(space.is_valid(X))
    np.testing.assert_array_equal(space.repair(X), X)


def test_noise_is_the_only_difference_from_the_function() -> None:
    X, y = make_r50_table(400, seed=2, noise=0.0)
    np.testing.assert_allclose(y, R50GroundTruth(2)(X))
    _, noisy = make_r50_table(400, seed=2, noise=0.01)
    assert 0.007 < np.std(noisy - y) < 0.013


def test_landscape_is_not_additive() -> None:
    # Changing digit x0 (input scale) moves accuracy by different amounts on different rows.
    X = sample_r50(200, np.random.default_rng(0))
    f = R50GroundTruth(0)
    low, high = X.copy(), X.copy()
    low[:, 0], high[:, 0] = 0, 4
    effect = f(high) - f(low)
    assert effect.min() > 0 and np.ptp(effect) > 0.01


def test_csv_round_trip(tmp_path) -> None:
    X, y = make_r50_table(50, seed=0)
    path = write_table_csv(tmp_path / "t.csv", X, y)
    header = path.read_text().splitlines()[0].split(",")
    assert header == [f"x{i}" for i in range(29)] + ["acc"]
    X2, y2 = read_table(path)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_rows"):
        make_r50_table(0)
    with pytest.raises(ValueError, match="noise"):
        make_r50_table(10, noise=-1.0)
    with pytest.raises(ValueError, match=r"\[n, 29\]"):
        R50GroundTruth(0)(np.zeros((2, 5), dtype=int))
