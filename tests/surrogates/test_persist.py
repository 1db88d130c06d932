from __future__ import annotations

import json

import numpy as np
import pytest

from segevo.surrogates import NotFittedError, load_surrogate, make_surrogate

from .conftest import FAST_OPTIONS, TOY_LOWER, TOY_UPPER


def test_ranknet_file_holds_its_weights(toy_data, tmp_path) -> None:
    X, y, _, _ = toy_data
    model = make_surrogate("ranknet", TOY_LOWER, TOY_UPPER, **FAST_OPTIONS["ranknet"]).fit(X, y)
    path = model.save(tmp_path / "r.npz")
    with np.load(path, allow_pickle=False) as archive:
        keys = set(archive.files)
        meta = json.loads(archive["meta"].tobytes())
        np.testing.assert_array_equal(archive["train_X"], X)
    assert {"state/weight0", "state/bias3", "train_y"} <= keys
    assert meta["format"] == "segevo-surrogate" and meta["version"] == 1
    assert meta["lower"] == TOY_LOWER.tolist() and meta["upper"] == TOY_UPPER.tolist()
    assert meta["space"] is None


def test_baseline_file_holds_data_not_a_pickle(toy_data, tmp_path) -> None:
    X, y, _, _ = toy_data
    path = (
        make_surrogate("gb", TOY_LOWER, TOY_UPPER, n_estimators=10).fit(X, y).save(tmp_path / "g")
    )
    with np.load(path, allow_pickle=False) as archive:
        assert not any(key.startswith("state/") for key in archive.files)


def test_save_before_fit_is_refused(tmp_path) -> None:
    with pytest.raises(NotFittedError):
        make_surrogate("dt", TOY_LOWER, TOY_UPPER).save(tmp_path / "x.npz")


def test_unreadable_files_are_refused(tmp_path) -> None:
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable surrogate file"):
        load_surrogate(junk)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ValueError, match="no 'meta' entry"):
        load_surrogate(other)
    wrong = tmp_path / "wrong.npz"
    np.savez(
        wrong, meta=np.frombuffer(json.dumps({"format": "x", "version": 9}).encode(), np.uint8)
    )
    with pytest.raises(ValueError, match="is not 'segevo-surrogate' version 1"):
        load_surrogate(wrong)


def test_saving_replaces_an_older_file_whole(toy_data, tmp_path) -> None:
    X, y, X_test, _ = toy_data
    path = tmp_path / "m.npz"
    make_surrogate("dt", TOY_LOWER, TOY_UPPER).fit(X[:50], y[:50]).save(path)
    newer = make_surrogate("dt", TOY_LOWER, TOY_UPPER).fit(X, y)
    newer.save(path)
    assert not (tmp_path / "m.npz.partial").exists()
    np.testing.assert_array_equal(load_surrogate(path).predict(X_test), newer.predict(X_test))
