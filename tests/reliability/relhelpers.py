"""Shared helpers for the reliability tests (not a test module).

Importable by child processes too (``PYTHONPATH`` = this folder), so a coordinator and
its remote evaluators rebuild the same ``relhelpers:slow_table`` problem.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from segevo.engine.problem import Problem
from segevo.engine.problems.table import TableProblem

HERE = Path(__file__).resolve().parent
T = TypeVar("T")


# ---------------------------------------------------------------------------------------
# Problems


def write_table(path: Path, radix: tuple[int, ...], seed: int = 0) -> Path:
    """A ``table:`` CSV covering every architecture of the box (acc and latency grow with size)."""
    rng = np.random.default_rng(seed)
    X = np.array(list(itertools.product(*(range(r) for r in radix))), dtype=np.int64)
    size = X.sum(axis=1) / max(1, sum(r - 1 for r in radix))
    acc = np.round(0.3 + 0.6 * size + rng.normal(0, 0.05, len(X)), 6)
    lat = np.round(2.0 + 10.0 * size + rng.uniform(0, 1.0, len(X)), 6)
    header = ",".join([*(f"x{i}" for i in range(len(radix))), "acc", "lat_ms"])
    rows = [
        ",".join([*map(str, x), repr(float(a)), repr(float(t))])
        for x, a, t in zip(X.tolist(), acc, lat, strict=True)
    ]
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


class SlowTable(Problem):
    """A table problem whose evaluation takes ``delay_s`` (the truth comes from the table).

    ``hang_for`` lists architectures whose evaluation sleeps ``hang_s`` instead (a task
    that hangs its evaluator); ``nan_for`` lists architectures evaluated to NaN accuracy.
    """

    def __init__(
        self,
        path: str,
        *,
        delay_s: float = 0.0,
        hang_for: list[list[int]] | None = None,
        hang_s: float = 3600.0,
        nan_for: list[list[int]] | None = None,
    ) -> None:
        self.table = TableProblem(path)
        self.lower = self.table.lower
        self.upper = self.table.upper
        self.delay_s = delay_s
        self.hang_s = hang_s
        self._hang = {tuple(x) for x in hang_for or []}
        self._nan = {tuple(x) for x in nan_for or []}

    def latency(self, X: np.ndarray) -> np.ndarray:
        return self.table.latency(X)

    def evaluate(self, x: np.ndarray) -> dict[str, float]:
        key = tuple(np.asarray(x).tolist())
        time.sleep(self.hang_s if key in self._hang else self.delay_s)
        out = self.table.evaluate(x)
        if key in self._nan:
            out["acc"] = float("nan")
        return out

    def objective_bounds(self) -> dict[str, tuple[float, float]]:
        return self.table.objective_bounds()


def slow_table(**options: Any) -> SlowTable:
    """Factory for ``relhelpers:slow_table`` (options as in :class:`SlowTable`)."""
    return SlowTable(**options)


def slow_config(table: Path, **values: Any) -> dict[str, Any]:
    """RunConfig values for a ``relhelpers:slow_table`` run (random strategy by default)."""
    options = {"path": str(table)}
    for key in ("delay_s", "hang_for", "hang_s", "nan_for"):
        if key in values:
            options[key] = values.pop(key)
    values.setdefault("strategy", "random")
    return {"problem": "relhelpers:slow_table", "problem_options": options, **values}


# ---------------------------------------------------------------------------------------
# Processes


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SEGEVO_CRASH_AT", None)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    env["OPENBLAS_NUM_THREADS"] = "1"
    env["MKL_NUM_THREADS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def segevo(*args: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``segevo ARGS`` as a child process (stdout and stderr appended to ``log``)."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "segevo.cli.main", *args],
            env=env or subprocess_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def write_config(path: Path, values: dict[str, Any]) -> Path:
    """A TOML config file (flat keys, then one table per dict value)."""
    flat = [f"{k} = {json.dumps(v)}" for k, v in values.items() if not isinstance(v, dict)]
    tables: list[str] = []
    for key, table in values.items():
        if isinstance(table, dict):
            tables.append(f"[{key}]")
            tables += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    path.write_text("\n".join(flat + tables) + "\n")
    return path


def wait_for(condition: Callable[[], T], timeout_s: float, what: str, poll_s: float = 0.05) -> T:
    """Poll ``condition`` until it returns something true; AssertionError after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)


def stop(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Make sure a child is gone (SIGTERM, then SIGKILL)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_kib(pid: int) -> tuple[int, int]:
    """(current, peak) resident memory of a process in KiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


# ---------------------------------------------------------------------------------------
# Run directories


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


def events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "events.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # the last line of a killed run may be cut
    return out


def state(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def tree_digest(folder: Path) -> dict[str, tuple[int, int, str]]:
    """relative path -> (inode, mtime_ns, sha256) of every file under ``folder``."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.name.endswith(".partial"):
            continue  # zarr's write-aside file of a chunk being replaced right now
        try:
            info = path.stat()
            if not path.is_file():
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            continue  # renamed away while we looked (a live writer)
        out[str(path.relative_to(folder))] = (info.st_ino, info.st_mtime_ns, digest)
    return out


def assert_exactly_once(data: Any, budget: int | None = None) -> None:
    """Every task id and every architecture appears once (and ``budget`` rows, if given)."""
    n = len(data)
    if budget is not None:
        assert n == budget, f"{n} rows archived, budget {budget}"
    assert len(np.unique(data["task_id"])) == n, "a task id is archived twice"
    assert len({tuple(x) for x in data["x"].tolist()}) == n, "an architecture is archived twice"
