"""ResNetSpace: elastic ResNet bottleneck backbones under BiSeNet v1 heads (the presets' family).

The layout of an architecture vector, its canonical form and the sampling phases are
described in :mod:`segevo.nets.space`.
"""

from __future__ import annotations

import math
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
from segevo.nets.spaces.base import (
    DEFAULT_NUM_CLASSES,
    SearchSpace,
    as_rng,
    check_num_classes,
    check_phase,
)
from segevo.nets.spaces.checks import int_pair, positive_floats, positive_ints


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
        self.base_hw = int_pair("base_hw", base_hw)
        self.scales = positive_floats("scales", scales)
        self.stem_out = positive_ints("stem_out", stem_out)
        self.stem_mid = positive_ints("stem_mid", stem_mid)
        self.stage_channels = positive_ints("stage_channels", stage_channels)
        self.base_depths = positive_ints("base_depths", base_depths)
        self.max_depths = positive_ints("max_depths", max_depths)
        self.strides = positive_ints("strides", strides)
        self.width_mults = positive_floats("width_mults", width_mults)
        self.expand_ratios = positive_floats("expand_ratios", expand_ratios)
        self.divisor = positive_ints("divisor", [divisor])[0]
        self.context_ch = positive_ints("context_ch", [context_ch])[0]
        self.fusion_ch = positive_ints("fusion_ch", [fusion_ch])[0]
        self.head_mid_ch = positive_ints("head_mid_ch", [head_mid_ch])[0]
        self.aux_mid_ch = positive_ints("aux_mid_ch", [aux_mid_ch])[0]
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
        choices = self._choices(check_phase(phase))
        x = np.zeros(self.n_var, dtype=np.int64)
        x[0], x[1], x[2] = choices["scale"][0], choices["stem_depth"][0], choices["stem_width"][0]
        for s, (per_w, depths) in enumerate(choices["stages"]):
            di, wi, es = self._d_idx[s], self._w_idx[s], self._e_idx[s]
            w = min(per_w)
            x[wi], x[di] = w, depths[0]
            x[es.start : es.start + self.base_depths[s] + depths[0]] = min(per_w[w])
        return x

    def count(self, *, phase: str | None = None) -> int:
        choices = self._choices(check_phase(phase))
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
        gen = as_rng(rng)
        choices = self._choices(check_phase(phase))
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
        names: list[str] = []
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
        return self._per_vector(x, lambda arch: arch_macs(arch, check_num_classes(num_classes)))

    def params(
        self, x: Any, num_classes: int = DEFAULT_NUM_CLASSES, *, with_aux: bool = False
    ) -> Any:
        """Trainable parameters of ``extract(x)`` (auxiliary heads only if ``with_aux``)."""
        return self._per_vector(
            x, lambda arch: arch_params(arch, check_num_classes(num_classes), with_aux=with_aux)
        )

    def _per_vector(self, x: Any, fn: Callable[[ArchConfig], int]) -> Any:
        arr = np.asarray(x)
        if arr.ndim == 1:
            return fn(self.decode(arr))
        arr = self.validate(arr)
        return np.array([fn(self.decode(row)) for row in arr], dtype=np.int64)


def _shrink(hw: tuple[int, int], stride: int) -> tuple[int, int]:
    h, w = hw
    while stride > 1:
        if stride % 2:
            raise ValueError(f"only power-of-two strides are supported, got {stride}")
        h, w, stride = half_size(h), half_size(w), stride // 2
    return h, w
