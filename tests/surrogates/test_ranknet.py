"""RankNet specifics: the paper's settings, the numpy forward, training actually ranking."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from segevo.surrogates import make_surrogate
from segevo.surrogates.ranknet import RankNet

from .conftest import FAST_OPTIONS, TOY_LOWER, TOY_UPPER


def test_defaults_are_the_papers_table_1() -> None:
    opts = make_surrogate("ranknet", TOY_LOWER, TOY_UPPER).options
    assert opts["hidden_layers"] == 3 and opts["hidden_units"] == 300
    assert opts["epochs"] == 500
    assert opts["learning_rate"] == 8e-4
    assert opts["weight_decay"] == 1e-5
    assert opts["l2"] == 2.5e-4
    assert opts["margin"] == 0.05
    assert opts["teachers"] == ["rbf", "dt", "gb"]


def test_synthetic_rows_per_epoch() -> None:
    auto = make_surrogate("ranknet", TOY_LOWER, TOY_UPPER)
    assert [auto.synthetic_rows_per_epoch(n) for n in (10, 100, 300, 1001)] == [64, 64, 150, 501]
    fixed = make_surrogate("ranknet", TOY_LOWER, TOY_UPPER, synthetic_size=7)
    assert fixed.synthetic_rows_per_epoch(1000) == 7


def test_cosine_schedule_of_algorithm_3() -> None:
    model = make_surrogate("ranknet", TOY_LOWER, TOY_UPPER, epochs=100, learning_rate=1e-3)
    assert model.learning_rate_at(0) == pytest.approx(1e-3)
    assert model.learning_rate_at(50) == pytest.approx(0.5e-3)
    assert model.learning_rate_at(100) == pytest.approx(0.0, abs=1e-15)


def test_numpy_forward_equals_torch(toy_data) -> None:
    X, y, X_test, _ = toy_data
    model = make_surrogate("ranknet", TOY_LOWER, TOY_UPPER, **FAST_OPTIONS["ranknet"]).fit(X, y)
    params = []
    for w, b in zip(model._weights, model._biases, strict=True):
        params += [torch.from_numpy(w), torch.from_numpy(b)]
    features = torch.from_numpy(model.encoder.transform(X_test))
    expected = RankNet._forward_torch(params, features).numpy()
    np.testing.assert_allclose(model.logits(X_test), expected, rtol=1e-5, atol=1e-6)
    # predict is the sigmoid mapped back to the label scale: the same order.
    pred = model.predict(X_test)
    assert stats.kendalltau(pred, expected).statistic == pytest.approx(1.0)


def test_small_and_large_batches_agree(toy_data) -> None:
    X, y, _, _ = toy_data
    model = make_surrogate("ranknet", TOY_LOWER, TOY_UPPER, **FAST_OPTIONS["ranknet"]).fit(X, y)
    rng = np.random.default_rng(1)
    big = rng.integers(TOY_LOWER, TOY_UPPER + 1, size=(5000, 6))
    whole = model.predict(big)
    pieces = np.concatenate([model.predict(big[i : i + 100]) for i in range(0, 5000, 100)])
    np.testing.assert_allclose(whole, pieces, rtol=1e-6)


@pytest.mark.parametrize("loss", ["margin", "eq5"])
def test_training_learns_the_training_ranking(loss: str, toy_data) -> None:
    X, y, _, _ = toy_data
    opts = {**FAST_OPTIONS["ranknet"], "loss": loss, "synthetic_size": 0}
    untrained = make_surrogate("ranknet", TOY_LOWER, TOY_UPPER, **{**opts, "epochs": 1}).fit(X, y)
    trained = make_surrogate("ranknet", TOY_LOWER, TOY_UPPER, **{**opts, "epochs": 150}).fit(X, y)
    tau_before = stats.kendalltau(y, untrained.predict(X)).statistic
    tau_after = stats.kendalltau(y, trained.predict(X)).statistic
    assert tau_after > 0.85 and tau_after > tau_before + 0.2


@pytest.mark.parametrize("mix", ["stack", "mean", "random"])
def test_teacher_labels_track_the_training_labels(mix: str, toy_data) -> None:
    X, y, _, _ = toy_data
    model = make_surrogate("ranknet", TOY_LOWER, TOY_UPPER, teacher_mix=mix)
    y01 = (y - y.min()) / np.ptp(y)
    labels = model._teacher_labels(X, y01, X, np.random.default_rng(0))
    assert labels.shape == (X.shape[0],)
    assert stats.kendalltau(y01, labels).statistic > 0.6


def test_stacking_weights_are_non_negative(toy_data) -> None:
    X, y, _, _ = toy_data
    model = make_surrogate("ranknet", TOY_LOWER, TOY_UPPER)
    weights = model._stacking_weights(X, (y - y.min()) / np.ptp(y))
    assert weights.shape == (4,) and np.all(weights[:3] >= 0) and weights[:3].sum() > 0


def test_fitting_leaves_torch_global_state_alone(toy_data) -> None:
    X, y, _, _ = toy_data
    state = torch.random.get_rng_state()
    torch.set_num_threads(1)
    make_surrogate("ranknet", TOY_LOWER, TOY_UPPER, **FAST_OPTIONS["ranknet"], threads=2).fit(X, y)
    assert torch.equal(state, torch.random.get_rng_state())
    assert torch.get_num_threads() == 1


def test_cuda_when_asked(toy_data) -> None:
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            make_surrogate("ranknet", TOY_LOWER, TOY_UPPER, device="cuda")
        return
    X, y, X_test, _ = toy_data
    model = make_surrogate(
        "ranknet", TOY_LOWER, TOY_UPPER, device="cuda", **FAST_OPTIONS["ranknet"]
    )
    cpu = make_surrogate("ranknet", TOY_LOWER, TOY_UPPER, **FAST_OPTIONS["ranknet"])
    gpu_pred = model.fit(X, y).predict(X_test)
    cpu_pred = cpu.fit(X, y).predict(X_test)
    assert stats.kendalltau(gpu_pred, cpu_pred).statistic > 0.9
