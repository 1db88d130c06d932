"""RankNet: the paper's accuracy predictor (Sec. III-C, Algorithm 3, Table I).

An MLP (3 hidden layers of 300 ReLU units, sigmoid output) on one-hot features, trained
with the pairwise ranking loss of Eq. (5) (see :mod:`.ranking_loss` for how we read it)
plus ``l2 * ||w||^2`` over the weight matrices (Eq. 6), on labels min-max scaled to
[0, 1]. Every epoch is one step on the real data joined by a small batch of synthetic
architectures, sampled uniformly within the bounds (or from the search space), labelled by
teacher models (RBF, decision tree, gradient boosting) fitted on the real data. The
learning rate follows ``eta_t = eta_0 / 2 * (1 + cos(pi t / T))`` and every step applies
Algorithm 3's decoupled weight decay ``w <- (1 - lambda) w``.

Choices the paper leaves open (*inferred*; the numbers are from the synthetic r50 table
of :mod:`.synthetic`):

- Eq. (5) is read as the SVM-style hinge ``max(0, gamma - sign(y_i - y_j)(yhat_i - yhat_j))``
  (``loss="margin"``, default). The literal form with a straight-through gradient
  (``loss="eq5"``) ranks as well when trained full-batch, but it puts no margin on the
  predictions, so the L2 term shrinks the network until the outputs collapse to a
  constant when it takes more steps (mini-batches); see :mod:`.ranking_loss`.
- The gradient step is Adam's (``optimizer="adam"``). Plain SGD at the paper's learning
  rate underfits in 500 steps (Kendall tau 0.48 instead of 0.71 at N = 100);
  ``optimizer="sgd"`` keeps it available.
- Teachers are combined by stacking (``teacher_mix="stack"``): non-negative weights and
  an intercept fitted by least squares on 5-fold out-of-fold predictions on the real data,
  so a weak teacher (the decision tree) does not drag the labels down as a plain average
  (``"mean"``) does; ``"random"`` labels each row with one teacher drawn at random.
- A "small set" of synthetic rows per epoch is ``max(64, ceil(N / 2))`` for ``N`` real rows
  (``synthetic_size="auto"``). With a fixed 32, the network overfits the real rows at
  N = 1000 (Kendall tau 0.831 against 0.846 with 256); at N = 300, 150 rows gave +0.0025
  over 75 in 11 paired repeats.
- All ``epochs x synthetic_size`` synthetic rows are drawn and labelled before training
  and fed in epoch-sized slices: the same data as drawing them epoch by epoch, with one
  teacher call instead of 500. Without a search space they are uniform within the bounds;
  with one, ``space.sample`` (canonical architectures).

Predictions run in numpy from the fitted weights (no torch call per batch), so the
evolutionary proposer can call ``predict`` thousands of times cheaply.
"""

from __future__ import annotations

import itertools
import math
from contextlib import nullcontext
from typing import Any, ClassVar

import numpy as np

from .base import Surrogate
from .options import Option, auto_or, float_range, int_range, one_of, optional, subset_of
from .ranking_loss import READINGS

TEACHERS = ("rbf", "dt", "gb")
_PREDICT_CHUNK = 8192
_SMALL_BATCH = 2048
_BLAS_CONTROLLER: Any = None


def _single_thread_blas() -> Any:
    """A context limiting BLAS to one thread (the threadpoolctl controller is built once)."""
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")


class RankNet(Surrogate):
    """MLP ranking predictor with a ranking loss and teacher-labelled synthetic data."""

    name = "ranknet"
    CPU_ONLY = False
    OPTIONS: ClassVar[dict[str, Option]] = {
        "hidden_layers": Option(3, int_range(1, 16), "hidden layers (Table I: 3)"),
        "hidden_units": Option(300, int_range(1), "units per hidden layer (Table I: 300)"),
        "epochs": Option(500, int_range(1), "training epochs T (Table I: 500)"),
        "learning_rate": Option(
            8e-4, float_range(0.0, low_open=True), "initial learning rate (Table I: 8e-4)"
        ),
        "weight_decay": Option(1e-5, float_range(0.0, 1.0), "lambda of Algorithm 3 (1e-5)"),
        "l2": Option(2.5e-4, float_range(0.0), "beta of Eq. (6), on ||w||^2 (2.5e-4)"),
        "margin": Option(0.05, float_range(0.0), "gamma of Eq. (5) (Table I: 0.05)"),
        "loss": Option("margin", one_of(*READINGS), "reading of Eq. (5); see ranking_loss"),
        "synthetic_size": Option(
            "auto",
            auto_or(int_range(0)),
            "synthetic rows joining each epoch; 'auto': max(64, ceil(N / 2)) for N real rows",
        ),
        "teachers": Option(list(TEACHERS), subset_of(*TEACHERS), "teacher models"),
        "teacher_mix": Option(
            "stack", one_of("stack", "mean", "random"), "how teachers label a row"
        ),
        "optimizer": Option("adam", one_of("adam", "sgd"), "gradient step"),
        "batch_size": Option(
            None, optional(int_range(2)), "rows per step; None: one step on the whole epoch"
        ),
        "threads": Option(
            1, optional(int_range(1, 256)), "torch threads while fitting; None: unchanged"
        ),
    }

    _weights: list[np.ndarray]
    _biases: list[np.ndarray]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._weights, self._biases = [], []
        if self.device != "cpu":
            import torch

            if not torch.cuda.is_available():
                raise ValueError(f"device {self.device!r} asked for, but CUDA is not available")

    # -- training ---------------------------------------------------------------------------

    def _synthetic_rows(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.space is not None and callable(getattr(self.space, "sample", None)):
            return np.asarray(self.space.sample(n, rng), dtype=np.int64)
        return rng.integers(self.lower, self.upper + 1, size=(n, self.encoder.n_var))

    def _teacher(self, name: str, X: np.ndarray, y01: np.ndarray) -> Surrogate:
        from .registry import make_surrogate

        # Teachers learn y01 itself, so their outputs are already on the [0, 1] scale.
        return make_surrogate(name, self.lower, self.upper, seed=self.seed, space=self.space).fit(
            X, y01
        )

    def _stacking_weights(self, X: np.ndarray, y01: np.ndarray) -> np.ndarray:
        """Non-negative teacher weights (and an intercept) fitted on out-of-fold predictions."""
        from scipy.optimize import nnls

        teachers = self.options["teachers"]
        n_folds = min(5, X.shape[0])
        folds = np.random.default_rng(self.seed).permutation(X.shape[0]) % n_folds
        out_of_fold = np.zeros((X.shape[0], len(teachers)))
        for fold in range(n_folds):
            held = folds == fold
            if (~held).sum() < 2:
                continue
            for k, name in enumerate(teachers):
                out_of_fold[held, k] = self._teacher(name, X[~held], y01[~held]).predict(X[held])
        design = np.column_stack([out_of_fold, np.ones(X.shape[0])])
        weights, _ = nnls(design, y01)
        if not np.any(weights[:-1] > 0):
            weights[:-1] = 1.0 / len(teachers)
        return weights

    def _teacher_labels(
        self, X: np.ndarray, y01: np.ndarray, rows: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        votes = np.stack(
            [self._teacher(name, X, y01).predict(rows) for name in self.options["teachers"]],
            axis=1,
        )
        mix = self.options["teacher_mix"]
        if mix == "mean":
            return votes.mean(axis=1)
        if mix == "stack":
            weights = self._stacking_weights(X, y01)
            return votes @ weights[:-1] + weights[-1]
        pick = rng.integers(0, votes.shape[1], size=votes.shape[0])
        return votes[np.arange(votes.shape[0]), pick]

    def _fit(self, X: np.ndarray, y01: np.ndarray) -> None:
        import torch

        from .ranking_loss import pairwise_rank_loss

        opts = self.options
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x7A4E]))
        epochs, per_epoch = opts["epochs"], self.synthetic_rows_per_epoch(X.shape[0])
        if per_epoch > 0:
            synthetic = self._synthetic_rows(epochs * per_epoch, rng)
            synthetic_y = self._teacher_labels(X, y01, synthetic, rng)
        else:
            synthetic = np.zeros((0, self.encoder.n_var), dtype=np.int64)
            synthetic_y = np.zeros(0)

        previous_threads = torch.get_num_threads()
        if opts["threads"] is not None:
            torch.set_num_threads(opts["threads"])
        try:
            device = torch.device(self.device)
            real_f = torch.from_numpy(self._features(X)).to(device)
            real_y = torch.from_numpy(y01.astype(np.float32)).to(device)
            syn_f = torch.from_numpy(self._features(synthetic)).to(device)
            syn_y = torch.from_numpy(synthetic_y.astype(np.float32)).to(device)
            generator = torch.Generator().manual_seed(self.seed)
            params = self._init_params(real_f.shape[1], generator, device)
            weights = params[0::2]
            if opts["optimizer"] == "adam":
                optimizer: torch.optim.Optimizer = torch.optim.Adam(
                    params, lr=opts["learning_rate"]
                )
            else:
                optimizer = torch.optim.SGD(params, lr=opts["learning_rate"])
            shuffle = torch.Generator().manual_seed(self.seed + 1)
            for epoch in range(epochs):
                for group in optimizer.param_groups:
                    group["lr"] = self.learning_rate_at(epoch)
                lo, hi = epoch * per_epoch, (epoch + 1) * per_epoch
                batch_f = torch.cat([real_f, syn_f[lo:hi]])
                batch_y = torch.cat([real_y, syn_y[lo:hi]])
                for rows in self._batches(batch_f.shape[0], shuffle):
                    feats = batch_f if rows is None else batch_f[rows.to(device)]
                    labels = batch_y if rows is None else batch_y[rows.to(device)]
                    pred = torch.sigmoid(self._forward_torch(params, feats))
                    loss = pairwise_rank_loss(pred, labels, opts["margin"], opts["loss"])
                    if opts["l2"] > 0:
                        loss = loss + opts["l2"] * sum((w * w).sum() for w in weights)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    with torch.no_grad():
                        for p in params:
                            p.mul_(1.0 - opts["weight_decay"])
                    optimizer.step()
        finally:
            torch.set_num_threads(previous_threads)
        self._weights = [w.detach().cpu().numpy().copy() for w in params[0::2]]
        self._biases = [b.detach().cpu().numpy().copy() for b in params[1::2]]

    def synthetic_rows_per_epoch(self, n_real: int) -> int:
        """Synthetic rows that join the ``n_real`` real rows in every epoch."""
        size = self.options["synthetic_size"]
        return max(64, math.ceil(n_real / 2)) if size == "auto" else int(size)

    def learning_rate_at(self, epoch: int) -> float:
        """Algorithm 3's cosine annealing: ``eta_0 / 2 * (1 + cos(pi * t / T))``."""
        epochs = self.options["epochs"]
        return 0.5 * self.options["learning_rate"] * (1 + math.cos(math.pi * epoch / epochs))

    def _batches(self, n: int, shuffle: Any) -> list[Any]:
        import torch

        size = self.options["batch_size"]
        if size is None or size >= n:
            return [None]
        order = torch.randperm(n, generator=shuffle)
        return [order[i : i + size] for i in range(0, n, size) if min(size, n - i) >= 2]

    def _init_params(self, n_in: int, generator: Any, device: Any) -> list[Any]:
        import torch

        # torch.nn.Linear's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from a
        # private generator so that fitting never touches torch's global random state.
        sizes = [n_in] + [self.options["hidden_units"]] * self.options["hidden_layers"] + [1]
        params = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = 1.0 / math.sqrt(fan_in)
            for shape in ((fan_in, fan_out), (fan_out,)):
                value = (torch.rand(shape, generator=generator) * 2 - 1) * bound
                params.append(value.to(device).requires_grad_(True))
        return params

    @staticmethod
    def _forward_torch(params: list[Any], feats: Any) -> Any:
        import torch

        h = feats
        last = len(params) // 2 - 1
        for k in range(last + 1):
            h = torch.addmm(params[2 * k + 1], h, params[2 * k])
            if k < last:
                h = torch.relu(h)
        return h[:, 0]

    # -- prediction (numpy) -----------------------------------------------------------------

    def logits(self, X: Any) -> np.ndarray:
        """Pre-sigmoid scores (monotone in the prediction), float32 ``[n]``."""
        X_int = self.encoder.validate(X)
        out = np.empty(X_int.shape[0], dtype=np.float32)
        # Small batches (the proposer's ~100 rows) run single-threaded: a multi-threaded BLAS
        # call on a 100 x 300 matrix spends more time waking threads than multiplying.
        limit = _single_thread_blas() if X_int.shape[0] <= _SMALL_BATCH else nullcontext()
        with limit:
            for start in range(0, X_int.shape[0], _PREDICT_CHUNK):
                rows = X_int[start : start + _PREDICT_CHUNK]
                out[start : start + rows.shape[0]] = self._logits_numpy(rows)
        return out

    def _logits_numpy(self, X: np.ndarray) -> np.ndarray:
        W, b = self._weights, self._biases
        h = self._features(X) @ W[0]
        h += b[0]
        for k in range(1, len(W)):
            np.maximum(h, 0.0, out=h)
            h = h @ W[k]
            h += b[k]
        return h[:, 0]

    def _predict(self, X: np.ndarray) -> np.ndarray:
        logits = self.logits(X).astype(np.float64)
        return 1.0 / (1.0 + np.exp(-logits))

    # -- persistence --------------------------------------------------------------------------

    def _state(self) -> dict[str, np.ndarray]:
        state = {f"weight{k}": w for k, w in enumerate(self._weights)}
        state.update({f"bias{k}": b for k, b in enumerate(self._biases)})
        return state

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        n_layers = self.options["hidden_layers"] + 1
        expected = {f"weight{k}" for k in range(n_layers)} | {f"bias{k}" for k in range(n_layers)}
        if set(state) != expected:
            raise ValueError(
                f"stored RankNet parameters {sorted(state)} do not match "
                f"{self.options['hidden_layers']} hidden layers"
            )
        self._weights = [state[f"weight{k}"].astype(np.float32) for k in range(n_layers)]
        self._biases = [state[f"bias{k}"].astype(np.float32) for k in range(n_layers)]
        if self._weights[0].shape[0] != self.encoder.n_features:
            raise ValueError(
                f"stored first layer takes {self._weights[0].shape[0]} features, the encoding "
                f"gives {self.encoder.n_features}"
            )
