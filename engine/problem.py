"""Search problems: what the engine optimises, and how an evaluator process rebuilds it.

A problem is a box of integer architectures ``lower <= x <= upper`` with two objectives,
accuracy (maximised) and latency in milliseconds (minimised):

- ``latency(X)`` is cheap and predicted (a latency look-up table, or a table column);
- ``evaluate(x)`` is the expensive high-fidelity evaluation, returning ``{"acc": float}``
  and, when the problem measures it, ``"lat_ms"``.

Problems are named by a spec string and keyword options:

- ``table:PATH.csv``: a tabular benchmark (:mod:`segevo.engine.problems.table`);
- ``synthetic``: a generated tabular benchmark (:mod:`segevo.engine.problems.synthetic`);
- ``mosegnas``: the supernet + data set + latency table problem
  (:mod:`segevo.engine.problems.mosegnas`);
- ``package.module:attribute``: a user's :class:`Problem` instance, or a callable that
  returns one when called with the options;
- a plugin's name: a ``factory(argument, **options)`` registered with
  :func:`register_problem` or through an entry point in the group ``segevo.problems``
  (:mod:`segevo.nets.plugins`).

Registered names win over module paths, so a user module must not be called ``table``,
``synthetic`` or ``mosegnas``. ``problem.spec()`` returns a msgpack-able dict from which
:func:`load_problem` rebuilds the same problem, which is how remote evaluators get it.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from segevo.nets.plugins import (
    PluginError,
    Registry,
    callable_plugin,
    check_options,
    keyword_options,
)

__all__ = [
    "ArchitectureCodec",
    "Problem",
    "ProblemFactory",
    "available_problems",
    "fresh_mask",
    "load_problem",
    "register_problem",
    "row_keys",
    "unregister_problem",
]

ProblemFactory = Callable[..., "Problem"]
"""``factory(argument, **options) -> Problem``; ``argument`` is the text after ``name:`` or None."""


def row_keys(X: np.ndarray) -> np.ndarray:
    """One sortable key per row of an int64 matrix: the row's bytes (equal rows, equal keys)."""
    X = np.ascontiguousarray(X, dtype=np.int64)
    if X.ndim == 1:
        X = X[None, :]
    return X.view(np.dtype((np.void, 8 * X.shape[1]))).ravel()


def fresh_mask(keys: np.ndarray, *known: np.ndarray | None) -> np.ndarray:
    """The duplicate check: True for the first occurrence of each key that is in none of
    the ``known`` key arrays (sorted ones are searched, unsorted ones sorted first).

    Every "is this architecture new?" question in the engine is this function on
    :meth:`ArchitectureCodec.keys` (or :func:`row_keys`).
    """
    keys = np.asarray(keys)
    keep = np.zeros(keys.size, dtype=bool)
    if keys.size == 0:
        return keep
    _, first = np.unique(keys, return_index=True)
    keep[first] = True
    for other in known:
        if other is None or len(other) == 0:
            continue
        other = np.asarray(other)
        # Byte keys have no order operators, so they are always sorted here.
        if other.size > 1 and (other.dtype.kind == "V" or not np.all(other[:-1] <= other[1:])):
            other = np.sort(other)
        pos = np.minimum(np.searchsorted(other, keys), other.size - 1)
        keep &= other[pos] != keys
    return keep


class ArchitectureCodec:
    """Maps integer architectures in a box to compact keys and back.

    ``index(X)`` is the mixed-radix index ``sum((x_i - lower_i) * stride_i)`` in
    ``[0, size)``, usable as a dense table position; it needs ``size < 2**63``.
    ``keys(X)`` gives hashable, sortable per-row keys for duplicate tests: the mixed-radix
    index when it fits in int64, else the row's bytes (a numpy void dtype).
    """

    def __init__(self, lower: np.ndarray, upper: np.ndarray) -> None:
        lower = np.asarray(lower, dtype=np.int64).ravel()
        upper = np.asarray(upper, dtype=np.int64).ravel()
        if lower.shape != upper.shape or lower.size == 0:
            raise ValueError(
                f"lower and upper must be non-empty vectors of equal length, "
                f"got shapes {lower.shape} and {upper.shape}"
            )
        if np.any(upper < lower):
            bad = int(np.flatnonzero(upper < lower)[0])
            raise ValueError(f"upper < lower for variable x{bad}: {upper[bad]} < {lower[bad]}")
        self.lower = lower
        self.upper = upper
        self.radix = upper - lower + 1
        size = 1
        for r in self.radix.tolist():
            size *= int(r)
        self.size: int = size
        """Number of architectures in the box (a Python int, exact)."""
        self.fits_int64 = size < 2**63
        strides = np.ones_like(self.radix)
        if self.fits_int64:
            # Last variable varies fastest, like numpy's C order.
            for i in range(len(self.radix) - 2, -1, -1):
                strides[i] = strides[i + 1] * self.radix[i + 1]
        self.strides = strides

    @property
    def n_var(self) -> int:
        return int(self.lower.size)

    def check(self, X: np.ndarray, what: str = "X") -> np.ndarray:
        """``X`` as a C-contiguous int64 ``[n, n_var]`` array; ValueError when outside the box."""
        X = np.asarray(X)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.n_var:
            raise ValueError(f"{what} must have shape [n, {self.n_var}], got {X.shape}")
        if X.dtype.kind not in "iu":
            if X.dtype.kind == "f" and np.all(np.isfinite(X)) and np.all(np.round(X) == X):
                X = X.astype(np.int64)
            else:
                raise ValueError(f"{what} must hold integers, got dtype {X.dtype}")
        X = np.ascontiguousarray(X, dtype=np.int64)
        outside = (self.lower > X) | (self.upper < X)
        if outside.any():
            row, col = (int(v[0]) for v in np.nonzero(outside))
            raise ValueError(
                f"{what}[{row}] has x{col} = {X[row, col]}, outside the bounds "
                f"[{self.lower[col]}, {self.upper[col]}]"
            )
        return X

    def index(self, X: np.ndarray) -> np.ndarray:
        """Mixed-radix index of each row (int64), rows assumed inside the box."""
        if not self.fits_int64:
            raise ValueError(
                f"the box holds {self.size} architectures, too many for an int64 index"
            )
        return (np.asarray(X, dtype=np.int64) - self.lower) @ self.strides

    def decode(self, index: np.ndarray) -> np.ndarray:
        """Architectures ``[n, n_var]`` of mixed-radix indices (the inverse of :meth:`index`)."""
        index = np.asarray(index, dtype=np.int64).ravel()
        if index.size and (index.min() < 0 or index.max() >= self.size):
            raise ValueError(f"index out of range [0, {self.size})")
        return (index[:, None] // self.strides) % self.radix + self.lower

    def keys(self, X: np.ndarray) -> np.ndarray:
        """One sortable key per row: the int64 index when it fits, else the row's bytes."""
        X = np.ascontiguousarray(X, dtype=np.int64)
        if X.ndim == 1:
            X = X[None, :]
        if self.fits_int64:
            return self.index(X)
        return row_keys(X)


class Problem(ABC):
    """A bi-objective architecture search problem over an integer box.

    Subclasses set ``lower`` and ``upper`` (int64 vectors) and implement
    :meth:`latency` and :meth:`evaluate`. ``space`` is an optional
    :class:`segevo.nets.space.SearchSpace` whose one-hot encoding surrogates use.
    Methods must be safe to call from several threads at once.
    """

    lower: np.ndarray
    upper: np.ndarray
    space: Any = None
    digit_kinds: list[str] | None = None
    """Optional: ``"categorical"`` or ``"ordinal"`` per variable, None when unknown."""

    @property
    def n_var(self) -> int:
        return int(np.asarray(self.lower).size)

    @property
    def codec(self) -> ArchitectureCodec:
        """The box's key codec, built on first use."""
        codec = self.__dict__.get("_codec")
        if codec is None:
            codec = ArchitectureCodec(self.lower, self.upper)
            self.__dict__["_codec"] = codec
        return codec

    @property
    def capacity(self) -> int:
        """Number of distinct architectures the problem can produce: the box's size here;
        a finite candidate pool (a sparse table) overrides it with the pool's size."""
        return self.codec.size

    def enumerate_architectures(self, limit: int) -> np.ndarray | None:
        """Every distinct architecture (repaired, ``[m, n_var]``) when the box holds at most
        ``limit``; None when it holds more. A candidate pool overrides this with its rows."""
        if self.codec.size > limit:
            return None
        X = self.repair(self.codec.decode(np.arange(self.codec.size, dtype=np.int64)))
        return np.unique(X, axis=0)

    def repair(self, X: np.ndarray) -> np.ndarray:
        """Canonical form of each row: here rounded and clipped into the bounds.

        Problems whose encoding has equivalent vectors (e.g. inactive layers) override this
        so that equal networks get equal vectors.
        """
        X = np.asarray(X)
        if X.dtype.kind == "f":
            X = np.rint(X)
        X = X.astype(np.int64, copy=False)
        if X.ndim == 1:
            X = X[None, :]
        return np.clip(X, self.lower, self.upper)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` random repaired architectures (uniform over the box before repair)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        X = rng.integers(self.lower, self.upper + 1, size=(n, self.n_var), dtype=np.int64)
        return self.repair(X)

    @abstractmethod
    def latency(self, X: np.ndarray) -> np.ndarray:
        """Predicted latency in milliseconds of each row of ``X`` (float64 ``[n]``)."""

    @abstractmethod
    def evaluate(self, x: np.ndarray) -> dict[str, float]:
        """High-fidelity evaluation of one architecture: ``{"acc": ..., "lat_ms": ...}``.

        ``lat_ms`` is absent when the problem does not measure latency.
        """

    def objective_bounds(self) -> dict[str, tuple[float, float]] | None:
        """Known ``{"acc": (min, max), "lat_ms": (min, max)}`` over the whole space, if known.

        Benchmarks normalise hypervolume with these; None when the problem cannot tell.
        """
        return None

    def spec(self) -> dict[str, Any]:
        """A msgpack-able ``{"problem": str, "options": dict}`` that :func:`load_problem` rebuilds.

        Built-in problems override this; a user problem loaded through
        ``module:attribute`` or a plugin's name gets the spec it was loaded with.
        """
        recorded = self.__dict__.get("_loaded_spec")
        if recorded is None:
            raise ValueError(
                f"{type(self).__name__} was not loaded through load_problem and does not "
                "override spec(); define spec() returning {'problem': ..., 'options': ...}"
            )
        return {"problem": recorded["problem"], "options": dict(recorded["options"])}


def _register_builtins() -> None:
    _registry.register("table", _table_factory)
    _registry.register("synthetic", _synthetic_factory)
    _registry.register("mosegnas", _mosegnas_factory)


_registry: Registry[ProblemFactory] = Registry(
    "problems",
    "problem",
    adapt=callable_plugin("a problem plugin is a factory(argument, **options)"),
    name_rule=(str.isidentifier, "an identifier"),
    builtins=_register_builtins,
    hint=" (or 'module:attribute')",
)


def register_problem(name: str, factory: ProblemFactory, *, replace: bool = False) -> None:
    """Register ``factory(argument, **options) -> Problem`` under ``name``.

    ``load_problem("name:argument", **options)`` then calls it; ``argument`` is None for a
    bare ``"name"``. A factory whose options are keyword-only gets them checked first.
    """
    _registry.register(name, factory, replace=replace)


def unregister_problem(name: str) -> None:
    """Remove a problem registered in code (for plugins that clean up, and tests)."""
    _registry.unregister(name)


def available_problems() -> list[str]:
    """Names of the registered problem plugins."""
    return _registry.names()


def _table_factory(argument: str | None, **options: Any) -> Problem:
    from segevo.engine.problems.table import TableProblem

    check_options("problem", "table", options, keyword_options(TableProblem) or ())
    if not argument:
        raise ValueError("the table problem needs a path: 'table:PATH.csv'")
    return TableProblem(argument, **options)


def _synthetic_factory(argument: str | None, **options: Any) -> Problem:
    from segevo.engine.problems.synthetic import SyntheticProblem

    check_options("problem", "synthetic", options, keyword_options(SyntheticProblem) or ())
    if argument:
        raise ValueError(
            f"the synthetic problem takes keyword options, not 'synthetic:{argument}'; "
            "pass e.g. seed=0, n_var=8, n_values=5"
        )
    return SyntheticProblem(**options)


def _mosegnas_factory(argument: str | None, **options: Any) -> Problem:
    from segevo.engine.problems.mosegnas import mosegnas_factory

    return mosegnas_factory(argument, **options)


def _load_module_attribute(target: str, options: dict[str, Any]) -> Problem:
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected 'module:attribute', got {target!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"cannot import module {module_name!r} for problem {target!r}: {exc}"
        ) from exc
    obj: Any = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if isinstance(obj, Problem):
        if options:
            raise ValueError(
                f"{target!r} is a Problem instance and takes no options, got {sorted(options)}"
            )
        problem = obj
    elif callable(obj):
        problem = obj(**options)
        if not isinstance(problem, Problem):
            raise ValueError(
                f"{target!r} returned {type(problem).__name__}, expected a segevo Problem"
            )
    else:
        raise ValueError(
            f"{target!r} is a {type(obj).__name__}; expected a Problem instance or a factory"
        )
    if type(problem).spec is Problem.spec:
        problem.__dict__["_loaded_spec"] = {"problem": target, "options": dict(options)}
    return problem


def load_problem(spec: str | Mapping[str, Any], **options: Any) -> Problem:
    """Build a problem from a spec string (plus options) or from a ``problem.spec()`` dict.

    >>> p = load_problem("synthetic", seed=1, n_var=4, n_values=3)
    >>> load_problem(p.spec()).spec() == p.spec()
    True
    """
    if isinstance(spec, Mapping):
        if "problem" not in spec:
            raise ValueError("a problem spec dict needs a 'problem' entry")
        merged = dict(spec.get("options") or {})
        merged.update(options)
        return load_problem(str(spec["problem"]), **merged)
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"problem spec must be a non-empty string, got {spec!r}")
    name, sep, argument = spec.partition(":")
    factory = _registry.find(name) if name.isidentifier() else None
    if factory is not None:
        allowed = keyword_options(factory)
        if allowed is not None:  # a factory taking **options checks them itself
            check_options("problem", name, options, allowed)
        problem = factory(argument if sep else None, **options)
        if not isinstance(problem, Problem):
            raise PluginError(
                f"problem {name!r} returned {type(problem).__name__}, expected a segevo Problem"
            )
        if type(problem).spec is Problem.spec:  # a plugin's problem need not write spec()
            problem.__dict__["_loaded_spec"] = {"problem": spec, "options": dict(options)}
        return problem
    if sep:
        return _load_module_attribute(spec, options)
    raise _registry.unknown(spec)
