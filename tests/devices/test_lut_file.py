"""The table file: round trip, and clear errors for damaged or foreign files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segevo.devices import LUTFileError, LUTSpaceMismatchError, load_lut
from segevo.devices.lut_file import read_record, write_record
from segevo.nets.space import get_space

from .conftest import random_record

CLASSES = 11


@pytest.fixture(scope="module")
def record(tiny):
    return random_record(tiny, CLASSES, seed=5)


@pytest.fixture
def lut_path(tmp_path: Path, record) -> Path:
    path = tmp_path / "tiny.lut.json"
    write_record(path, record)
    return path


def test_round_trip(lut_path: Path, record, tiny) -> None:
    back = read_record(lut_path)
    assert back.entries == record.entries
    assert (back.space_digest, back.num_classes, back.complete) == (tiny.digest(), CLASSES, True)
    data = json.loads(lut_path.read_text())
    for field in ("device", "protocol", "created", "updated", "statistic", "expected_entries"):
        assert field in data
    assert data["space"]["base_hw"] == [96, 128]
    lut = load_lut(lut_path, tiny)
    x = tiny.sample(3, 0)
    expected = [sum(e[1] for e in lut.breakdown(v)) for v in x]
    np.testing.assert_allclose(lut.predict(x), expected)


def test_write_is_atomic_and_leaves_no_temporary(tmp_path: Path, record) -> None:
    path = tmp_path / "t.json"
    write_record(path, record)
    write_record(path, record)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_file_is_named_as_truncated(lut_path: Path, tiny, keep: float) -> None:
    raw = lut_path.read_bytes()
    lut_path.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(LUTFileError, match=r"tiny\.lut\.json.*truncated"):
        load_lut(lut_path, tiny)


def test_garbage_and_empty_files(lut_path: Path, tiny) -> None:
    raw = bytearray(lut_path.read_bytes())
    raw[100:110] = b"}{#@!\x00\x01\x02\x03\x04"
    lut_path.write_bytes(bytes(raw))
    with pytest.raises(LUTFileError, match=r"corrupt|UTF-8"):
        load_lut(lut_path, tiny)
    lut_path.write_bytes(b"")
    with pytest.raises(LUTFileError, match="empty"):
        load_lut(lut_path, tiny)
    lut_path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(LUTFileError, match="UTF-8"):
        load_lut(lut_path, tiny)


def test_edited_value_fails_the_checksum(lut_path: Path, tiny) -> None:
    data = json.loads(lut_path.read_text())
    key = next(iter(data["entries"]))
    data["entries"][key]["median_ms"] *= 2
    lut_path.write_text(json.dumps(data))
    with pytest.raises(LUTFileError, match="checksum"):
        load_lut(lut_path, tiny)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.pop("format"), "not a segevo latency table"),
        (lambda d: d.update(version=99), "version 99"),
        (lambda d: d.pop("num_classes"), "num_classes"),
        (lambda d: d.update(statistic="mode_ms"), "statistic"),
        (lambda d: d.pop("space"), "space"),
    ],
)
def test_malformed_fields(lut_path: Path, tiny, edit, match: str) -> None:
    data = json.loads(lut_path.read_text())
    edit(data)
    lut_path.write_text(json.dumps(data))
    with pytest.raises(LUTFileError, match=match):
        load_lut(lut_path, tiny)


def test_missing_file(tmp_path: Path, tiny) -> None:
    with pytest.raises(LUTFileError, match="does not exist"):
        load_lut(tmp_path / "nope.json", tiny)


def test_table_of_another_space_is_refused_naming_both(lut_path: Path, tiny) -> None:
    other = get_space("tiny", base_hw=(64, 96))
    with pytest.raises(LUTSpaceMismatchError) as err:
        load_lut(lut_path, other)
    message = str(err.value)
    assert tiny.digest()[:12] in message and other.digest()[:12] in message
    r50 = get_space("r50")
    with pytest.raises(LUTSpaceMismatchError, match=r"'tiny'.*'r50'"):
        load_lut(lut_path, r50)


def test_partial_table_is_refused(tmp_path: Path, record, tiny) -> None:
    from dataclasses import replace

    partial = replace(record, complete=False, entries=dict(list(record.entries.items())[:10]))
    path = tmp_path / "p.json"
    write_record(path, partial)
    with pytest.raises(LUTFileError, match=r"partial build .*10 of"):
        load_lut(path, tiny)


# --------------------------------------------------------------------------- calibration


def test_calibration_round_trips_through_the_file_and_is_applied(
    lut_path: Path, record, tiny
) -> None:
    from segevo.devices import Calibration, store_calibration

    plain = load_lut(lut_path, tiny)
    x = tiny.sample(50, 1)
    cal = Calibration(
        slope=1.07, intercept_ms=0.25, networks=50, method="robust", device=dict(record.device)
    )
    store_calibration(lut_path, cal)
    data = json.loads(lut_path.read_text())
    assert data["version"] == 2 and data["calibration"]["slope"] == 1.07
    assert data["calibration"]["networks"] == 50 and data["calibration"]["device"] == record.device
    assert read_record(lut_path).calibration == cal
    lut = load_lut(lut_path, tiny)
    assert lut.calibration == cal
    np.testing.assert_allclose(lut.predict(x), 1.07 * plain.predict(x) + 0.25, rtol=1e-12)
    np.testing.assert_allclose(lut.predict(x, calibrated=False), plain.predict(x))
    # removing it writes a version-1 file again, predicting plain sums
    store_calibration(lut_path, None)
    assert json.loads(lut_path.read_text())["version"] == 1
    np.testing.assert_allclose(load_lut(lut_path, tiny).predict(x), plain.predict(x))


def test_old_files_without_calibration_load_and_predict_as_before(lut_path: Path, tiny) -> None:
    """A version-1 file as segevo wrote it before calibrations existed (no such field)."""
    data = json.loads(lut_path.read_text())
    assert data["version"] == 1 and "calibration" not in data
    lut = load_lut(lut_path, tiny)
    assert lut.calibration is None
    x = tiny.sample(20, 2)
    by_hand = [sum(ms for _, ms in lut.breakdown(v)) for v in x]
    np.testing.assert_allclose(lut.predict(x), by_hand, rtol=1e-12)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.pop("calibration"), "calibration"),
        (lambda d: d["calibration"].update(slope=-1.0), "malformed calibration.*slope"),
        (lambda d: d["calibration"].pop("networks"), "malformed calibration.*networks"),
        (lambda d: d["calibration"].update(slope="1.1"), "malformed calibration.*number"),
    ],
)
def test_malformed_calibration_is_named(lut_path: Path, record, tiny, edit, match: str) -> None:
    from segevo.devices import Calibration, store_calibration

    store_calibration(lut_path, Calibration(slope=1.1, intercept_ms=0.0, networks=5))
    data = json.loads(lut_path.read_text())
    edit(data)
    lut_path.write_text(json.dumps(data))
    with pytest.raises(LUTFileError, match=match):
        load_lut(lut_path, tiny)


def test_calibration_of_another_device_is_refused(lut_path: Path, record) -> None:
    from segevo.devices import Calibration, store_calibration

    other = {**record.device, "threads": 4}
    cal = Calibration(slope=1.1, intercept_ms=0.0, networks=5, device=other)
    with pytest.raises(ValueError, match=r"fitted on .*threads.*4"):
        store_calibration(lut_path, cal)
    assert read_record(lut_path).calibration is None
