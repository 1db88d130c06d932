"""Errors a person can act on: one line saying what is wrong and what to do.

:func:`explain` maps the exceptions segevo raises for bad input or a bad environment to a
message and an exit code; anything else is an internal error whose traceback ``--debug``
shows. Exit codes: 1 bad input or environment, 2 command-line usage (click's), 3 a search
that stopped before its budget, 4 a peer that cannot be reached, 130 interrupted.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

EXIT_ERROR = 1
EXIT_UNREACHABLE = 4
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Explained:
    """The one line to print and the exit code."""

    message: str
    code: int = EXIT_ERROR


def _with_hint(message: str, hint: str, *, unless: str | None = None) -> str:
    """``message; hint``, or the message alone when it already says ``unless``."""
    message = message.rstrip().rstrip(".")
    if unless is not None and unless in message:
        return message
    return f"{message}; {hint}"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def explain(exc: BaseException) -> Explained | None:
    """The message and exit code for a known kind of error, None for an unexpected one."""
    from segevo.devices import DeviceUnavailableError, LUTFileError, LUTSpaceMismatchError
    from segevo.engine.archive import ArchiveError
    from segevo.engine.client import EvaluatorGaveUp, QueryError
    from segevo.engine.config import ConfigError
    from segevo.engine.problems.mosegnas import MoSegNASSetupError
    from segevo.engine.rundir import RunDirError
    from segevo.engine.wire import ConnectionDenied

    text = _one_line(exc)
    if isinstance(exc, KeyboardInterrupt):
        return Explained("interrupted", EXIT_INTERRUPTED)
    if isinstance(exc, RunDirError):
        return Explained(
            _with_hint(
                text, "give the folder a `segevo run` made (it holds run.json)", unless="--resume"
            )
        )
    if isinstance(exc, ArchiveError):
        return Explained(
            _with_hint(text, "give a run directory whose archive.zarr a segevo run wrote")
        )
    if isinstance(exc, LUTSpaceMismatchError):
        return Explained(
            _with_hint(
                text,
                "build one with `segevo lut build --space NAME [--base-hw HxW]` or pass the "
                "space the table was built for",
                unless="segevo lut build",
            )
        )
    if isinstance(exc, LUTFileError):
        return Explained(_with_hint(text, "rebuild it with `segevo lut build`", unless="build_lut"))
    if isinstance(exc, DeviceUnavailableError):
        return Explained(_with_hint(text, "choose another --device (cpu always works)"))
    if isinstance(exc, ConnectionDenied):
        return Explained(
            _with_hint(text, "check --token-file: it must be the run's RUN_DIR/token"),
            EXIT_UNREACHABLE,
        )
    if isinstance(exc, EvaluatorGaveUp | QueryError):
        return Explained(
            _with_hint(text, "is the run still going? `segevo status RUN_DIR` tells"),
            EXIT_UNREACHABLE,
        )
    if isinstance(exc, ConnectionRefusedError):
        return Explained(
            f"nothing answers there ({text}): the coordinator is not running (it finished or "
            "died); `segevo status RUN_DIR` reads a stopped run, `segevo run --resume RUN_DIR` "
            "continues it",
            EXIT_UNREACHABLE,
        )
    if isinstance(exc, TimeoutError):
        return Explained(
            f"no answer in time ({text}): check HOST:PORT and that the coordinator runs",
            EXIT_UNREACHABLE,
        )
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return Explained(
            f"the address is already in use ({text}); choose another --listen HOST:PORT "
            "(port 0 picks a free one)"
        )
    if isinstance(exc, FileNotFoundError):
        name = exc.filename or text
        return Explained(f"no such file or folder: {name}; check the path")
    if isinstance(exc, PermissionError):
        return Explained(f"permission denied: {exc.filename or text}; check the path's rights")
    if isinstance(exc, ConfigError | MoSegNASSetupError):
        return Explained(text)
    if isinstance(exc, ValueError):
        return Explained(text)
    if isinstance(exc, OSError):
        return Explained(f"{type(exc).__name__}: {text}")
    return None
