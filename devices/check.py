"""``check_lut``: how well a latency table ranks and predicts whole networks (paper Fig. 4).

Sampled architectures are built as the deployed network (``SegmentationNet.from_arch``, the
module class ``SuperNet.extract`` returns, or ``supernet.extract(x)`` when a supernet is given)
and timed end to end. Against those measurements the report gives, for the table's plain sums
and for FLOPs: Kendall's tau, Pearson's r, the mean absolute percentage error (MAPE) and the
fraction of networks predicted within +-10% (nn-Meter's accuracy figure), each raw (where the
predictor is in ms) and after a linear calibration fitted on the same networks
(:mod:`~segevo.devices.calibration`). The calibration's figures on networks it was not fitted
on come from leave-one-out fits; when the table already carries a calibration (fitted on
other networks), the report also scores the table's own, calibrated predictions.
:func:`check_report` computes all of it from given numbers; ``check_lut`` measures them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .base import Device
from .calibration import (
    Calibration,
    FallingLineError,
    fit_calibration,
    fit_line,
    leave_one_out,
    within_fraction,
)
from .registry import get_device
from .table import LatencyTable, load_lut

TOLERANCE = 0.10
"""The band of the within-fraction figure: +-10% of the measured latency."""


@dataclass(frozen=True)
class Agreement:
    """How well a predictor agrees with measured latencies.

    ``mape_pct`` and ``within_10`` (a fraction) score the raw predictions (NaN where the
    predictor is not in ms); the ``_fit`` figures score them after the line fitted on the same
    networks (``fit_method``, see :func:`~segevo.devices.calibration.fit_line`).
    """

    kendall_tau: float
    pearson_r: float
    mape_pct: float
    mape_fit_pct: float
    within_10: float = float("nan")
    within_10_fit: float = float("nan")

    def to_dict(self) -> dict[str, float | None]:
        """JSON-able (strict JSON: a NaN becomes None)."""
        values = {
            "kendall_tau": self.kendall_tau,
            "pearson_r": self.pearson_r,
            "mape_pct": self.mape_pct,
            "mape_fit_pct": self.mape_fit_pct,
            "within_10": self.within_10,
            "within_10_fit": self.within_10_fit,
        }
        return {k: (None if np.isnan(v) else v) for k, v in values.items()}


def mape_pct(predicted: np.ndarray, measured: np.ndarray) -> float:
    """Mean absolute percentage error of ``predicted`` against ``measured`` (> 0)."""
    return float(np.mean(np.abs(predicted - measured) / measured) * 100.0)


def agreement(
    predictor: np.ndarray, measured: np.ndarray, *, in_ms: bool, fit_method: str = "robust"
) -> Agreement:
    """Kendall tau, Pearson r, MAPE and the fraction within +-10% of a predictor."""
    from scipy import stats

    x = np.asarray(predictor, dtype=np.float64)
    tau = float(stats.kendalltau(x, measured).statistic)
    r = float(stats.pearsonr(x, measured).statistic)
    slope, intercept = fit_line(x, measured, fit_method)
    fitted = slope * x + intercept
    nan = float("nan")
    return Agreement(
        kendall_tau=tau,
        pearson_r=r,
        mape_pct=mape_pct(x, measured) if in_ms else nan,
        mape_fit_pct=mape_pct(fitted, measured),
        within_10=within_fraction(x, measured, TOLERANCE) if in_ms else nan,
        within_10_fit=within_fraction(fitted, measured, TOLERANCE),
    )


@dataclass(frozen=True)
class HeldOut:
    """A calibration scored on networks it was not fitted on."""

    how: str  # "leave-one-out" or "stored calibration"
    mape_pct: float
    within_10: float

    def to_dict(self) -> dict[str, Any]:
        return {"how": self.how, "mape_pct": self.mape_pct, "within_10": self.within_10}


@dataclass
class CheckReport:
    """Measured latencies of sampled networks, the table's sums and predictions, agreement.

    ``lut_sum_ms`` are the plain sums of table entries; ``predicted_ms`` what the table
    predicts (its stored calibration applied, if any). ``lut`` scores the sums (raw, and
    after ``calibration``, the line fitted on these networks, None when that line falls);
    ``leave_one_out`` scores that
    line on networks left out of its fit; ``stored`` scores the table's own calibrated
    predictions (None when the table has no calibration).
    """

    X: np.ndarray
    measured_ms: np.ndarray
    lut_sum_ms: np.ndarray
    predicted_ms: np.ndarray
    flops: np.ndarray
    lut: Agreement
    flops_agreement: Agreement
    calibration: Calibration | None
    leave_one_out: HeldOut
    stored: HeldOut | None = None
    stored_calibration: Calibration | None = None
    flagged: int = 0
    plot_path: Path | None = None
    device: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (per-network values included)."""
        return {
            "samples": int(self.X.shape[0]),
            "lut": self.lut.to_dict(),
            "flops": self.flops_agreement.to_dict(),
            "calibration": self.calibration.to_dict() if self.calibration else None,
            "leave_one_out": self.leave_one_out.to_dict(),
            "stored": self.stored.to_dict() if self.stored else None,
            "stored_calibration": (
                self.stored_calibration.to_dict() if self.stored_calibration else None
            ),
            "flagged": self.flagged,
            "measured_ms": self.measured_ms.tolist(),
            "lut_sum_ms": self.lut_sum_ms.tolist(),
            "predicted_ms": self.predicted_ms.tolist(),
            "flops_values": self.flops.tolist(),
            "plot": str(self.plot_path) if self.plot_path else None,
            "device": self.device,
        }

    def summary(self) -> str:
        """A few lines for a terminal."""
        lut, fl, cal, loo = self.lut, self.flops_agreement, self.calibration, self.leave_one_out
        lines = [
            f"{self.X.shape[0]} networks, measured {self.measured_ms.min():.3f}.."
            f"{self.measured_ms.max():.3f} ms (median of repeats; {self.flagged} flagged)",
            f"LUT sum    : Kendall tau {lut.kendall_tau:.3f}  Pearson r {lut.pearson_r:.3f}  "
            f"MAPE {lut.mape_pct:.1f}%  within +-10% {100 * lut.within_10:.0f}%",
            (
                f"calibrated : ms = {cal.slope:.4f} x sum {cal.intercept_ms:+.4f} ({cal.method} "
                f"fit on these networks)  MAPE {lut.mape_fit_pct:.1f}%  within +-10% "
                f"{100 * lut.within_10_fit:.0f}%"
                if cal is not None
                else "calibrated : none (the fitted line falls: the table does not follow "
                "these networks)"
            ),
            f"  {loo.how:<9}: MAPE {loo.mape_pct:.1f}%  within +-10% {100 * loo.within_10:.0f}%",
        ]
        if self.stored is not None and self.stored_calibration is not None:
            sc = self.stored_calibration
            lines.append(
                f"table's own calibration (ms = {sc.slope:.4f} x sum {sc.intercept_ms:+.4f}, "
                f"fitted on {sc.networks} networks): MAPE {self.stored.mape_pct:.1f}%  "
                f"within +-10% {100 * self.stored.within_10:.0f}%"
            )
        lines.append(
            f"FLOPs      : Kendall tau {fl.kendall_tau:.3f}  Pearson r {fl.pearson_r:.3f}  "
            f"after a linear fit MAPE {fl.mape_fit_pct:.1f}%  within +-10% "
            f"{100 * fl.within_10_fit:.0f}%"
        )
        if self.plot_path:
            lines.append(f"plot       : {self.plot_path}")
        return "\n".join(lines)


def check_report(
    X: np.ndarray,
    lut_sum_ms: np.ndarray,
    measured_ms: np.ndarray,
    flops: np.ndarray,
    *,
    stored_calibration: Calibration | None = None,
    fit_method: str = "robust",
    flagged: int = 0,
    device: dict[str, Any] | None = None,
) -> CheckReport:
    """The report of given numbers: sums, measurements and FLOPs of the same networks.

    ``stored_calibration`` is the table's own (fitted on other networks), scored as a
    hold-out; the new ``calibration`` is fitted here on these networks with ``fit_method``.
    """
    sums = np.asarray(lut_sum_ms, dtype=np.float64)
    measured = np.asarray(measured_ms, dtype=np.float64)
    flops_values = np.asarray(flops, dtype=np.float64)
    if not (sums.shape == measured.shape == flops_values.shape) or sums.ndim != 1:
        raise ValueError(
            f"sums, measurements and FLOPs must be 1-D of one length, got {sums.shape}, "
            f"{measured.shape}, {flops_values.shape}"
        )
    if sums.size < 3:
        raise ValueError(f"a check needs >= 3 networks, got {sums.size}")
    try:
        calibration: Calibration | None = fit_calibration(
            sums, measured, method=fit_method, device=device
        )
    except FallingLineError:
        calibration = None  # reported as such: the figures still say how bad the table is
    loo = leave_one_out(sums, measured, fit_method)
    stored = None
    predicted = sums
    if stored_calibration is not None:
        predicted = stored_calibration.apply(sums)
        stored = HeldOut(
            "stored calibration",
            mape_pct(predicted, measured),
            within_fraction(predicted, measured, TOLERANCE),
        )
    return CheckReport(
        X=np.asarray(X),
        measured_ms=measured,
        lut_sum_ms=sums,
        predicted_ms=predicted,
        flops=flops_values,
        lut=agreement(sums, measured, in_ms=True, fit_method=fit_method),
        flops_agreement=agreement(flops_values, measured, in_ms=False, fit_method=fit_method),
        calibration=calibration,
        leave_one_out=HeldOut(
            "leave-one-out", mape_pct(loo, measured), within_fraction(loo, measured, TOLERANCE)
        ),
        stored=stored,
        stored_calibration=stored_calibration,
        flagged=flagged,
        device=dict(device or {}),
    )


@dataclass(frozen=True)
class CheckProgress:
    """``done`` of ``total`` networks measured after ``elapsed_s`` seconds; the last took
    ``last_ms`` (median) and the table sums it to ``last_lut_ms``."""

    done: int
    total: int
    elapsed_s: float
    last_ms: float = float("nan")
    last_lut_ms: float = float("nan")

    def seconds_left(self) -> float:
        """The time the networks left take at this pace (NaN before the first)."""
        return self.elapsed_s / self.done * (self.total - self.done) if self.done else float("nan")


def plot_check(report: CheckReport, path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Scatter plots like the paper's Fig. 4: LUT vs measured (left), FLOPs vs measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
    panels = (
        (report.lut_sum_ms, "LUT sum of parts (ms)", report.lut, 1.0),
        (report.flops / 1e9, "FLOPs (G multiply-accumulates)", report.flops_agreement, 1e9),
    )
    for ax, (xs, label, agree, unit) in zip(axes, panels, strict=True):
        ax.scatter(xs, report.measured_ms, s=18, alpha=0.8, edgecolors="none")
        slope, intercept = fit_line(xs * unit, report.measured_ms)
        line = np.linspace(xs.min(), xs.max(), 50)
        fitted = slope * line * unit + intercept
        ax.plot(line, fitted, color="red", linewidth=1.5, label="calibration line")
        ax.fill_between(line, 0.9 * fitted, 1.1 * fitted, color="red", alpha=0.1, label="+-10%")
        ax.set_xlabel(label)
        ax.set_ylabel("measured latency (ms)")
        ax.set_title(
            f"Kendall $\\tau$ = {agree.kendall_tau:.3f}, "
            f"{100 * agree.within_10_fit:.0f}% within +-10% after the line"
        )
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
    progress: Callable[[CheckProgress], None] | None = None,
    supernet: Any = None,
    fit_method: str = "robust",
    **protocol: Any,
) -> CheckReport:
    """Measure ``samples`` sampled networks end to end and compare the table and FLOPs to them.

    ``lut`` is a LatencyTable or a path (loaded for ``space``). ``protocol`` overrides the
    device's measuring protocol for the whole networks (e.g. ``budget_s=1.0``). ``progress``
    gets a :class:`CheckProgress` before the first network and after each. Writes a Fig.
    4-like scatter plot to ``plot_path`` when given. The fitted calibration is in the report
    (``report.calibration``); :func:`~segevo.devices.lut_file.store_calibration` writes it into
    the table file.
    """
    if int(samples) != samples or samples < 3:
        raise ValueError(
            f"samples must be an integer >= 3 (correlations need a few), got {samples}"
        )
    if progress is not None and not callable(progress):
        raise ValueError(
            f"progress must be a callable taking a CheckProgress, or None; got {progress!r}"
        )
    table = lut if isinstance(lut, LatencyTable) else load_lut(lut, space)
    dev = get_device(device) if isinstance(device, str) else device
    import torch

    from segevo.nets.blocks import SegmentationNet

    X = space.sample(int(samples), np.random.default_rng(seed))
    sums = table.predict(X, calibrated=False)
    flops = np.asarray(space.flops(X, table.num_classes), dtype=np.float64)
    measured = np.empty(len(X))
    flagged = 0
    start = time.perf_counter()
    if progress is not None:
        progress(CheckProgress(0, len(X), 0.0))
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
        if progress is not None:
            elapsed = time.perf_counter() - start
            progress(CheckProgress(i + 1, len(X), elapsed, float(measured[i]), float(sums[i])))
    report = check_report(
        X,
        sums,
        measured,
        flops,
        stored_calibration=table.calibration,
        fit_method=fit_method,
        flagged=flagged,
        device=dev.identity(),
    )
    if plot_path is not None:
        title = f"{space.name} on {dev.identity().get('model', dev.name)} ({dev.name})"
        report.plot_path = plot_check(report, plot_path, title=title)
    return report
