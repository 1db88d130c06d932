"""Shared helpers for the engine's process-level tests (not a test module).

Also importable by subprocesses (``PYTHONPATH`` = this folder) so that a coordinator and
its remote evaluators rebuild the same ``engine_helpers:delayed_table`` problem.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from segevo.engine.problem import Problem
from segevo.engine.problems.table import TableProblem

HERE = Path(__file__).resolve().parent


def write_table(
    path: Path, radix: tuple[int, ...], seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A CSV covering every architecture of the box; accuracy and latency both grow with size."""
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
    return X, acc, lat


def brute_force_front(acc: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Indices of points no other point dominates (max acc, min lat), by O(n^2) comparison."""
    acc = np.asarray(acc)
    lat = np.asarray(lat)
    better_eq = (acc[None, :] >= acc[:, None]) & (lat[None, :] <= lat[:, None])
    strictly = (acc[None, :] > acc[:, None]) | (lat[None, :] < lat[:, None])
    dominated = np.any(better_eq & strictly, axis=1)
    return np.flatnonzero(~dominated)


class DelayedTable(Problem):
    """A table problem whose evaluation sleeps (fixed or log-normal time) before answering."""

    def __init__(
        self,
        path: str,
        *,
        delay_s: float = 0.0,
        lognormal_mean_s: float = 0.0,
        sigma: float = 0.5,
        seed: int = 0,
        nan_for: list[list[int]] | None = None,
    ) -> None:
        self.table = TableProblem(path)
        self.lower = self.table.lower
        self.upper = self.table.upper
        self.delay_s = delay_s
        self.lognormal_mean_s = lognormal_mean_s
        self.sigma = sigma
        self._rng = np.random.default_rng([seed, os.getpid()])
        self._nan_for = {tuple(x) for x in (nan_for or [])}

    def latency(self, X: np.ndarray) -> np.ndarray:
        return self.table.latency(X)

    def evaluate(self, x: np.ndarray) -> dict[str, float]:
        delay = self.delay_s
        if self.lognormal_mean_s > 0:
            mu = np.log(self.lognormal_mean_s) - self.sigma**2 / 2
            delay += float(self._rng.lognormal(mu, self.sigma))
        if delay > 0:
            time.sleep(delay)
        out = self.table.evaluate(x)
        if tuple(np.asarray(x).tolist()) in self._nan_for:
            out["acc"] = float("nan")
        return out

    def objective_bounds(self) -> dict[str, tuple[float, float]]:
        return self.table.objective_bounds()


def delayed_table(**options: Any) -> DelayedTable:
    """Factory for ``engine_helpers:delayed_table`` (options as in :class:`DelayedTable`)."""
    return DelayedTable(**options)


# ---------------------------------------------------------------------------------------
# Processes


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def segevo(*args: str, log: Path | None = None) -> subprocess.Popen:
    """Start ``segevo ARGS`` as a child process (stdout+stderr to ``log``)."""
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "segevo.cli.main", *args],
        env=subprocess_env(),
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def write_config(path: Path, **values: Any) -> Path:
    """A TOML config file (flat keys, plus one table per dict value)."""
    lines = []
    tables = []
    for key, value in values.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    for key, table in tables:
        lines.append(f"[{key}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def wait_for(condition, timeout_s: float, what: str, poll_s: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def endpoint_of(run_dir: Path) -> str | None:
    try:
        data = json.loads((run_dir / "endpoint.json").read_text())
    except (OSError, ValueError):
        return None
    return f"{data['host']}:{data['port']}"


def committed_rows(run_dir: Path) -> int:
    try:
        meta = json.loads((run_dir / "archive.zarr" / "zarr.json").read_text())
    except (OSError, ValueError):
        return 0
    return int(meta.get("attributes", {}).get("committed_rows", 0))


def events(run_dir: Path) -> list[dict]:
    path = run_dir / "events.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def stop(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Make sure a child is gone (terminate, then kill)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
