from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from segevo.devices import Device, Measurement
from segevo.devices.base import normalize_shapes
from segevo.nets.space import get_space


class FakeDevice(Device):
    """Instant, deterministic 'timings' (from parameter and input sizes); counts its calls.

    ``interrupt_after=n`` raises KeyboardInterrupt on call ``n + 1``, like a Ctrl-C mid-build.
    """

    def __init__(self, *, model: str = "fake-1", interrupt_after: int | None = None) -> None:
        self.model = model
        self.calls = 0
        self.interrupt_after = interrupt_after

    @property
    def name(self) -> str:
        return "fake"

    def identity(self) -> dict[str, Any]:
        return {"backend": "fake", "model": self.model, "threads": 1, "torch": torch.__version__}

    def measure(self, module: torch.nn.Module, input_shape: Any, **protocol: Any) -> Measurement:
        if self.interrupt_after is not None and self.calls >= self.interrupt_after:
            raise KeyboardInterrupt
        self.calls += 1
        shapes = normalize_shapes(input_shape)
        params = sum(p.numel() for p in module.parameters())
        ms = 1e-4 * params / 1000 + 1e-6 * sum(int(np.prod(s)) for s in shapes) + 0.01
        return Measurement(3, ms, 0.0, ms, ms, ms)


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny():
    return get_space("tiny")


@pytest.fixture
def fake_device() -> FakeDevice:
    return FakeDevice()
