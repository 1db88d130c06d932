"""The ``Device`` interface and the shared measuring protocol of torch backends.

A device times a module on an input shape and says what it is (``identity()``), so that a
latency table records where it was measured. :class:`TorchDevice` implements the protocol of
:mod:`segevo.devices.measurement` once; a backend only supplies its torch device, its session
settings (threads, ...) and how it times one call.

torch is imported lazily: ``segevo.devices`` is imported by the engine, which never imports
torch at module import time.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .measurement import Measurement, Protocol, run_protocol

if TYPE_CHECKING:
    import torch

InputShape = Sequence[int] | Sequence[Sequence[int]]


class DeviceUnavailableError(ValueError):
    """The requested device cannot be used on this machine (no CUDA, index out of range...)."""


def normalize_shapes(input_shape: InputShape) -> tuple[tuple[int, ...], ...]:
    """One shape ``(N, C, H, W)`` or several (a module with several inputs) as a tuple of shapes."""
    items: list[Any] = list(input_shape)
    if not items:
        raise ValueError("input_shape is empty; give a shape such as (1, 3, 64, 64)")
    nested = [items] if all(isinstance(v, int | np.integer) for v in items) else items
    shapes = []
    for shape in nested:
        if not isinstance(shape, Sequence) or not all(
            isinstance(v, int | np.integer) for v in shape
        ):
            raise ValueError(
                f"input_shape must be a shape of ints or a sequence of such shapes, got {input_shape!r}"
            )
        dims = tuple(int(v) for v in shape)
        if not dims or any(v < 1 for v in dims):
            raise ValueError(f"every dimension of an input shape must be >= 1, got {dims}")
        shapes.append(dims)
    return tuple(shapes)


class Device(ABC):
    """Something that measures how long a module takes on an input (a latency backend)."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The registry name that recreates this device, e.g. ``cpu`` or ``cuda:1``."""

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """JSON-able description: hardware model, threads, runtime versions, options."""

    @abstractmethod
    def measure(
        self, module: torch.nn.Module, input_shape: InputShape, **protocol: Any
    ) -> Measurement:
        """Time ``module`` on random inputs of ``input_shape`` (batch dimension included).

        ``protocol`` overrides this device's :class:`Protocol` fields for this call.
        """

    def compatible_with(self, identity: dict[str, Any]) -> bool:
        """Whether timings recorded under ``identity`` can be mixed with this device's."""
        mine = self.identity()
        return all(mine.get(k) == identity.get(k) for k in self.identity_keys())

    def identity_keys(self) -> tuple[str, ...]:
        """The identity fields that must match for two sets of timings to be mixed."""
        return ("backend", "model", "threads", "torch")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class TorchDevice(Device):
    """A device that runs torch modules: warm-up, timed repeats, spread check (see Protocol)."""

    def __init__(self, **protocol: Any) -> None:
        self.protocol = Protocol().with_overrides(**protocol)

    @property
    @abstractmethod
    def torch_device(self) -> torch.device:
        """Where modules and inputs are placed."""

    @abstractmethod
    def _session(self) -> contextlib.AbstractContextManager[None]:
        """Settings held while measuring (thread count, current CUDA device...)."""

    @abstractmethod
    def _time_calls(self, call: Callable[[], object], protocol: Protocol) -> np.ndarray:
        """Per-call times (ms) of ``call``: at least ``min_repeats`` calls, then until the
        budget or ``max_repeats`` is reached."""

    def _synchronize(self) -> None:
        """Wait for queued work (a no-op on synchronous backends)."""

    def measure(
        self, module: torch.nn.Module, input_shape: InputShape, **protocol: Any
    ) -> Measurement:
        import torch

        proto = self.protocol.with_overrides(**protocol)
        shapes = normalize_shapes(input_shape)
        with self._session(), torch.inference_mode():
            module = module.to(self.torch_device).eval()
            generator = torch.Generator().manual_seed(0)
            inputs = [torch.randn(s, generator=generator).to(self.torch_device) for s in shapes]

            def call() -> object:
                return module(*inputs)

            return run_protocol(call, proto, self._time_calls, self._synchronize)
