"""The task book: the one owner of which architectures a run has taken on.

A task is created here (a new id, the architecture, what was predicted for it), staged while
the state file that lists it is written, then handed to the dispatcher (queue and leases)
and finally archived. The book remembers the key (``problem.codec.keys``) of every
architecture archived, pending or abandoned, so that no architecture is ever evaluated
twice, whatever a strategy proposes: the exactly-once guard.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from segevo.engine.actors.dispatcher import TaskRecord
from segevo.engine.problem import ArchitectureCodec

__all__ = ["TaskBook"]


class TaskBook:
    """Task ids, the architectures taken on, and the tasks staged for the state file."""

    def __init__(self, codec: ArchitectureCodec, *, next_id: int = 0) -> None:
        self.codec = codec
        self.next_id = int(next_id)
        self.staged: list[TaskRecord] = []
        """Tasks created but not yet handed to the dispatcher (their state is being saved)."""
        self._known: set[Any] = set()

    def _keys(self, X: Any) -> list[Any]:
        keys = self.codec.keys(np.asarray(X, dtype=np.int64))
        return [bytes(k) for k in keys] if keys.dtype.kind == "V" else keys.tolist()

    def take_on(self, X: Any) -> None:
        """Remember architectures the run already has (archived, pending or abandoned)."""
        if len(X):
            self._known.update(self._keys(X))

    def has(self, x: Iterable[int]) -> bool:
        """Whether the run already has this architecture."""
        return self._keys(list(x))[0] in self._known

    def create(
        self,
        X: np.ndarray,
        acc_pred: np.ndarray,
        lat_pred: np.ndarray,
        version: int,
        *,
        limit: int,
    ) -> list[TaskRecord]:
        """Up to ``limit`` new tasks for the rows of ``X`` the run does not have yet."""
        now = time.time()
        tasks: list[TaskRecord] = []
        if not len(X):
            return tasks
        rows = zip(X.tolist(), self._keys(X), acc_pred.tolist(), lat_pred.tolist(), strict=True)
        for x, key, acc, lat in rows:
            if len(tasks) >= limit:
                break
            if key in self._known:
                continue  # the strategy promises no repeats; this guards exactly-once anyway
            self._known.add(key)
            tasks.append(TaskRecord(self.next_id, x, float(acc), float(lat), version, now))
            self.next_id += 1
        return tasks

    def stage(self, tasks: list[TaskRecord]) -> None:
        self.staged.extend(tasks)

    def unstage(self, tasks: list[TaskRecord]) -> None:
        self.staged = [t for t in self.staged if t not in tasks]
