"""Making and finding what the ``mosegnas`` problem needs: the supernet and the latency table.

:func:`ensure_supernet` trains a supernet (or finds the one trained before for the same
settings) and :func:`ensure_lut` builds a latency table (or finds it), both kept in
``segevo.nets.paths.cache_dir()`` under keys of every setting that changes them, with a lock
so that two runs never make the same file at once. ``segevo run`` calls them before a
search; the problem itself (:mod:`segevo.engine.problems.mosegnas`) only loads what is there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_DATASET",
    "DEFAULT_SPACE",
    "SUPERNET_FILE",
    "MoSegNASSetupError",
    "Prepared",
    "canonical_dataset",
    "ensure_lut",
    "ensure_supernet",
    "finished_checkpoint",
    "lists_to_tuples",
    "lut_cache_path",
    "space_from_options",
    "supernet_cache_dir",
    "train_config",
]

DEFAULT_SPACE = "tiny"
DEFAULT_DATASET = "synthetic"
SUPERNET_FILE = "last.pt"

# TrainConfig fields that change what is learned (the cache key); the others (where, how
# often to save, display, threads, device) do not.
_TRAIN_KEY_IGNORED = frozenset(
    {
        "checkpoint_dir",
        "checkpoint_interval_s",
        "resume",
        "display",
        "num_threads",
        "num_workers",
        "device",
    }
)


class MoSegNASSetupError(ValueError):
    """A supernet, latency table or data set the problem needs is missing or does not fit."""


# --------------------------------------------------------------------------- cache keys


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def canonical_dataset(spec: str) -> str:
    """``spec`` with its folder made absolute (``camvid:data`` -> ``camvid:/home/.../data``).

    A missing folder raises :class:`MoSegNASSetupError` naming it.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise MoSegNASSetupError(f"data set must be 'NAME' or 'NAME:PATH', got {spec!r}")
    name, sep, path = spec.strip().partition(":")
    if not sep:
        return name
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise MoSegNASSetupError(
            f"data set folder {folder} does not exist; give the folder that holds {name} "
            f"(--dataset {name}:PATH)"
        )
    return f"{name}:{folder.resolve()}"


def space_from_options(name: str, options: Mapping[str, Any] | None) -> Any:
    """The search space ``name`` with ``space_options`` as a run config or a problem spec
    holds them (lists where the nets API takes tuples)."""
    from segevo.nets.space import get_space

    return get_space(name, **lists_to_tuples(dict(options or {})))


def lists_to_tuples(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with list values made tuples: TOML and msgpack give lists where the nets
    API documents tuples such as ``(H, W)``."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}


def train_config(
    space: str,
    space_options: Mapping[str, Any] | None,
    dataset: str,
    dataset_options: Mapping[str, Any] | None,
    train: Mapping[str, Any] | None,
) -> Any:
    """The :class:`segevo.nets.train.TrainConfig` a cached supernet is trained with."""
    from segevo.nets.train import TrainConfig

    values = dict(train or {})
    clash = sorted({"space", "space_options", "dataset", "dataset_options"} & set(values))
    if clash:
        raise MoSegNASSetupError(
            f"train options {clash} are set by the problem's own space and dataset options"
        )
    values.update(
        space=space,
        space_options=dict(space_options or {}),
        dataset=dataset,
        dataset_options=dict(dataset_options or {}),
    )
    return TrainConfig.from_dict(values)


def supernet_cache_dir(config: Any) -> Path:
    """The cache folder of the supernet ``config`` (a TrainConfig) trains."""
    from segevo.nets.paths import cache_dir

    values = {k: v for k, v in config.to_dict().items() if k not in _TRAIN_KEY_IGNORED}
    space = space_from_options(config.space, config.space_options)
    values["space_digest"] = space.digest()
    dataset_name = config.dataset.partition(":")[0]
    return cache_dir() / "supernets" / f"{space.name}-{dataset_name}-{_digest(values)}"


def lut_cache_path(
    space: Any, num_classes: int, device: Any, protocol: Mapping[str, Any] | None
) -> Path:
    """The cache file of the latency table of ``space`` measured on ``device``."""
    from segevo.nets.paths import cache_dir

    identity = {k: device.identity().get(k) for k in device.identity_keys()}
    key = {
        "space": space.digest(),
        "num_classes": int(num_classes),
        "device": identity,
        "protocol": dict(protocol or {}),
    }
    label = device.name.replace(":", "")
    return cache_dir() / "luts" / f"{space.name}-{label}-{_digest(key)}.json"


def finished_checkpoint(path: Path) -> bool:
    if not path.is_file():
        return False
    from segevo.nets.train import load_checkpoint

    return bool(load_checkpoint(path).get("finished"))


@dataclass(frozen=True)
class Prepared:
    """Where a supernet or table is and whether this call made (part of) it."""

    path: Path
    made: bool


@contextlib.contextmanager
def _exclusive(lock_path: Path, on_wait: Callable[[str], None] | None) -> Iterator[None]:
    """Hold an ``flock`` on ``lock_path``: two processes never make the same cache entry."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(f"another process is making {lock_path.parent}; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_supernet(
    config: Any,
    *,
    progress: Callable[[Any], None] | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Prepared:
    """The finished checkpoint of ``config``'s supernet, trained first when the cache lacks it.

    A checkpoint left by an interrupted training is resumed, not restarted; a second process
    asking for the same supernet waits for the first (``on_wait`` is told).
    """
    from segevo.nets.train import train_supernet

    folder = supernet_cache_dir(config)
    path = folder / SUPERNET_FILE
    if finished_checkpoint(path):
        return Prepared(path, made=False)
    with _exclusive(folder / ".lock", on_wait):
        if finished_checkpoint(path):  # made by the process we waited for
            return Prepared(path, made=False)
        (folder / "train.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
        config = dataclasses.replace(config, checkpoint_dir=str(folder), resume=True)
        result = train_supernet(config, progress=progress)
    if result.checkpoint is None or not result.checkpoint.is_file():
        raise MoSegNASSetupError(f"supernet training wrote no checkpoint into {folder}")
    return Prepared(result.checkpoint, made=True)


def ensure_lut(
    space: Any,
    num_classes: int,
    device: Any,
    protocol: Mapping[str, Any] | None,
    *,
    path: Path | None = None,
    progress: Callable[[Any], None] | None = None,
    chunk_s: float | None = None,
    on_chunk: Callable[[Any], None] | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Prepared:
    """The complete latency table of ``space`` on ``device``, measured first when missing.

    ``path`` defaults to :func:`lut_cache_path`. An interrupted build is resumed. With
    ``chunk_s``, the build runs in chunks of about that many seconds and ``on_chunk`` gets
    each chunk's :class:`segevo.devices.BuildResult` (a progress report without rich);
    ``progress`` gets every :class:`segevo.devices.BuildProgress` event of the build.
    """
    from segevo.devices import build_lut, load_lut, partial_path

    target = path or lut_cache_path(space, num_classes, device, protocol)

    def complete() -> bool:
        if target.is_file() and not partial_path(target).exists():
            load_lut(target, space)  # refuses a table of another space, naming both
            return True
        return False

    if complete():
        return Prepared(target, made=False)
    with _exclusive(target.with_name(target.name + ".lock"), on_wait):
        if complete():  # made by the process we waited for
            return Prepared(target, made=False)
        while True:
            result = build_lut(
                space,
                device,
                target,
                num_classes=int(num_classes),
                progress=progress,
                time_limit_s=chunk_s,
                **dict(protocol or {}),
            )
            if on_chunk is not None:
                on_chunk(result)
            if result.complete:
                return Prepared(target, made=True)
