"""Import Once-for-All OFA-ResNet50 ImageNet weights into a segevo supernet.

OFA (Cai et al., ICLR 2020; mit-han-lab/once-for-all) publishes an elastic ResNet50,
``ofa_resnet50_d0-1-2_e0.2-0.25-0.35_w0.65-0.8-1.0``, trained on ImageNet with progressive
shrinking. The ``r50`` space (:mod:`segevo.nets.space`) is inferred from exactly that network,
so its backbone maps one to one onto OFA's full-size tensors:

============================================  ==========================================
OFA ``OFAResNets`` state dict                  segevo ``SuperNet`` state dict
============================================  ==========================================
``input_stem.0.conv.conv.weight``              ``stem.conv1.conv.weight``  (3x3/2, 3->32)
``input_stem.0.bn.bn.*``                       ``stem.conv1.bn.*``
``input_stem.1.conv.conv.conv.weight``         ``stem.residual.conv.weight`` (3x3, 32->32)
``input_stem.1.conv.bn.bn.*``                  ``stem.residual.bn.*``
``input_stem.2.conv.conv.weight``              ``stem.conv2.conv.weight`` (3x3, 32->64)
``input_stem.2.bn.bn.*``                       ``stem.conv2.bn.*``
``blocks.G.conv{1,2,3}.conv.conv.weight``      ``stages.S.I.conv{1,2,3}.conv.weight``
``blocks.G.conv{1,2,3}.bn.bn.*``               ``stages.S.I.conv{1,2,3}.bn.*``
``blocks.G.downsample.conv.conv.weight``       ``stages.S.I.shortcut.conv.weight``
``blocks.G.downsample.bn.bn.*``                ``stages.S.I.shortcut.bn.*``
``classifier.linear.linear.{weight,bias}``     (none: the ImageNet classifier is dropped)
(none)                                         ``decoder.*``, ``aux16.*``, ``aux32.*``
============================================  ==========================================

``*`` is ``weight``, ``bias``, ``running_mean``, ``running_var`` and ``num_batches_tracked``.
Block ``G`` (0..17) is layer ``I`` of stage ``S``, stages found as OFA does: a block with a
``downsample`` starts a new stage (depths 4, 4, 6, 4 for the full network). Older OFA files
that name tensors without the inner wrapper (``bn.weight`` for ``bn.bn.weight``,
``conv.weight`` for ``conv.conv.weight``, ``linear.weight``) are read the same way, as OFA's
own ``load_state_dict`` does; so are the wrappers ``{"state_dict": ...}`` (OFA's files),
``{"model": ...}`` and ``module.`` prefixes (DataParallel).

Shapes: for ``r50`` every mapped tensor has exactly OFA's full-size shape (the widths of both
are ``make_divisible(C x {0.65, 0.8, 1.0}, 8)`` and mid widths ``make_divisible(out x {0.2,
0.25, 0.35}, 8)``, so every sub-network of ``r50`` has exactly the channel counts of the OFA
sub-network with the same choices) and the tensors are copied as they are. Any other shape is
refused, unless ``allow_slicing``: then a supernet tensor that is *smaller* than OFA's along
the channel dimensions takes OFA's leading channels (what OFA itself does for elastic width,
``weight[:out, :in]``, and for batch norm), and a stage with fewer layers takes OFA's leading
blocks (OFA's elastic depth); the other blocks are reported as unmapped. A supernet tensor
larger than OFA's, or a kernel of another size, is always refused: there is nothing to copy.

Not in OFA: the BiSeNet decoder and the auxiliary heads. They stay as initialised (seeded);
train them (and fine-tune the backbone) with ``segevo supernet train --init-from FILE``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from segevo.nets.space import ResNetSpace, SearchSpace
from segevo.nets.supernet import SuperNet
from segevo.nets.training.checkpoint import supernet_payload

__all__ = [
    "OFA_RESNET50_ID",
    "ImportReport",
    "OFALayoutError",
    "TensorMove",
    "import_ofa_checkpoint",
    "map_ofa_resnet",
    "read_state_dict",
    "unwrap_state_dict",
]

OFA_RESNET50_ID = "ofa_resnet50_d0-1-2_e0.2-0.25-0.35_w0.65-0.8-1.0"
WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "net")
BN_FIELDS = "weight|bias|running_mean|running_var|num_batches_tracked"

# OFA key (either naming) -> a segevo target with {stage}/{layer} or a fixed name.
_STEM = [
    (re.compile(r"input_stem\.0\.conv(?:\.conv)?\.weight"), "stem.conv1.conv.weight"),
    (re.compile(rf"input_stem\.0\.bn(?:\.bn)?\.({BN_FIELDS})"), "stem.conv1.bn.{0}"),
    (re.compile(r"input_stem\.1\.conv\.conv(?:\.conv)?\.weight"), "stem.residual.conv.weight"),
    (re.compile(rf"input_stem\.1\.conv\.bn(?:\.bn)?\.({BN_FIELDS})"), "stem.residual.bn.{0}"),
    (re.compile(r"input_stem\.2\.conv(?:\.conv)?\.weight"), "stem.conv2.conv.weight"),
    (re.compile(rf"input_stem\.2\.bn(?:\.bn)?\.({BN_FIELDS})"), "stem.conv2.bn.{0}"),
]
_BLOCK_CONV = re.compile(r"blocks\.(\d+)\.(conv1|conv2|conv3|downsample)\.conv(?:\.conv)?\.weight")
_BLOCK_BN = re.compile(
    rf"blocks\.(\d+)\.(conv1|conv2|conv3|downsample)\.bn(?:\.bn)?\.({BN_FIELDS})"
)
_CLASSIFIER = re.compile(r"classifier\.linear(?:\.linear)?\.(weight|bias)")
_PART = {"conv1": "conv1", "conv2": "conv2", "conv3": "conv3", "downsample": "shortcut"}

_OTHER_LAYOUTS = (
    (
        ("first_conv.", "mobile_inverted_conv", "final_expand_layer", "feature_mix_layer"),
        "an OFA MobileNetV3 / ProxylessNAS network",
    ),
    (("layer1.", "fc.weight"), "a torchvision-style ResNet (conv1/layer1..4/fc)"),
    (("kind", "space_digest"), "a segevo checkpoint (use it directly, not through import-ofa)"),
)


class OFALayoutError(ValueError):
    """The checkpoint is not an OFA-ResNet50 state dict that fits the supernet."""


@dataclass(frozen=True)
class TensorMove:
    """One OFA tensor copied into the supernet (``sliced``: only its leading entries)."""

    source: str
    target: str
    source_shape: tuple[int, ...]
    target_shape: tuple[int, ...]

    @property
    def sliced(self) -> bool:
        return self.source_shape != self.target_shape


@dataclass
class ImportReport:
    """What an import did: tensors mapped, OFA tensors left out, supernet tensors not filled."""

    moves: list[TensorMove] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    source_stage_depths: tuple[int, ...] = ()

    @property
    def sliced(self) -> list[TensorMove]:
        return [m for m in self.moves if m.sliced]

    def counts(self) -> dict[str, int]:
        return {
            "mapped": len(self.moves),
            "sliced": len(self.sliced),
            "unmapped": len(self.unmapped),
            "missing": len(self.missing),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: counts, the mapping (source -> target, shapes) and the names left out."""
        return {
            **self.counts(),
            "source_stage_depths": list(self.source_stage_depths),
            "mapping": [
                {
                    "source": m.source,
                    "target": m.target,
                    "source_shape": list(m.source_shape),
                    "target_shape": list(m.target_shape),
                }
                for m in self.moves
            ],
            "unmapped_names": list(self.unmapped),
            "missing_names": list(self.missing),
        }


# --------------------------------------------------------------------------- reading


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The tensors of an OFA checkpoint file (unwrapped, ``module.`` prefixes removed).

    Loaded with ``torch.load(weights_only=True)``: a file that pickles other Python objects
    is refused rather than executed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError...
        text = str(exc)
        detail = next(
            (line.strip() for line in text.splitlines() if "Unsupported global" in line),
            text.splitlines()[0] if text else type(exc).__name__,
        )
        raise OFALayoutError(
            f"{path} cannot be read with torch.load(weights_only=True), which loads tensors "
            f"and plain values only ({detail}). If you trust the file, re-save its state "
            "dict: torch.save(torch.load(PATH, weights_only=False)['state_dict'], 'plain.pt')"
        ) from exc
    return unwrap_state_dict(obj, origin=str(path))


def unwrap_state_dict(obj: Any, *, origin: str = "the checkpoint") -> dict[str, Tensor]:
    """The state dict inside ``obj``: itself, or under ``state_dict``/``model``/
    ``model_state_dict``/``net`` (nested at most twice); ``module.`` prefixes removed."""
    for _ in range(3):
        if not isinstance(obj, Mapping):
            break
        if obj and all(isinstance(v, Tensor) for v in obj.values()):
            return {_strip_module(str(k)): v for k, v in obj.items()}
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    found = sorted(map(str, obj))[:8] if isinstance(obj, Mapping) else type(obj).__name__
    raise OFALayoutError(
        f"{origin} holds no state dict (a dict of tensors, possibly under "
        f"{' / '.join(repr(k) for k in WRAPPER_KEYS)}); found {found}"
    )


def _strip_module(key: str) -> str:
    while key.startswith("module."):
        key = key[len("module.") :]
    return key


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- mapping


@dataclass(frozen=True)
class _Parsed:
    stem: dict[str, str]  # OFA key -> segevo key
    blocks: dict[int, dict[str, str]]  # block index -> {OFA key: "convK.conv.weight" ...}
    classifier: list[str]
    unknown: list[str]


def _parse(keys: list[str]) -> _Parsed:
    stem: dict[str, str] = {}
    blocks: dict[int, dict[str, str]] = {}
    classifier, unknown = [], []
    for key in keys:
        for pattern, target in _STEM:
            match = pattern.fullmatch(key)
            if match:
                stem[key] = target.format(*match.groups())
                break
        else:
            match = _BLOCK_CONV.fullmatch(key)
            if match:
                block, part = int(match[1]), _PART[match[2]]
                blocks.setdefault(block, {})[key] = f"{part}.conv.weight"
                continue
            match = _BLOCK_BN.fullmatch(key)
            if match:
                block, part = int(match[1]), _PART[match[2]]
                blocks.setdefault(block, {})[key] = f"{part}.bn.{match[3]}"
                continue
            if _CLASSIFIER.fullmatch(key):
                classifier.append(key)
            else:
                unknown.append(key)
    return _Parsed(stem, blocks, classifier, unknown)


def _layout_hint(keys: list[str]) -> str:
    for markers, name in _OTHER_LAYOUTS:
        if any(m in key for key in keys for m in markers):
            return f"; it looks like {name}"
    return ""


def _stage_depths(blocks: dict[int, dict[str, str]]) -> list[int]:
    """OFA's grouping: a block with a downsample (projection) starts a new stage."""
    order = sorted(blocks)
    if order != list(range(len(order))):
        raise OFALayoutError(f"OFA block indices are not 0..{len(order) - 1}: {order}")
    depths: list[int] = []
    for g in order:
        projects = any(t.startswith("shortcut.") for t in blocks[g].values())
        if projects or not depths:
            depths.append(0)
        depths[-1] += 1
    return depths


def _fit(tensor: Tensor, target: Tensor, source: str, name: str, allow_slicing: bool) -> Tensor:
    """``tensor`` shaped for ``target``: as it is, or its leading channels when allowed."""
    src, dst = tuple(tensor.shape), tuple(target.shape)
    if src == dst:
        return tensor
    problem = None
    if len(src) != len(dst):
        problem = "another number of dimensions"
    elif any(d > s for d, s in zip(dst, src, strict=True)):
        problem = "the supernet's tensor is larger (OFA has nothing to fill it with)"
    elif src[2:] != dst[2:]:
        problem = "another kernel size"
    elif not allow_slicing:
        problem = (
            "the supernet's tensor is smaller; allow slicing (--slice) to take OFA's leading "
            "channels, as OFA does for elastic width"
        )
    if problem is not None:
        raise OFALayoutError(
            f"OFA tensor {source} has shape {list(src)} but {name} needs {list(dst)}: {problem}"
        )
    return tensor[tuple(slice(0, n) for n in dst)]


def map_ofa_resnet(
    state: Mapping[str, Tensor], supernet: SuperNet, *, allow_slicing: bool = False
) -> ImportReport:
    """Copy an OFA-ResNet state dict's backbone into ``supernet`` (in place); see the module
    docstring for the mapping. Raises :class:`OFALayoutError` naming what does not fit."""
    space = supernet.space
    if not isinstance(space, ResNetSpace):
        raise OFALayoutError(f"OFA-ResNet weights need a ResNetSpace, got {type(space).__name__}")
    keys = list(state)
    parsed = _parse(keys)
    if not parsed.blocks or not parsed.stem:
        example = ", ".join(keys[:5]) or "nothing"
        raise OFALayoutError(
            "not an OFA-ResNet50 state dict: expected keys such as "
            "input_stem.0.conv.conv.weight and blocks.0.conv1.conv.conv.weight, found "
            f"{example}{'...' if len(keys) > 5 else ''}{_layout_hint(keys)}"
        )
    if parsed.unknown:
        raise OFALayoutError(
            f"{len(parsed.unknown)} tensors are not part of the OFA-ResNet layout, e.g. "
            f"{parsed.unknown[:5]}{_layout_hint(parsed.unknown)}"
        )
    depths = _stage_depths(parsed.blocks)
    wanted = list(space.max_depths)
    if len(depths) != len(wanted) or any(
        d < w or (d > w and not allow_slicing) for d, w in zip(depths, wanted, strict=False)
    ):
        raise OFALayoutError(
            f"the OFA network has stages of {depths} blocks; space {space.name!r} needs "
            f"{wanted}" + ("" if allow_slicing else " (deeper OFA stages need --slice)")
        )

    targets = dict(supernet.state_dict())
    mapping: dict[str, str] = dict(parsed.stem)  # OFA key -> segevo key
    report = ImportReport(source_stage_depths=tuple(depths))
    first = 0
    for s, depth in enumerate(depths):
        for i in range(depth):
            for key, part in parsed.blocks[first + i].items():
                if i < wanted[s]:
                    mapping[key] = f"stages.{s}.{i}.{part}"
                else:
                    report.unmapped.append(key)  # beyond the stage's depth (OFA's elastic depth)
        first += depth
    report.unmapped.extend(parsed.classifier)

    strays = sorted(t for t in mapping.values() if t not in targets)
    if strays:
        raise OFALayoutError(
            f"OFA tensors map to {strays[:5]}, which the {space.name!r} supernet does not have "
            "(a projection where the supernet has none, or the reverse)"
        )
    filled = set(mapping.values())
    backbone = [k for k in targets if k.startswith(("stem.", "stages."))]
    lacking = [k for k in backbone if k not in filled and not k.endswith("num_batches_tracked")]
    if lacking:
        raise OFALayoutError(
            f"the checkpoint lacks {len(lacking)} backbone tensors of an OFA-ResNet50, e.g. "
            f"{lacking[:5]} (segevo names)"
        )
    new_state = {}
    for source, target in mapping.items():
        tensor = _fit(state[source], targets[target], source, target, allow_slicing)
        new_state[target] = tensor.to(dtype=targets[target].dtype).clone()
        report.moves.append(
            TensorMove(source, target, tuple(state[source].shape), tuple(targets[target].shape))
        )
    with torch.no_grad():
        for target, tensor in new_state.items():
            targets[target].copy_(tensor)
    report.missing = [k for k in targets if k not in filled]
    return report


# --------------------------------------------------------------------------- whole file


def import_ofa_checkpoint(
    path: str | Path,
    space: SearchSpace,
    *,
    config: dict[str, Any],
    num_classes: int,
    class_names: list[str] | tuple[str, ...],
    allow_slicing: bool = False,
    seed: int = 0,
) -> tuple[dict[str, Any], ImportReport]:
    """``(segevo checkpoint payload, report)`` for OFA checkpoint ``path`` mapped into a fresh
    ``SuperNet(space, num_classes)`` (the parts OFA lacks initialised with ``seed``).

    ``config`` is the ``TrainConfig.to_dict()`` recorded in the checkpoint (space, data set);
    write the payload with :func:`segevo.nets.train.save_checkpoint`.
    """
    state = read_state_dict(path)
    torch.manual_seed(seed)
    supernet = SuperNet(space, num_classes)
    report = map_ofa_resnet(state, supernet, allow_slicing=allow_slicing)
    imported = {
        "from": "ofa-resnet50",
        "source": str(Path(path).resolve()),
        "source_sha256": file_sha256(path),
        **report.counts(),
        "unmapped_names": list(report.unmapped),
    }
    payload = supernet_payload(
        supernet,
        config=config,
        space=space,
        num_classes=num_classes,
        class_names=list(class_names),
        step=0,
        elapsed_s=0.0,
        finished=False,
        optimizer=None,
        losses=[],
        imported=imported,
    )
    return payload, report
