"""``LatencyTable``: predicted latency of architectures from a latency-table file (Eq. 7).

``predict(X)`` runs ``segevo._core.lut_predict``: one pass over ``X`` reads each Eq. 7 term's
digits and adds its (pre-summed) table value, see :func:`~segevo.devices.plan.predict_terms`.
Without that kernel (a core built before it existed) each architecture becomes a row of entry
indices (stem, every layer slot, tail + decoder; -1 for an inactive layer) with
:class:`~segevo.devices.plan.IndexPlan`, summed by ``lut_sum``. ``indices(X)`` always returns
those rows. No torch import: the engine calls this.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ._lut_sum import fused_available, lut_predict, lut_sum
from .keys import arch_keys
from .lut_file import LUTFileError, LUTRecord, check_space, read_record
from .plan import INVALID_MS, IndexPlan, PredictTerms, predict_terms


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
        try:
            self.plan = IndexPlan(space, record.num_classes, self._entry_of)
        except KeyError as err:
            raise LUTFileError(
                f"latency table {source!r} is incomplete for its space: {err.args[0]}"
            ) from None
        self._values = self.plan.values_with_sentinel(self.latency_ms)
        self.terms: PredictTerms | None = None
        if fused_available():
            self.terms = predict_terms(
                space,
                record.num_classes,
                dict(zip(self.keys, self.latency_ms.tolist(), strict=True)),
            )

    @property
    def num_classes(self) -> int:
        """Output classes of the decoder the table was measured with."""
        return self.record.num_classes

    @property
    def device(self) -> dict[str, Any]:
        """Identity of the device the table was measured on."""
        return self.record.device

    @property
    def sum_table(self) -> np.ndarray:
        """The value array ``lut_sum`` gathers from: ``latency_ms`` plus the invalid marker."""
        return self._values

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

    def predict(self, X: Any, *, strict: bool = False) -> np.ndarray:
        """Predicted latency in ms (float64 ``[n]``) of each architecture of ``X``.

        Digits outside their bounds raise ValueError naming the row and digit. Layers count as
        active by their expand digit (0 = absent), which agrees with the depth digit for the
        canonical vectors ``space.repair`` and ``space.sample`` give; ``strict=True`` checks the
        canonical form with ``space.validate`` first.
        """
        arr = self.plan.as_matrix(X)
        if strict:
            self.space.validate(arr)
        if arr.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        if self.terms is not None:
            return lut_predict(arr, self.terms.native_args())
        return self.predict_indexed(arr)

    def predict_indexed(self, X: Any) -> np.ndarray:
        """:meth:`predict` through index rows and ``lut_sum`` (the path without the fused
        kernel; kept to compare against it). No canonical-form check."""
        arr = self.plan.as_matrix(X)
        if arr.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        words = self.plan.fill_all(arr)
        out = lut_sum(self.plan.as_indices(words), self._values)
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
