"""Real processes, real TCP on loopback: attach, kill, resume, read while writing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from segevo.engine.archive import COLUMNS, open_archive
from segevo.engine.client import query_once
from segevo.engine.rundir import read_token
from segevo.engine.wire import parse_endpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_helpers import segevo, subprocess_env, write_config
from support import (
    assert_exactly_once,
    committed_rows,
    endpoint_of,
    evaluator_args,
    events,
    stop,
    wait_for,
    write_table,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _config(tmp_path: Path, radix=(4, 4, 4), **values) -> Path:
    write_table(tmp_path / "t.csv", radix)
    values.setdefault("strategy", "random")
    values.setdefault("initial", 6)
    values.setdefault("batch", 4)
    return write_config(tmp_path / "run.toml", **values)


def _delayed(tmp_path: Path, **options) -> dict:
    return {
        "problem": "engine_helpers:delayed_table",
        "problem_options": {"path": str(tmp_path / "t.csv"), **options},
    }


def _status(run_dir: Path) -> dict:
    return query_once(parse_endpoint(endpoint_of(run_dir)), read_token(run_dir / "token"), "status")


def test_remote_evaluator_attached_mid_run_takes_tasks(tmp_path):
    config = _config(tmp_path, **_delayed(tmp_path, delay_s=0.08), evaluations=60, evaluators=1)
    run_dir = tmp_path / "run"
    log = tmp_path / "log.txt"
    run = segevo("run", "--config", str(config), "--run-dir", str(run_dir), log=log)
    remote = None
    try:
        wait_for(lambda: committed_rows(run_dir) >= 5, 60, "the first rows")
        remote = segevo(*evaluator_args(run_dir, "remote-1", "--give-up-after", "10"), log=log)
        assert run.wait(90) == 0, log.read_text()
        assert remote.wait(30) == 0, log.read_text()
    finally:
        stop(run)
        if remote is not None:
            stop(remote)
    data = open_archive(run_dir)
    assert_exactly_once(data, 60)
    names = list(data.evaluator_names)
    remote_rows = [i for i, n in enumerate(names) if n.startswith("remote-1@")]
    assert remote_rows, "the remote evaluator took no task"
    assert min(remote_rows) >= 5  # it attached mid-run
    assert names[:5] == ["local-0"] * 5
    kinds = [e["event"] for e in events(run_dir)]
    assert "evaluator_connected" in kinds and "finished" in kinds


def test_killed_evaluator_task_is_requeued_and_archived_once(tmp_path):
    config = _config(
        tmp_path,
        **_delayed(tmp_path, delay_s=0.3),
        evaluations=8,
        initial=4,
        evaluators=0,
        lease_s=5.0,
        heartbeat_s=1.0,
    )
    run_dir = tmp_path / "run"
    log = tmp_path / "log.txt"
    run = segevo("run", "--config", str(config), "--run-dir", str(run_dir), log=log)
    children = [run]
    try:
        endpoint = wait_for(lambda: endpoint_of(run_dir), 60, "the endpoint file")
        # A wrong token is refused for good: exit code 2.
        bad_token = tmp_path / "bad-token"
        bad_token.write_text("not-the-token\n")
        intruder = segevo(
            "evaluator", "--connect", endpoint, "--token-file", str(bad_token), log=log
        )
        children.append(intruder)
        assert intruder.wait(30) == 2
        victim = segevo(
            *evaluator_args(run_dir, "victim", "--prefetch", "3", endpoint=endpoint), log=log
        )
        children.append(victim)
        held = wait_for(
            lambda: [
                lease["task"]
                for lease in _status(run_dir)["leases"]
                if lease["evaluator"].startswith("victim@")
            ],
            60,
            "the victim to hold tasks",
        )
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        rescuer = segevo(*evaluator_args(run_dir, "rescuer", endpoint=endpoint), log=log)
        children.append(rescuer)
        assert run.wait(90) == 0, log.read_text()
        assert rescuer.wait(30) == 0
    finally:
        for child in children:
            stop(child)
    data = open_archive(run_dir)
    assert_exactly_once(data, 8)
    requeued = [
        e
        for e in events(run_dir)
        if e["event"] == "requeued" and e["evaluator"].startswith("victim@")
    ]
    assert requeued, "the victim's tasks were not re-queued"
    requeued_ids = set(requeued[0]["tasks"])
    assert set(held) <= requeued_ids
    ids = data["task_id"].tolist()
    for task in requeued_ids:
        assert ids.count(task) == 1
    refused = [e for e in events(run_dir) if e["event"] == "refused"]
    assert any("wrong token" in e["reason"] for e in refused)


def test_resume_after_sigkill_reaches_the_budget_without_duplicates(tmp_path):
    # The default listen address (any free port): the resumed coordinator takes the old
    # port back, which is how the remote evaluator finds it again.
    config = _config(
        tmp_path,
        radix=(5, 5, 5),
        **_delayed(tmp_path, delay_s=0.01),
        evaluations=80,
        evaluators=1,
        lease_s=5.0,
        heartbeat_s=0.5,
    )
    run_dir = tmp_path / "run"
    log = tmp_path / "log.txt"
    first = segevo("run", "--config", str(config), "--run-dir", str(run_dir), log=log)
    children = [first]
    try:
        endpoint = wait_for(lambda: endpoint_of(run_dir), 60, "the endpoint file")
        remote = segevo(*evaluator_args(run_dir, "survivor", endpoint=endpoint), log=log)
        children.append(remote)
        wait_for(lambda: committed_rows(run_dir) >= 20, 60, "20 committed rows")
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = open_archive(run_dir)
        assert 20 <= len(killed_at) < 80
        # No local evaluator this time: only the remote one, reconnecting, can finish the run.
        second = segevo("run", "--resume", str(run_dir), "--evaluators", "0", log=log)
        children.append(second)
        assert second.wait(90) == 0, log.read_text()
        # The remote evaluator found the resumed coordinator by itself and saw it finish.
        assert remote.wait(30) == 0, log.read_text()
    finally:
        for child in children:
            stop(child)
    data = open_archive(run_dir)
    assert_exactly_once(data, 80)
    for name in COLUMNS:
        np.testing.assert_array_equal(data[name][: len(killed_at)], killed_at[name], err_msg=name)
    kinds = [e["event"] for e in events(run_dir)]
    assert kinds.count("resumed") == 1
    resumed_at = next(e["t"] for e in events(run_dir) if e["event"] == "resumed")
    names = data.evaluator_names[data["t_done"] > resumed_at]
    assert len(names) and all(n.startswith("survivor@") for n in names)


READER = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from segevo.engine.archive import open_archive
    run_dir, budget = sys.argv[1], int(sys.argv[2])
    seen = None
    sizes = set()
    reads = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            data = open_archive(run_dir)
        except ValueError as exc:
            if "no zarr.json" in str(exc):
                time.sleep(0.01)
                continue
            raise
        reads += 1
        n = len(data)
        sizes.add(n)
        # Every row visible is complete, and rows never change once seen.
        assert np.all(data["task_id"] >= 0) and np.all(np.isfinite(data["acc"]))
        assert len(np.unique(data["task_id"])) == n
        if seen is not None:
            assert n >= len(seen["task_id"])
            for k in ("task_id", "x", "acc", "t_done"):
                assert np.array_equal(data[k][: len(seen[k])], seen[k]), k
        seen = {k: data[k].copy() for k in ("task_id", "x", "acc", "t_done")}
        if n >= budget:
            break
    print(json.dumps({"reads": reads, "distinct_sizes": len(sizes), "last": n}))
    """
)


def test_reader_process_never_sees_an_uncommitted_row(tmp_path):
    budget = 1500
    config = _config(
        tmp_path,
        radix=(8, 8, 8, 4),
        problem=f"table:{tmp_path / 't.csv'}",
        evaluations=budget,
        evaluators=2,
        initial=10,
        batch=16,
    )
    run_dir = tmp_path / "run"
    log = tmp_path / "log.txt"
    run = segevo("run", "--config", str(config), "--run-dir", str(run_dir), log=log)
    try:
        reader = subprocess.run(
            [sys.executable, "-c", READER, str(run_dir), str(budget)],
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=150,
        )
        assert reader.returncode == 0, reader.stderr
        report = json.loads(reader.stdout)
        assert run.wait(60) == 0, log.read_text()
    finally:
        stop(run)
    assert report["last"] == budget
    assert report["distinct_sizes"] >= 3  # it really read while rows were being appended
    assert_exactly_once(open_archive(run_dir), budget)
