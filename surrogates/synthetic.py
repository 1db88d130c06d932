"""A reproducible synthetic ground truth over the ``r50`` search space, for benchmarking.

The true mIoU of sub-networks needs GPU-days; this module gives a stand-in with the shape
one expects of it, so predictors can be compared quickly and anyone can regenerate the
exact table from a seed:

- diminishing returns in every stage's capacity (width x sum of expansions, later layers of
  a stage counting less), weighted more on the deeper stages;
- input resolution that multiplies the backbone's value (and adds more when the last stage
  is wide), a stem that helps most at low resolution;
- a non-monotone optimum (middle expansion ratio in stage 1), a bottleneck penalty when
  stage 3 is wider than stage 4;
- seeded random main effects per digit value and random pairwise interactions between
  40 digit pairs (an inactive layer takes part in neither), which make the landscape
  rugged;
- optional Gaussian noise, like the noise of inherited-weight evaluation.

Digit layout (DESIGN.md, "Search space"): x0 input scale 0..4; x1 stem depth 0..1;
x2 stem width 0..2; then four stages ``d, w, e_1..e_Lmax`` with base depth 2, 2, 4, 2 and
maximum 4, 4, 6, 4 layers (29 digits); ``d`` 0..2 adds layers, ``w`` 0..2 picks a width
multiplier, ``e`` 1..3 picks an expansion ratio and 0 marks a layer beyond the depth.
Vectors here are canonical: exactly the first ``base + d`` layers of a stage are active.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

BASE_LAYERS = (2, 2, 4, 2)
MAX_LAYERS = (4, 4, 6, 4)
N_VAR = 3 + sum(2 + n for n in MAX_LAYERS)  # 29
RESOLUTION = np.array([0.5, 0.625, 0.75, 0.875, 1.0])
WIDTH = np.array([0.65, 0.8, 1.0])
EXPAND = np.array([0.0, 0.2, 0.25, 0.35])  # index 0: inactive layer
STAGE_WEIGHT = np.array([0.15, 0.25, 0.35, 0.25])
N_INTERACTIONS = 40


def stage_offsets() -> list[int]:
    """Index of each stage's depth digit ``d`` (its width digit follows, then expansions)."""
    offsets, at = [], 3
    for n_layers in MAX_LAYERS:
        offsets.append(at)
        at += 2 + n_layers
    return offsets


def r50_bounds() -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the r50 space: from ``segevo.nets.space`` when it exists, else DESIGN.md's."""
    try:
        from segevo.nets.space import get_space

        space = get_space("r50")
        lower = np.asarray(space.lower, dtype=np.int64)
        upper = np.asarray(space.upper, dtype=np.int64)
        if lower.size == N_VAR:
            return lower, upper
    except ImportError:
        pass
    upper = [4, 1, 2]
    for n_layers in MAX_LAYERS:
        upper += [2, 2] + [3] * n_layers
    return np.zeros(N_VAR, dtype=np.int64), np.asarray(upper, dtype=np.int64)


def sample_r50(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` canonical r50 vectors: every digit uniform, layers beyond the depth set to 0."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    X = np.zeros((n, N_VAR), dtype=np.int64)
    X[:, 0] = rng.integers(0, 5, n)
    X[:, 1] = rng.integers(0, 2, n)
    X[:, 2] = rng.integers(0, 3, n)
    for at, base, most in zip(stage_offsets(), BASE_LAYERS, MAX_LAYERS, strict=True):
        X[:, at] = rng.integers(0, most - base + 1, n)
        X[:, at + 1] = rng.integers(0, 3, n)
        expand = rng.integers(1, 4, (n, most))
        active = np.arange(most)[None, :] < (base + X[:, at])[:, None]
        X[:, at + 2 : at + 2 + most] = np.where(active, expand, 0)
    return X


class R50GroundTruth:
    """The synthetic accuracy function; the same ``seed`` always gives the same function."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5E6E70]))
        # Random main effect of each value of each digit.
        self.main = rng.normal(0.0, 0.0015, (N_VAR, 6))
        # Random interaction tables between distinct digit pairs.
        pairs = set()
        while len(pairs) < N_INTERACTIONS:
            i, j = sorted(int(v) for v in rng.choice(N_VAR, 2, replace=False))
            pairs.add((i, j))
        self.pairs = sorted(pairs)
        self.tables = rng.normal(0.0, 0.002, (N_INTERACTIONS, 6, 6))

    def __call__(self, X: Any) -> np.ndarray:
        """Noise-free accuracy (mIoU-like, about 0.45..0.75) of canonical r50 vectors."""
        X = np.asarray(X, dtype=np.int64)
        if X.ndim != 2 or X.shape[1] != N_VAR:
            raise ValueError(f"X must be [n, {N_VAR}], got shape {X.shape}")
        lower, upper = r50_bounds()
        if np.any(np.minimum(lower, 0) > X) or np.any(upper < X):
            raise ValueError("X has digits outside the r50 bounds")
        resolution = RESOLUTION[X[:, 0]]
        res_gain = (1 - np.exp(-4 * (resolution - 0.3))) / (1 - np.exp(-4 * 0.7))
        quality = np.zeros(X.shape[0])
        widths = []
        for s, (at, most) in enumerate(zip(stage_offsets(), MAX_LAYERS, strict=True)):
            width = WIDTH[X[:, at + 1]]
            widths.append(width)
            decay = 0.85 ** np.arange(most)
            expand = EXPAND[X[:, at + 2 : at + 2 + most]] / EXPAND[-1]
            capacity = width * (expand * decay).sum(axis=1) / decay.sum()
            quality += STAGE_WEIGHT[s] * (1 - np.exp(-3 * capacity)) / (1 - np.exp(-3))
        acc = 0.40 + 0.30 * quality * (0.6 + 0.4 * res_gain) + 0.04 * res_gain * widths[3]
        acc += 0.012 * X[:, 1] * (1 - resolution) + 0.004 * X[:, 2]
        at1 = stage_offsets()[0]
        first = X[:, at1 + 2 : at1 + 2 + MAX_LAYERS[0]]
        mean_expand = EXPAND[first].sum(axis=1) / np.maximum((first > 0).sum(axis=1), 1)
        acc -= 4.0 * (mean_expand - 0.26) ** 2
        acc -= 0.02 * np.maximum(widths[2] - widths[3], 0.0)
        acc += self.main[np.arange(N_VAR)[None, :], X].sum(axis=1)
        # An expansion digit of 0 is a missing layer: it takes part in no interaction.
        active = (X > 0) | ~expansion_digits()[None, :]
        for table, (i, j) in zip(self.tables, self.pairs, strict=True):
            acc += np.where(active[:, i] & active[:, j], table[X[:, i], X[:, j]], 0.0)
        return acc


def expansion_digits() -> np.ndarray:
    """Boolean mask of the digits that are per-layer expansion ratios."""
    mask = np.zeros(N_VAR, dtype=bool)
    for at, most in zip(stage_offsets(), MAX_LAYERS, strict=True):
        mask[at + 2 : at + 2 + most] = True
    return mask


def make_r50_table(
    n_rows: int = 2000, *, seed: int = 0, noise: float = 0.002
) -> tuple[np.ndarray, np.ndarray]:
    """``n_rows`` distinct canonical r50 vectors and their synthetic accuracies.

    The function, the sample and the noise all come from ``seed``.
    """
    if n_rows < 1:
        raise ValueError(f"n_rows must be >= 1, got {n_rows}")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite non-negative number, got {noise}")
    sample_rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    noise_rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    rows: dict[bytes, np.ndarray] = {}
    while len(rows) < n_rows:
        for x in sample_r50(n_rows, sample_rng):
            rows.setdefault(x.tobytes(), x)
            if len(rows) == n_rows:
                break
    X = np.stack(list(rows.values()))
    y = R50GroundTruth(seed)(X) + noise_rng.normal(0.0, noise, n_rows)
    return X, y


def write_table_csv(path: str | Path, X: np.ndarray, y: np.ndarray) -> Path:
    """Write ``X``/``y`` as CSV with columns ``x0..x{n-1}, acc`` (the benchmark's input)."""
    path = Path(path)
    X = np.asarray(X, dtype=np.int64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be [n, n_var] and y [n], got {X.shape} and {y.shape}")
    header = ",".join([*(f"x{i}" for i in range(X.shape[1])), "acc"])
    lines = [header]
    lines += [
        ",".join([*map(str, row.tolist()), repr(float(acc))]) for row, acc in zip(X, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
