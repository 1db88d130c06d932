"""The latency-table file: one JSON document, written atomically.

Layout (``format: "segevo-lut"``, ``version`` 1, or 2 when the table carries a calibration)::

    {
      "format": "segevo-lut", "version": 1,
      "complete": true,                      # false in a build's ".partial" sidecar
      "space": {"name": "tiny", "digest": "<sha256>", "base_hw": [96, 128],
                "definition": {...}},        # space.definition()
      "num_classes": 11,
      "device": {"backend": "cpu", "model": "...", "threads": 1, "torch": "...", ...},
      "protocol": {"warmup": 5, "min_repeats": 10, ...},
      "statistic": "median_ms",              # what predict() sums
      "created": "2025-01-01T12:00:00+00:00", "updated": "...",
      "expected_entries": 876,
      "entries": {"<key>": {"kind": "bottleneck", "count": 200, "mean_ms": ...,
                            "std_ms": ..., "median_ms": ..., "p95_ms": ..., "min_ms": ...,
                            "attempts": 1, "flagged": false}, ...},
      "entries_sha256": "<sha256 of the canonical JSON of entries>",
      "calibration": {"slope": 1.07, "intercept_ms": 0.21, "networks": 50,   # version 2 only
                      "method": "robust", "device": {...}, "fitted": "..."}
    }

A table without a calibration is written as version 1, exactly as before, so older segevo
reads it; one with a calibration is version 2, which older segevo refuses by name instead of
silently predicting uncalibrated sums. Version 1 files load and predict plain sums.

Writes go to a temporary file in the same folder, are flushed to disk, then renamed over
the target, so a reader sees either the old file or the new one, never a torn one. The
checksum catches a file edited or damaged in a way that still parses.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .calibration import Calibration
from .measurement import Measurement

FORMAT = "segevo-lut"
VERSION = 1  # without a calibration
CALIBRATED_VERSION = 2  # with one
READABLE_VERSIONS = (VERSION, CALIBRATED_VERSION)
STATISTICS = ("median_ms", "mean_ms", "min_ms", "p95_ms")
KINDS = ("stem", "bottleneck", "decoder")


class LUTFileError(ValueError):
    """A latency-table file that cannot be used: unreadable, truncated, corrupt or foreign."""


class LUTSpaceMismatchError(ValueError):
    """A latency table built for another search space (or another number of classes)."""


def now_iso() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass
class LUTEntry:
    """One measured part: its kind (stem, bottleneck, decoder) and its timings."""

    kind: str
    measurement: Measurement

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.measurement.to_dict()}


@dataclass
class LUTRecord:
    """Everything a latency-table file holds (see the module docstring)."""

    space_name: str
    space_digest: str
    space_definition: dict[str, Any]
    base_hw: list[int] | None
    num_classes: int
    device: dict[str, Any]
    protocol: dict[str, Any]
    expected_entries: int
    entries: dict[str, LUTEntry] = field(default_factory=dict)
    statistic: str = "median_ms"
    complete: bool = False
    created: str = field(default_factory=now_iso)
    updated: str = field(default_factory=now_iso)
    calibration: Calibration | None = None

    def to_dict(self) -> dict[str, Any]:
        entries = {key: self.entries[key].to_dict() for key in sorted(self.entries)}
        out = {
            "format": FORMAT,
            "version": VERSION if self.calibration is None else CALIBRATED_VERSION,
            "complete": self.complete,
            "space": {
                "name": self.space_name,
                "digest": self.space_digest,
                "base_hw": self.base_hw,
                "definition": self.space_definition,
            },
            "num_classes": self.num_classes,
            "device": self.device,
            "protocol": self.protocol,
            "statistic": self.statistic,
            "created": self.created,
            "updated": self.updated,
            "expected_entries": self.expected_entries,
            "entries": entries,
            "entries_sha256": entries_checksum(entries),
        }
        if self.calibration is not None:
            out["calibration"] = self.calibration.to_dict()
        return out


def entries_checksum(entries: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the entries mapping."""
    text = json.dumps(entries, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_record(path: str | os.PathLike[str], record: LUTRecord) -> None:
    """Write ``record`` to ``path`` atomically (temporary file, fsync, rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    record.updated = now_iso()
    text = json.dumps(record.to_dict(), indent=1, allow_nan=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fail(path: Path, problem: str) -> LUTFileError:
    return LUTFileError(
        f"latency table {str(path)!r} {problem}; rebuild it (segevo lut build) or restore it"
    )


def _require(data: dict[str, Any], name: str, kind: type | tuple[type, ...], path: Path) -> Any:
    if name not in data:
        raise _fail(path, f"lacks the field {name!r}")
    value = data[name]
    if not isinstance(value, kind):
        raise _fail(path, f"has a malformed field {name!r} ({type(value).__name__})")
    return value


def read_record(path: str | os.PathLike[str]) -> LUTRecord:
    """Read and check a latency-table file (complete or partial).

    Raises LUTFileError for a missing, unreadable, truncated or corrupt file, a foreign format
    or a newer version, with a message naming the file and the problem.
    """
    source = Path(path)
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise LUTFileError(
            f"latency table {str(source)!r} does not exist; build one with segevo lut build"
        ) from None
    except OSError as err:
        raise _fail(source, f"cannot be read ({err.strerror})") from None
    if not raw.strip():
        raise _fail(source, "is empty")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _fail(source, "is not UTF-8 text (corrupt, or not a latency table)") from None
    except json.JSONDecodeError as err:
        where = f"line {err.lineno}, column {err.colno}"
        # a table ends with the closing brace of its document; a cut-off write does not
        truncated = not raw.rstrip().endswith(b"}") or err.pos >= len(raw.rstrip()) - 1
        what = "is truncated" if truncated else "is corrupt"
        raise _fail(source, f"{what} (invalid JSON at {where}: {err.msg})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _fail(source, f"is not a segevo latency table (no format {FORMAT!r})")
    version = data.get("version")
    if version not in READABLE_VERSIONS:
        raise LUTFileError(
            f"latency table {str(source)!r} has format version {version!r}; this segevo "
            f"reads versions {', '.join(map(str, READABLE_VERSIONS))}"
        )
    calibration = None
    if version == CALIBRATED_VERSION:
        try:
            calibration = Calibration.from_dict(_require(data, "calibration", dict, source))
        except ValueError as err:
            if isinstance(err, LUTFileError):
                raise
            raise _fail(source, f"has a malformed calibration ({err})") from None
    entries_raw = _require(data, "entries", dict, source)
    checksum = _require(data, "entries_sha256", str, source)
    try:
        actual = entries_checksum(entries_raw)
    except ValueError:
        raise _fail(source, "has non-finite numbers in its entries") from None
    if actual != checksum:
        raise _fail(source, "is corrupt (its entries do not match their checksum)")
    space = _require(data, "space", dict, source)
    statistic = _require(data, "statistic", str, source)
    if statistic not in STATISTICS:
        raise _fail(source, f"names an unknown statistic {statistic!r} (known: {STATISTICS})")
    entries = {}
    for key, value in entries_raw.items():
        if not isinstance(value, dict) or value.get("kind") not in KINDS:
            raise _fail(source, f"has a malformed entry {key!r}")
        try:
            measurement = Measurement.from_dict(value)
        except ValueError as err:
            raise _fail(source, f"has a malformed entry {key!r} ({err})") from None
        if not all(
            math.isfinite(v) and v >= 0
            for v in (measurement.median_ms, measurement.mean_ms, measurement.min_ms)
        ):
            raise _fail(source, f"has a negative or non-finite time in entry {key!r}")
        entries[key] = LUTEntry(value["kind"], measurement)
    num_classes = _require(data, "num_classes", int, source)
    return LUTRecord(
        space_name=str(_require(space, "name", str, source)),
        space_digest=str(_require(space, "digest", str, source)),
        space_definition=dict(_require(space, "definition", dict, source)),
        base_hw=space.get("base_hw"),
        num_classes=num_classes,
        device=dict(_require(data, "device", dict, source)),
        protocol=dict(_require(data, "protocol", dict, source)),
        expected_entries=int(_require(data, "expected_entries", int, source)),
        entries=entries,
        statistic=statistic,
        complete=bool(_require(data, "complete", bool, source)),
        created=str(data.get("created", "")),
        updated=str(data.get("updated", "")),
        calibration=calibration,
    )


CALIBRATION_DEVICE_KEYS = ("backend", "model", "threads")


def store_calibration(path: str | os.PathLike[str], calibration: Calibration | None) -> LUTRecord:
    """Write ``calibration`` into the complete table at ``path`` (``None`` removes it).

    Refuses (ValueError) a calibration fitted on another device than the table's (by
    backend, model and threads), and a partial build. Returns the record as written.
    """
    record = read_record(path)
    if not record.complete:
        raise LUTFileError(f"latency table {str(path)!r} is a partial build; finish it first")
    if calibration is not None and calibration.device:
        mine = {k: record.device.get(k) for k in CALIBRATION_DEVICE_KEYS}
        theirs = {k: calibration.device.get(k) for k in CALIBRATION_DEVICE_KEYS}
        if mine != theirs:
            raise ValueError(
                f"the calibration was fitted on {theirs}, the table {str(path)!r} was measured "
                f"on {mine}; calibrate a table with networks timed on its own device"
            )
    record.calibration = calibration
    write_record(path, record)
    return record


def check_space(record: LUTRecord, space: Any, source: str) -> None:
    """Raise LUTSpaceMismatchError unless ``record`` was built for ``space``."""
    digest = space.digest()
    if record.space_digest != digest:
        raise LUTSpaceMismatchError(
            f"latency table {source!r} was built for space {record.space_name!r} "
            f"(digest {record.space_digest[:12]}), but the current space is "
            f"{getattr(space, 'name', '?')!r} (digest {digest[:12]}); build a table for "
            "this space (segevo lut build)"
        )
