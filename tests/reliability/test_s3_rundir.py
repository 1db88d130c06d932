"""A run directory on an S3-compatible object store survives coordinator kills.

moto's S3 server runs on loopback (tests/s3_support.py); real ``segevo run`` processes
write the run's archive (zarr through fsspec), state, token, endpoint, event log,
surrogate checkpoints and lease into ``s3://BUCKET/runs/...``. The coordinator is
SIGKILLed from outside, killed at a crash point in the middle of an archive append, and
once more "on another machine" (its lease names another host, so the resume has to
watch the lease expire instead of seeing a dead pid), each time resumed from the bucket
alone. The oracles: snapshots of the committed rows read from the bucket after every
kill (never changed, never lost), the task ids pending in ``state.json`` at each kill
(each ends archived), the table the problem reads (every value archived equals it), and
the budget. Then ``segevo archive``, ``status`` and ``pick`` read the bucket.
"""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from relhelpers import segevo, slow_config, subprocess_env, write_config, write_table
from s3_support import moto_s3
from support import assert_exactly_once, stop, wait_for

from segevo.engine.archive import COLUMNS, open_archive
from segevo.engine.rundir import RunDir

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SIGKILL: Linux only")

BUDGET = 90
LEASE_TTL_S = "2"


@pytest.fixture(scope="module")
def s3():
    with moto_s3() as server:
        yield server


def _object(s3, key: str) -> dict | None:
    try:
        body = s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    except s3.client().exceptions.NoSuchKey:
        return None
    return json.loads(body)


def _committed(s3, prefix: str) -> int:
    """``committed_rows`` of the archive in the bucket (0 before it exists)."""
    meta = _object(s3, f"{prefix}archive.zarr/zarr.json") or {}
    return int(meta.get("attributes", {}).get("committed_rows", 0))


def _snapshot(url: str) -> tuple[dict[str, np.ndarray], set[int]]:
    data = open_archive(url)
    state = RunDir.open(url).load_state() or {}
    pending = {int(t["id"]) for t in state.get("tasks", [])}
    return {name: data[name].copy() for name in COLUMNS}, pending


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "segevo.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_run_dir_on_s3_resumes_after_kills_with_no_row_lost(tmp_path, s3):
    table_path = write_table(tmp_path / "t.csv", (5, 5, 5, 5))
    truth = {}
    with open(table_path) as f:
        for row in csv.DictReader(f):
            x = tuple(int(row[f"x{i}"]) for i in range(4))
            truth[x] = (float(row["acc"]), float(row["lat_ms"]))
    values = slow_config(
        table_path,
        delay_s=0.03,
        strategy="mosegnas",
        surrogate="rbf",
        moea_options={"pop_size": 16, "n_gen": 4},
        evaluations=BUDGET,
        initial=8,
        batch=4,
        refit_every=4,
        evaluators=1,
        lease_s=3.0,
        heartbeat_s=0.5,
    )
    config = write_config(tmp_path / "run.toml", values)
    url = s3.url("runs", "search-1")
    prefix = "runs/search-1/"
    log = tmp_path / "log.txt"
    env = subprocess_env(**s3.env, SEGEVO_LEASE_TTL_S=LEASE_TTL_S)
    snapshots: list[tuple[dict[str, np.ndarray], set[int]]] = []
    children: list[subprocess.Popen] = []

    def kill_after_progress(child: subprocess.Popen, rows: int) -> None:
        wait_for(lambda: _committed(s3, prefix) >= rows or child.poll() is not None, 120, "rows")
        child.send_signal(signal.SIGKILL)
        assert child.wait(60) == -signal.SIGKILL, log.read_text()[-3000:]

    def record() -> None:
        snapshot = _snapshot(url)
        if snapshots:
            before, _ = snapshots[-1]
            n = len(before["task_id"])
            assert len(snapshot[0]["task_id"]) >= n, "committed rows disappeared"
            for name in COLUMNS:
                np.testing.assert_array_equal(snapshot[0][name][:n], before[name], name)
        snapshots.append(snapshot)

    try:
        # 1. A new run on S3, SIGKILLed from outside once some rows are committed.
        first = segevo("run", "--config", str(config), "--run-dir", url, log=log, env=env)
        children.append(first)
        kill_after_progress(first, 20)
        record()
        assert len(snapshots[-1][0]["task_id"]) < BUDGET
        # 2. Resumed, then killed by itself in the middle of an append (rows not committed).
        crash_env = {**env, "SEGEVO_CRASH_AT": "archive.column:4"}
        second = segevo("run", "--resume", url, log=log, env=crash_env)
        children.append(second)
        assert second.wait(120) == -signal.SIGKILL, log.read_text()[-3000:]
        record()
        # 3. Resumed and killed "on another machine": its lease names another host whose
        #    clock runs a minute ahead, so it looks fresh; the next coordinator must watch
        #    it go unrenewed for a lease time on its own clock before taking it.
        third = segevo("run", "--resume", url, log=log, env=env)
        children.append(third)
        kill_after_progress(third, len(snapshots[-1][0]["task_id"]) + 10)
        record()
        lease = _object(s3, f"{prefix}lock")
        assert lease is not None and lease["pid"] == third.pid  # left behind by the kill
        lease.update(host="another-machine", renewed=time.time() + 60)
        s3.client().put_object(
            Bucket=s3.bucket, Key=f"{prefix}lock", Body=json.dumps(lease).encode()
        )
        # 4. The last resume, with no evaluator of its own: a remote evaluator that reads
        #    the token from the bucket does the rest.
        final = segevo("run", "--resume", url, "--evaluators", "0", log=log, env=env)
        children.append(final)

        def endpoint() -> str | None:
            found = _object(s3, f"{prefix}endpoint.json")
            if found is None or found.get("pid") != final.pid:
                return None
            return f"{found['host']}:{found['port']}"

        address = wait_for(endpoint, 120, "the resumed coordinator's endpoint")
        token_url = f"{url}/token"
        evaluator = segevo(
            "evaluator", "--connect", address, "--token-file", token_url, "--name", "remote",
            log=log, env=env,
        )  # fmt: skip
        children.append(evaluator)
        assert final.wait(180) == 0, log.read_text()[-3000:]
        assert evaluator.wait(60) == 0, log.read_text()[-3000:]
    finally:
        for child in children:
            stop(child)

    data = open_archive(url)
    assert_exactly_once(data, BUDGET)
    for x, a, t in zip(data["x"].tolist(), data["acc"], data["lat_pred_ms"], strict=True):
        assert truth[tuple(x)][0] == pytest.approx(a) and truth[tuple(x)][1] == pytest.approx(t)
    ids = set(data["task_id"].tolist())
    for columns, pending in snapshots:
        n = len(columns["task_id"])
        for name in COLUMNS:
            np.testing.assert_array_equal(data[name][:n], columns[name], err_msg=name)
        assert not pending - ids, f"tasks pending at a kill never archived: {pending - ids}"
    names = set(data.evaluator_names)
    assert any(name.startswith("remote@") for name in names), names
    rundir = RunDir.open(url)
    kinds = [e["event"] for e in rundir.read_events()]
    assert kinds.count("resumed") == 3 and kinds[-1] == "finished"
    assert "surrogate_restored" in kinds  # the checkpoint in the bucket was used
    keys = s3.keys(prefix)
    assert f"{prefix}lock" not in keys  # released by the coordinator that finished
    assert f"{prefix}endpoint.json" not in keys
    assert {f"{prefix}report/picks.csv", f"{prefix}report/front.png"} <= set(keys)
    assert any(k.startswith(f"{prefix}surrogate/model-v") for k in keys)
    text = log.read_text()
    # Phases 2 and 3 found a dead pid of this host in the lease and took it at once; the
    # last one watched the "other machine's" lease go unrenewed first.
    assert text.count("taking over the lease") == 3
    assert text.count("waiting up to 2 s to see whether it is alive") == 1

    # The read-only commands take the URL as RUN_DIR.
    shown = _cli(s3.env, "archive", "show", url, "--format", "csv")
    assert shown.returncode == 0, shown.stderr
    shown_rows = list(csv.DictReader(io.StringIO(shown.stdout)))
    assert sorted(int(r["id"]) for r in shown_rows) == sorted(ids)
    status = _cli(s3.env, "status", url, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["evaluations"] == BUDGET
    assert json.loads(status.stdout)["running"] is False
    front = _cli(s3.env, "archive", "front", url, "--format", "json")
    picked = _cli(s3.env, "pick", url, "-n", "3", "--format", "json")
    assert front.returncode == 0 and picked.returncode == 0, front.stderr + picked.stderr
    front_ids = {r["id"] for r in json.loads(front.stdout)}
    picked_ids = {r["id"] for r in json.loads(picked.stdout)}
    assert picked_ids and picked_ids <= front_ids <= ids


def test_run_dir_url_errors_are_clear_and_write_nothing(tmp_path, s3):
    env = subprocess_env(**s3.env)
    missing = _cli(env, "status", s3.url("runs", "nothing-here"))
    assert missing.returncode != 0
    assert "not a segevo run directory (no run.json)" in missing.stderr
    bucket_only = _cli(env, "archive", "show", f"s3://{s3.bucket}")
    assert bucket_only.returncode != 0 and "name a prefix inside the bucket" in bucket_only.stderr
    assert s3.keys("runs/nothing-here") == []
    # A run directory that exists is never started over.
    write_table(tmp_path / "t.csv", (3, 3))
    url = s3.url("runs", "occupied")
    s3.client().put_object(Bucket=s3.bucket, Key="runs/occupied/notes.txt", Body=b"mine")
    started = _cli(
        env,
        "run",
        "--problem",
        f"table:{tmp_path / 't.csv'}",
        "-n",
        "4",
        "--initial",
        "2",
        "--run-dir",
        url,
    )
    assert started.returncode != 0 and "already exists and is not an empty folder" in (
        started.stderr
    )
    assert s3.keys("runs/occupied/") == ["runs/occupied/notes.txt"]
