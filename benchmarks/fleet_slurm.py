"""A Slurm fleet at scale on one machine: submit, attach, pre-empt, finish, lose nothing.

Starts a single-node Slurm (Debian's ``slurm-wlm``: slurmctld + slurmd, ``auth/none``,
state in a temporary folder, free ports; the same cluster as
tests/engine/test_fleet_launchers.py), a coordinator with no local evaluator, and
``segevo fleet RUN_DIR --executor slurm --workers N`` (one job array). When half the
budget is archived, ``--preempt K`` jobs get Slurm's pre-emption warning (SIGUSR2):
submitit requeues them and their leases go back to the queue. Then it checks that the run
reached its budget with every task archived once, and prints timings as JSON.

    apt-get install -y slurm-wlm                       # once (Debian/Ubuntu)
    python benchmarks/fleet_slurm.py                   # 16 workers, 400 evaluations
    python benchmarks/fleet_slurm.py --workers 32 --evaluations 800 --preempt 4

Exit code 0 when every check passes.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "engine"))

from fleet_helpers import single_node_slurm, slurm_available  # noqa: E402
from support import (  # noqa: E402
    assert_exactly_once,
    child_env,
    committed_rows,
    endpoint_of,
    events,
    stop,
    wait_for,
    write_table,
    write_toml,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--evaluations", type=int, default=400)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds per evaluation")
    parser.add_argument("--preempt", type=int, default=2, help="jobs pre-empted mid-run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not slurm_available():
        print("error: Slurm is not installed; `apt-get install -y slurm-wlm`", file=sys.stderr)
        return 1
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="segevo-fleet-bench-"))
    write_table(work / "t.csv", (6, 6, 6, 6))
    config = write_toml(
        work / "run.toml",
        {
            "problem": "engine_helpers:delayed_table",
            "problem_options": {"path": str(work / "t.csv"), "delay_s": args.delay},
            "strategy": "random",
            "initial": 16,
            "batch": 16,
            "evaluations": args.evaluations,
            "evaluators": 0,
            "lease_s": 10.0,
            "heartbeat_s": 2.0,
        },
    )
    run_dir = work / "run"
    env = child_env(ROOT / "tests" / "engine")
    report: dict[str, object] = {"workers": args.workers, "evaluations": args.evaluations}
    with single_node_slurm() as slurm_env:
        env.update(slurm_env)
        log = open(work / "run.log", "ab")  # noqa: SIM115
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "segevo.cli.main",
                "run",
                "--config",
                str(config),
                "--run-dir",
                str(run_dir),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda: endpoint_of(run_dir), 120, "the endpoint file")
            t0 = time.monotonic()
            launched = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "segevo.cli.main",
                    "fleet",
                    str(run_dir),
                    "--executor",
                    "slurm",
                    "--workers",
                    str(args.workers),
                    "--json",
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            jobs = json.loads(launched.stdout)
            report["submit_s"] = round(time.monotonic() - t0, 2)

            def connected() -> int:
                return len(
                    {e["evaluator"] for e in events(run_dir) if e["event"] == "evaluator_connected"}
                )

            wait_for(lambda: connected() >= args.workers, 600, "every job to attach", 0.2)
            report["all_attached_s"] = round(time.monotonic() - t0, 2)
            wait_for(lambda: committed_rows(run_dir) >= args.evaluations // 2, 600, "half")
            victims = rng.sample(jobs, min(args.preempt, len(jobs)))
            for victim in victims:
                subprocess.run(["scancel", "--signal=USR2", victim["job_id"]], env=env, check=True)
            report["preempted"] = [v["job_id"] for v in victims]
            if run.wait(1800) != 0:
                raise AssertionError((work / "run.log").read_text()[-3000:])
            report["finish_s"] = round(time.monotonic() - t0, 2)
            subprocess.run(
                [sys.executable, "-m", "segevo.cli.main", "fleet", str(run_dir), "--stop"],
                env=env,
                capture_output=True,
                check=True,
            )
        finally:
            stop(run)
            log.close()
    from segevo.engine.archive import open_archive

    data = open_archive(run_dir)
    assert_exactly_once(data, args.evaluations)
    per_worker = collections.Counter(n.split("@")[0] for n in data.evaluator_names)
    requeued = [task for e in events(run_dir) if e["event"] == "requeued" for task in e["tasks"]]
    ids = data["task_id"].tolist()
    assert all(ids.count(t) == 1 for t in requeued), "a requeued task was lost or doubled"
    report.update(
        {
            "rows_per_worker_min": min(per_worker.values()),
            "rows_per_worker_max": max(per_worker.values()),
            "workers_with_rows": len(per_worker),
            "requeued_tasks": len(requeued),
            "duplicate_task_ids": len(ids) - len(set(ids)),
            "rate_per_s": round(args.evaluations / float(report["finish_s"]), 1),
            "machine_cpus": os.cpu_count(),
        }
    )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
