"""Small helpers every ``segevo`` command shares: output, logging, parsing, exiting."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import click
import numpy as np


def interactive() -> bool:
    """Whether progress may be drawn live (stderr is a terminal and not a dumb one)."""
    return sys.stderr.isatty() and os.environ.get("TERM", "") != "dumb"


def setup_logging(verbose: int) -> None:
    """Log to stderr: warnings by default, info with -v, debug with -vv."""
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def note(message: str) -> None:
    """A progress or status line for the person watching (stderr, so stdout stays data)."""
    click.echo(message, err=True)


def finish_process(code: int) -> None:
    """Exit with ``code`` without waiting for an abandoned worker thread (a fit, a proposal)."""
    busy = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if busy:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    sys.exit(code)


def parse_arch(text: str) -> np.ndarray:
    """An architecture vector from ``"1,0,2,..."`` or ``"[1, 0, 2, ...]"``."""
    cleaned = text.strip().strip("[]()")
    try:
        values = [int(part) for part in cleaned.replace(",", " ").split()]
    except ValueError:
        raise click.BadParameter(
            f"expected integers separated by commas, e.g. 2,1,0,..., got {text!r}"
        ) from None
    if not values:
        raise click.BadParameter("the architecture vector is empty")
    return np.asarray(values, dtype=np.int64)


def format_arch(x: Any) -> str:
    """An architecture vector as compact text (``2,1,0,...``), as ``--x`` accepts it."""
    return ",".join(str(int(v)) for v in np.asarray(x).ravel())


def write_json(path: Path | None, data: Any) -> None:
    """JSON to ``path`` (or stdout when None), NaN written as null."""
    text = json.dumps(_plain(data), indent=2) + "\n"
    if path is None:
        click.echo(text, nl=False)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value
