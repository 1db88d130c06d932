"""Surrogates by name: built-ins, plugins registered in code, and entry points.

Surrogates are plugins of the shared mechanism (:mod:`segevo.nets.plugins`): a plugin is a
:class:`Surrogate` subclass whose ``name`` is its registered name, added with
:func:`register_surrogate` or an entry point in the group ``segevo.surrogates``. Built-ins are
imported only when first asked for, which keeps ``import segevo.surrogates`` free of torch
and scikit-learn, so the engine can import it at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from segevo.nets.plugins import PluginError, Registry

from .base import Surrogate
from .encoding import OneHotSpace, as_bounds
from .persist import read_record

_BUILTIN: dict[str, str] = {
    "ranknet": "ranknet:RankNet",
    "rbf": "rbf:RBFSurrogate",
    "kriging": "kriging:KrigingSurrogate",
    "svr": "svr:SVRSurrogate",
    "dt": "decision_tree:DecisionTreeSurrogate",
    "gb": "gradient_boosting:GradientBoostingSurrogate",
    "rf": "random_forest:RandomForestSurrogate",
    "mlp": "mlp:MLPSurrogate",
    "auto": "auto:AutoSurrogate",
}


def _adapt(name: str, cls: Any) -> type[Surrogate]:
    if not (isinstance(cls, type) and issubclass(cls, Surrogate)):
        raise PluginError(f"{cls!r} is not a Surrogate subclass")
    if cls.name != name:
        raise PluginError(f"{cls.__name__}.name is {cls.name!r}; it must equal {name!r}")
    return cls


def _register_builtins() -> None:
    for name, target in _BUILTIN.items():
        _REGISTRY.register_lazy(name, f"{__package__}.{target}")


_REGISTRY: Registry[type[Surrogate]] = Registry(
    "surrogates",
    "surrogate",
    adapt=_adapt,
    name_rule=(str.isidentifier, "an identifier"),
    builtins=_register_builtins,
    order="registered",
)


def register_surrogate(name: str, cls: type[Surrogate]) -> None:
    """Make ``cls`` (a :class:`Surrogate` subclass) available as ``make_surrogate(name, ...)``."""
    _REGISTRY.register(name, cls)


def unregister_surrogate(name: str) -> None:
    """Remove a surrogate registered in code (for plugins that clean up, and tests)."""
    _REGISTRY.unregister(name)


def available_surrogates() -> list[str]:
    """Names accepted by :func:`make_surrogate`: the built-ins, then plugins."""
    return _REGISTRY.names()


def surrogate_class(name: str) -> type[Surrogate]:
    """The class registered under ``name``."""
    return _REGISTRY.get(name)


def make_surrogate(
    name: str,
    lower: Any = None,
    upper: Any = None,
    *,
    seed: int = 0,
    space: OneHotSpace | None = None,
    device: str = "cpu",
    digit_kinds: Any = None,
    **options: Any,
) -> Surrogate:
    """A new, unfitted surrogate.

    Args:
        name: one of :func:`available_surrogates` (``ranknet``, ``rbf``, ``kriging``, ``svr``,
            ``dt``, ``gb``, ``rf``, ``mlp``, ``auto`` (the default predictor) and any registered plugin).
        lower, upper: per-variable integer bounds; may be omitted when ``space`` is given.
        seed: makes fitting deterministic.
        space: a search space whose ``onehot(X)`` gives the features (inactive layers as
            zero blocks); without one, features are one block per digit from the bounds.
        device: ``cpu`` or ``cuda[:i]``; only RankNet uses a GPU, the others run on the CPU.
        digit_kinds: what each digit is, ``"categorical"``/``"ordinal"``/``"both"`` per digit
            (or one string for all), e.g. declared by a table. Passed on as the surrogate's
            ``digit_kinds`` option when it has one (``auto``); surrogates that only one-hot
            encode ignore it. None: the surrogate decides from the bounds (and
            ``space.digit_kinds`` if the space has that attribute).
        **options: keyword-only options of that surrogate (see its ``OPTIONS``); an unknown
            name or a bad value raises ``ValueError``.
    """
    cls = surrogate_class(name)
    if digit_kinds is not None and "digit_kinds" in cls.OPTIONS:
        options.setdefault("digit_kinds", digit_kinds)
    return cls(lower, upper, seed=seed, space=space, device=device, **options)


def _resolve_space(record: dict[str, Any] | None, space: OneHotSpace | None) -> OneHotSpace | None:
    if record is None:
        if space is not None:
            raise ValueError(
                "this surrogate was fitted on bounds-only features; load it without space="
            )
        return None
    if space is None:
        try:
            from segevo.nets.space import get_space

            space = get_space(record["name"])
        except Exception as error:
            raise ValueError(
                f"this surrogate was fitted with search space {record['name']!r}, which could "
                f"not be rebuilt ({error}); pass space= to load_surrogate"
            ) from error
    stored = record.get("digest")
    if stored is not None and callable(getattr(space, "digest", None)) and space.digest() != stored:
        raise ValueError(
            f"search space digest {space.digest()!r} differs from the one the surrogate was "
            f"fitted with ({stored!r})"
        )
    return space


def load_surrogate(path: str | Path, *, space: OneHotSpace | None = None) -> Surrogate:
    """Read a surrogate written by :meth:`Surrogate.save`.

    ``space`` must be given when the surrogate was fitted with a search space that
    ``segevo.nets.space.get_space(name)`` cannot rebuild; its digest is checked.
    """
    record = read_record(path)
    cls = surrogate_class(record.name)
    resolved_space = _resolve_space(record.space, space)
    if resolved_space is not None:
        lower, upper = as_bounds(record.lower, record.upper)
        space_lower, space_upper = as_bounds(resolved_space.lower, resolved_space.upper)
        if not (np.array_equal(space_lower, lower) and np.array_equal(space_upper, upper)):
            raise ValueError(f"{path}: stored bounds differ from the search space's bounds")
    device = record.device
    if device != "cpu":
        import torch

        if not torch.cuda.is_available():
            device = "cpu"  # predictions never need the GPU; a GPU-fitted model loads anywhere
    return cls.from_record(record, space=resolved_space, device=device)
