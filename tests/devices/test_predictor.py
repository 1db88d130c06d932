"""LutPredictor: the bound table equals a numpy sum of the entries of each architecture."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segevo.devices import Calibration, LatencyTable, LutPredictor
from segevo.devices.keys import arch_keys
from segevo.devices.plan import enumerate_keys

from .conftest import random_record

CLASSES = 5


def _reference(space, latency: dict[str, float], X: np.ndarray) -> np.ndarray:
    """Eq. 7 by hand: decode each architecture, list its parts' keys, add their entries."""
    return np.array(
        [np.sum(np.array([latency[k] for k in arch_keys(space.decode(x), CLASSES)])) for x in X]
    )


@pytest.fixture(scope="module")
def keys(micro) -> list[str]:
    return enumerate_keys(micro, CLASSES)


@settings(max_examples=25, deadline=None)
@given(
    table_seed=st.integers(0, 2**32 - 1),
    arch_seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 40),
    slope=st.floats(0.5, 2.0),
    intercept=st.floats(-0.5, 0.5),
)
def test_predictor_equals_numpy_sums(
    micro, keys, table_seed: int, arch_seed: int, n: int, slope: float, intercept: float
) -> None:
    rng = np.random.default_rng(table_seed)
    latency = dict(zip(keys, rng.uniform(0.001, 10.0, len(keys)).tolist(), strict=True))
    predictor = LutPredictor.from_latencies(micro, CLASSES, latency)
    X = micro.sample(n, np.random.default_rng(arch_seed))
    expected = _reference(micro, latency, X)
    np.testing.assert_allclose(predictor(X), expected, rtol=1e-12)
    np.testing.assert_allclose(predictor.predict(X.astype(np.int8)), expected, rtol=1e-12)
    cal = Calibration(slope=slope, intercept_ms=intercept, networks=3)
    calibrated = predictor.with_calibration(cal)
    np.testing.assert_allclose(calibrated(X), slope * expected + intercept, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(calibrated(X, calibrated=False), expected, rtol=1e-12)
    assert predictor.calibration is None  # the twin shares arrays, not the calibration


def test_the_table_predicts_through_its_predictor(micro) -> None:
    record = random_record(micro, CLASSES, seed=2)
    table = LatencyTable(micro, record)
    assert isinstance(table.predictor, LutPredictor)
    X = micro.sample(200, np.random.default_rng(0))
    latency = {k: e.measurement.median_ms for k, e in record.entries.items()}
    np.testing.assert_allclose(table.predict(X), _reference(micro, latency, X), rtol=1e-12)
    np.testing.assert_allclose(table.predict(X), table.predict_indexed(X), rtol=1e-12)
    cal = Calibration(slope=1.1, intercept_ms=0.2, networks=9)
    calibrated = LatencyTable(micro, replace(record, calibration=cal))
    np.testing.assert_allclose(calibrated.predict(X), 1.1 * table.predict(X) + 0.2, rtol=1e-12)
    np.testing.assert_allclose(calibrated.predict(X, calibrated=False), table.predict(X))


def test_predictor_rejects_bad_rows(micro, keys) -> None:
    predictor = LutPredictor.from_latencies(micro, CLASSES, dict.fromkeys(keys, 1.0))
    X = micro.sample(4, np.random.default_rng(1))
    with pytest.raises(ValueError, match=rf"\[n, {micro.n_var}\]"):
        predictor(X[:, :-1])
    with pytest.raises(ValueError, match="integers"):
        predictor(X + 0.5)
    bad = X.copy()
    bad[2, 0] = int(micro.upper[0]) + 1
    with pytest.raises(ValueError, match=r"row 2: digit x0"):
        predictor(bad)
    assert predictor(X[:0]).shape == (0,)
    with pytest.raises(KeyError, match="lacks"):
        LutPredictor.from_latencies(micro, CLASSES, dict.fromkeys(keys[1:], 1.0))


def test_a_malformed_term_layout_fails_when_bound(micro, keys) -> None:
    from segevo.devices.plan import predict_terms

    terms = predict_terms(micro, CLASSES, dict.fromkeys(keys, 1.0))
    with pytest.raises(ValueError, match="past the end of tables"):
        LutPredictor(replace(terms, tables=terms.tables[:-1]))
