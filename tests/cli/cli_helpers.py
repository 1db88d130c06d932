"""Helpers for the command-line tests (not a test module).

Also importable by a ``segevo run`` subprocess (``PYTHONPATH`` = this folder), which loads
``cli_helpers:slow_table`` as its problem.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from segevo.engine.problems.table import TableProblem

HERE = Path(__file__).resolve().parent


def write_table(path: Path, radix: tuple[int, ...] = (3, 3, 3), seed: int = 0) -> Path:
    """A CSV covering every architecture of the box (columns x0.., acc, lat_ms)."""
    rng = np.random.default_rng(seed)
    X = np.array(list(itertools.product(*(range(r) for r in radix))), dtype=np.int64)
    size = X.sum(axis=1) / max(1, sum(r - 1 for r in radix))
    acc = np.round(0.3 + 0.6 * size + rng.normal(0, 0.05, len(X)), 6)
    lat = np.round(2.0 + 10.0 * size + rng.uniform(0, 1.0, len(X)), 6)
    header = ",".join([*(f"x{i}" for i in range(len(radix))), "acc", "lat_ms"])
    lines = [header] + [
        ",".join([*map(str, x), repr(float(a)), repr(float(t))])
        for x, a, t in zip(X.tolist(), acc, lat, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
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
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


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


def toml_value(value: Any) -> str:
    """A TOML literal for a str, number, bool, list or (inline) dict."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML form for {value!r}")


def write_toml(path: Path, values: dict[str, Any]) -> Path:
    """A TOML file: plain keys first, then one table per dict value."""
    plain = [f"{k} = {toml_value(v)}" for k, v in values.items() if not isinstance(v, dict)]
    tables = []
    for key, table in values.items():
        if isinstance(table, dict):
            tables.append(f"[{key}]")
            tables += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    path.write_text("\n".join(plain + tables) + "\n")
    return path
