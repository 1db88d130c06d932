"""High trade-off point selection on hand-made fronts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from segevo.engine.pick import pick_tradeoff, tradeoff_scores

with warnings.catch_warnings():
    # pymoo 0.6.2 imports scipy.spatial.ckdtree, which scipy deprecates.
    warnings.simplefilter("ignore", DeprecationWarning)
    from pymoo.mcdm.high_tradeoff import HighTradeoffPoints


def test_knee_and_most_accurate_on_a_hand_made_front() -> None:
    # (latency ms, accuracy): a sharp knee at 2 ms, then little gain for much latency.
    lat = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 6.0, 2.5])
    acc = np.array([0.10, 0.80, 0.84, 0.86, 0.90, 0.70, 0.60])  # the last two are dominated
    chosen = pick_tradeoff(acc, lat, n=2)
    assert chosen.tolist() == [1, 4]  # the knee, then the most accurate (fastest first)
    assert pick_tradeoff(acc, lat, n=1).tolist() == [4]
    everything = pick_tradeoff(acc, lat, n=10)
    assert sorted(everything.tolist()) == [0, 1, 2, 3, 4]  # only front points
    assert np.all(np.diff(lat[everything]) > 0)


def test_scores_by_hand() -> None:
    lat = np.array([0.0, 1.0, 2.0])
    acc = np.array([0.0, 0.9, 1.0])
    # Normalised (1 - acc, lat): (1, 0), (0.1, 0.5), (0, 1).
    mu = tradeoff_scores(acc, lat)
    # Middle: to the left sacrifice 0.9 gain 0.5 -> 1.8; to the right 0.5 / 0.1 -> 5; min 1.8.
    assert mu[1] == pytest.approx(1.8)
    assert mu[0] == pytest.approx(0.5 / 0.9)  # its only neighbour is the middle point
    assert mu[2] == pytest.approx(0.1 / 0.5)
    assert np.isinf(tradeoff_scores(np.array([1.0]), np.array([1.0]))).all()


def test_agrees_with_pymoo_on_a_clear_knee() -> None:
    lat = np.linspace(0.0, 1.0, 21)
    acc = np.where(lat <= 0.3, lat / 0.3 * 0.9, 0.9 + (lat - 0.3) / 0.7 * 0.1)
    F = np.column_stack([-acc, lat])
    span = F.max(axis=0) - F.min(axis=0)
    pymoo_knees = HighTradeoffPoints().do((F - F.min(axis=0)) / span)
    ours = pick_tradeoff(acc, lat, n=2)
    knee = int(np.argmax(tradeoff_scores(acc, lat)))
    assert knee == 6 and knee in np.atleast_1d(pymoo_knees).tolist()
    assert knee in ours.tolist() and 20 in ours.tolist()


def test_repeated_points_count_once_and_errors() -> None:
    acc = np.array([0.5, 0.5, 0.9])
    lat = np.array([1.0, 1.0, 3.0])
    assert pick_tradeoff(acc, lat, n=5).tolist() == [0, 2]
    assert pick_tradeoff(np.zeros(0), np.zeros(0)).size == 0
    with pytest.raises(ValueError, match="same length"):
        pick_tradeoff(acc, lat[:2])
    with pytest.raises(ValueError, match="finite"):
        pick_tradeoff(np.array([np.nan]), np.array([1.0]))
    with pytest.raises(ValueError, match="n must be"):
        pick_tradeoff(acc, lat, n=0)
