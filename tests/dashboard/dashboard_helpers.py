"""Helpers of the dashboard tests (not a test module): a live search with its dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from support import write_table

from segevo.engine.config import RunConfig
from segevo.engine.run import Coordinator


def table_config(tmp_path: Path, *, delay_s: float, **values: Any) -> RunConfig:
    """A search over a 256-row table whose evaluations take ``delay_s`` each."""
    write_table(tmp_path / "t.csv", (4, 4, 4, 4))
    config: dict[str, Any] = {
        "problem": "support:SlowTable",
        "problem_options": {"path": str(tmp_path / "t.csv"), "delay_s": delay_s},
        "evaluations": 120,
        "initial": 10,
        "batch": 6,
        "evaluators": 3,
        "strategy": "random",
        **values,
    }
    return RunConfig(**config)


@asynccontextmanager
async def live_run(
    tmp_path: Path, *, delay_s: float = 0.02, **values: Any
) -> AsyncIterator[tuple[Coordinator, str]]:
    """A coordinator running ``table_config`` with a dashboard on 127.0.0.1 (and its URL).

    On exit the run is waited for (it ends on its budget) and must have finished.
    """
    coordinator = Coordinator.create(
        table_config(tmp_path, delay_s=delay_s, **values), tmp_path / "run", dashboard="127.0.0.1:0"
    )
    async with anyio.create_task_group() as tg:
        result: dict[str, Any] = {}

        async def run() -> None:
            result["summary"] = await coordinator.run()

        tg.start_soon(run)
        with anyio.fail_after(20):
            while coordinator.dashboard_url is None:
                await anyio.sleep(0.01)
        yield coordinator, coordinator.dashboard_url
    assert result["summary"].finished
