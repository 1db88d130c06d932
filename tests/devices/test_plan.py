"""Enumeration of table keys and the vectorised index construction, against decode(x)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from segevo._core import lut_sum
from segevo.devices import LatencyTable, arch_keys, enumerate_entries, enumerate_keys
from segevo.devices.plan import IndexPlan
from segevo.nets.space import get_space

from .conftest import random_record

CLASSES = 11


@pytest.fixture(scope="module")
def sampled(tiny):
    X = tiny.sample(10_000, np.random.default_rng(7))
    return X, [arch_keys(tiny.decode(x), CLASSES) for x in X]


@pytest.fixture(scope="module")
def table(tiny) -> LatencyTable:
    return LatencyTable(tiny, random_record(tiny, CLASSES, seed=3))


def test_enumeration_is_exactly_the_keys_sampled_networks_use(tiny, sampled) -> None:
    _, keys_per_arch = sampled
    used = {key for keys in keys_per_arch for key in keys}
    enumerated = set(enumerate_keys(tiny, CLASSES))
    assert used - enumerated == set()  # no missing key
    assert enumerated - used == set()  # no key that no architecture uses
    kinds = Counter(key.split("-")[0] for key in enumerated)
    assert kinds["stem"] == 5 * 2 * 3  # scale x stem depth x stem width
    assert kinds["decoder"] == 5 * 3 * 3 * 3  # scale x widths of the last three stages
    # per scale: first layers (3 input widths x 3 widths x 3 expands) and the rest (3 x 3),
    # four stages; a few configurations coincide across scales, so at most that many
    assert 600 < kinds["bottleneck"] <= 5 * 4 * (27 + 9)


def test_enumeration_keys_match_the_modules_of_nets_blocks(tiny) -> None:
    from segevo.nets.blocks import timing_units

    entries = enumerate_entries(tiny, CLASSES)
    for key, arch in list(entries.items())[::25]:
        assert key in {unit.key for unit in timing_units(arch, CLASSES)}
    for x in tiny.sample(20, 1):
        arch = tiny.decode(x)
        assert [u.key for u in timing_units(arch, CLASSES)] == arch_keys(arch, CLASSES)


def test_predict_equals_python_sum_over_decode(tiny, table, sampled) -> None:
    X, keys_per_arch = sampled
    expected = np.array([sum(table.entry_ms(k) for k in keys) for keys in keys_per_arch])
    np.testing.assert_allclose(table.predict(X), expected, rtol=1e-12)
    np.testing.assert_allclose(table.predict(X[:1].astype(np.int32)), expected[:1], rtol=1e-12)
    assert table.predict(X[:0]).shape == (0,)


def test_indices_are_the_keys_of_each_architecture(tiny, table, sampled) -> None:
    X, keys_per_arch = sampled
    idx = table.indices(X[:500])
    assert idx.shape == (500, table.plan.n_slots)
    for row, keys in zip(idx, keys_per_arch[:500], strict=True):
        assert sorted(table.keys[i] for i in row if i >= 0) == sorted(keys)
    by_hand = np.append(table.latency_ms, 0.0)[idx].sum(axis=1)  # -1 reads the appended 0
    np.testing.assert_allclose(by_hand, table.predict(X[:500]))
    np.testing.assert_allclose(lut_sum(idx, table.latency_ms), table.predict(X[:500]))


def test_fast_path_equals_column_path(tiny, sampled) -> None:
    X, _ = sampled
    entry_of = {k: i for i, k in enumerate(enumerate_keys(tiny, CLASSES))}
    fast = IndexPlan(tiny, CLASSES, entry_of)
    slow = IndexPlan(tiny, CLASSES, entry_of, fast=False)
    assert fast.fast and not slow.fast
    np.testing.assert_array_equal(fast.indices(X), slow.indices(X))


def test_r50_space_predicts_too() -> None:
    r50 = get_space("r50")
    lut = LatencyTable(r50, random_record(r50, 19, seed=1))
    X = r50.sample(200, 2)
    expected = [sum(lut.entry_ms(k) for k in arch_keys(r50.decode(x), 19)) for x in X]
    np.testing.assert_allclose(lut.predict(X), expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("digit", "value", "match"),
    [
        (0, 5, r"row 3: digit x0 = 5 .* 0\.\.4"),
        (4, 3, r"row 3: digit x4 = 3 .* 0\.\.2"),  # a width digit: 2-bit lane, above its bound
        (5, 0, r"row 3: digit x5 = 0 .* 1\.\.3"),  # an always-active layer switched off
        (7, -1, r"row 3: digit x7 = -1"),
        (9, 256, r"row 3: digit x9 = 256"),  # would wrap to 0 in a byte
        (12, 65537, r"row 3: digit x12 = 65537"),
    ],
)
def test_out_of_bounds_digits_name_row_and_digit(tiny, table, digit, value, match) -> None:
    X = tiny.sample(5, 0)
    X[3, digit] = value
    with pytest.raises(ValueError, match=match):
        table.predict(X)
    with pytest.raises(ValueError, match=match):
        table.indices(X)


def test_bad_shapes_and_dtypes(tiny, table) -> None:
    X = tiny.sample(4, 0)
    with pytest.raises(ValueError, match=r"\[n, 29\]"):
        table.predict(X[:, :-1])
    with pytest.raises(ValueError, match="integers"):
        table.predict(X + 0.5)
    np.testing.assert_allclose(table.predict(X.astype(float)), table.predict(X))
    bad = X.copy()
    bad[0, 3], bad[0, 8] = 0, 1  # depth says 2 layers, layer 4 has an expand: not canonical
    with pytest.raises(ValueError):
        table.predict(bad, strict=True)


def test_breakdown_sums_to_predict(tiny, table) -> None:
    x = tiny.sample(1, 5)[0]
    parts = table.breakdown(x)
    assert parts[0][0].startswith("stem-") and parts[-1][0].startswith("decoder-")
    assert sum(ms for _, ms in parts) == pytest.approx(table.predict(x[None])[0])


def test_user_space_with_other_depths_predicts(micro) -> None:
    lut = LatencyTable(micro, random_record(micro, 5, seed=2))
    X = micro.sample(2000, 4)
    keys = [arch_keys(micro.decode(x), 5) for x in X]
    expected = [sum(lut.entry_ms(k) for k in ks) for ks in keys]
    np.testing.assert_allclose(lut.predict(X), expected, rtol=1e-12)
    assert {k for ks in keys for k in ks} == set(enumerate_keys(micro, 5))
