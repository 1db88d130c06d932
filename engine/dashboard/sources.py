"""Where the dashboard's rows and live state come from.

- :class:`CoordinatorSource`: a coordinator in this process (``segevo run --dashboard``):
  rows from its in-memory archive mirror, evaluators and pending tasks from its dispatcher;
  everything read on the event loop, nothing written.
- :class:`RunDirSource`: a run directory, finished or live in another process: rows from
  ``archive.zarr`` (read past the rows already held, in a worker thread), pending tasks from
  ``state.json``, and, while the run is live, evaluators from a ``status`` query.
- :class:`RemoteSource`: a coordinator's ``HOST:PORT`` and token: ``rows`` and ``status``
  queries over one client connection.

Each one fills a :class:`~segevo.engine.dashboard.store.RowStore` and answers
:meth:`Source.summary` from memory; :func:`build_summary` holds what they share.
"""

from __future__ import annotations

import json
import logging
import math
import time
from abc import ABC, abstractmethod
from collections import Counter, deque
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from anyio.abc import TaskStatus

from segevo.engine.archive import ROW_COLUMNS
from segevo.engine.constraints import Constraints
from segevo.engine.dashboard.store import RowStore, finite_or_none, plain
from segevo.engine.hypervolume import hypervolume, run_reference
from segevo.engine.location import RemotePath, run_path
from segevo.engine.problems.tabular import pareto_front_mask

log = logging.getLogger("segevo.engine.dashboard")

PICKS = 5
COALESCE_S = 0.1
"""Commits closer together than this reach the page as one event (bounded event rate)."""
LEASE_EVENTS = ("requeued", "lease_expired", "task_failed", "abandoned")


class EventTail:
    """Counts of the run's lease events, read incrementally from ``events.jsonl`` (or, for
    a run directory on an object store, from the segments under ``events/``)."""

    def __init__(self, path: Path | RemotePath) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""
        self._segments: dict[str, int] = {}
        self.counts: Counter[str] = Counter()
        self.requeued_tasks = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=20)
        self.attachments: dict[str, dict[str, Any]] = {}
        self.sessions: deque[dict[str, Any]] = deque(maxlen=200)
        self.started: float | None = None
        self.ended: float | None = None

    def read(self) -> None:
        """Read what was appended since the last call (blocking; run it in a thread)."""
        if isinstance(self.path, RemotePath):
            self._read_segments(self.path)
            return
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read(8 << 20)
        except OSError:
            return
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        self._take_lines(lines)

    def _read_segments(self, folder: RemotePath) -> None:
        from segevo.engine.rundir import remote_event_segments

        try:
            segments = remote_event_segments(folder)
        except OSError:
            return
        for segment, size in segments:
            # A segment is rewritten whole with more lines at its end: read past the offset.
            offset = self._segments.get(segment.name, 0)
            if size <= offset:
                continue
            try:
                data = segment.read_bytes(start=offset)
            except OSError:
                return
            complete = data.rfind(b"\n") + 1
            self._segments[segment.name] = offset + complete
            self._take_lines(data[:complete].split(b"\n"))

    def _take_lines(self, lines: list[bytes]) -> None:
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                self._take(event)

    def _take(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        t = event.get("t")
        if kind in ("started", "resumed") and self.started is None:
            self.started = t
        elif kind in ("finished", "stopped"):
            self.ended = t
        elif kind == "evaluator_connected":
            name = str(event.get("evaluator"))
            self.attachments[name] = {"name": name, "t_on": t, "t_off": None}
        elif kind == "evaluator_disconnected":
            name = str(event.get("evaluator"))
            session = self.attachments.pop(name, {"name": name, "t_on": None})
            session["t_off"] = t
            session["reason"] = event.get("reason")
            self.sessions.append(session)
        if kind in LEASE_EVENTS:
            self.counts[kind] += 1
            if kind == "requeued":
                self.requeued_tasks += len(event.get("tasks") or [])
            self.recent.append(
                {k: event.get(k) for k in ("t", "event", "task", "tasks", "evaluator", "reason")}
            )

    def view(self) -> dict[str, Any]:
        return {
            "requeued": self.requeued_tasks,
            "expired": self.counts["lease_expired"],
            "failed": self.counts["task_failed"],
            "abandoned": self.counts["abandoned"],
            "recent": list(self.recent)[::-1],
            "sessions": [*self.sessions, *self.attachments.values()],
        }


class BusyTimeline:
    """Busy intervals per evaluator, from periodic samples of who holds a lease.

    Bounded (the last ``max_spans`` intervals per evaluator); an open interval ends with
    None. Sampling misses evaluations shorter than its period: the result ticks the page
    draws from the rows fill that in.
    """

    def __init__(self, max_spans: int = 300) -> None:
        self.max_spans = max_spans
        self.spans: dict[str, deque[list[float | None]]] = {}

    def sample(self, busy: dict[str, bool], now: float) -> None:
        for name, is_busy in busy.items():
            spans = self.spans.setdefault(name, deque(maxlen=self.max_spans))
            open_span = bool(spans) and spans[-1][1] is None
            if is_busy and not open_span:
                spans.append([now, None])
            elif not is_busy and open_span:
                spans[-1][1] = now
        for name, spans in self.spans.items():
            if name not in busy and spans and spans[-1][1] is None:
                spans[-1][1] = now  # detached while busy

    def view(self) -> dict[str, list[list[float | None]]]:
        return {name: [list(span) for span in spans] for name, spans in self.spans.items()}


SAMPLE_S = 0.2
"""How often a coordinator's evaluators are sampled for the busy timeline."""


class Source(ABC):
    """A run the dashboard shows (see the module docstring)."""

    store: RowStore
    run_dir: Path | RemotePath | None
    token: bytes | None
    live: bool = False

    def __init__(self) -> None:
        self._summary: tuple[tuple[int, int], dict[str, Any]] | None = None
        self._space: Any = None
        self._space_loaded = False
        self.timeline = BusyTimeline()

    def sample_status(self, evaluators: list[dict[str, Any]]) -> None:
        """Record who is busy, from a list of ``{"name", "busy"}`` entries."""
        self.timeline.sample({str(e["name"]): bool(e.get("busy")) for e in evaluators}, time.time())

    @abstractmethod
    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Keep the store filled (reports started once the first rows are in)."""

    @abstractmethod
    def live_state(self) -> dict[str, Any]:
        """What only a live run knows: run id, budget, evaluators, pending tasks..."""

    def space(self) -> Any:
        """The run's search space for decoding rows (None when the problem has none)."""
        if not self._space_loaded:
            self._space_loaded = True
            try:
                self._space = self._load_space()
            except Exception as exc:  # a space that cannot be built only loses the decoding
                log.info("no search space to decode rows with: %s", exc)
                self._space = None
        return self._space

    def _load_space(self) -> Any:
        return space_of_run(self.run_dir)

    def summary(self) -> dict[str, Any]:
        """``/api/summary`` (cached for a quarter of a second per row count)."""
        key = (self.store.n, int(time.monotonic() * 4))
        if self._summary is not None and self._summary[0] == key:
            return self._summary[1]
        summary = build_summary(self.store, self.live_state())
        summary["timeline"] = self.timeline.view()
        self._summary = (key, summary)
        return summary

    async def describe(self, index: int) -> dict[str, Any]:
        """One row with its decoded architecture and the export command.

        The row is read on the event loop; building the space and decoding run in a
        worker thread (a space may take a while to build the first time).
        """
        store = self.store
        x = [int(v) for v in store.column("x")[index].tolist()]
        row: dict[str, Any] = {"index": index}
        for name in ("task_id", "predictor_version"):
            row[name] = int(store.column(name)[index])
        for name in ("acc", "lat_ms", "lat_measured_ms", "lat_pred_ms", "acc_pred"):
            row[name] = finite_or_none(float(store.column(name)[index]))
        for name in ("t_submit", "t_done"):
            row[name] = finite_or_none(float(store.column(name)[index]))
        row["evaluator"] = store.evaluator[index]
        row["x"] = x
        state = self.live_state()
        run_dir = state.get("run_dir") or (str(self.run_dir) if self.run_dir else "RUN_DIR")
        row["export"] = f"segevo export {_quote(run_dir)} --arch {row['task_id']}"
        row["export_x"] = f"segevo export {_quote(run_dir)} --x {','.join(map(str, x))}"
        row["exportable"] = state.get("problem") == "mosegnas"
        row["arch"] = await anyio.to_thread.run_sync(self._decode, x)
        return row

    def _decode(self, x: list[int]) -> dict[str, Any] | None:
        space = self.space()
        return decode_arch(space, x) if space is not None else None


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def space_of_run(run_dir: str | Path | RemotePath | None) -> Any:
    """The search space a ``mosegnas`` run directory searched (None otherwise)."""
    if run_dir is None:
        return None
    config_path = run_path(run_dir) / "config.json"
    if not config_path.is_file():
        return None
    config = json.loads(config_path.read_text())
    if config.get("problem") != "mosegnas":
        return None
    from segevo.engine.problems.mosegnas import space_from_options

    options = config.get("problem_options") or {}
    return space_from_options(options.get("space", "tiny"), options.get("space_options"))


def decode_arch(space: Any, x: list[int]) -> dict[str, Any] | None:
    """A decoded architecture as plain JSON data (input, stem, stages, size)."""
    try:
        arch = space.decode(np.asarray(x, dtype=np.int64))
    except Exception as exc:
        return {"error": f"cannot decode: {exc}"}
    out: dict[str, Any] = {
        "space": getattr(arch, "space", None),
        "input": "x".join(map(str, getattr(arch, "input_hw", ()))),
    }
    stem = getattr(arch, "stem", None)
    if stem is not None:
        out["stem"] = {
            "mid_ch": stem.mid_ch,
            "out_ch": stem.out_ch,
            "residual": bool(stem.residual),
        }
    stages = []
    for stage in getattr(arch, "stages", ()):
        stages.append(
            {
                "stage": stage.index,
                "depth": stage.depth,
                "width_mult": stage.width_mult,
                "out_ch": stage.out_ch,
                "layers": [
                    {"in": la.in_ch, "mid": la.mid_ch, "out": la.out_ch, "stride": la.stride}
                    for la in stage.layers
                ],
            }
        )
    out["stages"] = stages
    decoder = getattr(arch, "decoder", None)
    if decoder is not None and is_dataclass(decoder) and not isinstance(decoder, type):
        out["decoder"] = {
            k: v for k, v in asdict(decoder).items() if isinstance(v, int | float | str)
        }
    for key, method in (("params_m", "params"), ("macs_m", "flops")):
        try:
            out[key] = round(float(getattr(space, method)(np.asarray(x, dtype=np.int64))) / 1e6, 3)
        except Exception:
            out[key] = None
    return out


# ---------------------------------------------------------------------------------------
# What every source shares


def latest_proposal(store: RowStore, pending: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The surrogate's predictions for the latest proposal that used one.

    The tasks of one proposal share their creation time; pending tasks (not evaluated
    yet) count too. Each point carries its prediction and, once evaluated, its result.
    """
    acc_pred = store.column("acc_pred")
    t_submit = store.column("t_submit")
    predicted = np.isfinite(acc_pred)
    t_rows = float(t_submit[predicted].max()) if predicted.any() else -math.inf
    pend = [p for p in pending if p.get("acc_pred") is not None and p.get("t_submit") is not None]
    t_pend = max((float(p["t_submit"]) for p in pend), default=-math.inf)
    latest = max(t_rows, t_pend)
    if not math.isfinite(latest):
        return None
    points: list[dict[str, Any]] = []
    rows = np.flatnonzero(predicted & (t_submit == latest))
    lat_pred = store.column("lat_pred_ms")
    for i in rows.tolist():
        points.append(
            {
                "task_id": int(store.column("task_id")[i]),
                "index": i,
                "acc_pred": float(acc_pred[i]),
                "lat_pred_ms": finite_or_none(float(lat_pred[i])),
                "acc": float(store.column("acc")[i]),
                "lat_ms": finite_or_none(float(store.column("lat_ms")[i])),
            }
        )
    for p in pend:
        if float(p["t_submit"]) == latest:
            points.append(
                {
                    "task_id": int(p["id"]),
                    "index": None,
                    "acc_pred": float(p["acc_pred"]),
                    "lat_pred_ms": finite_or_none(p.get("lat_pred_ms")),
                    "acc": None,
                    "lat_ms": None,
                }
            )
    a = np.array([p["acc_pred"] for p in points], dtype=np.float64)
    t = np.array([np.nan if p["lat_pred_ms"] is None else p["lat_pred_ms"] for p in points])
    ok = np.isfinite(a) & np.isfinite(t)
    on_front = np.zeros(len(points), dtype=bool)
    if ok.any():
        on_front[np.flatnonzero(ok)] = pareto_front_mask(a[ok], t[ok])
    for p, f in zip(points, on_front.tolist(), strict=True):
        p["predicted_front"] = f
    versions = {int(p.get("predictor_version", -1)) for p in pend if float(p["t_submit"]) == latest}
    if rows.size:
        versions.add(int(store.column("predictor_version")[rows[0]]))
    return {
        "t_submit": latest,
        "predictor_version": max(versions, default=None),
        "points": sorted(points, key=lambda p: p["task_id"]),
    }


def build_summary(store: RowStore, state: dict[str, Any]) -> dict[str, Any]:
    """``/api/summary`` from the rows and the source's live state."""
    n = store.n
    acc = store.column("acc")
    lat = store.column("lat_ms")
    reference = run_reference(
        state.get("hv_reference"), Constraints.from_record(state.get("constraints")), lat
    )
    front = store.front_rows()
    hv = hypervolume(acc[front], lat[front], reference)
    picks: list[int] = []
    if front.size:
        from segevo.engine.pick import pick_tradeoff

        chosen = pick_tradeoff(acc[front], lat[front], PICKS)
        picks = front[chosen].tolist()
    counts = store.counts
    evaluators: dict[str, dict[str, Any]] = {}
    for name, completed in counts.items():
        evaluators[name] = {"name": name, "attached": False, "completed": completed}
    for live in state.get("evaluators") or []:
        entry = evaluators.setdefault(live["name"], {"name": live["name"], "completed": 0})
        entry.update({k: v for k, v in live.items() if k != "completed"})
        entry["attached"] = True
    versions = store.column("predictor_version")
    version = state.get("predictor_version")
    if version is None:
        version = int(versions.max()) if n else -1
    t_done = store.column("t_done")
    t_first = float(store.column("t_submit").min()) if n else None
    summary: dict[str, Any] = {
        "run": state.get("run"),
        "run_dir": state.get("run_dir"),
        "problem": state.get("problem"),
        "strategy": state.get("strategy"),
        "source": state.get("source"),
        "running": bool(state.get("running")),
        "finished": bool(state.get("finished")),
        "reason": state.get("reason") or "",
        "budget": state.get("budget"),
        "rows": n,
        "batches": store.batches,
        "n_var": store.n_var,
        "hypervolume": hv,
        "hv_reference": list(reference),
        "constraints": state.get("constraints"),
        "front_size": int(front.size),
        "front": front.tolist() if front.size <= 5000 else front[:5000].tolist(),
        "picks": picks,
        "predictor_version": version,
        "evaluators": sorted(evaluators.values(), key=lambda e: e["name"]),
        "pending": state.get("pending"),
        "queued": state.get("queued"),
        "leased": state.get("leased"),
        "leases": state.get("leases") or {},
        "proposal": latest_proposal(store, state.get("pending_tasks") or []),
        # The earliest of the run's start and its first row (a resumed run has older rows).
        "t_start": min((t for t in (state.get("t_start"), t_first) if t is not None), default=None),
        "t_last": float(t_done.max()) if n else None,
        "elapsed_s": state.get("elapsed_s"),
        "rate_per_s": state.get("rate_per_s"),
        "now": time.time(),
    }
    return summary


# ---------------------------------------------------------------------------------------
# Sources


class CoordinatorSource(Source):
    """The coordinator this process runs (read on its own event loop, never written)."""

    live = True

    def __init__(self, coordinator: Any) -> None:
        super().__init__()
        self.coordinator = coordinator
        self.run_dir = coordinator.rundir.path
        self.token = coordinator.rundir.token()
        self.store = RowStore(coordinator.problem.n_var)
        self.events = EventTail(coordinator.rundir.events_path)
        # The coordinator's start on the wall clock (it keeps a monotonic one).
        self._t_start = time.time() - (time.monotonic() - coordinator._started)

    def _load_space(self) -> Any:
        return getattr(self.coordinator.problem, "space", None) or space_of_run(self.run_dir)

    def _ingest(self) -> None:
        mirror = self.coordinator.mirror
        start, stop = self.store.n, mirror.n
        if stop <= start:
            return
        columns = {name: mirror.column(name)[start:stop] for name in ROW_COLUMNS}
        self.store.append(columns, mirror.evaluator_names[start:stop].tolist())

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._ingest()
        task_status.started()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._tail_events)
            tg.start_soon(self._sample_workers)
            changed = self.coordinator.changed
            while True:
                await changed.wait_for(lambda: self.coordinator.mirror.n > self.store.n, poll_s=1.0)
                self._ingest()
                await anyio.sleep(COALESCE_S)

    async def _tail_events(self) -> None:
        while True:
            await anyio.to_thread.run_sync(self.events.read)
            await anyio.sleep(1.0)

    async def _sample_workers(self) -> None:
        dispatcher = self.coordinator.dispatcher
        while True:
            busy = {w.name: bool(w.leased) for w in list(dispatcher.workers.values())}
            self.timeline.sample(busy, time.time())
            await anyio.sleep(SAMPLE_S)

    def live_state(self) -> dict[str, Any]:
        c = self.coordinator
        now = time.time()
        dispatcher = c.dispatcher
        workers = []
        for w in list(dispatcher.workers.values()):
            connected = max(1e-9, now - w.connected_at)
            workers.append(
                {
                    "name": w.name,
                    "remote": w.remote,
                    "leased": len(w.leased),
                    "busy": bool(w.leased),
                    "busy_s": round(w.busy_s, 3),
                    "connected_s": round(connected, 3),
                    "utilisation": round(min(1.0, w.busy_s / connected), 4),
                }
            )
        pending = [t.to_state() for t in list(dispatcher.tasks.values())]
        pending += [a.task.to_state() for a in list(c.archive.uncommitted.values())]
        reason = c.finish_reason()
        reference = c.config.hv_reference
        leases = self.events.view()
        leases["abandoned"] = max(leases["abandoned"], len(dispatcher.abandoned))
        elapsed = time.monotonic() - c._started
        return {
            "source": "coordinator",
            "run": c.rundir.run_id,
            "run_dir": str(c.rundir.path),
            "problem": c.config.problem,
            "strategy": c.config.strategy,
            "running": reason is None,
            "finished": reason is not None,
            "reason": reason,
            "budget": c.config.evaluations,
            "hv_reference": list(reference) if reference is not None else None,
            "constraints": c.config.constraints.record(),
            "evaluators": workers,
            "predictor_version": c.surrogate.version,
            "pending": c.unfinished(),
            "queued": dispatcher.queued,
            "leased": dispatcher.leased,
            "leases": leases,
            "pending_tasks": pending,
            "t_start": self._t_start,
            "elapsed_s": round(elapsed, 3),
            "rate_per_s": round((c.mirror.n - c._evaluations_at_start) / elapsed, 3)
            if elapsed > 0
            else 0.0,
        }


class RunDirSource(Source):
    """A run directory: its files, plus ``status`` queries while its coordinator is live."""

    def __init__(self, run_dir: str | Path | RemotePath, *, poll_s: float = 0.5) -> None:
        from segevo.engine.rundir import RunDir

        super().__init__()
        self.run_dir = run_path(run_dir)
        self.rundir = RunDir.open(self.run_dir)  # RunDirError for a folder that is not one
        self.config = self.rundir.load_config()
        self.token = self.rundir.token()
        self.poll_s = poll_s
        self.store = RowStore()
        self.events = EventTail(self.rundir.events_path)
        self._state: dict[str, Any] = {}
        self._status: dict[str, Any] | None = None
        self._pending: list[dict[str, Any]] = []

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        await self._read_archive()
        await anyio.to_thread.run_sync(self._read_files)
        await self._query_status()
        task_status.started()
        while True:
            await anyio.sleep(self.poll_s)
            await self._read_archive()
            await anyio.to_thread.run_sync(self._read_files)
            await self._query_status()

    async def _read_archive(self) -> None:
        from segevo.engine.archive import ArchiveError, open_archive

        if not self.rundir.archive_path.exists():
            return
        committed = await anyio.to_thread.run_sync(_committed_rows, self.rundir.archive_path)
        held = self.store.n
        if committed is not None and committed <= held:
            return
        try:
            run_dir = self.run_dir
            assert run_dir is not None
            data = await anyio.to_thread.run_sync(lambda: open_archive(run_dir, start=held))
        except ArchiveError as exc:
            log.warning("cannot read %s: %s", self.run_dir, exc)
            return
        if self.store.n != held or len(data) == 0:
            return
        columns = {name: data[name] for name in data.columns if name != "evaluator"}
        self.store.append(columns, list(data.evaluator_names))

    def _read_files(self) -> None:
        self.events.read()
        state = self.rundir.load_state() if self.rundir.state_path.exists() else None
        self._pending = list((state or {}).get("tasks", []))

    async def _query_status(self) -> None:
        from segevo.engine.client import QueryClient

        endpoint = self.rundir.read_endpoint()
        if endpoint is None:
            self._status = None
            return
        try:
            with anyio.fail_after(2.0):
                async with QueryClient.connect(
                    endpoint, self.token or b"", name="dashboard"
                ) as client:
                    self._status = await client.status()
        except Exception:
            self._status = None  # not running (any more): the files say everything
        self.sample_status(status_state(self._status)["evaluators"] if self._status else [])

    def live_state(self) -> dict[str, Any]:
        status = self._status
        state = {
            "source": "run_dir",
            "run": self.rundir.run_id,
            "run_dir": str(self.run_dir),
            "problem": self.config.problem,
            "strategy": self.config.strategy,
            "budget": self.config.evaluations,
            "hv_reference": list(self.config.hv_reference) if self.config.hv_reference else None,
            "constraints": self.config.constraints.record(),
            "leases": self.events.view(),
            "pending_tasks": self._pending,
            "pending": len(self._pending),
            "t_start": self.events.started,
            "running": status is not None,
            "finished": status is None and self.events.ended is not None,
        }
        if status is not None:
            state.update(status_state(status))
            state["run_dir"] = str(self.run_dir)
        return state


def _committed_rows(path: Path | RemotePath) -> int | None:
    try:
        meta = json.loads((path / "zarr.json").read_text())
        return int(meta["attributes"]["committed_rows"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def status_state(status: dict[str, Any]) -> dict[str, Any]:
    """The live-state fields a coordinator's ``status`` reply gives."""
    leased: Counter[str] = Counter(
        str(lease.get("evaluator")) for lease in status.get("leases", [])
    )
    evaluators = [
        {"name": name, "leased": leased[name], "busy": leased[name] > 0}
        for name in status.get("evaluators", [])
    ]
    reason = status.get("reason") or None
    return {
        "run": status.get("run"),
        "strategy": status.get("strategy"),
        "budget": status.get("budget"),
        "hv_reference": status.get("hv_reference"),
        "constraints": status.get("constraints"),
        "evaluators": evaluators,
        "predictor_version": status.get("surrogate_version"),
        "pending": status.get("pending"),
        "queued": status.get("queued"),
        "leased": status.get("leased"),
        "running": not status.get("finished", False),
        "finished": bool(status.get("finished")),
        "reason": reason,
        "elapsed_s": status.get("elapsed_s"),
        "rate_per_s": status.get("rate_per_s"),
    }


class RemoteSource(Source):
    """A live coordinator at ``HOST:PORT``: ``rows`` and ``status`` queries, one connection."""

    live = True

    def __init__(self, endpoint: Any, token: bytes, *, poll_s: float = 0.5) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.token = token
        self.poll_s = poll_s
        self.run_dir = None
        self.store = RowStore()
        self._status: dict[str, Any] = {}
        self.connected = False

    def _load_space(self) -> Any:
        run_dir = self._status.get("run_dir")
        return space_of_run(run_dir) if run_dir else None

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        from segevo.engine.client import QueryClient

        started = False
        while True:
            try:
                async with QueryClient.connect(
                    self.endpoint, self.token or b"", name="dashboard"
                ) as c:
                    self.connected = True
                    while True:
                        self._status = await c.status()
                        self.sample_status(status_state(self._status)["evaluators"])
                        await self._pull(c)
                        if not started:
                            started = True
                            task_status.started()
                        await anyio.sleep(self.poll_s)
            except (OSError, anyio.EndOfStream, anyio.BrokenResourceError, TimeoutError) as exc:
                if not started:
                    raise
                self.connected = False
                self._status = {**self._status, "finished": True, "reason": f"unreachable: {exc}"}
                await anyio.sleep(2.0)

    async def _pull(self, client: Any) -> None:
        while True:
            page = await client.rows(self.store.n)
            columns = page["columns"]
            if int(page["start"]) != self.store.n or page["stop"] == page["start"]:
                return
            arrays = {
                k: np.asarray([math.nan if v is None else v for v in vals], dtype=np.float64)
                for k, vals in columns.items()
                if k not in ("x", "evaluator", "task_id", "predictor_version")
            }
            arrays["x"] = np.asarray(columns["x"], dtype=np.int64)
            arrays["task_id"] = np.asarray(columns["task_id"], dtype=np.int64)
            arrays["predictor_version"] = np.asarray(columns["predictor_version"], dtype=np.int64)
            self.store.append(arrays, columns["evaluator"])
            if int(page["stop"]) >= int(page["committed"]):
                return

    def live_state(self) -> dict[str, Any]:
        state = status_state(self._status) if self._status else {}
        state["source"] = "remote"
        state["run_dir"] = self._status.get("run_dir")
        if not self.connected and self._status:
            state["running"] = False
        return state


__all__ = [
    "CoordinatorSource",
    "EventTail",
    "RemoteSource",
    "RunDirSource",
    "Source",
    "build_summary",
    "plain",
]
