"""lut_predict (digit rows -> summed table terms) against the numpy reference and by hand."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segevo import _core, _reference

INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]

Problem = tuple[np.ndarray, tuple[np.ndarray, ...]]


def _terms(
    lower: list[int], upper: list[int], terms: list[list[tuple[int, int]]], width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Padded digit / stride matrices and consecutive offsets for the given (digit, stride)
    lists; returns them and the table size they need."""
    digits = np.full((len(terms), width), -1, dtype=np.int64)
    strides = np.zeros((len(terms), width), dtype=np.int64)
    offsets = np.zeros(len(terms), dtype=np.int64)
    size = 0
    for t, pairs in enumerate(terms):
        for j, (d, s) in enumerate(pairs):
            digits[t, j], strides[t, j] = d, s
        offsets[t] = size
        size += 1 + sum(s * (upper[d] - lower[d]) for d, s in pairs)
    return digits, strides, offsets, size


@st.composite
def predict_problems(draw: st.DrawFn) -> Problem:
    dtype = np.dtype(draw(st.sampled_from(INT_DTYPES)))
    info = np.iinfo(dtype)
    n_var = draw(st.integers(0, 6))
    lower = [draw(st.integers(-3, 3)) for _ in range(n_var)]
    upper = [lo + draw(st.integers(0, 3)) for lo in lower]
    width = draw(st.integers(1, 4))
    n_terms = draw(st.integers(0, 5))
    digits = np.full((n_terms, width), -1, dtype=np.int64)  # -1 slots anywhere in a row
    strides = np.zeros((n_terms, width), dtype=np.int64)
    offsets = np.zeros(n_terms, dtype=np.int64)
    size = 0
    for t in range(n_terms):
        for j in range(width):
            if n_var and draw(st.booleans()):
                digits[t, j] = draw(st.integers(0, n_var - 1))  # repeats allowed
                strides[t, j] = draw(st.integers(0, 6))  # any strides, not only row-major
        reach = sum(
            int(s) * (upper[d] - lower[d])
            for d, s in zip(digits[t], strides[t], strict=True)
            if d >= 0
        )
        offsets[t] = size + draw(st.integers(0, 2))  # gaps and overlaps between terms
        size = int(offsets[t]) + reach + 1
    n_entries = size + draw(st.integers(0, 2))
    tables = np.array(
        [draw(st.floats(-1e6, 1e6, allow_nan=False)) for _ in range(n_entries)], dtype=np.float64
    )
    for _ in range(draw(st.integers(0, 2)) if n_entries else 0):
        tables[draw(st.integers(0, n_entries - 1))] = np.nan  # invalid combinations
    n_rows = draw(st.integers(0, 12))
    wild = draw(st.integers(0, 3)) == 0  # sometimes values anywhere in the dtype's range
    X = np.zeros((n_rows, n_var), dtype=dtype)
    for r in range(n_rows):
        for d in range(n_var):
            lo, hi = max(lower[d], int(info.min)), min(upper[d], int(info.max))
            if (wild and draw(st.integers(0, 4)) == 0) or lo > hi:
                X[r, d] = draw(st.integers(int(info.min), int(info.max)))
            else:
                X[r, d] = draw(st.integers(lo, hi))
    args = (
        np.array(lower, dtype=np.int64),
        np.array(upper, dtype=np.int64),
        digits,
        strides,
        offsets,
        tables,
    )
    return X, args


def _failure_prefix(message: str) -> str:
    """``row r: digit xd = v`` or ``row r: term t``: what both implementations name."""
    match = re.match(r"row \d+: (digit x\d+ = -?\d+|term \d+)", message)
    assert match, message
    return match.group(0)


@settings(max_examples=400, deadline=None)
@given(predict_problems())
def test_equals_reference(problem: Problem) -> None:
    X, args = problem
    try:
        expected = _reference.lut_predict(X, *args)
    except ValueError as err:
        with pytest.raises(ValueError) as got:
            _core.lut_predict(X, *args)
        assert _failure_prefix(str(got.value)) == _failure_prefix(str(err))
        if "digit" in str(err):
            assert str(got.value) == str(err)
        return
    got_sums = _core.lut_predict(X, *args)
    assert got_sums.dtype == np.float64 and got_sums.shape == (X.shape[0],)
    # Both add the terms left to right from 0.0: equal bit for bit.
    np.testing.assert_array_equal(got_sums, expected)


def _random_space(rng: np.random.Generator, n_var: int = 12) -> tuple[Any, ...]:
    """Bounds and Eq. 7-like terms (every term reads digit 0, as the input scale)."""
    lower = rng.integers(0, 2, n_var).tolist()
    upper = [lo + int(s) for lo, s in zip(lower, rng.integers(1, 4, n_var), strict=True)]
    terms = []
    for _ in range(7):
        own = rng.choice(np.arange(1, n_var), size=rng.integers(1, 5), replace=False)
        chosen = [0, *own.tolist()]
        stride, pairs = 1, []
        for d in reversed(chosen):
            pairs.append((d, stride))
            stride *= upper[d] - lower[d] + 1
        terms.append(pairs)
    digits, strides, offsets, size = _terms(lower, upper, terms, width=6)
    tables = rng.uniform(0.01, 5.0, size)
    return np.array(lower), np.array(upper), digits, strides, offsets, tables


def _sample(rng: np.random.Generator, lower: np.ndarray, upper: np.ndarray, n: int) -> np.ndarray:
    return rng.integers(lower, upper + 1, size=(n, len(lower)))


def _numpy_oracle(X: np.ndarray, args: tuple[np.ndarray, ...]) -> np.ndarray:
    """Vectorised numpy, terms added in order (for batches too large for the reference)."""
    lower, _, digits, strides, offsets, tables = args
    out = np.zeros(X.shape[0])
    rel = X.astype(np.int64) - lower
    for t in range(digits.shape[0]):
        used = digits[t] >= 0
        codes = offsets[t] + rel[:, digits[t][used]] @ strides[t][used]
        out = out + tables[codes]
    return out


@pytest.mark.parametrize("threads", ["1", "2", "3"])
@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint16])
def test_large_batch_agrees_for_any_thread_count(monkeypatch, threads: str, dtype: type) -> None:
    monkeypatch.setenv("SEGEVO_NUM_THREADS", threads)
    rng = np.random.default_rng(0)
    args = _random_space(rng)
    X = _sample(rng, args[0], args[1], 100_003).astype(dtype)  # odd: a lone last row
    np.testing.assert_array_equal(_core.lut_predict(X, *args), _numpy_oracle(X, args))
    np.testing.assert_array_equal(
        _core.lut_predict(X[:40], *args), _reference.lut_predict(X[:40], *args)
    )


def test_hand_computed() -> None:
    # digits: x0 in 1..2, x1 in 0..2; term 0 reads (x0, x1) row-major, term 1 reads x1 only
    lower, upper = np.array([1, 0]), np.array([2, 2])
    digits = np.array([[0, 1], [1, -1]])
    strides = np.array([[3, 1], [1, 0]])
    offsets = np.array([0, 6])
    tables = np.array([0.0, 1.0, 2.0, 10.0, 11.0, 12.0, 100.0, 200.0, 300.0])
    X = np.array([[1, 0], [2, 2], [1, 1]], dtype=np.int16)
    got = _core.lut_predict(X, lower, upper, digits, strides, offsets, tables)
    np.testing.assert_array_equal(got, [0.0 + 100.0, 12.0 + 300.0, 1.0 + 200.0])


def test_empty_and_degenerate_shapes() -> None:
    lower, upper = np.array([0, 0]), np.array([1, 1])
    none = np.zeros((0, 1), dtype=np.int64)
    one_term = (np.array([[0]]), np.array([[1]]), np.array([0]), np.array([5.0, 7.0]))
    assert _core.lut_predict(np.zeros((0, 2), np.int64), lower, upper, *one_term).shape == (0,)
    np.testing.assert_array_equal(
        _core.lut_predict(
            np.ones((3, 2), np.int8), lower, upper, none, none, np.zeros(0, np.int64), np.zeros(0)
        ),
        np.zeros(3),
    )
    # no digits at all: a term without digits adds its one entry to every row
    empty = np.zeros((0,), np.int64)
    np.testing.assert_array_equal(
        _core.lut_predict(
            np.zeros((4, 0), np.int64),
            empty,
            empty,
            np.full((1, 2), -1),
            np.zeros((1, 2), np.int64),
            np.array([1]),
            np.array([0.0, 2.5]),
        ),
        np.full(4, 2.5),
    )


def test_non_contiguous_rows() -> None:
    rng = np.random.default_rng(3)
    args = _random_space(rng)
    wide = np.repeat(_sample(rng, args[0], args[1], 300), 2, axis=1).astype(np.int32)
    view = wide[::3, ::2]
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(_core.lut_predict(view, *args), _numpy_oracle(view, args))


def test_negative_lower_bounds_with_unsigned_rows() -> None:
    lower, upper = np.array([-2]), np.array([1])
    args = (np.array([[0]]), np.array([[1]]), np.array([0]), np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(
        _core.lut_predict(np.array([[0], [1]], np.uint8), lower, upper, *args), [3.0, 4.0]
    )
    np.testing.assert_array_equal(
        _core.lut_predict(np.array([[-2], [-1]], np.int8), lower, upper, *args), [1.0, 2.0]
    )
    with pytest.raises(ValueError, match=r"row 0: digit x0 = 255 is outside .* -2\.\.1"):
        _core.lut_predict(np.array([[255]], np.uint8), lower, upper, *args)
    # no unsigned value is allowed when the upper bound is negative
    with pytest.raises(ValueError, match=r"row 0: digit x0 = 0 is outside .* -3\.\.-1"):
        _core.lut_predict(np.array([[0]], np.uint64), np.array([-3]), np.array([-1]), *args)


@pytest.mark.parametrize(
    ("value", "dtype", "text"),
    [
        (3, np.int64, "3"),
        (-1, np.int64, "-1"),
        (-(2**63), np.int64, str(-(2**63))),
        (2**63 + 1, np.uint64, str(2**63 + 1)),  # would wrap to a small code as int64
        (2**32 + 1, np.int64, str(2**32 + 1)),  # would alias 1 in a 32-bit code
        (-128, np.int8, "-128"),
    ],
)
def test_out_of_range_digit_names_row_digit_and_range(value: int, dtype: type, text: str) -> None:
    rng = np.random.default_rng(5)
    args = _random_space(rng)
    X = _sample(rng, args[0], args[1], 50).astype(dtype)
    X[17, 4] = value
    message = rf"row 17: digit x4 = {re.escape(text)} is outside its allowed range"
    with pytest.raises(ValueError, match=message):
        _core.lut_predict(X, *args)


def test_first_failing_row_is_reported_in_a_threaded_batch(monkeypatch) -> None:
    monkeypatch.setenv("SEGEVO_NUM_THREADS", "2")
    rng = np.random.default_rng(7)
    lower, upper, digits, strides, offsets, tables = _random_space(rng)
    X = _sample(rng, lower, upper, 200_000)
    X[190_001, 2] = upper[2] + 1
    X[150_001, 7] = lower[7] - 1
    with pytest.raises(ValueError, match=rf"row 150001: digit x7 = {lower[7] - 1} "):
        _core.lut_predict(X, lower, upper, digits, strides, offsets, tables)
    # an invalid combination in an earlier row wins over the bad digit of a later one
    X[150_001, 7] = lower[7]
    used = digits[3] >= 0
    code = offsets[3] + (X[120_000, digits[3][used]] - lower[digits[3][used]]) @ strides[3][used]
    bad_tables = tables.copy()
    bad_tables[code] = np.nan
    bad_args = (lower, upper, digits, strides, offsets, bad_tables)
    first_nan_row = int(np.argmax(np.isnan(_numpy_oracle(X[:190_001], bad_args))))
    assert first_nan_row <= 120_000
    message = rf"row {first_nan_row}: term 3 \(.*x0 = {X[first_nan_row, 0]}\) is an invalid"
    with pytest.raises(ValueError, match=message):
        _core.lut_predict(X, *bad_args)


GOOD = dict(
    X=np.zeros((2, 2), dtype=np.int64),
    lower=np.array([0, 0]),
    upper=np.array([1, 2]),
    term_digits=np.array([[0, 1]]),
    term_strides=np.array([[3, 1]]),
    term_offsets=np.array([0]),
    tables=np.zeros(6),
)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"X": np.zeros(3, dtype=np.int64)}, r"X must be a 2-D array \[n_rows, n_digits\]"),
        ({"X": np.zeros((2, 2))}, "X must have an integer dtype .* got float64"),
        ({"X": np.zeros((2, 2), dtype=bool)}, "X must have an integer dtype"),
        ({"X": np.zeros((2, 2), dtype=">i8")}, "X must have an integer dtype"),
        ({"X": "nope"}, "X must be a 2-D array"),
        ({"X": np.zeros((2, 3), dtype=np.int64)}, r"lower must have 3 entries .* got shape \(2,\)"),
        ({"lower": np.array([0, 0], dtype=np.int32)}, "lower must have dtype int64, got int32"),
        ({"upper": np.array([[1, 2]])}, "upper must be a 1-D array"),
        ({"upper": np.array([1, -1])}, "digit x1: upper = -1 is below lower = 0"),
        ({"upper": np.array([1, 2**31])}, "digit x1 has 2147483648 \\+ 1 values"),
        ({"term_digits": np.array([0, 1])}, "term_digits must be a 2-D array"),
        ({"term_digits": np.array([[0.0, 1.0]])}, "term_digits must have dtype int64"),
        (
            {"term_strides": np.array([[3, 1, 0]])},
            "term_strides must have the shape of term_digits",
        ),
        ({"term_offsets": np.array([0, 0])}, r"term_offsets must have 1 entries"),
        ({"term_digits": np.array([[0, 2]])}, r"term 0: term_digits\[0, 1\] = 2 is out of range"),
        ({"term_digits": np.array([[-2, 1]])}, r"term_digits\[0, 0\] = -2 is out of range"),
        ({"term_strides": np.array([[3, -1]])}, r"term 0: term_strides\[0, 1\] = -1 is negative"),
        ({"term_offsets": np.array([-1])}, "term 0: offset -1 is negative"),
        ({"term_offsets": np.array([1])}, r"term 0 reaches past the end of tables \(6 entries\)"),
        ({"term_strides": np.array([[4, 1]])}, "its offset plus its largest code is 6"),
        ({"term_strides": np.array([[2**62, 1]])}, "largest code is at least 6"),
        ({"tables": np.zeros(6, dtype=np.float32)}, "tables must have dtype float64"),
        ({"tables": np.array([0, 1, 2, 3, 4, np.inf])}, "tables must be finite or NaN .* 5 is inf"),
        ({"tables": np.zeros((6, 1))}, "tables must be a 1-D array"),
    ],
)
def test_argument_errors(changes: dict[str, Any], message: str) -> None:
    kwargs = {**GOOD, **changes}
    with pytest.raises(ValueError, match=message):
        _core.lut_predict(**kwargs)
    assert _core.lut_predict(**GOOD).shape == (2,)  # the unchanged call is fine


def test_invalid_combination_names_row_term_and_digits() -> None:
    tables = np.arange(6, dtype=np.float64)
    tables[5] = np.nan  # x0 = 1, x1 = 2
    X = np.array([[0, 2], [1, 1], [1, 2]], dtype=np.uint8)
    kwargs = {**GOOD, "X": X, "tables": tables}
    with pytest.raises(ValueError, match=r"row 2: term 0 \(x0 = 1, x1 = 2\) is an invalid"):
        _core.lut_predict(**kwargs)
    with pytest.raises(ValueError, match="row 2: term 0 is an invalid combination"):
        _reference.lut_predict(**kwargs)


@pytest.fixture(scope="module")
def table() -> Any:
    from segevo.devices import LatencyTable
    from segevo.devices.lut_file import LUTEntry, LUTRecord
    from segevo.devices.measurement import Measurement
    from segevo.devices.plan import enumerate_keys
    from segevo.nets.space import get_space

    space = get_space("tiny")
    rng = np.random.default_rng(11)
    keys = enumerate_keys(space, 11)
    entries = {}
    for key in keys:
        ms = float(rng.uniform(0.01, 5.0))
        entries[key] = LUTEntry(key.split("-")[0], Measurement(5, ms, 0.0, ms, ms, ms))
    record = LUTRecord(
        space_name=space.name,
        space_digest=space.digest(),
        space_definition=space.definition(),
        base_hw=list(space.base_hw),
        num_classes=11,
        device={"backend": "test", "model": "none", "threads": 1, "torch": "none"},
        protocol={},
        expected_entries=len(keys),
        entries=entries,
        complete=True,
    )
    return LatencyTable(space, record)


class TestLatencyTableUsesTheKernel:
    """The devices wiring: ``LatencyTable.predict`` runs lut_predict and agrees with the
    index-row path (IndexPlan + lut_sum), kept as an independent check."""

    def test_fused_equals_indexed(self, table: Any) -> None:
        assert table.terms is not None
        X = table.space.sample(5000, np.random.default_rng(2))
        fused = table.predict(X)
        np.testing.assert_allclose(fused, table.predict_indexed(X), rtol=1e-13)
        np.testing.assert_array_equal(table.predict(X.astype(np.int8)), fused)
        idx = table.indices(X[:200])
        by_rows = [sum(table.latency_ms[i] for i in row if i >= 0) for row in idx]
        np.testing.assert_allclose(fused[:200], by_rows, rtol=1e-13)

    def test_out_of_range_error_names_row_and_digit(self, table: Any) -> None:
        X = table.space.sample(10, np.random.default_rng(3))
        X[6, 11] = 0  # an always-active layer switched off
        with pytest.raises(ValueError, match=r"row 6: digit x11 = 0 .* 1\.\.3"):
            table.predict(X)
