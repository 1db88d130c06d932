"""Every rejected input raises ValueError naming the problem."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from segevo import _core

GOOD_F = np.array([[0.0, 1.0], [1.0, 0.0]])
PARETO_FUNCTIONS = [_core.nondominated_rank, _core.first_front, _core.crowding_distance]


@pytest.mark.parametrize("fn", PARETO_FUNCTIONS)
@pytest.mark.parametrize(
    ("F", "message"),
    [
        (np.zeros(3), "2-D array"),
        (np.zeros((2, 2, 2)), "2-D array"),
        (np.zeros((2, 2), dtype=np.int64), "dtype float64, got int64"),
        (np.zeros((2, 2), dtype=np.float32), "dtype float64, got float32"),
        (np.zeros((2, 2), dtype=">f8"), "dtype float64"),
        (np.array([[0.0, np.nan]]), "finite"),
        (np.array([[np.inf, 0.0]]), "finite"),
        (np.array([[0.0, -np.inf]]), "finite"),
        (np.zeros((3, 0)), "no objective columns"),
        ("not an array", "2-D array"),
        (None, "2-D array"),
    ],
)
def test_pareto_input_errors(fn: Callable[[Any], Any], F: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fn(F)


@pytest.mark.parametrize("fn", PARETO_FUNCTIONS)
def test_pareto_empty_input_gives_empty_output(fn: Callable[[Any], Any]) -> None:
    for shape in [(0, 2), (0, 0), (0, 5)]:
        assert fn(np.zeros(shape)).shape == (0,)


@pytest.mark.parametrize(
    ("F", "ref", "message"),
    [
        (np.zeros((2, 3)), (1.0, 1.0), r"shape \[n_points, 2\]"),
        (np.zeros(2), (1.0, 1.0), "2-D array"),
        (np.zeros((2, 2), dtype=np.int32), (1.0, 1.0), "float64"),
        (np.array([[np.nan, 0.0]]), (1.0, 1.0), "finite"),
        (GOOD_F, (1.0, 1.0, 1.0), "two real numbers"),
        (GOOD_F, (1.0,), "two real numbers"),
        (GOOD_F, 1.0, "two real numbers"),
        (GOOD_F, "ab", "two real numbers"),
        (GOOD_F, (1.0, np.nan), r"ref\[1\] must be finite"),
        (GOOD_F, (np.inf, 1.0), r"ref\[0\] must be finite"),
    ],
)
def test_hypervolume_errors(F: Any, ref: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _core.hypervolume_2d(F, ref)


@pytest.mark.parametrize(
    ("indices", "table", "message"),
    [
        (np.zeros(3, dtype=np.int64), np.ones(2), "2-D array"),
        (np.zeros((2, 2)), np.ones(2), "integer dtype"),
        (np.zeros((2, 2), dtype=bool), np.ones(2), "integer dtype"),
        (np.zeros((2, 2), dtype=">i8"), np.ones(2), "integer dtype"),
        (
            np.zeros((2, 2), dtype=np.int64),
            np.ones(2, dtype=np.float32),
            "table must have dtype float64",
        ),
        (np.zeros((2, 2), dtype=np.int64), np.ones((2, 1)), "1-D array"),
        (np.zeros((2, 2), dtype=np.int64), np.array([1.0, np.nan]), "table must be finite"),
        (
            np.array([[0, 1], [2, 0]], dtype=np.int16),
            np.ones(2),
            r"indices\[1, 0\] = 2 is out of range",
        ),
        (np.array([[0, -2]], dtype=np.int8), np.ones(2), r"indices\[0, 1\] = -2 is out of range"),
        (np.array([[2**63 + 5]], dtype=np.uint64), np.ones(2), r"= 9223372036854775813 is out"),
        (np.array([[0, 3]], dtype=np.int64), np.zeros(0), "table has 0 entries"),
    ],
)
def test_lut_sum_errors(indices: Any, table: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _core.lut_sum(indices, table)


def test_lut_sum_out_of_range_in_threaded_batch() -> None:
    idx = np.zeros((200_000, 29), dtype=np.int32)
    idx[150_001, 7] = 99
    with pytest.raises(ValueError, match=r"indices\[150001, 7\] = 99"):
        _core.lut_sum(idx, np.ones(10))


@pytest.mark.parametrize(
    ("samples", "lo", "hi", "message"),
    [
        (np.zeros((2, 2)), 0.0, 1.0, "1-D array"),
        (np.zeros(3, dtype=np.int64), 0.0, 1.0, "float64"),
        (np.array([0.5, np.nan]), 0.0, 1.0, "finite"),
        (np.zeros(0), 0.0, 1.0, "empty"),
        (np.zeros(3), 1.0, 1.0, "lo must be smaller than hi"),
        (np.zeros(3), 2.0, 1.0, "lo must be smaller than hi"),
        (np.zeros(3), np.nan, 1.0, "lo must be finite"),
        (np.zeros(3), 0.0, np.inf, "hi must be finite"),
    ],
)
def test_ks_statistic_errors(samples: Any, lo: float, hi: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _core.ks_statistic(samples, lo, hi)


CAND = np.array([0.1, 0.4, 0.8])
FIXED = np.array([0.5])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": -1}, "k must be >= 0"),
        ({"k": 2.5}, "k must be an integer"),
        ({"k": "2"}, "k must be an integer"),
        ({"k": 2**40}, "k is too large"),
        ({"pop_size": 0}, "pop_size must be >= 1"),
        ({"generations": -1}, "generations must be >= 0"),
        ({"seed": -1}, r"seed must be an integer in \[0, 2\*\*64\)"),
        ({"seed": 2**64}, r"seed must be an integer in \[0, 2\*\*64\)"),
        ({"lo": 1.0, "hi": 0.0}, "lo must be smaller than hi"),
        ({"candidates": np.array([0.1, np.inf])}, "candidates must be finite"),
        ({"candidates": np.zeros((2, 1))}, "candidates must be a 1-D array"),
        ({"fixed": np.array([1, 2])}, "fixed must have dtype float64"),
        ({"fixed": np.array([np.nan])}, "fixed must be finite"),
    ],
)
def test_ks_subset_select_errors(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"candidates": CAND, "fixed": FIXED, "k": 2, "lo": 0.0, "hi": 1.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        _core.ks_subset_select(**args)
