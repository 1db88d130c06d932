"""The calibration line: fits against numpy and by hand, robustness, validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segevo.devices import Calibration, fit_calibration, within_fraction
from segevo.devices.calibration import fit_line, leave_one_out


def test_lsq_is_numpy_polyfit() -> None:
    rng = np.random.default_rng(0)
    s = rng.uniform(1, 10, 30)
    m = 1.2 * s + 0.3 + rng.normal(0, 0.2, 30)
    assert fit_line(s, m, "lsq") == pytest.approx(tuple(np.polyfit(s, m, 1)))


def test_relative_minimises_squared_relative_errors() -> None:
    """By hand: the normal equations of sum ((a s + b - m) / m)^2."""
    s = np.array([1.0, 2.0, 4.0, 8.0])
    m = np.array([1.3, 2.1, 5.0, 9.0])
    w = 1 / m**2
    A = np.array([[np.sum(w * s * s), np.sum(w * s)], [np.sum(w * s), np.sum(w)]])
    rhs = np.array([np.sum(w * s * m), np.sum(w * m)])
    assert fit_line(s, m, "relative") == pytest.approx(tuple(np.linalg.solve(A, rhs)))


def test_robust_fit_ignores_a_burst() -> None:
    """Nine networks on a line and one timed during someone else's burst (3x slower): the
    robust line stays on the nine, least squares does not."""
    s = np.linspace(1, 10, 10)
    m = 0.8 * s + 0.5
    m[4] *= 3
    a, b = fit_line(s, m, "robust")
    assert (a, b) == pytest.approx((0.8, 0.5), rel=1e-3)
    a_lsq, _ = fit_line(s, m, "lsq")
    assert abs(a_lsq - 0.8) > 0.05
    cal = fit_calibration(s, m, device={"backend": "cpu"})
    good = np.arange(10) != 4
    assert within_fraction(cal.apply(s)[good], m[good]) == 1.0
    assert cal.networks == 10 and cal.device == {"backend": "cpu"} and cal.fitted


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.01, 100.0), min_size=1, max_size=50),
    st.floats(0.5, 1.5),
    st.floats(0.0, 0.3),
)
def test_within_fraction_is_a_count(measured: list[float], scale: float, tol: float) -> None:
    m = np.array(measured)
    p = m * scale
    hits = sum(abs(pi - mi) <= tol * mi for pi, mi in zip(p.tolist(), m.tolist(), strict=True))
    assert within_fraction(p, m, tol) == hits / len(m)


def test_leave_one_out_refits_without_each_network() -> None:
    rng = np.random.default_rng(3)
    s = rng.uniform(1, 5, 8)
    m = 2 * s + rng.normal(0, 0.1, 8)
    out = leave_one_out(s, m, "lsq")
    for i in range(8):
        keep = np.arange(8) != i
        a, b = np.polyfit(s[keep], m[keep], 1)
        assert out[i] == pytest.approx(a * s[i] + b)


def test_apply_and_dict_round_trip() -> None:
    cal = Calibration(slope=1.25, intercept_ms=-0.1, networks=50, method="lsq", device={"x": 1})
    np.testing.assert_allclose(cal.apply(np.array([0.0, 2.0])), [-0.1, 2.4])
    assert Calibration.from_dict(cal.to_dict()) == cal


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"slope": 0.0}, "slope"),
        ({"slope": float("nan")}, "slope"),
        ({"intercept_ms": float("inf")}, "intercept"),
        ({"networks": 1}, "networks"),
        ({"method": "l1"}, "method"),
    ],
)
def test_bad_calibrations_are_refused(fields: dict, match: str) -> None:
    base = {"slope": 1.0, "intercept_ms": 0.0, "networks": 5}
    with pytest.raises(ValueError, match=match):
        Calibration(**{**base, **fields})


@pytest.mark.parametrize(
    ("s", "m", "match"),
    [
        ([1.0], [1.0], ">= 2 networks"),
        ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], "same predicted value"),
        ([1.0, 2.0], [1.0, -2.0], "> 0"),
        ([1.0, 2.0, 3.0], [3.0, 2.0, 1.0], "falls"),
        ([1.0, np.nan], [1.0, 2.0], "finite"),
    ],
)
def test_bad_fits_are_refused(s: list, m: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit_calibration(s, m)
    with pytest.raises(ValueError, match="method"):
        fit_line([1, 2], [1, 2], "median")
    with pytest.raises(ValueError, match="tolerance"):
        within_fraction([1.0], [1.0], -0.1)
