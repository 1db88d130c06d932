"""Keyword-only plugin options, declared once per surrogate and validated eagerly."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from segevo.nets.plugins import check_options


@dataclass(frozen=True)
class Option:
    """One option: its default, a checker returning an error text (or None), and what it is."""

    default: Any
    check: Callable[[Any], str | None]
    doc: str


def int_range(low: int, high: int | None = None) -> Callable[[Any], str | None]:
    """An integer in ``[low, high]`` (``high=None``: unbounded above); bools are refused."""

    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, got {value!r}"
        if value < low or (high is not None and value > high):
            upper = "inf" if high is None else str(high)
            return f"must be in [{low}, {upper}], got {value}"
        return None

    return check


def float_range(
    low: float, high: float = math.inf, *, low_open: bool = False
) -> Callable[[Any], str | None]:
    """A finite real in ``[low, high]`` (``(low, high]`` when ``low_open``)."""

    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number, got {value!r}"
        value = float(value)
        if not math.isfinite(value):
            return f"must be finite, got {value}"
        too_low = value <= low if low_open else value < low
        if too_low or value > high:
            bracket = "(" if low_open else "["
            return f"must be in {bracket}{low}, {high}], got {value}"
        return None

    return check


def one_of(*choices: Any) -> Callable[[Any], str | None]:
    """One of a fixed set of values."""

    def check(value: Any) -> str | None:
        if value not in choices:
            return f"must be one of {', '.join(map(repr, choices))}; got {value!r}"
        return None

    return check


def optional(inner: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    """``None`` or whatever ``inner`` accepts."""

    def check(value: Any) -> str | None:
        return None if value is None else inner(value)

    return check


def auto_or(inner: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    """The string ``"auto"`` or whatever ``inner`` accepts."""

    def check(value: Any) -> str | None:
        if value == "auto":
            return None
        problem = inner(value)
        return None if problem is None else f"{problem} (or 'auto')"

    return check


def subset_of(*choices: str) -> Callable[[Any], str | None]:
    """A non-empty tuple/list of distinct names drawn from ``choices``."""

    def check(value: Any) -> str | None:
        if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
            return f"must be a non-empty list of names from {list(choices)}, got {value!r}"
        unknown = [v for v in value if v not in choices]
        if unknown:
            return f"has unknown names {unknown}; allowed: {list(choices)}"
        if len(set(value)) != len(value):
            return f"has repeated names: {list(value)}"
        return None

    return check


def resolve_options(
    plugin: str, declared: Mapping[str, Option], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Defaults overlaid with ``given``; an unknown name or a bad value raises ``ValueError``."""
    check_options("surrogate", plugin, given, declared)
    resolved = {name: option.default for name, option in declared.items()}
    for name, value in given.items():
        problem = declared[name].check(value)
        if problem is not None:
            raise ValueError(f"option {name!r} of surrogate {plugin!r} {problem}")
        resolved[name] = list(value) if isinstance(value, tuple) else value
    return resolved
