"""The Surrogate actor: refits the strategy's accuracy model off the event loop, versioned."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
from anyio.abc import TaskStatus

from segevo.engine.actors.archive_actor import ArchiveMirror
from segevo.engine.actors.signal import Changed
from segevo.engine.faultpoints import crashpoint
from segevo.engine.strategies.base import Strategy

log = logging.getLogger("segevo.engine.surrogate")


def is_model_free(strategy: Strategy) -> bool:
    """Whether the strategy keeps the base ``fit_model`` (always None): nothing to refit."""
    return type(strategy).fit_model is Strategy.fit_model


class SurrogateActor:
    """Holds the latest model and its version; refits after ``refit_every`` new rows.

    ``version`` is -1 until a model exists, then 1, 2, ... per successful refit; proposals
    record the version they used (the archive's ``predictor_version``). With
    ``periodic=False`` (``--sync``) it refits only when :meth:`refit_now` is awaited.
    """

    def __init__(
        self,
        strategy: Strategy,
        mirror: ArchiveMirror,
        *,
        refit_every: int,
        limiter: anyio.CapacityLimiter,
        periodic: bool = True,
        on_event: Callable[..., None] | None = None,
    ) -> None:
        self.strategy = strategy
        self.mirror = mirror
        self.refit_every = refit_every
        self.periodic = periodic
        self.model_free = is_model_free(strategy)
        self.model: Any | None = None
        self.version = -1
        self.fitted_rows = 0
        self.fits = 0
        self.changed = Changed()
        self._rows = Changed()
        self._lock = anyio.Lock()
        self._limiter = limiter
        self._on_event = on_event or (lambda event, **fields: None)

    def rows_committed(self) -> None:
        """The archive grew (called by the coordinator after each commit)."""
        self._rows.notify()

    def _due(self) -> bool:
        return self.mirror.n - self.fitted_rows >= self.refit_every

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        if self.model_free or not self.periodic:
            await anyio.sleep_forever()
        while True:
            await self._rows.wait_for(self._due)
            await self.refit_now()

    async def refit_now(self) -> None:
        """Fit on every committed row (no-op when the model already saw them all)."""
        if self.model_free:
            return
        async with self._lock:
            n = self.mirror.n
            if n == self.fitted_rows:
                return
            X = self.mirror.X.copy()
            acc = self.mirror.acc.copy()
            started = time.perf_counter()
            try:
                # abandon_on_cancel: a pure fit need not hold up the end of the run.
                model = await anyio.to_thread.run_sync(
                    _fit, self.strategy, X, acc, limiter=self._limiter, abandon_on_cancel=True
                )
            except Exception as exc:
                # A refit that fails leaves the previous model in place; the next one may work.
                log.exception("surrogate refit on %d rows failed", n)
                self._on_event("refit_failed", rows=n, error=f"{type(exc).__name__}: {exc}")
                self.fitted_rows = n
                return
            self.fitted_rows = n
            self.fits += 1
            if model is not None:
                self.model = model
                self.version = max(self.version, 0) + 1
                self._on_event(
                    "refit",
                    version=self.version,
                    rows=n,
                    seconds=round(time.perf_counter() - started, 4),
                )
            self.changed.notify()


def _fit(strategy: Strategy, X: Any, acc: Any) -> Any:
    """``strategy.fit_model`` in a worker thread (with the crash point for fault tests)."""
    crashpoint("refit.running")
    return strategy.fit_model(X, acc)
