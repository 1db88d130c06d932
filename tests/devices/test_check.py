"""check_lut: whole networks measured for real, agreement figures against scipy, the plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from segevo.devices import build_lut, check_lut, get_device, load_lut
from segevo.devices.check import agreement, mape_pct

from .conftest import FakeDevice

CLASSES = 5


def test_agreement_against_scipy_and_by_hand() -> None:
    measured = np.array([1.0, 2.0, 4.0, 5.0])
    predicted = np.array([1.1, 1.8, 4.4, 4.0])
    assert mape_pct(predicted, measured) == pytest.approx((10 + 10 + 10 + 20) / 4)
    a = agreement(predicted, measured, in_ms=True)
    assert a.kendall_tau == pytest.approx(stats.kendalltau(predicted, measured).statistic)
    assert a.pearson_r == pytest.approx(stats.pearsonr(predicted, measured).statistic)
    slope, intercept = np.polyfit(predicted, measured, 1)
    assert a.mape_fit_pct == pytest.approx(mape_pct(slope * predicted + intercept, measured))
    flops = agreement(predicted * 1e9, measured, in_ms=False)
    assert np.isnan(flops.mape_pct)
    assert flops.to_dict()["mape_pct"] is None  # strict JSON
    assert flops.mape_fit_pct == pytest.approx(a.mape_fit_pct)


def test_check_measures_whole_networks_and_plots(tmp_path: Path, micro) -> None:
    path = tmp_path / "lut.json"
    build_lut(micro, FakeDevice(), path, num_classes=CLASSES, progress=False)
    dev = get_device("cpu", threads=1, warmup=1, min_repeats=3, max_repeats=5, budget_s=0.01)
    plot = tmp_path / "fig4.png"
    report = check_lut(micro, path, dev, samples=6, seed=1, plot_path=plot, progress=False)
    assert report.X.shape == (6, micro.n_var)
    assert np.all(report.measured_ms > 0)
    np.testing.assert_allclose(report.predicted_ms, load_lut(path, micro).predict(report.X))
    np.testing.assert_array_equal(report.flops, micro.flops(report.X, CLASSES))
    expected = stats.kendalltau(report.predicted_ms, report.measured_ms).statistic
    assert report.lut.kendall_tau == pytest.approx(expected)
    expected = stats.kendalltau(report.flops, report.measured_ms).statistic
    assert report.flops_agreement.kendall_tau == pytest.approx(expected)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Kendall tau" in report.summary()
    assert report.to_dict()["samples"] == 6


def test_check_rejects_too_few_samples(tmp_path: Path, micro) -> None:
    with pytest.raises(ValueError, match="samples"):
        check_lut(micro, tmp_path / "missing.json", "cpu", samples=2, progress=False)
