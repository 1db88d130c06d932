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


@pytest.fixture(scope="session")
def micro():
    """A small user-defined space (other depths, two widths and expands): fast builds."""
    from segevo.nets.space import ResNetSpace

    return ResNetSpace(
        name="micro",
        base_hw=(32, 48),
        scales=(0.5, 0.75, 1.0),
        stem_out=(10, 12),
        stem_mid=(4, 6),
        stage_channels=(16, 32, 64, 128),
        base_depths=(1, 1, 2, 1),
        max_depths=(2, 2, 3, 2),
        strides=(1, 2, 2, 2),
        width_mults=(0.5, 1.0),
        expand_ratios=(0.25, 0.5),
        divisor=2,
        context_ch=8,
        fusion_ch=16,
        head_mid_ch=16,
        aux_mid_ch=8,
    )


@pytest.fixture
def fake_device() -> FakeDevice:
    return FakeDevice()


def random_record(space: Any, num_classes: int, seed: int = 0):
    """A complete LUTRecord for ``space`` with random (positive) timings, no measuring."""
    from segevo.devices.lut_file import LUTEntry, LUTRecord
    from segevo.devices.plan import enumerate_keys

    rng = np.random.default_rng(seed)
    keys = enumerate_keys(space, num_classes)
    entries = {}
    for key in keys:
        ms = float(rng.uniform(0.01, 5.0))
        entries[key] = LUTEntry(key.split("-")[0], Measurement(5, ms, 0.1, ms, ms * 1.1, ms * 0.9))
    return LUTRecord(
        space_name=space.name,
        space_digest=space.digest(),
        space_definition=space.definition(),
        base_hw=list(space.base_hw),
        num_classes=num_classes,
        device=FakeDevice().identity(),
        protocol={},
        expected_entries=len(keys),
        entries=entries,
        complete=True,
    )
