"""The coordinator: wires the actors together and runs a search to its budget.

::

    Proposer (strategy.propose: NSGA-II on predicted acc + LUT latency, pre-screening)
       -> Dispatcher (queue, leases) <-> Evaluators (local tasks, or remote over TCP)
       -> Archive (single writer, zarr) -> Surrogate (strategy.fit_model) -> Proposer
    Server: TCP listener for evaluators and query clients

Every actor is an anyio task started with ``task_group.start`` (it reports readiness
through ``task_status.started()``); blocking work (surrogate fits, proposals, zarr
writes, evaluations) runs in worker threads behind capacity limiters, so the event loop
only moves messages and answers queries. ``Coordinator.create`` starts a new run
directory; ``Coordinator.resume`` rebuilds the state of a stopped or killed run from its
directory and continues to the same budget.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from segevo.engine.actors.archive_actor import ArchiveActor
from segevo.engine.actors.dispatcher import Accepted, Dispatcher, Refused, Worker
from segevo.engine.actors.evaluator import LocalEvaluator
from segevo.engine.actors.proposer import ProposerActor
from segevo.engine.actors.surrogate import SurrogateActor
from segevo.engine.archive import ArchiveWriter
from segevo.engine.config import RunConfig
from segevo.engine.constraints import initial_design_verdict
from segevo.engine.dashboard import run_dashboard
from segevo.engine.faultpoints import crashpoint
from segevo.engine.hypervolume import default_reference
from segevo.engine.location import RemotePath
from segevo.engine.problem import Problem, load_problem
from segevo.engine.rows import ArchiveRows
from segevo.engine.run_state import restore, state_record
from segevo.engine.rundir import RunDir
from segevo.engine.server import Server
from segevo.engine.strategies import make_strategy
from segevo.engine.strategies.base import Proposal, Strategy
from segevo.engine.tasks import TaskBook
from segevo.engine.wire import Endpoint, essential_exception, parse_endpoint

log = logging.getLogger("segevo.engine.run")

MAX_LEASES_SHOWN = 100


@dataclass(frozen=True)
class RunSummary:
    """How a run ended."""

    run_dir: Path | RemotePath
    evaluations: int
    budget: int
    finished: bool
    reason: str
    front_size: int
    hypervolume: float
    elapsed_s: float


class Coordinator:
    """One search: owns the run directory, the actors and the server."""

    def __init__(
        self,
        rundir: RunDir,
        config: RunConfig,
        problem: Problem,
        strategy: Strategy,
        *,
        resumed: bool,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        progress_interval_s: float = 1.0,
        handle_signals: bool = False,
        dashboard: str | None = None,
    ) -> None:
        self.rundir = rundir
        self.config = config
        self.problem = problem
        self.strategy = strategy
        self.resumed = resumed
        self.on_progress = on_progress
        self.progress_interval_s = progress_interval_s
        self.handle_signals = handle_signals
        self._restored_generation = 0
        self.exhausted = False
        self.tasks = TaskBook(problem.codec)
        self._stop_reason: str | None = None
        self._started = time.monotonic()
        self._evaluations_at_start = 0
        self._prepared = False
        self.bound: Endpoint | None = None
        self.dashboard = dashboard  # [HOST:]PORT of the read-only web dashboard, or None
        self.dashboard_url: str | None = None
        self._constraints_checked = False

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def create(
        cls, config: RunConfig, run_dir: str | Path | RemotePath, **options: Any
    ) -> Coordinator:
        """A new run in a new (or empty) run directory."""
        problem = load_problem(config.problem, **config.problem_options)
        size = problem.capacity
        if config.evaluations > size:
            raise ValueError(
                f"evaluations ({config.evaluations}) exceeds the {size} distinct architectures "
                f"problem {config.problem!r} can produce"
            )
        if config.hv_reference is None:
            config = config.replace(hv_reference=list(default_reference(problem)))
        strategy = _make_strategy(config, problem)  # bad options fail before any file exists
        rundir = RunDir.create(run_dir, config)
        return cls(rundir, config, problem, strategy, resumed=False, **options)

    @classmethod
    def resume(
        cls,
        run_dir: str | Path | RemotePath,
        *,
        evaluators: int | None = None,
        listen: str | None = None,
        **options: Any,
    ) -> Coordinator:
        """Continue the run in ``run_dir`` (``evaluators``/``listen`` may change)."""
        rundir = RunDir.open(run_dir)
        config = rundir.load_config()
        changes: dict[str, Any] = {}
        if evaluators is not None:
            changes["evaluators"] = evaluators
        if listen is not None:
            changes["listen"] = listen
        if changes:
            config = config.replace(**changes)
            rundir.save_config(config)
        problem = load_problem(config.problem, **config.problem_options)
        strategy = _make_strategy(config, problem)
        return cls(rundir, config, problem, strategy, resumed=True, **options)

    def _prepare(self) -> None:
        self.rundir.acquire()
        config = self.config
        problem = self.problem
        self.dispatcher = Dispatcher(
            lease_s=config.lease_s,
            task_timeout_s=config.task_timeout_s,
            max_attempts=config.max_attempts,
            on_event=self.log_event,
        )
        self.changed = self.dispatcher.changed
        self._state_lock = anyio.Lock()
        self._io_limiter = anyio.CapacityLimiter(1)
        if self.resumed and self.rundir.archive_path.exists():
            state = restore(self.rundir, problem, config, self.dispatcher, self.tasks)
            writer, self.mirror, self.rng = state.writer, state.rows, state.rng
            self._restored_generation, restored = state.generation, state.pending
        else:
            # A new run, or one killed before its archive existed: start from the seed.
            writer = ArchiveWriter.create(self.rundir.path, problem.n_var)
            writer.record_constraints(config.constraints.record())
            self.mirror = ArchiveRows(problem.n_var, config.constraints, config=config)
            self.rng = np.random.default_rng(config.seed)
            restored = []
        self.archive = ArchiveActor(
            writer,
            self.mirror,
            save_state=self.rundir.save_state,
            snapshot=self.snapshot,
            state_lock=self._state_lock,
            on_commit=self._on_commit,
            limiter=self._io_limiter,
        )
        self.surrogate = SurrogateActor(
            self.strategy,
            self.mirror,
            refit_every=config.refit_every,
            limiter=anyio.CapacityLimiter(1),
            periodic=not config.sync,
            on_event=self.log_event,
            checkpoint_dir=self.rundir.surrogate_path,
            changed=self.changed,
        )
        self.proposer = ProposerActor(
            self,
            self.strategy,
            self.mirror,
            self.dispatcher,
            self.surrogate,
            batch=config.batch,
            sync=config.sync,
            low_water=config.low_water,
            max_staleness=config.max_staleness,
            limiter=anyio.CapacityLimiter(1),
            on_event=self.log_event,
            generation=self._restored_generation,
        )
        self.surrogate.starving = self.proposer.starving
        run_token = self.rundir.token()
        token = run_token if config.auth else None
        previous = self.rundir.read_endpoint() if self.resumed else None
        self.server = Server(
            self,
            endpoint=parse_endpoint(config.listen),
            token=token,
            run_id=self.rundir.run_id,
            lease_s=config.lease_s,
            heartbeat_s=config.heartbeat_s,
            max_frame=config.max_frame,
            max_connections=config.max_connections,
            preferred_port=previous.port if previous is not None else None,
            on_event=self.log_event,
            proof_token=run_token,
        )
        evaluation_limiter = anyio.CapacityLimiter(max(1, config.evaluators))
        self.local_evaluators = [
            LocalEvaluator(
                f"local-{i}",
                problem.evaluate,
                self.dispatcher,
                on_result=self.report_result,
                on_failure=self.report_failure,
                limiter=evaluation_limiter,
            )
            for i in range(config.evaluators)
        ]
        self._restored = restored
        self._evaluations_at_start = self.mirror.n
        self._prepared = True

    # -- bookkeeping ---------------------------------------------------------------------
    def log_event(self, event: str, **fields: Any) -> None:
        """Append to the run's event log (and the Python log)."""
        self.rundir.log_event(event, **fields)
        log.debug("%s %s", event, fields)

    def problem_spec(self) -> dict[str, Any]:
        return self.problem.spec()

    def unfinished(self) -> int:
        """Tasks created but not archived yet (staged, queued, leased, being written)."""
        return len(self.tasks.staged) + self.dispatcher.pending + len(self.archive.uncommitted)

    def finished(self) -> int:
        """Results accepted so far (archived, or accepted and being written)."""
        return self.mirror.n + len(self.archive.uncommitted)

    def budget_left(self) -> int:
        return self.config.evaluations - self.mirror.n - self.unfinished()

    def pending_x(self) -> np.ndarray:
        rows = [t.x for t in self.dispatcher.tasks.values()]
        rows += [a.task.x for a in self.archive.uncommitted.values()]
        rows += [t.x for t in self.tasks.staged]
        rows += list(self.dispatcher.abandoned.values())  # never proposed again
        return np.asarray(rows, dtype=np.int64).reshape(len(rows), self.problem.n_var)

    def next_seed(self) -> int:
        return int(self.rng.integers(0, 2**63 - 1))

    def mark_exhausted(self) -> None:
        if not self.exhausted:
            self.exhausted = True
            self.log_event("exhausted", evaluations=self.mirror.n, pending=self.unfinished())
            self.changed.notify()

    def snapshot(self, exclude: set[int] | frozenset[int] = frozenset()) -> dict[str, Any]:
        """The resumable state (everything not in the archive), as plain JSON data; tasks
        in ``exclude`` are being committed with it."""
        uncommitted = [a.task for i, a in self.archive.uncommitted.items() if i not in exclude]
        return state_record(
            rng=self.rng,
            tasks=self.tasks,
            generation=self.proposer.generation,
            dispatcher=self.dispatcher,
            uncommitted=uncommitted,
        )

    async def persist(self) -> None:
        """Save the state file now (serialised with the archive's commits)."""
        async with self._state_lock:
            state = self.snapshot()
            await anyio.to_thread.run_sync(self.rundir.save_state, state, limiter=self._io_limiter)

    async def add_tasks(self, proposal: Proposal, predictor_version: int) -> int:
        """Persist new tasks (with the RNG state that made them), then queue them."""
        tasks = self.tasks.create(
            np.asarray(proposal.X),
            proposal.acc_pred,
            proposal.lat_pred,
            predictor_version,
            limit=self.budget_left(),
        )
        if not tasks:
            return 0
        self.tasks.stage(tasks)
        crashpoint("tasks.staged")
        try:
            await self.persist()
        finally:
            self.tasks.unstage(tasks)
        crashpoint("tasks.saved")
        self.dispatcher.submit(tasks)
        return len(tasks)

    # -- results -------------------------------------------------------------------------
    def report_result(
        self, worker: Worker, task_id: int, acc: float, lat_ms: float | None, eval_s: float
    ) -> bool:
        """An evaluator's result: archived if accepted, else refused with a logged reason."""
        try:
            accepted = self.dispatcher.complete(worker, task_id, acc, lat_ms, eval_s)
        except Refused as exc:
            self.log_event("result_refused", task=task_id, evaluator=worker.name, reason=str(exc))
            log.warning("refused a result from %s: %s", worker.name, exc)
            return False
        self.archive.submit(accepted)
        return True

    def report_failure(self, worker: Worker, task_id: int, reason: str) -> bool:
        """An evaluator could not evaluate a task: re-queued (True) or the report refused."""
        self.log_event("task_failed", task=task_id, evaluator=worker.name, reason=reason)
        try:
            self.dispatcher.fail(worker, task_id, reason)
        except Refused as exc:
            self.log_event("failure_refused", task=task_id, evaluator=worker.name, reason=str(exc))
            return False
        return True

    def _on_commit(self, batch: Sequence[Accepted]) -> None:
        self.surrogate.rows_committed()
        self._check_constraints_met()
        self.changed.notify()

    def _check_constraints_met(self) -> None:
        """Once the initial design is archived: stop when the bounds cannot be met, else
        say so (once) when nothing meets them yet."""
        constraints = self.config.constraints
        initial = min(self.config.initial, self.config.evaluations)
        if self._constraints_checked or not constraints.active or self.mirror.n < initial:
            return
        self._constraints_checked = True
        verdict = initial_design_verdict(constraints, self.problem, self.mirror)
        if verdict is None:
            return
        unmeetable, message = verdict
        self.log_event("infeasible" if unmeetable else "no_feasible_yet", reason=message)
        if unmeetable:
            log.error("%s", message)
            self.stop(f"infeasible: {message}")
        else:
            log.warning("%s", message)

    # -- queries -------------------------------------------------------------------------
    def finish_reason(self) -> str | None:
        if self._stop_reason is not None:
            return self._stop_reason
        if self.mirror.n >= self.config.evaluations:
            return "budget reached"
        if self.exhausted and self.unfinished() == 0:
            return "search space exhausted"
        return None

    def query(self, q: str, since: int | None = None, limit: int | None = None) -> dict[str, Any]:
        """Answer ``status``, ``front`` or ``rows`` from memory (fast; the event loop calls it)."""
        if q == "status":
            return self.status()
        if q == "front":
            return self.front()
        if q == "rows":
            return self.rows(since or 0, limit)
        raise ValueError(f"unknown query {q!r}; known: status, front, rows")

    def status(self) -> dict[str, Any]:
        mirror = self.mirror
        reference = self.config.hv_reference or default_reference(self.problem)
        elapsed = time.monotonic() - self._started
        done_now = mirror.n - self._evaluations_at_start
        workers = list(self.dispatcher.workers.values())
        reason = self.finish_reason()
        return {
            "run": self.rundir.run_id,
            "run_dir": str(self.rundir.path),
            "mode": "sync" if self.config.sync else "steady",
            "strategy": self.config.strategy,
            "evaluations": mirror.n,
            "budget": self.config.evaluations,
            "pending": self.unfinished(),
            "queued": self.dispatcher.queued,
            "leased": self.dispatcher.leased,
            "leases": self.dispatcher.lease_view()[:MAX_LEASES_SHOWN],
            "evaluators_connected": len(workers),
            "evaluators": [w.name for w in workers][:MAX_LEASES_SHOWN],
            "constraints": self.config.constraints.record(),
            "feasible": int(np.count_nonzero(mirror.feasible)),
            "front_size": int(mirror.front_rows().size),
            "hypervolume": mirror.hypervolume((float(reference[0]), float(reference[1]))),
            "hv_reference": list(reference),
            "surrogate_version": self.surrogate.version,
            "generation": self.proposer.generation,
            "proposals": self.proposer.proposals,
            "proposing": self.proposer.busy,
            "candidates": self.proposer.candidates.left if self.proposer.candidates else 0,
            "staleness_waits": self.proposer.waits,
            "abandoned": len(self.dispatcher.abandoned),
            "refused_connections": self.server.refused,
            "archive_appends": self.archive.appends,
            "elapsed_s": round(elapsed, 3),
            "rate_per_s": round(done_now / elapsed, 3) if elapsed > 0 else 0.0,
            "finished": reason is not None,
            "reason": reason or "",
        }

    def front(self) -> dict[str, Any]:
        return self.mirror.front_record()

    def rows(self, since: int, limit: int | None) -> dict[str, Any]:
        return self.mirror.page(since, limit, max_frame=self.config.max_frame)

    # -- lifecycle -----------------------------------------------------------------------
    def stop(self, reason: str = "stopped") -> None:
        """Ask the run to stop (it can be resumed later)."""
        if self._stop_reason is None:
            self._stop_reason = reason
        self.changed.notify()

    async def run(self) -> RunSummary:
        """Run to the budget (or until stopped); returns a summary.

        An error inside an actor comes out as itself, not wrapped in an exception group.
        """
        try:
            return await self._run()
        except BaseExceptionGroup as group:
            essential = essential_exception(group)
            if isinstance(essential, Exception) and essential is not group:
                raise essential from group
            raise

    async def _run(self) -> RunSummary:
        if not self._prepared:
            try:
                self._prepare()
            except BaseException:
                self.rundir.close()  # releases the run's lock
                raise
        self._started = time.monotonic()
        # Proposals and fits run in threads; a short GIL switch interval hands the event
        # loop the interpreter sooner, which keeps queries and dispatch responsive.
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(switch_interval, 0.001))
        self.log_event(
            "resumed" if self.resumed else "started",
            evaluations=self.mirror.n,
            budget=self.config.evaluations,
            pending=len(self._restored),
        )
        finished = False
        try:
            async with AsyncExitStack() as stack:
                tg = await stack.enter_async_context(anyio.create_task_group())
                if self.resumed:
                    # Versions already used, archived or pending, are never handed out again.
                    used = [int(v) for v in self.mirror.predictor_version]
                    used += [task.predictor_version for task in self._restored]
                    await self.surrogate.restore(version_floor=max(used, default=-1))
                await tg.start(self.archive.run)
                await tg.start(self.surrogate.run)
                self.bound = await tg.start(self.server.run)
                self.rundir.write_endpoint(self.bound)
                self.log_event("listening", endpoint=str(self.bound))
                self.dashboard_url = await tg.start(run_dashboard, self, self.dashboard)
                await self._seed_tasks()
                # The producers of work live in their own group, stopped before the drain.
                async with anyio.create_task_group() as work:
                    for evaluator in self.local_evaluators:
                        await work.start(evaluator.run)
                    await work.start(self.proposer.run)
                    work.start_soon(self._reap_leases)
                    if self.on_progress is not None:
                        work.start_soon(self._report_progress)
                    if self.handle_signals:
                        work.start_soon(self._watch_signals)
                    await self.changed.wait_for(
                        lambda: self.finish_reason() is not None, poll_s=1.0
                    )
                    work.cancel_scope.cancel()
                finished = self._stop_reason is None
                await self._shutdown(self.finish_reason() or "stopped", finished=finished)
                tg.cancel_scope.cancel()
        finally:
            sys.setswitchinterval(switch_interval)
            with anyio.CancelScope(shield=True):
                await self._final_save(finished)
        return self.summary(finished)

    async def _seed_tasks(self) -> None:
        """The initial population (new run) or the restored pending tasks (resume)."""
        if self.resumed:
            if self._restored:
                self.dispatcher.submit(self._restored)
            if self.mirror.n == 0 and not self._restored:
                await self._initial_population()
            return
        await self._initial_population()

    async def _initial_population(self) -> None:
        n = min(self.config.initial, self.config.evaluations)
        X = self.strategy.initial(n, self.rng)
        lat = self.problem.latency(X) if len(X) else np.zeros(0)
        await self.add_tasks(Proposal(X, np.full(len(X), np.nan), np.asarray(lat, float)), -1)
        self.log_event("initial_population", tasks=len(X))

    async def _shutdown(self, reason: str, *, finished: bool) -> None:
        with anyio.CancelScope(shield=True):
            await self.server.close(reason, finished=finished)
            with anyio.move_on_after(60):
                await self.archive.drain()

    async def _final_save(self, finished: bool) -> None:
        try:
            with anyio.move_on_after(60):
                await self.archive.drain()
            await self.persist()
        except Exception:
            log.exception("saving the final state failed")
        if finished:
            # A stopped run keeps the file: its resume takes the same port back if it can.
            self.rundir.clear_endpoint()
        reason = self.finish_reason() or "cancelled"
        self.log_event(
            "finished" if finished else "stopped", reason=reason, evaluations=self.mirror.n
        )
        self.rundir.close()

    async def _reap_leases(self) -> None:
        period = min(self.config.lease_s / 4, 1.0)
        if self.config.task_timeout_s > 0:
            # Else a short task timeout would be noticed up to a second late.
            period = min(period, self.config.task_timeout_s / 4)
        period = max(0.01, period)
        while True:
            await anyio.sleep(period)
            self.dispatcher.expire()

    async def _report_progress(self) -> None:
        assert self.on_progress is not None
        while True:
            self.on_progress(self.status())
            await anyio.sleep(self.progress_interval_s)

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                self.log_event("signal", signal=signal.Signals(signum).name)
                self.stop(f"stopped by {signal.Signals(signum).name}")
                return

    def summary(self, finished: bool) -> RunSummary:
        reference = self.config.hv_reference or default_reference(self.problem)
        return RunSummary(
            run_dir=self.rundir.path,
            evaluations=self.mirror.n,
            budget=self.config.evaluations,
            finished=finished,
            reason=self.finish_reason() or "cancelled",
            front_size=int(self.mirror.front_rows().size),
            hypervolume=self.mirror.hypervolume((float(reference[0]), float(reference[1]))),
            elapsed_s=time.monotonic() - self._started,
        )


def _make_strategy(config: RunConfig, problem: Problem) -> Strategy:
    strategy = make_strategy(
        config.strategy,
        problem,
        seed=config.seed,
        surrogate=config.surrogate,
        prescreen=config.prescreen,
        surrogate_options=config.surrogate_options or None,
        moea_options=config.moea_options or None,
    )
    return strategy.constrain(config.constraints)


async def run_search(
    config: RunConfig, run_dir: str | Path | RemotePath, **options: Any
) -> RunSummary:
    """Start a new search and run it to its budget."""
    return await Coordinator.create(config, run_dir, **options).run()


async def resume_search(run_dir: str | Path | RemotePath, **options: Any) -> RunSummary:
    """Continue a stopped or killed search to its budget."""
    return await Coordinator.resume(run_dir, **options).run()
