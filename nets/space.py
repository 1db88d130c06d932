"""Search spaces: integer encodings of segmentation networks, their bounds, repair and cost.

An architecture is an integer vector ``x`` with ``space.lower <= x <= space.upper``. The
presets ``r50`` and ``tiny`` are OFA-ResNet50-like backbones under BiSeNet v1 heads (paper
Sec. III-B; the digits below are *inferred* from OFA-ResNet50, which the paper's Fig. 5 matches).

Layout of ``x`` (29 digits for the presets; a custom :class:`ResNetSpace` with other stage
depths or stage counts keeps the same order)::

    x0              input scale index   0..4 -> {0.5, 0.625, 0.75, 0.875, 1.0} x base (H, W)
    x1              stem depth          0 = skip, 1 = keep the residual 3x3 conv of the stem
    x2              stem width          0..2 -> stem out/mid channels (r50: 40/24, 48/24, 64/32)
    then, for each stage s = 1..4 (max depth L_s = 4, 4, 6, 4):
    d_s             depth               0..L_s-base_s -> base_s + d_s layers (base 2, 2, 4, 2)
    w_s             width               0..2 -> out channels x {0.65, 0.8, 1.0}
    e_s,1..e_s,L_s  expand per layer    1..3 -> mid = make_divisible(out x {0.2, 0.25, 0.35}, 8);
                                        0 = the layer is not active (beyond the stage depth)

    r50:  x3..x8 stage 1, x9..x14 stage 2, x15..x22 stage 3, x23..x28 stage 4.

Canonical form: a layer beyond its stage's depth carries ``e = 0``, an active layer ``e >= 1``
(the first ``base_s`` layers are always active, so their lower bound is 1). Where rounding to
the channel divisor makes two choices give the same channel count (possible in custom or small
spaces, never in ``r50``/``tiny``), the smallest index is the canonical one. ``repair`` maps any
integer vector to its canonical form, so equal networks get equal vectors; ``is_valid`` is true
exactly for canonical vectors, and ``count`` is the number of them (4,098,191,328,270 for the
presets; the paper's "approximately 10^14" likely counts encodings rather than networks).

The input size is ``round(base * scale)`` per side; every stride-2 layer maps a side ``n`` to
``ceil(n / 2)`` (see ``segevo.nets.arch``, which also defines what ``flops``/``params`` count).

Sampling phases (progressive shrinking for supernet training): ``sample(n, rng, phase=...)``
draws uniformly from a sub-space in which only some dimensions are elastic:

- ``"depth"``: input scale, stem depth and stage depths vary; expand and width stay at maximum;
- ``"expand"``: as ``"depth"`` plus the per-layer expand ratios;
- ``"width"`` (or ``None``, the default): everything, i.e. the whole space.

Presets: ``get_space("r50", base_hw=(1024, 2048))`` (the paper's widths, Cityscapes size) and
``get_space("tiny", base_hw=(96, 128))`` (the same 29-digit structure at a quarter of the
widths, channel divisor 2, smaller heads and a small base resolution, so that brief supernet
training plus a ~100-evaluation search fit in minutes on two CPU cores). The base resolution
is part of the definition and therefore of ``digest()``.
"""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from segevo.nets.arch import (
    ArchConfig,
    DecoderConfig,
    LayerConfig,
    StageConfig,
    StemConfig,
    arch_macs,
    arch_params,
    half_size,
    make_divisible,
)

PHASES: tuple[str, ...] = ("depth", "expand", "width")
"""Progressive-shrinking phases, in training order (each adds elastic dimensions)."""

DEFAULT_NUM_CLASSES = 19  # Cityscapes; the heads' output width when the caller gives none


class SearchSpace(ABC):
    """An integer-encoded architecture space (bounds, canonical form, decoding and cost).

    Subclasses define the bounds and digit names in ``__init__`` and implement the abstract
    methods; bound checks, validity, digests and the largest/smallest architectures are shared.
    """

    name: str
    lower: np.ndarray
    upper: np.ndarray
    digit_names: tuple[str, ...]

    @property
    def n_var(self) -> int:
        """Number of digits of an architecture vector."""
        return int(self.lower.shape[0])

    # -- abstract -------------------------------------------------------------------------
    @abstractmethod
    def repair(self, X: Any) -> np.ndarray:
        """Canonical int64 form of every vector (clipped to the bounds; idempotent)."""

    @abstractmethod
    def sample(self, n: int, rng: Any = None, *, phase: str | None = None) -> np.ndarray:
        """``n`` canonical architectures drawn uniformly (int64 ``[n, n_var]``)."""

    @abstractmethod
    def decode(self, x: Any) -> ArchConfig:
        """The network that one valid vector describes."""

    @abstractmethod
    def onehot(self, X: Any, *, validate: bool = True) -> np.ndarray:
        """One-hot features (float32 ``[n, n_features]``) for accuracy predictors.

        ``validate=False`` is for rows already known to be canonical (from ``repair`` or
        ``sample``): it skips the bound and canonical-form checks, so such a row that is not
        canonical gives meaningless features instead of a ValueError.
        """

    @abstractmethod
    def count(self, *, phase: str | None = None) -> int:
        """Exact number of distinct (canonical) architectures."""

    @abstractmethod
    def definition(self) -> dict[str, Any]:
        """JSON-able description of everything that defines the space (hashed by ``digest``)."""

    @abstractmethod
    def flops(self, x: Any, num_classes: int = DEFAULT_NUM_CLASSES) -> Any:
        """Multiply-accumulates of the deployed network (int; int64 array for a batch)."""

    @abstractmethod
    def params(
        self, x: Any, num_classes: int = DEFAULT_NUM_CLASSES, *, with_aux: bool = False
    ) -> Any:
        """Trainable parameters of the network (int; int64 array for a batch)."""

    def _structure_errors(self, X: np.ndarray) -> str | None:
        """Message for the first in-bounds vector of ``X`` that is not canonical, else None."""
        repaired = self.repair(X)
        bad = np.argwhere(repaired != X)
        if not bad.size:
            return None
        i, j = (int(v) for v in bad[0])
        return (
            f"row {i}: digit x{j} ({self.digit_names[j]}) = {X[i, j]} is not canonical here; "
            f"repair() gives {repaired[i, j]}"
        )

    # -- shared ---------------------------------------------------------------------------
    def _as_matrix(self, X: Any) -> tuple[np.ndarray, bool]:
        """``X`` as a 2-D array with ``n_var`` columns, and whether it was a single vector."""
        arr = np.asarray(X)
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.integer)
            or np.issubdtype(arr.dtype, np.floating)
            or np.issubdtype(arr.dtype, np.bool_)
        ):
            raise ValueError(f"architecture vectors must be numeric, got dtype {arr.dtype}")
        single = arr.ndim == 1
        if single:
            arr = arr[None, :]
        if arr.ndim != 2:
            raise ValueError(
                f"expected one architecture vector or a 2-D batch of them, got shape {arr.shape}"
            )
        if arr.shape[1] != self.n_var:
            raise ValueError(
                f"architecture vectors of space {self.name!r} have {self.n_var} digits, "
                f"got {arr.shape[1]}"
            )
        return arr, single

    def _clip_int(self, X: Any) -> tuple[np.ndarray, bool]:
        arr, single = self._as_matrix(X)
        if np.issubdtype(arr.dtype, np.floating):
            if not np.all(np.isfinite(arr)):
                raise ValueError("architecture vectors must be finite (found NaN or inf)")
            arr = np.rint(arr)
        out = np.clip(arr.astype(np.int64), self.lower, self.upper)
        return out, single

    def digit_range(self, j: int) -> str:
        """Human-readable allowed range of digit ``j`` (e.g. ``'0..3'``)."""
        return f"{int(self.lower[j])}..{int(self.upper[j])}"

    def validate(self, X: Any) -> np.ndarray:
        """Return ``X`` as int64 if every vector is valid, else raise ValueError naming the digit.

        Checks the length, integrality, the bounds of each digit and the canonical form (an
        active layer needs ``e >= 1``, an inactive one ``e = 0``).
        """
        arr, single = self._as_matrix(X)
        if np.issubdtype(arr.dtype, np.floating):
            if not np.all(np.isfinite(arr)):
                raise ValueError("architecture vectors must be finite (found NaN or inf)")
            bad = np.argwhere(arr != np.rint(arr))
            if bad.size:
                i, j = (int(v) for v in bad[0])
                raise ValueError(
                    f"{self._row(i, single)}digit x{j} ({self.digit_names[j]}) = {arr[i, j]} "
                    f"is not an integer; allowed {self.digit_range(j)}"
                )
        arr = arr.astype(np.int64)
        bad = np.argwhere((arr < self.lower) | (arr > self.upper))
        if bad.size:
            i, j = (int(v) for v in bad[0])
            raise ValueError(
                f"{self._row(i, single)}digit x{j} ({self.digit_names[j]}) = {arr[i, j]} is "
                f"outside its allowed range {self.digit_range(j)}"
            )
        # A row is canonical when repair() leaves it alone: a few array operations, so the
        # digit-by-digit search for the message runs only when some row is not.
        if not np.array_equal(self.repair(arr), arr):
            message = self._structure_errors(arr)
            if message is not None:
                raise ValueError(message if not single else message.split(": ", 1)[1])
        return arr[0] if single else arr

    @staticmethod
    def _row(i: int, single: bool) -> str:
        return "" if single else f"row {i}: "

    def is_valid(self, X: Any) -> np.ndarray | bool:
        """Whether each vector is integral, in bounds and canonical (``repair(x) == x``)."""
        arr, single = self._as_matrix(X)
        ok = np.ones(arr.shape[0], dtype=bool)
        if np.issubdtype(arr.dtype, np.floating):
            finite = np.all(np.isfinite(arr), axis=1)
            ok &= finite
            arr = np.where(np.isfinite(arr), arr, 0)
            ok &= np.all(arr == np.rint(arr), axis=1)
        ints = np.rint(arr).astype(np.int64) if np.issubdtype(arr.dtype, np.floating) else arr
        ints = ints.astype(np.int64)
        ok &= np.all((ints >= self.lower) & (ints <= self.upper), axis=1)
        ok &= np.all(self.repair(ints) == ints, axis=1)
        return bool(ok[0]) if single else ok

    def largest(self) -> np.ndarray:
        """The largest architecture (every digit at its upper bound): the supernet itself."""
        return self.repair(self.upper)

    def smallest(self, *, phase: str | None = None) -> np.ndarray:
        """The smallest architecture (the canonical form of the lower bounds); spaces with
        sampling phases also give the smallest of a phase."""
        if phase is not None:
            raise ValueError(f"space {self.name!r} has no sampling phases")
        return self.repair(self.lower)

    def digest(self) -> str:
        """Stable sha256 (hex) of ``definition()``; independent of the registered name."""
        text = json.dumps(self.definition(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, n_var={self.n_var})"


def _rng(rng: Any) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _check_phase(phase: str | None) -> str:
    if phase is None:
        return "width"
    if phase not in PHASES:
        raise ValueError(f"unknown sampling phase {phase!r}; known: {', '.join(PHASES)} or None")
    return phase


class ResNetSpace(SearchSpace):
    """Elastic ResNet bottleneck backbone + BiSeNet v1 heads (the presets' family).

    All options are keyword-only and validated on construction. Stage ``s`` outputs
    ``make_divisible(stage_channels[s] * width_mult, divisor)`` channels; a layer's mid width
    is ``make_divisible(out * expand_ratio, divisor)``. The decoder reads the last three stages.
    """

    def __init__(
        self,
        *,
        name: str,
        base_hw: Sequence[int],
        scales: Sequence[float],
        stem_out: Sequence[int],
        stem_mid: Sequence[int],
        stage_channels: Sequence[int],
        base_depths: Sequence[int],
        max_depths: Sequence[int],
        strides: Sequence[int],
        width_mults: Sequence[float],
        expand_ratios: Sequence[float],
        divisor: int = 8,
        context_ch: int = 128,
        fusion_ch: int = 256,
        head_mid_ch: int = 256,
        aux_mid_ch: int = 64,
    ) -> None:
        self.name = str(name)
        self.base_hw = _int_pair("base_hw", base_hw)
        self.scales = _positive_floats("scales", scales)
        self.stem_out = _positive_ints("stem_out", stem_out)
        self.stem_mid = _positive_ints("stem_mid", stem_mid)
        self.stage_channels = _positive_ints("stage_channels", stage_channels)
        self.base_depths = _positive_ints("base_depths", base_depths)
        self.max_depths = _positive_ints("max_depths", max_depths)
        self.strides = _positive_ints("strides", strides)
        self.width_mults = _positive_floats("width_mults", width_mults)
        self.expand_ratios = _positive_floats("expand_ratios", expand_ratios)
        self.divisor = _positive_ints("divisor", [divisor])[0]
        self.context_ch = _positive_ints("context_ch", [context_ch])[0]
        self.fusion_ch = _positive_ints("fusion_ch", [fusion_ch])[0]
        self.head_mid_ch = _positive_ints("head_mid_ch", [head_mid_ch])[0]
        self.aux_mid_ch = _positive_ints("aux_mid_ch", [aux_mid_ch])[0]
        self._check_definition()
        self._build_tables()
        self._build_layout()

    # -- construction ---------------------------------------------------------------------
    def _check_definition(self) -> None:
        n_stages = len(self.stage_channels)
        if n_stages < 3:
            raise ValueError(
                f"a ResNetSpace needs at least 3 stages (the decoder reads the last three), got {n_stages}"
            )
        for field in ("base_depths", "max_depths", "strides"):
            if len(getattr(self, field)) != n_stages:
                raise ValueError(
                    f"{field} must have one entry per stage ({n_stages}), got {len(getattr(self, field))}"
                )
        for s, (b, m) in enumerate(zip(self.base_depths, self.max_depths, strict=True)):
            if m < b:
                raise ValueError(f"stage {s + 1}: max depth {m} is below base depth {b}")
        if len(self.stem_out) != len(self.stem_mid):
            raise ValueError(
                f"stem_out and stem_mid need the same number of choices, got {len(self.stem_out)} and {len(self.stem_mid)}"
            )
        stems = list(zip(self.stem_out, self.stem_mid, strict=True))
        if len(set(stems)) != len(stems):
            raise ValueError(f"stem choices must be distinct (out, mid) pairs, got {stems}")
        sizes = [self._scaled_hw(scale) for scale in self.scales]
        if len(set(sizes)) != len(sizes):
            raise ValueError(
                f"input scales {self.scales} give repeated input sizes {sizes} for base {self.base_hw}"
            )
        if min(min(hw) for hw in sizes) < 1:
            raise ValueError(
                f"input scales {self.scales} give an empty input for base {self.base_hw}"
            )

    def _scaled_hw(self, scale: float) -> tuple[int, int]:
        return (round(self.base_hw[0] * scale), round(self.base_hw[1] * scale))

    def _build_tables(self) -> None:
        n_e = len(self.expand_ratios)
        self.out_channels: list[list[int]] = []
        self.mid_channels: list[list[list[int]]] = []  # [stage][w][e-1]
        self._canon_w: list[np.ndarray] = []
        self._canon_e: list[np.ndarray] = []  # [stage] -> (n_w, n_e + 1), column 0 = canon(1)
        self._e_choices: list[list[list[int]]] = []  # canonical e values per (stage, w)
        for c in self.stage_channels:
            outs = [make_divisible(c * wm, self.divisor) for wm in self.width_mults]
            mids = [[make_divisible(o * r, self.divisor) for r in self.expand_ratios] for o in outs]
            canon_w = np.array([outs.index(o) for o in outs], dtype=np.int64)
            canon_e = np.zeros((len(outs), n_e + 1), dtype=np.int64)
            choices = []
            for w, row in enumerate(mids):
                canon_e[w, 1:] = [row.index(m) + 1 for m in row]
                canon_e[w, 0] = canon_e[w, 1]
                choices.append(sorted(set(canon_e[w, 1:].tolist())))
            self.out_channels.append(outs)
            self.mid_channels.append(mids)
            self._canon_w.append(canon_w)
            self._canon_e.append(canon_e)
            self._e_choices.append(choices)
        prev = set(self.stem_out)
        for s, outs in enumerate(self.out_channels):
            if self.strides[s] == 1 and prev & set(outs):
                # The supernet's first layer of a stage always has a projection shortcut, so a
                # sub-network whose first layer keeps its shape could not be extracted faithfully.
                raise ValueError(
                    f"stage {s + 1} has stride 1 and its widths {outs} overlap its input widths {sorted(prev)}"
                )
            prev = set(outs)

    def _build_layout(self) -> None:
        names = ["input scale", "stem depth", "stem width"]
        lower = [0, 0, 0]
        upper = [len(self.scales) - 1, 1, len(self.stem_out) - 1]
        self._d_idx: list[int] = []
        self._w_idx: list[int] = []
        self._e_idx: list[slice] = []
        n_e = len(self.expand_ratios)
        for s, (base, mx) in enumerate(zip(self.base_depths, self.max_depths, strict=True)):
            self._d_idx.append(len(names))
            names.append(f"stage {s + 1} depth")
            lower.append(0)
            upper.append(mx - base)
            self._w_idx.append(len(names))
            names.append(f"stage {s + 1} width")
            lower.append(0)
            upper.append(len(self.width_mults) - 1)
            start = len(names)
            for layer in range(mx):
                names.append(f"stage {s + 1} layer {layer + 1} expand")
                lower.append(1 if layer < base else 0)
                upper.append(n_e)
            self._e_idx.append(slice(start, len(names)))
        self.digit_names = tuple(names)
        self.lower = np.array(lower, dtype=np.int64)
        self.upper = np.array(upper, dtype=np.int64)
        self.lower.setflags(write=False)
        self.upper.setflags(write=False)
        self._is_expand = np.zeros(self.n_var, dtype=bool)
        for sl in self._e_idx:
            self._is_expand[sl] = True
        # one-hot block size per digit: expand digits drop the "inactive" value 0
        sizes = np.where(self._is_expand, n_e, self.upper - self.lower + 1)
        self._onehot_offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self._onehot_base = np.where(self._is_expand, 1, self.lower).astype(np.int64)
        self.n_features = int(sizes.sum())

    def definition(self) -> dict[str, Any]:
        return {
            "family": "resnet-bottleneck+bisenet-v1",
            "format": 1,
            "base_hw": list(self.base_hw),
            "scales": list(self.scales),
            "stem_out": list(self.stem_out),
            "stem_mid": list(self.stem_mid),
            "stage_channels": list(self.stage_channels),
            "base_depths": list(self.base_depths),
            "max_depths": list(self.max_depths),
            "strides": list(self.strides),
            "width_mults": list(self.width_mults),
            "expand_ratios": list(self.expand_ratios),
            "divisor": self.divisor,
            "context_ch": self.context_ch,
            "fusion_ch": self.fusion_ch,
            "head_mid_ch": self.head_mid_ch,
            "aux_mid_ch": self.aux_mid_ch,
        }

    @property
    def n_stages(self) -> int:
        """Number of backbone stages."""
        return len(self.stage_channels)

    def stage_digits(self, s: int) -> tuple[int, int, slice]:
        """Column indices of stage ``s`` (0-based): depth digit, width digit, expand digits."""
        return self._d_idx[s], self._w_idx[s], self._e_idx[s]

    # -- canonical form -------------------------------------------------------------------
    def repair(self, X: Any) -> np.ndarray:
        out, single = self._clip_int(X)
        for s in range(self.n_stages):
            di, wi, es = self._d_idx[s], self._w_idx[s], self._e_idx[s]
            w = self._canon_w[s][out[:, wi]]
            out[:, wi] = w
            depth = self.base_depths[s] + out[:, di]
            active = np.arange(self.max_depths[s])[None, :] < depth[:, None]
            canon = self._canon_e[s][w[:, None], out[:, es]]
            out[:, es] = np.where(active, canon, 0)
        return out[0] if single else out

    def _structure_errors(self, X: np.ndarray) -> str | None:
        for s in range(self.n_stages):
            di, wi, es = self._d_idx[s], self._w_idx[s], self._e_idx[s]
            w = X[:, wi]
            bad = np.flatnonzero(self._canon_w[s][w] != w)
            if bad.size:
                i = int(bad[0])
                return (
                    f"row {i}: digit x{wi} ({self.digit_names[wi]}) = {w[i]} gives the same "
                    f"network as {self._canon_w[s][w[i]]}; use that value (space.repair does)"
                )
            depth = self.base_depths[s] + X[:, di]
            e = X[:, es]
            for layer in range(self.max_depths[s]):
                j = es.start + layer
                active = layer < depth
                bad = np.flatnonzero(active & (e[:, layer] == 0))
                if bad.size:
                    i = int(bad[0])
                    return (
                        f"row {i}: digit x{j} ({self.digit_names[j]}) = 0 but the layer is "
                        f"active (stage depth {depth[i]} from x{di} = {X[i, di]}); allowed "
                        f"1..{len(self.expand_ratios)}"
                    )
                bad = np.flatnonzero(~active & (e[:, layer] != 0))
                if bad.size:
                    i = int(bad[0])
                    return (
                        f"row {i}: digit x{j} ({self.digit_names[j]}) = {e[i, layer]} but the "
                        f"layer is inactive (stage depth {depth[i]} from x{di} = {X[i, di]}); "
                        f"allowed 0"
                    )
                canon = self._canon_e[s][w, e[:, layer]]
                bad = np.flatnonzero(active & (canon != e[:, layer]))
                if bad.size:
                    i = int(bad[0])
                    return (
                        f"row {i}: digit x{j} ({self.digit_names[j]}) = {e[i, layer]} gives the "
                        f"same network as {canon[i]}; use that value (space.repair does)"
                    )
        return None

    # -- sampling and counting ------------------------------------------------------------
    def _choices(self, phase: str) -> dict[str, Any]:
        """Allowed values per component in a phase: scale, stem depth, stem width, stages."""
        elastic_expand = phase in ("expand", "width")
        elastic_width = phase == "width"
        stages = []
        for s in range(self.n_stages):
            top_w = int(self._canon_w[s][-1])
            widths = sorted(set(self._canon_w[s].tolist())) if elastic_width else [top_w]
            per_w = {}
            for w in widths:
                top_e = int(self._canon_e[s][w, -1])
                per_w[w] = self._e_choices[s][w] if elastic_expand else [top_e]
            depths = list(range(self.max_depths[s] - self.base_depths[s] + 1))
            stages.append((per_w, depths))
        return {
            "scale": list(range(len(self.scales))),
            "stem_depth": [0, 1],
            "stem_width": list(range(len(self.stem_out)))
            if elastic_width
            else [len(self.stem_out) - 1],
            "stages": stages,
        }

    def smallest(self, *, phase: str | None = None) -> np.ndarray:
        """The smallest architecture of the space, or of a sampling phase (for the sandwich
        rule: in phase ``"depth"`` the shallowest network at full expand and width)."""
        choices = self._choices(_check_phase(phase))
        x = np.zeros(self.n_var, dtype=np.int64)
        x[0], x[1], x[2] = choices["scale"][0], choices["stem_depth"][0], choices["stem_width"][0]
        for s, (per_w, depths) in enumerate(choices["stages"]):
            di, wi, es = self._d_idx[s], self._w_idx[s], self._e_idx[s]
            w = min(per_w)
            x[wi], x[di] = w, depths[0]
            x[es.start : es.start + self.base_depths[s] + depths[0]] = min(per_w[w])
        return x

    def count(self, *, phase: str | None = None) -> int:
        choices = self._choices(_check_phase(phase))
        total = len(choices["scale"]) * len(choices["stem_depth"]) * len(choices["stem_width"])
        for s, (per_w, depths) in enumerate(choices["stages"]):
            base = self.base_depths[s]
            total *= sum(len(es) ** (base + d) for es in per_w.values() for d in depths)
        return total

    def sample(self, n: int, rng: Any = None, *, phase: str | None = None) -> np.ndarray:
        """``n`` canonical architectures drawn uniformly from the space (or from a phase).

        ``rng`` is a ``numpy.random.Generator``, a seed, or None. Uniform means every distinct
        network is equally likely: a stage's (width, depth) pair is drawn with probability
        proportional to the number of expand settings it allows, then the expands uniformly.
        """
        if int(n) != n or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        n = int(n)
        gen = _rng(rng)
        choices = self._choices(_check_phase(phase))
        X = np.zeros((n, self.n_var), dtype=np.int64)
        X[:, 0] = gen.choice(choices["scale"], size=n)
        X[:, 1] = gen.choice(choices["stem_depth"], size=n)
        X[:, 2] = gen.choice(choices["stem_width"], size=n)
        for s, (per_w, depths) in enumerate(choices["stages"]):
            base = self.base_depths[s]
            pairs = [(w, d) for w in per_w for d in depths]
            log_weight = np.array([(base + d) * math.log(len(per_w[w])) for w, d in pairs])
            p = np.exp(log_weight - log_weight.max())
            pick = gen.choice(len(pairs), size=n, p=p / p.sum())
            di, wi, es = self._d_idx[s], self._w_idx[s], self._e_idx[s]
            for k, (w, d) in enumerate(pairs):
                rows = np.flatnonzero(pick == k)
                if rows.size == 0:
                    continue
                X[rows, wi] = w
                X[rows, di] = d
                e_vals = np.array(per_w[w], dtype=np.int64)
                draws = e_vals[gen.integers(0, len(e_vals), size=(rows.size, base + d))]
                X[rows[:, None], es.start + np.arange(base + d)[None, :]] = draws
        return X

    # -- decoding -------------------------------------------------------------------------
    def decode(self, x: Any) -> ArchConfig:
        arr = np.asarray(x)
        if arr.ndim != 1:
            raise ValueError(f"decode takes one architecture vector, got shape {arr.shape}")
        v = [int(t) for t in self.validate(arr)]
        scale = self.scales[v[0]]
        input_hw = self._scaled_hw(scale)
        conv_hw = (half_size(input_hw[0]), half_size(input_hw[1]))
        stem = StemConfig(
            mid_ch=self.stem_mid[v[2]],
            out_ch=self.stem_out[v[2]],
            residual=v[1] == 1,
            in_hw=input_hw,
            conv_hw=conv_hw,
            out_hw=(half_size(conv_hw[0]), half_size(conv_hw[1])),
        )
        in_ch, hw = stem.out_ch, stem.out_hw
        stages = []
        for s in range(self.n_stages):
            di, wi, es = self._d_idx[s], self._w_idx[s], self._e_idx[s]
            w, depth = v[wi], self.base_depths[s] + v[di]
            out_ch = self.out_channels[s][w]
            layers = []
            for layer in range(depth):
                stride = self.strides[s] if layer == 0 else 1
                out_hw = hw if stride == 1 else _shrink(hw, stride)
                mid = self.mid_channels[s][w][v[es.start + layer] - 1]
                layers.append(LayerConfig(in_ch, mid, out_ch, stride, hw, out_hw))
                in_ch, hw = out_ch, out_hw
            stages.append(StageConfig(s, depth, self.width_mults[w], out_ch, tuple(layers), hw))
        s8, s16, s32 = stages[-3], stages[-2], stages[-1]
        decoder = DecoderConfig(
            in8_ch=s8.out_ch,
            in16_ch=s16.out_ch,
            in32_ch=s32.out_ch,
            hw8=s8.out_hw,
            hw16=s16.out_hw,
            hw32=s32.out_hw,
            context_ch=self.context_ch,
            fusion_ch=self.fusion_ch,
            head_mid_ch=self.head_mid_ch,
            aux_mid_ch=self.aux_mid_ch,
        )
        return ArchConfig(self.name, tuple(v), scale, input_hw, stem, tuple(stages), decoder)

    def onehot(self, X: Any, *, validate: bool = True) -> np.ndarray:
        """One block per digit; expand digits use ``len(expand_ratios)`` slots and an inactive
        layer's block is all zeros, so padding is never confused with a choice.

        ``validate=False``: ``X`` is known canonical (see :meth:`SearchSpace.onehot`); only
        its shape is checked.
        """
        if validate:
            arr = self.validate(X)
            single = arr.ndim == 1
            arr = np.atleast_2d(arr)
        else:
            arr, single = self._as_matrix(X)
            arr = arr.astype(np.int64, copy=False)
        out = np.zeros((arr.shape[0], self.n_features), dtype=np.float32)
        cols = self._onehot_offset + arr - self._onehot_base
        present = ~(self._is_expand & (arr == 0))
        rows = np.broadcast_to(np.arange(arr.shape[0])[:, None], arr.shape)
        out[rows[present], cols[present]] = 1.0
        return out[0] if single else out

    def feature_names(self) -> list[str]:
        """Names of the one-hot columns, e.g. ``'x5=2'``."""
        names = []
        for j in range(self.n_var):
            values = (
                range(1, len(self.expand_ratios) + 1)
                if self._is_expand[j]
                else range(int(self.lower[j]), int(self.upper[j]) + 1)
            )
            names.extend(f"x{j}={v}" for v in values)
        return names

    # -- cost -----------------------------------------------------------------------------
    def flops(self, x: Any, num_classes: int = DEFAULT_NUM_CLASSES) -> Any:
        """Multiply-accumulates of the deployed network (main head) at its decoded input size.

        One vector gives an int, a batch an int64 array. See ``segevo.nets.arch`` for what is
        counted (convolutions only: half of FlopCounterMode's figure).
        """
        return self._per_vector(x, lambda arch: arch_macs(arch, _classes(num_classes)))

    def params(
        self, x: Any, num_classes: int = DEFAULT_NUM_CLASSES, *, with_aux: bool = False
    ) -> Any:
        """Trainable parameters of ``extract(x)`` (auxiliary heads only if ``with_aux``)."""
        return self._per_vector(
            x, lambda arch: arch_params(arch, _classes(num_classes), with_aux=with_aux)
        )

    def _per_vector(self, x: Any, fn: Callable[[ArchConfig], int]) -> Any:
        arr = np.asarray(x)
        if arr.ndim == 1:
            return fn(self.decode(arr))
        arr = self.validate(arr)
        return np.array([fn(self.decode(row)) for row in arr], dtype=np.int64)


def _classes(num_classes: int) -> int:
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    return int(num_classes)


def _shrink(hw: tuple[int, int], stride: int) -> tuple[int, int]:
    h, w = hw
    while stride > 1:
        if stride % 2:
            raise ValueError(f"only power-of-two strides are supported, got {stride}")
        h, w, stride = half_size(h), half_size(w), stride // 2
    return h, w


def _positive_ints(field: str, values: Sequence[int]) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{field} must be a sequence of positive integers, got {values!r}"
        ) from exc
    if not out or any(v < 1 or v != orig for v, orig in zip(out, values, strict=True)):
        raise ValueError(
            f"{field} must be a non-empty sequence of positive integers, got {values!r}"
        )
    return out


def _positive_floats(field: str, values: Sequence[float]) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{field} must be a sequence of positive numbers, got {values!r}") from exc
    if not out or any(not math.isfinite(v) or v <= 0 for v in out):
        raise ValueError(
            f"{field} must be a non-empty sequence of positive numbers, got {values!r}"
        )
    if len(set(out)) != len(out):
        raise ValueError(f"{field} must not repeat a value, got {values!r}")
    return out


def _int_pair(field: str, values: Sequence[int]) -> tuple[int, int]:
    pair = _positive_ints(field, values)
    if len(pair) != 2:
        raise ValueError(f"{field} must be (height, width), got {values!r}")
    return pair[0], pair[1]


# --- presets and registry --------------------------------------------------------------------

SpaceFactory = Callable[..., SearchSpace]

_COMMON = {
    "scales": (0.5, 0.625, 0.75, 0.875, 1.0),
    "base_depths": (2, 2, 4, 2),
    "max_depths": (4, 4, 6, 4),
    "strides": (1, 2, 2, 2),
    "width_mults": (0.65, 0.8, 1.0),
    "expand_ratios": (0.2, 0.25, 0.35),
}


def _options(name: str, options: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for space {name!r}; allowed: {', '.join(sorted(defaults))}"
        )
    return {**defaults, **options}


def r50_space(**options: Any) -> ResNetSpace:
    """The paper's space: OFA-ResNet50 widths, BiSeNet heads (128/256), base 1024x2048.

    Option: ``base_hw=(H, W)``.
    """
    opts = _options("r50", options, {"base_hw": (1024, 2048)})
    return ResNetSpace(
        name="r50",
        base_hw=opts["base_hw"],
        stem_out=(40, 48, 64),
        stem_mid=(24, 24, 32),
        stage_channels=(256, 512, 1024, 2048),
        divisor=8,
        context_ch=128,
        fusion_ch=256,
        head_mid_ch=256,
        aux_mid_ch=64,
        **_COMMON,
    )


def tiny_space(**options: Any) -> ResNetSpace:
    """A quarter of r50's widths (channel divisor 2), heads 32/64, base 96x128 (CamVid's 3:4).

    Option: ``base_hw=(H, W)``.
    """
    opts = _options("tiny", options, {"base_hw": (96, 128)})
    return ResNetSpace(
        name="tiny",
        base_hw=opts["base_hw"],
        stem_out=(10, 12, 16),
        stem_mid=(6, 6, 8),
        stage_channels=(64, 128, 256, 512),
        divisor=2,
        context_ch=32,
        fusion_ch=64,
        head_mid_ch=64,
        aux_mid_ch=16,
        **_COMMON,
    )


_REGISTRY: dict[str, SpaceFactory] = {"r50": r50_space, "tiny": tiny_space}


def register_space(name: str, factory: SpaceFactory, *, replace: bool = False) -> None:
    """Register ``factory(**options) -> SearchSpace`` under ``name`` for ``get_space``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a space name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise ValueError(f"factory for space {name!r} must be callable")
    if name in _REGISTRY and not replace:
        raise ValueError(f"space {name!r} is already registered (pass replace=True to override)")
    _REGISTRY[name] = factory


def available_spaces() -> list[str]:
    """Names accepted by ``get_space``."""
    return sorted(_REGISTRY)


def get_space(name: str, **options: Any) -> SearchSpace:
    """Build the registered space ``name`` with its keyword options (e.g. ``base_hw``)."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown search space {name!r}; known: {', '.join(available_spaces())}"
        ) from None
    space = factory(**options)
    if not isinstance(space, SearchSpace):
        raise ValueError(
            f"factory for space {name!r} returned {type(space).__name__}, not a SearchSpace"
        )
    return space
