"""A memoising ``mosegnas`` problem for benchmarks: each architecture is evaluated once.

With fixed settings (calibration batches drawn with a fixed seed, the first
``val_images`` validation images) the inherited-weight mIoU of an architecture is
deterministic, so a benchmark that runs many searches on the same supernet can keep every
result in one shared SQLite file and answer repeats from it. The file is keyed by a digest
of the problem's resolved options and the checkpoint file's size and modification time,
so a retrained supernet or other settings never read stale entries.

Load it through the engine like any ``module:attribute`` problem (``benchmarks/`` on
``sys.path``)::

    load_problem("_cached_problem:cached_mosegnas", cache="evals.sqlite", **mosegnas_options)

``replay_time`` (default on): a cached evaluation sleeps for as long as the original one
took, so a steady-state search sees the same evaluation timing whether or not its
architectures were cached (the surrogate's refits and the proposer's batch sizes depend on
it); the CPU is free meanwhile. Rows seeded from an archive without their evaluation time
replay the median recorded time.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from segevo.engine.problem import Problem, load_problem

__all__ = ["CachedMoSegNASProblem", "cached_mosegnas", "options_digest"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS evaluations (
    digest TEXT NOT NULL,
    arch TEXT NOT NULL,
    acc REAL NOT NULL,
    eval_s REAL,
    source TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (digest, arch)
)
"""
_DEFAULT_REPLAY_S = 1.0


def options_digest(problem: Any) -> str:
    """A digest of what decides an evaluation's result: options, checkpoint identity."""
    options = problem.options
    checkpoint = Path(options["supernet"]).stat()
    payload = {
        "options": options,
        "checkpoint": [checkpoint.st_size, checkpoint.st_mtime_ns],
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _arch_key(x: np.ndarray) -> str:
    return ",".join(str(int(v)) for v in np.asarray(x).ravel())


class CachedMoSegNASProblem(Problem):
    """``mosegnas`` with every ``evaluate`` result kept in (and answered from) SQLite.

    Everything except ``evaluate`` is the wrapped problem's. ``hits`` and ``misses``
    count this instance's lookups.
    """

    def __init__(self, *, cache: str, replay_time: bool = True, **options: Any) -> None:
        if not isinstance(cache, str) or not cache:
            raise ValueError(f"cache must be a file path, got {cache!r}")
        if not isinstance(replay_time, bool):
            raise ValueError(f"replay_time must be true or false, got {replay_time!r}")
        self.inner = load_problem("mosegnas", **options)
        if self.inner.measure_latency:
            raise ValueError(
                "the cached problem keeps accuracy only; give measure_latency = false (the "
                "latency objective is then the table's prediction)"
            )
        self.lower = self.inner.lower
        self.upper = self.inner.upper
        self.space = self.inner.space
        self.cache_path = Path(cache).expanduser().resolve()
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        self.replay_time = replay_time
        self.digest = options_digest(self.inner)
        self.hits = 0
        self.misses = 0
        self._count_lock = threading.Lock()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # One short-lived connection per call: evaluations run in several threads, and
        # several benchmark processes may share the file.
        db = sqlite3.connect(self.cache_path, timeout=60.0)
        try:
            with db:
                yield db
        finally:
            db.close()

    # -- delegated ----------------------------------------------------------------------
    def repair(self, X: np.ndarray) -> np.ndarray:
        return self.inner.repair(X)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.inner.sample(n, rng)

    def latency(self, X: np.ndarray) -> np.ndarray:
        return self.inner.latency(X)

    def objective_bounds(self) -> dict[str, tuple[float, float]] | None:
        return self.inner.objective_bounds()

    # -- the memo -----------------------------------------------------------------------
    def lookup(self, x: np.ndarray) -> tuple[float, float | None] | None:
        """``(acc, eval_s)`` of ``x`` if cached, else None."""
        with self._connect() as db:
            row = db.execute(
                "SELECT acc, eval_s FROM evaluations WHERE digest = ? AND arch = ?",
                (self.digest, _arch_key(x)),
            ).fetchone()
        return None if row is None else (float(row[0]), row[1])

    def store(self, X: np.ndarray, acc: np.ndarray, eval_s: Any, source: str) -> int:
        """Insert results (existing entries win); returns how many rows were new."""
        X = np.atleast_2d(np.asarray(X, dtype=np.int64))
        acc = np.asarray(acc, dtype=np.float64).ravel()
        seconds = np.broadcast_to(np.asarray(eval_s, dtype=object), acc.shape)
        now = time.time()
        rows = [
            (self.digest, _arch_key(x), float(a), None if s is None else float(s), source, now)
            for x, a, s in zip(X, acc, seconds, strict=True)
        ]
        with self._connect() as db:
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO evaluations VALUES (?, ?, ?, ?, ?, ?)", rows)
            return db.total_changes - before

    def all_acc(self) -> np.ndarray:
        """Every cached accuracy for these settings (the best ever seen is its max)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT acc FROM evaluations WHERE digest = ?", (self.digest,)
            ).fetchall()
        return np.asarray([r[0] for r in rows], dtype=np.float64)

    def median_eval_s(self) -> float:
        """Median recorded evaluation time (seconds); 1 s when nothing was timed yet."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT eval_s FROM evaluations WHERE digest = ? AND eval_s IS NOT NULL",
                (self.digest,),
            ).fetchall()
        return float(np.median([r[0] for r in rows])) if rows else _DEFAULT_REPLAY_S

    def evaluate(self, x: np.ndarray) -> dict[str, float]:
        """The cached mIoU of ``x``, or the wrapped problem's (then cached)."""
        x = np.asarray(self.space.validate(np.asarray(x, dtype=np.int64).ravel()))
        found = self.lookup(x)
        if found is not None:
            acc, seconds = found
            with self._count_lock:
                self.hits += 1
            if self.replay_time:
                time.sleep(seconds if seconds is not None else self.median_eval_s())
            return {"acc": acc}
        started = time.perf_counter()
        result = self.inner.evaluate(x)
        seconds = time.perf_counter() - started
        self.store(x, [result["acc"]], seconds, "evaluate")
        with self._count_lock:
            self.misses += 1
        return {"acc": float(result["acc"])}


def cached_mosegnas(**options: Any) -> CachedMoSegNASProblem:
    """Factory for ``load_problem("_cached_problem:cached_mosegnas", cache=..., ...)``."""
    return CachedMoSegNASProblem(**options)
