"""Latency look-up tables on this machine: build time, accuracy against whole networks, speed.

    python benchmarks/bench_lut.py                      # tiny: build, check (50 nets), predict
    python benchmarks/bench_lut.py --r50-seconds 300    # plus a partial r50 build -> estimate
    python benchmarks/bench_lut.py --reuse              # keep an existing tiny table
    python benchmarks/bench_lut.py --clock cpu          # on a loaded machine (see --help)
    python benchmarks/bench_lut.py --predict-only       # predict timing alone (seconds)
    python benchmarks/bench_lut.py --device ort-cpu     # the same through ONNX Runtime

Targets (issue 4): the tiny table builds in <= 10 minutes; over 50 sampled networks
Kendall tau(LUT, measured) >= 0.8 and above tau(FLOPs, measured); predict for 1e6
architectures in <= 50 ms. ONNX Runtime issue: >= 95% of the networks within +-10% of their
measured latency after the table's linear calibration, on cpu and ort-cpu. Timings depend on
the machine's load: run it on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from segevo._core import lut_sum
from segevo.devices import (
    CheckReport,
    Device,
    LatencyTable,
    Measurement,
    build_lut,
    check_lut,
    enumerate_keys,
    get_device,
    load_lut,
)
from segevo.devices.lut_file import LUTEntry, LUTRecord
from segevo.nets.paths import cache_dir
from segevo.nets.space import get_space

CLASSES = {"tiny": 11, "r50": 19}  # CamVid for tiny, Cityscapes for r50


def _timed(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median wall time and median process CPU time (all threads), in ms, of each function;
    the functions take turns so that a change in the machine's load hits them alike."""
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    return {
        name: (1e3 * float(np.median(wall[name])), 1e3 * float(np.median(cpu[name])))
        for name in fns
    }


def bench_predict(table: LatencyTable, n: int, repeats: int) -> dict[str, object]:
    """``predict`` of ``n`` sampled architectures: the fused kernel (``_core.lut_predict``)
    next to the path it replaced (index rows from ``IndexPlan`` + ``_core.lut_sum``)."""
    X = table.space.sample(n, np.random.default_rng(1))
    fused = table.predict(X)  # also warms caches and code paths
    previous = table.predict_indexed(X)
    agree = float(np.max(np.abs(fused - previous) / np.abs(previous))) if n else 0.0
    words = table.plan.fill_all(X)
    times = _timed(
        {
            "fused": lambda: table.predict(X),
            "previous": lambda: table.predict_indexed(X),
            "index rows": lambda: table.plan.fill_all(X),
            "lut_sum": lambda: lut_sum(table.plan.as_indices(words), table.sum_table),
        },
        repeats,
    )
    fused_wall, fused_cpu = times["fused"]
    prev_wall, prev_cpu = times["previous"]
    index_wall, index_cpu = times["index rows"]
    sum_wall, sum_cpu = times["lut_sum"]
    return {
        "n": n,
        "terms": table.predictor.n_terms,
        # wall: what a caller waits on this (loaded) machine; CPU: process time of every
        # thread (the kernels' workers included), the cost without waiting for a core
        "predict_ms": fused_wall,
        "predict_cpu_ms": fused_cpu,
        "previous_predict_ms": prev_wall,
        "previous_predict_cpu_ms": prev_cpu,
        "previous_index_construction_cpu_ms": index_cpu,
        "previous_lut_sum_cpu_ms": sum_cpu,
        "previous_index_construction_ms": index_wall,
        "previous_lut_sum_ms": sum_wall,
        "speedup_wall": prev_wall / fused_wall,
        "speedup_cpu": prev_cpu / fused_cpu,
        "max_relative_difference": agree,
        "slots_per_architecture": table.plan.n_slots,
    }


def print_predict(speed: dict[str, object]) -> None:
    """One line per path, then the ratio."""
    s = speed
    print(
        f"   fused (lut_predict, {s['terms']} terms): {s['predict_ms']:.1f} ms wall, "
        f"{s['predict_cpu_ms']:.1f} ms CPU"
    )
    print(
        f"   previous (index rows + lut_sum): {s['previous_predict_ms']:.1f} ms wall, "
        f"{s['previous_predict_cpu_ms']:.1f} ms CPU (index rows "
        f"{s['previous_index_construction_cpu_ms']:.1f} + lut_sum {s['previous_lut_sum_cpu_ms']:.1f}"
        f" ms CPU)"
    )
    print(
        f"   previous / fused: {s['speedup_wall']:.2f}x wall, {s['speedup_cpu']:.2f}x CPU; "
        f"largest relative difference {s['max_relative_difference']:.1e}"
    )


def timing_table(space_name: str) -> LatencyTable:
    """A complete table for ``space_name`` with seeded random entries (0.01-5 ms), for timing
    ``predict`` without measuring anything: the speed of a sum does not depend on the values
    summed. Never used for anything but timing."""
    space = get_space(space_name)
    num_classes = CLASSES[space_name]
    rng = np.random.default_rng(0)
    entries = {}
    for key in enumerate_keys(space, num_classes):
        ms = float(rng.uniform(0.01, 5.0))
        entries[key] = LUTEntry(key.split("-")[0], Measurement(1, ms, 0.0, ms, ms, ms))
    record = LUTRecord(
        space_name=space.name,
        space_digest=space.digest(),
        space_definition=space.definition(),
        base_hw=list(space.base_hw),
        num_classes=num_classes,
        device={"backend": "none", "model": "random entries (timing only)"},
        protocol={},
        expected_entries=len(entries),
        entries=entries,
        complete=True,
    )
    return LatencyTable(space, record, source="<random entries, timing only>")


def retest(report: CheckReport, space: Any, device: Device, num_classes: int) -> dict[str, float]:
    """Time the check's networks again: how often a second measurement is within +-10% of the
    first, the ceiling of the check's +-10% figure on this machine (a network that disagrees
    with itself by more cannot be predicted within 10% by any table)."""
    import torch

    from segevo.devices import within_fraction
    from segevo.nets.blocks import SegmentationNet

    again = []
    for x in report.X:
        arch = space.decode(x)
        torch.manual_seed(0)
        net = SegmentationNet.from_arch(arch, num_classes)
        again.append(device.measure(net, (1, 3, *arch.input_hw)).median_ms)
    first = report.measured_ms
    ratio = np.asarray(again) / first
    return {
        "within_10_of_first": within_fraction(np.asarray(again), first),
        "median_abs_change_pct": float(100 * np.median(np.abs(ratio - 1))),
        "median_ratio": float(np.median(ratio)),
    }


def _finite(value: object) -> object:
    """NaN -> None, so that the results file is strict JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def predict_only(lut_path: Path, n: int) -> None:
    """The predict section alone (seconds, not the minutes of a build)."""
    tiny = get_space("tiny")
    if lut_path.exists():
        table, source = load_lut(lut_path, tiny), str(lut_path)
    else:
        table, source = timing_table("tiny"), "random entries (no tiny table built yet)"
    print(f"== predict for {n:.0e} tiny architectures; table: {source}")
    print(f"   load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print_predict(bench_predict(table, n, repeats=7))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=cache_dir() / "bench_lut")
    parser.add_argument("--device", choices=("cpu", "ort-cpu"), default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="device threads (0 = all)")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: real latency (use on a quiet machine); cpu: the thread's CPU time, which "
        "leaves out waiting for a core on a loaded machine (needs --threads 1)",
    )
    parser.add_argument("--samples", type=int, default=50, help="networks for check_lut")
    parser.add_argument("--predict-n", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="keep an existing tiny table")
    parser.add_argument(
        "--predict-only",
        action="store_true",
        help="only time predict (fused kernel vs index rows + lut_sum), on the tiny table from a "
        "previous run if there is one, else on a table of random entries (no measuring)",
    )
    parser.add_argument(
        "--r50-seconds",
        type=float,
        default=0.0,
        help="also build the r50 table for this long (resumable) and estimate the full time",
    )
    args = parser.parse_args()
    if args.predict_only:
        predict_only(args.out / f"tiny-{args.device}-{args.clock}.json", args.predict_n)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {"load_average": os.getloadavg(), "cpu_count": os.cpu_count()}
    device = get_device(args.device, threads=args.threads, clock=args.clock)
    results["device"] = device.identity()

    tiny = get_space("tiny")
    label = f"{args.device}-{args.clock}"
    lut_path = args.out / f"tiny-{label}.json"
    print(
        f"== building the tiny table on {args.device} ({args.threads} thread(s), "
        f"{args.clock} clock)"
    )
    t0 = time.perf_counter()
    built = build_lut(tiny, device, lut_path, num_classes=CLASSES["tiny"], resume=args.reuse)
    build_s = time.perf_counter() - t0
    results["tiny_build"] = {
        "entries": built.total,
        "measured": built.measured,
        "flagged": built.flagged,
        "seconds": build_s,
        "target_seconds": 600,
    }
    print(
        f"   {built.total} entries ({built.measured} measured now, {built.flagged} flagged) "
        f"in {build_s:.1f} s"
    )

    print(f"== checking against {args.samples} whole networks")
    report = check_lut(
        tiny,
        lut_path,
        device,
        samples=args.samples,
        seed=0,
        plot_path=args.out / f"tiny-{label}-check.png",
        warmup=5,
        min_repeats=20,
        max_repeats=400,
        budget_s=1.0,
    )
    print(report.summary())
    results["tiny_check"] = {
        "lut": report.lut.to_dict(),
        "calibration": report.calibration.to_dict() if report.calibration else None,
        "leave_one_out": report.leave_one_out.to_dict(),
        "flops": report.flops_agreement.to_dict(),
        "flagged": report.flagged,
        "plot": str(report.plot_path),
        "targets": "tau(LUT) >= 0.8 and > tau(FLOPs); within_10_fit >= 0.95",
    }

    print("== the same networks measured again (the noise ceiling of 'within +-10%')")
    results["tiny_retest"] = retest(report, tiny, device, CLASSES["tiny"])
    print(
        f"   {100 * results['tiny_retest']['within_10_of_first']:.0f}% within +-10% of the first "
        f"measurement (median change {results['tiny_retest']['median_abs_change_pct']:.1f}%)"
    )

    print(f"== predict for {args.predict_n:.0e} architectures")
    speed = bench_predict(load_lut(lut_path, tiny), args.predict_n, repeats=7)
    results["predict"] = {**speed, "target_ms": 50}
    print_predict(speed)

    if args.r50_seconds > 0:
        r50 = get_space("r50")
        r50_path = args.out / f"r50-{label}.json"
        print(f"== building the r50 table for up to {args.r50_seconds:.0f} s -> {r50_path}")
        part = build_lut(
            r50, device, r50_path, num_classes=CLASSES["r50"], time_limit_s=args.r50_seconds
        )
        done = part.measured + part.reused
        estimate = part.estimated_total_s()
        results["r50_build"] = {
            "entries": part.total,
            "measured_now": part.measured,
            "done": done,
            "complete": part.complete,
            "seconds": part.elapsed_s,
            "seconds_per_entry": part.seconds_per_entry,
            "estimated_full_build_s": estimate,
        }
        print(
            f"   {done}/{part.total} entries; {part.seconds_per_entry:.2f} s per entry -> a full "
            f"r50 build takes about {estimate / 3600:.2f} h on this device"
        )

    results_path = args.out / f"bench_lut-{label}.json"
    results_path.write_text(json.dumps(_finite(results), indent=1, default=str))
    print(f"== results: {results_path}")


if __name__ == "__main__":
    main()
