"""``python -m segevo.nets.train [--config FILE.json] [--set KEY=JSON ...]`` (torchrun-able).

The library entry point for launchers that run a module (torchrun, SLURM scripts): progress
goes to stderr as a plain line every ``--every`` seconds (no terminal drawing; the ``segevo``
command line draws its own). On rank 0 the result is one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from segevo.nets.training.config import TrainConfig, TrainProgress
from segevo.nets.training.supernet_loop import train_supernet


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


class ProgressLines:
    """A progress callback that prints a line at most every ``every_s`` seconds (and the last)."""

    def __init__(self, every_s: float = 10.0) -> None:
        self.every_s = every_s
        self._last = -float("inf")

    def __call__(self, state: TrainProgress) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s and state.progress < 1.0:
            return
        self._last = now
        print(
            f"supernet {100 * state.progress:5.1f}%  step {state.step}  loss {state.loss:.4f}  "
            f"lr {state.lr:.2e}  {state.phase}  {state.images_per_s:.1f} img/s",
            file=sys.stderr,
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    """Train a supernet from a JSON config (and ``--set`` overrides); see the module docstring."""
    parser = argparse.ArgumentParser(description="Train a segevo supernet (torchrun-able).")
    parser.add_argument("--config", type=Path, help="JSON file of TrainConfig fields")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one field (JSON value)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--every", type=float, default=10.0, help="seconds between progress lines (default 10)"
    )
    args = parser.parse_args(argv)
    values: dict[str, Any] = json.loads(args.config.read_text()) if args.config else {}
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep:
            parser.error(f"--set needs KEY=VALUE, got {item!r}")
        values[key] = _parse_value(text)
    try:
        config = TrainConfig.from_dict(values)
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    result = train_supernet(config, progress=None if args.quiet else ProgressLines(args.every))
    if int(os.environ.get("RANK", "0")) == 0:
        print(
            json.dumps(
                {
                    "checkpoint": str(result.checkpoint) if result.checkpoint else None,
                    "steps": result.steps,
                    "elapsed_s": round(result.elapsed_s, 3),
                    "final_loss": result.final_loss,
                }
            )
        )
    return 0
