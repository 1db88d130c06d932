"""The run directory: everything a search needs to be inspected or resumed.

::

    RUN_DIR/
      run.json        format marker {format, version, run_id, segevo, created}
      config.json     the resolved RunConfig
      token           the run's secret (mode 0600), for evaluators and clients
      endpoint.json   {host, port, pid} of the live coordinator
      events.jsonl    event log, one JSON object per line
      state.json      RNG state, next task id, pending tasks (written atomically)
      archive.zarr/   the evaluations (segevo.engine.archive)
      surrogate/      the latest fitted accuracy model and latest.json naming it
                      (segevo.engine.actors.surrogate), for strategies that fit one
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from segevo.engine.config import ConfigError, RunConfig, from_mapping
from segevo.engine.faultpoints import crashpoint
from segevo.engine.wire import Endpoint

RUN_FORMAT = "segevo-run"
RUN_VERSION = 1


class RunDirError(ValueError):
    """Not a run directory, a run directory of another version, or a damaged one."""


def _segevo_version() -> str:
    try:
        from segevo import __version__

        return str(__version__)
    except ImportError:
        return "unknown"


def write_json_atomic(path: Path, data: Any, *, crash_point: str | None = None) -> None:
    """Write JSON to a temporary file, then rename it over ``path`` (never half-written).

    A value JSON cannot hold raises ValueError before anything is written.
    """
    try:
        text = json.dumps(data, separators=(",", ":"), allow_nan=True)
    except TypeError as exc:
        raise ValueError(f"cannot write {path.name}: {exc}") from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(text)
        if crash_point is not None:
            crashpoint(crash_point)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_token(path: str | Path) -> bytes:
    """The token in a token file (surrounding whitespace ignored)."""
    path = Path(path)
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        raise ValueError(f"token file {path} does not exist") from None
    if not text:
        raise ValueError(f"token file {path} is empty")
    return text.encode()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


class RunDir:
    """A run directory (see the module docstring); create it or open an existing one."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self._events_lock = threading.Lock()
        self._events: TextIO | None = None
        self._lock_fd: int | None = None

    # -- files ---------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def token_path(self) -> Path:
        return self.path / "token"

    @property
    def endpoint_path(self) -> Path:
        return self.path / "endpoint.json"

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def state_path(self) -> Path:
        return self.path / "state.json"

    @property
    def archive_path(self) -> Path:
        return self.path / "archive.zarr"

    @property
    def surrogate_path(self) -> Path:
        return self.path / "surrogate"

    # -- lifecycle -----------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, config: RunConfig) -> RunDir:
        """Make a new run directory (refuses one that exists and is not empty)."""
        path = Path(path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise RunDirError(
                f"{path} already exists and is not an empty folder; use --resume {path} to "
                "continue that run, or choose another --run-dir"
            )
        path.mkdir(parents=True, exist_ok=True)
        run_id = secrets.token_hex(8)
        write_json_atomic(path / "config.json", config.to_dict())
        fd = os.open(path / "token", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        # The marker goes last: a folder without it was never a complete run directory.
        write_json_atomic(
            path / "run.json",
            {
                "format": RUN_FORMAT,
                "version": RUN_VERSION,
                "run_id": run_id,
                "segevo": _segevo_version(),
                "created": time.time(),
            },
        )
        return cls(path, run_id)

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """Open an existing run directory, checking its format and version."""
        path = Path(path)
        marker = path / "run.json"
        if not path.is_dir():
            raise RunDirError(f"{path} is not a folder, so not a segevo run directory")
        if not marker.is_file():
            raise RunDirError(f"{path} is not a segevo run directory (no run.json)")
        try:
            meta = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RunDirError(f"{marker} cannot be read: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != RUN_FORMAT:
            raise RunDirError(f"{path} is not a segevo run directory (format mismatch)")
        if meta.get("version") != RUN_VERSION:
            raise RunDirError(
                f"{path} is a run directory of version {meta.get('version')!r} (written by segevo "
                f"{meta.get('segevo')}); this segevo reads version {RUN_VERSION}"
            )
        run_id = meta.get("run_id")
        if not isinstance(run_id, str) or not 1 <= len(run_id) <= 128:
            raise RunDirError(f"{marker} is damaged: run_id must be a string of 1..128 characters")
        return cls(path, run_id)

    def load_config(self) -> RunConfig:
        """The run's resolved configuration."""
        try:
            values = json.loads(self.config_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RunDirError(f"{self.config_path} cannot be read: {exc}") from None
        try:
            return from_mapping(values)
        except ConfigError as exc:
            raise RunDirError(
                f"{self.config_path} does not hold a configuration this segevo can use: {exc}"
            ) from None

    def save_config(self, config: RunConfig) -> None:
        write_json_atomic(self.config_path, config.to_dict())

    def token(self) -> bytes:
        return read_token(self.token_path)

    # -- endpoint ------------------------------------------------------------------------
    def write_endpoint(self, endpoint: Endpoint) -> None:
        write_json_atomic(
            self.endpoint_path, {"host": endpoint.host, "port": endpoint.port, "pid": os.getpid()}
        )

    def read_endpoint(self) -> Endpoint | None:
        """The live coordinator's endpoint, or None when no coordinator wrote one."""
        try:
            data = json.loads(self.endpoint_path.read_text())
            return Endpoint(str(data["host"]), int(data["port"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def clear_endpoint(self) -> None:
        self.endpoint_path.unlink(missing_ok=True)

    # -- state ---------------------------------------------------------------------------
    def save_state(self, state: dict[str, Any]) -> None:
        """Replace state.json atomically (RNG state, next task id, pending tasks)."""
        write_json_atomic(self.state_path, state, crash_point="state.before_rename")

    def load_state(self) -> dict[str, Any] | None:
        """The last saved state, or None when the run never saved one."""
        if not self.state_path.exists():
            return None
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RunDirError(f"{self.state_path} cannot be read: {exc}") from None
        if not isinstance(state, dict):
            raise RunDirError(f"{self.state_path} does not hold a JSON object")
        return state

    # -- exclusive use -------------------------------------------------------------------
    def acquire(self) -> None:
        """Take the run's lock; a second coordinator on the same run directory is refused.

        The lock is an ``flock`` on ``RUN_DIR/lock``: the kernel drops it when the process
        dies, even by SIGKILL, so a killed run can be resumed at once.
        """
        if self._lock_fd is not None:
            return
        fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RunDirError(
                f"{self.path} is in use by another coordinator (pid {holder}); stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd
        # Half-written replacements left by a killed coordinator (the lock says none is
        # alive); the files they were to replace are intact.
        for stale in self.path.glob(".*.tmp"):
            stale.unlink(missing_ok=True)

    def release(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- events --------------------------------------------------------------------------
    def log_event(self, event: str, **fields: Any) -> None:
        """Append one event (thread-safe; a line is flushed at once)."""
        record = {"t": round(time.time(), 6), "event": event, **fields}
        line = json.dumps(record, default=str, separators=(",", ":")) + "\n"
        with self._events_lock:
            if self._events is None:
                self._events = open(self.events_path, "a", buffering=1)  # noqa: SIM115
                if self._events.tell() > 0 and not _ends_with_newline(self.events_path):
                    # A line cut by a killed writer: end it, so this event stays readable.
                    self._events.write("\n")
            self._events.write(line)

    def read_events(self) -> list[dict[str, Any]]:
        """Every event logged so far (a cut last line, from a kill, is skipped)."""
        if not self.events_path.exists():
            return []
        out = []
        for line in self.events_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def close(self) -> None:
        """Close the event log and release the lock."""
        with self._events_lock:
            if self._events is not None:
                self._events.close()
                self._events = None
        self.release()
