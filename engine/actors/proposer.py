"""The Proposer actor: turns the strategy's proposals into tasks, off the event loop.

The strategy's ``propose`` runs NSGA-II on predicted accuracy and latency and then the
pre-screening (Algorithm 4) inside one call, in a worker thread, so the event loop keeps
dispatching and answering queries meanwhile.

Steady state is model-driven. After the initial design every task comes from a proposal
of the strategy, never from a random filler:

- a proposal returns a *ranked list of candidates* (the pre-screen's order), deep enough
  to feed every evaluator until the next model is fitted and proposes again. Candidates
  are not tasks yet: the feeder moves the best ones into the dispatcher's queue whenever
  it falls under the low-water mark (about two tasks per evaluator), and a proposal from
  a newer model replaces whatever candidates are left;
- staleness: a proposal, and the feeding of its candidates, may use a model that lacks at
  most ``max_staleness`` finished results. When the candidates run out (or are too stale)
  and no fresh enough model exists, a free evaluator waits for the next refit;
- model-free strategies (``nsga2``) base a proposal on the archive at that moment, and the
  same bound applies to the results that arrived since.

``--sync`` is Algorithm 1: wait for the whole generation to be archived, refit, propose K.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import anyio
import numpy as np
from anyio.abc import TaskStatus

from segevo.engine.actors.dispatcher import Dispatcher
from segevo.engine.actors.signal import Changed
from segevo.engine.actors.surrogate import SurrogateActor
from segevo.engine.faultpoints import crashpoint
from segevo.engine.rows import ArchiveRows
from segevo.engine.strategies.base import Proposal, Strategy

log = logging.getLogger("segevo.engine.proposer")

# How much longer than one refit-and-propose cycle the candidate list should last.
_DEPTH_MARGIN = 1.5


class ProposerHost(Protocol):
    """What the proposer needs from the coordinator."""

    changed: Changed

    def budget_left(self) -> int: ...
    def unfinished(self) -> int: ...
    def finished(self) -> int: ...
    def pending_x(self) -> np.ndarray: ...
    def next_seed(self) -> int: ...
    async def add_tasks(self, proposal: Proposal, predictor_version: int) -> int: ...
    def mark_exhausted(self) -> None: ...


@dataclass
class Candidates:
    """What is left of one proposal, best first, and the data it was based on."""

    proposal: Proposal
    version: int
    """Predictor version that made it (-1: a model-free strategy)."""
    basis_rows: int
    """Finished results the proposal knew: the model's rows, or the archive's."""
    next: int = 0

    @property
    def left(self) -> int:
        return len(self.proposal) - self.next

    def take(self, n: int) -> Proposal:
        stop = min(len(self.proposal), self.next + max(0, n))
        p = self.proposal
        part = Proposal(
            p.X[self.next : stop], p.acc_pred[self.next : stop], p.lat_pred[self.next : stop]
        )
        self.next = stop
        return part


class ProposerActor:
    """Keeps the queue fed from fresh proposals (steady state) or runs generations (``sync``)."""

    def __init__(
        self,
        host: ProposerHost,
        strategy: Strategy,
        mirror: ArchiveRows,
        dispatcher: Dispatcher,
        surrogate: SurrogateActor,
        *,
        batch: int,
        sync: bool,
        low_water: int,
        max_staleness: int,
        limiter: anyio.CapacityLimiter,
        on_event: Callable[..., None] | None = None,
        generation: int = 0,
    ) -> None:
        self.host = host
        self.generation = generation
        """``--sync``: generations proposed so far (restored on resume)."""
        self.strategy = strategy
        self.mirror = mirror
        self.dispatcher = dispatcher
        self.surrogate = surrogate
        self.batch = batch
        self.sync = sync
        self.fixed_low_water = low_water
        self.max_staleness = max_staleness
        self._limiter = limiter
        self._on_event = on_event or (lambda event, **fields: None)
        self.model_free = surrogate.model_free
        self.proposal_s = 0.0  # moving average of one proposal's wall time
        self.proposals = 0
        self.busy = False
        self.waits = 0
        """Times the feeder found no candidate fresh enough while the queue ran low."""
        self.candidates: Candidates | None = None
        self._exhausted = False

    # -- steady state --------------------------------------------------------------------
    def low_water(self) -> int:
        """Queue length under which candidates are moved into the queue."""
        if self.fixed_low_water:
            return self.fixed_low_water
        return max(2, 2 * len(self.dispatcher.workers))

    def staleness(self, basis_rows: int) -> int:
        """Finished results that a proposal based on ``basis_rows`` of them does not know."""
        return max(0, self.host.finished() - basis_rows)

    def depth(self) -> int:
        """Candidates one proposal should return: enough to feed the evaluators until the
        next model has been fitted and has proposed, within the staleness bound."""
        cycle_s = self.proposal_s + (0.0 if self.model_free else self.surrogate.fit_s)
        drain = self.dispatcher.dispatch_rate() * cycle_s * _DEPTH_MARGIN
        # At least a batch beyond what the queue holds, so that the next proposal runs while
        # candidates are still left; more than the staleness bound lets through is waste.
        floor = self.batch + self.low_water()
        useful = max(floor, self.max_staleness + self.low_water())
        return min(useful, max(floor, math.ceil(drain)))

    def _basis(self) -> tuple[int, int] | None:
        """(version, basis rows) a proposal made now would have; None when none may be made."""
        if not self.strategy.adaptive:
            return -1, self.host.finished()
        if self.model_free:
            # An archive-driven strategy needs an evaluated population to mate.
            if self.mirror.n < 2:
                return None
            return -1, self.mirror.n
        if self.surrogate.model is None:
            return None
        rows = self.surrogate.model_rows
        if self.staleness(rows) > self.max_staleness:
            return None
        return self.surrogate.version, rows

    def _feedable(self) -> bool:
        c = self.candidates
        if c is None or c.left == 0:
            return False
        if not self.strategy.adaptive:
            return True
        return self.staleness(c.basis_rows) <= self.max_staleness

    def starving(self) -> bool:
        """Evaluators want work that only a fresher model may give (steady state)."""
        return (
            not self.sync
            and not self.model_free
            and self._hungry()
            and not self._feedable()
            and self._basis() is None
        )

    def _hungry(self) -> bool:
        return self.host.budget_left() > 0 and self.dispatcher.queued < self.low_water()

    def _wants_proposal(self) -> bool:
        if self._exhausted or self.host.budget_left() <= 0:
            return False
        basis = self._basis()
        if basis is None:
            return False
        c = self.candidates
        if c is None or c.left == 0:
            return True
        version, rows = basis
        if not self.model_free:
            return version > c.version  # a newer model re-ranks what is left
        if not self.strategy.adaptive:
            return False
        # Archive-driven: propose again once the population has changed by a batch.
        return rows - c.basis_rows >= self.batch

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        if self.sync:
            await self._run_sync()
            return
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._refresh_steady)
            await self._feed_steady()

    async def _refresh_steady(self) -> None:
        """Propose whenever the candidates ran out or a fresher basis exists."""
        while True:
            await self.host.changed.wait_for(self._wants_proposal, poll_s=0.5)
            basis = self._basis()
            if basis is None:
                continue
            version, rows = basis
            proposal = await self._run_proposal(self.depth(), version)
            if len(proposal) == 0 and self.host.budget_left() > 0:
                if self.candidates is None or self.candidates.left == 0:
                    self._exhausted = True
                    self.host.mark_exhausted()
                    return
                continue
            self.candidates = Candidates(proposal, version, rows)
            self.host.changed.notify()

    async def _feed_steady(self) -> None:
        """Move the best candidates into the queue while it runs low."""
        waiting = False
        while True:
            await self.host.changed.wait_for(
                lambda: self._hungry() and self._feedable(), poll_s=0.5
            )
            c = self.candidates
            assert c is not None
            want = max(self.low_water() - self.dispatcher.queued, 1)
            part = c.take(min(want, self.host.budget_left()))
            added = await self.host.add_tasks(part, c.version)
            if added and waiting:
                waiting = False
            if self._hungry() and not self._feedable() and not waiting:
                waiting = True
                self.waits += 1

    # -- generational (Algorithm 1) ------------------------------------------------------
    async def _run_sync(self) -> None:
        while True:
            await self.host.changed.wait_for(lambda: self.host.unfinished() == 0)
            left = self.host.budget_left()
            if left <= 0:
                await anyio.sleep_forever()
            await self.surrogate.refit_now()
            version = self.surrogate.version if self.surrogate.model is not None else -1
            proposal = await self._run_proposal(min(self.batch, left), version)
            added = await self.host.add_tasks(proposal, version)
            if added == 0:
                self.host.mark_exhausted()
                await anyio.sleep_forever()
            self.generation += 1
            self._on_event("generation", generation=self.generation, tasks=added)

    # -- one proposal --------------------------------------------------------------------
    async def _run_proposal(self, k: int, version: int) -> Proposal:
        model = self.surrogate.model
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
        self._on_event(
            "proposal",
            asked=k,
            returned=len(proposal),
            predictor_version=version,
            seconds=round(elapsed, 4),
        )
        return proposal


def _propose(strategy: Strategy, *args: object) -> Proposal:
    """``strategy.propose`` in a worker thread (with the crash point for fault tests)."""
    crashpoint("proposal.running")
    return strategy.propose(*args)  # type: ignore[arg-type]
