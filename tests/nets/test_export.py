from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from segevo.nets import export as export_module
from segevo.nets.export import check_space, export_network, load_exported, read_metadata
from segevo.nets.space import get_space
from segevo.nets.supernet import SuperNet

torch.set_num_threads(1)
CLASSES = ["road", "car", "sky"]


@pytest.fixture(scope="module")
def extracted():
    torch.manual_seed(0)
    space = get_space("tiny")
    supernet = SuperNet(space, len(CLASSES)).eval()
    x = space.sample(1, 5)[0]
    return space, x, supernet.extract(x)


def test_torchscript_round_trip(tmp_path, extracted) -> None:
    space, x, net = extracted
    files = export_network(
        net, tmp_path / "net.pt", space=space, x=x, class_names=CLASSES, onnx=False
    )
    assert files.onnx is None and "not requested" in files.note
    module, meta = load_exported(files.torchscript)
    images = torch.randn(2, 3, 40, 72)  # not the architecture's input size: any size works
    with torch.no_grad():
        torch.testing.assert_close(module(images), net(images), rtol=0, atol=1e-6)
    assert meta["x"] == [int(v) for v in x]
    assert meta["space"] == "tiny" and meta["space_digest"] == space.digest()
    assert meta["class_names"] == CLASSES and meta["num_classes"] == 3
    assert meta["input_hw"] == list(space.decode(x).input_hw)
    assert meta["params"] == sum(p.numel() for p in net.parameters())
    assert json.loads(files.metadata.read_text()) == meta
    assert read_metadata(files.torchscript) == meta
    check_space(meta, space)
    with pytest.raises(ValueError, match="not 'r50'"):
        check_space(meta, get_space("r50"))


def test_onnx_export_matches(tmp_path, extracted) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    space, x, net = extracted
    files = export_network(net, tmp_path / "net.pt", space=space, x=x, class_names=CLASSES)
    assert files.onnx is not None and files.onnx.is_file()
    model = onnx.load(str(files.onnx))
    props = {p.key: json.loads(p.value) for p in model.metadata_props}
    assert props["segevo.x"] == [int(v) for v in x]
    assert props["segevo.class_names"] == CLASSES
    images = torch.randn(1, 3, 32, 48)
    (got,) = ReferenceEvaluator(model).run(None, {"images": images.numpy()})
    with torch.no_grad():
        expected = net(images).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)


def test_onnx_missing(tmp_path, extracted, monkeypatch) -> None:
    space, x, net = extracted
    monkeypatch.setattr(export_module, "onnx_available", lambda: False)
    with pytest.raises(ValueError, match="pip install"):
        export_network(net, tmp_path / "a.pt", space=space, x=x, class_names=CLASSES, onnx=True)
    files = export_network(net, tmp_path / "b.pt", space=space, x=x, class_names=CLASSES)
    assert files.onnx is None and "not installed" in files.note
    assert files.torchscript.is_file()


def test_export_bad_input(tmp_path, extracted) -> None:
    space, x, net = extracted
    with pytest.raises(ValueError, match="parameters"):
        export_network(net, tmp_path / "n.pt", space=space, x=x, class_names=["a", "b"], onnx=False)
    with pytest.raises(ValueError, match="TorchScript path"):
        export_network(net, tmp_path / "n.onnx", space=space, x=x, class_names=CLASSES)
    other = space.largest()
    with pytest.raises(ValueError, match="parameters"):
        export_network(
            net, tmp_path / "n.pt", space=space, x=other, class_names=CLASSES, onnx=False
        )
    with pytest.raises(FileNotFoundError):
        load_exported(tmp_path / "missing.pt")
    assert net.training is False
