"""The worked plugin examples of CONTRIBUTING.md ("Plugins"), one per family, registered in
code and used through segevo's public functions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgpack
import numpy as np
import plugin_examples as ex
import pytest
import torch

from segevo.devices import get_device, register_device, unregister_device
from segevo.engine.prescreen import prescreen, register_prescreen, unregister_prescreen
from segevo.engine.problem import load_problem, register_problem, unregister_problem
from segevo.engine.strategies import make_strategy, register_strategy, unregister_strategy
from segevo.nets.datasets import get_dataset, register_dataset, unregister_dataset
from segevo.nets.plugins import UnknownOptionError
from segevo.surrogates import (
    load_surrogate,
    make_surrogate,
    register_surrogate,
    unregister_surrogate,
)


@pytest.fixture
def onemax() -> Iterator[None]:
    register_problem("onemax", ex.onemax)
    yield
    unregister_problem("onemax")


def test_problem_plugin(onemax: None) -> None:
    problem = load_problem("onemax", n_var=3)
    assert problem.evaluate(np.array([3, 3, 0]))["acc"] == pytest.approx(6 / 9)
    spec = msgpack.unpackb(msgpack.packb(problem.spec()))  # what a remote evaluator gets
    assert spec == {"problem": "onemax", "options": {"n_var": 3}}
    assert load_problem(spec).n_var == 3
    with pytest.raises(
        UnknownOptionError, match=r"\['size'\] for problem 'onemax'; allowed: n_var"
    ):
        load_problem("onemax", size=3)


def test_strategy_plugin(onemax: None) -> None:
    register_strategy("cheapest_first", ex.CheapestFirst)
    try:
        problem = load_problem("onemax")
        strategy = make_strategy("cheapest_first", problem, seed=1, surrogate="rbf")
        empty = np.zeros((0, problem.n_var), np.int64)
        rng = np.random.default_rng(0)
        proposal = strategy.propose(None, empty, np.zeros(0), np.zeros(0), empty, 5, rng)
        assert len(proposal) == 5
        assert np.all(np.diff(proposal.lat_pred) >= 0)  # cheapest first
    finally:
        unregister_strategy("cheapest_first")


def test_prescreen_plugin(onemax: None) -> None:
    register_prescreen("fastest", ex.fastest, ranked=True)
    try:
        rng = np.random.default_rng(0)
        X = np.arange(20).reshape(10, 2)
        lat = rng.permutation(10).astype(float)
        chosen = prescreen(
            "fastest", X, np.zeros(10), lat, 3, acc_done=np.zeros(0), lat_done=np.zeros(0), rng=rng
        )
        np.testing.assert_array_equal(lat[chosen], [0.0, 1.0, 2.0])
        # The mosegnas strategy takes it by name too.
        strategy = make_strategy(
            "mosegnas", load_problem("onemax"), surrogate="rbf", prescreen="fastest"
        )
        assert strategy.options["prescreen"] == "fastest"
    finally:
        unregister_prescreen("fastest")


def test_surrogate_plugin(tmp_path: Path) -> None:
    register_surrogate("ridge", ex.RidgeSurrogate)
    try:
        rng = np.random.default_rng(0)
        X = rng.integers(0, 4, size=(40, 3))
        y = X.sum(axis=1) / 9.0
        model = make_surrogate("ridge", [0, 0, 0], [3, 3, 3], alpha=1e-3).fit(X, y)
        assert np.corrcoef(model.predict(X), y)[0, 1] > 0.99
        loaded = load_surrogate(model.save(tmp_path / "ridge"))
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
        with pytest.raises(UnknownOptionError, match=r"\['beta'\] for surrogate 'ridge'"):
            make_surrogate("ridge", [0], [1], beta=1)
    finally:
        unregister_surrogate("ridge")


def test_device_plugin() -> None:
    register_device("param-clock", ex.ParamClock)
    try:
        device = get_device("param-clock", ms_per_mparam=2.0)
        m = device.measure(torch.nn.Linear(1000, 1000), (1, 1000))
        assert m.median_ms == pytest.approx(2.0 * 1.001 + 1e-3)
        with pytest.raises(UnknownOptionError, match=r"allowed: ms_per_mparam"):
            get_device("param-clock", threads=2)
    finally:
        unregister_device("param-clock")


def test_dataset_plugin() -> None:
    register_dataset("stripes", ex.Stripes, needs_path=False)
    try:
        data = get_dataset("stripes", "val", length=2, size=(6, 8))
        image, label = data[1]
        assert len(data) == 2 and data.num_classes == 2
        assert image.shape == (3, 6, 8) and label.shape == (6, 8)
        with pytest.raises(UnknownOptionError, match=r"allowed: augment, length, size"):
            get_dataset("stripes", colour=True)
    finally:
        unregister_dataset("stripes")
