"""From architecture vectors to rows of latency-table indices, vectorised (paper Eq. 7).

Every term of Eq. 7 (the stem, each bottleneck layer, the tail + decoder) is an *item* whose
table entry depends on a handful of digits only:

- stem: input scale, stem depth, stem width;
- layer ``j`` of stage ``s``: input scale, the stage's width, the layer's expand digit and,
  for the first layer, the width feeding the stage (the previous stage's, or the stem's);
  ``e = 0`` means the layer is absent (index -1);
- tail + decoder: input scale and the widths of the last three stages (the features it reads).

Items are packed, in order, into *words* of as many slots as fit in 64 bits at the index
dtype (four int16 slots, two int32 slots). A word's table is indexed by the mixed-radix code of
the union of its items' digits and holds the entry index of every slot, so one gather of an
int64 per word and per architecture writes four indices at once. Digits are read from a
transposed int16 copy of each chunk of ``X``, so every arithmetic step runs on contiguous rows.

The item maps (digit values -> table key) are read off ``space.decode`` of representative
vectors, i.e. from the same ``ArchConfig`` that the networks are built from; the test suite
checks the result against a plain per-architecture sum over ``decode(x)``.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from segevo.nets.arch import ArchConfig

from .keys import decoder_key, layer_key, stem_key

CHUNK_ROWS = 16384
MAX_WORD_ROWS = 1 << 18  # codes per word (< 2**24 keeps float32 codes exact)


class UnsupportedSpaceError(ValueError):
    """The space is not of the staged-bottleneck family that latency tables describe."""


@dataclass(frozen=True)
class Item:
    """One term of Eq. 7: which digits select its entry, and how to read its key off a decode."""

    label: str
    digits: tuple[int, ...]
    key_of: Callable[[ArchConfig], str]
    active: Callable[[Mapping[int, int]], bool]


def _require_resnet_layout(space: Any) -> None:
    needed = ("n_stages", "stage_digits", "base_depths", "max_depths", "largest", "repair")
    missing = [name for name in needed if not hasattr(space, name)]
    if missing:
        raise UnsupportedSpaceError(
            f"space {getattr(space, 'name', space)!r} lacks {', '.join(missing)}: latency tables "
            "need a staged bottleneck space (segevo.nets.space.ResNetSpace or a subclass)"
        )


def space_items(space: Any, num_classes: int) -> list[Item]:
    """The Eq. 7 items of ``space`` in network order: stem, layers stage by stage, decoder."""
    _require_resnet_layout(space)
    items = [
        Item("stem", (0, 1, 2), lambda a: stem_key(a.stem), lambda v: True),
    ]
    prev_width = 2  # the stem width digit feeds stage 1
    width_digits = []
    for s in range(space.n_stages):
        _, w_digit, e_slice = space.stage_digits(s)
        width_digits.append(w_digit)
        for j in range(space.max_depths[s]):
            e_digit = e_slice.start + j
            digits = (0, prev_width, w_digit, e_digit) if j == 0 else (0, w_digit, e_digit)
            items.append(
                Item(f"stage {s + 1} layer {j + 1}", digits, _layer_key_of(s, j), _active(e_digit))
            )
        prev_width = w_digit
    items.append(
        Item(
            "tail+decoder",
            (0, *width_digits[-3:]),
            lambda a: decoder_key(a.decoder, a.input_hw, num_classes),
            lambda v: True,
        )
    )
    return items


def _layer_key_of(stage: int, layer: int) -> Callable[[ArchConfig], str]:
    def key_of(arch: ArchConfig) -> str:
        return layer_key(arch.stages[stage].layers[layer])

    return key_of


def _active(e_digit: int) -> Callable[[Mapping[int, int]], bool]:
    def active(values: Mapping[int, int]) -> bool:
        return values[e_digit] != 0

    return active


def _representative(space: Any, values: Mapping[int, int]) -> np.ndarray:
    """A valid vector with the given digit values and every layer of every stage active."""
    x = np.array(space.largest(), dtype=np.int64)
    for s in range(space.n_stages):
        d_digit, _, _ = space.stage_digits(s)
        x[d_digit] = space.upper[d_digit]
    for digit, value in values.items():
        x[digit] = value
    return np.asarray(space.repair(x), dtype=np.int64)


def item_key_maps(
    space: Any, items: Sequence[Item], archs: dict[str, ArchConfig] | None = None
) -> list[dict[tuple[int, ...], str]]:
    """For every item, its key for each combination of its digits' values (absent ones left out).

    Values run over each digit's bounds; combinations that no valid vector has (an always-active
    layer with ``e = 0``) are absent. Decodes are cached across items. When ``archs`` is given,
    it receives, for every key, one decoded architecture that contains it.
    """
    lower, upper = np.asarray(space.lower), np.asarray(space.upper)
    cache: dict[tuple[int, ...], ArchConfig] = {}
    maps = []
    for item in items:
        ranges = [range(int(lower[d]), int(upper[d]) + 1) for d in item.digits]
        mapping: dict[tuple[int, ...], str] = {}
        for combo in itertools.product(*ranges):
            values = dict(zip(item.digits, combo, strict=True))
            if not item.active(values):
                continue
            x = _representative(space, values)
            vector = tuple(int(v) for v in x)
            arch = cache.get(vector)
            if arch is None:
                arch = cache[vector] = space.decode(x)
            key = mapping[combo] = item.key_of(arch)
            if archs is not None:
                archs.setdefault(key, arch)
        maps.append(mapping)
    return maps


_Maps = list[dict[tuple[int, ...], str]]
_MAPS_CACHE: dict[tuple[str, int], tuple[list[Item], _Maps, dict[str, ArchConfig]]] = {}


def _items_and_maps(
    space: Any, num_classes: int
) -> tuple[list[Item], _Maps, dict[str, ArchConfig]]:
    """Items, key maps and one architecture per key, cached by the space's digest (which
    fixes all three)."""
    cache_key = (space.digest(), int(num_classes))
    if cache_key not in _MAPS_CACHE:
        items = space_items(space, num_classes)
        archs: dict[str, ArchConfig] = {}
        maps = item_key_maps(space, items, archs)
        _MAPS_CACHE[cache_key] = (items, maps, archs)
    return _MAPS_CACHE[cache_key]


def enumerate_entries(space: Any, num_classes: int) -> dict[str, ArchConfig]:
    """Every distinct key the space can produce, each with one architecture that contains it.

    Exactly the keys of valid architectures: the stem and decoder of every (scale, widths),
    and every layer of every stage at every (scale, widths, expand) that leaves it active.
    """
    return dict(_items_and_maps(space, num_classes)[2])


def enumerate_keys(space: Any, num_classes: int) -> list[str]:
    """The sorted keys of :func:`enumerate_entries`."""
    return sorted(enumerate_entries(space, num_classes))


@dataclass(frozen=True)
class _Word:
    lanes: tuple[int, ...]  # the word's digits other than the input scale, lane 0 first
    offset: int  # first row of the word's block in the flat table
    labels: tuple[str, ...]


OUTER_DIGIT = 0
"""The input scale: every item depends on it, so it selects a block rather than a lane."""

INVALID_MS = 1e300
"""Value of the invalid-index entry: any sum that includes it is >= this, far above real ms."""

_LANES = 8  # digits per word code: the bytes of a uint64
_HIGH_BITS = np.uint32(0xFCFCFCFC)  # a lane digit above 3


def _squeeze_multipliers(n_lanes: int) -> np.ndarray:
    """Per half-word (4 lanes) uint32 multipliers that squeeze its bytes into one byte.

    For a uint32 ``u`` holding lane digits ``b0..b3 <= 3`` in its bytes, ``(u * M) >> 24``
    (mod 2**32) is ``b0 + 4 b1 + 16 b2 + 64 b3`` with ``M = sum 2**(24 - 6 i)``: the wanted
    products land on bits 24 + 2i; the others either overflow past bit 31 or sum to less
    than 2**24 (at most 3 * 5525568), so they never carry into the top byte. Leaving a lane's
    power out of ``M`` drops that lane (padding) without breaking the bound.
    """
    out = []
    for half in range(2):
        lanes = range(4 * half, min(n_lanes, 4 * half + 4))
        out.append(sum(1 << (24 - 6 * (lane - 4 * half)) for lane in lanes))
    return np.array(out, dtype=np.uint32)


def as_matrix(X: Any, n_var: int) -> np.ndarray:
    """``X`` (one vector or ``[n, n_var]``) as a 2-D integer array (ValueError otherwise).

    Integer dtypes pass unchanged (the kernels read any width); integral floats are converted.
    """
    arr = np.asarray(X)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n_var:
        raise ValueError(
            f"expected architectures as an [n, {n_var}] integer array, got shape {np.shape(X)}"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        if arr.dtype.kind != "f" or not np.all(np.isfinite(arr)) or np.any(arr != np.rint(arr)):
            raise ValueError(f"architecture digits must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
    return arr


class IndexPlan:
    """Turns architecture vectors into rows of entry indices of one latency table.

    ``entry_of`` maps every key of the space to its index in the table's value array. Index
    ``n_entries`` (:attr:`invalid_index`) marks a digit outside its bounds: the value array
    handed to ``lut_sum`` ends with :data:`INVALID_MS` (see :meth:`values_with_sentinel`).

    A word's row in the flat table is ``offset + scale * radix**lanes + code`` where ``code``
    is the digits of its lanes in base ``radix``. Fast path (every lane digit <= 3, the
    presets): the digits of a chunk are narrowed to bytes, each word's lane bytes gathered into
    two uint32, and the base-4 code squeezed out of each by one multiplication (see
    :func:`_squeeze_multipliers`), all on ``[rows, words]`` arrays; one gather then writes
    every word. A digit above its own upper bound or below its lower bound lands on a row whose
    first slot is the invalid index instead of aliasing a valid value. Other spaces take a
    column-by-column path over the same tables.
    """

    def __init__(
        self, space: Any, num_classes: int, entry_of: Mapping[str, int], *, fast: bool = True
    ) -> None:
        items, maps, _ = _items_and_maps(space, num_classes)
        self.n_var = int(space.n_var)
        self.lower = np.asarray(space.lower, dtype=np.int64)
        self.upper = np.asarray(space.upper, dtype=np.int64)
        if self.lower.min() < 0:
            raise UnsupportedSpaceError("digit lower bounds must be >= 0 for the index plan")
        lane_digits = {d for item in items for d in item.digits} - {OUTER_DIGIT}
        self.n_outer = int(self.upper[OUTER_DIGIT]) + 1
        self.radix = max(4, int(max(self.upper[d] for d in lane_digits)) + 1)
        self.fast = fast and self.radix == 4 and sys.byteorder == "little"
        self.n_entries = len(entry_of)
        self.invalid_index = self.n_entries
        self.index_dtype = np.dtype(np.int16 if self.n_entries < (1 << 15) - 1 else np.int32)
        self.slots_per_word = 8 // self.index_dtype.itemsize
        missing = sorted({k for m in maps for k in m.values()} - set(entry_of))
        if missing:
            raise KeyError(
                f"the latency table lacks {len(missing)} key(s) of the space, e.g. {missing[0]!r}"
            )
        self.words: list[_Word] = []
        blocks: list[np.ndarray] = []
        for group in self._pack(items):
            table = self._word_table([items[i] for i in group], [maps[i] for i in group], entry_of)
            lanes = self._lanes([items[i] for i in group])
            offset = sum(block.shape[0] for block in blocks)
            labels = tuple(items[i].label for i in group)
            labels += ("",) * (self.slots_per_word - len(group))
            self.words.append(_Word(lanes, offset, labels))
            blocks.append(table)
        self.table = np.concatenate(blocks)  # int64 rows: the packed slots of a word
        self.n_slots = len(self.words) * self.slots_per_word
        self.slot_labels = tuple(label for w in self.words for label in w.labels)
        self._offsets = np.array([w.offset for w in self.words], dtype=np.uint64)
        self._outer_stride = np.array(
            [self.radix ** len(w.lanes) for w in self.words], dtype=np.uint64
        )
        # first table row of each (scale, word): added to the squeezed lane codes
        self._outer_rows = np.arange(self.n_outer, dtype=np.int64)[
            :, None
        ] * self._outer_stride.astype(np.int64) + self._offsets.astype(np.int64)
        # byte gather for the fast path: pad lanes repeat a real digit (checked, then dropped)
        self._perm = np.array(
            [
                w.lanes[min(i, len(w.lanes) - 1)] if w.lanes else OUTER_DIGIT
                for w in self.words
                for i in range(_LANES)
            ],
            dtype=np.intp,
        )
        self._multipliers = np.concatenate([_squeeze_multipliers(len(w.lanes)) for w in self.words])
        # a word without lanes would pad with the scale digit, which may exceed 3
        self.fast = self.fast and all(w.lanes for w in self.words)

    @staticmethod
    def _lanes(items: Sequence[Item]) -> tuple[int, ...]:
        return tuple(sorted({d for item in items for d in item.digits} - {OUTER_DIGIT}))

    def _pack(self, items: Sequence[Item]) -> list[list[int]]:
        groups: list[list[int]] = [[]]
        for i, item in enumerate(items):
            current = groups[-1]
            lanes = self._lanes([items[k] for k in current] + [item])
            rows = self.n_outer * self.radix ** len(lanes)
            if current and (
                len(current) == self.slots_per_word or len(lanes) > _LANES or rows > MAX_WORD_ROWS
            ):
                groups.append([i])
            else:
                current.append(i)
        for group in groups:
            if len(self._lanes([items[i] for i in group])) > _LANES:
                raise UnsupportedSpaceError(
                    f"item {items[group[0]].label!r} depends on more than {_LANES} digits"
                )
        return groups

    def _word_table(
        self,
        items: Sequence[Item],
        maps: Sequence[dict[tuple[int, ...], str]],
        entry_of: Mapping[str, int],
    ) -> np.ndarray:
        lanes = self._lanes(items)
        digits = (OUTER_DIGIT, *reversed(lanes))  # row-major order of the grid = row number
        grid = np.indices((self.n_outer,) + (self.radix,) * len(lanes)).reshape(len(digits), -1)
        in_bounds = np.ones(grid.shape[1], dtype=bool)
        for k, d in enumerate(digits):
            in_bounds &= (grid[k] >= self.lower[d]) & (grid[k] <= self.upper[d])
        slots = np.full((grid.shape[1], self.slots_per_word), -1, dtype=self.index_dtype)
        for k, (item, mapping) in enumerate(zip(items, maps, strict=True)):
            # a small dense array over the item's own digits, then broadcast to the word grid
            shape = tuple(int(self.upper[d]) + 1 for d in item.digits)
            dense = np.full(shape, -1, dtype=np.int64)
            for combo, key in mapping.items():
                dense[combo] = entry_of[key]
            coords = tuple(
                np.minimum(grid[digits.index(d)], s - 1)
                for d, s in zip(item.digits, shape, strict=True)
            )
            slots[:, k] = dense[coords]
        slots[~in_bounds, 0] = self.invalid_index
        return np.ascontiguousarray(slots).view(np.int64).ravel()

    def values_with_sentinel(self, values: np.ndarray) -> np.ndarray:
        """The entry values followed by :data:`INVALID_MS` at :attr:`invalid_index`."""
        if values.shape != (self.n_entries,):
            raise ValueError(f"expected {self.n_entries} entry values, got shape {values.shape}")
        return np.append(np.asarray(values, dtype=np.float64), INVALID_MS)

    def as_matrix(self, X: Any) -> np.ndarray:
        """``X`` as a 2-D integer array with ``n_var`` columns (ValueError otherwise)."""
        return as_matrix(X, self.n_var)

    def check_bounds(self, X: np.ndarray, offset: int = 0) -> None:
        """Raise ValueError naming the first digit of ``X`` outside its bounds, if any."""
        too_low, too_high = np.less(X, self.lower), np.greater(X, self.upper)
        bad = np.argwhere(too_low | too_high)
        if bad.size:
            i, j = (int(v) for v in bad[0])
            raise ValueError(
                f"row {offset + i}: digit x{j} = {X[i, j]} is outside its allowed range "
                f"{self.lower[j]}..{self.upper[j]}"
            )

    def fill(self, chunk: np.ndarray, out: np.ndarray, offset: int = 0) -> None:
        """Write the index words of ``chunk`` (``[c, n_var]`` ints) into ``out`` (``[c, n_words]``
        int64). A digit that the codes cannot hold raises ValueError; any other digit outside
        its bounds yields :attr:`invalid_index` in its word's first slot."""
        if self.fast:
            self._fill_fast(chunk, out, offset)
        else:
            self._fill_columns(chunk, out, offset)

    def _fill_fast(self, chunk: np.ndarray, out: np.ndarray, offset: int) -> None:
        unsigned = chunk.view(np.dtype(f"u{chunk.dtype.itemsize}"))
        if chunk.size and unsigned.max() > 255:  # negatives too: they are huge unsigned
            self.check_bounds(chunk, offset)
        digits = chunk.astype(np.uint8)
        halves = np.take(digits, self._perm, axis=1).view(np.uint32)  # [c, 2 * words]
        outer = digits[:, OUTER_DIGIT]
        if np.any(halves & _HIGH_BITS) or (outer.size and outer.max() >= self.n_outer):
            self.check_bounds(chunk, offset)
        halves *= self._multipliers
        halves >>= 24
        codes = halves.astype(np.uint8).view(np.uint16)  # low half + 256 * high half
        rows = np.take(self._outer_rows, outer, axis=0)
        rows += codes
        np.take(self.table, rows, out=out)

    def _fill_columns(self, chunk: np.ndarray, out: np.ndarray, offset: int) -> None:
        self.check_bounds(chunk, offset)
        for w, word in enumerate(self.words):
            row = chunk[:, OUTER_DIGIT] * int(self._outer_stride[w]) + word.offset
            for power, d in enumerate(word.lanes):
                row = row + chunk[:, d] * self.radix**power
            np.take(self.table, row, out=out[:, w])

    def fill_all(self, X: np.ndarray) -> np.ndarray:
        """Index words ``[n, n_words]`` int64 of a checked matrix (see :meth:`fill`)."""
        out = np.empty((X.shape[0], len(self.words)), dtype=np.int64)
        for start in range(0, X.shape[0], CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, X.shape[0])
            self.fill(X[start:stop], out[start:stop], start)
        return out

    def as_indices(self, words: np.ndarray) -> np.ndarray:
        """The ``[n, n_slots]`` index view of index words."""
        return words.view(self.index_dtype).reshape(words.shape[0], self.n_slots)

    def indices(self, X: Any) -> np.ndarray:
        """Entry indices ``[n, n_slots]`` (-1 = absent or padding) for a batch of vectors.

        Raises ValueError naming the row and digit when a digit is outside its bounds.
        """
        arr = self.as_matrix(X)
        self.check_bounds(arr)
        return self.as_indices(self.fill_all(arr))


MAX_TERM_ENTRIES = 4096
"""Table entries per fused term: a term's float64 table stays within a few L1/L2 lines' reach
(32 KiB), while items that share digits (x0, a stage's width) are summed ahead of time."""


@dataclass(frozen=True)
class PredictTerms:
    """Eq. 7 regrouped for ``segevo._core.lut_predict``: consecutive items merged into terms.

    Term ``t`` reads the digits ``digits[t]`` (-1 pads) with row-major ``strides[t]`` over their
    ranges and adds ``tables[offsets[t] + code]``, the sum of its items' latencies for those
    digit values (an inactive layer adds 0; an active combination without a key is NaN, which
    the kernel reports as an invalid combination). ``labels[t]`` names the items of term ``t``.
    """

    lower: np.ndarray
    upper: np.ndarray
    digits: np.ndarray
    strides: np.ndarray
    offsets: np.ndarray
    tables: np.ndarray
    labels: tuple[tuple[str, ...], ...]

    def native_args(self) -> tuple[np.ndarray, ...]:
        """Everything after ``X`` in a ``lut_predict`` call, in order."""
        return (self.lower, self.upper, self.digits, self.strides, self.offsets, self.tables)


def _group_items(items: Sequence[Item], radix: np.ndarray, max_entries: int) -> list[list[int]]:
    """Consecutive items merged while the union of their digits spans <= ``max_entries``."""
    groups: list[list[int]] = []
    current: list[int] = []
    for i, item in enumerate(items):
        union = {d for k in current for d in items[k].digits} | set(item.digits)
        if current and int(np.prod([radix[d] for d in union])) > max_entries:
            groups.append(current)
            current = []
        current.append(i)
    if current:
        groups.append(current)
    return groups


def _item_values(
    item: Item,
    mapping: Mapping[tuple[int, ...], str],
    latency: Callable[[str], float],
    lower: np.ndarray,
    upper: np.ndarray,
) -> np.ndarray:
    """Dense latency of one item over its own digits' ranges: 0 inactive, NaN no key."""
    ranges = [range(int(lower[d]), int(upper[d]) + 1) for d in item.digits]
    dense = np.full([len(r) for r in ranges], np.nan)
    for combo in itertools.product(*ranges):
        at = tuple(v - int(lower[d]) for v, d in zip(combo, item.digits, strict=True))
        if not item.active(dict(zip(item.digits, combo, strict=True))):
            dense[at] = 0.0
        elif combo in mapping:
            dense[at] = latency(mapping[combo])
    return dense


def predict_terms(
    space: Any,
    num_classes: int,
    latency: Mapping[str, float],
    *,
    max_entries: int = MAX_TERM_ENTRIES,
) -> PredictTerms:
    """The fused-kernel form of a table whose entry ``key`` is worth ``latency[key]`` ms.

    Items are merged in network order while a term's table stays within ``max_entries``.
    The tables are laid out by the value of a digit that every item reads (the input scale):
    ``tables[outer, term, code of the other digits]``, so that the outer digit has the same
    stride in every term and the kernel computes its part of the code once per row.
    """
    items, maps, _ = _items_and_maps(space, num_classes)
    lower = np.asarray(space.lower, dtype=np.int64)
    upper = np.asarray(space.upper, dtype=np.int64)
    radix = upper - lower + 1
    missing = sorted({k for m in maps for k in m.values()} - set(latency))
    if missing:
        raise KeyError(
            f"the latency table lacks {len(missing)} key(s) of the space, e.g. {missing[0]!r}"
        )
    groups = _group_items(items, radix, max_entries)
    common = set.intersection(*(set(item.digits) for item in items)) if items else set()
    outer = min(common) if common else None
    n_outer = int(radix[outer]) if outer is not None else 1
    blocks: list[np.ndarray] = []  # [n_outer, entries per outer value] per term
    unions: list[list[int]] = []
    for group in groups:
        union = sorted({d for i in group for d in items[i].digits})
        shape = tuple(int(radix[d]) for d in union)
        grid = np.indices(shape).reshape(len(union), -1)
        block = np.zeros(grid.shape[1])
        for i in group:
            dense = _item_values(items[i], maps[i], latency.__getitem__, lower, upper)
            block += dense[tuple(grid[union.index(d)] for d in items[i].digits)]
        if outer is not None:  # move the outer digit first: rows of the block
            block = np.moveaxis(block.reshape(shape), union.index(outer), 0)
            union.remove(outer)
        blocks.append(block.reshape(n_outer, -1))
        unions.append(union)
    width = max((len(u) for u in unions), default=0) + (outer is not None)
    digits = np.full((len(groups), width), -1, dtype=np.int64)
    strides = np.zeros((len(groups), width), dtype=np.int64)
    sizes_per_outer = np.array([b.shape[1] for b in blocks], dtype=np.int64)
    offsets = np.cumsum(sizes_per_outer) - sizes_per_outer  # each term's start in a row
    per_outer = int(sizes_per_outer.sum())
    for t, union in enumerate(unions):
        sizes = [int(radix[d]) for d in union]
        row_major = [int(np.prod(sizes[k + 1 :])) for k in range(len(union))]
        if outer is not None:
            union, row_major = [outer, *union], [per_outer, *row_major]
        digits[t, : len(union)] = union
        strides[t, : len(union)] = row_major
    return PredictTerms(
        lower=lower,
        upper=upper,
        digits=digits,
        strides=strides,
        offsets=offsets,
        tables=np.concatenate(blocks, axis=1).ravel() if blocks else np.zeros(0),
        labels=tuple(tuple(items[i].label for i in g) for g in groups),
    )
