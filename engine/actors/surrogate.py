"""The Surrogate actor: refits the strategy's accuracy model off the event loop, versioned.

With a checkpoint folder (``RUN_DIR/surrogate/``) each refit is also written there, as
``model-v<version>.npz`` in the strategy's own format, and ``latest.json`` names the newest
one with the number of archive rows it was fitted on. A resumed run starts from that model
and its version instead of fitting again before its first proposal; a checkpoint that
cannot be read is reported and the model is fitted again from the archive.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus

from segevo.engine.actors.signal import Changed
from segevo.engine.faultpoints import crashpoint
from segevo.engine.location import RemotePath, RunPath, local_copy_of
from segevo.engine.rows import ArchiveRows
from segevo.engine.rundir import write_json_atomic
from segevo.engine.strategies.base import Strategy

log = logging.getLogger("segevo.engine.surrogate")


def is_model_free(strategy: Strategy) -> bool:
    """Whether the strategy keeps the base ``fit_model`` (always None): nothing to refit."""
    return type(strategy).fit_model is Strategy.fit_model


class SurrogateActor:
    """Holds the latest model and its version; refits after ``refit_every`` new rows.

    ``version`` is -1 until a model exists, then 1, 2, ... per successful refit; proposals
    record the version they used (the archive's ``predictor_version``). With
    ``periodic=False`` (``--sync``) it refits only when :meth:`refit_now` is awaited.
    """

    def __init__(
        self,
        strategy: Strategy,
        mirror: ArchiveRows,
        *,
        refit_every: int,
        limiter: anyio.CapacityLimiter,
        periodic: bool = True,
        on_event: Callable[..., None] | None = None,
        checkpoint_dir: RunPath | None = None,
        changed: Changed | None = None,
    ) -> None:
        self.strategy = strategy
        self.mirror = mirror
        self.refit_every = refit_every
        self.periodic = periodic
        self.model_free = is_model_free(strategy)
        self.model: Any | None = None
        self.version = -1
        self.fitted_rows = 0
        self.model_rows = 0
        """Archive rows the current model was fitted on (its staleness is measured from it)."""
        self.fit_s = 0.0
        """Moving average of one refit's wall time."""
        self.fits = 0
        # Shared with the coordinator when given, so that one wait sees new models and new rows.
        self.changed = changed if changed is not None else Changed()
        self._rows = Changed()
        self._lock = anyio.Lock()
        self._limiter = limiter
        self._on_event = on_event or (lambda event, **fields: None)
        self.checkpoint_dir = checkpoint_dir
        self.starving: Callable[[], bool] = lambda: False
        """Set by the proposer: true while evaluators wait for a fresher model. Then any new
        row makes a refit due, even fewer than ``refit_every`` (with ``max_staleness`` below
        ``refit_every`` the run would otherwise wait forever)."""

    def rows_committed(self) -> None:
        """The archive grew (called by the coordinator after each commit)."""
        self._rows.notify()

    def _due(self) -> bool:
        new_rows = self.mirror.n - self.fitted_rows
        return new_rows >= self.refit_every or (new_rows > 0 and self.starving())

    async def restore(self, *, version_floor: int = -1) -> bool:
        """Take the latest checkpoint as the current model (on resume); whether one was taken.

        ``version_floor`` is the highest predictor version the archive already holds: later
        refits number above it even when no checkpoint can be used.
        """
        self.version = max(self.version, version_floor)
        if self.model_free or self.checkpoint_dir is None:
            return False
        latest = self.checkpoint_dir / LATEST
        if not latest.exists():
            return False
        try:
            record = _read_latest(latest, self.mirror.n)
            if record["version"] < self.version:
                # A kill between a refit and its checkpoint: proposals used a newer model.
                raise ValueError(
                    f"{latest} names version {record['version']}, older than version "
                    f"{self.version} that proposals already used"
                )
            model = await anyio.to_thread.run_sync(
                _load_checkpoint,
                self.strategy,
                self.checkpoint_dir / record["file"],
                limiter=self._limiter,
            )
        except (OSError, ValueError) as exc:
            log.warning("surrogate checkpoint not used, fitting again: %s", exc)
            self._on_event("surrogate_checkpoint_unusable", error=str(exc))
            return False
        self.model = model
        self.version = max(self.version, record["version"])
        self.fitted_rows = record["rows"]
        self.model_rows = record["rows"]
        self._on_event("surrogate_restored", version=self.version, rows=self.fitted_rows)
        self.changed.notify()
        return True

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        if self.model_free or not self.periodic:
            await anyio.sleep_forever()
        while True:
            # Polled too: what makes the proposer starve changes without a commit.
            await self._rows.wait_for(self._due, poll_s=0.25)
            await self.refit_now()

    async def refit_now(self) -> None:
        """Fit on every committed row (no-op when the model already saw them all)."""
        if self.model_free:
            return
        async with self._lock:
            n = self.mirror.n
            if n == self.fitted_rows:
                return
            X = self.mirror.X.copy()
            acc = self.mirror.acc.copy()
            started = time.perf_counter()
            try:
                # abandon_on_cancel: a pure fit need not hold up the end of the run.
                model = await anyio.to_thread.run_sync(
                    _fit, self.strategy, X, acc, limiter=self._limiter, abandon_on_cancel=True
                )
            except Exception as exc:
                # A refit that fails leaves the previous model in place; the next one may work.
                log.exception("surrogate refit on %d rows failed", n)
                self._on_event("refit_failed", rows=n, error=f"{type(exc).__name__}: {exc}")
                self.fitted_rows = n
                return
            self.fitted_rows = n
            elapsed = time.perf_counter() - started
            self.fit_s = elapsed if self.fits == 0 else 0.7 * self.fit_s + 0.3 * elapsed
            self.fits += 1
            if model is not None:
                self.model = model
                self.model_rows = n
                self.version = max(self.version, 0) + 1
                self._on_event("refit", version=self.version, rows=n, seconds=round(elapsed, 4))
            self.changed.notify()
            if model is not None and self.checkpoint_dir is not None:
                await self._checkpoint(model, self.version, n)

    async def _checkpoint(self, model: Any, version: int, rows: int) -> None:
        assert self.checkpoint_dir is not None
        try:
            await anyio.to_thread.run_sync(
                _save_checkpoint,
                self.strategy,
                model,
                self.checkpoint_dir,
                version,
                rows,
                limiter=self._limiter,
                abandon_on_cancel=True,
            )
        except Exception as exc:
            # The model is still in use; only a resume would have to fit it again.
            log.exception("writing the surrogate checkpoint v%d failed", version)
            self._on_event(
                "surrogate_checkpoint_failed", version=version, error=f"{type(exc).__name__}: {exc}"
            )


def _fit(strategy: Strategy, X: Any, acc: Any) -> Any:
    """``strategy.fit_model`` in a worker thread (with the crash point for fault tests)."""
    crashpoint("refit.running")
    return strategy.fit_model(X, acc)


LATEST = "latest.json"


def _load_checkpoint(strategy: Strategy, path: RunPath) -> Any:
    """``strategy.load_model`` on a checkpoint file (downloaded first from an object store)."""
    with local_copy_of(path) as local:
        try:
            return strategy.load_model(local)
        except ValueError as exc:
            if local == path:
                raise
            raise ValueError(f"{path}: {exc}") from None


def _save_checkpoint(
    strategy: Strategy, model: Any, folder: RunPath, version: int, rows: int
) -> None:
    """Write the model, point ``latest.json`` at it, then drop the older model files.

    In that order a crash at any point leaves ``latest.json`` naming a complete file. On an
    object store the model is written to a local temporary file, then uploaded in one PUT.
    """
    folder.mkdir(exist_ok=True)
    stem = f"model-v{version:06d}"
    if isinstance(folder, RemotePath):
        with tempfile.TemporaryDirectory(prefix="segevo-") as scratch:
            local = strategy.save_model(model, Path(scratch) / stem)
            if local is None:
                return
            written: Any = folder / local.name
            written.write_bytes(local.read_bytes())
    else:
        written = strategy.save_model(model, folder / stem)
        if written is None:
            return
    crashpoint("surrogate.checkpoint_written")
    write_json_atomic(
        folder / LATEST,
        {"version": version, "rows": rows, "file": written.name, "saved": time.time()},
    )
    for old in folder.glob("model-v*"):
        if old.name != written.name:
            old.unlink(missing_ok=True)


def _read_latest(path: RunPath, committed_rows: int) -> dict[str, Any]:
    """``latest.json``, checked: ValueError names what is wrong with it."""
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    version, rows, name = record.get("version"), record.get("rows"), record.get("file")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{path}: 'version' must be an integer >= 1, got {version!r}")
    if not isinstance(rows, int) or not 0 <= rows <= committed_rows:
        raise ValueError(
            f"{path}: 'rows' must be an integer in 0..{committed_rows} (the archive's committed "
            f"rows), got {rows!r}"
        )
    if not isinstance(name, str) or Path(name).name != name or not name.startswith("model-v"):
        raise ValueError(f"{path}: 'file' must name a model-v* file in that folder, got {name!r}")
    return {"version": version, "rows": rows, "file": name}
