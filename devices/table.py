"""``LatencyTable``: predicted latency of architectures from a latency-table file (Eq. 7).

``predict(X)`` is the table's :class:`~segevo.devices.predictor.LutPredictor` (built once when
the table is loaded): one pass of ``segevo._core.lut_predict`` over ``X`` reads each Eq. 7
term's digits and adds its pre-summed table value, then the table's calibration, if it has
one, turns the sum into the predicted latency. ``indices(X)`` gives each architecture as a
row of entry indices (stem, every layer slot, tail + decoder; -1 for an inactive layer) with
:class:`~segevo.devices.plan.IndexPlan`, and ``predict_indexed`` sums those rows with
``_core.lut_sum``: a second, independent path kept to check the first. No torch import: the
engine calls this.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from segevo._core import lut_sum

from .calibration import Calibration
from .keys import arch_keys
from .lut_file import LUTFileError, LUTRecord, check_space, read_record
from .plan import INVALID_MS, IndexPlan, PredictTerms
from .predictor import LutPredictor


class LatencyTable:
    """A complete latency table bound to its search space.

    ``keys`` (sorted) and ``latency_ms`` (the file's statistic, by default the median) are the
    table; ``device`` is the identity of the device it was measured on.
    """

    def __init__(self, space: Any, record: LUTRecord, *, source: str = "<memory>") -> None:
        check_space(record, space, source)
        if not record.complete:
            raise LUTFileError(
                f"latency table {source!r} is a partial build ({len(record.entries)} of "
                f"{record.expected_entries} entries); resume it with build_lut(...)"
            )
        self.space = space
        self.record = record
        self.source = source
        self.keys = sorted(record.entries)
        self._entry_of = {key: i for i, key in enumerate(self.keys)}
        self.latency_ms = np.array(
            [getattr(record.entries[k].measurement, record.statistic) for k in self.keys],
            dtype=np.float64,
        )
        latency = dict(zip(self.keys, self.latency_ms.tolist(), strict=True))
        try:
            self.predictor = LutPredictor.from_latencies(
                space, record.num_classes, latency, calibration=record.calibration
            )
        except KeyError as err:
            raise LUTFileError(
                f"latency table {source!r} is incomplete for its space: {err.args[0]}"
            ) from None

    @property
    def terms(self) -> PredictTerms:
        """The fused kernel's terms (see :class:`~segevo.devices.plan.PredictTerms`)."""
        return self.predictor.terms

    @property
    def calibration(self) -> Calibration | None:
        """The line from table sums to whole-network latency, when the file has one."""
        return self.predictor.calibration

    @cached_property
    def plan(self) -> IndexPlan:
        """Architectures -> rows of entry indices (built on first use)."""
        return IndexPlan(self.space, self.record.num_classes, self._entry_of)

    @property
    def num_classes(self) -> int:
        """Output classes of the decoder the table was measured with."""
        return self.record.num_classes

    @property
    def device(self) -> dict[str, Any]:
        """Identity of the device the table was measured on."""
        return self.record.device

    @cached_property
    def sum_table(self) -> np.ndarray:
        """The value array ``lut_sum`` gathers from: ``latency_ms`` plus the invalid marker."""
        return self.plan.values_with_sentinel(self.latency_ms)

    def __len__(self) -> int:
        return len(self.keys)

    def entry_ms(self, key: str) -> float:
        """The table's latency for one key (KeyError naming it when absent)."""
        try:
            return float(self.latency_ms[self._entry_of[key]])
        except KeyError:
            raise KeyError(f"no latency-table entry {key!r}") from None

    def indices(self, X: Any) -> np.ndarray:
        """Entry indices ``[n, n_slots]`` (-1 absent); slot labels in ``plan.slot_labels``."""
        return self.plan.indices(X)

    def predict(self, X: Any, *, strict: bool = False, calibrated: bool = True) -> np.ndarray:
        """Predicted latency in ms (float64 ``[n]``) of each architecture of ``X``.

        The sum of the architecture's table entries, through the table's calibration when it
        has one (``calibrated=False``: the plain sum). Digits outside their bounds raise
        ValueError naming the row and digit. Layers count as active by their expand digit
        (0 = absent), which agrees with the depth digit for the canonical vectors
        ``space.repair`` and ``space.sample`` give; ``strict=True`` checks the canonical form
        with ``space.validate`` first.
        """
        if strict:
            self.space.validate(self.plan.as_matrix(X))
        return self.predictor.predict(X, calibrated=calibrated)

    def predict_indexed(self, X: Any) -> np.ndarray:
        """The plain sums of :meth:`predict` (``calibrated=False``) through index rows and
        ``lut_sum``, an independent path kept to check the fused kernel. No canonical-form
        check."""
        arr = self.plan.as_matrix(X)
        if arr.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        words = self.plan.fill_all(arr)
        out = np.asarray(lut_sum(self.plan.as_indices(words), self.sum_table), dtype=np.float64)
        if out.max() >= INVALID_MS:
            row = int(np.argmax(out >= INVALID_MS))
            self.plan.check_bounds(arr[row : row + 1], row)
            raise RuntimeError(f"row {row}: in bounds, yet the index plan marked it invalid")
        return out

    def breakdown(self, x: Any) -> list[tuple[str, float]]:
        """``(key, ms)`` of every term of Eq. 7 for one architecture, in network order."""
        arch = self.space.decode(np.asarray(x))
        return [(key, self.entry_ms(key)) for key in arch_keys(arch, self.num_classes)]


def load_lut(path: str | os.PathLike[str], space: Any) -> LatencyTable:
    """Load a complete latency table for ``space``.

    Refuses (LUTSpaceMismatchError) a table built for a space with another digest, naming both;
    a missing, truncated or corrupt file raises LUTFileError naming the file and the problem.
    """
    source = str(Path(path))
    return LatencyTable(space, read_record(path), source=source)
