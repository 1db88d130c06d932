"""The dashboard's ASGI application (Starlette): one page, a small read-only JSON API, SSE.

Routes (all GET, except the login form's POST; nothing here changes the run):

- ``/`` the page, ``/static/...`` its script and style sheet (shipped in the package) and
  ``/static/plotly.min.js``, the charting library, read from the installed ``plotly``
  package (its wheel ships the browser bundle; nothing comes from a CDN, so the page works
  offline);
- ``/api/summary``: budget, rows, hypervolume, front, picks, evaluators, predictor version,
  leases, the latest proposal's predictions;
- ``/api/rows?after=N[&limit=L][&fields=a,b][&format=rows|columns]``: committed rows from
  index N on, at most L (default 5,000, at most 20,000), ``{"rows": [...], "next": M}``;
- ``/api/row/I``: one row with its decoded architecture and ``segevo export`` command;
- ``/api/events?after=N``: Server-Sent Events, one ``rows`` event per committed batch (the
  rows themselves and the new summary) and a ``summary`` event each second otherwise.

Access: on a loopback address anyone on the machine may read (the ``Host`` header must
name a loopback host, which stops DNS rebinding); on any other address every request needs
the run's token, as ``?token=`` (which also sets a cookie), an ``Authorization: Bearer``
header, or the cookie the login form sets; compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from segevo.engine.dashboard.sources import Source
from segevo.engine.dashboard.store import DEFAULT_LIMIT, MAX_LIMIT, encode_rows, parse_fields

log = logging.getLogger("segevo.engine.dashboard")

STATIC = Path(__file__).resolve().parent / "static"
STATIC_FILES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
COOKIE = "segevo_dashboard"
MAX_EVENT_STREAMS = 32
SUMMARY_EVERY_S = 1.0
KEEPALIVE_S = 15.0
THREAD_ENCODE_ROWS = 1000
"""Pages with more rows than this are encoded in a worker thread, off the event loop."""

PLOTLY_JS = "plotly.min.js"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        # Plotly adds <style> rules and inline styles to the plots it draws.
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
}


class BadRequest(ValueError):
    """A request the API cannot answer (400 with the message)."""


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def _int_param(request: Request, name: str, default: int, minimum: int, maximum: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name}={text!r} is not an integer") from None
    if not minimum <= value <= maximum:
        raise BadRequest(f"{name}={value} is out of range; allowed {minimum}..{maximum}")
    return value


def _format_param(request: Request) -> bool:
    fmt = request.query_params.get("format", "rows")
    if fmt not in ("rows", "columns"):
        raise BadRequest(f"format={fmt!r} is unknown; allowed: rows, columns")
    return fmt == "columns"


class Dashboard:
    """The application state: the source, the access rule, open event streams."""

    def __init__(
        self, source: Source, *, require_token: bool, allowed_hosts: set[str] | None = None
    ) -> None:
        self.source = source
        self.require_token = require_token
        token = source.token
        if require_token and not token:
            raise ValueError("a dashboard on a non-loopback address needs the run's token")
        self._token = token or b""
        self._session = hmac.new(self._token, b"segevo-dashboard-session", hashlib.sha256)
        # Host names a loopback page may be opened by (the address it is bound to too).
        self.allowed_hosts = {"127.0.0.1", "localhost", "::1", "[::1]", *(allowed_hosts or ())}
        self.streams = 0
        self.closing = anyio.Event()
        self._encode_limiter = anyio.CapacityLimiter(2)
        self._files = {name: (STATIC / name).read_bytes() for name in STATIC_FILES}
        self._index = (STATIC / "index.html").read_bytes()
        self._login = (STATIC / "login.html").read_text()
        self._plotly: tuple[bytes, bytes, str] | None = None  # (plain, gzipped, version)
        self._plotly_lock = anyio.Lock()

    # -- access ----------------------------------------------------------------------------
    def session_value(self) -> str:
        return self._session.hexdigest()

    def _token_ok(self, given: str | None) -> bool:
        if not given:
            return False
        return hmac.compare_digest(given.strip().encode(), self._token)

    def authorized(self, request: Request) -> bool:
        if not self.require_token:
            return True
        cookie = request.cookies.get(COOKIE)
        if cookie and hmac.compare_digest(cookie.encode(), self.session_value().encode()):
            return True
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer ") and self._token_ok(header[7:]):
            return True
        return self._token_ok(request.query_params.get("token"))

    def host_ok(self, request: Request) -> bool:
        if self.require_token:
            return True  # the token guards it; any Host may name the machine
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in self.allowed_hosts

    def set_cookie(self, response: Response) -> None:
        response.set_cookie(
            COOKIE, self.session_value(), httponly=True, samesite="strict", path="/"
        )

    # -- handlers --------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        if "token" in request.query_params:
            # Trade the token in the address for a cookie, and drop it from the address.
            rest = {k: v for k, v in request.query_params.items() if k != "token"}
            response: Response = RedirectResponse(
                "/" + (f"?{urlencode(rest)}" if rest else ""), status_code=303
            )
        else:
            response = Response(self._index, media_type="text/html; charset=utf-8")
        if self.require_token:
            self.set_cookie(response)
        return response

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self._files:
            return error(404, f"no static file {name!r}")
        return Response(
            self._files[name],
            media_type=STATIC_FILES[name],
            headers={"Cache-Control": "no-cache"},
        )

    async def plotly(self, request: Request) -> Response:
        async with self._plotly_lock:
            if self._plotly is None:
                try:
                    # Read and compress once, off the event loop (4.8 MB, ~0.3 s to gzip).
                    self._plotly = await anyio.to_thread.run_sync(_load_plotly)
                except (ImportError, OSError) as exc:
                    return error(503, f"the charting library is not installed: {exc}")
        plain_js, gzipped, version = self._plotly
        headers = {"Cache-Control": "public, max-age=86400", "ETag": f'"plotly-{version}"'}
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
            return Response(gzipped, media_type=STATIC_FILES_JS, headers=headers)
        return Response(plain_js, media_type=STATIC_FILES_JS, headers=headers)

    async def login_form(self, request: Request, message: str = "", status: int = 200) -> Response:
        text = self._login.replace("{{message}}", _escape(message))
        return HTMLResponse(text, status_code=status)

    async def login(self, request: Request) -> Response:
        body = await _read_body(request, 4096)
        if body is None:
            return await self.login_form(request, "the form was too large", 413)
        fields = parse_qs(body.decode("utf-8", "replace"))
        given = (fields.get("token") or [""])[0]
        if not self.require_token or self._token_ok(given):
            response = RedirectResponse("/", status_code=303)
            if self.require_token:
                self.set_cookie(response)
            return response
        return await self.login_form(request, "wrong token", 401)

    async def summary(self, request: Request) -> Response:
        return _json(self.source.summary())

    async def rows(self, request: Request) -> Response:
        store = self.source.store
        try:
            after = _int_param(request, "after", 0, 0, 2**53)
            limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
            fields = parse_fields(request.query_params.get("fields"))
            columns = _format_param(request)
        except ValueError as exc:
            return error(400, str(exc))
        total = store.n
        start = min(after, total)
        stop = min(total, start + limit)
        body = await self._encode(store.snapshot(start, stop, fields), after, stop, total, columns)
        return Response(body, media_type="application/json")

    async def _encode(
        self, snapshot: dict[str, Any], start: int, stop: int, total: int, columns: bool
    ) -> bytes:
        next_index = max(stop, start)
        if stop - min(start, stop) > THREAD_ENCODE_ROWS:
            return await anyio.to_thread.run_sync(
                lambda: encode_rows(
                    snapshot, start=start, stop=next_index, total=total, columns=columns
                ),
                limiter=self._encode_limiter,
            )
        return encode_rows(snapshot, start=start, stop=next_index, total=total, columns=columns)

    async def row(self, request: Request) -> Response:
        text = request.path_params["index"]
        try:
            index = int(text)
        except ValueError:
            return error(400, f"row index {text!r} is not an integer")
        n = self.source.store.n
        if not 0 <= index < n:
            return error(404, f"no row {index}; rows are 0..{n - 1}" if n else "no rows yet")
        return _json(await self.source.describe(index))

    async def events(self, request: Request) -> Response:
        try:
            last = request.headers.get("last-event-id")
            if last is not None and "after" not in request.query_params:
                try:
                    after = max(0, int(last))
                except ValueError:
                    raise BadRequest(f"Last-Event-ID {last!r} is not an integer") from None
            else:
                after = _int_param(request, "after", self.source.store.n, 0, 2**53)
            fields = parse_fields(request.query_params.get("fields"))
            columns = _format_param(request)
        except ValueError as exc:
            return error(400, str(exc))
        if self.streams >= MAX_EVENT_STREAMS:
            return error(503, f"too many event streams open (at most {MAX_EVENT_STREAMS})")
        return StreamingResponse(
            self._stream(after, fields, columns),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _stream(
        self, after: int, fields: tuple[str, ...], columns: bool
    ) -> AsyncIterator[bytes]:
        store = self.source.store
        cursor = after
        self.streams += 1
        try:
            yield b"retry: 2000\n\n"
            yield _event("summary", json.dumps(self.source.summary(), allow_nan=False).encode())
            last_sent = time.monotonic()
            while not self.closing.is_set():
                if store.n <= cursor:

                    def moved(seen: int = cursor) -> bool:
                        return store.n > seen or self.closing.is_set()

                    with anyio.move_on_after(SUMMARY_EVERY_S):
                        await store.changed.wait_for(moved)
                if self.closing.is_set():
                    break
                now = time.monotonic()
                if store.n > cursor:
                    start = cursor
                    stop = min(store.n, start + MAX_LIMIT)
                    body = await self._encode(
                        store.snapshot(start, stop, fields), start, stop, store.n, columns
                    )
                    summary = json.dumps(self.source.summary(), allow_nan=False).encode()
                    data = body[:-1] + b',"summary":' + summary + b"}"
                    yield _event("rows", data, event_id=stop)
                    cursor = stop
                    last_sent = now
                elif now - last_sent >= SUMMARY_EVERY_S:
                    yield _event(
                        "summary", json.dumps(self.source.summary(), allow_nan=False).encode()
                    )
                    last_sent = now
        finally:
            self.streams -= 1

    def close(self) -> None:
        """End the event streams (the server is shutting down)."""
        self.closing.set()


STATIC_FILES_JS = "text/javascript; charset=utf-8"


def _load_plotly() -> tuple[bytes, bytes, str]:
    """The browser bundle inside the installed ``plotly`` wheel (plain and gzipped)."""
    import gzip
    from importlib import metadata, resources

    data = (resources.files("plotly") / "package_data" / PLOTLY_JS).read_bytes()
    return data, gzip.compress(data, compresslevel=6), metadata.version("plotly")


def _event(name: str, data: bytes, event_id: int | None = None) -> bytes:
    head = f"event: {name}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return head.encode() + b"data: " + data + b"\n\n"


def _json(data: Any) -> Response:
    return Response(
        json.dumps(data, separators=(",", ":"), allow_nan=False), media_type="application/json"
    )


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


async def _read_body(request: Request, limit: int) -> bytes | None:
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class _Guard:
    """ASGI wrapper: access rule, security headers, JSON 404/405 and 500 (never a crash page)."""

    OPEN_PATHS = ("/login", "/static/dashboard.css")

    def __init__(self, app: Any, dashboard: Dashboard) -> None:
        self.app = app
        self.dashboard = dashboard

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, receive, send)
            return
        request = Request(scope, receive)

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for key, value in SECURITY_HEADERS.items():
                    if key.lower().encode() not in present:
                        headers.append((key.lower().encode(), value.encode()))
                if scope["path"].startswith("/api/"):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        dash = self.dashboard
        response: Response | None = None
        if not dash.host_ok(request):
            response = error(
                403, "the Host header names no loopback host; open the dashboard by 127.0.0.1"
            )
        elif scope["path"] not in self.OPEN_PATHS and not dash.authorized(request):
            if scope["path"].startswith("/api/"):
                response = error(401, "this dashboard needs the run's token (?token= or login)")
            else:
                response = await dash.login_form(request, "", 401)
        if response is not None:
            await response(scope, receive, send_with_headers)
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("dashboard request %s failed", scope.get("path"))
            raise


def create_app(
    source: Source, *, require_token: bool = False, allowed_hosts: set[str] | None = None
) -> Any:
    """The ASGI app serving ``source`` (``require_token``: for non-loopback addresses)."""
    dash = Dashboard(source, require_token=require_token, allowed_hosts=allowed_hosts)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if status == 405:
            return error(405, f"{request.method} is not allowed here; the dashboard is read-only")
        return error(status, f"no such page {request.url.path!r}; try / or /api/summary")

    async def server_error(request: Request, exc: Exception) -> Response:
        return error(500, f"internal error: {type(exc).__name__}")

    routes = [
        Route("/", dash.index, methods=["GET"]),
        Route(f"/static/{PLOTLY_JS}", dash.plotly, methods=["GET"]),
        Route("/static/{name}", dash.static, methods=["GET"]),
        Route("/login", dash.login_form, methods=["GET"]),
        Route("/login", dash.login, methods=["POST"]),
        Route("/api/summary", dash.summary, methods=["GET"]),
        Route("/api/rows", dash.rows, methods=["GET"]),
        Route("/api/row/{index}", dash.row, methods=["GET"]),
        Route("/api/events", dash.events, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={404: not_found, 405: not_found, 500: server_error},
    )
    guarded = _Guard(app, dash)
    guarded.dashboard = dash
    return guarded
