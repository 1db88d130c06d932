"""The Dispatcher: task queue, leases, re-queues and exactly-once acceptance of results.

It is plain synchronous state used from the event loop only (no awaits inside, so no
interleaving in the middle of an update). Workers (local evaluators and TCP connections)
register, grant credit (how many tasks they can hold), and get tasks pushed into their
outbox the moment one is queued: a free evaluator never waits for a slower one.

A task handed out carries a lease. A heartbeat renews every lease its worker holds; a
lost connection or an expired lease puts the task back at the front of the queue. The
first valid result for a task that was handed out is accepted; any later one is refused
as a duplicate, with the reason logged.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import anyio
import numpy as np
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from segevo.engine.actors.signal import Changed

log = logging.getLogger("segevo.engine.dispatcher")


@dataclass(eq=False)
class TaskRecord:
    """A pending evaluation: the architecture and what was predicted when it was proposed."""

    id: int
    x: list[int]
    acc_pred: float
    lat_pred_ms: float
    predictor_version: int
    t_submit: float
    attempts: int = 0
    given: bool = False
    given_to: set[str] | None = field(default_factory=set)
    """Names of the evaluators it was handed to; None: unknown (a state file without it)."""
    worker: Worker | None = None
    deadline: float = math.inf
    leased_at: float = math.nan
    """When the current lease began (``task_timeout_s`` counts from here)."""
    in_queue: bool = False

    def to_state(self) -> dict:
        """JSON-friendly form for the run directory's state file."""
        return {
            "id": self.id,
            "x": self.x,
            "acc_pred": None if math.isnan(self.acc_pred) else self.acc_pred,
            "lat_pred_ms": None if math.isnan(self.lat_pred_ms) else self.lat_pred_ms,
            "predictor_version": self.predictor_version,
            "t_submit": self.t_submit,
            "attempts": self.attempts,
            "given": self.given,
            "given_to": None if self.given_to is None else sorted(self.given_to),
        }

    @classmethod
    def from_state(cls, data: dict) -> TaskRecord:
        def num(value: object) -> float:
            return math.nan if value is None else float(value)  # type: ignore[arg-type]

        # A state file written before ``given_to`` existed: whoever reports may have had it.
        given_to = data.get("given_to", None if data.get("given") else [])
        if given_to is not None and not isinstance(given_to, list):
            raise ValueError(f"task {data.get('id')}: given_to must be a list of names")

        return cls(
            id=int(data["id"]),
            x=[int(v) for v in data["x"]],
            acc_pred=num(data.get("acc_pred")),
            lat_pred_ms=num(data.get("lat_pred_ms")),
            predictor_version=int(data.get("predictor_version", -1)),
            t_submit=float(data.get("t_submit", time.time())),
            attempts=int(data.get("attempts", 0)),
            given=bool(data.get("given", False)),
            given_to=None if given_to is None else {str(name) for name in given_to},
        )


@dataclass(eq=False)
class Worker:
    """One evaluator as the dispatcher sees it (a TCP connection or a local task)."""

    id: int
    name: str
    remote: bool
    credit_limit: int
    outbox: MemoryObjectSendStream[TaskRecord]
    inbox: MemoryObjectReceiveStream[TaskRecord]
    credit: int = 0
    leased: dict[int, TaskRecord] = field(default_factory=dict)
    connected_at: float = field(default_factory=time.time)
    completed: int = 0
    busy_s: float = 0.0


@dataclass(frozen=True)
class Accepted:
    """A result the dispatcher accepted; the Archive actor writes it."""

    task: TaskRecord
    acc: float
    lat_ms: float
    evaluator: str
    t_done: float


class Refused(ValueError):
    """A result or failure report that was not accepted; ``reason`` says why."""


class Dispatcher:
    """Queue + leases + exactly-once results (see the module docstring)."""

    def __init__(
        self,
        *,
        lease_s: float,
        task_timeout_s: float = 0.0,
        max_attempts: int = 3,
        on_event: Callable[..., None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lease_s = lease_s
        self.task_timeout_s = task_timeout_s
        self.max_attempts = max_attempts
        self.clock = clock
        self._on_event = on_event or (lambda event, **fields: None)
        self.tasks: dict[int, TaskRecord] = {}
        self._queue: deque[TaskRecord] = deque()
        self._queued = 0
        self.workers: dict[int, Worker] = {}
        self._ready: deque[Worker] = deque()
        self._next_worker = 0
        self.completed_ids: set[int] = set()
        self.abandoned: dict[int, list[int]] = {}
        """Abandoned task id -> architecture (never proposed again)."""
        self.changed = Changed()
        self.dispatch_times: deque[float] = deque(maxlen=256)

    # -- views ---------------------------------------------------------------------------
    @property
    def queued(self) -> int:
        """Tasks waiting for an evaluator."""
        return self._queued

    @property
    def leased(self) -> int:
        return sum(len(w.leased) for w in self.workers.values())

    @property
    def pending(self) -> int:
        """Tasks not yet completed (queued or leased)."""
        return len(self.tasks)

    def pending_x(self) -> np.ndarray:
        xs = [t.x for t in self.tasks.values()]
        return np.asarray(xs, dtype=np.int64).reshape(len(xs), -1)

    def lease_view(self) -> list[dict]:
        now = self.clock()
        return [
            {
                "task": t.id,
                "evaluator": w.name,
                # None: a local evaluator's lease does not expire.
                "expires_in_s": round(t.deadline - now, 3) if math.isfinite(t.deadline) else None,
            }
            for w in self.workers.values()
            for t in w.leased.values()
        ]

    def dispatch_rate(self) -> float:
        """Tasks handed out per second over the recent past (0 when unknown)."""
        times = self.dispatch_times
        if len(times) < 2:
            return 0.0
        span = times[-1] - times[0]
        return (len(times) - 1) / span if span > 0 else 0.0

    # -- workers -------------------------------------------------------------------------
    def register(self, name: str, *, remote: bool, credit_limit: int) -> Worker:
        """A new worker; its ``inbox`` yields the tasks handed to it."""
        if credit_limit < 1:
            raise ValueError(f"credit_limit must be >= 1, got {credit_limit}")
        send, receive = anyio.create_memory_object_stream[TaskRecord](credit_limit + 1)
        self._next_worker += 1
        worker = Worker(self._next_worker, name, remote, credit_limit, send, receive)
        self.workers[worker.id] = worker
        self.changed.notify()
        return worker

    def unregister(self, worker: Worker, reason: str) -> None:
        """Forget a worker; its leased tasks go back to the front of the queue."""
        worker.outbox.close()  # also when already forgotten: an open stream leaks a warning
        if self.workers.pop(worker.id, None) is None:
            return
        tasks = list(worker.leased.values())
        worker.leased.clear()
        for task in reversed(tasks):
            self._release(task, front=True)
        if tasks:
            self._on_event(
                "requeued", tasks=[t.id for t in tasks], evaluator=worker.name, reason=reason
            )
        self._pump()
        self.changed.notify()

    def grant(self, worker: Worker, n: int) -> None:
        """``worker`` can take ``n`` more tasks (capped at its credit limit)."""
        if worker.id not in self.workers:
            return
        room = worker.credit_limit - len(worker.leased)
        worker.credit = max(0, min(worker.credit + n, room))
        if worker.credit > 0 and worker not in self._ready:
            self._ready.append(worker)
        self._pump()

    def heartbeat(self, worker: Worker) -> None:
        """Renew the leases of every task ``worker`` holds."""
        now = self.clock()
        for task in worker.leased.values():
            task.deadline = self._deadline(task, now)

    def _deadline(self, task: TaskRecord, now: float) -> float:
        if task.worker is not None and not task.worker.remote:
            deadline = math.inf
        else:
            deadline = now + self.lease_s
        if self.task_timeout_s > 0:
            deadline = min(deadline, task.leased_at + self.task_timeout_s)
        return deadline

    # -- tasks ---------------------------------------------------------------------------
    def submit(self, tasks: Iterable[TaskRecord], *, front: bool = False) -> None:
        """Queue new (or restored) tasks."""
        added = list(tasks)
        for task in added:
            if task.id in self.tasks or task.id in self.completed_ids or task.id in self.abandoned:
                raise ValueError(f"task {task.id} is already known to the dispatcher")
            self.tasks[task.id] = task
        for task in reversed(added) if front else added:
            self._enqueue(task, front=front)
        self._pump()
        self.changed.notify()

    def _enqueue(self, task: TaskRecord, *, front: bool) -> None:
        task.worker = None
        task.deadline = math.inf
        if task.in_queue:
            return
        task.in_queue = True
        if front:
            self._queue.appendleft(task)
        else:
            self._queue.append(task)
        self._queued += 1

    def _release(self, task: TaskRecord, *, front: bool) -> None:
        if task.id in self.tasks:
            self._enqueue(task, front=front)

    def _pop_queued(self) -> TaskRecord | None:
        while self._queue:
            task = self._queue.popleft()
            # Lazy deletion: an entry whose task was completed while queued is skipped.
            if task.in_queue:
                task.in_queue = False
                self._queued -= 1
                return task
        return None

    def _pump(self) -> None:
        """Hand queued tasks to workers with credit, round robin."""
        while self._queued and self._ready:
            worker = self._ready.popleft()
            if worker.id not in self.workers or worker.credit <= 0:
                continue
            task = self._pop_queued()
            if task is None:
                self._ready.appendleft(worker)
                break
            now = self.clock()
            task.worker = worker
            task.given = True
            if task.given_to is not None:
                task.given_to.add(worker.name)
            # Each lease gets its own task_timeout_s: timing it from the first hand-out
            # would expire every later lease at once, and the task would never finish.
            task.leased_at = now
            task.deadline = self._deadline(task, now)
            try:
                worker.outbox.send_nowait(task)
            except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                # The worker is going away; its unregister will follow.
                self._enqueue(task, front=True)
                worker.credit = 0
                continue
            worker.leased[task.id] = task
            worker.credit -= 1
            self.dispatch_times.append(now)
            if worker.credit > 0:
                self._ready.append(worker)
        self.changed.notify()

    def complete(
        self, worker: Worker, task_id: int, acc: float, lat_ms: float | None, eval_s: float = 0.0
    ) -> Accepted:
        """Accept a result or raise :class:`Refused`; either way the worker gets a credit back."""
        try:
            task = self._check_report(worker, task_id)
            if not math.isfinite(acc):
                self._failure(task, worker, f"accuracy {acc} is not finite")
                raise Refused(f"task {task_id}: accuracy {acc} is not a finite number")
            if lat_ms is not None and not (math.isfinite(lat_ms) and lat_ms >= 0):
                self._failure(task, worker, f"lat_ms {lat_ms} is not a finite number >= 0")
                raise Refused(f"task {task_id}: lat_ms {lat_ms} is not a finite number >= 0")
            self._finish(task)
            self.completed_ids.add(task_id)
            worker.completed += 1
            worker.busy_s += max(0.0, eval_s)
            return Accepted(
                task,
                float(acc),
                math.nan if lat_ms is None else float(lat_ms),
                worker.name,
                time.time(),
            )
        finally:
            self.grant(worker, 1)
            self.changed.notify()

    def fail(self, worker: Worker, task_id: int, reason: str) -> None:
        """The worker could not evaluate the task: re-queue it (or abandon it after retries)."""
        try:
            task = self._check_report(worker, task_id)
            self._failure(task, worker, reason)
        finally:
            self.grant(worker, 1)
            self.changed.notify()

    def _check_report(self, worker: Worker, task_id: int) -> TaskRecord:
        task = self.tasks.get(task_id)
        if task is None:
            if task_id in self.completed_ids:
                raise Refused(f"task {task_id} already has an accepted result (duplicate)")
            if task_id in self.abandoned:
                raise Refused(f"task {task_id} was abandoned after {self.max_attempts} failures")
            raise Refused(f"task {task_id} is unknown to this run")
        if not task.given:
            raise Refused(f"task {task_id} was never handed out")
        if task.given_to is not None and worker.name not in task.given_to:
            raise Refused(f"task {task_id} was never handed to {worker.name}")
        return task

    def _finish(self, task: TaskRecord) -> None:
        del self.tasks[task.id]
        if task.in_queue:
            task.in_queue = False
            self._queued -= 1
        if task.worker is not None:
            task.worker.leased.pop(task.id, None)
            task.worker = None

    def _failure(self, task: TaskRecord, worker: Worker, reason: str) -> None:
        task.attempts += 1
        holder = task.worker
        if task.attempts >= self.max_attempts:
            self._finish(task)
            self.abandoned[task.id] = task.x
            self._on_event(
                "abandoned", task=task.id, attempts=task.attempts, reason=reason, x=task.x
            )
            return
        if holder is not worker:
            # Queued again already (expired lease) or leased to another evaluator since:
            # that copy goes on; only the attempt is counted.
            self._on_event("failed", task=task.id, evaluator=worker.name, reason=reason)
            return
        worker.leased.pop(task.id, None)
        self._enqueue(task, front=False)
        self._on_event("requeued", tasks=[task.id], evaluator=worker.name, reason=reason)
        self._pump()

    def expire(self) -> list[TaskRecord]:
        """Re-queue tasks whose lease ran out; returns them."""
        now = self.clock()
        expired = [
            task
            for worker in self.workers.values()
            for task in worker.leased.values()
            if task.deadline <= now
        ]
        for task in expired:
            holder = task.worker
            assert holder is not None
            timed_out = self.task_timeout_s > 0 and now >= task.leased_at + self.task_timeout_s
            reason = (
                f"running longer than task_timeout_s={self.task_timeout_s}"
                if timed_out
                else f"no heartbeat for lease_s={self.lease_s}"
            )
            self._on_event("lease_expired", task=task.id, evaluator=holder.name, reason=reason)
            if timed_out:
                # The task itself may be what hangs: a timeout counts as a failed attempt,
                # so a task that hangs every evaluator is abandoned, not retried forever.
                self._failure(task, holder, reason)
            else:
                holder.leased.pop(task.id, None)
                self._enqueue(task, front=True)
        if expired:
            self._pump()
        return expired

    def state(self) -> list[dict]:
        """Every pending task, for the state file."""
        return [t.to_state() for t in self.tasks.values()]
