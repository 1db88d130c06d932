"""A run directory on an S3-compatible store against a local one: throughput and resume.

Starts moto's S3 server on loopback (in this process; the coordinators are child
processes), then for a local folder and for ``s3://BUCKET/bench/...``: one ``segevo run``
of a table problem with instant evaluations (so the archive's writes are what limits the
rate), SIGKILLed once half the budget is committed, then resumed to the budget. Prints
rows per second before the kill, seconds from the resume's start to its first new
commit, rows committed before the kill that the final archive lacks (must be 0), and the
final row count.

    python benchmarks/s3_rundir.py [--evaluations 400]

Needs s3fs and moto[server] (the ``test`` extra).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from s3_support import moto_s3  # noqa: E402

from segevo.engine.archive import open_archive  # noqa: E402
from segevo.engine.location import run_path  # noqa: E402


def write_table(path: Path, radix: tuple[int, ...]) -> Path:
    rng = np.random.default_rng(0)
    X = np.array(list(itertools.product(*(range(r) for r in radix))))
    size = X.sum(axis=1) / sum(r - 1 for r in radix)
    acc = 0.3 + 0.6 * size + rng.normal(0, 0.05, len(X))
    lat = 2.0 + 10.0 * size + rng.uniform(0, 1.0, len(X))
    lines = [",".join([*(f"x{i}" for i in range(len(radix))), "acc", "lat_ms"])]
    lines += [
        ",".join([*map(str, x), f"{a:.6f}", f"{t:.6f}"])
        for x, a, t in zip(X, acc, lat, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def committed(location: str) -> int:
    """``committed_rows`` from the archive's group metadata (one small read)."""
    try:
        meta = json.loads((run_path(location) / "archive.zarr" / "zarr.json").read_text())
    except (OSError, ValueError):
        return 0
    return int(meta.get("attributes", {}).get("committed_rows", 0))


def segevo(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "segevo.cli.main", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait(condition, timeout_s: float, poll_s: float = 0.2) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise TimeoutError("timed out")
        time.sleep(poll_s)
    return time.monotonic() - start


def measure(location: str, table: Path, budget: int, env: dict[str, str], log: Path) -> dict:
    first = segevo(
        "run", "--problem", f"table:{table}", "--strategy", "random", "-n", str(budget),
        "--initial", "8", "--evaluators", "2", "--run-dir", location, env=env, log=log,
    )  # fmt: skip
    start = time.monotonic()
    wait(lambda: committed(location) >= 10, 300)
    t0, n0 = time.monotonic(), committed(location)
    wait(lambda: committed(location) >= budget // 2 or first.poll() is not None, 300)
    t1, n1 = time.monotonic(), committed(location)
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = open_archive(location)
    resume_start = time.monotonic()
    second = segevo("run", "--resume", location, env=env, log=log)
    wait(lambda: committed(location) > len(before), 300)
    first_commit_s = time.monotonic() - resume_start
    code = second.wait(600)
    after = open_archive(location)
    lost = set(before["task_id"].tolist()) - set(after["task_id"].tolist())
    return {
        "location": location.split("://")[0] if "://" in location else "local",
        "rows_per_s": round((n1 - n0) / max(t1 - t0, 1e-9), 1),
        "rows_at_kill": len(before),
        "resume_to_first_commit_s": round(first_commit_s, 2),
        "rows_lost": len(lost),
        "final_rows": len(after),
        "exit_code": code,
        "wall_s": round(time.monotonic() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluations", type=int, default=400)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, moto_s3() as s3:
        folder = Path(scratch)
        table = write_table(folder / "t.csv", (6, 6, 6, 6))
        env = {**os.environ, **s3.env, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        results = [
            measure(str(folder / "run"), table, options.evaluations, env, folder / "log.txt"),
            measure(s3.url("bench", "run"), table, options.evaluations, env, folder / "log.txt"),
        ]
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
