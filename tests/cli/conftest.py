"""The shrunken quick start, run once per session in a subprocess and shared by the tests."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_helpers import segevo
from support import write_toml

# The quick start (no problem named, so `segevo run`'s defaults apply) with every size
# turned down: a 3-step supernet, a one-repeat latency table, 8 evaluations.
SMALL_QUICK_START = {
    "evaluations": 8,
    "initial": 4,
    "batch": 2,
    "seed": 1,
    "moea_options": {"pop_size": 16, "n_gen": 10},
    "problem_options": {
        "calib_batches": 1,
        "calib_batch_size": 4,
        "val_images": 6,
        "train": {"steps": 3, "batch_size": 4, "num_threads": 1},
        "lut_protocol": {
            "warmup": 0,
            "min_repeats": 1,
            "max_repeats": 1,
            "budget_s": 0.001,
            "retries": 0,
        },
        "measure_latency": True,
        "device_options": {"threads": 1, "warmup": 0, "min_repeats": 2, "budget_s": 0.001},
    },
}


@dataclass(frozen=True)
class QuickRun:
    """Where the shrunken quick start ran and what it printed."""

    root: Path
    cache: Path
    config: Path
    run_dir: Path
    process: CompletedProcess[str]
    elapsed_s: float


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    root = tmp_path_factory.mktemp("quick")
    cache = root / "cache"
    config = write_toml(root / "small.toml", SMALL_QUICK_START)
    start = time.perf_counter()
    process = segevo(
        "run", "--config", str(config), "--run-dir", str(root / "run"), SEGEVO_CACHE=str(cache)
    )
    elapsed = time.perf_counter() - start
    if process.returncode != 0:
        pytest.fail(
            f"the quick start failed ({process.returncode}):\n{process.stdout}\n{process.stderr}"
        )
    return QuickRun(root, cache, config, root / "run", process, elapsed)
