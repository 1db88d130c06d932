"""Supernet checkpoints: the payload, atomic writes, checked reads, and warm starts.

A checkpoint is a ``torch.save``'d dict (tensors and plain values only, so it loads with
``weights_only=True``)::

    kind          "segevo-supernet"
    format        1
    step          SGD steps taken (0 for an imported checkpoint)
    elapsed_s     training seconds so far
    finished      whether the training that wrote it reached its end
    config        TrainConfig.to_dict() (space, space_options, dataset... of the run)
    space_digest  SearchSpace.digest() of the space the weights belong to
    num_classes   output width of the heads
    class_names   the data set's class names
    model         SuperNet.state_dict()
    optimizer     the SGD state to resume with (None: nothing to resume, e.g. imported)
    losses        the last losses (at most 10,000)
    imported      (optional) where the weights came from, e.g. ``segevo supernet import-ofa``
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from segevo.nets.space import SearchSpace, get_space
from segevo.nets.supernet import SuperNet

CHECKPOINT_NAME = "last.pt"
CHECKPOINT_FORMAT = 1
CHECKPOINT_KIND = "segevo-supernet"
MAX_LOSSES_KEPT = 10000


def supernet_payload(
    supernet: nn.Module,
    *,
    config: dict[str, Any],
    space: SearchSpace,
    num_classes: int,
    class_names: list[str] | tuple[str, ...],
    step: int,
    elapsed_s: float,
    finished: bool,
    optimizer: dict[str, Any] | None,
    losses: list[float],
    imported: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The checkpoint dict (see the module docstring) of ``supernet``'s current weights."""
    payload: dict[str, Any] = {
        "kind": CHECKPOINT_KIND,
        "format": CHECKPOINT_FORMAT,
        "step": int(step),
        "elapsed_s": float(elapsed_s),
        "finished": bool(finished),
        "config": config,
        "space_digest": space.digest(),
        "num_classes": int(num_classes),
        "class_names": list(class_names),
        "model": supernet.state_dict(),
        "optimizer": optimizer,
        "losses": list(losses[-MAX_LOSSES_KEPT:]),
    }
    if imported is not None:
        payload["imported"] = imported
    return payload


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` with torch.save to a temporary file beside ``path``, then rename it.

    A crash while writing leaves the previous checkpoint untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A supernet checkpoint (a file, or a folder holding ``last.pt``), checked to be one."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no supernet checkpoint at {path}")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("kind") != CHECKPOINT_KIND:
        raise ValueError(f"{path} is not a segevo supernet checkpoint")
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} has checkpoint format {payload.get('format')}, expected {CHECKPOINT_FORMAT}"
        )
    return payload


def load_supernet(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a trained supernet from its checkpoint: ``(supernet in eval mode, checkpoint)``.

    The checkpoint also carries ``config``, ``class_names``, ``num_classes``, ``step``.
    """
    payload = load_checkpoint(path, map_location=device)
    config = payload["config"]
    space = get_space(config["space"], **_tuples(config.get("space_options", {})))
    if space.digest() != payload["space_digest"]:
        raise ValueError(
            f"checkpoint {path} was trained on a different definition of space {config['space']!r}"
        )
    supernet = SuperNet(space, payload["num_classes"])
    supernet.load_state_dict(payload["model"])
    return supernet.to(device).eval(), payload


def _tuples(options: dict[str, Any]) -> dict[str, Any]:
    # JSON gives lists where the space options document (H, W) tuples.
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}


def _class_dependent(name: str) -> bool:
    """Whether a supernet tensor's shape depends on the class count (the heads' last convs)."""
    return name.endswith(("classifier.weight", "classifier.bias"))


def initialise_from(
    supernet: SuperNet, path: str | Path, map_location: str | torch.device = "cpu"
) -> list[str]:
    """Copy the weights of checkpoint ``path`` into ``supernet`` (same space definition).

    Every tensor is copied, except the classifiers of the heads when the checkpoint was made
    for another number of classes: those stay as initialised and their names are returned.
    Anything else that does not fit is a ValueError naming the tensor.
    """
    payload = load_checkpoint(path, map_location=map_location)
    if payload["space_digest"] != supernet.space.digest():
        raise ValueError(
            f"init_from checkpoint {path} belongs to another space definition "
            f"({payload['config'].get('space')!r} {payload['config'].get('space_options', {})}) "
            f"than this training ({supernet.space.name!r}); import or train it for this space"
        )
    source = payload["model"]
    target = supernet.state_dict()
    missing = sorted(set(target) - set(source))
    if missing:
        raise ValueError(f"init_from checkpoint {path} lacks {len(missing)} tensors: {missing[:5]}")
    kept: list[str] = []
    state = {}
    for name, tensor in target.items():
        if source[name].shape == tensor.shape:
            state[name] = source[name]
        elif _class_dependent(name):
            state[name] = tensor
            kept.append(name)
        else:
            raise ValueError(
                f"init_from checkpoint {path}: tensor {name} has shape "
                f"{tuple(source[name].shape)}, this supernet needs {tuple(tensor.shape)}"
            )
    supernet.load_state_dict(state)
    return kept
