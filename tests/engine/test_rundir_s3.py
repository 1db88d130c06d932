"""Run directories on an object store: RunDir, its lease and event log, the archive and the
surrogate checkpoint against a real S3-compatible server (moto's, on loopback).

The kill-and-resume test of a whole ``segevo run`` is tests/reliability/test_s3_rundir.py.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import time
from pathlib import Path

import anyio
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from s3_support import moto_s3
from support import write_table

from segevo.engine.archive import ROW_COLUMNS, ArchiveError, ArchiveWriter, open_archive
from segevo.engine.config import RunConfig
from segevo.engine.dashboard.sources import EventTail, RunDirSource
from segevo.engine.location import RemotePath, StorageError, run_path
from segevo.engine.run import Coordinator
from segevo.engine.rundir import RemoteEventLog, RemoteLease, RunDir, RunDirError, read_token


@pytest.fixture(scope="module")
def s3():
    with moto_s3() as server:
        yield server


@pytest.fixture
def url(s3, request):
    # One prefix per test (the bucket is shared by the module).
    return s3.url("t", request.node.name.replace("[", "-").replace("]", ""))


def _config(**values) -> RunConfig:
    return RunConfig(problem="synthetic", **values)


def _rows(start: int, n: int, n_var: int = 3) -> dict[str, np.ndarray]:
    ids = np.arange(start, start + n)
    rows = {name: ids.astype(float) / 100 for name in ROW_COLUMNS}
    rows["task_id"] = ids
    rows["predictor_version"] = np.full(n, -1)
    rows["x"] = np.stack([ids + i for i in range(n_var)], axis=1)
    if "feasible" in rows:
        rows["feasible"] = np.ones(n, dtype=np.int8)
    return rows


# -- locations ------------------------------------------------------------------------------
def test_local_paths_stay_paths_and_urls_become_remote(tmp_path, s3):
    assert run_path(str(tmp_path)) == tmp_path
    assert run_path(f"file://{tmp_path}") == tmp_path
    remote = run_path(s3.url("runs", "a"))
    assert isinstance(remote, RemotePath) and str(remote) == s3.url("runs", "a")
    assert str(remote / "archive.zarr") == s3.url("runs", "a", "archive.zarr")
    with pytest.raises(StorageError, match="name a prefix inside the bucket"):
        run_path(f"s3://{s3.bucket}")
    with pytest.raises(StorageError, match="cannot open this location"):
        run_path("nosuchprotocol://x/y")


def test_a_missing_s3fs_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "s3fs", None)  # import s3fs raises ImportError
    with pytest.raises(StorageError) as info:
        run_path("s3://bucket/run")
    message = str(info.value)
    assert "pip install 'segevo[s3]'" in message and "\n" not in message


# -- the run directory ------------------------------------------------------------------
def test_create_and_open_round_trip(url, s3, tmp_path):
    created = RunDir.create(url, _config(evaluations=7, initial=3))
    opened = RunDir.open(url)
    assert opened.run_id == created.run_id and opened.remote
    assert opened.load_config().evaluations == 7
    token = opened.token()
    assert len(token) == 64 and read_token(f"{url}/token") == token
    assert opened.load_state() is None and opened.read_endpoint() is None
    opened.save_state({"version": 1, "tasks": []})
    assert opened.load_state() == {"version": 1, "tasks": []}
    prefix = url.split("/", 3)[3] + "/"
    assert s3.keys(prefix) == [
        f"{prefix}{n}" for n in ("config.json", "run.json", "state.json", "token")
    ]
    # A local run directory keeps the token's mode bits.
    local = RunDir.create(tmp_path / "run", _config())
    assert stat.S_IMODE(os.stat(local.token_path).st_mode) == 0o600


def test_bad_locations_are_refused_without_writing(url, s3):
    prefix = url.split("/", 3)[3] + "/"
    with pytest.raises(RunDirError, match=r"not a segevo run directory \(no run\.json\)"):
        RunDir.open(url)
    s3.client().put_object(Bucket=s3.bucket, Key=f"{prefix}run.json", Body=b"{garbled")
    with pytest.raises(RunDirError, match=r"run\.json cannot be read"):
        RunDir.open(url)
    with pytest.raises(RunDirError, match="already exists and is not an empty folder"):
        RunDir.create(url, _config())
    assert s3.keys(prefix) == [f"{prefix}run.json"]
    with pytest.raises(ValueError, match="does not exist"):
        read_token(f"{url}/token")


# -- the lease ----------------------------------------------------------------------------
def test_a_live_coordinator_keeps_the_run_and_a_dead_one_loses_it(url, monkeypatch):
    monkeypatch.setenv("SEGEVO_LEASE_TTL_S", "1")
    RunDir.create(url, _config())
    first = RunDir.open(url)
    first.acquire()
    try:
        # It renews every ttl/3: the second one sees the lease change and is refused.
        with pytest.raises(RunDirError, match="in use by another coordinator"):
            RunDir.open(url).acquire()
    finally:
        first.close()
    assert not (run_path(url) / "lock").exists()  # released
    second = RunDir.open(url)
    second.acquire()
    second.close()


def test_a_lease_left_by_a_dead_coordinator_is_taken_over(url, monkeypatch):
    monkeypatch.setenv("SEGEVO_LEASE_TTL_S", "1")
    RunDir.create(url, _config())
    lock = run_path(url) / "lock"
    stale = {"owner": "x", "pid": 1, "host": "elsewhere", "ttl_s": 1, "renewed": 0, "beat": 3}
    lock.write_bytes(json.dumps(stale).encode())  # expired by the clock: taken at once
    rundir = RunDir.open(url)
    rundir.acquire()
    assert json.loads(lock.read_bytes())["pid"] == os.getpid()
    rundir.close()
    # An unreadable lease object, never renewed: taken after one lease time unchanged.
    lock.write_bytes(b"not json")
    rundir = RunDir.open(url)
    rundir.acquire()
    assert json.loads(lock.read_bytes())["owner"] == rundir._lease.owner
    rundir.close()


def test_a_coordinator_that_loses_its_lease_stops_writing(url, s3):
    RunDir.create(url, _config())
    rundir = RunDir.open(url)
    lost = threading.Event()
    lease = RemoteLease(run_path(url) / "lock", ttl_s=0.6, on_lost=lambda message: lost.set())
    lease.acquire()
    rundir._lease = lease
    thief = {"owner": "thief", "pid": 1, "host": "elsewhere", "ttl_s": 60, "renewed": time.time()}
    (run_path(url) / "lock").write_bytes(json.dumps(thief).encode())
    assert lost.wait(10), "the lease's owner never noticed it was taken"
    with pytest.raises(RunDirError, match="lost the run's lease"):
        rundir.save_state({"version": 1})
    rundir.close()
    # The thief's lease is left alone.
    assert json.loads((run_path(url) / "lock").read_bytes())["owner"] == "thief"


@pytest.mark.parametrize("value", ["soon", "0", "nan", "-3"])
def test_a_bad_lease_time_is_refused_naming_the_variable(url, monkeypatch, value):
    RunDir.create(url, _config())
    monkeypatch.setenv("SEGEVO_LEASE_TTL_S", value)
    with pytest.raises(
        RunDirError, match=r"SEGEVO_LEASE_TTL_S=.*expected seconds in 0\.5\.\.86400"
    ):
        RunDir.open(url).acquire()
    assert not (run_path(url) / "lock").exists()


# -- the event log ------------------------------------------------------------------------
def test_events_are_segments_read_in_order_whole_and_incrementally(url):
    rundir = RunDir.create(url, _config())
    folder = rundir.events_path
    assert isinstance(folder, RemotePath)
    tail = EventTail(folder)
    log = RemoteEventLog(folder, flush_s=60, segment_bytes=400)
    for i in range(30):
        log.add(json.dumps({"t": i, "event": "requeued", "tasks": [i], "reason": "x"}) + "\n")
        if i % 7 == 6:
            log.flush()
            tail.read()
    log.close()
    tail.read()
    segments = sorted(p.name for p in folder.iterdir())
    assert len(segments) > 2  # rotated
    assert [e["t"] for e in rundir.read_events()] == list(range(30))
    assert tail.requeued_tasks == 30 and tail.counts["requeued"] == 30
    # Through RunDir: a session's first line is written at once, the rest within flush_s.
    rundir.log_event("started", evaluations=0)
    assert rundir.read_events()[-1]["event"] == "started"
    rundir.close()


# -- the archive --------------------------------------------------------------------------
def test_archive_on_s3_appends_reads_and_never_overwrites(url):
    writer = ArchiveWriter.create(url, 3, chunk_rows=4)
    for start in range(0, 10, 3):
        writer.append(_rows(start, 3), ["a", "b", "c"])
    data = open_archive(url)
    assert data["task_id"].tolist() == list(range(12)) and data.committed_rows == 12
    assert data["x"].tolist()[5] == [5, 6, 7]
    assert list(data.evaluator_names[:4]) == ["a", "b", "c", "a"]
    assert open_archive(url, start=10)["task_id"].tolist() == [10, 11]
    with pytest.raises(ArchiveError, match="never overwritten"):
        ArchiveWriter.create(url, 3)
    again = ArchiveWriter.open(url)
    again.append(_rows(12, 1), ["d"])
    assert len(open_archive(url)) == 13


def test_a_killed_archive_creation_leaves_nothing_a_reader_trusts(url):
    # A creator killed after some arrays: no group metadata, so no archive for readers...
    import zarr

    target = run_path(url) / "archive.zarr"
    zarr.create_array((target / "acc").zarr_store(read_only=False), shape=(4,), dtype="float64")
    with pytest.raises(ArchiveError, match=r"no zarr\.json"):
        open_archive(url)
    # ...and the next creator (holding the run's lock) removes the leftovers.
    writer = ArchiveWriter.create(url, 2, chunk_rows=4)
    writer.append(_rows(0, 2, n_var=2), ["a", "a"])
    assert open_archive(url)["task_id"].tolist() == [0, 1]


# -- a coordinator in this process --------------------------------------------------------
@pytest.mark.anyio
async def test_coordinator_stopped_and_resumed_on_s3_with_its_surrogate_checkpoint(
    tmp_path, url, s3
):
    write_table(tmp_path / "t.csv", (3, 3, 3, 2), seed=4)
    config = RunConfig(
        problem=f"table:{tmp_path / 't.csv'}",
        evaluations=20,
        initial=6,
        batch=4,
        evaluators=2,
        strategy="mosegnas",
        surrogate="dt",
        sync=True,
        moea_options={"pop_size": 12, "n_gen": 4},
    )
    coordinator = Coordinator.create(config, url)

    async def stop_early() -> None:
        while coordinator.mirror.n < 12:
            await anyio.sleep(0.01)
        coordinator.stop("test stop")

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_early)
            summary = await coordinator.run()
    assert not summary.finished
    before = open_archive(url)
    latest = json.loads((run_path(url) / "surrogate" / "latest.json").read_text())
    assert latest["rows"] <= len(before)
    with anyio.fail_after(120):
        summary = await Coordinator.resume(url).run()
    assert summary.finished and summary.evaluations == 20
    after = open_archive(url)
    for name in ROW_COLUMNS:
        np.testing.assert_array_equal(after[name][: len(before)], before[name], err_msg=name)
    assert len(set(after["task_id"].tolist())) == 20
    kinds = [e["event"] for e in RunDir.open(url).read_events()]
    assert "surrogate_restored" in kinds and kinds[-1] == "finished"
    assert kinds.count("started") == 1 and kinds.count("resumed") == 1
    # The dashboard reads the finished run from the bucket as it reads a folder.
    source = RunDirSource(url)
    await source._read_archive()
    await anyio.to_thread.run_sync(source._read_files)
    assert source.store.n == 20
    state = source.live_state()
    assert state["run_dir"] == url and state["finished"] and not state["running"]


def test_clients_follow_the_endpoint_the_environment_names(s3, url):
    # fsspec caches file systems by their arguments, not by the environment the endpoint
    # and credentials come from: a second server in the same process must still be used.
    ArchiveWriter.create(url, 2, chunk_rows=4).append(_rows(0, 1, n_var=2), ["a"])
    with moto_s3() as other:
        there = other.url("runs", "b")
        RunDir.create(there, _config())
        ArchiveWriter.create(there, 2, chunk_rows=4).append(_rows(5, 2, n_var=2), ["b", "b"])
        assert open_archive(there)["task_id"].tolist() == [5, 6]
        assert other.keys("runs/b/archive.zarr/zarr.json") == ["runs/b/archive.zarr/zarr.json"]
    assert open_archive(url)["task_id"].tolist() == [0]
    assert s3.keys("runs/b") == []
