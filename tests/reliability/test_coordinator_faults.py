"""kill -9 the coordinator at its most dangerous moments, resume, and lose nothing.

One search is killed again and again: by the engine's deterministic crash points
(``SEGEVO_CRASH_AT``, see segevo.engine.faultpoints) in the middle of an archive append,
between the data and the commit, between the commit and the state save, while the state
file is being replaced, during a proposal, between making tasks and saving them, during a
surrogate refit, between a refit's model file and the checkpoint record naming it, and by
SIGKILLs at random times from outside. After each kill the archive's committed rows must
all be readable and unchanged, and ``segevo run --resume``
must carry on. For the first phases the only evaluator is a separate ``segevo evaluator``
process, so the run progresses only if it reconnects by itself to each resumed
coordinator; later phases add a local evaluator (``--evaluators 1``) so that each
reaches its crash point without waiting out the remote one's backoff, and the last one
leaves the remote evaluator alone again to finish the run. At the end the
budget is reached, every task ever created is archived exactly once or was abandoned,
and every task pending at any kill was archived afterwards.
"""

from __future__ import annotations

import itertools
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from segevo.engine.archive import COLUMNS, open_archive

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relhelpers import segevo, slow_config, state, subprocess_env, write_config, write_table
from support import (
    assert_exactly_once,
    committed_rows,
    endpoint_of,
    evaluator_args,
    events,
    stop,
    wait_for,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SIGKILL and /proc: Linux only")

BUDGET = 240
REMOTE_ONLY_PHASES = 3
CRASHES = [
    "archive.column:4",  # first append, after 4 of its 10 column writes
    "proposal.running:2",
    "archive.before_commit:3",
    "refit.running:2",
    "surrogate.checkpoint_written:2",
    "archive.after_commit:3",
    "tasks.staged:2",
    "state.before_rename:5",
    "tasks.saved:2",
    None,  # a SIGKILL from outside at a random moment
    None,
]


def _snapshot(run_dir: Path) -> tuple[dict[str, np.ndarray], set[int]]:
    data = open_archive(run_dir)  # raises if any committed row is unreadable
    pending = {int(t["id"]) for t in state(run_dir).get("tasks", [])}
    return {name: data[name].copy() for name in COLUMNS}, pending


def test_kill_9_at_every_phase_then_resume_loses_and_repeats_nothing(tmp_path):
    table = write_table(tmp_path / "t.csv", (5, 5, 5, 5))
    values = slow_config(
        table,
        delay_s=0.02,
        strategy="mosegnas",
        surrogate="rbf",
        moea_options={"pop_size": 16, "n_gen": 4},
        evaluations=BUDGET,
        initial=8,
        batch=4,
        refit_every=3,
        evaluators=0,
        lease_s=3.0,
        heartbeat_s=0.5,
    )
    config = write_config(tmp_path / "run.toml", values)
    run_dir = tmp_path / "run"
    log = tmp_path / "log.txt"
    rng = random.Random(8)
    children: list[subprocess.Popen] = []
    snapshots: list[tuple[dict[str, np.ndarray], set[int]]] = []
    remote = None
    try:
        for phase, crash in enumerate(CRASHES):
            env = subprocess_env(SEGEVO_CRASH_AT=crash) if crash else subprocess_env()
            if phase == 0:
                args = ["run", "--config", str(config), "--run-dir", str(run_dir)]
            else:
                args = ["run", "--resume", str(run_dir)]
                if phase >= REMOTE_ONLY_PHASES:
                    args += ["--evaluators", "1"]
            coordinator = segevo(*args, log=log, env=env)
            children.append(coordinator)
            if remote is None:
                endpoint = wait_for(lambda: endpoint_of(run_dir), 60, "the endpoint file")
                remote = segevo(
                    *evaluator_args(run_dir, "survivor", "--prefetch", "2", endpoint=endpoint),
                    log=log,
                )
                children.append(remote)
            if crash is None:
                # From outside, at a random moment once the run is moving again.
                before = committed_rows(run_dir)
                wait_for(lambda b=before: committed_rows(run_dir) > b, 60, "progress")
                time.sleep(rng.uniform(0.0, 0.2))
                coordinator.send_signal(signal.SIGKILL)
            code = coordinator.wait(90)
            assert code == -signal.SIGKILL, (
                f"phase {phase} ({crash}): the coordinator exited with {code} instead of "
                f"being killed; the budget may be too small\n{log.read_text()[-3000:]}"
            )
            snapshot = _snapshot(run_dir)
            if snapshots:
                # Committed rows never change or disappear.
                before, _ = snapshots[-1]
                n = len(before["task_id"])
                assert len(snapshot[0]["task_id"]) >= n
                for name in COLUMNS:
                    np.testing.assert_array_equal(snapshot[0][name][:n], before[name], name)
            snapshots.append(snapshot)
        # The remote evaluator alone again: the run ends only once it has reconnected.
        final = segevo("run", "--resume", str(run_dir), "--evaluators", "0", log=log)
        children.append(final)
        assert final.wait(120) == 0, log.read_text()[-3000:]
        assert remote is not None and remote.wait(30) == 0, log.read_text()[-3000:]
    finally:
        for child in children:
            stop(child)

    data = open_archive(run_dir)
    assert_exactly_once(data, BUDGET)
    ids = set(data["task_id"].tolist())
    abandoned = {int(a["id"]) for a in state(run_dir).get("abandoned", [])}
    for columns, pending in snapshots:
        n = len(columns["task_id"])
        for name in COLUMNS:
            np.testing.assert_array_equal(data[name][:n], columns[name], err_msg=name)
        lost = pending - ids - abandoned
        assert not lost, f"tasks pending at a kill were never archived: {sorted(lost)}"
    # Every task id ever handed out ended archived or abandoned: none lost in between.
    assert ids | abandoned == set(range(max(ids | abandoned) + 1))
    # While it was the only evaluator, the remote one found each resumed coordinator by
    # itself and did all the work; it was there at the end too (it exited on bye).
    log_events = events(run_dir)
    resumed_at = [e["t"] for e in log_events if e["event"] == "resumed"]
    local_from = resumed_at[REMOTE_ONLY_PHASES - 1]
    early = data.evaluator_names[data["t_done"] < local_from]
    assert len(early) and all(name.startswith("survivor@") for name in early)
    for start, end in itertools.pairwise(resumed_at[:REMOTE_ONLY_PHASES]):
        assert any(
            e["event"] == "evaluator_connected"
            and e["evaluator"].startswith("survivor@")
            and start < e["t"] < end
            for e in log_events
        ), "the remote evaluator did not reconnect to a resumed coordinator"
    kinds = [e["event"] for e in log_events]
    assert kinds.count("resumed") == len(CRASHES)
    assert kinds.count("refit") >= 1 and kinds[-1] == "finished"
    progress = [len(columns["task_id"]) for columns, _ in snapshots]
    assert progress[-1] < BUDGET and progress == sorted(progress)


GROW_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from segevo.engine.archive import ArchiveWriter, ROW_COLUMNS
    path, start, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if start == 0:
        writer = ArchiveWriter.create(path, 3, chunk_rows=4)
    else:
        writer = ArchiveWriter.open(path)
    for i in range(start, start + n):
        rows = {name: np.array([i], dtype=float) for name in ROW_COLUMNS}
        rows["task_id"] = np.array([i]); rows["predictor_version"] = np.array([-1])
        rows["x"] = np.array([[i, i + 1, i + 2]])
        writer.append(rows, [f"e{i % 3}"])
    """
)


def test_kill_9_between_the_resizes_of_a_growing_archive(tmp_path):
    """A writer killed while growing leaves arrays of different lengths; appending goes on."""
    path = str(tmp_path / "archive.zarr")

    def write(start: int, n: int, crash: str | None) -> int:
        env = subprocess_env(SEGEVO_CRASH_AT=crash) if crash else subprocess_env()
        return subprocess.run(
            [sys.executable, "-c", GROW_SCRIPT, path, str(start), str(n)], env=env, timeout=60
        ).returncode

    # Rows 0..3 fill the first chunk; row 4 grows the arrays, killed after 3 of 10 resizes.
    assert write(0, 6, "archive.grow:3") == -signal.SIGKILL
    shapes = {open_archive(path).committed_rows}
    assert shapes == {4}
    assert write(4, 9, None) == 0
    data = open_archive(path)
    assert data["task_id"].tolist() == list(range(13))
    assert data["x"].tolist() == [[i, i + 1, i + 2] for i in range(13)]
    np.testing.assert_array_equal(data["acc"], np.arange(13.0))
