"""The two kinds of peer: a remote evaluator process and a query client.

:class:`RemoteEvaluator` (``segevo evaluator --connect HOST:PORT --token-file F``)
connects, rebuilds the run's problem from the spec in the server's welcome, and
evaluates the tasks it is given. Its evaluation loop outlives connections: when the
coordinator goes away it reconnects by itself with exponential backoff and delivers the
results it finished meanwhile (the coordinator accepts the first result of a task it
handed out, so nothing is archived twice).

:class:`QueryClient` asks a live run for ``status``, ``front`` and ``rows``.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np
from anyio.abc import SocketAttribute

from segevo.engine import messages as m
from segevo.engine.actors.evaluator import evaluation_outcome
from segevo.engine.actors.signal import Changed
from segevo.engine.wire import (
    DISCONNECTS,
    ConnectionDenied,
    Endpoint,
    FrameStream,
    ProtocolError,
    client_handshake,
    essential_exception,
)

log = logging.getLogger("segevo.engine.client")


class QueryError(RuntimeError):
    """The server could not answer a query; the message is its reason."""


class EvaluatorGaveUp(ConnectionError):
    """The evaluator could not reach the coordinator for longer than it was told to try."""


async def _connect(endpoint: Endpoint, timeout_s: float) -> FrameStream:
    with anyio.fail_after(timeout_s):
        stream = await anyio.connect_tcp(endpoint.host, endpoint.port)
    with suppress(OSError, anyio.TypedAttributeLookupError):
        stream.extra(SocketAttribute.raw_socket).setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
        )
    return FrameStream(stream)


# ---------------------------------------------------------------------------------------
# Query client


class QueryClient:
    """A connection with the ``client`` role; use :meth:`connect` as an async context."""

    def __init__(self, frames: FrameStream, welcome: m.Welcome) -> None:
        self.frames = frames
        self.welcome = welcome
        self.run_id = welcome.run
        self._lock = anyio.Lock()

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, endpoint: Endpoint, token: bytes, *, name: str = "client", timeout_s: float = 10.0
    ) -> AsyncIterator[QueryClient]:
        frames = await _connect(endpoint, timeout_s)
        try:
            welcome = await client_handshake(
                frames,
                token=token,
                role=m.CLIENT,
                name=name,
                timeout_s=timeout_s,
                require_proof=True,
            )
            frames.max_frame = welcome.max_frame
            yield cls(frames, welcome)
        finally:
            await frames.aclose()

    async def query(self, q: str, *, since: int | None = None, limit: int | None = None) -> dict:
        """One query's reply data; :class:`QueryError` when the server refuses it."""
        async with self._lock:
            await self.frames.send(m.Query(q=q, since=since, limit=limit))
            reply = await self.frames.receive()
        if isinstance(reply, m.Error):
            raise QueryError(reply.reason)
        if isinstance(reply, (m.Bye, m.Denied)):
            raise QueryError(f"the server closed the connection: {reply.reason}")
        if not isinstance(reply, m.Reply) or reply.q != q:
            raise ProtocolError(f"expected a reply to {q!r}, got {reply.T!r}")
        return reply.data

    async def status(self) -> dict:
        return await self.query("status")

    async def front(self) -> dict:
        return await self.query("front")

    async def rows(self, since: int = 0, limit: int | None = None) -> dict:
        return await self.query("rows", since=since, limit=limit)

    async def all_rows(self, since: int = 0) -> dict[str, list]:
        """Every committed row from ``since`` on, fetched page by page."""
        columns: dict[str, list] = {}
        while True:
            page = await self.rows(since)
            for name, values in page["columns"].items():
                columns.setdefault(name, []).extend(values)
            since = int(page["stop"])
            if since >= int(page["committed"]) or page["stop"] == page["start"]:
                return columns


def query_once(endpoint: Endpoint, token: bytes, q: str, **options: Any) -> dict:
    """Connect, ask one query, disconnect (blocking; for the CLI)."""

    async def ask() -> dict:
        async with QueryClient.connect(endpoint, token) as client:
            return await client.query(q, **options)

    return anyio.run(ask)


# ---------------------------------------------------------------------------------------
# Remote evaluator


@dataclass
class EvaluatorStats:
    """What a remote evaluator did before it stopped."""

    completed: int = 0
    failed: int = 0
    connections: int = 0
    finished: bool = False
    reason: str = ""


class RemoteEvaluator:
    """An evaluator process attached to a coordinator over TCP (see the module docstring).

    ``prefetch`` is how many tasks it holds at once (1: the one it evaluates; more hides
    the round trip for very cheap evaluations). ``max_tasks`` makes it leave after that
    many results; ``give_up_after_s`` makes it stop when the coordinator stays unreachable.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        token: bytes,
        *,
        name: str | None = None,
        prefetch: int = 1,
        max_tasks: int | None = None,
        give_up_after_s: float | None = None,
        backoff_max_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        load_problem: Callable[[dict], Any] | None = None,
    ) -> None:
        if not 1 <= prefetch <= m.MAX_CREDIT:
            raise ValueError(f"prefetch must be in 1..{m.MAX_CREDIT}, got {prefetch}")
        if max_tasks is not None and max_tasks < 1:
            raise ValueError(f"max_tasks must be >= 1, got {max_tasks}")
        if give_up_after_s is not None and not 0 <= give_up_after_s < float("inf"):
            raise ValueError(
                f"give_up_after_s (--give-up-after) must be a finite number of seconds >= 0, "
                f"got {give_up_after_s}"
            )
        self.endpoint = endpoint
        self.token = token
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.prefetch = prefetch
        self.max_tasks = max_tasks
        self.give_up_after_s = give_up_after_s
        self.backoff_max_s = backoff_max_s
        self.connect_timeout_s = connect_timeout_s
        self._load_problem = load_problem or _default_loader
        self.stats = EvaluatorStats()
        self._tasks: deque[m.Task] = deque()
        self._in_progress: list[m.Task] = []
        self._outbox: deque[m.Message] = deque()
        self._changed = Changed()
        self._problem: Any = None
        self._problem_spec: dict | None = None
        self._run_id: str | None = None
        self._stop: str | None = None
        self._frames: FrameStream | None = None
        self._welcomed = False

    # -- top level -----------------------------------------------------------------------
    async def run(self) -> EvaluatorStats:
        """Work until the run finishes, ``max_tasks`` is reached, or giving up."""
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._evaluate_loop)
                try:
                    await self._connection_loop()
                finally:
                    tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            essential = essential_exception(group)
            if isinstance(essential, (ConnectionDenied, EvaluatorGaveUp)):
                raise essential from None
            raise
        return self.stats

    def _done(self) -> bool:
        return self._stop is not None

    def _finish(self, reason: str, *, finished: bool = False) -> None:
        if self._stop is None:
            self._stop = reason
            self.stats.reason = reason
            self.stats.finished = finished
        self._changed.notify()

    async def _connection_loop(self) -> None:
        backoff = 0.1
        # Since when no session has reached the welcome (a refused connection, a denied or
        # unproven handshake, a timeout: all count towards give_up_after_s).
        unreachable_since: float | None = None
        while not self._done():
            try:
                frames = await _connect(self.endpoint, self.connect_timeout_s)
            except (OSError, TimeoutError) as exc:
                unreachable_since = unreachable_since or time.monotonic()
                self._give_up_if_due(unreachable_since, _describe(exc))
                log.info("cannot reach %s (%s); retrying in %.1f s", self.endpoint, exc, backoff)
                await anyio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, self.backoff_max_s)
                continue
            self._welcomed = False
            problem = "the connection closed before the welcome"
            try:
                await self._session(frames)
            except BaseException as raised:
                cause = essential_exception(raised)
                problem = f"{type(cause).__name__}: {cause}"
                if isinstance(cause, ConnectionDenied):
                    if not cause.retry:
                        self._finish(str(cause))
                        raise cause from None
                    log.warning("%s; retrying", cause)
                elif isinstance(cause, (*DISCONNECTS, ProtocolError)):
                    log.info(
                        "connection to %s lost (%s: %s)",
                        self.endpoint,
                        type(cause).__name__,
                        cause,
                    )
                else:
                    raise
            finally:
                self._frames = None
                await frames.aclose()
                # Tasks not started yet were re-queued by the coordinator when we left.
                self._tasks.clear()
                if self._welcomed:
                    # A session that got as far as the welcome resets the backoff, however
                    # it ended: otherwise every coordinator restart would double the wait
                    # before the next reconnect, up to backoff_max_s, for good.
                    backoff = 0.1
                    unreachable_since = None
                else:
                    unreachable_since = unreachable_since or time.monotonic()
            if not self._done() and not self._welcomed and unreachable_since is not None:
                self._give_up_if_due(unreachable_since, problem)
            if not self._done():
                await anyio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, self.backoff_max_s)

    def _give_up_if_due(self, since: float, problem: str) -> None:
        """Raise :class:`EvaluatorGaveUp` once no session reached the welcome for too long."""
        waited = time.monotonic() - since
        if self.give_up_after_s is None or waited <= self.give_up_after_s:
            return
        self._finish(f"coordinator unreachable for {waited:.0f} s")
        raise EvaluatorGaveUp(
            f"cannot reach the coordinator at {self.endpoint} for {waited:.0f} s "
            f"(--give-up-after {self.give_up_after_s:g}); last attempt: {problem}"
        )

    async def _session(self, frames: FrameStream) -> None:
        # The welcome's problem spec says what code this process imports and runs, so it
        # is taken only from a server that proves it holds the run's token.
        welcome = await client_handshake(
            frames,
            token=self.token,
            role=m.EVALUATOR,
            name=self.name,
            timeout_s=self.connect_timeout_s,
            require_proof=True,
        )
        frames.max_frame = welcome.max_frame
        self._welcomed = True
        self.stats.connections += 1
        if self._run_id is not None and welcome.run != self._run_id:
            # Another run: results from the previous one mean nothing here.
            self._outbox.clear()
        self._run_id = welcome.run
        if welcome.problem is None:
            raise ProtocolError("the welcome for an evaluator carries no problem spec")
        if welcome.problem != self._problem_spec:
            self._problem = await anyio.to_thread.run_sync(self._load_problem, welcome.problem)
            self._problem_spec = welcome.problem
        self._frames = frames
        self._changed.notify()
        # Results finished while disconnected go first; each frees one slot at the server.
        busy = len(self._in_progress)
        credit = self.prefetch - busy - len(self._outbox)
        if credit > 0:
            await frames.send(m.Ready(n=credit))
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._send_loop, frames)
            tg.start_soon(self._heartbeat_loop, frames, welcome.heartbeat_s)
            tg.start_soon(self._watch_stop, tg.cancel_scope)
            await self._receive_loop(frames)
            tg.cancel_scope.cancel()

    async def _watch_stop(self, scope: anyio.CancelScope) -> None:
        await self._changed.wait_for(self._done)
        # Let the last results leave before closing.
        with anyio.move_on_after(2.0):
            await self._changed.wait_for(lambda: not self._outbox or self._stop_is_final())
        scope.cancel()

    def _stop_is_final(self) -> bool:
        return self.stats.finished

    async def _receive_loop(self, frames: FrameStream) -> None:
        while True:
            try:
                msg = await frames.receive()
            except anyio.EndOfStream:
                raise anyio.EndOfStream from None
            if isinstance(msg, m.Task):
                self._tasks.append(msg)
                self._changed.notify()
            elif isinstance(msg, m.Bye):
                if msg.finished:
                    self._finish(f"run finished: {msg.reason}", finished=True)
                    return
                log.info("coordinator stopping (%s); will reconnect", msg.reason)
                return
            elif isinstance(msg, m.Denied):
                raise ConnectionDenied(msg.reason, retry=msg.retry)
            else:
                raise ProtocolError(f"unexpected {msg.T!r} from the server")

    async def _send_loop(self, frames: FrameStream) -> None:
        while True:
            await self._changed.wait_for(lambda: bool(self._outbox))
            batch = list(self._outbox)
            await frames.send(*batch)
            # Sent: drop them (a result sent twice would only be refused as a duplicate).
            for _ in batch:
                self._outbox.popleft()
            self._changed.notify()

    async def _heartbeat_loop(self, frames: FrameStream, period_s: float) -> None:
        while True:
            await anyio.sleep(period_s)
            await frames.send(m.Heartbeat())

    # -- evaluation (outlives connections) -------------------------------------------------
    async def _evaluate_loop(self) -> None:
        while True:
            await self._changed.wait_for(
                lambda: bool(self._tasks) and self._problem is not None and not self._done()
            )
            if self.max_tasks is not None:
                room = self.max_tasks - self.stats.completed
            else:
                room = len(self._tasks)
            batch = [self._tasks.popleft() for _ in range(min(len(self._tasks), room))]
            self._in_progress = batch
            try:
                reports = await anyio.to_thread.run_sync(
                    self._evaluate_batch, self._problem, batch, abandon_on_cancel=True
                )
            finally:
                self._in_progress = []
            # Tasks the batch did not reach go back first in line.
            self._tasks.extendleft(reversed(batch[len(reports) :]))
            for report in reports:
                if isinstance(report, m.Result):
                    self.stats.completed += 1
                else:
                    self.stats.failed += 1
            self._outbox.extend(reports)
            self._changed.notify()
            if self.max_tasks is not None and self.stats.completed >= self.max_tasks:
                self._finish(f"completed max_tasks={self.max_tasks}")

    @staticmethod
    def _evaluate_batch(problem: Any, batch: list[m.Task]) -> list[m.Message]:
        """Evaluate tasks one after another in this worker thread.

        Cheap evaluations are done many per thread hand-off (that hand-off would cost
        more than they do); once a batch has run for 20 ms the rest wait for the next
        call, so a result is never held back long behind slow evaluations.
        """
        reports: list[m.Message] = []
        started = time.perf_counter()
        for task in batch:
            if reports and time.perf_counter() - started > 0.02:
                break
            t0 = time.perf_counter()
            try:
                outcome = problem.evaluate(np.asarray(task.x, dtype=np.int64))
                acc, lat_ms = evaluation_outcome(outcome)
                reports.append(
                    m.Result(id=task.id, acc=acc, lat_ms=lat_ms, eval_s=time.perf_counter() - t0)
                )
            except Exception as exc:
                reports.append(m.Failed(id=task.id, reason=f"{type(exc).__name__}: {exc}"[:4000]))
        return reports


def _describe(exc: BaseException) -> str:
    """``Type: message``, with the cause anyio hides behind "All connection attempts failed"."""
    text = f"{type(exc).__name__}: {exc}"
    if exc.__cause__ is not None:
        text += f" ({type(exc.__cause__).__name__}: {exc.__cause__})"
    return text


def _default_loader(spec: dict) -> Any:
    from segevo.engine.problem import load_problem

    return load_problem(spec)


__all__ = [
    "EvaluatorGaveUp",
    "EvaluatorStats",
    "QueryClient",
    "QueryError",
    "RemoteEvaluator",
    "query_once",
]
