"""Table problems that leave out part of their box: a finite candidate pool.

The oracles: brute-force nearest rows, brute-force Pareto fronts, and the CSV itself.
"""

from __future__ import annotations

import itertools
import logging
import re
import sys
from pathlib import Path

import anyio
import numpy as np
import pytest

from segevo.engine.archive import open_archive
from segevo.engine.config import RunConfig
from segevo.engine.problem import load_problem
from segevo.engine.problems import TableProblem, tabular
from segevo.engine.run import Coordinator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_helpers import brute_force_front

TABLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tables"


def write_csv(path: Path, X: np.ndarray, **columns: np.ndarray) -> Path:
    """``x0..``, then the named float columns, one row per architecture."""
    header = [*(f"x{i}" for i in range(X.shape[1])), *columns]
    lines = [",".join(header)]
    for i, x in enumerate(X.tolist()):
        lines.append(",".join([*map(str, x), *(repr(float(v[i])) for v in columns.values())]))
    path.write_text("\n".join(lines) + "\n")
    return path


def pool_table(
    path: Path, radix: tuple[int, ...], keep: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A CSV holding a random fraction ``keep`` of the box (rows shuffled); (X, acc, lat)."""
    rng = np.random.default_rng(seed)
    box = np.array(list(itertools.product(*(range(r) for r in radix))), dtype=np.int64)
    chosen = rng.permutation(len(box))[: max(2, int(keep * len(box)))]
    X = box[chosen]
    size = X.sum(axis=1) / sum(r - 1 for r in radix)
    acc = np.round(0.3 + 0.6 * size + rng.normal(0, 0.05, len(X)), 6)
    lat = np.round(2.0 + 10.0 * size + rng.uniform(0, 1.0, len(X)), 6)
    write_csv(path, X, acc=acc, lat_ms=lat)
    return X, acc, lat


def nearest_oracle(x: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """The pool row with fewest differing digits, then smallest L1, then first in
    lexicographic order (the table's order), by looking at every row."""
    rows = sorted(map(tuple, pool.tolist()))
    best = min(
        rows,
        key=lambda r: (
            sum(a != b for a, b in zip(r, x, strict=True)),
            sum(abs(a - b) for a, b in zip(r, x, strict=True)),
        ),
    )
    return np.array(best)


def rows_of(X: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(x) for x in np.asarray(X).tolist()}


# -- the pool ---------------------------------------------------------------------------------


def test_a_sparse_table_is_a_pool_and_says_so(tmp_path, caplog):
    X, acc, lat = pool_table(tmp_path / "p.csv", (4, 3, 3, 2), keep=0.3)
    with caplog.at_level(logging.WARNING, logger="segevo.engine.problems.table"):
        problem = load_problem(f"table:{tmp_path / 'p.csv'}")
        load_problem(f"table:{tmp_path / 'p.csv'}")  # said once per process, not per load
    said = [r.getMessage() for r in caplog.records if "covers" in r.getMessage()]
    assert said == [
        f"table {tmp_path / 'p.csv'} covers {len(X)} of 72 architectures of its box: "
        "searching that pool only"
    ]
    assert isinstance(problem, TableProblem) and problem.is_pool
    assert problem.capacity == problem.size == len(X) and problem.codec.size == 72
    assert rows_of(problem.architectures()) == rows_of(X)
    # Look-ups return the CSV's values; the table order is lexicographic.
    arch = problem.architectures()
    assert [tuple(r) for r in arch.tolist()] == sorted(rows_of(X))
    lookup = {tuple(x): (a, t) for x, a, t in zip(X.tolist(), acc, lat, strict=True)}
    np.testing.assert_array_equal(problem.accuracy(arch), [lookup[tuple(x)][0] for x in arch])
    np.testing.assert_array_equal(problem.latency(arch), [lookup[tuple(x)][1] for x in arch])
    assert problem.evaluate(X[3]) == {"acc": acc[3], "lat_ms": lat[3]}


def test_a_complete_table_is_no_pool(tmp_path, caplog):
    X, _, _ = pool_table(tmp_path / "c.csv", (3, 2, 2), keep=1.0)
    with caplog.at_level(logging.WARNING):
        problem = load_problem(f"table:{tmp_path / 'c.csv'}")
    assert not problem.is_pool and problem.capacity == problem.codec.size == len(X) == 12
    assert not [r for r in caplog.records if "covers" in r.getMessage()]
    # Uniform over the box, plain clipping as repair.
    Y = np.array([[5, -1, 1], [0, 1, 1]])
    np.testing.assert_array_equal(problem.repair(Y), [[2, 0, 1], [0, 1, 1]])


def test_missing_architectures_are_a_clear_error(tmp_path):
    X, _, _ = pool_table(tmp_path / "p.csv", (3, 3, 3), keep=0.4)
    problem = load_problem(f"table:{tmp_path / 'p.csv'}")
    absent = next(x for x in itertools.product(range(3), repeat=3) if x not in rows_of(X))
    with pytest.raises(ValueError, match=re.escape(f"x[0] = {list(absent)} is not in the table")):
        problem.evaluate(np.array(absent))
    with pytest.raises(ValueError, match=f"a pool of {len(X)} of the 27 architectures"):
        problem.latency(np.array([X[0], absent]))
    with pytest.raises(ValueError, match="not in the table"):
        problem.accuracy(np.array([absent]))


def test_sample_draws_uniformly_from_the_rows(tmp_path):
    X, _, _ = pool_table(tmp_path / "p.csv", (4, 4, 3), keep=0.25)
    problem = load_problem(f"table:{tmp_path / 'p.csv'}")
    drawn = problem.sample(30_000, np.random.default_rng(0))
    assert drawn.dtype == np.int64 and drawn.shape == (30_000, 3)
    assert rows_of(drawn) == rows_of(X)  # only rows that exist, and every one of them
    counts = np.unique(problem.codec.index(drawn), return_counts=True)[1]
    expected = 30_000 / len(X)
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    assert problem.sample(0, np.random.default_rng(0)).shape == (0, 3)
    with pytest.raises(ValueError, match="n must be"):
        problem.sample(-1, np.random.default_rng(0))


def test_bounds_and_front_are_those_of_the_rows(tmp_path):
    X, acc, lat = pool_table(tmp_path / "p.csv", (4, 4, 3, 3), keep=0.2, seed=3)
    problem = load_problem(f"table:{tmp_path / 'p.csv'}")
    assert problem.objective_bounds() == {
        "acc": (acc.min(), acc.max()),
        "lat_ms": (lat.min(), lat.max()),
    }
    front = problem.pareto_front()
    assert rows_of(front) == rows_of(X[brute_force_front(acc, lat)])
    assert np.all(np.diff(problem.latency(front)) >= 0)


# -- repair: snapping to the nearest row ----------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_repair_matches_a_brute_force_nearest_row(tmp_path, seed):
    radix = (4, 3, 5, 2, 3)
    X, _, _ = pool_table(tmp_path / "p.csv", radix, keep=0.1, seed=seed)
    problem = load_problem(f"table:{tmp_path / 'p.csv'}")
    rng = np.random.default_rng(seed)
    # Inside and outside the box, floats, repeats, and rows that exist.
    Y = np.concatenate(
        [rng.integers(-1, 6, size=(150, 5)), X[:10], rng.integers(0, 3, size=(1, 5)).repeat(3, 0)]
    )
    repaired = problem.repair(Y.astype(np.float64) + rng.uniform(-0.4, 0.4, Y.shape))
    clipped = np.clip(Y, problem.lower, problem.upper)
    oracle = np.array([nearest_oracle(y, X) for y in clipped])
    np.testing.assert_array_equal(repaired, oracle)
    np.testing.assert_array_equal(repaired[150:160], X[:10])  # existing rows stay
    assert rows_of(repaired) <= rows_of(X)
    np.testing.assert_array_equal(problem.repair(repaired), repaired)  # idempotent


def test_repair_ties_go_to_smaller_l1_then_table_order(tmp_path):
    # From (1, 1): (0, 1), (1, 0) and (1, 3) all differ in one digit; (1, 3) is farther (L1 2);
    # (0, 1) and (1, 0) tie, and (0, 1) comes first in lexicographic order.
    X = np.array([[1, 3], [1, 0], [0, 1], [2, 3], [2, 2]])
    write_csv(tmp_path / "t.csv", X, acc=np.arange(5.0), lat_ms=np.arange(5.0))
    problem = load_problem(f"table:{tmp_path / 't.csv'}")
    np.testing.assert_array_equal(problem.repair(np.array([[1, 1]])), [[0, 1]])
    np.testing.assert_array_equal(problem.repair(np.array([[1, 2]])), [[1, 3]])  # L1 1 < 2
    np.testing.assert_array_equal(problem.repair(np.array([[0, 3]])), [[1, 3]])


def test_repair_in_blocks_and_without_lookup_tables_agrees(tmp_path, monkeypatch):
    X, _, _ = pool_table(tmp_path / "p.csv", (5, 5, 4, 3), keep=0.15, seed=4)
    rng = np.random.default_rng(5)
    Y = rng.integers(0, 5, size=(400, 4))
    reference = load_problem(f"table:{tmp_path / 'p.csv'}").repair(Y)
    monkeypatch.setattr(tabular, "_BLOCK_ELEMENTS", 7 * len(X))  # 7 candidates a block
    monkeypatch.setattr(tabular, "_MAX_LOOKUP_ELEMENTS", 0)  # the direct score
    again = load_problem(f"table:{tmp_path / 'p.csv'}").repair(Y)
    np.testing.assert_array_equal(again, reference)
    clipped = np.clip(Y, 0, [4, 4, 3, 2])
    np.testing.assert_array_equal(reference[:40], [nearest_oracle(y, X) for y in clipped[:40]])


def test_repair_of_ten_thousand_rows_against_ten_thousand_stays_in_the_pool():
    rng = np.random.default_rng(0)
    radix = np.full(10, 4)
    box_index = rng.choice(4**10, size=10_000, replace=False)
    pool = (box_index[:, None] // 4 ** np.arange(9, -1, -1)) % 4
    problem = tabular.TabularProblem(
        np.zeros(10, np.int64),
        radix - 1,
        rng.random(10_000),
        rng.random(10_000),
        architectures=pool,
    )
    Y = rng.integers(0, 4, size=(10_000, 10))
    repaired = problem.repair(Y)
    assert rows_of(repaired) <= rows_of(pool)
    np.testing.assert_array_equal(repaired[:20], [nearest_oracle(y, pool) for y in Y[:20]])


# -- whole searches over a pool ------------------------------------------------------------------


async def _search(tmp_path: Path, **config) -> tuple[Coordinator, object]:
    coordinator = Coordinator.create(RunConfig(**config), tmp_path / "run")
    with anyio.fail_after(120):
        summary = await coordinator.run()
    return coordinator, summary


@pytest.mark.anyio
@pytest.mark.parametrize(
    "strategy",
    [
        {"strategy": "random"},
        {"strategy": "nsga2", "moea_options": {"pop_size": 12}},
        {"strategy": "mosegnas", "surrogate": "dt", "moea_options": {"pop_size": 16, "n_gen": 6}},
    ],
    ids=["random", "nsga2", "mosegnas"],
)
async def test_a_search_proposes_only_rows_that_exist(tmp_path, strategy):
    X, acc, lat = pool_table(tmp_path / "p.csv", (4, 4, 3, 3), keep=0.3, seed=1)
    coordinator, summary = await _search(
        tmp_path,
        problem=f"table:{tmp_path / 'p.csv'}",
        evaluations=30,
        initial=8,
        batch=4,
        evaluators=2,
        **strategy,
    )
    assert summary.finished and summary.reason == "budget reached"
    data = open_archive(tmp_path / "run")
    assert len(data) == 30 and len(rows_of(data["x"])) == 30
    assert rows_of(data["x"]) <= rows_of(X)
    lookup = {tuple(x): (a, t) for x, a, t in zip(X.tolist(), acc, lat, strict=True)}
    np.testing.assert_array_equal(data["acc"], [lookup[tuple(x)][0] for x in data["x"].tolist()])
    np.testing.assert_array_equal(data["lat_ms"], [lookup[tuple(x)][1] for x in data["x"].tolist()])
    # The hypervolume reference comes from the pool's bounds.
    assert tuple(coordinator.config.hv_reference) == (acc.min(), lat.max())


@pytest.mark.anyio
async def test_a_budget_of_the_whole_pool_evaluates_every_row_once(tmp_path):
    X, acc, lat = pool_table(tmp_path / "p.csv", (3, 3, 3), keep=0.5, seed=2)
    coordinator, summary = await _search(
        tmp_path,
        problem=f"table:{tmp_path / 'p.csv'}",
        evaluations=len(X),
        initial=4,
        batch=3,
        evaluators=2,
        strategy="random",
    )
    assert summary.finished
    data = open_archive(tmp_path / "run")
    assert len(data) == len(X) and rows_of(data["x"]) == rows_of(X)
    assert rows_of(coordinator.front()["x"]) == rows_of(X[brute_force_front(acc, lat)])


def test_a_budget_larger_than_the_pool_is_refused(tmp_path):
    X, _, _ = pool_table(tmp_path / "p.csv", (3, 3, 3), keep=0.5)
    path = tmp_path / "p.csv"
    config = RunConfig(problem=f"table:{path}", evaluations=len(X) + 1, initial=4)
    with pytest.raises(
        ValueError, match=rf"evaluations \({len(X) + 1}\) exceeds the {len(X)} distinct"
    ) as error:
        Coordinator.create(config, tmp_path / "run")
    assert str(path) in str(error.value)
    assert not (tmp_path / "run").exists()


def test_the_old_strict_check_stays_available(tmp_path):
    pool_table(tmp_path / "p.csv", (3, 3), keep=0.5)
    with pytest.raises(ValueError, match=r"hold 9 architectures but the table has 4 rows"):
        load_problem(f"table:{tmp_path / 'p.csv'}", complete=True)


def test_a_pool_spec_rebuilds_the_same_problem(tmp_path):
    pool_table(tmp_path / "p.csv", (3, 4, 3), keep=0.3)
    problem = load_problem(f"table:{tmp_path / 'p.csv'}", lower=[0, 0, 0], upper=[2, 3, 2])
    again = load_problem(problem.spec())
    assert again.spec() == problem.spec() and again.is_pool
    np.testing.assert_array_equal(again.architectures(), problem.architectures())


# -- the real benchmark tables ---------------------------------------------------------------


def _real(name: str) -> Path:
    path = TABLES / name
    if not path.is_file():
        pytest.skip(f"the public benchmark tables are not at {TABLES} (see its SOURCES.md)")
    return path


@pytest.mark.parametrize(
    ("name", "rows"),
    [("transnas_segmentsemantic_micro.csv", 711), ("transnas_segmentsemantic_macro.csv", 725)],
)
def test_the_transnas_tables_are_pools(name, rows):
    path = _real(name)
    problem = load_problem(f"table:{path}", columns=["acc", "flops"])
    assert problem.is_pool and problem.capacity == rows < problem.codec.size
    rng = np.random.default_rng(0)
    Y = rng.integers(problem.lower, problem.upper + 1, size=(2000, problem.n_var))
    repaired = problem.repair(Y)
    assert rows_of(repaired) <= rows_of(problem.architectures())
    idx = rng.choice(len(Y), 20, replace=False)
    pool = problem.architectures()
    np.testing.assert_array_equal(repaired[idx], [nearest_oracle(y, pool) for y in Y[idx]])
    front = problem.pareto_front()
    acc, cost = problem.table()
    assert rows_of(front) == rows_of(pool[brute_force_front(acc, cost)])


def test_nasbench_macro_is_complete_with_flops_as_cost():
    path = _real("nasbench_macro_cifar10.csv")
    problem = load_problem(
        f"table:{path}", columns=["acc", "mflops"], noise=["acc_run0", "acc_run1", "acc_run2"]
    )
    assert not problem.is_pool and problem.capacity == 6561 == 3**8
    first = problem.evaluate(np.zeros(8, np.int64))
    assert first["lat_ms"] == pytest.approx(7.7133)
    assert first["acc"] in (0.4532, 0.4533, 0.4544)
    assert problem.latency(np.zeros((1, 8), np.int64))[0] == pytest.approx(7.7133)
    assert problem.accuracy(np.zeros((1, 8), np.int64))[0] == pytest.approx(0.453633)
