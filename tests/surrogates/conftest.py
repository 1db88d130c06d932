from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

# Options that keep every surrogate quick in tests that are not about its defaults.
FAST_OPTIONS: dict[str, dict[str, Any]] = {
    "ranknet": {"epochs": 40, "hidden_units": 64, "synthetic_size": 8},
    "mlp": {"epochs": 60, "hidden_units": 32},
    "gb": {"n_estimators": 30},
    "rf": {"n_estimators": 30},
}

TOY_LOWER = np.zeros(6, dtype=np.int64)
TOY_UPPER = np.array([3, 2, 4, 1, 3, 2], dtype=np.int64)
TOY_WEIGHTS = np.array([1.0, -0.7, 0.5, 0.9, -0.4, 0.3])


def toy_accuracy(X: np.ndarray) -> np.ndarray:
    """Separable toy: a weighted sum of the digits (plus one mild nonlinearity)."""
    return X @ TOY_WEIGHTS + 0.3 * (X[:, 2] == 2)


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def toy_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(123)
    X = rng.integers(TOY_LOWER, TOY_UPPER + 1, size=(200, 6))
    y = toy_accuracy(X) + rng.normal(0, 0.05, 200)
    return X[:120], y[:120], X[120:], y[120:]
