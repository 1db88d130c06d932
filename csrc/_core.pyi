"""segevo native core (C++17, pybind11).

Every function takes numpy arrays and checks them strictly: a wrong dtype is an error,
never a silent cast (convert explicitly, e.g. ``np.asarray(F, dtype=np.float64)``);
a non-contiguous view is copied once into C order. Bad input raises ``ValueError``
naming the argument and what is allowed: wrong ndim, shape or dtype, NaN or infinity,
an index out of range, a negative count, ``lo >= hi``. Empty input gives empty output.
Long loops run without the GIL, so other Python threads keep going.

``segevo._reference`` holds a plain numpy version of each function (the test oracle).
"""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

def nondominated_rank(F: npt.NDArray[np.float64]) -> npt.NDArray[np.int32]:
    """Front index of every row of ``F`` (float64 ``[N, M]``, minimisation).

    0 is the non-dominated front, 1 the front that only rows of front 0 dominate, and
    so on. Row a dominates row b iff ``a <= b`` in every objective and ``a < b`` in at
    least one, so equal rows share a front. Same result as ``moocore.pareto_rank``.

    O(N log N) for M = 2 (lexicographic sort, then a binary search over fronts); for
    M = 3 the same sweep with a 2-D staircase per front, falling back to the general
    divide and conquer (Jensen / Fortin / Buzdalov, O(N log^(M-1) N)) that also serves
    M >= 4. M = 1 ranks the distinct values.

    Returns int32 ``[N]``. Raises ValueError for a non-2-D or non-float64 ``F``, NaN or
    infinity, or ``M == 0`` with ``N > 0``.
    """

def first_front(F: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """bool ``[N]``: True for the rows of ``F`` that no other row dominates.

    Same as ``nondominated_rank(F) == 0`` (duplicates of a non-dominated row are all
    True). Same input rules as :func:`nondominated_rank`.
    """

def crowding_distance(F: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """NSGA-II crowding distance (Deb et al. 2002) of every row of ``F`` ``[N, M]``.

    For each objective with a positive range, the rows are sorted by it (ties by row
    index); the first and last rows get infinity and every other row adds
    ``(next - previous) / (max - min)`` of that objective. An objective whose values
    are all equal adds nothing. With N <= 2 every row is infinite. Usually called on
    one front at a time. Returns float64 ``[N]``.
    """

def hypervolume_2d(
    F: npt.NDArray[np.float64], ref: Sequence[float] | npt.NDArray[np.float64]
) -> float:
    """Area dominated by the rows of ``F`` (float64 ``[N, 2]``) and bounded by ``ref``.

    Minimisation: the union of the rectangles ``[f0, ref0] x [f1, ref1]``. Rows that do
    not strictly dominate ``ref`` add nothing; an empty ``F`` gives 0.0. ``ref`` is any
    sequence of two finite real numbers. O(N log N).
    """

def lut_sum(
    indices: npt.NDArray[np.integer], table: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Row sums of a look-up table: ``out[b] = sum_j table[indices[b, j]]``.

    ``indices`` is an integer ``[B, L]`` array of any width (int8, int16, int32, int64 or
    unsigned; it is read as is, so narrow indices mean less memory traffic) and -1
    marks an absent slot that adds nothing. ``table`` is float64 ``[T]``. Each row is
    summed left to right. Large batches are split over the CPUs this process may use
    (its affinity mask), or over ``$SEGEVO_NUM_THREADS`` threads when that is set.

    Returns float64 ``[B]`` (zeros when L == 0). Raises ValueError naming the first
    index outside ``-1 .. T-1``, or a non-integer ``indices`` / non-float64 ``table``.
    """

def lut_predict(
    X: npt.NDArray[np.integer],
    lower: npt.NDArray[np.int64],
    upper: npt.NDArray[np.int64],
    term_digits: npt.NDArray[np.int64],
    term_strides: npt.NDArray[np.int64],
    term_offsets: npt.NDArray[np.int64],
    tables: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Sums of look-up-table terms read straight off integer digit rows, in one pass.

    For each row ``x`` of ``X`` (integer ``[B, D]`` of any width, read as is), term ``t``
    reads the digits ``d_j = term_digits[t, j]`` (-1: unused slot) and adds
    ``tables[term_offsets[t] + sum_j (x[d_j] - lower[d_j]) * term_strides[t, j]]``;
    ``out[r]`` is the sum of the terms, added left to right from 0.0. A term is any group
    of table items that depend on a few digits (one Eq. 7 item, or several whose entries
    are summed ahead of time). ``tables`` may hold NaN to mark a combination of digits
    that is invalid; a row that reaches one raises.

    ``lower``, ``upper``: int64 ``[D]``, the allowed values of each digit (inclusive, at
    most 2**31 of them); ``term_digits``, ``term_strides``: int64 ``[n_terms, K]`` (strides
    >= 0); ``term_offsets``: int64 ``[n_terms]`` (>= 0); ``tables``: float64 ``[N]``,
    finite or NaN. Every term must stay inside ``tables`` for every in-range row (checked
    once per call), so nothing is ever read out of bounds. Large batches are split over the
    CPUs as in :func:`lut_sum` (``$SEGEVO_NUM_THREADS``).

    Returns float64 ``[B]`` (zeros when there are no terms). Raises ValueError naming the
    first offending row: ``"row r: digit xd = v is outside its allowed range lo..hi"`` or
    ``"row r: term t (xd = v, ...) is an invalid combination ..."``; and for a wrong
    shape or dtype, a negative stride or offset, a digit index out of range, a term that
    reaches past the end of ``tables``, or an infinite table entry.
    """

def ks_statistic(samples: npt.NDArray[np.float64], lo: float, hi: float) -> float:
    """Kolmogorov-Smirnov distance D of the samples to Uniform(lo, hi).

    Equal, bit for bit, to
    ``scipy.stats.kstest(samples, "uniform", args=(lo, hi - lo)).statistic``.
    ``samples`` is float64 ``[n]`` with n >= 1 (an empty sample has no K-S distance:
    ValueError); samples outside ``[lo, hi]`` are allowed. Requires ``lo < hi``.
    """

def ks_subset_select(
    candidates: npt.NDArray[np.float64],
    fixed: npt.NDArray[np.float64],
    k: int,
    lo: float,
    hi: float,
    pop_size: int = 100,
    generations: int = 60,
    seed: int = 0,
) -> npt.NDArray[np.int64]:
    """Pick k candidates that make ``concat(fixed, candidates[chosen])`` most uniform.

    Minimises ``ks_statistic(concat(fixed, candidates[chosen]), lo, hi)`` with a binary
    genetic algorithm whose operators keep exactly k bits set: sampling draws k random
    bits; crossover keeps the parents' common bits and fills up from the bits that only
    one parent has; mutation swaps one set and one unset bit. Parents are chosen by
    binary tournament; survival keeps the best ``pop_size`` of parents and offspring
    (elitist); duplicate individuals are redrawn. Deterministic for a given ``seed``
    (xoshiro256**).

    ``candidates`` float64 ``[C]``, ``fixed`` float64 ``[F]`` (may be empty), ``k >= 0``,
    ``pop_size >= 1``, ``generations >= 0``, ``0 <= seed < 2**64``, ``lo < hi``.
    Returns the sorted, distinct int64 indices of ``min(k, C)`` candidates: all of them
    when ``C <= k``, none when ``k == 0``.
    """
