"""The learning-rate schedule, the progressive-shrinking phase and sub-network input sizes."""

from __future__ import annotations

from typing import Any

import numpy as np

from segevo.nets.space import SearchSpace


def poly_lr(base_lr: float, progress: float, power: float) -> float:
    """The poly schedule: ``base_lr * (1 - progress) ** power`` (progress clipped to [0, 1])."""
    return base_lr * (1.0 - min(max(progress, 0.0), 1.0)) ** power


def phase_at(progress: float, phases: tuple[tuple[str, float], ...]) -> str:
    """The sampling phase active at ``progress`` (the last one whose start has passed)."""
    current = phases[0][0]
    for name, start in phases:
        if progress >= start:
            current = name
    return current


def run_fraction(step: int, elapsed_s: float, config: Any) -> float:
    """How far a run is: the larger of the step and time fractions its config bounds."""
    parts = []
    if config.steps is not None:
        parts.append(step / config.steps)
    if config.time_budget_s is not None:
        parts.append(elapsed_s / config.time_budget_s)
    return max(parts)


def subnet_input_hw(space: SearchSpace, x: np.ndarray, crop_hw: tuple[int, int]) -> tuple[int, int]:
    """The crop's size at the sub-network's input scale (e.g. 0.5 x crop for scale 0.5)."""
    arch = space.decode(x)
    scale = float(getattr(arch, "scale", 1.0))
    return max(1, round(crop_hw[0] * scale)), max(1, round(crop_hw[1] * scale))
