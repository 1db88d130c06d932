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

A run directory may also be a URL (``s3://bucket/prefix``, any fsspec location; see
segevo.engine.location): the same objects, each written as one whole-object PUT, the
event log as segments under ``events/``, and the lock as a lease object (``lock``) that
the coordinator renews (:class:`RemoteLease`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from segevo.engine.config import ConfigError, RunConfig, from_mapping
from segevo.engine.faultpoints import crashpoint
from segevo.engine.location import RemotePath, RunPath, run_path
from segevo.engine.wire import Endpoint

log = logging.getLogger("segevo.engine.rundir")

RUN_FORMAT = "segevo-run"
RUN_VERSION = 1


class RunDirError(ValueError):
    """Not a run directory, a run directory of another version, or a damaged one."""


def _segevo_version() -> str:
    try:
        from segevo import __version__  # type: ignore[attr-defined]  # generated at install

        return str(__version__)
    except ImportError:
        return "unknown"


def write_json_atomic(path: RunPath, data: Any, *, crash_point: str | None = None) -> None:
    """Write JSON to a temporary file, then rename it over ``path`` (never half-written).

    On an object store (a :class:`RemotePath`) the JSON is one whole-object PUT, which the
    store applies atomically. A value JSON cannot hold raises ValueError before anything
    is written.
    """
    try:
        text = json.dumps(data, separators=(",", ":"), allow_nan=True)
    except TypeError as exc:
        raise ValueError(f"cannot write {path.name}: {exc}") from None
    if isinstance(path, RemotePath):
        if crash_point is not None:
            crashpoint(crash_point)  # serialised, not yet sent: the old object stays
        path.write_bytes(text.encode())
        return
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


def read_token(path: str | Path | RemotePath) -> bytes:
    """The token in a token file (surrounding whitespace ignored); a URL is read remotely."""
    path = run_path(path)
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        raise ValueError(f"token file {path} does not exist") from None
    except OSError as exc:
        raise ValueError(f"token file {path} cannot be read: {exc}") from None
    if not text:
        raise ValueError(f"token file {path} is empty")
    return text.encode()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


LEASE_TTL_ENV = "SEGEVO_LEASE_TTL_S"
DEFAULT_LEASE_TTL_S = 30.0
MAX_CLOCK_SKEW_S = 300.0
"""How far two machines' clocks may disagree before a lease's own ``renewed`` time is
trusted to say it is dead (older ones are watched for a lease time instead)."""
EVENT_FLUSH_S = 1.0
EVENT_SEGMENT_BYTES = 256 << 10
EVENTS_WRITTEN_AT_ONCE = frozenset({"started", "resumed", "signal", "finished", "stopped"})
"""Events a remote event log writes before :meth:`RunDir.log_event` returns (a session's
start and end are never lost to a kill; the others are written within a second)."""


def lease_ttl_s() -> float:
    """The lease time of a remote run directory's lock (``$SEGEVO_LEASE_TTL_S``, default 30)."""
    text = os.environ.get(LEASE_TTL_ENV)
    if text is None or not text.strip():
        return DEFAULT_LEASE_TTL_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0.5 <= value <= 86_400):
        raise RunDirError(f"{LEASE_TTL_ENV}={text!r}: expected seconds in 0.5..86400")
    return value


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lost_lease_default(message: str) -> None:
    """Another coordinator owns the run now: stop writing at once (no final save)."""
    log.critical("%s", message)
    sys.stderr.write(f"segevo: {message}; stopping without writing anything more\n")
    sys.stderr.flush()
    os._exit(75)


class RemoteLease:
    """The lock of a run directory on an object store: a lease object, renewed in a thread.

    The object ``RUN_DIR/lock`` holds ``{owner, pid, host, ttl_s, renewed, beat}``. It is
    created with a conditional PUT (If-None-Match), so of two coordinators starting at once
    one gets it. A lease that was not renewed for ``ttl_s`` is taken over: at once when its
    ``renewed`` time is more than ``ttl_s`` plus :data:`MAX_CLOCK_SKEW_S` in the past, or
    when it names a dead process on this host; else after watching it unchanged for
    ``ttl_s`` on this machine's clock (so clocks need not agree to the second). A live
    holder renews it every ``ttl_s / 3``; a holder that finds another owner in it (it was
    frozen longer than ``ttl_s``) calls ``on_lost``, which by default ends the process
    without writing anything more. Taking over is checked by reading the object back, not
    by a conditional write, so two contenders for one dead lease racing within a second
    are told apart only by that read-back: the guarantee is one live writer as long as
    every coordinator renews (is not frozen for ``ttl_s``).
    """

    def __init__(
        self,
        path: RemotePath,
        *,
        ttl_s: float | None = None,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.ttl_s = lease_ttl_s() if ttl_s is None else float(ttl_s)
        self.on_lost = on_lost or _lost_lease_default
        self.owner = secrets.token_hex(16)
        self.beat = 0
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "ttl_s": self.ttl_s,
            "renewed": time.time(),
            "beat": self.beat,
        }

    def _read(self) -> dict[str, Any] | None:
        """The lease object, None when absent; {} when it holds no readable lease."""
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, *, exclusive: bool = False) -> None:
        self.path.write_bytes(json.dumps(self._record()).encode(), exclusive=exclusive)

    def _stale_now(self, record: dict[str, Any]) -> bool:
        """Whether ``record`` is certainly dead without waiting."""
        try:
            ttl = float(record["ttl_s"])
            renewed = float(record["renewed"])
            if time.time() > renewed + ttl + MAX_CLOCK_SKEW_S:
                return True
            return record.get("host") == socket.gethostname() and not _pid_alive(int(record["pid"]))
        except (KeyError, TypeError, ValueError):
            return False

    def _describe(self, record: dict[str, Any]) -> str:
        if not record:
            return "an unreadable lease object"
        age = time.time() - float(record.get("renewed", 0) or 0)
        return (
            f"pid {record.get('pid')} on host {record.get('host')}, lease renewed {age:.1f} s ago"
        )

    def acquire(self) -> None:
        """Take the lease (RunDirError when a live coordinator holds it)."""
        watched: tuple[Any, float] | None = None
        while True:
            record = self._read()
            if record is None:
                try:
                    self._write(exclusive=True)
                except FileExistsError:
                    continue  # someone created it just now: look at theirs
                break
            if record.get("owner") == self.owner:
                break
            if self._stale_now(record):
                self._take_over(record)
                break
            # Looks live: watch it for one lease time on this machine's clock.
            try:
                ttl = max(0.5, float(record.get("ttl_s", self.ttl_s)))
            except (TypeError, ValueError):
                ttl = self.ttl_s
            key = (record.get("owner"), record.get("beat"), record.get("renewed"))
            now = time.monotonic()
            if watched is None:
                watched = (key, now)
                log.warning(
                    "%s is locked by %s; waiting up to %.0f s to see whether it is alive",
                    self.path.parent,
                    self._describe(record),
                    ttl,
                )
            elif watched[0] != key:
                raise RunDirError(
                    f"{self.path.parent} is in use by another coordinator "
                    f"({self._describe(record)}); stop it first"
                )
            elif now - watched[1] > ttl:
                self._take_over(record)
                break
            time.sleep(min(0.5, ttl / 4))
        self._start()

    def _take_over(self, record: dict[str, Any]) -> None:
        log.warning("taking over the lease of a dead coordinator (%s)", self._describe(record))
        self._write()
        time.sleep(min(1.0, self.ttl_s / 10))
        now = self._read() or {}
        if now.get("owner") != self.owner:
            raise RunDirError(
                f"{self.path.parent} was taken by another coordinator at the same time "
                f"({self._describe(now)})"
            )

    def _start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew_loop, name="segevo-lease", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        period = self.ttl_s / 3
        while not self._stop.wait(period):
            try:
                record = self._read()
                if self._stop.is_set():
                    return
                if record is not None and record.get("owner") not in (self.owner, None):
                    self.lost = True
                    self.on_lost(
                        f"{self.path.parent}: another coordinator took the run's lease "
                        f"({self._describe(record)})"
                    )
                    return
                self.beat += 1
                self._write()
            except Exception as exc:  # the store is unreachable: try again next period
                log.warning("renewing the lease %s failed: %s", self.path, exc)

    def release(self) -> None:
        """Stop renewing and delete the lease object (when it is still ours)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self.lost:
            return
        try:
            record = self._read()
            if record is not None and record.get("owner") == self.owner:
                self.path.unlink(missing_ok=True)
        except Exception as exc:
            log.warning("removing the lease %s failed: %s", self.path, exc)


class RemoteEventLog:
    """The event log of a run directory on an object store: ``events/<session>-<n>.jsonl``.

    Objects cannot be appended to, so events are kept in memory and the current segment is
    written whole (one PUT) by a thread at most every ``flush_s`` seconds, and at close; a
    segment over ``segment_bytes`` is closed and the next one started. Segment names sort
    in the order they were written (a session starts with its wall-clock time), so readers
    list them and read them in order. A killed coordinator loses at most the last
    ``flush_s`` of events (never its ``started``/``resumed`` line, written at once);
    nothing a resume needs is in the log.
    """

    def __init__(
        self,
        folder: RemotePath,
        *,
        flush_s: float = EVENT_FLUSH_S,
        segment_bytes: int = EVENT_SEGMENT_BYTES,
    ) -> None:
        self.folder = folder
        self.flush_s = flush_s
        self.segment_bytes = segment_bytes
        self._session = f"{time.time_ns():020d}-{secrets.token_hex(3)}"
        self._segment = 0
        self._lines: list[str] = []
        self._size = 0
        self._dirty = False
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="segevo-events", daemon=True)
        self._thread.start()

    def add(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)
            self._size += len(line)
            self._dirty = True
            if self._size >= self.segment_bytes:
                self._wake.set()

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # kept in memory; the next flush tries again
                log.warning("writing the event log to %s failed: %s", self.folder, exc)

    def flush(self) -> None:
        """Write the current segment (and start a new one when it is full)."""
        with self._write_lock:
            with self._lock:
                if not self._dirty:
                    return
                written = len(self._lines)
                data = "".join(self._lines).encode()
                key = self.folder / f"{self._session}-{self._segment:06d}.jsonl"
                full = self._size >= self.segment_bytes
                self._dirty = False
            try:
                key.write_bytes(data)
            except BaseException:
                with self._lock:
                    self._dirty = True  # still in memory: the next flush writes it
                raise
            if full:
                with self._lock:
                    # Lines added during the write belong to the next segment.
                    self._lines = self._lines[written:]
                    self._size = sum(len(line) for line in self._lines)
                    self._segment += 1
                    self._dirty = bool(self._lines)

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=30)
        self.flush()


def remote_event_segments(folder: RemotePath) -> list[tuple[RemotePath, int]]:
    """The event log's segments in the order they were written, with their sizes."""
    try:
        entries = folder.fs.ls(folder.key, detail=True)
    except FileNotFoundError:
        return []
    out = []
    for entry in entries:
        name = str(entry["name"]).rstrip("/")
        if name.endswith(".jsonl"):
            out.append((RemotePath(folder.fs, folder.protocol, name), int(entry.get("size") or 0)))
    return sorted(out, key=lambda item: item[0].name)


def _parse_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


class RunDir:
    """A run directory (see the module docstring); create it or open an existing one.

    ``path`` is a :class:`~pathlib.Path` (a local folder) or a
    :class:`~segevo.engine.location.RemotePath` (an object store prefix).
    """

    def __init__(self, path: RunPath, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self._events_lock = threading.Lock()
        self._events: TextIO | None = None
        self._remote_events: RemoteEventLog | None = None
        self._lock_fd: int | None = None
        self._lease: RemoteLease | None = None

    @property
    def remote(self) -> bool:
        """Whether the run directory is on an object store."""
        return isinstance(self.path, RemotePath)

    # -- files ---------------------------------------------------------------------------
    @property
    def config_path(self) -> RunPath:
        return self.path / "config.json"

    @property
    def token_path(self) -> RunPath:
        return self.path / "token"

    @property
    def endpoint_path(self) -> RunPath:
        return self.path / "endpoint.json"

    @property
    def events_path(self) -> RunPath:
        """``events.jsonl``; on an object store the folder ``events/`` of its segments."""
        return self.path / ("events" if self.remote else "events.jsonl")

    @property
    def state_path(self) -> RunPath:
        return self.path / "state.json"

    @property
    def archive_path(self) -> RunPath:
        return self.path / "archive.zarr"

    @property
    def surrogate_path(self) -> RunPath:
        return self.path / "surrogate"

    # -- lifecycle -----------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path | RemotePath, config: RunConfig) -> RunDir:
        """Make a new run directory (refuses one that exists and is not empty)."""
        path = run_path(path)
        try:
            occupied = path.exists() and (not path.is_dir() or any(path.iterdir()))
        except Exception as exc:  # an object store: unreachable, refused, no credentials
            if not isinstance(exc, OSError) and isinstance(path, Path):
                raise
            raise RunDirError(f"{path} cannot be read: {type(exc).__name__}: {exc}") from None
        if occupied:
            raise RunDirError(
                f"{path} already exists and is not an empty folder; use --resume {path} to "
                "continue that run, or choose another --run-dir"
            )
        path.mkdir(parents=True, exist_ok=True)
        run_id = secrets.token_hex(8)
        write_json_atomic(path / "config.json", config.to_dict())
        token = secrets.token_hex(32) + "\n"
        if isinstance(path, RemotePath):
            # Objects have no mode bits: whoever may read the bucket may read the token.
            try:
                (path / "token").write_bytes(token.encode(), exclusive=True)
            except FileExistsError:
                raise RunDirError(
                    f"{path} is being created by someone else (token exists)"
                ) from None
        else:
            fd = os.open(path / "token", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(token)
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
    def open(cls, path: str | Path | RemotePath) -> RunDir:
        """Open an existing run directory, checking its format and version."""
        path = run_path(path)
        marker = path / "run.json"
        if isinstance(path, Path) and not path.is_dir():
            raise RunDirError(f"{path} is not a folder, so not a segevo run directory")
        try:
            present = marker.is_file()
        except Exception as exc:  # an object store: unreachable, refused, no credentials
            if not isinstance(exc, OSError) and isinstance(path, Path):
                raise
            raise RunDirError(f"{path} cannot be read: {type(exc).__name__}: {exc}") from None
        if not present:
            raise RunDirError(f"{path} is not a segevo run directory (no run.json)")
        try:
            meta = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
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
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
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
        if self._lease is not None and self._lease.lost:
            raise RunDirError(f"{self.path}: this coordinator lost the run's lease")
        write_json_atomic(self.state_path, state, crash_point="state.before_rename")

    def load_state(self) -> dict[str, Any] | None:
        """The last saved state, or None when the run never saved one."""
        try:
            text = self.state_path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RunDirError(f"{self.state_path} cannot be read: {exc}") from None
        try:
            state = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RunDirError(f"{self.state_path} cannot be read: {exc}") from None
        if not isinstance(state, dict):
            raise RunDirError(f"{self.state_path} does not hold a JSON object")
        return state

    # -- exclusive use -------------------------------------------------------------------
    def acquire(self) -> None:
        """Take the run's lock; a second coordinator on the same run directory is refused.

        Locally the lock is an ``flock`` on ``RUN_DIR/lock``: the kernel drops it when the
        process dies, even by SIGKILL, so a killed run can be resumed at once. On an object
        store it is a :class:`RemoteLease` on ``RUN_DIR/lock``.
        """
        if isinstance(self.path, RemotePath):
            if self._lease is None:
                lease = RemoteLease(self.path / "lock")
                lease.acquire()
                self._lease = lease
            return
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
        if self._lease is not None:
            self._lease.release()
            self._lease = None
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- events --------------------------------------------------------------------------
    def log_event(self, event: str, **fields: Any) -> None:
        """Append one event (thread-safe; a line is flushed at once, remotely within 1 s)."""
        record = {"t": round(time.time(), 6), "event": event, **fields}
        line = json.dumps(record, default=str, separators=(",", ":")) + "\n"
        with self._events_lock:
            if isinstance(self.events_path, RemotePath):
                if self._remote_events is None:
                    self._remote_events = RemoteEventLog(self.events_path)
                self._remote_events.add(line)
                if event in EVENTS_WRITTEN_AT_ONCE:
                    try:
                        self._remote_events.flush()
                    except Exception as exc:  # kept in memory; the flusher tries again
                        log.warning("writing the event log to %s failed: %s", self.events_path, exc)
                return
            if self._events is None:
                self._events = open(self.events_path, "a", buffering=1)  # noqa: SIM115
                if self._events.tell() > 0 and not _ends_with_newline(self.events_path):
                    # A line cut by a killed writer: end it, so this event stays readable.
                    self._events.write("\n")
            self._events.write(line)

    def read_events(self) -> list[dict[str, Any]]:
        """Every event logged so far (a cut last line, from a kill, is skipped)."""
        events_path = self.events_path
        if isinstance(events_path, RemotePath):
            if self._remote_events is not None:
                self._remote_events.flush()
            out: list[dict[str, Any]] = []
            for segment, _ in remote_event_segments(events_path):
                try:
                    out.extend(_parse_lines(segment.read_text()))
                except FileNotFoundError:
                    continue
            return out
        if not events_path.exists():
            return []
        return _parse_lines(events_path.read_text())

    def close(self) -> None:
        """Close the event log and release the lock."""
        with self._events_lock:
            if self._events is not None:
                self._events.close()
                self._events = None
            if self._remote_events is not None:
                try:
                    self._remote_events.close()
                except Exception as exc:
                    log.warning("writing the event log to %s failed: %s", self.events_path, exc)
                self._remote_events = None
        self.release()
