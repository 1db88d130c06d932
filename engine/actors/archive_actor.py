"""The Archive actor: the only writer of archive.zarr, in grouped appends.

Accepted results arrive on a memory stream. Each round takes everything that is waiting
(up to ``max_batch``), writes it as one append (one zarr write per column, then the
``committed_rows`` attribute), then saves the run state, all in a worker thread; results
that arrive during a write form the next group. So the number of zarr writes per second
stays bounded however fast results come, which is what makes >= 1,000 evaluations/s
possible.

After a commit the in-memory :class:`~segevo.engine.rows.ArchiveRows` mirror (what queries,
the surrogate and the proposer read) is extended and ``on_commit`` is called on the event loop.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import numpy as np
from anyio.abc import TaskStatus

from segevo.engine.actors.dispatcher import Accepted
from segevo.engine.actors.signal import Changed
from segevo.engine.archive import ArchiveWriter
from segevo.engine.constraints import NO_CONSTRAINTS, Constraints
from segevo.engine.faultpoints import crashpoint
from segevo.engine.rows import ArchiveRows, objective_latency

log = logging.getLogger("segevo.engine.archive")


def rows_to_columns(
    batch: Sequence[Accepted], constraints: Constraints = NO_CONSTRAINTS
) -> dict[str, np.ndarray]:
    """Column arrays for :meth:`ArchiveWriter.append` from accepted results."""
    acc = np.array([a.acc for a in batch], dtype=np.float64)
    lat = objective_latency(
        np.array([a.lat_ms for a in batch], dtype=np.float64),
        np.array([a.task.lat_pred_ms for a in batch], dtype=np.float64),
    )
    return {
        "feasible": constraints.feasible(acc, lat).astype(np.int8),
        "task_id": np.array([a.task.id for a in batch], dtype=np.int64),
        "x": np.array([a.task.x for a in batch], dtype=np.int64),
        "acc": np.array([a.acc for a in batch]),
        "lat_ms": np.array([a.lat_ms for a in batch]),
        "lat_pred_ms": np.array([a.task.lat_pred_ms for a in batch]),
        "acc_pred": np.array([a.task.acc_pred for a in batch]),
        "predictor_version": np.array([a.task.predictor_version for a in batch], dtype=np.int32),
        "t_submit": np.array([a.task.t_submit for a in batch]),
        "t_done": np.array([a.t_done for a in batch]),
    }


class ArchiveActor:
    """Single writer: groups accepted results into appends, then saves the run state."""

    def __init__(
        self,
        writer: ArchiveWriter,
        mirror: ArchiveRows,
        *,
        save_state: Callable[[dict[str, Any]], None],
        snapshot: Callable[[set[int]], dict[str, Any]],
        state_lock: anyio.Lock,
        on_commit: Callable[[Sequence[Accepted]], None],
        limiter: anyio.CapacityLimiter,
        max_batch: int = 4096,
    ) -> None:
        self.writer = writer
        self.mirror = mirror
        self._save_state = save_state
        self._snapshot = snapshot
        self._state_lock = state_lock
        self._on_commit = on_commit
        self._limiter = limiter
        self.max_batch = max_batch
        self.uncommitted: dict[int, Accepted] = {}
        self.idle = Changed()
        self.appends = 0
        self._send, self._receive = anyio.create_memory_object_stream[Accepted](math.inf)

    def submit(self, accepted: Accepted) -> None:
        """Queue an accepted result for the next append (never blocks)."""
        try:
            self._send.send_nowait(accepted)
        except anyio.ClosedResourceError:
            # The archive has stopped: the task stays pending in the saved state and is
            # evaluated again on resume, so nothing is lost by refusing it here.
            return
        self.uncommitted[accepted.task.id] = accepted

    def close(self) -> None:
        """No more results; :meth:`run` returns once everything queued is written."""
        self._send.close()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        with self._receive, self._send:
            async for first in self._receive:
                batch = [first]
                while len(batch) < self.max_batch:
                    try:
                        batch.append(self._receive.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                # A write that has started is finished even if the run is being cancelled:
                # rows the evaluators delivered are never dropped.
                with anyio.CancelScope(shield=True):
                    await self._write(batch)
                self.idle.notify()

    async def _write(self, batch: list[Accepted]) -> None:
        columns = rows_to_columns(batch, self.mirror.constraints)
        names = [a.evaluator for a in batch]
        async with self._state_lock:
            # The state saved after the commit no longer lists these tasks as pending; it is
            # taken here, on the event loop, where the dispatcher's state is consistent.
            state = self._snapshot({a.task.id for a in batch})

            def append_and_save() -> None:
                self.writer.append(columns, names)
                crashpoint("archive.after_commit")
                self._save_state(state)

            await anyio.to_thread.run_sync(append_and_save, limiter=self._limiter)
            for a in batch:
                self.uncommitted.pop(a.task.id, None)
            self.mirror.extend(columns, names)
        self.appends += 1
        self._on_commit(batch)

    async def drain(self) -> None:
        """Wait until every submitted result is committed."""
        await self.idle.wait_for(lambda: not self.uncommitted)
