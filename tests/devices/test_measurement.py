from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch

from segevo.devices import Measurement, Protocol, TorchDevice, summarize
from segevo.devices.measurement import Protocol as ProtocolCls


def test_summarize_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    times = rng.gamma(2.0, 1.5, size=101)
    m = summarize(times)
    assert m.count == 101
    assert m.mean_ms == pytest.approx(times.mean())
    assert m.std_ms == pytest.approx(times.std(ddof=1))
    assert m.median_ms == pytest.approx(np.median(times))
    assert m.p95_ms == pytest.approx(np.percentile(times, 95))
    assert m.min_ms == pytest.approx(times.min())
    assert m.spread == pytest.approx(np.percentile(times, 95) / np.median(times))
    assert Measurement.from_dict(m.to_dict()) == m


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [-1.0], [[1.0, 2.0]]])
def test_summarize_rejects_bad_timings(bad: list) -> None:
    with pytest.raises(ValueError):
        summarize(bad)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("warmup", -1),
        ("min_repeats", 0),
        ("max_repeats", 1),
        ("budget_s", 0.0),
        ("budget_s", float("inf")),
        ("max_spread", 0.5),
        ("retries", -1),
    ],
)
def test_protocol_rejects_bad_options(option: str, value: float) -> None:
    with pytest.raises(ValueError, match=option):
        Protocol(**{"min_repeats": 2, **{option: value}})


def test_protocol_unknown_override_names_allowed() -> None:
    with pytest.raises(ValueError, match="allowed"):
        ProtocolCls().with_overrides(repeats=3)


class ScriptedDevice(TorchDevice):
    """Returns scripted timing rounds, to test the spread / retry / flag logic."""

    def __init__(self, rounds: list[list[float]], **protocol: float) -> None:
        super().__init__(**protocol)
        self.rounds = list(rounds)
        self.calls = 0

    @property
    def name(self) -> str:
        return "scripted"

    @property
    def torch_device(self) -> torch.device:
        return torch.device("cpu")

    def identity(self) -> dict:
        return {"backend": "scripted"}

    @contextlib.contextmanager
    def _session(self) -> Iterator[None]:
        yield

    def _time_calls(self, call: Callable[[], object], protocol: Protocol) -> np.ndarray:
        call()
        self.calls += 1
        return np.asarray(self.rounds.pop(0))


STEADY = [1.0] * 20
WIDE = [1.0] * 18 + [9.0, 9.0]  # p95 / median = 9 (numpy percentile interpolates to 9)


def test_steady_round_is_taken_at_once() -> None:
    dev = ScriptedDevice([STEADY], warmup=0, max_spread=1.5)
    m = dev.measure(torch.nn.Identity(), (1, 2))
    assert (m.attempts, m.flagged, dev.calls) == (1, False, 1)


def test_wide_round_is_repeated_then_accepted() -> None:
    dev = ScriptedDevice([WIDE, STEADY], warmup=0, max_spread=1.5, retries=2)
    m = dev.measure(torch.nn.Identity(), (1, 2))
    assert (m.attempts, m.flagged, m.p95_ms) == (2, False, 1.0)


def test_always_wide_is_flagged_and_keeps_tightest() -> None:
    wider = [1.0] * 18 + [30.0, 30.0]
    dev = ScriptedDevice([wider, WIDE, wider], warmup=0, max_spread=1.5, retries=2)
    m = dev.measure(torch.nn.Identity(), (1, 2))
    assert m.flagged and m.attempts == 3
    assert m.median_ms == pytest.approx(np.median(WIDE))
