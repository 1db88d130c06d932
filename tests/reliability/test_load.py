"""Load, the short version of benchmarks/reliability_load.py (which runs 60 s).

32 evaluator connections and 8 query clients against one coordinator process for a few
seconds: every result delivered is archived exactly once with its true values, no
lease is stuck, every lease returns when the evaluators leave, and every task ever
created is archived, pending or abandoned after a SIGTERM stop.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relhelpers import subprocess_env

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "reliability_load.py"


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for the coordinator's memory")
def test_32_evaluators_and_8_clients_lose_nothing(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--duration", "6", "--json", "--run-dir", str(tmp_path)],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.stdout.strip(), done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    checks = report["checks"]
    assert report["ok"] and done.returncode == 0, json.dumps(report, indent=1)
    assert checks["results_lost"] == checks["duplicates_in_archive"] == 0
    assert checks["stuck_leases"] == checks["leased_after_leaving"] == 0
    assert checks["idle_evaluators"] == checks["idle_clients"] == 0
    # 32 evaluators of ~100 ms each: a few hundred results even on a busy machine.
    assert report["evaluations"] >= 300
    assert report["dispatch_latency"]["n"] >= report["evaluations"]
    assert report["status_samples"] >= 5
    for q in ("status", "front", "rows"):
        assert report["query_latency"][q]["n"] >= 8
    assert report["coordinator_peak_rss_mib"] < 1024
