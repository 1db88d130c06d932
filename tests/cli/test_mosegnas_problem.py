"""The ``mosegnas`` problem on the quick start's supernet and table."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from segevo.devices import LUTSpaceMismatchError, load_lut
from segevo.engine.archive import open_archive
from segevo.engine.problem import available_problems, load_problem
from segevo.engine.problems.mosegnas import MoSegNASProblem, MoSegNASSetupError
from segevo.nets.datasets import get_dataset
from segevo.nets.evaluate import evaluate_subnet
from segevo.nets.train import load_supernet


@pytest.fixture(scope="module")
def options(quick_run):
    return json.loads((quick_run.run_dir / "config.json").read_text())["problem_options"]


@pytest.fixture(scope="module")
def problem(options):
    torch.set_num_threads(1)
    return load_problem("mosegnas", **options)


def test_registered_and_rebuilt_from_its_spec(problem, options):
    assert "mosegnas" in available_problems()
    spec = problem.spec()
    assert spec["problem"] == "mosegnas"
    json.dumps(spec)  # plain data: msgpack- and JSON-able
    again = load_problem(spec)
    assert again.spec() == spec
    assert np.array_equal(problem.lower, problem.space.lower)
    assert problem.space.digest() == again.space.digest()


def test_latency_is_the_lut_prediction(problem, options):
    rng = np.random.default_rng(0)
    X = problem.sample(20, rng)
    assert problem.space.is_valid(X).all()
    table = load_lut(options["lut"], problem.space)
    np.testing.assert_allclose(problem.latency(X), table.predict(X))
    assert np.array_equal(problem.repair(X), X)


def test_evaluate_reproduces_the_archived_accuracy(problem, options, quick_run):
    data = open_archive(quick_run.run_dir)
    x = data["x"][0]
    result = problem.evaluate(x)
    assert result["acc"] == pytest.approx(float(data["acc"][0]), abs=1e-9)
    assert result["lat_ms"] > 0
    # Independent of the problem class: the nets API called directly.
    supernet, _ = load_supernet(options["supernet"])
    opts = {"size": tuple(options["dataset_options"]["size"])}
    direct = evaluate_subnet(
        supernet,
        x,
        get_dataset("synthetic", "train", **opts),
        get_dataset("synthetic", "val", **opts),
        calib_batches=options["calib_batches"],
        calib_batch_size=options["calib_batch_size"],
        max_val_images=options["val_images"],
        seed=options["seed"],
    )
    assert result["acc"] == pytest.approx(direct.miou, abs=1e-9)


def test_concurrent_evaluations_match_sequential_ones(problem):
    X = problem.sample(3, np.random.default_rng(5))
    sequential = [problem.evaluate(x)["acc"] for x in X]
    results: dict[int, float] = {}

    def work(i: int) -> None:
        results[i] = problem.evaluate(X[i])["acc"]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(3)] == pytest.approx(sequential, abs=1e-9)


def test_bad_options_and_missing_files_are_clear(options, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown option"):
        load_problem("mosegnas", **options, colour="red")
    with pytest.raises(ValueError, match="keyword options"):
        load_problem("mosegnas:camvid")
    with pytest.raises(ValueError, match="val_images"):
        MoSegNASProblem(**{**options, "val_images": 0})
    with pytest.raises(MoSegNASSetupError, match="segevo supernet train"):
        MoSegNASProblem(**{**options, "supernet": str(tmp_path / "none.pt")})
    with pytest.raises(MoSegNASSetupError, match="does not exist"):
        MoSegNASProblem(**{**options, "dataset": f"camvid:{tmp_path / 'nowhere'}"})
    # The table was measured for a 48x64 base resolution: another space is refused.
    with pytest.raises(LUTSpaceMismatchError):
        MoSegNASProblem(**{**options, "space_options": {"base_hw": [32, 32]}})
    # Without paths, the problem looks in the cache, and says what to do when it is empty.
    monkeypatch.setenv("SEGEVO_CACHE", str(tmp_path / "empty-cache"))
    bare = {k: v for k, v in options.items() if k not in ("supernet", "lut")}
    with pytest.raises(MoSegNASSetupError, match="segevo run"):
        MoSegNASProblem(**bare)


def test_without_paths_the_cached_artefacts_are_found(options, quick_run, monkeypatch):
    monkeypatch.setenv("SEGEVO_CACHE", str(quick_run.cache))
    bare = {k: v for k, v in options.items() if k not in ("supernet", "lut")}
    found = MoSegNASProblem(**bare)
    assert found.options["supernet"] == options["supernet"]
    assert found.options["lut"] == options["lut"]


def test_a_supernet_of_another_data_set_is_refused_at_load(options):
    # The quick start's supernet predicts 8 classes; a 5-class synthetic set does not fit.
    other = MoSegNASProblem(
        **{**options, "dataset_options": {**options["dataset_options"], "num_classes": 5}}
    )
    with pytest.raises(MoSegNASSetupError, match="classes"):
        other.load()
