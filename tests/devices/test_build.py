"""build_lut: complete builds, resume after an interruption, refusals; real cpu and ort-cpu
builds of a few parts, with their progress events."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segevo.devices import (
    BuildProgress,
    LUTSpaceMismatchError,
    build_lut,
    enumerate_keys,
    get_device,
    load_lut,
    partial_path,
)
from segevo.devices.lut_file import read_record
from segevo.nets.space import get_space

from .conftest import FakeDevice

CLASSES = 11


@pytest.fixture(scope="module")
def all_keys(micro) -> list[str]:
    return enumerate_keys(micro, CLASSES)


def test_full_build_measures_every_key_once(tmp_path: Path, micro, all_keys) -> None:
    dev = FakeDevice()
    path = tmp_path / "lut.json"
    result = build_lut(micro, dev, path, num_classes=CLASSES)
    assert result.complete and result.measured == dev.calls == len(all_keys) == result.total
    assert not partial_path(path).exists()
    record = read_record(path)
    assert sorted(record.entries) == all_keys
    assert record.device == dev.identity() and record.complete
    lut = load_lut(path, micro)
    assert len(lut) == len(all_keys)
    # a second call finds the table complete and measures nothing
    again = build_lut(micro, dev, path, num_classes=CLASSES)
    assert again.complete and again.measured == 0 and dev.calls == len(all_keys)


def test_interrupted_build_resumes_with_only_the_missing_entries(
    tmp_path: Path, micro, all_keys
) -> None:
    path = tmp_path / "lut.json"
    first = FakeDevice(interrupt_after=60)
    with pytest.raises(KeyboardInterrupt):
        build_lut(micro, first, path, num_classes=CLASSES, flush_every_s=3600)
    assert not path.exists()
    partial = read_record(partial_path(path))  # flushed on the way out despite the interval
    assert len(partial.entries) == 60 and not partial.complete
    with pytest.raises(Exception, match="partial build"):
        load_lut(partial_path(path), micro)

    second = FakeDevice()
    result = build_lut(micro, second, path, num_classes=CLASSES)
    assert second.calls == len(all_keys) - 60
    assert (result.reused, result.measured, result.complete) == (60, len(all_keys) - 60, True)
    record = read_record(path)
    assert sorted(record.entries) == all_keys
    for key, entry in partial.entries.items():  # the earlier measurements were kept
        assert record.entries[key] == entry
    assert not partial_path(path).exists()


def test_limited_build_then_resume(tmp_path: Path, micro, all_keys) -> None:
    path = tmp_path / "lut.json"
    dev = FakeDevice()
    part = build_lut(micro, dev, path, num_classes=CLASSES, max_entries=30)
    assert (part.complete, part.measured, part.missing) == (False, 30, len(all_keys) - 30)
    assert part.estimated_total_s() == pytest.approx(part.seconds_per_entry * len(all_keys))
    with pytest.raises(Exception, match="not complete"):
        part.table(micro)
    rest = build_lut(micro, dev, path, num_classes=CLASSES)
    assert rest.complete and dev.calls == len(all_keys)
    assert len(rest.table(micro)) == len(all_keys)


def test_resume_false_starts_over(tmp_path: Path, micro, all_keys) -> None:
    path = tmp_path / "lut.json"
    build_lut(micro, FakeDevice(), path, num_classes=CLASSES, max_entries=20)
    dev = FakeDevice()
    build_lut(micro, dev, path, num_classes=CLASSES, resume=False)
    assert dev.calls == len(all_keys)


def test_resume_refuses_another_space_device_or_class_count(tmp_path: Path, micro) -> None:
    path = tmp_path / "lut.json"
    build_lut(micro, FakeDevice(), path, num_classes=CLASSES, max_entries=5)
    other = get_space("tiny")
    with pytest.raises(LUTSpaceMismatchError, match="resume=False"):
        build_lut(other, FakeDevice(), path, num_classes=CLASSES)
    with pytest.raises(LUTSpaceMismatchError, match="classes"):
        build_lut(micro, FakeDevice(), path, num_classes=CLASSES + 1)
    with pytest.raises(ValueError, match="must not be mixed"):
        build_lut(micro, FakeDevice(model="other"), path, num_classes=CLASSES)


def dev_keys(path: Path) -> set[str]:
    return set(json.loads(partial_path(path).read_text())["entries"])


def test_progress_must_be_a_callback(tmp_path: Path, micro) -> None:
    with pytest.raises(ValueError, match="progress must be a callable"):
        build_lut(micro, FakeDevice(), tmp_path / "x.json", num_classes=CLASSES, progress=True)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"num_classes": 0}, "num_classes"),
        ({"num_classes": CLASSES, "max_entries": -1}, "max_entries"),
        ({"num_classes": CLASSES, "time_limit_s": 0}, "time_limit_s"),
    ],
)
def test_bad_options(tmp_path: Path, micro, options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_lut(micro, FakeDevice(), tmp_path / "x.json", **options)


@pytest.mark.parametrize("device", ["cpu", "ort-cpu"])
def test_real_build_of_a_few_entries(tmp_path: Path, tiny, device: str) -> None:
    """Real devices time real blocks: positive, ordered statistics in the sidecar, and one
    progress event before the first part and after each."""
    path = tmp_path / "lut.json"
    dev = get_device(device, threads=1, warmup=1, min_repeats=3, max_repeats=5, budget_s=0.01)
    events: list[BuildProgress] = []
    result = build_lut(tiny, dev, path, num_classes=CLASSES, progress=events.append, max_entries=4)
    assert result.measured == 4 and not result.complete
    assert [(e.done, e.measured) for e in events] == [(i, i) for i in range(5)]
    assert {e.total for e in events} == {result.total}
    assert events[0].key == "" and all(e.key in dev_keys(path) for e in events[1:])
    assert all(e.elapsed_s > 0 and e.seconds_left() > 0 for e in events[1:])
    data = json.loads(partial_path(path).read_text())
    assert data["device"]["backend"] == device and data["device"]["threads"] == 1
    assert data["space"]["digest"] == tiny.digest()
    times = np.array([[e["min_ms"], e["median_ms"], e["p95_ms"]] for e in data["entries"].values()])
    assert np.all(times > 0) and np.all(np.diff(times, axis=1) >= 0)
