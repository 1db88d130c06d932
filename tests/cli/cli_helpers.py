"""Helpers for the command-line tests (not a test module).

Also importable by a ``segevo run`` subprocess (``PYTHONPATH`` = this folder), which loads
``cli_helpers:slow_table`` as its problem. What the other test folders need too lives in
``tests/support.py``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from segevo.engine.problems.table import TableProblem

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))  # tests/support.py, for children too

import support  # noqa: E402
from support import child_env  # noqa: E402

__all__ = ["SlowTable", "segevo", "slow_table", "subprocess_env", "write_table"]


def write_table(path: Path, radix: tuple[int, ...] = (3, 3, 3), seed: int = 0) -> Path:
    """A CSV covering every architecture of the box (columns x0.., acc, lat_ms)."""
    support.write_table(path, radix, seed)
    return path


class SlowTable(TableProblem):
    """A table problem whose evaluation takes ``delay_s`` seconds (a run that lasts)."""

    def __init__(self, path: str, *, delay_s: float = 0.1) -> None:
        super().__init__(path)
        self.delay_s = delay_s

    def evaluate(self, x: np.ndarray) -> dict[str, float]:
        time.sleep(self.delay_s)
        return super().evaluate(x)


def slow_table(path: str, delay_s: float = 0.1) -> SlowTable:
    """Factory for ``--problem cli_helpers:slow_table`` (options: path, delay_s)."""
    return SlowTable(path, delay_s=delay_s)


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a ``segevo`` child: this folder importable, one thread per library."""
    return child_env(HERE, **extra)


def segevo(*args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``segevo ARGS`` to its end; returns the completed process (text output)."""
    return subprocess.run(
        [sys.executable, "-m", "segevo.cli.main", *args],
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
