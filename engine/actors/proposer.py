"""The Proposer actor: asks the strategy for new architectures, off the event loop.

The strategy's ``propose`` runs NSGA-II on predicted accuracy and latency and then the
pre-screening (Algorithm 4) inside one call, in a worker thread, so the event loop keeps
dispatching and answering queries meanwhile.

Steady state: a proposal is requested whenever the queue falls under the low-water
mark (about two tasks per evaluator, more when proposals take longer than evaluators
need to drain that many), so a free evaluator never waits. ``--sync`` is Algorithm 1:
wait for the whole generation to be archived, refit, propose K.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

import anyio
import numpy as np
from anyio.abc import TaskStatus

from segevo.engine.actors.archive_actor import ArchiveMirror
from segevo.engine.actors.dispatcher import Dispatcher
from segevo.engine.actors.signal import Changed
from segevo.engine.actors.surrogate import SurrogateActor
from segevo.engine.faultpoints import crashpoint
from segevo.engine.strategies.base import Proposal, Strategy

log = logging.getLogger("segevo.engine.proposer")


class ProposerHost(Protocol):
    """What the proposer needs from the coordinator."""

    changed: Changed
    generation: int

    def budget_left(self) -> int: ...
    def unfinished(self) -> int: ...
    def pending_x(self) -> np.ndarray: ...
    def next_seed(self) -> int: ...
    async def add_tasks(self, proposal: Proposal, predictor_version: int) -> int: ...
    def mark_exhausted(self) -> None: ...


class ProposerActor:
    """Keeps the queue fed (steady state) or runs generations (``sync``)."""

    def __init__(
        self,
        host: ProposerHost,
        strategy: Strategy,
        mirror: ArchiveMirror,
        dispatcher: Dispatcher,
        surrogate: SurrogateActor,
        *,
        batch: int,
        sync: bool,
        low_water: int,
        limiter: anyio.CapacityLimiter,
        on_event: Callable[..., None] | None = None,
    ) -> None:
        self.host = host
        self.strategy = strategy
        self.mirror = mirror
        self.dispatcher = dispatcher
        self.surrogate = surrogate
        self.batch = batch
        self.sync = sync
        self.fixed_low_water = low_water
        self._limiter = limiter
        self._on_event = on_event or (lambda event, **fields: None)
        self.proposal_s = 0.0  # moving average of one proposal's wall time
        self.proposals = 0
        self.busy = False

    # -- steady state --------------------------------------------------------------------
    def low_water(self) -> int:
        """Queue length under which a new proposal is requested."""
        if self.fixed_low_water:
            return self.fixed_low_water
        base = max(2, 2 * len(self.dispatcher.workers))
        # Evaluators drain the queue while a proposal runs; keep enough for that long.
        drain = self.dispatcher.dispatch_rate() * self.proposal_s * 1.5
        return max(base, math.ceil(drain))

    def _wants_more(self) -> bool:
        return self.host.budget_left() > 0 and self.dispatcher.queued < self.low_water()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        if self.sync:
            await self._run_sync()
        else:
            await self._run_steady()

    async def _run_steady(self) -> None:
        while True:
            # Poll too: the low-water mark moves with the dispatch rate.
            await self.host.changed.wait_for(self._wants_more, poll_s=0.5)
            k = min(
                self.host.budget_left(), max(self.batch, self.low_water() - self.dispatcher.queued)
            )
            if k <= 0:
                continue
            added = await self._propose(k)
            if added == 0:
                self.host.mark_exhausted()
                await anyio.sleep_forever()

    # -- generational (Algorithm 1) ------------------------------------------------------
    async def _run_sync(self) -> None:
        while True:
            await self.host.changed.wait_for(lambda: self.host.unfinished() == 0)
            left = self.host.budget_left()
            if left <= 0:
                await anyio.sleep_forever()
            await self.surrogate.refit_now()
            added = await self._propose(min(self.batch, left))
            if added == 0:
                self.host.mark_exhausted()
                await anyio.sleep_forever()
            self.host.generation += 1
            self._on_event("generation", generation=self.host.generation, tasks=added)

    # -- one proposal --------------------------------------------------------------------
    async def _propose(self, k: int) -> int:
        model, version = self.surrogate.model, self.surrogate.version
        X_done = self.mirror.X.copy()
        acc_done = self.mirror.acc.copy()
        lat_done = self.mirror.column("lat_ms").copy()
        X_pending = self.host.pending_x()
        rng = np.random.default_rng(self.host.next_seed())
        started = time.perf_counter()
        self.busy = True
        try:
            proposal = await anyio.to_thread.run_sync(
                _propose,
                self.strategy,
                model,
                X_done,
                acc_done,
                lat_done,
                X_pending,
                k,
                rng,
                limiter=self._limiter,
                abandon_on_cancel=True,
            )
        finally:
            self.busy = False
        elapsed = time.perf_counter() - started
        self.proposal_s = elapsed if self.proposals == 0 else 0.7 * self.proposal_s + 0.3 * elapsed
        self.proposals += 1
        added = await self.host.add_tasks(proposal, version if model is not None else -1)
        self._on_event(
            "proposal", asked=k, added=added, predictor_version=version, seconds=round(elapsed, 4)
        )
        return added


def _propose(strategy: Strategy, *args: object) -> Proposal:
    """``strategy.propose`` in a worker thread (with the crash point for fault tests)."""
    crashpoint("proposal.running")
    return strategy.propose(*args)  # type: ignore[arg-type]
