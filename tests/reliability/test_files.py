"""Damaged and foreign files: a clear error, and nothing already written is rewritten.

- latency tables (segevo.devices' loader): truncated, bit-flipped, emptied, garbage,
  another version, a partial build, another space, and random single-byte damage;
- the archive: a truncated chunk, a deleted chunk, a missing or garbled array or group
  metadata file, a commit count past the data; full chunks of committed rows are never
  touched again while a run appends;
- configurations with unknown keys or wrong types (random ones too);
- run directories of another version or not run directories at all.

Every refusal is a ValueError subclass whose message names the file or key at fault,
and a failed resume leaves every file of the archive byte-identical (same inode, same
modification time, same content).
"""

from __future__ import annotations

import datetime
import json
import shutil
import sys
from pathlib import Path

import anyio
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segevo.devices import LUTFileError, LUTSpaceMismatchError, Measurement, load_lut
from segevo.devices.lut_file import LUTEntry, LUTRecord, write_record
from segevo.devices.plan import enumerate_keys
from segevo.engine.archive import (
    COLUMNS,
    ArchiveCorruptError,
    ArchiveError,
    ArchiveWriter,
    open_archive,
)
from segevo.engine.config import ConfigError, RunConfig, from_mapping, resolve
from segevo.engine.run import Coordinator
from segevo.engine.rundir import RunDir
from segevo.nets.space import get_space

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relhelpers import slow_config, tree_digest, write_table
from support import assert_exactly_once

# ---------------------------------------------------------------------------------------
# Latency tables


@pytest.fixture(scope="module")
def lut_file(tmp_path_factory) -> tuple[Path, bytes]:
    """A complete latency table for the ``tiny`` space (random timings; no measuring)."""
    space = get_space("tiny")
    rng = np.random.default_rng(0)
    entries = {}
    for key in enumerate_keys(space, 11):
        ms = float(rng.uniform(0.01, 5.0))
        entries[key] = LUTEntry(key.split("-")[0], Measurement(5, ms, 0.1, ms, ms * 1.1, ms * 0.9))
    record = LUTRecord(
        space_name=space.name,
        space_digest=space.digest(),
        space_definition=space.definition(),
        base_hw=list(space.base_hw),
        num_classes=11,
        device={"backend": "test"},
        protocol={},
        expected_entries=len(entries),
        entries=entries,
        complete=True,
    )
    path = tmp_path_factory.mktemp("lut") / "tiny.json"
    write_record(path, record)
    return path, path.read_bytes()


def _damaged(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "damaged.json"
    path.write_bytes(data)
    return path


def _load_refused(path: Path, *kinds: type[Exception]) -> str:
    before = path.read_bytes()
    with pytest.raises(kinds or (LUTFileError,)) as refused:
        load_lut(path, get_space("tiny"))
    assert isinstance(refused.value, ValueError)
    assert path.read_bytes() == before  # the loader never writes
    return str(refused.value)


def test_an_intact_table_loads(lut_file):
    path, _ = lut_file
    table = load_lut(path, get_space("tiny"))
    X = get_space("tiny").sample(5, 0)
    # Eq. 7 by hand: the sum of the table's entries for each architecture's parts.
    manual = [sum(ms for _, ms in table.breakdown(x)) for x in X]
    np.testing.assert_allclose(table.predict(X), manual)


def test_corrupt_latency_tables_are_refused_naming_the_file(tmp_path, lut_file):
    _, good = lut_file
    document = json.loads(good)
    some_key = next(iter(document["entries"]))
    flipped = json.loads(good)
    flipped["entries"][some_key]["median_ms"] += 1.0  # still valid JSON: the checksum sees it
    newer = dict(document, version=99)
    partial = dict(document, complete=False)
    cases = {
        "truncated": (good[: len(good) // 2], "is truncated"),
        "cut at the end": (good[:-3], "is truncated"),
        "empty": (b"", "is empty"),
        "binary garbage": (bytes(range(256)) * 4, "not UTF-8"),
        "not a table": (b'{"format": "something-else"}', "not a segevo latency table"),
        "edited entry": (json.dumps(flipped).encode(), "do not match their checksum"),
        "another version": (json.dumps(newer).encode(), "version 99"),
        "partial build": (json.dumps(partial).encode(), "partial build"),
    }
    for name, (data, expected) in cases.items():
        path = _damaged(tmp_path, data)
        message = _load_refused(path)
        assert expected in message, (name, message)
        assert str(path) in message, (name, message)


def test_a_table_for_another_space_is_refused(tmp_path, lut_file):
    _, good = lut_file
    document = json.loads(good)
    document["space"]["digest"] = "0" * 64
    message = _load_refused(
        _damaged(tmp_path, json.dumps(document).encode()), LUTSpaceMismatchError
    )
    assert "digest" in message and "build a table" in message


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.data())
def test_random_damage_to_a_table_is_refused_or_harmless(tmp_path, lut_file, data):
    """Any one byte changed or cut: LUTFileError (or a space mismatch), else it still loads."""
    _, good = lut_file
    position = data.draw(st.integers(0, len(good) - 1))
    how = data.draw(st.sampled_from(["flip", "cut", "delete"]))
    if how == "flip":
        damaged = good[:position] + bytes([good[position] ^ data.draw(st.integers(1, 255))])
        damaged += good[position + 1 :]
    elif how == "cut":
        damaged = good[:position]
    else:
        damaged = good[:position] + good[position + 1 :]
    path = _damaged(tmp_path, damaged)
    try:
        table = load_lut(path, get_space("tiny"))
    except (LUTFileError, LUTSpaceMismatchError) as exc:
        assert str(path) in str(exc)
        return
    # Accepted: the damage missed everything the checksum and the checks cover (a date,
    # whitespace, the device description), so predictions are those of the intact table.
    X = get_space("tiny").sample(3, 1)
    np.testing.assert_allclose(
        table.predict(X), load_lut(lut_file[0], get_space("tiny")).predict(X)
    )


# ---------------------------------------------------------------------------------------
# The archive


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished run of 40 evaluations (kept pristine: tests damage copies)."""
    tmp = tmp_path_factory.mktemp("archive")
    table = write_table(tmp / "t.csv", (4, 4, 4))
    config = RunConfig(
        **slow_config(table, evaluations=40, initial=8, batch=8, evaluators=2),
    )
    coordinator = Coordinator.create(config, tmp / "run")
    summary = anyio.run(coordinator.run)
    assert summary.finished
    return tmp / "run"


def _copy(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


def _resume_refused(run_dir: Path) -> str:
    """Resume must refuse with a ValueError and leave the archive exactly as it was."""
    archive = run_dir / "archive.zarr"
    before = tree_digest(archive) if archive.exists() else {}

    async def resume() -> None:
        await Coordinator.resume(run_dir).run()

    with pytest.raises(ValueError) as refused:
        anyio.run(resume)
    after = tree_digest(archive) if archive.exists() else {}
    assert after == before, "a refused resume changed the archive"
    return str(refused.value)


def _chunk(run_dir: Path, array: str) -> Path:
    chunk = run_dir / "archive.zarr" / array / "c" / "0"
    return chunk / "0" if chunk.is_dir() else chunk


def test_a_truncated_chunk_is_a_clear_error(tmp_path, finished_run):
    run_dir = _copy(finished_run, tmp_path)
    chunk = _chunk(run_dir, "acc")
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    with pytest.raises(ArchiveCorruptError, match=r"array 'acc' rows 0\.\.40 cannot be read"):
        open_archive(run_dir)
    assert "'acc'" in _resume_refused(run_dir)


def test_a_deleted_chunk_is_a_clear_error(tmp_path, finished_run):
    run_dir = _copy(finished_run, tmp_path)
    _chunk(run_dir, "x").unlink()
    with pytest.raises(ArchiveCorruptError, match=r"committed rows 0\.\.39 hold unwritten"):
        open_archive(run_dir)
    assert "missing" in _resume_refused(run_dir)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("array metadata deleted", "array 'lat_ms' is missing"),
        ("array metadata garbled", "lat_ms"),
        ("group metadata garbled", "metadata"),
        ("commit past the data", "committed"),
        ("another archive version", "archive version 2"),
        ("whole array folder deleted", "array 'lat_ms' is missing"),
    ],
)
def test_damaged_archive_metadata_is_a_clear_error(tmp_path, finished_run, damage, expected):
    run_dir = _copy(finished_run, tmp_path)
    archive = run_dir / "archive.zarr"
    group = archive / "zarr.json"
    meta = json.loads(group.read_text())
    if damage == "array metadata deleted":
        (archive / "lat_ms" / "zarr.json").unlink()
    elif damage == "array metadata garbled":
        (archive / "lat_ms" / "zarr.json").write_text('{"zarr_format": 3, "node_type": "arr')
    elif damage == "group metadata garbled":
        group.write_bytes(group.read_bytes()[:50])
    elif damage == "commit past the data":
        meta["attributes"]["committed_rows"] = 10**6
        group.write_text(json.dumps(meta))
    elif damage == "another archive version":
        meta["attributes"]["version"] = 2
        group.write_text(json.dumps(meta))
    else:
        shutil.rmtree(archive / "lat_ms")
    with pytest.raises(ArchiveError) as refused:
        open_archive(run_dir)
    assert expected in str(refused.value) and "archive.zarr" in str(refused.value)
    assert expected in _resume_refused(run_dir)


@pytest.mark.anyio
async def test_full_chunks_of_committed_rows_are_never_touched_again(tmp_path):
    """While a run appends past them, chunk files of committed rows stay byte-identical."""
    table = write_table(tmp_path / "t.csv", (8, 8, 8, 4))
    config = RunConfig(
        problem=f"table:{table}",
        evaluations=1400,
        initial=16,
        batch=32,
        evaluators=2,
        strategy="random",
    )
    coordinator = Coordinator.create(config, tmp_path / "run")
    archive = tmp_path / "run" / "archive.zarr"
    seen: dict[str, tuple[int, int, str]] = {}

    async def watch() -> None:
        while coordinator.bound is None or coordinator.mirror.n < 1024:
            await anyio.sleep(0.005)
        # Rows 0..1023 fill chunk 0 of every array: from now on it must never change.
        digest = tree_digest(archive)
        seen.update({k: v for k, v in digest.items() if k.split("/")[1:3] == ["c", "0"]})

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            summary = await coordinator.run()
    assert summary.finished
    # One full chunk per column; acc_pred holds only NaN (random proposals predict
    # nothing), which is the fill value, so zarr stores no chunk for it at all.
    expected = {f"{name}/c/0" for name in COLUMNS if name not in ("x", "acc_pred")}
    assert set(seen) == expected | {"x/c/0/0"}
    after = tree_digest(archive)
    for name, (inode, mtime, sha) in seen.items():
        assert after[name] == (inode, mtime, sha), f"{name} was rewritten"
    assert_exactly_once(open_archive(tmp_path / "run"), 1400)


# ---------------------------------------------------------------------------------------
# Configurations


def test_unknown_keys_and_wrong_types_are_named(tmp_path):
    cases = [
        ({"problem": "synthetic", "evaluatons": 10}, "unknown configuration keys ['evaluatons']"),
        ({"problem": "synthetic", "evaluations": "10"}, "evaluations must be an integer"),
        ({"problem": "synthetic", "evaluations": True}, "evaluations must be an integer"),
        ({"problem": "synthetic", "lease_s": float("nan")}, "lease_s must be a finite number"),
        ({"problem": "synthetic", "lease_s": 1e8}, "lease_s must be <= 1e+07"),
        ({"problem": "synthetic", "max_frame": 2**31}, "max_frame must be <= 1073741824"),
        ({"problem": "synthetic", "evaluators": 10**6}, "evaluators must be <= 1024"),
        ({"problem": "synthetic", "listen": 8080}, "listen must be a non-empty string"),
        ({"problem": "synthetic", "listen": "host:99999"}, "port must be in 0..65535"),
        ({"problem": "synthetic", "sync": "yes"}, "sync must be true or false"),
        ({"problem": "synthetic", "problem_options": [1]}, "problem_options must be a table"),
        ({"problem": "synthetic", "hv_reference": [0, "x"]}, "hv_reference must be"),
        (
            {"problem": "synthetic", "problem_options": {"when": datetime.date(2024, 1, 1)}},
            "problem_options.when must be a string, number",
        ),
        ({"evaluations": 5}, "needs 'problem'"),
        ([1, 2], "must be a table of keys"),
    ]
    for values, expected in cases:
        with pytest.raises(ConfigError) as refused:
            from_mapping(values)  # type: ignore[arg-type]
        assert expected in str(refused.value), (values, str(refused.value))
    toml = tmp_path / "run.toml"
    toml.write_text('problem = "synthetic"\nevaluations = 10\nbudget = 5\n')
    with pytest.raises(ConfigError, match=r"run.toml: unknown keys \['budget'\]"):
        resolve(toml, {})
    toml.write_text('problem = "synthetic"\n[problem_options]\nwhen = 1979-05-27\n')
    with pytest.raises(ConfigError, match=r"problem_options\.when"):
        resolve(toml, {})
    toml.write_text("problem = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve(toml, {})


FIELD_NAMES = sorted(RunConfig.__dataclass_fields__)
any_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=12)
    | st.dates(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None, database=None)
@given(st.dictionaries(st.sampled_from([*FIELD_NAMES, "bogus"]), any_value, max_size=6))
def test_any_configuration_is_valid_or_a_config_error(values):
    values = {"problem": "synthetic", **values}
    try:
        config = from_mapping(values)
    except ConfigError:
        return
    # A configuration that was accepted survives config.json and comes back identical.
    assert from_mapping(json.loads(json.dumps(config.to_dict()))) == config


# ---------------------------------------------------------------------------------------
# Run directories


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("run.json of another version", "run directory of version 2"),
        ("run.json garbled", "run.json cannot be read"),
        ("run.json missing", "not a segevo run directory (no run.json)"),
        ("run.json of another format", "not a segevo run directory (format mismatch)"),
        ("state.json of another version", "state version 2"),
        ("state.json garbled", "state.json cannot be read"),
        ("config.json from a newer segevo", "config.json does not hold a configuration"),
        ("config.json with a wrong type", "evaluations must be an integer"),
    ],
)
def test_foreign_or_damaged_run_directories_are_refused(tmp_path, finished_run, damage, expected):
    run_dir = _copy(finished_run, tmp_path)
    what, _, how = damage.partition(" ")
    path = run_dir / what
    if damage == "run.json missing":
        path.unlink()
    elif how == "garbled":
        path.write_text(path.read_text()[:-7])
    else:
        data = json.loads(path.read_text())
        if "another version" in damage:
            data["version"] = 2
        elif "another format" in damage:
            data["format"] = "someone-else"
        elif "newer segevo" in damage:
            data["surrogate_cache"] = True
        else:
            data["evaluations"] = "many"
        path.write_text(json.dumps(data))
    message = _resume_refused(run_dir)
    assert expected in message, message
    assert str(run_dir) in message


def test_a_run_directory_in_use_is_refused(tmp_path, finished_run):
    run_dir = _copy(finished_run, tmp_path)
    holder = RunDir.open(run_dir)
    holder.acquire()
    try:
        assert "in use by another coordinator" in _resume_refused(run_dir)
    finally:
        holder.close()


def test_a_killed_writer_leaves_no_litter_behind(tmp_path, finished_run):
    """Half-written state files and archive staging folders of a killed run are cleaned."""
    run_dir = _copy(finished_run, tmp_path)
    (run_dir / ".state.json.999.1.tmp").write_text('{"version": 1, "tas')
    holder = RunDir.open(run_dir)
    holder.acquire()  # the coordinator's first step: no one else can be writing now
    holder.close()
    assert not (run_dir / ".state.json.999.1.tmp").exists()
    assert (run_dir / "state.json").exists()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / ".archive.zarr.creating-999").mkdir()
    ArchiveWriter.create(fresh, 3)
    assert sorted(p.name for p in fresh.iterdir()) == ["archive.zarr"]


def test_an_event_line_cut_by_a_kill_does_not_swallow_the_next_one(tmp_path):
    rundir = RunDir.create(tmp_path / "run", RunConfig(problem="synthetic"))
    rundir.log_event("started", evaluations=0)
    rundir.close()
    with open(rundir.events_path, "a") as f:
        f.write('{"t": 1, "event": "refit", "ver')  # the kill came mid-line
    again = RunDir.open(tmp_path / "run")
    again.log_event("resumed", evaluations=0)
    again.close()
    assert [e["event"] for e in again.read_events()] == ["started", "resumed"]
