"""The surrogate file format, without pickle; it knows files and records, not surrogates.

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

:meth:`segevo.surrogates.Surrogate.record` makes a :class:`SurrogateRecord` and
:meth:`~segevo.surrogates.Surrogate.from_record` rebuilds a surrogate from one;
:func:`segevo.surrogates.load_surrogate` reads a file and finds the class by name. This
module imports nothing else from segevo, so the surrogate base class can use it freely.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FORMAT", "VERSION", "SurrogateRecord", "read_record", "space_record", "write_record"]

FORMAT = "segevo-surrogate"
VERSION = 1


@dataclass(frozen=True)
class SurrogateRecord:
    """What a surrogate file holds: the settings to rebuild the model, its label scaling,
    its training data and (for models that expose them) its fitted parameters."""

    name: str
    seed: int
    device: str
    options: dict[str, Any]
    lower: list[int]
    upper: list[int]
    space: dict[str, Any] | None
    y_min: float
    y_span: float
    train_X: np.ndarray
    train_y: np.ndarray
    params: dict[str, np.ndarray] = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        """The JSON ``meta`` entry."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "seed": self.seed,
            "device": self.device,
            "options": self.options,
            "lower": self.lower,
            "upper": self.upper,
            "space": self.space,
            "y_min": self.y_min,
            "y_span": self.y_span,
        }


def space_record(space: Any) -> dict[str, Any] | None:
    """``{"name", "digest"}`` of a search space (None for bounds-only features)."""
    if space is None:
        return None
    digest = space.digest() if callable(getattr(space, "digest", None)) else None
    return {"name": getattr(space, "name", None), "digest": digest}


def write_record(record: SurrogateRecord, path: str | Path) -> Path:
    """Write ``record`` to ``path`` (``.npz`` is appended when missing)."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    arrays: dict[str, np.ndarray] = {
        "meta": np.frombuffer(json.dumps(record.meta()).encode("utf-8"), dtype=np.uint8),
        "train_X": np.asarray(record.train_X, dtype=np.int64),
        "train_y": np.asarray(record.train_y, dtype=np.float64),
    }
    for key, value in record.params.items():
        arrays[f"state/{key}"] = np.asarray(value)
    # Write beside the target and rename, so an interrupted save never truncates a good file.
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]
    partial.replace(path)
    return path


def read_record(path: str | Path) -> SurrogateRecord:
    """Read a file written by :func:`write_record`; ValueError names what is wrong."""
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
    return SurrogateRecord(
        name=meta["name"],
        seed=meta["seed"],
        device=meta["device"],
        options=meta["options"],
        lower=meta["lower"],
        upper=meta["upper"],
        space=meta["space"],
        y_min=meta["y_min"],
        y_span=meta["y_span"],
        train_X=arrays["train_X"],
        train_y=arrays["train_y"],
        params={
            key[len("state/") :]: value for key, value in arrays.items() if key.startswith("state/")
        },
    )
