"""Problems: the table and synthetic plugins, module:attribute loading, the shared contract."""

from __future__ import annotations

import itertools
import sys
import textwrap
from pathlib import Path

import msgpack
import numpy as np
import pytest

from segevo.engine.problem import (
    ArchitectureCodec,
    Problem,
    available_problems,
    load_problem,
    register_problem,
)
from segevo.engine.problems import SyntheticProblem, TableProblem
from segevo.engine.problems.synthetic import main as synthetic_main
from segevo.engine.problems.tabular import pareto_front_mask

SMALL = {"seed": 3, "n_var": 4, "n_values": [3, 4, 2, 3], "epistasis": 2}


def write_table(path: Path, rows: list[tuple[list[int], float, float]], extra: str = "") -> Path:
    n_var = len(rows[0][0])
    lines = [",".join([*(f"x{i}" for i in range(n_var)), "acc", "lat_ms"]) + extra]
    lines += [",".join([*map(str, x), repr(a), repr(t)]) for x, a, t in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    problem = SyntheticProblem(**SMALL)
    return problem.write_csv(tmp_path / "small.csv")


# -- conformance: every registered problem plugin ---------------------------------------------


@pytest.fixture(scope="module")
def mosegnas_options(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A 2-step supernet and a one-repeat latency table of a small ``tiny`` (about 15 s)."""
    import torch

    from segevo.devices import get_device
    from segevo.engine.problems.mosegnas import (
        ensure_lut,
        ensure_supernet,
        space_from_options,
        train_config,
    )
    from segevo.nets.datasets import get_dataset

    torch.set_num_threads(1)
    space_options = {"base_hw": [32, 48]}
    data_options = {"size": [32, 48], "length": 8}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEGEVO_CACHE", str(tmp_path_factory.mktemp("cache")))
        train = {"steps": 2, "batch_size": 2, "num_threads": 1}
        supernet = ensure_supernet(
            train_config("tiny", space_options, "synthetic", data_options, train)
        )
        protocol = {"warmup": 0, "min_repeats": 1, "max_repeats": 1, "budget_s": 1e-3}
        lut = ensure_lut(
            space_from_options("tiny", space_options),
            get_dataset("synthetic", "val", size=(32, 48), length=8).num_classes,
            get_device("cpu", threads=1),
            {**protocol, "retries": 0},
        )
    return {
        "space": "tiny",
        "space_options": space_options,
        "dataset": "synthetic",
        "dataset_options": data_options,
        "supernet": str(supernet.path),
        "lut": str(lut.path),
        "calib_batches": 1,
        "calib_batch_size": 2,
        "val_images": 2,
        "measure_latency": False,
        "threads": 1,
    }


@pytest.fixture(params=[*available_problems(), "module"])
def any_problem(request: pytest.FixtureRequest, small_csv: Path, tmp_path: Path) -> Problem:
    """Every registered problem plugin (and a ``module:attribute`` one), built by its recipe;
    a plugin without one must build from its name alone."""
    name = request.param
    if name == "table":
        return load_problem(f"table:{small_csv}")
    if name == "synthetic":
        return load_problem("synthetic", **SMALL)
    if name == "module":
        module = tmp_path / "user_problem_conf.py"
        module.write_text(USER_MODULE)
        sys.path.insert(0, str(tmp_path))
        try:
            return load_problem("user_problem_conf:make", scale=2.0)
        finally:
            sys.path.remove(str(tmp_path))
    if name == "mosegnas":
        return load_problem("mosegnas", **request.getfixturevalue("mosegnas_options"))
    return load_problem(name)


def test_problem_contract(any_problem: Problem) -> None:
    p = any_problem
    rng = np.random.default_rng(0)
    assert p.lower.dtype == np.int64 and p.upper.dtype == np.int64
    assert p.lower.shape == p.upper.shape == (p.n_var,)
    X = p.sample(50, rng)
    assert X.dtype == np.int64 and X.shape == (50, p.n_var)
    assert np.all((p.lower <= X) & (p.upper >= X))
    np.testing.assert_array_equal(p.repair(X), X)  # repaired samples are canonical
    wild = rng.integers(-5, 10, size=(20, p.n_var))
    repaired = p.repair(wild)
    assert np.all((repaired >= p.lower) & (repaired <= p.upper))
    np.testing.assert_array_equal(p.repair(repaired), repaired)
    lat = p.latency(X)
    assert lat.dtype == np.float64 and lat.shape == (50,) and np.all(np.isfinite(lat))
    result = p.evaluate(X[0])
    assert set(result) <= {"acc", "lat_ms"} and isinstance(result["acc"], float)
    spec = p.spec()
    rebuilt = load_problem(msgpack.unpackb(msgpack.packb(spec)))
    assert rebuilt.spec() == spec
    np.testing.assert_array_equal(rebuilt.lower, p.lower)
    np.testing.assert_array_equal(rebuilt.latency(X), lat)
    assert rebuilt.evaluate(X[0]) == result


# -- codec --------------------------------------------------------------------------------------


def test_codec_round_trip_and_order() -> None:
    codec = ArchitectureCodec(np.array([1, 0, 2]), np.array([2, 3, 4]))
    X = np.array(list(itertools.product([1, 2], range(4), range(2, 5))))
    np.testing.assert_array_equal(codec.index(X), np.arange(codec.size))
    np.testing.assert_array_equal(codec.decode(np.arange(codec.size)), X)
    assert codec.size == 24 and codec.fits_int64


def test_codec_keys_fall_back_to_bytes_for_huge_boxes() -> None:
    codec = ArchitectureCodec(np.zeros(70, np.int64), np.full(70, 3, np.int64))
    assert not codec.fits_int64
    X = np.random.default_rng(0).integers(0, 4, size=(30, 70))
    X[5] = X[3]
    keys = codec.keys(X)
    assert keys[5] == keys[3]
    assert np.unique(keys).size == np.unique(X, axis=0).shape[0]
    with pytest.raises(ValueError, match="too many"):
        codec.index(X)


# -- table problems -----------------------------------------------------------------------------


def test_table_matches_the_csv(small_csv: Path) -> None:
    reference = SyntheticProblem(**SMALL)
    table = load_problem(f"table:{small_csv}")
    assert isinstance(table, TableProblem)
    np.testing.assert_array_equal(table.lower, [0, 0, 0, 0])
    np.testing.assert_array_equal(table.upper, [2, 3, 1, 2])
    X = reference.architectures()
    np.testing.assert_array_equal(table.latency(X), reference.latency(X))
    np.testing.assert_array_equal(table.accuracy(X), reference.accuracy(X))
    x = X[17]
    assert table.evaluate(x) == {"acc": reference.accuracy(x)[0], "lat_ms": reference.latency(x)[0]}
    with pytest.raises(ValueError, match=r"x0 = 3, outside the bounds \[0, 2\]"):
        table.latency(table.upper[None, :] + 1)
    with pytest.raises(ValueError, match="one architecture"):
        table.evaluate(X[:2])
    with pytest.raises(ValueError, match="integers"):
        table.latency(X.astype(np.float64) + 0.5)


def test_table_rows_in_any_order_and_extra_columns(tmp_path: Path) -> None:
    rows = [([a, b], 0.1 * a + 0.01 * b, 1.0 + a + b) for a in range(2) for b in range(3)]
    shuffled = [rows[i] for i in np.random.default_rng(1).permutation(len(rows))]
    path = tmp_path / "t.csv"
    lines = ["lat_ms,note,x1,acc,x0"] + [f"{t!r},n,{x[1]},{a!r},{x[0]}" for x, a, t in shuffled]
    path.write_text("\n".join(lines) + "\n")
    p = load_problem(f"table:{path}")
    for x, a, t in rows:
        assert p.evaluate(np.array(x)) == {"acc": a, "lat_ms": t}


def test_table_missing_combination_names_an_example(tmp_path: Path) -> None:
    rows = [([a, b], 0.5, 1.0) for a in range(3) for b in range(2) if (a, b) != (1, 1)]
    path = write_table(tmp_path / "gap.csv", rows)
    with pytest.raises(ValueError, match=r"missing e\.g\. x = \[1, 1\]"):
        load_problem(f"table:{path}", complete=True)
    assert load_problem(f"table:{path}").capacity == 5  # without complete=True: a pool


def test_table_given_bounds_select_a_complete_sub_box(tmp_path: Path) -> None:
    rows = [([a, b], 0.1 * a, 1.0 + b) for a in range(3) for b in range(3) if (a, b) != (2, 2)]
    path = write_table(tmp_path / "sub.csv", rows)
    with pytest.raises(ValueError, match="missing"):
        load_problem(f"table:{path}", complete=True)
    p = load_problem(f"table:{path}", lower=[0, 0], upper=[1, 2], complete=True)
    assert p.size == 6
    assert load_problem(p.spec()).size == 6


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("x0,acc\n0,0.5\n", "lat_ms"),
        ("acc,lat_ms\n0.5,1\n", "no architecture columns"),
        ("x0,x2,acc,lat_ms\n0,0,0.5,1\n", "x1 is missing"),
        ("x0,acc,lat_ms\n0.5,0.5,1\n", "not an integer"),
        ("x0,acc,lat_ms\n0,nan,1\n1,0.5,1\n", "acc = nan is not finite"),
        ("x0,acc,lat_ms\n0,0.5,1\n0,0.6,1\n", "appears twice"),
        ("x0,acc,lat_ms\n0,0.5,1\n1,abc,1\n", "cannot parse"),
        ("x0,acc,acc,lat_ms\n0,0.5,0.5,1\n", "appears twice in the header"),
    ],
)
def test_table_bad_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_problem(f"table:{path}")


def test_table_refuses_a_changed_file(small_csv: Path) -> None:
    spec = load_problem(f"table:{small_csv}").spec()
    small_csv.write_text(small_csv.read_text() + "\n")
    with pytest.raises(ValueError, match="SHA-256"):
        load_problem(spec)


def test_table_bad_specs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_problem(f"table:{tmp_path / 'nope.csv'}")
    with pytest.raises(ValueError, match="needs a path"):
        load_problem("table")
    with pytest.raises(ValueError, match="unknown problem"):
        load_problem("no_such_problem")
    with pytest.raises(ValueError, match="lower must be"):
        load_problem(
            "table:" + str(write_table(tmp_path / "a.csv", [([0], 0.5, 1.0)])), lower=[0, 0]
        )


# -- synthetic problem -------------------------------------------------------------------------


def test_synthetic_default_size_and_determinism() -> None:
    p = SyntheticProblem()
    assert p.size >= 100_000
    q = SyntheticProblem()
    np.testing.assert_array_equal(p.table()[0], q.table()[0])
    assert not np.array_equal(
        SyntheticProblem(seed=1, **{"n_var": 4}).table()[0],
        SyntheticProblem(seed=2, **{"n_var": 4}).table()[0],
    )


def test_synthetic_latency_is_a_sum_of_per_digit_costs() -> None:
    p = SyntheticProblem(seed=5, n_var=5, n_values=4)
    X = p.architectures()
    lat = p.latency(X)
    # Solve for base + per-digit costs by least squares on one-hot features; an additive
    # latency is reproduced exactly.
    onehot = np.zeros((X.shape[0], 5 * 4))
    onehot[np.arange(X.shape[0])[:, None], np.arange(5) * 4 + X] = 1.0
    design = np.column_stack([np.ones(X.shape[0]), onehot])
    coef, *_ = np.linalg.lstsq(design, lat, rcond=None)
    np.testing.assert_allclose(design @ coef, lat, rtol=0, atol=1e-9)
    lo, hi = p.objective_bounds()["lat_ms"]
    assert lo == pytest.approx(2.0) and hi == pytest.approx(22.0)


def test_synthetic_accuracy_is_rugged() -> None:
    p = SyntheticProblem(seed=0, n_var=6, n_values=4)
    X = p.architectures()
    acc = p.accuracy(X)
    local_optima = np.ones(X.shape[0], dtype=bool)
    for i in range(p.n_var):
        for step in range(1, 4):
            Y = X.copy()
            Y[:, i] = (Y[:, i] + step) % 4
            local_optima &= acc >= p.accuracy(Y)
    assert local_optima.sum() >= 3  # several local optima: not a smooth landscape
    # Digits interact: the effect of changing x0 depends on the other digits.
    effect = p.accuracy(np.column_stack([np.full(len(X), 1), X[:, 1:]])) - p.accuracy(
        np.column_stack([np.zeros(len(X), np.int64), X[:, 1:]])
    )
    assert np.std(effect) > 1e-3


def test_pareto_front_matches_brute_force() -> None:
    p = SyntheticProblem(seed=2, n_var=3, n_values=4, ruggedness=0.5)
    acc, lat = p.table()
    dominated = np.array(
        [
            np.any((acc >= acc[i]) & (lat <= lat[i]) & ((acc > acc[i]) | (lat < lat[i])))
            for i in range(p.size)
        ]
    )
    np.testing.assert_array_equal(pareto_front_mask(acc, lat), ~dominated)
    front = p.pareto_front()
    assert front.shape[0] == np.count_nonzero(~dominated)
    assert np.all(np.diff(p.latency(front)) >= 0)
    # Ties: equal points share the front.
    mask = pareto_front_mask(np.array([1.0, 1.0, 0.5]), np.array([2.0, 2.0, 3.0]))
    np.testing.assert_array_equal(mask, [True, True, False])


def test_synthetic_options_are_validated() -> None:
    with pytest.raises(ValueError, match="n_var"):
        SyntheticProblem(n_var=1)
    with pytest.raises(ValueError, match="epistasis"):
        SyntheticProblem(n_var=3, epistasis=3)
    with pytest.raises(ValueError, match="n_values needs 3"):
        SyntheticProblem(n_var=3, n_values=[2, 2])
    with pytest.raises(ValueError, match="at most"):
        SyntheticProblem(n_var=30, n_values=10)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['colour'\]"):
        load_problem("synthetic", colour="red")
    with pytest.raises(ValueError, match="keyword options"):
        load_problem("synthetic:3")


def test_synthetic_writes_a_loadable_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "syn.csv"
    synthetic_main([str(out), "--seed", "4", "--n-var", "3", "--n-values", "3"])
    assert "27 architectures" in capsys.readouterr().out
    table = load_problem(f"table:{out}")
    ref = SyntheticProblem(seed=4, n_var=3, n_values=3)
    np.testing.assert_array_equal(table.table()[0], ref.table()[0])


# -- module:attribute ----------------------------------------------------------------------------

USER_MODULE = textwrap.dedent(
    """
    import numpy as np
    from segevo.engine.problem import Problem

    class Sphere(Problem):
        def __init__(self, scale=1.0):
            self.scale = scale
            self.lower = np.zeros(3, dtype=np.int64)
            self.upper = np.full(3, 4, dtype=np.int64)

        def latency(self, X):
            return self.scale * np.asarray(X, dtype=np.float64).reshape(-1, 3).sum(axis=1)

        def evaluate(self, x):
            return {"acc": float(-((np.asarray(x) - 2.0) ** 2).sum())}

    instance = Sphere()

    def make(scale=1.0):
        return Sphere(scale)

    not_a_problem = 42
    """
)


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "user_problem_mod.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_problem_mod"


def test_module_attribute_instance_and_factory(user_module: str) -> None:
    instance = load_problem(f"{user_module}:instance")
    assert instance.evaluate(np.array([2, 2, 2])) == {"acc": 0.0}
    assert instance.spec() == {"problem": f"{user_module}:instance", "options": {}}
    made = load_problem(f"{user_module}:make", scale=3.0)
    assert made.latency(np.array([[1, 1, 1]]))[0] == 9.0
    rebuilt = load_problem(made.spec())
    assert rebuilt.latency(np.array([[1, 1, 1]]))[0] == 9.0


def test_module_attribute_errors(user_module: str) -> None:
    with pytest.raises(ValueError, match="cannot import"):
        load_problem("no_such_module_xyz:thing")
    with pytest.raises(ValueError, match="no attribute"):
        load_problem(f"{user_module}:missing")
    with pytest.raises(ValueError, match="expected a Problem instance or a factory"):
        load_problem(f"{user_module}:not_a_problem")
    with pytest.raises(ValueError, match="takes no options"):
        load_problem(f"{user_module}:instance", scale=2)
    with pytest.raises(ValueError, match="expected a segevo Problem"):
        load_problem("builtins:dict")


def test_register_problem_plugin() -> None:
    name = "test_registered_sphere"

    def factory(argument: str | None, **options: object) -> Problem:
        return SyntheticProblem(seed=int(argument or 0), n_var=2, n_values=3)

    register_problem(name, factory)
    assert name in available_problems()
    assert load_problem(f"{name}:7").spec()["options"]["seed"] == 7
    with pytest.raises(ValueError, match="already registered"):
        register_problem(name, factory)
