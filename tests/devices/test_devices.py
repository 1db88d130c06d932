from __future__ import annotations

from pathlib import Path

import pytest
import torch

from segevo.devices import (
    DeviceUnavailableError,
    Measurement,
    available_devices,
    get_device,
    register_device,
    unregister_device,
)
from segevo.devices.cpu import CPUDevice
from segevo.devices.identity import cpu_model

FAST = {"warmup": 1, "min_repeats": 3, "max_repeats": 5, "budget_s": 0.01}


@pytest.mark.parametrize("name", available_devices())
def test_registered_device_conformance(name: str) -> None:
    """Every registered device measures a module and describes itself, or, where this
    machine lacks its hardware or runtime, refuses at once with an error naming it."""
    try:
        dev = get_device(name, **FAST)
    except DeviceUnavailableError as error:
        assert isinstance(error, ValueError)
        assert f"device '{name}" in str(error) and "not available" in str(error)
        pytest.skip(f"{name} is not available on this machine: {error}")
    assert dev.name.split(":")[0] == name
    identity = dev.identity()
    for field in ("backend", "model", "torch"):
        assert identity.get(field), field
    assert dev.compatible_with(identity)
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    m = dev.measure(conv, (1, 3, 16, 16))
    assert isinstance(m, Measurement)
    assert 3 <= m.count <= 5
    assert 0 < m.min_ms <= m.median_ms <= m.p95_ms
    assert m.mean_ms > 0 and m.std_ms >= 0
    # several inputs: a module taking two tensors
    m2 = dev.measure(_Add(), [(1, 4, 8, 8), (1, 4, 8, 8)], min_repeats=4, max_repeats=4)
    assert m2.count == 4


class _Add(torch.nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


def test_cpu_threads_are_set_then_restored() -> None:
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append((torch.get_num_threads(), torch.is_inference_mode_enabled(), self.training))
            return x

    torch.set_num_threads(1)
    dev = get_device("cpu", threads=2, **FAST)
    dev.measure(Probe().train(), (1, 2))
    assert set(seen) == {(2, True, False)}  # fixed threads, inference mode, eval mode
    assert torch.get_num_threads() == 1
    assert dev.identity()["threads"] == 2


def test_cpu_clock_option() -> None:
    """clock='cpu' counts the thread's CPU time: never more than the wall time of a call."""
    dev = get_device("cpu", threads=1, clock="cpu", **FAST)
    assert dev.identity()["clock"] == "cpu"
    wall = get_device("cpu", threads=1, **FAST)
    assert not dev.compatible_with(wall.identity())  # tables of the two clocks do not mix
    conv = torch.nn.Conv2d(8, 8, 3, padding=1)
    m = dev.measure(conv, (1, 8, 32, 32), min_repeats=20, max_repeats=20)
    assert m.count == 20 and m.median_ms > 0
    with pytest.raises(ValueError, match="threads=1"):
        get_device("cpu", threads=2, clock="cpu")
    with pytest.raises(ValueError, match="clock"):
        get_device("cpu", clock="tsc")


def test_cpu_zero_threads_means_all_cores() -> None:
    import os

    assert CPUDevice(threads=0).threads == (os.cpu_count() or 1)


@pytest.mark.parametrize("threads", [-1, 1.5, "2", True])
def test_cpu_rejects_bad_threads(threads: object) -> None:
    with pytest.raises(ValueError, match="threads"):
        get_device("cpu", threads=threads)


def test_cpu_rejects_bad_protocol_eagerly() -> None:
    with pytest.raises(ValueError, match="budget_s"):
        get_device("cpu", budget_s=-1)
    with pytest.raises(ValueError, match="allowed"):
        get_device("cpu", repeat=3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the error without CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_cuda_gives_clear_error(name: str) -> None:
    with pytest.raises(
        DeviceUnavailableError, match=r"torch\.cuda\.is_available\(\) is False"
    ) as err:
        get_device(name)
    assert f"'cuda:{name.partition(':')[2] or 0}'" in str(err.value)
    assert isinstance(err.value, ValueError)


def test_cuda_bad_options_are_rejected_before_the_cuda_check() -> None:
    with pytest.raises(ValueError, match="index"):
        get_device("cuda", index=-1)
    with pytest.raises(ValueError, match="warmup"):
        get_device("cuda", warmup=-2)
    with pytest.raises(ValueError, match="both"):
        get_device("cuda:1", index=1)


@pytest.mark.parametrize("name", ["tpu", "cpu:1", "cuda:x", ""])
def test_unknown_or_malformed_names(name: str) -> None:
    with pytest.raises(ValueError, match=f"device '{name}'"):
        get_device(name)


def test_plugins_register_by_name() -> None:
    from .conftest import FakeDevice

    register_device("fake-test", FakeDevice)
    try:
        assert "fake-test" in available_devices()
        assert isinstance(get_device("fake-test", model="m"), FakeDevice)
        with pytest.raises(ValueError, match="already registered"):
            register_device("fake-test", FakeDevice)
    finally:
        unregister_device("fake-test")
    assert "fake-test" not in available_devices()
    with pytest.raises(ValueError, match="name"):
        register_device("bad:name", FakeDevice)


def test_cpu_model_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: X\nmodel name\t: Example CPU @ 3.0GHz\n")
    assert cpu_model(info) == "Example CPU @ 3.0GHz"
    assert cpu_model(tmp_path / "missing")  # falls back to platform, never empty


# --------------------------------------------------------------------------- ONNX Runtime


def test_ort_cpu_is_available_where_onnxruntime_is() -> None:
    """The conformance test may skip an unavailable device; ort-cpu must not be one here."""
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    assert get_device("ort-cpu", **FAST).name == "ort-cpu"


def test_ort_cpu_session_runs_the_exported_module_with_the_threads_asked() -> None:
    """The session computes what the torch module computes (an independent oracle for the
    export), with the intra-op threads set; the identity records the runtime."""
    ort = pytest.importorskip("onnxruntime")
    from segevo.devices.ort import export_onnx

    dev = get_device("ort-cpu", threads=2, **FAST)
    assert dev.session_options().intra_op_num_threads == 2
    assert dev.session_options().inter_op_num_threads == 1
    identity = dev.identity()
    assert identity["threads"] == 2 and identity["onnxruntime"] == ort.__version__
    assert identity["providers"] == ["CPUExecutionProvider"] and identity["backend"] == "ort-cpu"
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU()
    ).eval()
    x = torch.randn(1, 3, 12, 10)
    session = dev.session(export_onnx(module, [x]))
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        expected = module(x).numpy()
    assert got.shape == expected.shape
    assert abs(got - expected).max() < 1e-4
    # threads are part of the identity: tables of 1 and 2 threads never mix
    assert not get_device("ort-cpu", threads=1).compatible_with(identity)
    assert not get_device("cpu", threads=2).compatible_with(identity)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"threads": -1}, "threads"),
        ({"optimization": "max"}, "optimization"),
        ({"budget_s": 0}, "budget_s"),
    ],
)
def test_ort_rejects_bad_options(options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        get_device("ort-cpu", **options)


def test_ort_without_onnxruntime_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    for name in ("ort-cpu", "ort-cuda"):
        with pytest.raises(DeviceUnavailableError) as err:
            get_device(name)
        message = str(err.value)
        assert "pip install 'segevo[ort]'" in message and "\n" not in message


def test_ort_cuda_without_the_cuda_provider_gives_clear_error() -> None:
    pytest.importorskip("onnxruntime")
    if _ort_cuda_available():
        pytest.skip("this onnxruntime has CUDAExecutionProvider")
    with pytest.raises(DeviceUnavailableError, match=r"'ort-cuda:1'.*no CUDAExecutionProvider"):
        get_device("ort-cuda:1")
    with pytest.raises(ValueError, match="index"):
        get_device("ort-cuda", index=-1)  # option errors come before the provider check


def _ort_cuda_available() -> bool:
    try:
        import onnxruntime
    except ImportError:
        return False
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def test_ort_cpu_clock_option() -> None:
    """clock='cpu': one thread runs the whole session on the caller, whose CPU time is timed."""
    pytest.importorskip("onnxruntime")
    dev = get_device("ort-cpu", threads=1, clock="cpu", **FAST)
    assert dev.identity()["clock"] == "cpu"
    assert not dev.compatible_with(get_device("ort-cpu", threads=1).identity())
    m = dev.measure(torch.nn.Conv2d(8, 8, 3, padding=1), (1, 8, 32, 32))
    assert m.median_ms > 0
    with pytest.raises(ValueError, match="threads=1"):
        get_device("ort-cpu", threads=2, clock="cpu")
    with pytest.raises(ValueError, match="clock"):
        get_device("ort-cpu", clock="tsc")
