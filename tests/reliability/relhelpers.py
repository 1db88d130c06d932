"""Shared helpers for the reliability tests (not a test module).

Importable by child processes too (``PYTHONPATH`` = this folder), so a coordinator and
its remote evaluators rebuild the same ``relhelpers:slow_table`` problem. What the other
test folders need too lives in ``tests/support.py``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))  # tests/support.py, for children too

import support  # noqa: E402
from support import SlowTable, child_env, spawn_segevo, write_toml  # noqa: E402

__all__ = [
    "rss_kib",
    "segevo",
    "slow_config",
    "slow_table",
    "state",
    "subprocess_env",
    "tree_digest",
    "write_config",
    "write_table",
]


# ---------------------------------------------------------------------------------------
# Problems


def write_table(path: Path, radix: tuple[int, ...], seed: int = 0) -> Path:
    """A ``table:`` CSV covering every architecture of the box (acc and latency grow with size)."""
    support.write_table(path, radix, seed)
    return path


def slow_table(**options: Any) -> SlowTable:
    """Factory for ``relhelpers:slow_table`` (options as in ``support.SlowTable``)."""
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
    """Environment for a child that may load ``relhelpers:slow_table`` (no crash point
    inherited unless ``extra`` sets ``SEGEVO_CRASH_AT``)."""
    env = child_env(HERE)
    env.pop("SEGEVO_CRASH_AT", None)
    env.update(extra)
    return env


def segevo(*args: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``segevo ARGS`` as a child process (stdout and stderr appended to ``log``)."""
    return spawn_segevo(*args, env=env or subprocess_env(), log=log)


def write_config(path: Path, values: dict[str, Any]) -> Path:
    """A TOML config file (flat keys, then one table per dict value)."""
    return write_toml(path, values)


def rss_kib(pid: int) -> tuple[int, int]:
    """(current, peak) resident memory of a process in KiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


# ---------------------------------------------------------------------------------------
# Run directories


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
