"""Named crash points for fault-injection tests; inert unless ``SEGEVO_CRASH_AT`` is set.

The coordinator calls :func:`crashpoint` at the moments a kill is most dangerous: between
the column writes of an archive append, between the data and the commit, between the
commit and the state save, while a proposal or a surrogate refit runs in its thread,
between staging new tasks and queuing them. With ``SEGEVO_CRASH_AT=NAME`` (or
``NAME:N``) in the environment, the process kills itself with SIGKILL the first (N-th)
time it reaches the point ``NAME``: exactly what ``kill -9`` at that moment would do,
but deterministic. Without the variable a crash point is one comparison against None.

The reliability tests (tests/reliability/) and benchmarks/reliability_crash.py use it
to check that ``segevo run --resume`` loses and repeats nothing whatever the moment.
"""

from __future__ import annotations

import os
import signal
import threading

ENV_VAR = "SEGEVO_CRASH_AT"

POINTS = (
    "archive.column",  # after each column write of an append (rows not committed yet)
    "archive.grow",  # between the resizes of the arrays when the archive grows
    "archive.before_commit",  # every column written, committed_rows not yet updated
    "archive.after_commit",  # committed, the state file not yet saved
    "state.before_rename",  # state.json's replacement written aside, not renamed yet
    "proposal.running",  # a proposal is being computed in its worker thread
    "tasks.staged",  # new tasks made, not yet saved to state.json
    "tasks.saved",  # new tasks saved to state.json, not yet queued
    "refit.running",  # a surrogate refit is being computed in its worker thread
    "surrogate.checkpoint_written",  # a refit's model file written, latest.json not yet
)
"""Every crash point the engine defines (a name not listed here is refused)."""


def _parse(text: str | None) -> tuple[str, int] | None:
    if not text:
        return None
    name, _, count = text.strip().partition(":")
    if name not in POINTS:
        raise ValueError(f"{ENV_VAR}={text!r}: unknown crash point {name!r}; known: {POINTS}")
    try:
        n = int(count) if count else 1
    except ValueError:
        raise ValueError(f"{ENV_VAR}={text!r}: the count after ':' must be an integer") from None
    if n < 1:
        raise ValueError(f"{ENV_VAR}={text!r}: the count must be >= 1")
    return name, n


_TARGET = _parse(os.environ.get(ENV_VAR))
_hits = 0
_lock = threading.Lock()


def crashpoint(name: str) -> None:
    """Kill this process with SIGKILL if ``name`` is the armed crash point (see module doc)."""
    global _hits
    if _TARGET is None or name != _TARGET[0]:
        return
    with _lock:
        _hits += 1
        if _hits == _TARGET[1]:
            os.kill(os.getpid(), signal.SIGKILL)


def armed() -> tuple[str, int] | None:
    """The armed crash point and count, or None (for logs and tests)."""
    return _TARGET
