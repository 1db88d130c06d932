"""check_lut: whole networks measured for real, agreement figures against scipy and by hand,
the fraction within +-10% against a brute-force count, the calibration, the plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from segevo.devices import (
    CheckProgress,
    build_lut,
    check_lut,
    check_report,
    get_device,
    load_lut,
    store_calibration,
)
from segevo.devices.calibration import fit_line
from segevo.devices.check import agreement, mape_pct

from .conftest import FakeDevice

CLASSES = 5
FAST = {"warmup": 1, "min_repeats": 3, "max_repeats": 5, "budget_s": 0.01}


def _brute_within(predicted: np.ndarray, measured: np.ndarray) -> float:
    hits = 0
    for p, m in zip(predicted.tolist(), measured.tolist(), strict=True):
        if abs(p - m) <= 0.1 * m:
            hits += 1
    return hits / len(measured)


def test_agreement_against_scipy_and_by_hand() -> None:
    measured = np.array([1.0, 2.0, 4.0, 5.0])
    predicted = np.array([1.1, 1.8, 4.4, 4.0])
    assert mape_pct(predicted, measured) == pytest.approx((10 + 10 + 10 + 20) / 4)
    a = agreement(predicted, measured, in_ms=True, fit_method="lsq")
    assert a.kendall_tau == pytest.approx(stats.kendalltau(predicted, measured).statistic)
    assert a.pearson_r == pytest.approx(stats.pearsonr(predicted, measured).statistic)
    slope, intercept = np.polyfit(predicted, measured, 1)
    assert a.mape_fit_pct == pytest.approx(mape_pct(slope * predicted + intercept, measured))
    # at exactly 10% floating point decides (|1.1 - 1.0| = 0.10000000000000009): only 1.8
    # vs 2 is inside; away from the bounds, 1.05, 1.8 and 4.2 are, 4.0 vs 5 is not
    assert a.within_10 == pytest.approx(0.25)
    inside = agreement(np.array([1.05, 1.8, 4.2, 4.0]), measured, in_ms=True)
    assert inside.within_10 == pytest.approx(0.75)
    flops = agreement(predicted * 1e9, measured, in_ms=False, fit_method="lsq")
    assert np.isnan(flops.mape_pct) and np.isnan(flops.within_10)
    assert flops.to_dict()["mape_pct"] is None  # strict JSON
    assert flops.mape_fit_pct == pytest.approx(a.mape_fit_pct)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.2, 20.0), st.floats(0.5, 20.0)), min_size=4, max_size=40).filter(
        lambda pairs: len({p for p, _ in pairs}) > 1
    )
)
def test_report_within_10_is_a_count_of_the_given_numbers(pairs: list[tuple[float, float]]) -> None:
    sums = np.array([p for p, _ in pairs])
    measured = np.array([m for _, m in pairs])
    try:
        report = check_report(
            np.zeros((len(sums), 1)), sums, measured, sums * 1e6, fit_method="lsq"
        )
    except ValueError as err:  # a falling line is refused as a calibration, by name
        assert "falls" in str(err) or "same predicted value" in str(err)
        return
    assert report.lut.within_10 == pytest.approx(_brute_within(sums, measured))
    a, b = np.polyfit(sums, measured, 1)
    fitted = a * sums + b
    assert report.lut.within_10_fit == pytest.approx(_brute_within(fitted, measured))
    if report.calibration is None:  # a line that does not rise is no calibration
        assert a <= 1e-9
    else:
        assert report.calibration.slope == pytest.approx(a)
        assert report.calibration.networks == len(sums)
    # leave-one-out: each network predicted by the line of the others, refitted by hand
    loo = []
    for i in range(len(sums)):
        keep = np.arange(len(sums)) != i
        if np.ptp(sums[keep]) == 0:
            return  # no line without it; check_report would have raised
        ai, bi = np.polyfit(sums[keep], measured[keep], 1)
        loo.append(ai * sums[i] + bi)
    assert report.leave_one_out.within_10 == pytest.approx(_brute_within(np.array(loo), measured))


def test_report_scores_a_stored_calibration_on_these_networks() -> None:
    from segevo.devices import Calibration

    sums = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    measured = 1.5 * sums + 0.5
    stored = Calibration(slope=1.5, intercept_ms=0.4, networks=10)
    report = check_report(np.zeros((5, 1)), sums, measured, sums, stored_calibration=stored)
    np.testing.assert_allclose(report.predicted_ms, 1.5 * sums + 0.4)
    assert report.stored is not None
    assert report.stored.within_10 == pytest.approx(_brute_within(1.5 * sums + 0.4, measured))
    assert report.stored.mape_pct == pytest.approx(mape_pct(1.5 * sums + 0.4, measured))
    # an exact line is found exactly by every method
    for method in ("robust", "relative", "lsq"):
        assert fit_line(sums, measured, method) == pytest.approx((1.5, 0.5))
    assert report.lut.within_10_fit == 1.0 and report.lut.mape_fit_pct == pytest.approx(0, abs=1e-9)
    assert "within +-10%" in report.summary() and "own calibration" in report.summary()


@pytest.mark.parametrize("device", ["cpu", "ort-cpu"])
def test_check_measures_whole_networks_and_plots(tmp_path: Path, micro, device: str) -> None:
    path = tmp_path / "lut.json"
    build_lut(micro, FakeDevice(), path, num_classes=CLASSES)
    dev = get_device(device, threads=1, **FAST)
    plot = tmp_path / "fig4.png" if device == "cpu" else None  # one plot is enough
    events: list[CheckProgress] = []
    n = 5 if device == "cpu" else 3  # an ONNX export per network: keep ort-cpu short
    report = check_lut(micro, path, dev, samples=n, seed=1, plot_path=plot, progress=events.append)
    assert report.X.shape == (n, micro.n_var)
    assert np.all(report.measured_ms > 0)
    table = load_lut(path, micro)
    np.testing.assert_allclose(report.lut_sum_ms, table.predict(report.X))
    np.testing.assert_allclose(report.predicted_ms, report.lut_sum_ms)  # no calibration yet
    np.testing.assert_array_equal(report.flops, micro.flops(report.X, CLASSES))
    expected = stats.kendalltau(report.lut_sum_ms, report.measured_ms).statistic
    assert report.lut.kendall_tau == pytest.approx(expected)
    expected = stats.kendalltau(report.flops, report.measured_ms).statistic
    assert report.flops_agreement.kendall_tau == pytest.approx(expected)
    assert report.lut.within_10 == pytest.approx(
        _brute_within(report.lut_sum_ms, report.measured_ms)
    )
    assert [e.done for e in events] == list(range(n + 1))
    assert [e.last_ms for e in events[1:]] == report.measured_ms.tolist()
    if plot is not None:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Kendall tau" in report.summary()
    assert report.to_dict()["samples"] == n
    assert report.device["backend"] == device
    # the table's sums are a fake device's: its line may fall, then there is no calibration
    assert report.calibration is None or report.calibration.slope > 0


def test_stored_calibration_is_applied_by_the_next_check(tmp_path: Path, micro) -> None:
    """The calibration a check fits goes into the file; the table then predicts through it,
    and the next check scores it (on other networks) and still reports the plain sums."""
    path = tmp_path / "lut.json"
    fake = FakeDevice()
    build_lut(micro, fake, path, num_classes=CLASSES)
    first = check_lut(micro, path, fake, samples=6, seed=0)
    assert first.calibration is not None  # the fake device times networks like their parts
    store_calibration(path, first.calibration)
    table = load_lut(path, micro)
    assert table.calibration == first.calibration
    second = check_lut(micro, table, fake, samples=6, seed=1)
    np.testing.assert_allclose(second.predicted_ms, first.calibration.apply(second.lut_sum_ms))
    np.testing.assert_allclose(second.lut_sum_ms, table.predict(second.X, calibrated=False))
    assert second.stored_calibration == first.calibration and second.stored is not None


def test_check_rejects_bad_input(tmp_path: Path, micro) -> None:
    with pytest.raises(ValueError, match="samples"):
        check_lut(micro, tmp_path / "missing.json", "cpu", samples=2)
    path = tmp_path / "lut.json"
    build_lut(micro, FakeDevice(), path, num_classes=CLASSES)
    with pytest.raises(ValueError, match="progress must be a callable"):
        check_lut(micro, path, FakeDevice(), samples=3, progress=True)
    with pytest.raises(ValueError, match="method must be one of"):
        check_lut(micro, path, FakeDevice(), samples=3, fit_method="l1")
