"""``build_lut``: time every distinct part the search space can produce, resumably.

Every key of :func:`~segevo.devices.plan.enumerate_entries` is one module of
``segevo.nets.blocks`` (random weights, eval mode) timed in isolation on the input shape it sees
in the network (``blocks.timing_units``). Results go to a ``<path>.partial`` sidecar, rewritten
atomically every few seconds and when the build stops for any reason (Ctrl-C included); a
later call picks up the sidecar and measures only what is missing. The finished table is
written to ``path`` and the sidecar removed. Parts are timed in a seeded random order, so the
time-left estimate and a partial build's average are unbiased.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .base import Device
from .lut_file import (
    LUTEntry,
    LUTFileError,
    LUTRecord,
    LUTSpaceMismatchError,
    read_record,
    write_record,
)
from .plan import enumerate_entries
from .registry import get_device
from .table import LatencyTable


def partial_path(path: str | os.PathLike[str]) -> Path:
    """Where an unfinished build of ``path`` keeps its measurements."""
    target = Path(path)
    return target.with_name(target.name + ".partial")


@dataclass(frozen=True)
class BuildResult:
    """What a ``build_lut`` call did.

    ``measured`` parts were timed by this call, ``reused`` came from an earlier (partial)
    build; ``complete`` says whether ``path`` now holds the finished table; ``flagged`` counts
    entries whose spread stayed too wide; ``seconds_per_entry`` is this call's average.
    """

    path: Path
    total: int
    measured: int
    reused: int
    flagged: int
    elapsed_s: float
    complete: bool

    @property
    def missing(self) -> int:
        """Entries still to measure."""
        return self.total - self.measured - self.reused

    @property
    def seconds_per_entry(self) -> float:
        return self.elapsed_s / self.measured if self.measured else float("nan")

    def estimated_total_s(self) -> float:
        """Time a full build would take on this device at this call's pace."""
        return self.seconds_per_entry * self.total

    def table(self, space: Any) -> LatencyTable:
        """The finished table (LUTFileError if the build is not complete)."""
        if not self.complete:
            raise LUTFileError(
                f"the build of {str(self.path)!r} is not complete ({self.missing} entries left)"
            )
        from .table import load_lut

        return load_lut(self.path, space)


@dataclass(frozen=True)
class BuildProgress:
    """A build's progress, sent to ``build_lut(progress=...)`` once before the first
    measurement (``measured == 0``, ``key == ""``) and after every part.

    ``done`` of ``total`` parts are in the table; ``measured`` of them by this call, in
    ``elapsed_s`` seconds; ``kind`` and ``key`` name the part just measured.
    """

    done: int
    total: int
    measured: int
    elapsed_s: float
    kind: str = ""
    key: str = ""

    def seconds_left(self) -> float:
        """The time the missing parts take at this call's pace (NaN before the first)."""
        if not self.measured:
            return float("nan")
        return self.elapsed_s / self.measured * (self.total - self.done)


ProgressCallback = Callable[[BuildProgress], None]


def _units(space: Any, num_classes: int) -> dict[str, Any]:
    """Key -> ``blocks.TimingUnit`` for every key the space can produce."""
    from segevo.nets.blocks import timing_units

    units: dict[str, Any] = {}
    for key, arch in enumerate_entries(space, num_classes).items():
        for unit in timing_units(arch, num_classes):
            if unit.key == key:
                units[key] = unit
                break
        else:
            raise RuntimeError(
                f"segevo.nets.blocks.timing_units gives no part with key {key!r}: the key formats "
                "of segevo.devices.keys and segevo.nets.blocks disagree"
            )
    return units


def _previous(
    space: Any, device: Device, path: Path, num_classes: int, resume: bool
) -> dict[str, LUTEntry]:
    """Entries of an earlier build that this one may keep (none unless ``resume``)."""
    if not resume:
        return {}
    source = partial_path(path)
    if not source.exists():
        source = path
    if not source.exists():
        return {}
    record = read_record(source)
    if record.space_digest != space.digest() or record.num_classes != num_classes:
        raise LUTSpaceMismatchError(
            f"{str(source)!r} holds a build for space {record.space_name!r} (digest "
            f"{record.space_digest[:12]}, {record.num_classes} classes), not for "
            f"{space.name!r} (digest {space.digest()[:12]}, {num_classes} classes); "
            "move it away or pass resume=False to start over"
        )
    if not device.compatible_with(record.device):
        fields = device.identity_keys()
        theirs = {k: record.device.get(k) for k in fields}
        mine = {k: device.identity().get(k) for k in fields}
        raise ValueError(
            f"{str(source)!r} was measured on {theirs}, this device is {mine}; timings of "
            "different devices must not be mixed: move it away or pass resume=False"
        )
    return dict(record.entries)


def build_lut(
    space: Any,
    device: Device | str,
    path: str | os.PathLike[str],
    *,
    num_classes: int,
    resume: bool = True,
    progress: ProgressCallback | None = None,
    max_entries: int | None = None,
    time_limit_s: float | None = None,
    flush_every_s: float = 2.0,
    seed: int = 0,
    **protocol: Any,
) -> BuildResult:
    """Measure every part of ``space`` on ``device`` and write the latency table to ``path``.

    ``device`` is a Device or a registry name. ``max_entries`` / ``time_limit_s`` stop early
    (the sidecar keeps what was measured; call again to go on). ``resume=False`` ignores and
    overwrites an earlier partial build. ``protocol`` overrides the device's measuring
    protocol (``warmup``, ``min_repeats``, ``budget_s``...). ``progress`` is called with a
    :class:`BuildProgress` before the first part and after each (the library draws nothing;
    ``segevo lut build`` draws a bar from these). Returns a :class:`BuildResult`.
    """
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if max_entries is not None and max_entries < 0:
        raise ValueError(f"max_entries must be >= 0, got {max_entries}")
    if time_limit_s is not None and not time_limit_s > 0:
        raise ValueError(f"time_limit_s must be > 0 seconds, got {time_limit_s}")
    if not flush_every_s >= 0:
        raise ValueError(f"flush_every_s must be >= 0, got {flush_every_s}")
    if progress is not None and not callable(progress):
        raise ValueError(
            f"progress must be a callable taking a BuildProgress, or None; got {progress!r} "
            "(the library draws no bar: segevo lut build does)"
        )
    dev = get_device(device) if isinstance(device, str) else device
    proto = dev.protocol.with_overrides(**protocol) if hasattr(dev, "protocol") else None
    target = Path(path)
    sidecar = partial_path(target)
    units = _units(space, int(num_classes))
    previous = _previous(space, dev, target, int(num_classes), resume)
    kept = {k: v for k, v in previous.items() if k in units}
    if previous and len(kept) == len(units) and target.exists() and not sidecar.exists():
        return BuildResult(target, len(units), 0, len(kept), _flagged(kept), 0.0, True)

    record = LUTRecord(
        space_name=str(space.name),
        space_digest=space.digest(),
        space_definition=space.definition(),
        base_hw=list(getattr(space, "base_hw", [])) or None,
        num_classes=int(num_classes),
        device=dev.identity(),
        protocol=_protocol_dict(proto, protocol),
        expected_entries=len(units),
        entries=dict(kept),
    )
    todo = sorted(set(units) - set(kept))
    np.random.default_rng(seed).shuffle(todo)
    if max_entries is not None:
        todo = todo[:max_entries]

    import torch

    torch.manual_seed(seed)  # random weights: their values do not change the timings
    start = time.perf_counter()
    last_flush = start
    measured = 0
    if progress is not None:
        progress(BuildProgress(len(kept), len(units), 0, 0.0))
    try:
        for key in todo:
            if time_limit_s is not None and time.perf_counter() - start >= time_limit_s:
                break
            unit = units[key]
            module = unit.build()
            measurement = dev.measure(module, unit.input_shapes, **protocol)
            record.entries[key] = LUTEntry(unit.kind, measurement)
            measured += 1
            if progress is not None:
                elapsed = time.perf_counter() - start
                done = len(record.entries)
                progress(BuildProgress(done, len(units), measured, elapsed, unit.kind, key))
            if time.perf_counter() - last_flush >= flush_every_s:
                write_record(sidecar, record)
                last_flush = time.perf_counter()
    finally:
        if measured:
            write_record(sidecar, record)
    elapsed = time.perf_counter() - start
    complete = len(record.entries) == len(units)
    if complete:
        record.complete = True
        write_record(target, record)
        sidecar.unlink(missing_ok=True)
    return BuildResult(
        target, len(units), measured, len(kept), _flagged(record.entries), elapsed, complete
    )


def _flagged(entries: dict[str, LUTEntry]) -> int:
    return sum(entry.measurement.flagged for entry in entries.values())


def _protocol_dict(proto: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    if proto is None:
        return dict(overrides)
    from dataclasses import asdict

    return asdict(proto)
