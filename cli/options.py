"""Click options several commands share: search space, data set, device."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def parse_hw(text: str | None) -> list[int] | None:
    """``"48x64"`` -> ``[48, 64]`` (height x width)."""
    if text is None:
        return None
    parts = text.lower().replace(",", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 2 or min(values) < 1:
        raise click.BadParameter(f"expected HEIGHTxWIDTH such as 48x64, got {text!r}")
    return values


def space_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--space NAME`` and ``--base-hw HxW``."""
    function = click.option(
        "--base-hw",
        help="the space's base input resolution HEIGHTxWIDTH (default: the preset's)",
    )(function)
    return click.option(
        "--space", default="tiny", show_default=True, help="search space: tiny or r50"
    )(function)


def dataset_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--dataset SPEC`` and ``--data-size HxW``."""
    function = click.option(
        "--data-size", help="resize every image on load to HEIGHTxWIDTH (default: as stored)"
    )(function)
    return click.option(
        "--dataset",
        default="synthetic",
        show_default=True,
        help="synthetic, camvid:PATH, cityscapes:PATH, voc:PATH or cocostuff:PATH",
    )(function)


def device_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--device NAME`` and ``--threads N``."""
    function = click.option(
        "--threads",
        type=int,
        default=1,
        show_default=True,
        help="CPU threads a measurement uses (cpu and ort-cpu devices)",
    )(function)
    return click.option(
        "--device", default="cpu", show_default=True, help="cpu, cuda[:i], ort-cpu or ort-cuda[:i]"
    )(function)


def space_option_dict(base_hw: str | None) -> dict[str, Any]:
    """The space options the flags give."""
    hw = parse_hw(base_hw)
    return {"base_hw": hw} if hw else {}


def dataset_option_dict(data_size: str | None) -> dict[str, Any]:
    """The data-set options the flags give."""
    hw = parse_hw(data_size)
    return {"size": hw} if hw else {}


def device_option_dict(device: str, threads: int | None) -> dict[str, Any]:
    """The device options the flags give (threads only for the CPU devices)."""
    if device in ("cpu", "ort-cpu") and threads is not None:
        if threads < 0:
            raise click.BadParameter("must be >= 0 (0: every core)", param_hint="--threads")
        return {"threads": threads}
    return {}
