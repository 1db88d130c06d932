"""A run's resumable state: everything a resume needs that the archive does not hold.

``RUN_DIR/state.json`` (written after every commit and whenever tasks are created) holds
the RNG state, the next task id, the ``--sync`` generation, the pending tasks (queued,
leased, accepted but not yet committed, or staged) and the abandoned ones. :func:`restore`
rebuilds a run from its archive and that file, for :meth:`Coordinator.resume`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from segevo.engine.actors.dispatcher import Dispatcher, TaskRecord
from segevo.engine.archive import ArchiveWriter, open_archive
from segevo.engine.config import RunConfig
from segevo.engine.problem import Problem
from segevo.engine.rows import ArchiveRows
from segevo.engine.rundir import RunDir, RunDirError
from segevo.engine.tasks import TaskBook

__all__ = ["STATE_VERSION", "Restored", "restore", "state_record"]

STATE_VERSION = 1


def state_record(
    *,
    rng: np.random.Generator,
    tasks: TaskBook,
    generation: int,
    dispatcher: Dispatcher,
    uncommitted: Iterable[TaskRecord],
) -> dict[str, Any]:
    """The state file's content, as plain JSON data."""
    pending = [t.to_state() for t in dispatcher.tasks.values()]
    pending += [t.to_state() for t in uncommitted]
    pending += [t.to_state() for t in tasks.staged]
    return {
        "version": STATE_VERSION,
        "rng": rng.bit_generator.state,
        "next_task_id": tasks.next_id,
        "generation": generation,
        "abandoned": [{"id": i, "x": x} for i, x in dispatcher.abandoned.items()],
        "tasks": pending,
    }


@dataclass
class Restored:
    """What a resumed run starts from."""

    writer: ArchiveWriter
    rows: ArchiveRows
    rng: np.random.Generator
    generation: int
    pending: list[TaskRecord]


def restore(
    rundir: RunDir,
    problem: Problem,
    config: RunConfig,
    dispatcher: Dispatcher,
    tasks: TaskBook,
) -> Restored:
    """The archive, RNG, task ids and pending tasks of the run in ``rundir``; fills the
    dispatcher's completed and abandoned tasks and the task book."""
    writer = ArchiveWriter.open(rundir.path)
    rows = open_archive(rundir.path)
    if rows.X.shape[1] != problem.n_var:
        raise RunDirError(
            f"{rundir.path}: the archive has {rows.X.shape[1]} digits per architecture but "
            f"the problem has {problem.n_var}"
        )
    rows.constraints, rows.config = config.constraints, config
    done_ids = {int(i) for i in rows.task_id}
    dispatcher.completed_ids.update(done_ids)
    tasks.take_on(rows.X)
    state = rundir.load_state()
    first_free_id = max(done_ids, default=-1) + 1
    if state is None:
        tasks.next_id = first_free_id
        return Restored(writer, rows, np.random.default_rng([config.seed, len(rows)]), 0, [])
    if state.get("version") != STATE_VERSION:
        raise RunDirError(
            f"{rundir.state_path} has state version {state.get('version')!r}; this segevo "
            f"reads version {STATE_VERSION}"
        )
    pending: list[TaskRecord] = []
    try:
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng"]
        tasks.next_id = int(state["next_task_id"])
        generation = int(state.get("generation", 0))
        for item in state.get("abandoned", []):
            x = [int(v) for v in item["x"]]
            dispatcher.abandoned[int(item["id"])] = x
            tasks.take_on([x])
        for item in state.get("tasks", []):
            task = TaskRecord.from_state(item)
            if task.id in done_ids or tasks.has(task.x):
                continue  # archived just before the kill, after the state was saved
            pending.append(task)
            tasks.take_on([task.x])
    except (KeyError, TypeError, ValueError) as exc:
        raise RunDirError(f"{rundir.state_path} is damaged: {exc}") from exc
    tasks.next_id = max(tasks.next_id, first_free_id)
    return Restored(writer, rows, rng, generation, pending)
