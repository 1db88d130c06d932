"""Save an extracted sub-network as TorchScript (and ONNX), with what it is; load it back.

``export_network(net, path, space=..., x=..., class_names=...)`` writes:

- ``path`` (e.g. ``net.pt``): the TorchScript module (``torch.jit.script`` of the eval-mode
  network: same outputs as the module), with the metadata in its extra file ``segevo.json``;
- ``path`` with suffix ``.json``: the same metadata as a readable sidecar;
- ``path`` with suffix ``.onnx`` (when ``onnx`` is importable, or required with ``onnx=True``):
  the ONNX graph (input ``images`` [N, 3, H, W], output ``logits`` [N, K, H, W]; batch and
  size dynamic), the metadata in its ``metadata_props``.

Metadata (``segevo.json``): ``format``, ``x`` (the architecture vector), ``space`` (name),
``space_digest``, ``space_definition``, ``num_classes``, ``class_names``, ``input_hw`` (the
size the architecture's input scale gives; the network accepts any size), ``params``,
``flops`` (multiply-accumulates at ``input_hw``).

``load_exported(path)`` returns ``(torchscript module in eval mode, metadata dict)``.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from segevo.nets.space import SearchSpace

METADATA_FILE = "segevo.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ExportedFiles:
    """Where ``export_network`` wrote; ``onnx`` is None when it was skipped (see ``note``)."""

    torchscript: Path
    metadata: Path
    onnx: Path | None
    note: str = ""


def onnx_available() -> bool:
    """Whether the ``onnx`` package can be imported (needed to check and annotate ONNX files)."""
    return importlib.util.find_spec("onnx") is not None


def network_metadata(
    space: SearchSpace, x: Any, class_names: Sequence[str], net: nn.Module | None = None
) -> dict[str, Any]:
    """The metadata stored with an exported network (validated against ``space``)."""
    vec = space.validate(np.asarray(x))
    if vec.ndim != 1:
        raise ValueError("export one architecture vector at a time")
    names = [str(c) for c in class_names]
    if not names:
        raise ValueError("class_names must name at least one class")
    arch = space.decode(vec)
    meta: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "x": [int(v) for v in vec],
        "space": space.name,
        "space_digest": space.digest(),
        "space_definition": space.definition(),
        "num_classes": len(names),
        "class_names": names,
        "input_hw": list(arch.input_hw),
        "flops": int(space.flops(vec, len(names))),
        "params": int(space.params(vec, len(names))),
    }
    if net is not None:
        counted = sum(p.numel() for p in net.parameters())
        if counted != meta["params"]:
            raise ValueError(
                f"the network has {counted} parameters but architecture {meta['x']} of space "
                f"{space.name!r} has {meta['params']} with {len(names)} classes: wrong network, "
                f"architecture or class list"
            )
    return meta


def export_network(
    net: nn.Module,
    path: str | Path,
    *,
    space: SearchSpace,
    x: Any,
    class_names: Sequence[str],
    onnx: bool | None = None,
    opset: int = 17,
) -> ExportedFiles:
    """Write ``net`` (a standalone network, e.g. ``SuperNet.extract(x)``) as TorchScript, a
    JSON sidecar and, when possible, ONNX.

    ``onnx``: None exports ONNX if the ``onnx`` package is importable (otherwise the result's
    ``note`` says why not); True requires it (ValueError when missing); False skips it.
    """
    path = Path(path)
    if path.suffix in (".json", ".onnx"):
        raise ValueError(
            f"{path}: give the TorchScript path (e.g. net.pt); .json/.onnx are written beside it"
        )
    meta = network_metadata(space, x, class_names, net)
    if onnx is True and not onnx_available():
        raise ValueError("ONNX export needs the onnx package: pip install 'segevo[onnx]' (or onnx)")
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = net.training
    net.eval()
    try:
        text = json.dumps(meta, indent=2, sort_keys=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            # TorchScript is deprecated in favour of torch.export, but it is still the format
            # that runs without Python (C++ libtorch) and keeps dynamic input sizes
            scripted = torch.jit.script(net)
            tmp = path.with_name(path.name + ".tmp")
            torch.jit.save(scripted, str(tmp), _extra_files={METADATA_FILE: text})
        tmp.replace(path)
        sidecar = path.with_suffix(".json")
        sidecar.write_text(text + "\n", encoding="utf-8")
        onnx_path: Path | None = None
        note = ""
        if onnx is False:
            note = "ONNX export not requested"
        elif not onnx_available():
            note = "ONNX skipped: the onnx package is not installed (pip install 'segevo[onnx]')"
        else:
            onnx_path = path.with_suffix(".onnx")
            _export_onnx(net, onnx_path, meta, opset)
    finally:
        net.train(was_training)
    return ExportedFiles(path, sidecar, onnx_path, note)


def _export_onnx(net: nn.Module, path: Path, meta: dict[str, Any], opset: int) -> None:
    import onnx

    first = next(net.parameters())
    example = torch.zeros(1, 3, *meta["input_hw"], device=first.device, dtype=first.dtype)
    axes = {0: "batch", 2: "height", 3: "width"}
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings():
        # the TorchScript-based exporter: the torch.export one needs onnxscript
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (example,),
            str(tmp),
            input_names=["images"],
            output_names=["logits"],
            dynamic_axes={"images": axes, "logits": axes},
            opset_version=opset,
            dynamo=False,
        )
    model = onnx.load(str(tmp))
    onnx.checker.check_model(model)
    for key in ("x", "space", "space_digest", "num_classes", "class_names", "input_hw"):
        entry = model.metadata_props.add()
        entry.key = f"segevo.{key}"
        entry.value = json.dumps(meta[key])
    onnx.save(model, str(tmp))
    tmp.replace(path)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata stored in an exported TorchScript file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no exported network at {path}")
    extra = {METADATA_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return _parse(path, extra[METADATA_FILE])


def _parse(path: Path, text: str | bytes) -> dict[str, Any]:
    if not text:
        raise ValueError(f"{path} has no {METADATA_FILE}: not a segevo export")
    meta = json.loads(text)
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported export format {meta.get('format')!r}")
    return meta


def load_exported(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    """Load an exported network: ``(TorchScript module in eval mode, metadata)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no exported network at {path}")
    extra = {METADATA_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path), map_location=map_location, _extra_files=extra)
    return module.eval(), _parse(path, extra[METADATA_FILE])


def check_space(meta: dict[str, Any], space: SearchSpace) -> None:
    """Raise ValueError if an export was made for another search space than ``space``."""
    if meta.get("space_digest") != space.digest():
        raise ValueError(
            f"export is for space {meta.get('space')!r} (digest {str(meta.get('space_digest'))[:12]}), "
            f"not {space.name!r} (digest {space.digest()[:12]})"
        )
