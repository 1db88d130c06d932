"""The dashboard's HTTP API over live and finished runs (an HTTP client, no browser)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import click
import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dashboard_helpers import live_run

from segevo.engine.archive import open_archive
from segevo.engine.dashboard.app import create_app
from segevo.engine.dashboard.serve import parse_address, serve_source
from segevo.engine.dashboard.sources import RunDirSource
from segevo.engine.wire import Endpoint

pytestmark = pytest.mark.anyio


async def _events(client: httpx.AsyncClient, url: str, until: Any) -> list[tuple[str, dict]]:
    """Server-sent events from ``url`` until ``until(events)`` holds."""
    events: list[tuple[str, dict]] = []
    name = None
    async with client.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name is not None:
                events.append((name, json.loads(line[6:])))
                if until(events):
                    return events
    return events


async def test_rows_summary_and_events_over_a_live_run(tmp_path):
    with anyio.fail_after(30):
        async with (
            live_run(tmp_path, delay_s=0.03, evaluations=90) as (_, url),
            httpx.AsyncClient(base_url=url, timeout=10) as client,
        ):
            summary = (await client.get("/api/summary")).json()
            assert summary["budget"] == 90 and summary["running"]
            assert summary["run_dir"] == str(tmp_path / "run")

            # The event stream: one "rows" event per committed batch, in order, no gaps.
            def enough(events: list) -> bool:
                rows = [data for kind, data in events if kind == "rows"]
                return len(rows) >= 3 and rows[-1]["next"] >= 30

            events = await _events(client, "/api/events?after=0", enough)
            assert events[0][0] == "summary"
            batches = [data for kind, data in events if kind == "rows"]
            cursor = 0
            for batch in batches:
                assert batch["start"] == cursor and batch["next"] > cursor
                assert [r["index"] for r in batch["rows"]] == list(range(cursor, batch["next"]))
                assert batch["summary"]["rows"] >= batch["next"]
                cursor = batch["next"]
            streamed = [r for batch in batches for r in batch["rows"]]

            # /api/rows pages give the same rows; "next" is where to ask next.
            page = (await client.get("/api/rows?after=0&limit=10")).json()
            assert [r["index"] for r in page["rows"]] == list(range(10))
            assert page["next"] == 10
            rest = (await client.get(f"/api/rows?after={page['next']}")).json()
            assert rest["rows"][0]["index"] == 10
            assert page["rows"] + rest["rows"][: len(streamed) - 10] == streamed
            row = page["rows"][0]
            for key in ("index", "x", "acc", "lat_ms", "evaluator", "task_id", "t_done"):
                assert key in row
            assert row["evaluator"].startswith("local-") and len(row["x"]) == 4
            columns = (await client.get("/api/rows?after=5&limit=3&format=columns")).json()
            assert columns["columns"]["index"] == [5, 6, 7]
            assert columns["columns"]["acc"] == [r["acc"] for r in page["rows"][5:8]]

            # Past the end: no rows, and next stays where it was asked.
            far = (await client.get("/api/rows?after=100000")).json()
            assert far["rows"] == [] and far["next"] == 100000

            detail = (await client.get("/api/row/3")).json()
            assert detail["x"] == page["rows"][3]["x"]
            assert detail["export"] == (
                f"segevo export {tmp_path / 'run'} --arch {page['rows'][3]['task_id']}"
            )
            summary = (await client.get("/api/summary")).json()
            assert {e["name"] for e in summary["evaluators"]} == {
                "local-0",
                "local-1",
                "local-2",
            }
            assert summary["hypervolume"] > 0 and summary["front_size"] >= 1
            assert set(summary["picks"]) <= set(summary["front"])
            assert set(summary["timeline"]) <= {"local-0", "local-1", "local-2"}
            page = await client.get("/")
            assert page.status_code == 200 and "segevo dashboard" in page.text
            script = await client.get("/static/plotly.min.js")
            assert script.status_code == 200 and len(script.content) > 1_000_000
    # The whole archive reached the store, in commit order.
    data = open_archive(tmp_path / "run")
    assert len(data) == 90


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/api/rows?after=-1", 400, "after=-1"),
        ("/api/rows?after=abc", 400, "not an integer"),
        ("/api/rows?limit=0", 400, "limit=0"),
        ("/api/rows?fields=bogus", 400, "unknown fields"),
        ("/api/rows?format=xml", 400, "format"),
        ("/api/events?after=-5", 400, "after=-5"),
        ("/api/row/abc", 400, "not an integer"),
        ("/api/row/100000", 404, "no row"),
        ("/nope", 404, "no such page"),
        ("/static/secret.py", 404, "no static file"),
    ],
)
async def test_bad_requests_get_a_4xx_with_a_message(finished_run, path, status, words):
    async with _client(create_app(RunDirSource(finished_run))) as client:
        response = await client.get(path)
    assert response.status_code == status
    body = response.json()
    assert words in body["error"] and body["status"] == status


async def test_the_api_is_read_only(finished_run):
    async with _client(create_app(RunDirSource(finished_run))) as client:
        for method in ("POST", "PUT", "DELETE"):
            response = await client.request(method, "/api/rows")
            assert response.status_code == 405
            assert "read-only" in response.json()["error"]


async def test_off_loopback_every_request_needs_the_token(finished_run):
    source = RunDirSource(finished_run)
    token = (finished_run / "token").read_text().strip()
    app = create_app(source, require_token=True)
    async with _client(app, host="10.1.2.3:8080") as client:
        for path in ("/api/summary", "/api/rows?after=0", "/api/events"):
            response = await client.get(path)
            assert response.status_code == 401 and "token" in response.json()["error"]
        page = await client.get("/")
        assert page.status_code == 401 and 'name="token"' in page.text  # the login form
        assert (await client.get("/api/summary?token=wrong")).status_code == 401
        assert (await client.get(f"/api/summary?token={token}")).status_code == 200
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/api/summary", headers=bearer)).status_code == 200
        # The login form: a wrong token is refused, the right one sets the session cookie.
        wrong = await client.post("/login", data={"token": "nope"})
        assert wrong.status_code == 401 and "wrong token" in wrong.text
        assert "segevo_dashboard" not in client.cookies
        right = await client.post("/login", data={"token": token})
        assert right.status_code == 303 and "segevo_dashboard" in client.cookies
        assert (await client.get("/api/summary")).status_code == 200
    # ?token= on the page trades the token for the cookie and drops it from the address.
    async with _client(app, host="10.1.2.3:8080") as client:
        response = await client.get(f"/?token={token}")
        assert response.status_code == 303 and response.headers["location"] == "/"
        assert (await client.get("/api/rows?after=0")).status_code == 200


async def test_on_loopback_a_foreign_host_header_is_refused(finished_run):
    # DNS rebinding: a page of another site that resolves to 127.0.0.1 names its own host.
    async with _client(create_app(RunDirSource(finished_run)), host="evil.example") as client:
        response = await client.get("/api/summary")
    assert response.status_code == 403 and "loopback" in response.json()["error"]


async def test_a_finished_run_directory_is_served_whole(finished_run):
    source = RunDirSource(finished_run)
    with anyio.fail_after(15):
        async with anyio.create_task_group() as tg:
            url = await tg.start(serve_source, source, Endpoint("127.0.0.1", 0))
            async with httpx.AsyncClient(base_url=url) as client:
                summary = (await client.get("/api/summary")).json()
                rows = (await client.get("/api/rows?after=0")).json()
            tg.cancel_scope.cancel()
    assert summary["rows"] == 40 == rows["next"] and summary["finished"]
    assert not summary["running"] and summary["source"] == "run_dir"
    assert [r["index"] for r in rows["rows"]] == list(range(40))


def test_segevo_dashboard_prints_its_url_and_serves(finished_run, tmp_path):
    command = [sys.executable, "-m", "segevo.cli.main", "dashboard", str(finished_run)]
    child = subprocess.Popen([*command, "--port", "0"], stdout=subprocess.PIPE)
    try:
        line = child.stdout.readline().decode() if child.stdout else ""
        assert line.startswith("dashboard: http://127.0.0.1:"), line
        url = line.split(" ", 1)[1].strip()
        summary = httpx.get(url + "api/summary", timeout=10).json()
        assert summary["rows"] == 40
    finally:
        child.terminate()
        child.wait(timeout=10)
    assert child.returncode in (0, -15)


def test_dashboard_addresses():
    assert parse_address("8123") == Endpoint("127.0.0.1", 8123)
    assert parse_address("0.0.0.0:0") == Endpoint("0.0.0.0", 0)
    with pytest.raises(ValueError, match=r"\[HOST:\]PORT"):
        parse_address("nope:port")
    from segevo.cli.search import _dashboard_address

    with pytest.raises(click.UsageError):
        _dashboard_address("host:")


# -- helpers -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished 40-row run directory (one for the module: the tests only read it)."""
    tmp_path = tmp_path_factory.mktemp("finished")

    async def run() -> None:
        with anyio.fail_after(20):
            async with live_run(tmp_path, delay_s=0.0, evaluations=40):
                pass

    anyio.run(run)
    return tmp_path / "run"


def _client(app: Any, host: str = "127.0.0.1:8000") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url=f"http://{host}")
