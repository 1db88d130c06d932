"""The ``cpu`` device: torch on the host CPU with a fixed number of threads.

The default is one thread: single-stream inference, the most reproducible figure, and the only
honest one on a machine shared with other work. ``threads=0`` uses every logical core.
The thread count is set for the duration of each measurement and restored afterwards.

``clock="wall"`` (the default) times calls with the wall clock: the latency a user sees.
``clock="cpu"`` (one thread only) times the CPU time of the calling thread instead, which
leaves out the time the thread waited for a core: on a machine loaded by other work, a call
longer than a scheduler slice is stretched by the load on the wall clock while short calls
mostly are not, which biases sums of short parts against whole networks. Both clocks agree on
an idle machine.
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
from .measurement import Protocol, time_calls

if TYPE_CHECKING:
    import torch

CLOCKS = ("wall", "cpu")


class CPUDevice(TorchDevice):
    """Host CPU through torch, ``threads`` intra-op threads (0 = all logical cores)."""

    def __init__(self, *, threads: int = 1, clock: str = "wall", **protocol: Any) -> None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise ValueError(f"threads must be an int >= 0 (0 = all cores), got {threads!r}")
        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
        super().__init__(**protocol)
        self.threads = threads if threads > 0 else (os.cpu_count() or 1)
        if clock == "cpu" and self.threads != 1:
            raise ValueError(
                f"clock='cpu' times the calling thread only, so it needs threads=1 (got {self.threads})"
            )
        self.clock = clock
        self._now_ns = time.perf_counter_ns if clock == "wall" else time.thread_time_ns

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
            "clock": self.clock,
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
            **runtime_versions(),
        }

    def identity_keys(self) -> tuple[str, ...]:
        return (*super().identity_keys(), "clock")

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
        return time_calls(call, protocol, self._now_ns)
