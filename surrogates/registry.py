"""Surrogates registered by name; built-ins are imported only when first asked for.

Lazy loading keeps ``import segevo.surrogates`` free of torch and scikit-learn, so the
engine can import it at module level.
"""

from __future__ import annotations

import importlib
from typing import Any

from .base import Surrogate
from .encoding import OneHotSpace

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
_REGISTERED: dict[str, type[Surrogate]] = {}


def register_surrogate(name: str, cls: type[Surrogate]) -> None:
    """Make ``cls`` (a :class:`Surrogate` subclass) available as ``make_surrogate(name, ...)``."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"surrogate name must be an identifier, got {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Surrogate)):
        raise ValueError(f"{cls!r} is not a Surrogate subclass")
    if cls.name != name:
        raise ValueError(f"{cls.__name__}.name is {cls.name!r}; it must equal {name!r}")
    if name in _BUILTIN or name in _REGISTERED:
        raise ValueError(f"surrogate {name!r} is already registered")
    _REGISTERED[name] = cls


def available_surrogates() -> list[str]:
    """Names accepted by :func:`make_surrogate`."""
    return [*_BUILTIN, *_REGISTERED]


def surrogate_class(name: str) -> type[Surrogate]:
    """The class registered under ``name``."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in _BUILTIN:
        raise ValueError(
            f"unknown surrogate {name!r}; available: {', '.join(available_surrogates())}"
        )
    module_name, attribute = _BUILTIN[name].split(":")
    module = importlib.import_module(f".{module_name}", __package__)
    cls: type[Surrogate] = getattr(module, attribute)
    return cls


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
