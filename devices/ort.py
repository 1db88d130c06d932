"""``ort-cpu`` and ``ort-cuda[:i]``: latency as ONNX Runtime, the runtime people deploy with,
sees it.

Each module is exported with ``torch.onnx.export`` into memory (the TorchScript-based
exporter: it needs no extra package and exports a layer in a fraction of a second, where the
``torch.export``-based one needs onnxscript and seconds per module), loaded into an
``onnxruntime.InferenceSession`` with the device's thread count, and timed by the protocol
every backend shares (:func:`~segevo.devices.measurement.run_protocol`): warm-up calls, then
wall-clock timings of ``session.run`` until the repeat count or time budget, repeated when the
spread is too wide.

``threads`` (default 1) is the session's intra-op thread count (``0``: every logical core);
inter-op parallelism is off (sequential execution), as for single-stream inference. With one
thread onnxruntime runs the whole graph on the calling thread, so ``clock="cpu"`` (as on the
torch ``cpu`` device) can time that thread's CPU time instead of the wall clock, leaving out
the waits for a core on a machine loaded by other work. Graph
optimisations are ONNX Runtime's default for deployment (``ORT_ENABLE_ALL``): layer fusion
is part of what the table should measure.

On ``ort-cuda`` a sample is one ``session.run`` with host inputs and outputs (the copies
included: what a caller of ``run`` waits for). Without ``CUDAExecutionProvider`` (the CPU
build of onnxruntime, or no GPU) the device raises :class:`DeviceUnavailableError`.

onnxruntime is imported when a device is made, never at import time; without it the device
raises ``DeviceUnavailableError`` naming ``pip install 'segevo[ort]'``.
"""

from __future__ import annotations

import io
import os
import time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import Device, DeviceUnavailableError, InputShape, normalize_shapes
from .identity import cpu_model, runtime_versions
from .measurement import Measurement, Protocol, run_protocol, time_calls

if TYPE_CHECKING:
    import torch

OPSET = 17
"""ONNX opset of the exported layers (supported by every onnxruntime >= 1.14)."""

OPTIMIZATIONS = ("all", "extended", "basic", "disabled")
CLOCKS = ("wall", "cpu")


def import_onnxruntime(device: str = "ort-cpu") -> Any:
    """The ``onnxruntime`` module, or DeviceUnavailableError saying how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise DeviceUnavailableError(
            f"device {device!r} is not available: onnxruntime is not installed; "
            "pip install 'segevo[ort]'"
        ) from None
    return onnxruntime


def export_onnx(
    module: torch.nn.Module, inputs: list[torch.Tensor], *, opset: int = OPSET
) -> bytes:
    """``module`` (in eval mode) as a serialised ONNX model taking ``inputs``' shapes."""
    import torch

    buffer = io.BytesIO()
    names = [f"input{i}" for i in range(len(inputs))]
    with warnings.catch_warnings(), torch.no_grad():
        # the TorchScript exporter is deprecated in favour of one that needs onnxscript
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            module.eval(),
            tuple(inputs),
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=names,
            do_constant_folding=True,
        )
    return buffer.getvalue()


class OrtDevice(Device):
    """An ONNX Runtime execution provider (``cpu`` or ``cuda``) as a latency target."""

    provider: str = "cpu"

    def __init__(
        self,
        *,
        threads: int = 1,
        optimization: str = "all",
        clock: str = "wall",
        **protocol: Any,
    ) -> None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise ValueError(f"threads must be an int >= 0 (0 = all cores), got {threads!r}")
        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
        if optimization not in OPTIMIZATIONS:
            raise ValueError(
                f"optimization must be one of {', '.join(OPTIMIZATIONS)}, got {optimization!r}"
            )
        self.protocol = Protocol().with_overrides(**protocol)
        self.threads = threads if threads > 0 else (os.cpu_count() or 1)
        self.optimization = optimization
        if clock == "cpu" and (self.threads != 1 or self.provider != "cpu"):
            raise ValueError(
                "clock='cpu' times the calling thread, which runs the whole session only on "
                f"ort-cpu with threads=1 (got {self.name}, threads={self.threads})"
            )
        self.clock = clock
        self._now_ns = time.perf_counter_ns if clock == "wall" else time.thread_time_ns
        self._ort = import_onnxruntime(self.name)
        self._check_provider()

    # -- what differs between providers
    def _check_provider(self) -> None:
        """Raise DeviceUnavailableError when this provider cannot run here."""

    def _providers(self) -> list[Any]:
        return ["CPUExecutionProvider"]

    def _model(self) -> str:
        return cpu_model()

    @property
    def name(self) -> str:
        return "ort-cpu"

    # -- Device
    def identity(self) -> dict[str, Any]:
        return {
            "backend": f"ort-{self.provider}",
            "name": self.name,
            "model": self._model(),
            "threads": self.threads,
            "onnxruntime": self._ort.__version__,
            "providers": [p if isinstance(p, str) else p[0] for p in self._providers()],
            "opset": OPSET,
            "exporter": "torchscript",
            "optimization": self.optimization,
            "clock": self.clock,
            **runtime_versions(),
        }

    def identity_keys(self) -> tuple[str, ...]:
        return (
            "backend",
            "model",
            "threads",
            "clock",
            "torch",
            "onnxruntime",
            "providers",
            "opset",
            "optimization",
        )

    def session_options(self) -> Any:
        """The ``SessionOptions`` of every session this device makes."""
        ort = self._ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = {
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        }[self.optimization]
        options.log_severity_level = 3  # errors only: no per-session optimiser chatter
        return options

    def session(self, model: bytes) -> Any:
        """An ``InferenceSession`` of a serialised ONNX model on this device."""
        session = self._ort.InferenceSession(
            model, sess_options=self.session_options(), providers=self._providers()
        )
        wanted = self._providers()[0]
        wanted = wanted if isinstance(wanted, str) else wanted[0]
        if wanted not in session.get_providers():
            raise DeviceUnavailableError(
                f"device {self.name!r}: onnxruntime made a session on {session.get_providers()} "
                f"instead of {wanted}"
            )
        return session

    def measure(
        self, module: torch.nn.Module, input_shape: InputShape, **protocol: Any
    ) -> Measurement:
        import torch

        proto = self.protocol.with_overrides(**protocol)
        shapes = normalize_shapes(input_shape)
        generator = torch.Generator().manual_seed(0)
        inputs = [torch.randn(s, generator=generator) for s in shapes]
        module = module.to("cpu").eval()
        session = self.session(export_onnx(module, inputs))
        feeds = {
            arg.name: np.ascontiguousarray(tensor.numpy())
            for arg, tensor in zip(session.get_inputs(), inputs, strict=True)
        }
        run = session.run

        def call() -> object:
            return run(None, feeds)

        return run_protocol(call, proto, self._time_calls)

    def _time_calls(self, call: Any, protocol: Protocol) -> np.ndarray:
        return time_calls(call, protocol, self._now_ns)


class OrtCPUDevice(OrtDevice):
    """``ort-cpu``: onnxruntime's CPU execution provider, ``threads`` intra-op threads."""

    provider = "cpu"


class OrtCUDADevice(OrtDevice):
    """``ort-cuda[:i]``: onnxruntime's CUDA execution provider on GPU ``index``."""

    provider = "cuda"

    def __init__(self, *, index: int = 0, **options: Any) -> None:
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ValueError(f"index must be an int >= 0, got {index!r}")
        self.index = index
        super().__init__(**options)

    @property
    def name(self) -> str:
        return f"ort-cuda:{self.index}"

    def _check_provider(self) -> None:
        available = self._ort.get_available_providers()
        if "CUDAExecutionProvider" not in available:
            raise DeviceUnavailableError(
                f"device {self.name!r} is not available: this onnxruntime "
                f"{self._ort.__version__} has no CUDAExecutionProvider (it offers "
                f"{', '.join(available)}); install onnxruntime-gpu on a machine with an "
                "NVIDIA GPU, or use 'ort-cpu'"
            )

    def _providers(self) -> list[Any]:
        return [("CUDAExecutionProvider", {"device_id": self.index}), "CPUExecutionProvider"]

    def _model(self) -> str:
        try:
            import torch

            if torch.cuda.is_available() and self.index < torch.cuda.device_count():
                return str(torch.cuda.get_device_properties(self.index).name)
        except (ImportError, RuntimeError):
            pass
        return f"CUDA device {self.index}"
