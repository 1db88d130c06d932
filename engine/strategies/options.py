"""Validated NSGA-II settings shared by the ``mosegnas`` and ``nsga2`` strategies."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from segevo.engine.moea import make_crossover, make_mutation
from segevo.engine.pymoo_moea import PYMOO_ALGORITHMS, check_pymoo_algorithm
from segevo.nets.plugins import check_options

__all__ = ["MOEAOptions"]

_CROSSOVERS = ("uniform", "two_point", "sbx")
_MUTATIONS = ("polynomial", "reset")


def _int_at_least(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"moea option {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _algorithm_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"moea option algorithm must be a string, got {value!r}")
    if value == "nsga2":
        return value
    prefix, sep, name = value.partition(":")
    if prefix != "pymoo" or not sep:
        raise ValueError(
            f"unknown MOEA {value!r}; use nsga2 (the default) or pymoo:NAME, NAME one of "
            f"{', '.join(PYMOO_ALGORITHMS)}"
        )
    return f"pymoo:{check_pymoo_algorithm(name)}"


@dataclass(frozen=True)
class MOEAOptions:
    """``pop_size``, ``n_gen`` (proposal generations on the surrogate), ``max_seeds``
    (evaluated front members seeding the population, default ``pop_size // 2``), the
    operators by name with their options (defaults: 100 x 200 generations, two-point crossover with probability
    0.9, integer polynomial mutation with per-variable probability 0.05 and eta 1, after
    the paper's Table I), and ``exhaustive``: when the problem can produce at most this
    many architectures, a surrogate proposal scores every one of them instead of running
    the MOEA (0: always the MOEA; the default with a pymoo algorithm), and ``algorithm``,
    the proposal MOEA. Only the ``mosegnas`` strategy uses ``exhaustive`` and ``algorithm``."""

    pop_size: int = 100
    # The paper's 1000 generations found fronts no better than 200 on the synthetic r50-sized
    # problem (median HV regret 0.0294 vs 0.0295 at 200 evaluations, docs/benchmarks.md) and
    # cost 2.5x the proposal time, which a steady state pays as evaluator waits.
    n_gen: int = 200
    max_seeds: int = 50
    crossover: str = "two_point"
    crossover_options: dict[str, Any] = field(default_factory=lambda: {"prob": 0.9})
    mutation: str = "polynomial"
    mutation_options: dict[str, Any] = field(default_factory=lambda: {"prob_var": 0.05, "eta": 1.0})
    # Scoring 20,000 rows with any built-in predictor costs less than one NSGA-II generation
    # of population 100 costs in 200 generations, and it finds the exact predicted front.
    exhaustive: int = 20_000
    algorithm: str = "nsga2"
    """The proposal MOEA: ``nsga2`` (segevo's own, fast) or ``pymoo:NAME`` (any algorithm
    of :data:`segevo.engine.pymoo_moea.PYMOO_ALGORITHMS`, e.g. ``pymoo:SMSEMOA``)."""

    @classmethod
    def parse(cls, options: dict[str, Any] | None, *, default_pop_size: int = 100) -> MOEAOptions:
        """Validate a user's dict eagerly; unknown keys and bad values raise ValueError."""
        options = dict(options or {})
        check_options("MOEA", "moea_options", options, cls.__dataclass_fields__)
        pop_size = _int_at_least("pop_size", options.get("pop_size", default_pop_size), 2)
        n_gen = _int_at_least("n_gen", options.get("n_gen", cls.n_gen), 0)
        max_seeds = _int_at_least("max_seeds", options.get("max_seeds", pop_size // 2), 0)
        algorithm = _algorithm_name(options.get("algorithm", cls.algorithm))
        # A pymoo algorithm asked for by name should run, not be bypassed by scoring a small
        # space exhaustively (unless exhaustive is given too).
        default_exhaustive = cls.exhaustive if algorithm == "nsga2" else 0
        exhaustive = _int_at_least("exhaustive", options.get("exhaustive", default_exhaustive), 0)
        crossover = options.get("crossover", "two_point")
        mutation = options.get("mutation", "polynomial")
        if crossover not in _CROSSOVERS:
            raise ValueError(
                f"moea option crossover must be one of {_CROSSOVERS}, got {crossover!r}"
            )
        if mutation not in _MUTATIONS:
            raise ValueError(f"moea option mutation must be one of {_MUTATIONS}, got {mutation!r}")
        default = cls()
        crossover_options = dict(
            options.get(
                "crossover_options",
                default.crossover_options if crossover != "sbx" else {"prob": 0.9},
            )
        )
        mutation_options = dict(
            options.get(
                "mutation_options",
                default.mutation_options if mutation == "polynomial" else {"prob_var": 0.05},
            )
        )
        parsed = cls(
            pop_size,
            n_gen,
            max_seeds,
            crossover,
            crossover_options,
            mutation,
            mutation_options,
            exhaustive,
            algorithm,
        )
        # Building the operators once validates their options now rather than mid-run.
        bounds = np.zeros(1, np.int64), np.ones(1, np.int64)
        try:
            make_crossover(crossover, *bounds, **crossover_options)
            make_mutation(mutation, *bounds, **mutation_options)
        except TypeError as exc:
            raise ValueError(f"bad operator option: {exc}") from exc
        return parsed

    def operators(self) -> dict[str, Any]:
        """Keyword arguments for :class:`segevo.engine.moea.NSGA2`."""
        return {
            "crossover": self.crossover,
            "crossover_options": dict(self.crossover_options),
            "mutation": self.mutation,
            "mutation_options": dict(self.mutation_options),
        }

    def record(self) -> dict[str, Any]:
        """A msgpack-able copy of the settings."""
        return asdict(self)
