"""Helpers shared by the test folders (not a test module).

The folder helpers (``engine/engine_helpers.py``, ``reliability/relhelpers.py``,
``cli/cli_helpers.py``) build on these. Child processes load a folder helper by name (a
``module:attribute`` problem such as ``relhelpers:slow_table``) with only that folder on
their ``PYTHONPATH``; each folder helper puts this folder on ``sys.path`` itself before
importing this module, so the children find it too.
"""

from __future__ import annotations

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

TESTS = Path(__file__).resolve().parent
T = TypeVar("T")


# ---------------------------------------------------------------------------------------
# Problems


def write_table(
    path: Path, radix: tuple[int, ...], seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``table:`` CSV covering every architecture of the box (columns x0.., acc, lat_ms).

    Accuracy and latency both grow with the architecture's size. Returns ``(X, acc, lat)``.
    """
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
    return X, acc, lat


class SlowTable(Problem):
    """A table problem whose evaluation takes time (the truth comes from the table).

    Each evaluation sleeps ``delay_s`` plus, when ``lognormal_mean_s > 0``, a log-normal
    draw of that mean (spread ``sigma``, seeded by ``seed`` and the process id).
    ``hang_for`` lists architectures whose evaluation sleeps ``hang_s`` instead (a task
    that hangs its evaluator); ``nan_for`` lists architectures evaluated to NaN accuracy.
    """

    def __init__(
        self,
        path: str,
        *,
        delay_s: float = 0.0,
        lognormal_mean_s: float = 0.0,
        sigma: float = 0.5,
        seed: int = 0,
        hang_for: list[list[int]] | None = None,
        hang_s: float = 3600.0,
        nan_for: list[list[int]] | None = None,
    ) -> None:
        self.table = TableProblem(path)
        self.lower = self.table.lower
        self.upper = self.table.upper
        self.delay_s = delay_s
        self.lognormal_mean_s = lognormal_mean_s
        self.sigma = sigma
        self.hang_s = hang_s
        self._rng = np.random.default_rng([seed, os.getpid()])
        self._hang = {tuple(x) for x in hang_for or []}
        self._nan = {tuple(x) for x in nan_for or []}

    def latency(self, X: np.ndarray) -> np.ndarray:
        return self.table.latency(X)

    def evaluate(self, x: np.ndarray) -> dict[str, float]:
        key = tuple(np.asarray(x).tolist())
        delay = self.hang_s if key in self._hang else self.delay_s
        if self.lognormal_mean_s > 0:
            mu = np.log(self.lognormal_mean_s) - self.sigma**2 / 2
            delay += float(self._rng.lognormal(mu, self.sigma))
        if delay > 0:
            time.sleep(delay)
        out = self.table.evaluate(x)
        if key in self._nan:
            out["acc"] = float("nan")
        return out

    def objective_bounds(self) -> dict[str, tuple[float, float]]:
        return self.table.objective_bounds()


# ---------------------------------------------------------------------------------------
# Processes


def child_env(*import_dirs: Path, **extra: str) -> dict[str, str]:
    """Environment for a child process: ``import_dirs`` importable, one thread per library."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, import_dirs), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env["OMP_NUM_THREADS"] = "1"
    env["OPENBLAS_NUM_THREADS"] = "1"
    env["MKL_NUM_THREADS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def spawn_segevo(*args: str, env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
    """Start ``segevo ARGS`` as a child process (stdout and stderr appended to ``log``)."""
    command = [sys.executable, "-m", "segevo.cli.main", *args]
    if log is None:
        return subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def evaluator_args(
    run_dir: Path, name: str, *options: str, endpoint: str | None = None
) -> list[str]:
    """``segevo evaluator`` arguments that attach ``name`` to the run in ``run_dir``.

    ``endpoint`` defaults to the one the run wrote; ``options`` follow (``--prefetch 2``...).
    """
    endpoint = endpoint or endpoint_of(run_dir)
    if endpoint is None:
        raise AssertionError(f"{run_dir} has no endpoint file yet")
    return [
        "evaluator",
        "--connect",
        endpoint,
        "--token-file",
        str(run_dir / "token"),
        "--name",
        name,
        *options,
    ]


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


# ---------------------------------------------------------------------------------------
# Config files


def toml_value(value: Any) -> str:
    """A TOML literal for a str, number, bool, list or (inline) dict."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a valid TOML basic string (same quotes and escapes).
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML form for {value!r}")


def write_toml(path: Path, values: dict[str, Any]) -> Path:
    """A TOML file: plain keys first, then one table per dict value."""
    plain = [f"{k} = {toml_value(v)}" for k, v in values.items() if not isinstance(v, dict)]
    tables: list[str] = []
    for key, table in values.items():
        if isinstance(table, dict):
            tables.append(f"[{key}]")
            tables += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    path.write_text("\n".join(plain + tables) + "\n")
    return path


# ---------------------------------------------------------------------------------------
# Run directories


def endpoint_of(run_dir: Path) -> str | None:
    """``host:port`` the run listens on, or None before it wrote its endpoint file."""
    try:
        data = json.loads((run_dir / "endpoint.json").read_text())
    except (OSError, ValueError):
        return None
    return f"{data['host']}:{data['port']}"


def committed_rows(run_dir: Path) -> int:
    """Rows the run's archive has committed (0 before it exists)."""
    try:
        meta = json.loads((run_dir / "archive.zarr" / "zarr.json").read_text())
    except (OSError, ValueError):
        return 0
    return int(meta.get("attributes", {}).get("committed_rows", 0))


def events(run_dir: Path) -> list[dict[str, Any]]:
    """The run's event log, one dict per complete line."""
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


def assert_exactly_once(data: Any, budget: int | None = None) -> None:
    """Every task id and every architecture appears once (and ``budget`` rows, if given)."""
    n = len(data)
    if budget is not None:
        assert n == budget, f"{n} rows archived, budget {budget}"
    assert len(np.unique(data["task_id"])) == n, "a task id is archived twice"
    assert len({tuple(x) for x in data["x"].tolist()}) == n, "an architecture is archived twice"
