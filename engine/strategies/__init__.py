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
"""

from __future__ import annotations

from typing import Any

from segevo.engine.prescreen import PRESCREENS
from segevo.engine.problem import Problem
from segevo.engine.strategies.base import Proposal, Strategy
from segevo.engine.strategies.mosegnas import MoSegNASStrategy
from segevo.engine.strategies.nsga2 import NSGA2Strategy
from segevo.engine.strategies.options import MOEAOptions
from segevo.engine.strategies.random_search import RandomStrategy

__all__ = [
    "STRATEGIES",
    "MOEAOptions",
    "MoSegNASStrategy",
    "NSGA2Strategy",
    "Proposal",
    "RandomStrategy",
    "Strategy",
    "make_strategy",
]

STRATEGIES: tuple[str, ...] = ("mosegnas", "nsga2", "random")
"""Names accepted by :func:`make_strategy`."""


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
    """Build a strategy by name; every option is validated here, before the run starts."""
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a segevo Problem, got {type(problem).__name__}")
    if prescreen not in PRESCREENS:
        raise ValueError(f"unknown pre-screen {prescreen!r}; choose one of {list(PRESCREENS)}")
    if name == "mosegnas":
        return MoSegNASStrategy(
            problem,
            seed=seed,
            surrogate=surrogate,
            surrogate_options=surrogate_options,
            prescreen=prescreen,
            moea_options=moea_options,
        )
    if name == "nsga2":
        return NSGA2Strategy(problem, seed=seed, moea_options=moea_options)
    if name == "random":
        if moea_options:
            raise ValueError("the random strategy takes no moea_options")
        return RandomStrategy(problem, seed=seed)
    raise ValueError(f"unknown strategy {name!r}; choose one of {list(STRATEGIES)}")
