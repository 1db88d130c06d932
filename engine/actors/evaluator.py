"""Local evaluators: tasks inside the coordinator process that run ``problem.evaluate``."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import anyio
import numpy as np
from anyio.abc import TaskStatus

from segevo.engine.actors.dispatcher import Dispatcher, Worker

ResultSink = Callable[[Worker, int, float, float | None, float], object]
FailureSink = Callable[[Worker, int, str], object]


def evaluation_outcome(outcome: Any) -> tuple[float, float | None]:
    """``(acc, lat_ms)`` from what ``problem.evaluate`` returned; ValueError when malformed."""
    if not isinstance(outcome, dict) or "acc" not in outcome:
        raise ValueError(f"evaluate() must return a dict with 'acc', got {outcome!r:.200}")
    acc = float(outcome["acc"])
    if not math.isfinite(acc):
        raise ValueError(f"evaluate() returned a non-finite accuracy {acc}")
    lat = outcome.get("lat_ms")
    lat_ms = None if lat is None else float(lat)
    if lat_ms is not None and not (math.isfinite(lat_ms) and lat_ms >= 0):
        raise ValueError(f"evaluate() returned an invalid lat_ms {lat_ms}")
    return acc, lat_ms


class LocalEvaluator:
    """One evaluator slot inside the run: takes a task, evaluates it in a thread, reports."""

    def __init__(
        self,
        name: str,
        evaluate: Callable[[np.ndarray], Any],
        dispatcher: Dispatcher,
        *,
        on_result: ResultSink,
        on_failure: FailureSink,
        limiter: anyio.CapacityLimiter,
    ) -> None:
        self.name = name
        self._evaluate = evaluate
        self._dispatcher = dispatcher
        self._on_result = on_result
        self._on_failure = on_failure
        self._limiter = limiter

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        worker = self._dispatcher.register(self.name, remote=False, credit_limit=1)
        self._dispatcher.grant(worker, 1)
        task_status.started()
        try:
            with worker.inbox:
                async for task in worker.inbox:
                    started = time.perf_counter()
                    x = np.asarray(task.x, dtype=np.int64)
                    try:
                        # abandon_on_cancel: stopping the run does not wait for a long
                        # evaluation; its task stays pending and is redone on resume.
                        outcome = await anyio.to_thread.run_sync(
                            self._evaluate, x, limiter=self._limiter, abandon_on_cancel=True
                        )
                        acc, lat_ms = evaluation_outcome(outcome)
                    except Exception as exc:
                        self._on_failure(worker, task.id, f"{type(exc).__name__}: {exc}")
                        continue
                    self._on_result(worker, task.id, acc, lat_ms, time.perf_counter() - started)
        finally:
            self._dispatcher.unregister(worker, "local evaluator stopped")
