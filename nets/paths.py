"""Where segevo keeps what it can reuse between runs (trained supernets, latency tables)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The cache folder: ``$SEGEVO_CACHE``, else ``$XDG_CACHE_HOME/segevo``, else ``~/.cache/segevo``.

    The folder is created on first use.
    """
    explicit = os.environ.get("SEGEVO_CACHE")
    if explicit:
        path = Path(explicit)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        path = (Path(xdg) if xdg else Path.home() / ".cache") / "segevo"
    path.mkdir(parents=True, exist_ok=True)
    return path
