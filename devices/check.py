"""``check_lut``: how well a latency table ranks and predicts whole networks (paper Fig. 4).

Sampled architectures are built as the deployed network (``SegmentationNet.from_arch``, the
module class ``SuperNet.extract`` returns, or ``supernet.extract(x)`` when a supernet is given)
and timed end to end; the table's predictions and the networks' FLOPs are compared with the
measurements by Kendall's tau, Pearson's r and the mean absolute percentage error (MAPE).
FLOPs are not milliseconds, so their MAPE is that of the least-squares line from FLOPs to ms
fitted on the same networks (an optimistic figure for FLOPs); the table's MAPE is reported both
raw and after the same kind of line (``mape_fit_pct``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .base import Device
from .registry import get_device
from .table import LatencyTable, load_lut


@dataclass(frozen=True)
class Agreement:
    """How well a predictor agrees with measured latencies."""

    kendall_tau: float
    pearson_r: float
    mape_pct: float  # raw predictions (NaN where the predictor is not in ms)
    mape_fit_pct: float  # after the least-squares line predictor -> ms

    def to_dict(self) -> dict[str, float | None]:
        """JSON-able (strict JSON: a NaN becomes None)."""
        values = {
            "kendall_tau": self.kendall_tau,
            "pearson_r": self.pearson_r,
            "mape_pct": self.mape_pct,
            "mape_fit_pct": self.mape_fit_pct,
        }
        return {k: (None if np.isnan(v) else v) for k, v in values.items()}


def mape_pct(predicted: np.ndarray, measured: np.ndarray) -> float:
    """Mean absolute percentage error of ``predicted`` against ``measured`` (> 0)."""
    return float(np.mean(np.abs(predicted - measured) / measured) * 100.0)


def agreement(predictor: np.ndarray, measured: np.ndarray, *, in_ms: bool) -> Agreement:
    """Kendall tau, Pearson r and MAPE of a predictor against measurements."""
    from scipy import stats

    tau = float(stats.kendalltau(predictor, measured).statistic)
    r = float(stats.pearsonr(predictor, measured).statistic)
    slope, intercept = np.polyfit(predictor.astype(np.float64), measured, 1)
    fitted = slope * predictor + intercept
    raw = mape_pct(predictor, measured) if in_ms else float("nan")
    return Agreement(tau, r, raw, mape_pct(fitted, measured))


@dataclass
class CheckReport:
    """Measured and predicted latencies of sampled networks, and their agreement."""

    X: np.ndarray
    measured_ms: np.ndarray
    predicted_ms: np.ndarray
    flops: np.ndarray
    lut: Agreement
    flops_agreement: Agreement
    flagged: int
    plot_path: Path | None = None
    device: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (per-network values included)."""
        return {
            "samples": int(self.X.shape[0]),
            "lut": self.lut.to_dict(),
            "flops": self.flops_agreement.to_dict(),
            "flagged": self.flagged,
            "measured_ms": self.measured_ms.tolist(),
            "predicted_ms": self.predicted_ms.tolist(),
            "flops_values": self.flops.tolist(),
            "plot": str(self.plot_path) if self.plot_path else None,
            "device": self.device,
        }

    def summary(self) -> str:
        """A few lines for a terminal."""
        lut, fl = self.lut, self.flops_agreement
        return "\n".join(
            [
                f"{self.X.shape[0]} networks, measured {self.measured_ms.min():.3f}.."
                f"{self.measured_ms.max():.3f} ms (median of repeats; {self.flagged} flagged)",
                f"LUT   : Kendall tau {lut.kendall_tau:.3f}  Pearson r {lut.pearson_r:.3f}  "
                f"MAPE {lut.mape_pct:.1f}% (after a linear fit {lut.mape_fit_pct:.1f}%)",
                f"FLOPs : Kendall tau {fl.kendall_tau:.3f}  Pearson r {fl.pearson_r:.3f}  "
                f"MAPE after a linear fit {fl.mape_fit_pct:.1f}%",
            ]
            + ([f"plot  : {self.plot_path}"] if self.plot_path else [])
        )


def plot_check(report: CheckReport, path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Scatter plots like the paper's Fig. 4: LUT vs measured (left), FLOPs vs measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
    panels = (
        (report.predicted_ms, "LUT predicted latency (ms)", report.lut),
        (report.flops / 1e9, "FLOPs (G multiply-accumulates)", report.flops_agreement),
    )
    for ax, (xs, label, agree) in zip(axes, panels, strict=True):
        ax.scatter(xs, report.measured_ms, s=18, alpha=0.8, edgecolors="none")
        slope, intercept = np.polyfit(xs, report.measured_ms, 1)
        line = np.linspace(xs.min(), xs.max(), 50)
        ax.plot(line, slope * line + intercept, color="red", linewidth=1.5, label="linear fit")
        ax.set_xlabel(label)
        ax.set_ylabel("measured latency (ms)")
        ax.set_title(f"Kendall $\\tau$ = {agree.kendall_tau:.3f}")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left")
    if title:
        fig.suptitle(title)
    fig.savefig(target, dpi=120)
    plt.close(fig)
    return target


def check_lut(
    space: Any,
    lut: LatencyTable | str | os.PathLike[str],
    device: Device | str,
    *,
    samples: int = 50,
    seed: int = 0,
    plot_path: str | os.PathLike[str] | None = None,
    progress: bool = True,
    supernet: Any = None,
    **protocol: Any,
) -> CheckReport:
    """Measure ``samples`` sampled networks end to end and compare the table and FLOPs to them.

    ``lut`` is a LatencyTable or a path (loaded for ``space``). ``protocol`` overrides the
    device's measuring protocol for the whole networks (e.g. ``budget_s=1.0``). Writes a Fig.
    4-like scatter plot to ``plot_path`` when given.
    """
    if int(samples) != samples or samples < 3:
        raise ValueError(
            f"samples must be an integer >= 3 (correlations need a few), got {samples}"
        )
    table = lut if isinstance(lut, LatencyTable) else load_lut(lut, space)
    dev = get_device(device) if isinstance(device, str) else device
    import torch

    from segevo.nets.blocks import SegmentationNet

    X = space.sample(int(samples), np.random.default_rng(seed))
    predicted = table.predict(X)
    flops = np.asarray(space.flops(X, table.num_classes), dtype=np.float64)
    measured = np.empty(len(X))
    flagged = 0
    with _Bar(progress, len(X)) as advance:
        for i, x in enumerate(X):
            arch = space.decode(x)
            if supernet is not None:
                net = supernet.extract(x)
            else:
                torch.manual_seed(seed)
                net = SegmentationNet.from_arch(arch, table.num_classes)
            result = dev.measure(net, (1, 3, *arch.input_hw), **protocol)
            measured[i] = result.median_ms
            flagged += int(result.flagged)
            advance()
    report = CheckReport(
        X=X,
        measured_ms=measured,
        predicted_ms=predicted,
        flops=flops,
        lut=agreement(predicted, measured, in_ms=True),
        flops_agreement=agreement(flops, measured, in_ms=False),
        flagged=flagged,
        device=dev.identity(),
    )
    if plot_path is not None:
        title = f"{space.name} on {dev.identity().get('model', dev.name)}"
        report.plot_path = plot_check(report, plot_path, title=title)
    return report


class _Bar:
    """A rich progress bar over the networks (or nothing)."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total
        self._progress: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]measuring networks"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        self._progress.__enter__()
        task = self._progress.add_task("", total=self.total)
        return lambda: self._progress.update(task, advance=1)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
