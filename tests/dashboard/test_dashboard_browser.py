"""The dashboard page in a real headless browser (Debian's chromium and chromium-driver).

Skipped, with the reason, only where no browser is installed; .ci/run installs one. The
test installs nothing itself and reaches nothing outside the machine: the page's charting
library comes from the installed plotly package, through the dashboard.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dashboard_helpers import live_run

pytestmark = pytest.mark.anyio

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
CHROMEDRIVER = shutil.which("chromedriver")


def browser() -> Any:
    """A headless Chromium under selenium (skips the test when there is none)."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "no chromium + chromedriver installed (apt-get install chromium chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1400,1800")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def page_state(driver: Any) -> dict[str, Any]:
    """What the page shows: the row count in the header and the points of the front plot."""
    return driver.execute_script(
        """
        const plot = document.getElementById('front-plot');
        const traces = (plot && plot.data) || [];
        const count = (name) => traces.filter((t) => t.name.startsWith(name))
            .reduce((s, t) => s + t.x.length, 0);
        return {ready: document.body.dataset.ready === '1',
                rows: Number(document.getElementById('rows').textContent),
                front: count('front'), dominated: count('dominated'),
                hv: Number(document.getElementById('hv').textContent) || 0,
                table: document.querySelectorAll('#rows-table tbody tr').length};
        """
    )


async def wait_for(driver: Any, condition: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state = await anyio.to_thread.run_sync(page_state, driver)
        if condition(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"the page never got there: {state}")
        await anyio.sleep(0.2)


async def test_the_page_shows_the_rows_and_the_front_grow_during_a_live_run(tmp_path):
    driver = await anyio.to_thread.run_sync(browser)
    try:
        with anyio.fail_after(40):
            # 240 evaluations of 0.1 s on 3 evaluators: about 8 s of run to watch.
            async with live_run(tmp_path, delay_s=0.1, evaluations=240, initial=12, batch=3) as (
                coordinator,
                url,
            ):
                await anyio.to_thread.run_sync(driver.get, url)
                first = await wait_for(driver, lambda s: s["ready"] and s["rows"] > 0, 15)
                assert first["rows"] < 240, "the run ended before the page was up"
                later = await wait_for(
                    driver,
                    lambda s: (
                        s["rows"] >= first["rows"] + 30
                        and s["front"] + s["dominated"] > first["front"] + first["dominated"]
                    ),
                    15,
                )
                assert later["front"] >= 1 and later["table"] > 0
                assert coordinator.mirror.n >= later["rows"]
                # Clicking a row shows its architecture and the export command.
                await anyio.to_thread.run_sync(
                    driver.execute_script,
                    "document.querySelector('#rows-table tbody tr').click()",
                )
                await anyio.sleep(0.5)
                detail = await anyio.to_thread.run_sync(
                    driver.execute_script,
                    "return document.getElementById('detail').textContent",
                )
                assert "segevo export" in detail and "--arch" in detail
            # The last batch reaches the page before the server goes with the run.
        logs = await anyio.to_thread.run_sync(driver.get_log, "browser")
        errors = [e["message"] for e in logs if e["level"] == "SEVERE"]
        # The stream breaking as the run ends is expected; nothing else may fail.
        errors = [m for m in errors if "/api/events" not in m and "ERR_CONNECTION" not in m]
        assert not errors, errors
    finally:
        await anyio.to_thread.run_sync(driver.quit)
