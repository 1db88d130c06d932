"""Pareto and K-S kernels, re-exported from :mod:`segevo._core`.

New code imports them from ``segevo._core`` directly; this module stays only for callers
written while the core was being built.
"""

from __future__ import annotations

from segevo._core import (
    crowding_distance,
    first_front,
    hypervolume_2d,
    ks_statistic,
    ks_subset_select,
    nondominated_rank,
)

__all__ = [
    "crowding_distance",
    "first_front",
    "hypervolume_2d",
    "ks_statistic",
    "ks_subset_select",
    "nondominated_rank",
]
