"""The ``cuda`` / ``cuda:i`` device: one NVIDIA GPU, timed with CUDA events.

Each timed call is bracketed by two events on the current stream and the host waits for the
second one, so a sample is the latency of one batch (launch overhead included), not a share
of a pipelined throughput. cuDNN autotuning is off unless ``cudnn_benchmark=True``: with it
on, the first calls of every new shape would pick algorithms and the warm-up must cover that.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import DeviceUnavailableError, TorchDevice
from .identity import cpu_model, runtime_versions
from .measurement import Protocol

if TYPE_CHECKING:
    import torch


class CUDADevice(TorchDevice):
    """GPU ``index`` through torch.cuda; raises DeviceUnavailableError without CUDA."""

    def __init__(self, *, index: int = 0, cudnn_benchmark: bool = False, **protocol: Any) -> None:
        import torch

        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ValueError(f"index must be an int >= 0, got {index!r}")
        if not isinstance(cudnn_benchmark, bool):
            raise ValueError(f"cudnn_benchmark must be a bool, got {cudnn_benchmark!r}")
        super().__init__(**protocol)
        if not torch.cuda.is_available():
            built = torch.version.cuda or "no CUDA support (a CPU-only build)"
            raise DeviceUnavailableError(
                f"device 'cuda:{index}' is not available: torch.cuda.is_available() is False "
                f"(torch {torch.__version__}, built with {built}); use 'cpu' or run on a "
                "machine with an NVIDIA GPU and a CUDA build of torch"
            )
        count = torch.cuda.device_count()
        if index >= count:
            raise DeviceUnavailableError(
                f"device 'cuda:{index}' does not exist: this machine has {count} CUDA "
                f"device(s), indices 0..{count - 1}"
            )
        self.index = index
        self.cudnn_benchmark = cudnn_benchmark

    @property
    def name(self) -> str:
        return f"cuda:{self.index}"

    @property
    def torch_device(self) -> torch.device:
        import torch

        return torch.device("cuda", self.index)

    def identity(self) -> dict[str, Any]:
        import torch

        props = torch.cuda.get_device_properties(self.index)
        return {
            "backend": "cuda",
            "name": self.name,
            "model": props.name,
            "threads": None,
            "compute_capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30, 1),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "cudnn_benchmark": self.cudnn_benchmark,
            "host_cpu": cpu_model(),
            **runtime_versions(),
        }

    def identity_keys(self) -> tuple[str, ...]:
        return ("backend", "model", "torch", "cuda", "cudnn_benchmark")

    @contextlib.contextmanager
    def _session(self) -> Iterator[None]:
        import torch

        before = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = self.cudnn_benchmark
        try:
            with torch.cuda.device(self.index):
                yield
        finally:
            torch.backends.cudnn.benchmark = before

    def _synchronize(self) -> None:
        import torch

        torch.cuda.synchronize(self.index)

    def _time_calls(self, call: Callable[[], object], protocol: Protocol) -> np.ndarray:
        import torch

        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        samples: list[float] = []
        deadline = time.perf_counter() + protocol.budget_s
        while len(samples) < protocol.max_repeats:
            start.record()
            call()
            end.record()
            end.synchronize()
            samples.append(float(start.elapsed_time(end)))
            if len(samples) >= protocol.min_repeats and time.perf_counter() >= deadline:
                break
        return np.asarray(samples)
