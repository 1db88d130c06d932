"""Tables, files and plots of a run's evaluated architectures (archive, front, picks).

A record is a flat dict per architecture: ``id`` (the task id), ``acc``, ``lat_ms`` (the
objective latency: measured, else predicted), ``lat_measured_ms``, ``lat_pred_ms``,
``acc_pred``, ``evaluator``, ``x`` (the vector as ``2,1,0,...``) and, for a run over a
segevo search space, ``input`` (HxW), ``params_m`` and ``macs_m`` (millions).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import click
import numpy as np

from segevo.cli.common import format_arch, write_json
from segevo.engine.hypervolume import hypervolume_trace
from segevo.engine.rows import ArchiveRows

FORMATS = ("table", "csv", "json")
BASE_COLUMNS = ("id", "acc", "lat_ms", "x")
SPACE_COLUMNS = ("input", "params_m", "macs_m")


def run_space(rows: ArchiveRows) -> tuple[Any, int] | None:
    """The search space and class count of a ``mosegnas`` run (None for other problems)."""
    if rows.config.problem != "mosegnas":
        return None
    from segevo.engine.problems.mosegnas import space_from_options

    options = rows.config.problem_options
    space = space_from_options(options.get("space", "tiny"), options.get("space_options"))
    num_classes = 19
    lut = options.get("lut")
    if lut and Path(lut).is_file():
        from segevo.devices.lut_file import read_record

        num_classes = read_record(lut).num_classes
    return space, num_classes


def records(rows: ArchiveRows, indices: np.ndarray | None = None) -> list[dict[str, Any]]:
    """One record per archive row in ``indices`` (all rows by default)."""
    if indices is None:
        indices = np.arange(len(rows))
    data = rows
    names = data.evaluator_names
    described = run_space(rows)
    out = []
    for i in np.asarray(indices, dtype=np.int64).tolist():
        record: dict[str, Any] = {
            "id": int(data["task_id"][i]),
            "acc": float(data["acc"][i]),
            "lat_ms": float(rows.latency[i]),
            "lat_measured_ms": float(data["lat_ms"][i]),
            "lat_pred_ms": float(data["lat_pred_ms"][i]),
            "acc_pred": float(data["acc_pred"][i]),
            "feasible": bool(rows.feasible[i]),
            "evaluator": str(names[i]),
            "x": format_arch(data["x"][i]),
        }
        if described is not None:
            space, num_classes = described
            arch = space.decode(data["x"][i])
            record["input"] = f"{arch.input_hw[0]}x{arch.input_hw[1]}"
            record["params_m"] = space.params(data["x"][i], num_classes) / 1e6
            record["macs_m"] = space.flops(data["x"][i], num_classes) / 1e6
        out.append(record)
    return out


def default_columns(recs: list[dict[str, Any]]) -> list[str]:
    """The columns a terminal table shows."""
    columns = ["id", "acc", "lat_ms"]
    if recs and "input" in recs[0]:
        columns += list(SPACE_COLUMNS)
    return [*columns, "x"]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"
    return str(value)


def format_table(recs: list[dict[str, Any]], columns: list[str]) -> str:
    """Aligned plain-text columns (numbers right-aligned)."""
    cells = [[_cell(r.get(c, "")) for c in columns] for r in recs]
    widths = [max([len(c), *(len(row[k]) for row in cells)]) for k, c in enumerate(columns)]
    numeric = [bool(recs) and isinstance(recs[0].get(c), int | float) for c in columns]

    def fmt(values: list[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([fmt(list(columns)), *(fmt(row) for row in cells)])


def to_csv(recs: list[dict[str, Any]]) -> str:
    """CSV text of every field of the records (NaN as empty)."""
    if not recs:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(recs[0]), lineterminator="\n")
    writer.writeheader()
    for record in recs:
        writer.writerow(
            {k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()}
        )
    return buffer.getvalue()


def emit(recs: list[dict[str, Any]], fmt: str, output: Path | None) -> None:
    """Write records as a table, CSV or JSON to ``output`` or stdout."""
    if fmt == "json":
        write_json(output, recs)
        return
    text = to_csv(recs) if fmt == "csv" else format_table(recs, default_columns(recs)) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)


def picks(rows: ArchiveRows, n: int) -> list[dict[str, Any]]:
    """The paper's final choice: the most accurate plus the ``n - 1`` best trade-offs."""
    if len(rows) == 0:
        return []
    return records(rows, rows.picks(n))


def front_records(rows: ArchiveRows) -> list[dict[str, Any]]:
    """The evaluated (feasible) front, fastest first."""
    return records(rows, rows.front_rows())


def plot_front(rows: ArchiveRows, path: Path, *, title: str | None = None) -> Path:
    """Two panels: every evaluated point with the front and the picks; hypervolume over
    evaluations. Written as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    acc, lat = rows.acc, rows.latency
    figure = Figure(figsize=(11, 4.4))
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    on_front = rows.front_mask()
    plain = ~on_front & rows.feasible
    left.scatter(lat[plain], acc[plain], s=14, alpha=0.45, label="evaluated")
    constraints = rows.config.constraints
    if constraints.active:
        out = ~rows.feasible
        left.scatter(lat[out], acc[out], s=14, alpha=0.35, color="0.6", label="infeasible")
        if constraints.max_latency_ms is not None:
            left.axvline(constraints.max_latency_ms, color="0.4", linestyle="--", linewidth=1)
        if constraints.min_accuracy is not None:
            left.axhline(constraints.min_accuracy, color="0.4", linestyle="--", linewidth=1)
    order = rows.front_rows()
    left.step(lat[order], acc[order], where="post", color="C3", linewidth=1.2)
    left.scatter(lat[order], acc[order], s=26, color="C3", label="front")
    if len(rows):
        chosen = rows.picks(5)
        left.scatter(
            lat[chosen], acc[chosen], s=120, facecolors="none", edgecolors="k", label="picked"
        )
        for i in chosen:
            left.annotate(
                str(int(rows.task_id[i])),
                (lat[i], acc[i]),
                textcoords="offset points",
                xytext=(4, -10),
                fontsize=8,
            )
    measured = bool(np.isfinite(np.asarray(rows["lat_ms"], dtype=float)).any())
    left.set_xlabel("latency (ms, measured)" if measured else "latency (ms, predicted)")
    left.set_ylabel("accuracy (mIoU)" if rows.config.problem == "mosegnas" else "accuracy")
    left.set_title(f"{len(rows)} evaluated, {int(on_front.sum())} on the front")
    left.grid(alpha=0.3)
    left.legend(loc="lower right", fontsize=8)
    counts, values = hypervolume_trace(acc, lat, rows.reference())
    right.plot(counts, values, color="C2")
    right.set_xlabel("evaluations")
    right.set_ylabel("hypervolume")
    ref = rows.reference()
    right.set_title(f"hypervolume (reference acc {ref[0]:.3g}, latency {ref[1]:.3g} ms)")
    right.grid(alpha=0.3)
    figure.suptitle(title or f"{rows.config.problem}: {rows.run_dir}", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path
