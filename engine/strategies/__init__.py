"""Search strategies: what to evaluate next. The engine's orchestration calls these.

Interface (every method is pure and thread-safe, so the engine may run it through
``anyio.to_thread``; randomness only from the ``rng`` passed in)::

    strategy = make_strategy(name, problem, *, seed=0, surrogate="auto",
                             prescreen="hierarchical", surrogate_options=None,
                             moea_options=None)
    X0 = strategy.initial(n, rng)                  # int64 [<=n, n_var]
    model = strategy.fit_model(X_done, acc_done)   # fitted surrogate, or None
    proposal = strategy.propose(model, X_done, acc_done, lat_done, X_pending, k, rng)
    proposal.X, proposal.acc_pred, proposal.lat_pred   # [<=k, n_var], [<=k], [<=k]

- ``initial`` returns distinct repaired architectures: the lower-bound one, the
  upper-bound one, then random ones (paper: "Initialization").
- ``fit_model`` returns what ``propose`` needs as ``model``; model-free strategies
  (``nsga2``, ``random``) return None, so the engine can skip the Surrogate actor's work.
  The engine may call it with the archive at any point and keep using an older model.
- ``propose`` never returns an architecture in ``X_done`` or ``X_pending`` and never one
  twice; it returns fewer than ``k`` only when the space has no more new architectures.
  ``lat_done`` is the measured latency (NaN where not measured: the predicted latency
  stands in). ``acc_pred`` is NaN for strategies without a model; ``lat_pred`` is
  ``problem.latency``.
- ``strategy.options`` is a msgpack-able record of the resolved settings for the run's
  config.

Strategies:

``mosegnas`` (default)
    Surrogate (``surrogate``: ``ranknet`` or another name from
    :func:`segevo.surrogates.available_surrogates`, with ``surrogate_options``) + NSGA-II
    on predicted accuracy and latency, seeded with the evaluated front
    (:mod:`segevo.engine.moea`, ``moea_options``: ``pop_size`` 100, ``n_gen`` 200 (the paper: 1000), ...)
    + pre-screening (``prescreen``: ``hierarchical``, ``survival``, ``hv``, ``latency``,
    ``random``; :mod:`segevo.engine.prescreen`).
``nsga2``
    Plain NSGA-II on true evaluations, steady state: each batch mates the NSGA-II
    survivors of everything evaluated (``moea_options``: ``pop_size`` default 40 and
    operators). ``surrogate``/``prescreen`` are validated but unused.
``random``
    Uniform random new architectures.

Other strategies are plugins (:mod:`segevo.nets.plugins`): a :data:`StrategyFactory`
registered with :func:`register_strategy` or through an entry point in the group
``segevo.strategies``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from segevo.engine.prescreen import prescreen_plugin
from segevo.engine.problem import Problem
from segevo.engine.strategies.base import Proposal, Strategy
from segevo.engine.strategies.mosegnas import MoSegNASStrategy
from segevo.engine.strategies.nsga2 import NSGA2Strategy
from segevo.engine.strategies.options import MOEAOptions
from segevo.engine.strategies.random_search import RandomStrategy
from segevo.nets.plugins import PluginError, Registry, callable_plugin

__all__ = [
    "STRATEGIES",
    "MOEAOptions",
    "MoSegNASStrategy",
    "NSGA2Strategy",
    "Proposal",
    "RandomStrategy",
    "Strategy",
    "StrategyFactory",
    "available_strategies",
    "make_strategy",
    "register_strategy",
    "unregister_strategy",
]

StrategyFactory = Callable[..., Strategy]
"""``factory(problem, *, seed, ...) -> Strategy`` (a :class:`Strategy` subclass is one). It is
given those of :func:`make_strategy`'s options it declares as keyword-only parameters
(``seed``, ``surrogate``, ``prescreen``, ``surrogate_options``, ``moea_options``), or all of
them when it takes ``**options``."""

STRATEGIES: tuple[str, ...] = ("mosegnas", "nsga2", "random")
"""The built-in strategies; :func:`available_strategies` adds plugins (registered with
:func:`register_strategy` or through entry points in the group ``segevo.strategies``)."""


def _random_strategy(
    problem: Problem, *, seed: int = 0, moea_options: dict[str, Any] | None = None
) -> Strategy:
    if moea_options:
        raise ValueError("the random strategy takes no moea_options")
    return RandomStrategy(problem, seed=seed)


def _register_builtins() -> None:
    _REGISTRY.register("mosegnas", MoSegNASStrategy)
    _REGISTRY.register("nsga2", NSGA2Strategy)
    _REGISTRY.register("random", _random_strategy)


_REGISTRY: Registry[StrategyFactory] = Registry(
    "strategies",
    "strategy",
    adapt=callable_plugin("a strategy plugin is a Strategy factory"),
    name_rule=(str.isidentifier, "an identifier"),
    builtins=_register_builtins,
    order="registered",
)


def register_strategy(name: str, factory: StrategyFactory, *, replace: bool = False) -> None:
    """Make ``make_strategy(name, problem, ...)`` call ``factory`` (see :data:`StrategyFactory`)."""
    _REGISTRY.register(name, factory, replace=replace)


def unregister_strategy(name: str) -> None:
    """Remove a strategy registered in code (for plugins that clean up, and tests)."""
    _REGISTRY.unregister(name)


def available_strategies() -> list[str]:
    """Names accepted by :func:`make_strategy`: the built-ins, then plugins."""
    return _REGISTRY.names()


def _accepted(factory: StrategyFactory, options: dict[str, Any]) -> dict[str, Any]:
    """The options ``factory`` declares (all of them when it takes ``**options``)."""
    parameters = inspect.signature(factory).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return options
    names = {p.name for p in parameters if p.kind is p.KEYWORD_ONLY}
    return {key: value for key, value in options.items() if key in names}


def make_strategy(
    name: str,
    problem: Problem,
    *,
    seed: int = 0,
    surrogate: str = "auto",
    prescreen: str = "hierarchical",
    surrogate_options: dict[str, Any] | None = None,
    moea_options: dict[str, Any] | None = None,
) -> Strategy:
    """Build a strategy by name; every option is validated here, before the run starts.

    A strategy is given the options it declares; the pre-screen is checked for every one.
    """
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a segevo Problem, got {type(problem).__name__}")
    prescreen_plugin(prescreen)
    factory = _REGISTRY.get(name)
    options = _accepted(
        factory,
        {
            "seed": seed,
            "surrogate": surrogate,
            "prescreen": prescreen,
            "surrogate_options": surrogate_options,
            "moea_options": moea_options,
        },
    )
    strategy = factory(problem, **options)
    if not isinstance(strategy, Strategy):
        raise PluginError(
            f"strategy {name!r} returned {type(strategy).__name__}, expected a segevo Strategy"
        )
    return strategy
