"""The coordinator's TCP server: remote evaluators and query clients.

Every connection starts with the authenticated handshake (:mod:`segevo.engine.wire`).
An evaluator then gets tasks pushed as the dispatcher hands them out and sends ``ready``,
``heartbeat``, ``result`` and ``failed``; a client sends ``query`` and gets ``reply``.
Whatever goes wrong on one connection (a bad frame, a wrong token, a crash in a handler)
closes that connection only, with ``denied{reason}`` when the protocol was broken; the
listener and every other connection carry on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import socket
from collections.abc import Callable
from typing import Any, Protocol

import anyio
import anyio.abc
from anyio.abc import SocketAttribute, TaskStatus

from segevo.engine import messages as m
from segevo.engine.actors.dispatcher import Dispatcher, Worker
from segevo.engine.wire import (
    DISCONNECTS,
    PEER_MAX_FRAME,
    AuthError,
    Endpoint,
    FrameStream,
    FrameTooLarge,
    Peer,
    ProtocolError,
    essential_exception,
    server_handshake,
    welcome_proof,
)

log = logging.getLogger("segevo.engine.server")

EVALUATOR_CREDIT_LIMIT = 256
"""Most tasks one evaluator connection may hold at once."""

MAX_REFUSED_REPORTS = 64
"""Refused results and failure reports one evaluator connection may send beyond the
ones accepted before it is disconnected: a few duplicates after a reconnect are normal,
an endless stream of them (each one logged) is a broken or hostile peer."""


class ServerHost(Protocol):
    """What the server needs from the coordinator."""

    dispatcher: Dispatcher

    def problem_spec(self) -> dict[str, Any]: ...
    def report_result(
        self, worker: Worker, task_id: int, acc: float, lat_ms: float | None, eval_s: float
    ) -> bool: ...
    def report_failure(self, worker: Worker, task_id: int, reason: str) -> bool: ...
    def query(self, q: str, since: int | None, limit: int | None) -> dict[str, Any]: ...


class Server:
    """Listens on ``endpoint`` and serves every connection in its own task."""

    def __init__(
        self,
        host: ServerHost,
        *,
        endpoint: Endpoint,
        token: bytes | None,
        run_id: str,
        lease_s: float,
        heartbeat_s: float,
        max_frame: int,
        max_connections: int,
        handshake_timeout_s: float = 10.0,
        preferred_port: int | None = None,
        on_event: Callable[..., None] | None = None,
        proof_token: bytes | None = None,
    ) -> None:
        if token is None and not endpoint.is_loopback:
            raise ValueError(
                f"refusing to listen on {endpoint} without a token: only a loopback address "
                "may run without authentication"
            )
        self.host = host
        self.endpoint = endpoint
        self.token = token
        # The token the welcome's proof is made with: the run's token even when checking
        # peers is off (auth = false), so evaluators can still tell an impostor.
        self.proof_token = proof_token if proof_token is not None else token
        self.run_id = run_id
        self.lease_s = lease_s
        self.heartbeat_s = heartbeat_s
        self.max_frame = max_frame
        self.max_connections = max_connections
        self.handshake_timeout_s = handshake_timeout_s
        self.preferred_port = preferred_port
        self._on_event = on_event or (lambda event, **fields: None)
        self.connections: set[FrameStream] = set()
        self.refused = 0
        self.bound: Endpoint | None = None
        self._closing: tuple[str, bool] | None = None
        self._scope: anyio.CancelScope | None = None

    async def run(self, *, task_status: TaskStatus[Endpoint] = anyio.TASK_STATUS_IGNORED) -> None:
        """Bind, report the bound endpoint through ``task_status``, serve until cancelled."""
        host = "127.0.0.1" if self.endpoint.host == "localhost" else self.endpoint.host
        listener = None
        if self.endpoint.port == 0 and self.preferred_port:
            # A resumed run takes its old port back when it can, so evaluators that keep
            # reconnecting to it find it again.
            with contextlib.suppress(OSError):
                listener = await anyio.create_tcp_listener(
                    local_host=host, local_port=self.preferred_port
                )
        if listener is None:
            listener = await anyio.create_tcp_listener(
                local_host=host, local_port=self.endpoint.port
            )
        port = int(listener.extra(SocketAttribute.local_port))
        self.bound = Endpoint(host, port)
        async with listener, anyio.create_task_group() as tg:
            self._scope = tg.cancel_scope
            task_status.started(self.bound)
            await listener.serve(self._handle, task_group=tg)

    async def close(self, reason: str, *, finished: bool) -> None:
        """Tell every peer ``bye{reason, finished}``, close their connections, stop listening."""
        self._closing = (reason, finished)
        with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
            for frames in list(self.connections):
                try:
                    with anyio.move_on_after(0.5):
                        await frames.send(m.Bye(reason=reason, finished=finished))
                except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass
                await frames.aclose()
        if self._scope is not None:
            self._scope.cancel()

    # -- one connection ------------------------------------------------------------------
    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        try:
            address = stream.extra(SocketAttribute.remote_address)
            sock = stream.extra(SocketAttribute.raw_socket)
            # Small frames must leave at once; results and tasks are latency-bound.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, anyio.TypedAttributeLookupError):
            address = "?"
        # (host, port) for TCP; the label used in logs and archive rows keeps the host only,
        # so an evaluator that reconnects keeps its name.
        host = address[0] if isinstance(address, tuple) else str(address)
        peer_label = str(host)
        frames = FrameStream(
            stream, max_frame=self.max_frame, max_receive=min(self.max_frame, PEER_MAX_FRAME)
        )
        self.connections.add(frames)
        try:
            await self._serve(frames, peer_label)
        except BaseException as raised:
            exc = essential_exception(raised)
            if isinstance(exc, ProtocolError):
                self.refused += 1
                self._on_event("refused", peer=peer_label, reason=str(exc))
                log.warning("refused %s: %s", peer_label, exc)
                await self._deny(frames, str(exc), retry=not isinstance(exc, AuthError))
            elif isinstance(exc, TimeoutError):
                self.refused += 1
                self._on_event("refused", peer=peer_label, reason="handshake timed out")
                await self._deny(frames, "handshake timed out", retry=True)
            elif isinstance(exc, DISCONNECTS):
                pass
            elif isinstance(exc, Exception):
                # A bug in one session must not take the listener down with it.
                log.error("connection %s failed", peer_label, exc_info=exc)
                self._on_event(
                    "connection_error", peer=peer_label, error=f"{type(exc).__name__}: {exc}"
                )
            else:
                raise  # cancellation and KeyboardInterrupt go on up
        finally:
            self.connections.discard(frames)
            await frames.aclose()

    async def _deny(self, frames: FrameStream, reason: str, *, retry: bool) -> None:
        with (
            anyio.CancelScope(shield=True),
            anyio.move_on_after(1.0),
            contextlib.suppress(*DISCONNECTS),
        ):
            await frames.send(m.Denied(reason=reason[:1000], retry=retry))

    async def _serve(self, frames: FrameStream, peer_label: str) -> None:
        if len(self.connections) > self.max_connections:
            self._on_event("refused", peer=peer_label, reason="too many connections")
            await self._deny(
                frames, f"too many connections (limit {self.max_connections})", retry=True
            )
            return
        if self._closing is not None:
            reason, finished = self._closing
            await frames.send(m.Bye(reason=reason, finished=finished))
            return
        peer = await server_handshake(
            frames, token=self.token, run_id=self.run_id, timeout_s=self.handshake_timeout_s
        )
        label = f"{peer.name or peer.role}@{peer_label}"
        if peer.role == m.EVALUATOR:
            await self._evaluator_session(frames, peer, label)
        else:
            await self._client_session(frames, peer, label)

    def _welcome(self, peer: Peer, problem: dict[str, Any] | None = None) -> m.Welcome:
        """The welcome for ``peer``, with the proof of the token when it sent a nonce."""
        welcome = m.Welcome(
            run=self.run_id,
            role=peer.role,
            max_frame=self.max_frame,
            lease_s=self.lease_s,
            heartbeat_s=self.heartbeat_s,
            problem=problem,
        )
        if self.proof_token is None or peer.nonce is None:
            return welcome
        proof = welcome_proof(self.proof_token, peer.challenge, peer.nonce, welcome)
        return dataclasses.replace(welcome, proof=proof)

    async def _evaluator_session(self, frames: FrameStream, peer: Peer, label: str) -> None:
        dispatcher = self.host.dispatcher
        await frames.send(self._welcome(peer, self.host.problem_spec()))
        worker = dispatcher.register(label, remote=True, credit_limit=EVALUATOR_CREDIT_LIMIT)
        self._on_event("evaluator_connected", evaluator=label)
        reason = "connection closed"
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._send_tasks, frames, worker)
                try:
                    await self._read_evaluator(frames, worker)
                except BaseException as exc:
                    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                    raise
                finally:
                    tg.cancel_scope.cancel()
        finally:
            dispatcher.unregister(worker, reason)
            self._on_event("evaluator_disconnected", evaluator=label, reason=reason)

    async def _send_tasks(self, frames: FrameStream, worker: Worker) -> None:
        with worker.inbox:
            async for task in worker.inbox:
                batch = [task]
                while True:
                    try:
                        batch.append(worker.inbox.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                await frames.send(*(m.Task(id=t.id, x=t.x, lease_s=self.lease_s) for t in batch))

    async def _read_evaluator(self, frames: FrameStream, worker: Worker) -> None:
        dispatcher = self.host.dispatcher
        accepted = refused = 0
        while True:
            try:
                msg = await frames.receive()
            except anyio.EndOfStream:
                return
            if isinstance(msg, m.Result):
                ok = self.host.report_result(worker, msg.id, msg.acc, msg.lat_ms, msg.eval_s or 0.0)
            elif isinstance(msg, m.Failed):
                ok = self.host.report_failure(worker, msg.id, msg.reason)
            elif isinstance(msg, m.Heartbeat):
                dispatcher.heartbeat(worker)
                continue
            elif isinstance(msg, m.Ready):
                dispatcher.grant(worker, msg.n)
                continue
            else:
                raise ProtocolError(f"an evaluator may not send {msg.T!r} after the handshake")
            if ok:
                accepted += 1
            else:
                refused += 1
                if refused > accepted + MAX_REFUSED_REPORTS:
                    raise ProtocolError(
                        f"{refused} refused results or failure reports on this connection "
                        f"(against {accepted} accepted); see result_refused in the event log"
                    )

    async def _client_session(self, frames: FrameStream, peer: Peer, label: str) -> None:
        await frames.send(self._welcome(peer))
        while True:
            try:
                msg = await frames.receive()
            except anyio.EndOfStream:
                return
            if not isinstance(msg, m.Query):
                raise ProtocolError(f"a client may not send {msg.T!r} after the handshake")
            try:
                data = self.host.query(msg.q, msg.since, msg.limit)
                await frames.send(m.Reply(q=msg.q, data=data))
            except FrameTooLarge as exc:
                await frames.send(m.Error(reason=f"{exc}; ask for fewer rows (limit)"))
            except ValueError as exc:
                await frames.send(m.Error(reason=str(exc)[:4000]))
