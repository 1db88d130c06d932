"""Make ``benchmarks/data/camvid_tiny_table.csv``: inherited-weight mIoU of random sub-networks
of the ``tiny`` supernet trained on CamVid, with the CPU latency table's prediction.

It drives the product, one CPU thread everywhere:

1. ``segevo supernet train --config WORK/train.json --threads 1 --device cpu``: the ``tiny``
   supernet (base 96x128) on CamVid train resized to 96x128 on load, for a wall-time budget
   (default 15 minutes), checkpoint in the cache (skipped when that checkpoint is finished);
2. ``segevo lut build --space tiny --base-hw 96x128 --dataset camvid:DATA --device cpu
   --threads 1``: the CPU latency table, in the cache (reused when complete);
3. ``segevo run --config WORK/run.toml --run-dir WORK/run``: a random search (distinct random
   architectures, the first two the smallest and the largest) of the ``mosegnas`` problem on
   that checkpoint and table; each evaluation is Algorithm 2: inherited weights,
   batch-norm recalibrated on ``--calib-batches`` training batches of 8, mIoU on the first
   ``--val-images`` CamVid val images (labels at full resolution); ``measure_latency``
   off. It runs until its budget or ``--eval-minutes`` (then SIGINT: a clean stop); an
   interrupted run is resumed with ``segevo run --resume``;
4. every ``--export-every`` archived rows and at the end, ``segevo archive export WORK/run
   -o WORK/archive.csv``, turned into the table: the canonical architecture
   (``space.repair``), one row per distinct one (the first evaluation), ``acc`` = mIoU,
   ``lat_ms`` = the table's prediction (``LatencyTable.predict``). Written atomically, so a
   reader never sees a half-written file.

Usage (about 15 + 25 minutes; WORK defaults to ``$SEGEVO_CACHE/camvid-table``)::

    python benchmarks/make_camvid_table.py
    python benchmarks/make_camvid_table.py --train-minutes 1 --eval-minutes 2 --val-images 8 \\
        --work /tmp/camvid-smoke --out /tmp/camvid-smoke/table.csv   # a smoke test

The numbers of a run (steps, wall times, rows) go to ``WORK/table_meta.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CAMVID = ROOT.parent / "shared" / "data" / "camvid"
DEFAULT_OUT = ROOT / "benchmarks" / "data" / "camvid_tiny_table.csv"
BASE_HW = (96, 128)
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("SEGEVO_CAMVID", DEFAULT_CAMVID))
    )
    parser.add_argument("--train-minutes", type=float, default=15.0)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--evaluations", type=int, default=1000, help="random search budget")
    parser.add_argument("--eval-minutes", type=float, default=25.0, help="stop the search then")
    parser.add_argument("--val-images", type=int, default=40)
    parser.add_argument("--calib-batches", type=int, default=2)
    parser.add_argument("--calib-batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--export-every", type=int, default=100, help="rows between exports")
    parser.add_argument("--poll-s", type=float, default=20.0)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def segevo(*args: str) -> list[str]:
    return [sys.executable, "-m", "segevo.cli.main", *args]


def run_logged(command: list[str], log_path: Path) -> None:
    log(" ".join(command) + f"  (log: {log_path})")
    with open(log_path, "a") as handle:
        subprocess.run(command, check=True, stdout=handle, stderr=subprocess.STDOUT, env=_env())


def _env() -> dict[str, str]:
    return {**os.environ, **ONE_THREAD}


# --------------------------------------------------------------------------- 1. supernet


def train_settings(args: argparse.Namespace, dataset: str) -> dict[str, Any]:
    return {
        "space": "tiny",
        "space_options": {"base_hw": list(BASE_HW)},
        "dataset": dataset,
        "dataset_options": {},
        "data_size": list(BASE_HW),
        "batch_size": args.batch_size,
        "steps": None,
        "time_budget_s": args.train_minutes * 60.0,
        "lr": args.lr,
        "checkpoint_interval_s": 120.0,
        "seed": args.seed,
        "num_threads": 1,
        "num_workers": 0,
        "device": "cpu",
    }


def ensure_supernet(args: argparse.Namespace, work: Path, dataset: str) -> tuple[Path, dict]:
    from segevo.engine.problems.mosegnas import supernet_cache_dir
    from segevo.nets.train import TrainConfig, load_checkpoint

    settings = train_settings(args, dataset)
    config_path = work / "train.json"
    config_path.write_text(json.dumps(settings, indent=2) + "\n")
    checkpoint = supernet_cache_dir(TrainConfig.from_dict(settings)) / "last.pt"
    started = time.time()
    if not (checkpoint.is_file() and load_checkpoint(checkpoint).get("finished")):
        run_logged(
            segevo(
                "supernet", "train", "--config", str(config_path), "--threads", "1",
                "--device", "cpu",
            ),
            work / "train.log",
        )  # fmt: skip
    payload = load_checkpoint(checkpoint)
    info = {
        "checkpoint": str(checkpoint),
        "steps": int(payload.get("step", -1)),
        "elapsed_s": float(payload.get("elapsed_s", float("nan"))),
        "finished": bool(payload.get("finished")),
        "this_call_s": time.time() - started,
    }
    log(f"supernet {checkpoint}: {info['steps']} steps")
    return checkpoint, info


# --------------------------------------------------------------------------- 2. latency table


def ensure_lut(args: argparse.Namespace, work: Path, dataset: str) -> tuple[Path, dict]:
    from segevo.devices import get_device, partial_path
    from segevo.engine.problems.mosegnas import lut_cache_path
    from segevo.nets.space import get_space

    space = get_space("tiny", base_hw=BASE_HW)
    target = lut_cache_path(space, 11, get_device("cpu", threads=1), None)
    started = time.time()
    if not target.is_file() or partial_path(target).exists():
        run_logged(
            segevo(
                "lut", "build", "--space", "tiny", "--base-hw", "x".join(map(str, BASE_HW)),
                "--dataset", dataset, "--device", "cpu", "--threads", "1", "-o", str(target),
            ),
            work / "lut.log",
        )  # fmt: skip
    log(f"latency table {target}")
    return target, {"lut": str(target), "this_call_s": time.time() - started}


# --------------------------------------------------------------------------- 3. the search


def toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)  # bool, int, float, str (JSON strings are TOML basic strings)


def run_settings(args: argparse.Namespace, dataset: str, supernet: Path, lut: Path) -> dict:
    return {
        "problem": "mosegnas",
        "strategy": "random",
        "evaluations": args.evaluations,
        "initial": 20,
        "batch": 8,
        "evaluators": 1,
        "seed": args.seed,
        "problem_options": {
            "supernet": str(supernet),
            "lut": str(lut),
            "space": "tiny",
            "space_options": {"base_hw": list(BASE_HW)},
            "dataset": dataset,
            "dataset_options": {},
            "device": "cpu",
            "device_options": {"threads": 1},
            "measure_latency": False,
            "calib_batches": args.calib_batches,
            "calib_batch_size": args.calib_batch_size,
            "val_images": args.val_images,
            "threads": 1,
            "seed": args.seed,
        },
    }


def write_toml(path: Path, settings: dict[str, Any]) -> None:
    lines = [f"{k} = {toml_value(v)}" for k, v in settings.items() if k != "problem_options"]
    lines.append("")
    lines.append("[problem_options]")
    lines += [f"{k} = {toml_value(v)}" for k, v in settings["problem_options"].items()]
    path.write_text("\n".join(lines) + "\n")


def archived_rows(run_dir: Path) -> int:
    from segevo.engine.archive import open_archive

    try:
        return len(open_archive(run_dir))
    except Exception:  # not created yet, or mid-creation
        return 0


def search(args: argparse.Namespace, work: Path, settings: dict, lut: Path) -> dict:
    run_dir = work / "run"
    toml_path = work / "run.toml"
    write_toml(toml_path, settings)
    if (run_dir / "config.json").is_file():
        command = segevo("run", "--resume", str(run_dir))
    else:
        command = segevo("run", "--config", str(toml_path), "--run-dir", str(run_dir))
    log(" ".join(command) + f"  (log: {work / 'run.log'})")
    started = time.time()
    deadline = started + args.eval_minutes * 60.0
    next_export = max(args.export_every, archived_rows(run_dir) + 1)
    stopped = False
    with open(work / "run.log", "a") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=_env())
        try:
            while process.poll() is None:
                time.sleep(args.poll_s)
                rows = archived_rows(run_dir)
                if rows >= next_export:
                    written = export_table(run_dir, work, lut, args.out)
                    log(f"{rows} evaluations archived; {written} rows in {args.out}")
                    next_export = (rows // args.export_every + 1) * args.export_every
                if not stopped and time.time() > deadline:
                    log(f"{args.eval_minutes:g} min of search: stopping it (SIGINT)")
                    process.send_signal(signal.SIGINT)
                    stopped = True
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=300)
    return {
        "run_dir": str(run_dir),
        "returncode": process.returncode,
        "stopped_at_deadline": stopped,
        "this_call_s": time.time() - started,
    }


# --------------------------------------------------------------------------- 4. the table


def export_table(run_dir: Path, work: Path, lut: Path, out: Path) -> int:
    """Export the archive so far with ``segevo archive export`` and write the table."""
    from segevo.devices import load_lut
    from segevo.nets.space import get_space

    space = get_space("tiny", base_hw=BASE_HW)
    names = [f"x{j}" for j in range(space.n_var)]
    raw = work / "archive.csv"
    done = subprocess.run(
        segevo("archive", "export", str(run_dir), "-o", str(raw)),
        env=_env(),
        capture_output=True,
        text=True,
    )
    if done.returncode == 0:
        with open(raw, newline="") as handle:
            records = list(csv.DictReader(handle))
        X = np.array([[int(r[n]) for n in names] for r in records], dtype=np.int64)
        acc = np.array([float(r["acc"]) for r in records], dtype=np.float64)
    else:  # read the committed rows with the public API instead, and say why
        from segevo.engine.archive import open_archive

        log(f"segevo archive export failed (rc {done.returncode}): {done.stderr.strip()[-500:]}")
        data = open_archive(run_dir)
        X = np.asarray(data["x"], dtype=np.int64)
        acc = np.asarray(data["acc"], dtype=np.float64)
    keep = np.isfinite(acc)
    X, acc = space.repair(X.reshape(-1, space.n_var)[keep]), acc[keep]
    _, first = np.unique(X, axis=0, return_index=True)
    first = np.sort(first)  # evaluation order
    X, acc = X[first], acc[first]
    lat = load_lut(lut, space).predict(X) if len(X) else np.zeros(0)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*names, "acc", "lat_ms"])
        for row, a, t in zip(X.tolist(), acc.tolist(), lat.tolist(), strict=True):
            writer.writerow([*row, f"{a:.6f}", f"{t:.4f}"])
    os.replace(tmp, out)
    return len(X)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from segevo.engine.problems.mosegnas import canonical_dataset
    from segevo.nets.paths import cache_dir

    work = args.work or cache_dir() / "camvid-table"
    work.mkdir(parents=True, exist_ok=True)
    dataset = canonical_dataset(f"camvid:{args.data}")
    started = time.time()
    supernet, train_info = ensure_supernet(args, work, dataset)
    lut, lut_info = ensure_lut(args, work, dataset)
    settings = run_settings(args, dataset, supernet, lut)
    search_info = search(args, work, settings, lut)
    rows = export_table(Path(search_info["run_dir"]), work, lut, args.out)
    with open(args.out, newline="") as handle:
        acc = np.array([float(r["acc"]) for r in csv.DictReader(handle)])
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.platform()}",
        "python": platform.python_version(),
        "torch": __import__("torch").__version__,
        "train": {**train_settings(args, dataset), **train_info},
        "lut": lut_info,
        "run": {**settings, **search_info, "archived": archived_rows(work / "run")},
        "table": {
            "path": str(args.out),
            "rows": rows,
            "acc_min": float(acc.min()) if rows else None,
            "acc_max": float(acc.max()) if rows else None,
            "acc_median": float(np.median(acc)) if rows else None,
        },
        "total_s": time.time() - started,
    }
    (work / "table_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    log(f"{rows} rows, mIoU {meta['table']['acc_min']}..{meta['table']['acc_max']} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
