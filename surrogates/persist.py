"""Saving and loading fitted surrogates, without pickle.

File format (version 1): one numpy ``.npz`` archive, read with ``allow_pickle=False``:

- ``meta``: UTF-8 JSON as a ``uint8`` array: ``{"format": "segevo-surrogate", "version": 1,
  "name", "seed", "device", "options", "lower", "upper", "space", "y_min", "y_span"}``;
  ``space`` is ``null`` or ``{"name", "digest"}`` of the search space whose one-hot encoding
  the model was fitted on.
- ``train_X`` (int64 ``[n, n_var]``) and ``train_y`` (float64 ``[n]``): the training data.
- ``state/<key>``: the fitted parameters of a model that exposes them as arrays (RankNet's
  weights and biases, float32). A model without them (the scikit-learn/scipy baselines) is
  fitted again on load from ``train_X``/``train_y`` with the stored seed and options; those
  fits are deterministic, so its predictions equal the saved model's for the same library
  versions. This keeps untrusted files from executing code (no pickle, no joblib).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .base import NotFittedError, Surrogate
from .encoding import OneHotSpace, as_bounds

FORMAT = "segevo-surrogate"
VERSION = 1


def _space_record(space: Any) -> dict[str, Any] | None:
    if space is None:
        return None
    digest = space.digest() if callable(getattr(space, "digest", None)) else None
    return {"name": getattr(space, "name", None), "digest": digest}


def save_surrogate(surrogate: Surrogate, path: str | Path) -> Path:
    """Write a fitted surrogate to ``path`` (``.npz`` is appended when missing)."""
    if not surrogate.is_fitted:
        raise NotFittedError(f"surrogate {surrogate.name!r} is not fitted; nothing to save")
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "name": surrogate.name,
        "seed": surrogate.seed,
        "device": surrogate.device,
        "options": surrogate.options,
        "lower": surrogate.lower.tolist(),
        "upper": surrogate.upper.tolist(),
        "space": _space_record(surrogate.space),
        "y_min": surrogate._y_min,
        "y_span": surrogate._y_span,
    }
    arrays: dict[str, np.ndarray] = {
        "meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
        "train_X": np.asarray(surrogate._train_X, dtype=np.int64),
        "train_y": np.asarray(surrogate._train_y, dtype=np.float64),
    }
    for key, value in (surrogate._state() or {}).items():
        arrays[f"state/{key}"] = np.asarray(value)
    # Write beside the target and rename, so an interrupted save never truncates a good file.
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]
    partial.replace(path)
    return path


def _resolve_space(record: dict[str, Any] | None, space: OneHotSpace | None) -> OneHotSpace | None:
    if record is None:
        if space is not None:
            raise ValueError(
                "this surrogate was fitted on bounds-only features; load it without space="
            )
        return None
    if space is None:
        try:
            from segevo.nets.space import get_space

            space = get_space(record["name"])
        except Exception as error:
            raise ValueError(
                f"this surrogate was fitted with search space {record['name']!r}, which could "
                f"not be rebuilt ({error}); pass space= to load_surrogate"
            ) from error
    stored = record.get("digest")
    if stored is not None and callable(getattr(space, "digest", None)) and space.digest() != stored:
        raise ValueError(
            f"search space digest {space.digest()!r} differs from the one the surrogate was "
            f"fitted with ({stored!r})"
        )
    return space


def load_surrogate(path: str | Path, *, space: OneHotSpace | None = None) -> Surrogate:
    """Read a surrogate written by :meth:`Surrogate.save`.

    ``space`` must be given when the surrogate was fitted with a search space that
    ``segevo.nets.space.get_space(name)`` cannot rebuild; its digest is checked.
    """
    from .registry import surrogate_class

    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a readable surrogate file: {error}") from error
    with archive:
        if "meta" not in archive.files:
            raise ValueError(f"{path} is not a segevo surrogate file (no 'meta' entry)")
        try:
            meta = json.loads(archive["meta"].tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: unreadable metadata: {error}") from error
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ValueError(
                f"{path}: format {meta.get('format')!r} version {meta.get('version')!r} is not "
                f"{FORMAT!r} version {VERSION}"
            )
        arrays = {key: archive[key] for key in archive.files if key != "meta"}
    cls = surrogate_class(meta["name"])
    resolved_space = _resolve_space(meta["space"], space)
    lower, upper = as_bounds(meta["lower"], meta["upper"])
    device = meta["device"]
    if device != "cpu":
        import torch

        if not torch.cuda.is_available():
            device = "cpu"  # predictions never need the GPU; a GPU-fitted model loads anywhere
    surrogate = cls(
        None if resolved_space is not None else lower,
        None if resolved_space is not None else upper,
        seed=meta["seed"],
        space=resolved_space,
        device=device,
        **meta["options"],
    )
    if not (np.array_equal(surrogate.lower, lower) and np.array_equal(surrogate.upper, upper)):
        raise ValueError(f"{path}: stored bounds differ from the search space's bounds")
    train_X, train_y = arrays["train_X"], arrays["train_y"]
    state = {
        key[len("state/") :]: value for key, value in arrays.items() if key.startswith("state/")
    }
    if state:
        surrogate._restore(state)
        surrogate._train_X = surrogate.encoder.validate(train_X)
        surrogate._train_y = train_y.astype(np.float64)
        surrogate._y_min = float(meta["y_min"])
        surrogate._y_span = float(meta["y_span"])
    else:
        surrogate.fit(train_X, train_y)
    return surrogate
