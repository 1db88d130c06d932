"""Hypothesis strategies shared by the core tests: objective matrices full of ties."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


@st.composite
def grid_matrices(draw: st.DrawFn, min_m: int = 1, max_m: int = 5, max_n: int = 60) -> np.ndarray:
    """float64 [n, m] drawn from a small integer grid: many ties and duplicate rows."""
    m = draw(st.integers(min_m, max_m))
    n = draw(st.integers(0, max_n))
    levels = draw(st.integers(1, 6))
    grid = draw(hnp.arrays(np.int64, (n, m), elements=st.integers(0, levels - 1)))
    return grid.astype(np.float64)


@st.composite
def float_matrices(draw: st.DrawFn, min_m: int = 1, max_m: int = 5, max_n: int = 40) -> np.ndarray:
    """float64 [n, m] of arbitrary finite floats (signed zeros, subnormals, huge values)."""
    m = draw(st.integers(min_m, max_m))
    n = draw(st.integers(0, max_n))
    elements = st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False, width=64)
    return draw(hnp.arrays(np.float64, (n, m), elements=elements))


def objective_matrices(min_m: int = 1, max_m: int = 5) -> st.SearchStrategy[np.ndarray]:
    return st.one_of(grid_matrices(min_m, max_m), float_matrices(min_m, max_m))
