"""Validation of the options that define a space (positive integers, numbers, (H, W) pairs)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def positive_ints(field: str, values: Sequence[int]) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{field} must be a sequence of positive integers, got {values!r}"
        ) from exc
    if not out or any(v < 1 or v != orig for v, orig in zip(out, values, strict=True)):
        raise ValueError(
            f"{field} must be a non-empty sequence of positive integers, got {values!r}"
        )
    return out


def positive_floats(field: str, values: Sequence[float]) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{field} must be a sequence of positive numbers, got {values!r}") from exc
    if not out or any(not math.isfinite(v) or v <= 0 for v in out):
        raise ValueError(
            f"{field} must be a non-empty sequence of positive numbers, got {values!r}"
        )
    if len(set(out)) != len(out):
        raise ValueError(f"{field} must not repeat a value, got {values!r}")
    return out


def int_pair(field: str, values: Sequence[int]) -> tuple[int, int]:
    pair = positive_ints(field, values)
    if len(pair) != 2:
        raise ValueError(f"{field} must be (height, width), got {values!r}")
    return pair[0], pair[1]
