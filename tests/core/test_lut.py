"""lut_sum against the numpy reference, for every integer index dtype."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from segevo import _core, _reference

SIGNED = [np.int8, np.int16, np.int32, np.int64]
UNSIGNED = [np.uint8, np.uint16, np.uint32, np.uint64]


@st.composite
def lut_problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    dtype = draw(st.sampled_from(SIGNED + UNSIGNED))
    T = draw(st.integers(1, 100))
    B = draw(st.integers(0, 40))
    L = draw(st.integers(0, 30))
    low = -1 if np.dtype(dtype).kind == "i" else 0
    idx = draw(hnp.arrays(dtype, (B, L), elements=st.integers(low, T - 1)))
    table = draw(
        hnp.arrays(np.float64, T, elements=st.floats(-1e6, 1e6, allow_nan=False, width=64))
    )
    return idx, table


@settings(max_examples=200, deadline=None)
@given(lut_problems())
def test_lut_sum_equals_reference(problem: tuple[np.ndarray, np.ndarray]) -> None:
    idx, table = problem
    got = _core.lut_sum(idx, table)
    assert got.dtype == np.float64
    assert got.shape == (idx.shape[0],)
    # Both sum each row left to right, so the results agree bit for bit.
    np.testing.assert_array_equal(got, _reference.lut_sum(idx, table))


@pytest.mark.parametrize("dtype", SIGNED)
def test_large_batch_uses_threads_and_agrees(dtype: type) -> None:
    rng = np.random.default_rng(0)
    T = 120
    table = rng.random(T)
    idx = rng.integers(-1, T, size=(100_003, 29)).astype(dtype)  # not a multiple of 4 rows
    np.testing.assert_array_equal(_core.lut_sum(idx, table), _reference.lut_sum(idx, table))


def test_absent_slots_add_nothing() -> None:
    table = np.array([1.0, 10.0, 100.0])
    idx = np.array([[0, 1, 2], [-1, -1, -1], [2, -1, 0]], dtype=np.int16)
    np.testing.assert_array_equal(_core.lut_sum(idx, table), [111.0, 0.0, 101.0])


def test_empty_shapes() -> None:
    table = np.ones(3)
    assert _core.lut_sum(np.zeros((0, 29), dtype=np.int64), table).shape == (0,)
    np.testing.assert_array_equal(
        _core.lut_sum(np.zeros((4, 0), dtype=np.int32), table), np.zeros(4)
    )
    # An empty table is fine while every slot is absent.
    np.testing.assert_array_equal(
        _core.lut_sum(np.full((2, 3), -1, dtype=np.int8), np.zeros(0)), np.zeros(2)
    )


def test_non_contiguous_indices() -> None:
    rng = np.random.default_rng(1)
    table = rng.random(50)
    idx = rng.integers(-1, 50, size=(300, 40)).astype(np.int32)
    view = idx[::3, 1::2]
    np.testing.assert_array_equal(_core.lut_sum(view, table), _reference.lut_sum(view, table))
