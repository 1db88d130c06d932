"""Protocol fuzzing, the long version of tests/reliability/test_protocol_fuzz.py.

Runs that module's hypothesis tests against a live coordinator process with
``--examples`` examples per kind of hostile input (the tests use 60), then prints what
was sent and what came of it: hostile connections, ``refused`` events (one each),
unexpected session errors (none), the good evaluator's rows during the attack and its
longest pause, and the coordinator's resident memory before and after.

    python benchmarks/reliability_fuzz.py --examples 1000

Exit code 0 when every test passed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000, help="examples per input kind")
    parser.add_argument("--json", action="store_true", help="print the report as JSON only")
    args = parser.parse_args(argv)
    if args.examples < 1:
        parser.error("--examples must be >= 1")
    with tempfile.TemporaryDirectory(prefix="segevo-fuzz-") as tmp:
        report_path = Path(tmp) / "report.json"
        env = dict(
            os.environ,
            SEGEVO_FUZZ_EXAMPLES=str(args.examples),
            SEGEVO_FUZZ_REPORT=str(report_path),
        )
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                str(ROOT / "tests" / "reliability" / "test_protocol_fuzz.py"),
                "-q",
                "-p",
                "no:cacheprovider",
                "--basetemp",
                str(Path(tmp) / "pytest"),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
    report.update(
        ok=done.returncode == 0,
        examples_per_kind=args.examples,
        wall_s=round(time.monotonic() - started, 1),
        pytest=done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "",
    )
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>36}: {value}")
        if not report["ok"]:
            print(done.stdout[-4000:])
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
