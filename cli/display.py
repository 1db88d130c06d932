"""Live progress for long work: rich on a terminal, plain log lines otherwise.

Three displays share one pattern (a context manager that is also the progress callback):

- :class:`TrainDisplay` for supernet training (``segevo.nets.train.TrainProgress``);
- :class:`LutDisplay` for a latency-table build (``segevo.devices.BuildProgress`` events live,
  ``BuildResult`` per chunk otherwise) and a table check;
- :class:`SearchDisplay` for a search (the coordinator's ``status()`` dict): evaluations
  done / budget, evaluators connected, front size, hypervolume, time left and the best
  accuracy at each latency (the current front, read from the run's archive).

Plain mode prints a line at most every ``every_s`` seconds (and a last one at the end), so
a log file of a long run stays readable.
"""

from __future__ import annotations

import time
from typing import Any

import click
import numpy as np

from segevo.cli.common import interactive

MAX_FRONT_ROWS = 12


def duration(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``3700`` -> ``1h01m``; unknown -> ``?``."""
    if seconds is None or not np.isfinite(seconds) or seconds < 0:
        return "?"
    seconds = round(float(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


class _Display:
    """Rich ``Live`` on a terminal, throttled ``click.echo`` lines otherwise."""

    def __init__(self, *, live: bool | None = None, every_s: float = 10.0) -> None:
        self.live = interactive() if live is None else live
        self.every_s = every_s
        self._last_line = -np.inf
        self._live: Any = None
        self._pending: str | None = None

    def __enter__(self) -> _Display:
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                "", console=Console(stderr=True), refresh_per_second=4, transient=False
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None
        elif self._pending is not None:
            click.echo(self._pending, err=True)
            self._pending = None

    def message(self, text: str) -> None:
        """A line printed once, above the live view when there is one."""
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
        else:
            click.echo(text, err=True)

    def show(self, renderable: Any, line: str, *, force: bool = False) -> None:
        """Show ``renderable`` live, or print ``line`` if enough time passed (or ``force``)."""
        if self._live is not None:
            self._live.update(renderable)
            return
        now = time.monotonic()
        if force or now - self._last_line >= self.every_s:
            self._last_line = now
            self._pending = None
            click.echo(line, err=True)
        else:
            self._pending = line


class _BarDisplay(_Display):
    """A display drawn as a rich progress bar on a terminal (``_bar``, started by the
    subclass's ``__enter__``); messages print above the bar."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._bar: Any = None
        self._task: Any = None

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        super().__exit__(*exc)

    def message(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            super().message(text)


class TrainDisplay(_BarDisplay):
    """Supernet training: step, progress, loss, phase, speed, time left."""

    def __init__(self, *, title: str = "supernet", **options: Any) -> None:
        super().__init__(**options)
        self.title = title

    def __enter__(self) -> TrainDisplay:
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn(f"[bold]{self.title}[/]"),
                BarColumn(),
                TextColumn("{task.percentage:>5.1f}%"),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self._task = self._bar.add_task("train", total=1.0, status="starting")
            self._bar.start()
        return self

    def __call__(self, state: Any) -> None:
        done = float(state.progress)
        left = state.elapsed_s * (1.0 - done) / done if done > 0 else float("nan")
        status = (
            f"step {state.step}  loss {state.loss:.3f}  {state.phase}  "
            f"{state.images_per_s:.1f} img/s  {duration(left)} left"
        )
        if self._bar is not None:
            self._bar.update(self._task, completed=done, status=status)
            return
        self.show(None, f"{self.title}: {100 * done:5.1f}%  {status}")


class LutDisplay(_BarDisplay):
    """A latency-table build: a live bar fed by :meth:`advance` (``BuildProgress`` events) on
    a terminal, else one line per chunk (``BuildResult``, through ``__call__``)."""

    def __init__(self, *, title: str = "latency table", **options: Any) -> None:
        super().__init__(**options)
        self.title = title
        self._measured = 0
        self._seconds = 0.0

    def __enter__(self) -> LutDisplay:
        if self.live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn(f"[bold]{self.title}[/] {{task.description}}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[left]}"),
                console=Console(stderr=True),
            )
            self._task = self._bar.add_task("", total=None, left="")
            self._bar.start()
        return self

    def advance(self, event: Any) -> None:
        """One progress event: ``done``/``total`` parts (or networks), time left."""
        if self._bar is None:
            return
        left = event.seconds_left() if hasattr(event, "seconds_left") else float("nan")
        self._bar.update(
            self._task,
            completed=event.done,
            total=event.total,
            description=getattr(event, "kind", ""),
            left=f"{duration(left)} left",
        )

    def __call__(self, result: Any) -> None:
        self._measured += result.measured
        self._seconds += result.elapsed_s
        done = result.total - result.missing
        rate = self._seconds / self._measured if self._measured else float("nan")
        line = (
            f"latency table: {done}/{result.total} parts measured  "
            f"{duration(rate * result.missing)} left"
        )
        self.show(None, line, force=result.complete)


class SearchDisplay(_Display):
    """A search's status plus its current front (best accuracy at each latency)."""

    def __init__(self, run_dir: Any = None, *, front_every_s: float = 2.0, **options: Any):
        super().__init__(**options)
        self.run_dir = run_dir
        self.front_every_s = front_every_s
        self._front: list[tuple[float, float, int]] = []
        self._front_at = -np.inf
        self._front_rows_seen = -1
        self.front_source: Any = None
        """A callable giving the front as the coordinator's ``front`` query does; when set,
        the front comes from it instead of the archive (a run directory on an object store
        is not re-read every few seconds by the coordinator's own event loop)."""

    def _refresh_front(self, status: dict[str, Any]) -> None:
        from segevo.engine.location import run_path

        run_dir = self.run_dir or (run_path(status["run_dir"]) if status.get("run_dir") else None)
        now = time.monotonic()
        due = now - self._front_at >= self.front_every_s or bool(status.get("finished"))
        if run_dir is None or not due:
            return
        if status.get("evaluations", 0) == self._front_rows_seen:
            return
        self._front_at = now
        if self.front_source is not None:
            front = self.front_source()
            self._front = sorted(
                (float(lat), float(acc), int(task))
                for lat, acc, task in zip(
                    front["lat_ms"], front["acc"], front["task_id"], strict=True
                )
            )
            self._front_rows_seen = int(status.get("evaluations", 0))
            return
        from segevo.engine.rows import read_run

        try:
            rows = read_run(run_dir)
        except ValueError:
            return  # no archive yet
        order = rows.front_rows()
        self._front = [
            (float(rows.latency[i]), float(rows.acc[i]), int(rows.task_id[i])) for i in order
        ]
        self._front_rows_seen = len(rows)

    @staticmethod
    def _time_left(status: dict[str, Any]) -> float:
        rate = float(status.get("rate_per_s") or 0.0)
        left = int(status["budget"]) - int(status["evaluations"])
        return left / rate if rate > 0 else float("nan")

    def line(self, status: dict[str, Any]) -> str:
        """The plain-text status line."""
        text = (
            f"search: {status['evaluations']}/{status['budget']} evaluations  "
            f"evaluators {status.get('evaluators_connected', 0)}  "
            f"{_feasible(status)}front {status['front_size']}  hv {status['hypervolume']:.4g}  "
            f"{duration(self._time_left(status))} left"
        )
        if self._front:
            best = "  ".join(f"{lat:.3g}ms:{acc:.3f}" for lat, acc, _ in self._front[:6])
            text += f"  best acc @ latency {best}"
        return text

    def renderable(self, status: dict[str, Any]) -> Any:
        """A rich table: the status header and the front."""
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        done, budget = int(status["evaluations"]), int(status["budget"])
        head = Text.assemble(
            ("search ", "bold"),
            f"{done}/{budget} evaluations   ",
            f"evaluators {status.get('evaluators_connected', 0)}   ",
            f"queue {status.get('queued', 0)}   ",
            _feasible(status, "   "),
            f"front {status['front_size']}   ",
            f"hypervolume {status['hypervolume']:.4g}   ",
            f"surrogate v{status.get('surrogate_version', '-')}   ",
            f"{duration(self._time_left(status))} left",
        )
        bar = ProgressBar(total=max(budget, 1), completed=done, width=60)
        title = Text("best accuracy at each latency (the front)", style="bold")
        table = Table(box=None)
        table.add_column("latency (ms)", justify="right")
        table.add_column("accuracy", justify="right")
        table.add_column("id", justify="right")
        shown = self._front
        if len(shown) > MAX_FRONT_ROWS:
            picks = np.linspace(0, len(shown) - 1, MAX_FRONT_ROWS).round().astype(int)
            shown = [shown[i] for i in sorted(set(picks.tolist()))]
        for lat, acc, task in shown:
            table.add_row(f"{lat:.3f}", f"{acc:.4f}", str(task))
        return Group(head, bar, title, table) if shown else Group(head, bar)

    def __call__(self, status: dict[str, Any]) -> None:
        self._refresh_front(status)
        finished = bool(status.get("finished"))
        self.show(
            self.renderable(status) if self._live is not None else None,
            self.line(status),
            force=finished,
        )


def _feasible(status: dict[str, Any], gap: str = "  ") -> str:
    """``feasible 12  `` when the run has constraints, else nothing."""
    bounds = status.get("constraints") or {}
    if not any(v is not None for v in bounds.values()):
        return ""
    return f"feasible {status.get('feasible', 0)}{gap}"
