"""Shared helpers for the engine's process-level tests (not a test module).

Also importable by subprocesses (``PYTHONPATH`` = this folder) so that a coordinator and
its remote evaluators rebuild the same ``engine_helpers:delayed_table`` problem. What the
other test folders need too lives in ``tests/support.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))  # tests/support.py, for children too

from support import SlowTable, child_env, spawn_segevo, write_toml  # noqa: E402

__all__ = ["brute_force_front", "delayed_table", "segevo", "subprocess_env", "write_config"]


def brute_force_front(acc: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Indices of points no other point dominates (max acc, min lat), by O(n^2) comparison."""
    acc = np.asarray(acc)
    lat = np.asarray(lat)
    better_eq = (acc[None, :] >= acc[:, None]) & (lat[None, :] <= lat[:, None])
    strictly = (acc[None, :] > acc[:, None]) | (lat[None, :] < lat[:, None])
    dominated = np.any(better_eq & strictly, axis=1)
    return np.flatnonzero(~dominated)


def delayed_table(**options: Any) -> SlowTable:
    """Factory for ``engine_helpers:delayed_table`` (options as in ``support.SlowTable``)."""
    return SlowTable(**options)


def subprocess_env() -> dict[str, str]:
    """Environment for a child that may load ``engine_helpers:delayed_table``."""
    return child_env(HERE)


def segevo(*args: str, log: Path | None = None) -> subprocess.Popen:
    """Start ``segevo ARGS`` as a child process (stdout+stderr to ``log``)."""
    return spawn_segevo(*args, env=subprocess_env(), log=log)


def write_config(path: Path, **values: Any) -> Path:
    """A TOML config file (flat keys, plus one table per dict value)."""
    return write_toml(path, values)
