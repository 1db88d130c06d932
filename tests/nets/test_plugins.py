"""The shared plugin mechanism: registries, one error format, and entry points for real (a
distribution installed into a temporary folder on ``sys.path``)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from segevo.devices import available_devices, get_device
from segevo.engine.prescreen import available_prescreens, prescreen
from segevo.engine.problem import available_problems, load_problem
from segevo.engine.strategies import available_strategies, make_strategy
from segevo.nets.datasets import available_datasets, get_dataset
from segevo.nets.plugins import (
    PluginError,
    PluginLoadError,
    Registry,
    UnknownOptionError,
    UnknownPluginError,
    check_options,
    keyword_options,
    refresh_entry_points,
)
from segevo.surrogates import available_surrogates, make_surrogate

# -- the registry --------------------------------------------------------------------------


def test_register_look_up_and_one_error_format() -> None:
    registry: Registry[int] = Registry("test-numbers", "number", hint=" (or a digit)")
    registry.register("two", 2)
    registry.register("one", 1)
    assert registry.names() == ["one", "two"] and registry.get("two") == 2
    assert "one" in registry and "three" not in registry and registry.find("three") is None
    with pytest.raises(
        UnknownPluginError, match=r"^unknown number 'three'; known: one, two \(or a digit\)$"
    ):
        registry.get("three")
    with pytest.raises(PluginError, match="number 'one' is already registered"):
        registry.register("one", 11)
    registry.register("one", 11, replace=True)
    assert registry.get("one") == 11
    registry.unregister("one")
    with pytest.raises(UnknownPluginError, match="unknown number 'one'; known: two"):
        registry.unregister("one")


def test_order_names_check_and_adapt() -> None:
    def adapt(name: str, plugin: object) -> int:
        if not isinstance(plugin, int):
            raise TypeError(f"not a number: {plugin!r}")
        return plugin

    registry: Registry[int] = Registry(
        "test-ordered",
        "number",
        adapt=adapt,
        order="registered",
        name_rule=(str.isidentifier, "an identifier"),
    )
    registry.register("zeta", 1)
    registry.register("alpha", 2)
    assert registry.names() == ["zeta", "alpha"]
    with pytest.raises(PluginError, match="number name must be an identifier, got 'a-b'"):
        registry.register("a-b", 3)
    with pytest.raises(TypeError, match="not a number"):
        registry.register("gamma", "3")


def test_lazy_builtins_are_imported_on_first_use() -> None:
    calls: list[str] = []

    def builtins() -> None:
        calls.append("builtins")
        registry.register_lazy("dumps", "json:dumps")

    registry: Registry[object] = Registry("test-lazy", "thing", builtins=builtins)
    assert calls == []
    assert registry.names() == ["dumps"] and calls == ["builtins"]
    import json

    assert registry.get("dumps") is json.dumps
    registry.names()
    assert calls == ["builtins"]


def test_check_options_and_keyword_options() -> None:
    check_options("thing", "t", {"a": 1}, ["a", "b"])
    with pytest.raises(
        UnknownOptionError, match=r"^unknown option\(s\) \['c', 'd'\] for thing 't'; allowed: a, b$"
    ):
        check_options("thing", "t", {"d": 1, "c": 2, "a": 3}, ["b", "a"])
    with pytest.raises(UnknownOptionError, match=r"allowed: \(none\)"):
        check_options("thing", "t", {"a": 1}, [])

    class Base:
        def __init__(self, *, size: int = 1) -> None: ...

    class Child(Base):
        def __init__(self, split: str, *, length: int = 2, **common: object) -> None: ...

    def open_ended(*, a: int = 1, **rest: object) -> None: ...

    assert keyword_options(Child) == ["length", "size"]
    assert keyword_options(lambda x, *, b=1, a=2: None) == ["a", "b"]
    assert keyword_options(open_ended) is None


# -- entry points -------------------------------------------------------------------------

ENTRY_POINTS = """
[segevo.problems]
onemax = plugin_examples:onemax
broken_problem = no_such_module_for_segevo:factory

[segevo.strategies]
cheapest_first = plugin_examples:CheapestFirst

[segevo.prescreens]
fastest = plugin_examples:fastest

[segevo.surrogates]
ridge = plugin_examples:RidgeSurrogate
misnamed = plugin_examples:RidgeSurrogate

[segevo.devices]
param-clock = plugin_examples:ParamClock

[segevo.datasets]
stripes = plugin_examples:Stripes
"""


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A distribution ``segevo-example-plugins`` whose entry points add one plugin to each
    family (the classes of tests/plugin_examples.py) and two broken ones."""
    info = tmp_path / "segevo_example_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: segevo-example-plugins\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    monkeypatch.syspath_prepend(str(tmp_path))
    refresh_entry_points()
    yield
    monkeypatch.undo()
    refresh_entry_points()


def test_entry_points_add_a_plugin_to_every_family(installed: None) -> None:
    assert "onemax" in available_problems()
    assert "cheapest_first" in available_strategies()
    assert "fastest" in available_prescreens()
    assert "ridge" in available_surrogates()
    assert "param-clock" in available_devices()
    assert "stripes" in available_datasets()

    problem = load_problem("onemax", n_var=3)
    assert load_problem(problem.spec()).n_var == 3
    strategy = make_strategy("cheapest_first", problem)
    empty = np.zeros((0, 3), np.int64)
    proposal = strategy.propose(
        None, empty, np.zeros(0), np.zeros(0), empty, 2, np.random.default_rng(0)
    )
    assert len(proposal) == 2
    rng = np.random.default_rng(0)
    lat = np.array([3.0, 1.0, 2.0])
    chosen = prescreen(
        "fastest",
        np.eye(3, dtype=np.int64),
        np.zeros(3),
        lat,
        1,
        acc_done=np.zeros(0),
        lat_done=np.zeros(0),
        rng=rng,
    )
    assert chosen.tolist() == [1]
    X = np.random.default_rng(1).integers(0, 3, size=(12, 2))
    model = make_surrogate("ridge", [0, 0], [2, 2]).fit(X, X.sum(axis=1))
    assert model.predict(X).shape == (12,)
    assert get_device("param-clock").measure(torch.nn.Linear(2, 2), (1, 2)).median_ms > 0
    assert get_dataset("stripes", "train")[0][1].dtype == torch.int64


def test_a_broken_entry_point_names_its_distribution_and_spares_the_others(
    installed: None,
) -> None:
    assert "broken_problem" in available_problems()  # listed without importing it
    with pytest.raises(PluginLoadError) as error:
        load_problem("broken_problem")
    message = str(error.value)
    assert "entry point 'broken_problem = no_such_module_for_segevo:factory'" in message
    assert "group 'segevo.problems'" in message
    assert "distribution 'segevo-example-plugins' 1.0" in message
    assert "ModuleNotFoundError" in message
    with pytest.raises(PluginLoadError, match="distribution 'segevo-example-plugins'"):
        load_problem("broken_problem")  # the same answer again, not a half-loaded plugin
    # A plugin that loads but is no valid plugin of its family is refused the same way.
    with pytest.raises(PluginLoadError, match=r"misnamed.*RidgeSurrogate.name is 'ridge'"):
        make_surrogate("misnamed", [0], [1])
    # Every other lookup works.
    assert load_problem("synthetic", n_var=2, n_values=2).n_var == 2
    assert load_problem("onemax").n_var == 4
    assert make_surrogate("ridge", [0], [1]).name == "ridge"


def test_plugins_leave_with_their_distribution(
    installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "stripes" in available_datasets()
    monkeypatch.undo()
    refresh_entry_points()
    assert "stripes" not in available_datasets()
    with pytest.raises(UnknownPluginError, match="unknown data set 'stripes'"):
        get_dataset("stripes")
