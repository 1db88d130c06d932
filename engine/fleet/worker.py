"""The callable submitit runs in each fleet job: one ``segevo evaluator`` process.

It is checkpointable in submitit's sense: when Slurm warns a job of its time limit or of
pre-emption (``SIGUSR2``), submitit calls :meth:`EvaluatorJob.checkpoint` and requeues
the job, which then attaches again. Nothing is lost meanwhile: the evaluator's leases
go back to the coordinator's queue when its connection drops, as for any evaluator.

This module is imported inside the jobs, so it imports nothing heavy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any


class EvaluatorExited(RuntimeError):
    """The evaluator process of a fleet job exited with a non-zero code."""


def _child_setup() -> None:  # pragma: no cover - runs in the forked child
    # submitit's SIGUSR2 handler (checkpoint and requeue) lives in the parent: the
    # evaluator ignores the signal rather than dying of it first.
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        # The evaluator dies with its job process, even one killed by SIGKILL.
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class EvaluatorJob:
    """Run ``argv`` (a ``segevo evaluator`` command line) to its end."""

    def __init__(self, argv: list[str], name: str) -> None:
        self.argv = list(argv)
        self.name = name

    def __call__(self) -> str:
        print(
            f"fleet worker {self.name} {environment_summary()}: {' '.join(self.argv)}", flush=True
        )
        process = subprocess.Popen(self.argv, preexec_fn=_child_setup)
        try:
            code = process.wait()
        finally:
            # Cancelled, pre-empted or requeued: the evaluator goes with us (its leases
            # are re-queued by the coordinator as soon as the connection closes).
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(0.8)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if code != 0:
            raise EvaluatorExited(
                f"segevo evaluator ({self.name}) exited with code {code}; its log is this "
                "job's output"
            )
        return f"{self.name}: the evaluator finished (exit code 0)"

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Requeue as it is: the run's state lives in the coordinator, not here."""
        import submitit

        return submitit.helpers.DelayedSubmission(EvaluatorJob(self.argv, self.name))


def environment_summary() -> dict[str, str]:
    """What a job sees of its allocation (for logs and tests)."""
    keys = ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", "SLURM_ARRAY_TASK_ID", "SUBMITIT_EXECUTOR")
    return {key: os.environ[key] for key in keys if key in os.environ}


__all__ = ["EvaluatorExited", "EvaluatorJob", "environment_summary"]
