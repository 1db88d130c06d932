"""The live dashboard: a web page (and JSON API) that shows a search as it runs.

``segevo run --dashboard [HOST:]PORT`` serves it inside the coordinator's event loop
(:func:`run_dashboard`); ``segevo dashboard TARGET`` serves it for a run directory or a
remote coordinator. This module imports nothing heavy: Starlette and uvicorn are imported
only when a dashboard is started.
"""

from __future__ import annotations

from typing import Any

import anyio
from anyio.abc import TaskStatus

__all__ = ["run_dashboard"]


async def run_dashboard(
    coordinator: Any,
    address: str | None,
    *,
    task_status: TaskStatus[str | None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the dashboard of ``coordinator`` on ``address`` (nothing when it is None).

    Reports the page's URL through ``task_status`` once it listens, and serves until
    cancelled. Read-only: it reads the coordinator's memory on its event loop.
    """
    if address is None:
        task_status.started(None)
        return
    from segevo.engine.dashboard.serve import parse_address, serve_source
    from segevo.engine.dashboard.sources import CoordinatorSource

    endpoint = parse_address(address)
    source = CoordinatorSource(coordinator)
    async with anyio.create_task_group() as tg:
        url = await tg.start(serve_source, source, endpoint)
        coordinator.dashboard_url = url
        coordinator.log_event("dashboard", url=url)
        task_status.started(url)
