"""Latency look-up tables on this machine: build time, accuracy against whole networks, speed.

    python benchmarks/bench_lut.py                      # tiny: build, check (50 nets), predict
    python benchmarks/bench_lut.py --r50-seconds 300    # plus a partial r50 build -> estimate
    python benchmarks/bench_lut.py --reuse              # keep an existing tiny table
    python benchmarks/bench_lut.py --clock cpu          # on a loaded machine (see --help)

Targets (issue 4): the tiny table builds in <= 10 minutes; over 50 sampled networks
Kendall tau(LUT, measured) >= 0.8 and above tau(FLOPs, measured); predict for 1e6
architectures in <= 50 ms. Timings depend on the machine's load: run it on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from segevo.devices import build_lut, check_lut, get_device, load_lut
from segevo.devices._lut_sum import lut_sum, native_available
from segevo.nets.paths import cache_dir
from segevo.nets.space import get_space

CLASSES = {"tiny": 11, "r50": 19}  # CamVid for tiny, Cityscapes for r50


def bench_predict(space_name: str, lut_path: Path, n: int, repeats: int) -> dict[str, float]:
    space = get_space(space_name)
    table = load_lut(lut_path, space)
    X = space.sample(n, np.random.default_rng(1))
    table.predict(X[:1000])  # warm caches and code paths
    total, build, summing, cpu = [], [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        words = table.plan.fill_all(X)
        t1 = time.perf_counter()
        lut_sum(table.plan.as_indices(words), table.sum_table)
        t2 = time.perf_counter()
        c0 = time.thread_time()
        table.predict(X)
        c1 = time.thread_time()
        t3 = time.perf_counter()
        build.append(t1 - t0)
        summing.append(t2 - t1)
        total.append(t3 - t2)
        cpu.append(c1 - c0)
    return {
        "n": n,
        "predict_ms": 1e3 * float(np.median(total)),
        # CPU time of this thread: what predict costs without waiting for a core (lut_sum's
        # own worker threads, if it starts any, are not counted)
        "predict_thread_cpu_ms": 1e3 * float(np.median(cpu)),
        "index_construction_ms": 1e3 * float(np.median(build)),
        "lut_sum_ms": 1e3 * float(np.median(summing)),
        "native_lut_sum": native_available(),
        "slots_per_architecture": table.plan.n_slots,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=cache_dir() / "bench_lut")
    parser.add_argument("--threads", type=int, default=1, help="cpu device threads (0 = all)")
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
        "--r50-seconds",
        type=float,
        default=0.0,
        help="also build the r50 table for this long (resumable) and estimate the full time",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {"load_average": os.getloadavg(), "cpu_count": os.cpu_count()}
    device = get_device("cpu", threads=args.threads, clock=args.clock)
    results["device"] = device.identity()

    tiny = get_space("tiny")
    lut_path = args.out / f"tiny-cpu-{args.clock}.json"
    print(f"== building the tiny table on cpu ({args.threads} thread(s), {args.clock} clock)")
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
        plot_path=args.out / f"tiny-cpu-{args.clock}-check.png",
        warmup=5,
        min_repeats=20,
        max_repeats=400,
        budget_s=1.0,
    )
    print(report.summary())
    results["tiny_check"] = {
        "lut": report.lut.to_dict(),
        "flops": report.flops_agreement.to_dict(),
        "flagged": report.flagged,
        "plot": str(report.plot_path),
        "targets": "tau(LUT) >= 0.8 and > tau(FLOPs)",
    }

    print(f"== predict for {args.predict_n:.0e} architectures")
    speed = bench_predict("tiny", lut_path, args.predict_n, repeats=7)
    results["predict"] = {**speed, "target_ms": 50}
    print(
        f"   predict {speed['predict_ms']:.1f} ms wall, {speed['predict_thread_cpu_ms']:.1f} ms "
        f"thread CPU (indices {speed['index_construction_ms']:.1f} ms"
        f" + lut_sum {speed['lut_sum_ms']:.1f} ms; native lut_sum: {speed['native_lut_sum']})"
    )

    if args.r50_seconds > 0:
        r50 = get_space("r50")
        r50_path = args.out / f"r50-cpu-{args.clock}.json"
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

    results_path = args.out / f"bench_lut-{args.clock}.json"
    results_path.write_text(json.dumps(_finite(results), indent=1, default=str))
    print(f"== results: {results_path}")


if __name__ == "__main__":
    main()
