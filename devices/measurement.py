"""One latency measurement: summary statistics of repeated timings, and the protocol options.

The protocol (shared by every backend that times real calls): a warm-up, then timed calls
until a count or a time budget is reached; the summary is judged by its spread (p95 / median)
and repeated when the spread is too wide, keeping the tightest attempt and flagging it when
no attempt was tight enough. Medians, not means, feed the look-up table: on a loaded machine
the slow tail is other people's work, not the layer's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from segevo.nets.plugins import check_options


@dataclass(frozen=True)
class Measurement:
    """Summary of the timings of one module on one input shape (all times in milliseconds).

    ``attempts`` is how many timing rounds were run (more than one when the spread was too
    wide); ``flagged`` is true when even the best attempt stayed wider than the device's
    ``max_spread``.
    """

    count: int
    mean_ms: float
    std_ms: float
    median_ms: float
    p95_ms: float
    min_ms: float
    attempts: int = 1
    flagged: bool = False

    @property
    def spread(self) -> float:
        """p95 / median: 1.0 for perfectly steady timings."""
        return self.p95_ms / self.median_ms if self.median_ms > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (the inverse of :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        """Rebuild from :meth:`to_dict` output; raises ValueError naming a missing field."""
        try:
            return cls(
                count=int(data["count"]),
                mean_ms=float(data["mean_ms"]),
                std_ms=float(data["std_ms"]),
                median_ms=float(data["median_ms"]),
                p95_ms=float(data["p95_ms"]),
                min_ms=float(data["min_ms"]),
                attempts=int(data.get("attempts", 1)),
                flagged=bool(data.get("flagged", False)),
            )
        except KeyError as err:
            raise ValueError(f"measurement record lacks the field {err.args[0]!r}") from None
        except (TypeError, ValueError) as err:
            raise ValueError(f"measurement record has a malformed field: {err}") from None


def summarize(samples_ms: Sequence[float] | np.ndarray, *, attempts: int = 1) -> Measurement:
    """Summary statistics of a non-empty list of per-call timings in milliseconds."""
    times = np.asarray(samples_ms, dtype=np.float64)
    if times.ndim != 1 or times.size == 0:
        raise ValueError("summarize needs a non-empty 1-D sequence of timings")
    if not np.all(np.isfinite(times)) or np.any(times < 0):
        raise ValueError("timings must be finite and non-negative")
    return Measurement(
        count=int(times.size),
        mean_ms=float(times.mean()),
        std_ms=float(times.std(ddof=1)) if times.size > 1 else 0.0,
        median_ms=float(np.median(times)),
        p95_ms=float(np.percentile(times, 95)),
        min_ms=float(times.min()),
        attempts=attempts,
    )


@dataclass(frozen=True)
class Protocol:
    """How a device times a module.

    ``warmup`` untimed calls; then timed calls until ``max_repeats`` calls, or until at least
    ``min_repeats`` calls and ``budget_s`` seconds; an attempt whose p95 / median exceeds
    ``max_spread`` is repeated up to ``retries`` more times.
    """

    warmup: int = 5
    min_repeats: int = 10
    max_repeats: int = 200
    budget_s: float = 0.3
    max_spread: float = 2.0
    retries: int = 2

    def __post_init__(self) -> None:
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")
        if self.min_repeats < 1:
            raise ValueError(f"min_repeats must be >= 1, got {self.min_repeats}")
        if self.max_repeats < self.min_repeats:
            raise ValueError(
                f"max_repeats ({self.max_repeats}) must be >= min_repeats ({self.min_repeats})"
            )
        if not (self.budget_s > 0 and math.isfinite(self.budget_s)):
            raise ValueError(f"budget_s must be a positive number of seconds, got {self.budget_s}")
        if not self.max_spread >= 1.0:
            raise ValueError(f"max_spread (p95 / median) must be >= 1.0, got {self.max_spread}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")

    def with_overrides(self, **overrides: Any) -> Protocol:
        """A copy with the given non-None fields replaced (validated again)."""
        fields = asdict(self)
        check_options("measuring", "protocol", overrides, fields)
        fields.update({k: v for k, v in overrides.items() if v is not None})
        return Protocol(**fields)


def time_calls(
    call: Callable[[], object], protocol: Protocol, now_ns: Callable[[], int] = time.perf_counter_ns
) -> np.ndarray:
    """Per-call times (ms) of ``call`` on the clock ``now_ns``: at least ``min_repeats`` calls,
    then until ``budget_s`` (wall clock) or ``max_repeats`` is reached."""
    samples: list[float] = []
    deadline = time.perf_counter() + protocol.budget_s
    while len(samples) < protocol.max_repeats:
        start = now_ns()
        call()
        samples.append((now_ns() - start) / 1e6)
        if len(samples) >= protocol.min_repeats and time.perf_counter() >= deadline:
            break
    return np.asarray(samples)


def run_protocol(
    call: Callable[[], object],
    protocol: Protocol,
    timer: Callable[[Callable[[], object], Protocol], np.ndarray],
    synchronize: Callable[[], None] = lambda: None,
) -> Measurement:
    """The measuring protocol every backend shares: ``warmup`` untimed calls, then rounds of
    ``timer(call, protocol)`` until one's spread (p95 / median) is within ``max_spread``
    (at most ``retries`` more rounds); the tightest round is kept, flagged when too wide."""
    for _ in range(protocol.warmup):
        call()
    synchronize()
    best: Measurement | None = None
    attempt = 0
    for attempt in range(1, protocol.retries + 2):
        result = summarize(timer(call, protocol), attempts=attempt)
        if best is None or result.spread < best.spread:
            best = result
        if result.spread <= protocol.max_spread:
            break
    assert best is not None
    return Measurement(
        **{**best.to_dict(), "attempts": attempt, "flagged": best.spread > protocol.max_spread}
    )
