"""How the dashboard scales with the rows of a run: first load and one update.

For 1e3, 1e4 and 1e5 synthetic rows served by a real dashboard (uvicorn in this process's
anyio loop), it measures:

- API first load: every row through ``/api/rows`` pages (column format) plus ``/api/summary``,
  as the page downloads them;
- API update: a batch of 10 rows appended to the store until its ``rows`` event arrives on
  ``/api/events``;
- event-loop lag: the longest a 10 ms sleep of the serving loop overshot while the above ran
  (what a coordinator on that loop would feel);
- with a headless chromium (``--browser``, the default when one is installed): the first
  paint (page opened until every row is downloaded and every plot drawn) and one update
  (10 rows appended until the page shows them).

``--screenshot PATH`` instead runs a small real search (a table problem, the mosegnas
strategy with a decision-tree surrogate) with its dashboard and saves a screenshot of the
page near its end.

    python benchmarks/dashboard_scale.py [--sizes 1000,10000,100000] [--no-browser]
    python benchmarks/dashboard_scale.py --screenshot docs/images/dashboard.png
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
from anyio.abc import TaskStatus

from segevo.engine.dashboard.serve import serve_source
from segevo.engine.dashboard.sources import Source
from segevo.engine.dashboard.store import RowStore
from segevo.engine.wire import Endpoint

BATCH = 10


class SyntheticSource(Source):
    """``n`` rows of a fake run (a noisy front in accuracy vs latency), grown on demand."""

    def __init__(self, n: int, seed: int = 0) -> None:
        super().__init__()
        self.run_dir = None
        self.token = None
        self.rng = np.random.default_rng(seed)
        self.store = RowStore(8)
        self.t0 = time.time() - 3600
        self.grow(n)

    def grow(self, k: int) -> None:
        rng, start = self.rng, self.store.n
        size = rng.random(k)
        t_done = self.t0 + (start + np.arange(k)) * 0.03
        self.store.append(
            {
                "task_id": start + np.arange(k),
                "x": rng.integers(0, 4, size=(k, 8)),
                "acc": 0.3 + 0.6 * np.sqrt(size) - rng.exponential(0.05, k),
                "lat_ms": 2 + 10 * size,
                "lat_pred_ms": 2 + 10 * size + rng.normal(0, 0.2, k),
                "acc_pred": 0.3 + 0.6 * np.sqrt(size) + rng.normal(0, 0.03, k),
                "predictor_version": (start + np.arange(k)) // 50,
                "t_submit": t_done - 0.5,
                "t_done": t_done,
            },
            [f"gpu-{i % 8}" for i in range(start, start + k)],
        )

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await anyio.sleep_forever()

    def live_state(self) -> dict[str, Any]:
        return {
            "source": "synthetic",
            "run": f"synthetic-{self.store.n}",
            "problem": "synthetic",
            "strategy": "mosegnas",
            "running": True,
            "budget": 200_000,
            "hv_reference": [0.0, 13.0],
            "evaluators": [
                {"name": f"gpu-{i}", "busy": True, "leased": 1, "utilisation": 0.9}
                for i in range(8)
            ],
        }


class LagMeter:
    """The longest overshoot of a 10 ms sleep on this loop since the last reset."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def run(self) -> None:
        while True:
            t = time.perf_counter()
            await anyio.sleep(0.01)
            self.worst = max(self.worst, time.perf_counter() - t - 0.01)

    def take(self) -> float:
        worst, self.worst = self.worst, 0.0
        return worst


def api_first_load(url: str) -> float:
    """Seconds to download the summary and every row (blocking: run it in a thread, so
    that the loop lag measured is the server's, not this client's)."""
    t = time.perf_counter()
    with httpx.Client(base_url=url, timeout=60) as client:
        client.get("/api/summary").raise_for_status()
        after = 0
        while True:
            body = client.get(f"/api/rows?after={after}&limit=20000&format=columns").content
            # The body opens with start, next and total; json.loads of the whole body would
            # hold the GIL (this client shares the process with the server it measures).
            head = json.loads(body[: body.index(b',"columns"')] + b"}")
            after = head["next"]
            if after >= head["total"]:
                break
    return time.perf_counter() - t


async def api_update(url: str, source: SyntheticSource) -> float:
    """Seconds from appending a batch to its event arriving."""
    async with (
        httpx.AsyncClient(base_url=url, timeout=60) as client,
        client.stream("GET", f"/api/events?after={source.store.n}&format=columns") as events,
    ):
        lines = events.aiter_lines()
        async for line in lines:  # the first summary event: the stream is up
            if line.startswith("data: "):
                break
        t = time.perf_counter()
        source.grow(BATCH)
        async for line in lines:
            if line.startswith("event: rows"):
                return time.perf_counter() - t
    raise RuntimeError("the event stream ended")


def chromium() -> Any | None:
    from shutil import which

    binary = which("chromium") or which("chromium-browser")
    driver_path = which("chromedriver")
    if binary is None or driver_path is None:
        return None
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1400,2200")
    return webdriver.Chrome(service=Service(driver_path), options=options)


def rows_shown(driver: Any) -> tuple[bool, int]:
    ready, rows = driver.execute_script(
        "return [document.body.dataset.ready === '1', Number(document.body.dataset.rows || 0)]"
    )
    return bool(ready), int(rows)


async def browser_times(driver: Any, url: str, source: SyntheticSource) -> tuple[float, float]:
    await anyio.to_thread.run_sync(driver.get, "about:blank")
    t = time.perf_counter()
    await anyio.to_thread.run_sync(driver.get, url)
    while not (await anyio.to_thread.run_sync(rows_shown, driver))[0]:
        await anyio.sleep(0.02)
    first = time.perf_counter() - t
    await anyio.sleep(1.5)  # the event stream is open, the last redraw long past
    target = source.store.n + BATCH
    t = time.perf_counter()
    source.grow(BATCH)
    while (await anyio.to_thread.run_sync(rows_shown, driver))[1] < target:
        await anyio.sleep(0.01)
    return first, time.perf_counter() - t


async def scale(sizes: list[int], use_browser: bool) -> None:
    driver = await anyio.to_thread.run_sync(chromium) if use_browser else None
    if use_browser and driver is None:
        print("no chromium + chromedriver: browser columns skipped", file=sys.stderr)
    header = f"{'rows':>8} {'API first load':>15} {'API update':>11} {'loop lag':>9}"
    if driver is not None:
        header += f" {'browser first paint':>20} {'browser update':>15}"
    print(header)
    try:
        for n in sizes:
            source = SyntheticSource(n)
            lag = LagMeter()
            async with anyio.create_task_group() as tg:
                tg.start_soon(lag.run)
                url = await tg.start(serve_source, source, Endpoint("127.0.0.1", 0))
                await anyio.to_thread.run_sync(api_first_load, url)  # warm up
                lag.take()
                load = min([await anyio.to_thread.run_sync(api_first_load, url) for _ in range(3)])
                update = min([await api_update(url, source) for _ in range(3)])
                line = f"{n:>8} {load * 1e3:>12.0f} ms {update * 1e3:>8.0f} ms"
                if driver is not None:
                    async with httpx.AsyncClient(base_url=url) as client:
                        await client.get("/static/plotly.min.js")  # compressed once
                    first, change = await browser_times(driver, url, source)
                    worst = lag.take()
                    line += f" {worst * 1e3:>6.0f} ms {first * 1e3:>17.0f} ms"
                    line += f" {change * 1e3:>12.0f} ms"
                else:
                    line += f" {lag.take() * 1e3:>6.0f} ms"
                print(line, flush=True)
                tg.cancel_scope.cancel()
    finally:
        if driver is not None:
            await anyio.to_thread.run_sync(driver.quit)


async def screenshot(path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from support import write_table

    from segevo.engine.config import RunConfig
    from segevo.engine.run import Coordinator

    driver = await anyio.to_thread.run_sync(chromium)
    if driver is None:
        raise SystemExit("no chromium + chromedriver to take the screenshot with")
    folder = Path(tempfile.mkdtemp(prefix="segevo-dashboard-"))
    write_table(folder / "t.csv", (5, 5, 4, 4, 3))
    config = RunConfig(
        problem="support:SlowTable",
        problem_options={"path": str(folder / "t.csv"), "lognormal_mean_s": 0.15},
        evaluations=400,
        initial=24,
        batch=8,
        evaluators=4,
        strategy="mosegnas",
        surrogate="dt",
        moea_options={"pop_size": 24, "n_gen": 8},
    )
    coordinator = Coordinator.create(config, folder / "run", dashboard="127.0.0.1:0")
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(coordinator.run)
            while coordinator.dashboard_url is None:
                await anyio.sleep(0.05)
            await anyio.to_thread.run_sync(driver.get, coordinator.dashboard_url)
            while coordinator.mirror.n < 340:
                await anyio.sleep(0.2)
            await anyio.to_thread.run_sync(
                driver.execute_script,
                "document.querySelector('#rows-table tbody tr').click()",
            )
            await anyio.sleep(1.0)
            height = await anyio.to_thread.run_sync(
                driver.execute_script, "return document.body.scrollHeight"
            )
            await anyio.to_thread.run_sync(driver.set_window_size, 1400, int(height) + 40)
            await anyio.sleep(1.0)
            path.parent.mkdir(parents=True, exist_ok=True)
            await anyio.to_thread.run_sync(driver.save_screenshot, str(path))
            print(f"saved {path} at {coordinator.mirror.n} rows")
            tg.cancel_scope.cancel()
    finally:
        await anyio.to_thread.run_sync(driver.quit)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--screenshot", type=Path)
    args = parser.parse_args()
    if args.screenshot is not None:
        anyio.run(screenshot, args.screenshot)
        return
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    anyio.run(scale, sizes, not args.no_browser)


if __name__ == "__main__":
    main()
