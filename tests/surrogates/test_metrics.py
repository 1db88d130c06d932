from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from segevo.surrogates import correlations, kendall, pearson, spearman


def test_against_scipy_on_random_data() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=50)
    b = a + rng.normal(size=50)
    b[3] = b[4]  # a tie
    assert pearson(a, b) == pytest.approx(stats.pearsonr(a, b).statistic, abs=1e-12)
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
    assert kendall(a, b) == pytest.approx(stats.kendalltau(a, b).statistic, abs=1e-12)
    assert correlations(a, b) == {
        "pearson": pearson(a, b),
        "spearman": spearman(a, b),
        "kendall": kendall(a, b),
    }


def test_hand_computed_values() -> None:
    # One discordant pair out of three: tau = (2 - 1) / 3.
    assert kendall([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    # Ranks [1, 2, 3] vs [1, 3, 2]: rho = 1 - 6 * 2 / (3 * 8).
    assert spearman([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert kendall([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_constant_vector_is_chance() -> None:
    assert kendall([1, 2, 3], [5, 5, 5]) == 0.0
    assert pearson([1, 1, 1], [1, 2, 3]) == 0.0


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="equal length"):
        kendall([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 2"):
        pearson([1], [1])
    with pytest.raises(ValueError, match=r"y_pred must be finite; y_pred\[1\]"):
        spearman([1, 2, 3], [1, np.nan, 3])
