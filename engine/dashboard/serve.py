"""Serving the dashboard inside a running anyio (asyncio) event loop, with uvicorn.

uvicorn runs as one more task of the loop it is started in: a coordinator's loop for
``segevo run --dashboard``, or the loop of ``segevo dashboard``. Its own signal handling is
switched off (the coordinator handles SIGINT/SIGTERM itself), and when the task is
cancelled the server is shut down in order: event streams end, connections close.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Generator
from typing import Any

import anyio
from anyio.abc import TaskStatus

from segevo.engine.wire import Endpoint, is_loopback, parse_endpoint

log = logging.getLogger("segevo.engine.dashboard")


def parse_address(text: str) -> Endpoint:
    """``[HOST:]PORT`` (host 127.0.0.1 when omitted; ``[v6]:PORT``); ValueError when bad."""
    text = str(text).strip()
    if text.isdigit():
        text = f"127.0.0.1:{text}"
    try:
        return parse_endpoint(text)
    except ValueError as exc:
        raise ValueError(f"dashboard address {text!r}: {exc}; expected [HOST:]PORT") from None


def url_of(endpoint: Endpoint) -> str:
    host = endpoint.host
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{endpoint.port}/"


def bind(endpoint: Endpoint) -> tuple[socket.socket, Endpoint]:
    """A listening socket on ``endpoint`` (port 0: a free one) and where it is bound."""
    infos = socket.getaddrinfo(
        endpoint.host, endpoint.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    host, port = sock.getsockname()[:2]
    return sock, Endpoint(endpoint.host if endpoint.host != "localhost" else host, int(port))


def _server_class() -> Any:
    import uvicorn

    class QuietServer(uvicorn.Server):
        """uvicorn without its signal handlers: the process's owner handles signals."""

        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield

    return QuietServer


async def serve_app(
    app: Any,
    endpoint: Endpoint,
    *,
    on_close: Any = None,
    task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``endpoint`` until cancelled; reports the page's URL when listening."""
    import asyncio

    import uvicorn

    try:
        asyncio.get_running_loop()  # uvicorn serves on asyncio only (not trio)
    except RuntimeError:
        raise RuntimeError("the dashboard runs on the asyncio backend of anyio only") from None
    sock, bound = bind(endpoint)
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        http="h11",
        ws="none",
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    server = _server_class()(config)
    done = anyio.Event()

    async def run_server() -> None:
        try:
            # Shielded: a cancelled host asks the server to stop below instead.
            with anyio.CancelScope(shield=True):
                await server.serve(sockets=[sock])
        finally:
            done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_server)
        task_status.started(url_of(bound))
        try:
            await anyio.sleep_forever()
        finally:
            if on_close is not None:
                on_close()
            server.should_exit = True
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(3.0):
                    await done.wait()
                if not done.is_set():
                    server.force_exit = True
                    with anyio.move_on_after(3.0):
                        await done.wait()
            sock.close()


async def serve_source(
    source: Any,
    endpoint: Endpoint,
    *,
    task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Fill ``source``'s rows and serve its dashboard on ``endpoint`` (until cancelled)."""
    from segevo.engine.dashboard.app import create_app

    host = endpoint.host
    app = create_app(
        source,
        require_token=not is_loopback(host),
        allowed_hosts={host, f"[{host}]"} if ":" in host else {host},
    )
    async with anyio.create_task_group() as tg:
        await tg.start(source.run)
        url = await tg.start(
            lambda task_status: serve_app(
                app, endpoint, on_close=app.dashboard.close, task_status=task_status
            )
        )
        task_status.started(url)
