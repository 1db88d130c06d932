"""The ``cpu`` device: torch on the host CPU with a fixed number of threads.

The default is one thread: single-stream inference, the most reproducible figure, and the only
honest one on a machine shared with other work. ``threads=0`` uses every logical core.
The thread count is set for the duration of each measurement and restored afterwards.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import TorchDevice
from .identity import cpu_model, runtime_versions
from .measurement import Protocol

if TYPE_CHECKING:
    import torch


class CPUDevice(TorchDevice):
    """Host CPU through torch, ``threads`` intra-op threads (0 = all logical cores)."""

    def __init__(self, *, threads: int = 1, **protocol: Any) -> None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise ValueError(f"threads must be an int >= 0 (0 = all cores), got {threads!r}")
        super().__init__(**protocol)
        self.threads = threads if threads > 0 else (os.cpu_count() or 1)

    @property
    def name(self) -> str:
        return "cpu"

    @property
    def torch_device(self) -> torch.device:
        import torch

        return torch.device("cpu")

    def identity(self) -> dict[str, Any]:
        import torch

        return {
            "backend": "cpu",
            "name": self.name,
            "model": cpu_model(),
            "threads": self.threads,
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
            **runtime_versions(),
        }

    @contextlib.contextmanager
    def _session(self) -> Iterator[None]:
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def _time_calls(self, call: Callable[[], object], protocol: Protocol) -> np.ndarray:
        samples: list[float] = []
        deadline = time.perf_counter() + protocol.budget_s
        while len(samples) < protocol.max_repeats:
            start = time.perf_counter_ns()
            call()
            samples.append((time.perf_counter_ns() - start) / 1e6)
            if len(samples) >= protocol.min_repeats and time.perf_counter() >= deadline:
                break
        return np.asarray(samples)
