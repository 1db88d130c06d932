"""Table problems: the objective columns, noisy accuracy, digit kinds, bad files, CLI flags."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from support import child_env

from segevo.cli.main import main
from segevo.cli.search import _with_table_options
from segevo.engine.archive import open_archive
from segevo.engine.config import RunConfig
from segevo.engine.problem import load_problem

RUNS = ("acc_run0", "acc_run1", "acc_run2")


def macro_like(path: Path, rows: int = 9) -> dict[str, np.ndarray]:
    """A complete 2-digit table with NAS-Bench-Macro's columns (mflops as the cost)."""
    X = np.array([[a, b] for a in range(3) for b in range(3)])[:rows]
    rng = np.random.default_rng(0)
    runs = np.round(rng.uniform(0.5, 0.9, size=(len(X), 3)), 4)
    values = {
        "acc": runs.mean(axis=1),
        **{name: runs[:, i] for i, name in enumerate(RUNS)},
        "mflops": 10.0 + X.sum(axis=1) * 3.5,
        "params_m": 0.1 * (1 + X.sum(axis=1)),
    }
    header = ["x0", "x1", *values]
    lines = [",".join(header)]
    for i, x in enumerate(X.tolist()):
        lines.append(",".join([*map(str, x), *(repr(float(v[i])) for v in values.values())]))
    path.write_text("\n".join(lines) + "\n")
    return {"X": X, **values}


# -- columns ---------------------------------------------------------------------------------


def test_the_cost_column_is_served_as_latency(tmp_path):
    t = macro_like(tmp_path / "m.csv")
    problem = load_problem(f"table:{tmp_path / 'm.csv'}", columns=["acc", "mflops"])
    X = t["X"]
    np.testing.assert_array_equal(problem.latency(X), t["mflops"])
    np.testing.assert_array_equal(problem.accuracy(X), t["acc"])
    assert problem.evaluate(X[4]) == {"acc": t["acc"][4], "lat_ms": t["mflops"][4]}
    assert problem.objective_bounds()["lat_ms"] == (t["mflops"].min(), t["mflops"].max())
    spec = problem.spec()
    assert spec["options"]["columns"] == ["acc", "mflops"]
    again = load_problem(spec)
    np.testing.assert_array_equal(again.latency(X), t["mflops"])
    # Another pair: one training's accuracy against the parameter count.
    other = load_problem(f"table:{tmp_path / 'm.csv'}", columns=["acc_run1", "params_m"])
    np.testing.assert_array_equal(other.latency(X), t["params_m"])
    np.testing.assert_array_equal(other.accuracy(X), t["acc_run1"])


def test_default_columns_stay_out_of_the_spec(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x0,acc,lat_ms\n0,0.5,1\n1,0.6,2\n")
    assert set(load_problem(f"table:{path}").spec()["options"]) == {"lower", "upper", "sha256"}


def test_a_missing_column_names_the_columns_that_exist(tmp_path):
    macro_like(tmp_path / "m.csv")
    expected = (
        "missing column(s) ['lat_ms']; the file has columns ['x0', 'x1', 'acc', 'acc_run0', "
        "'acc_run1', 'acc_run2', 'mflops', 'params_m']"
    )
    with pytest.raises(ValueError, match=re.escape(expected)) as error:
        load_problem(f"table:{tmp_path / 'm.csv'}")
    assert str(tmp_path / "m.csv") in str(error.value) and "--table-columns" in str(error.value)
    with pytest.raises(ValueError, match=re.escape("missing column(s) ['flops']")):
        load_problem(f"table:{tmp_path / 'm.csv'}", columns=["acc", "flops"])
    with pytest.raises(ValueError, match=re.escape("missing column(s) ['acc_run7']")):
        load_problem(
            f"table:{tmp_path / 'm.csv'}", columns=["acc", "mflops"], noise=["acc_run0", "acc_run7"]
        )


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ("acc,mflops", "must be a list of column names"),
        (["acc"], "must name 2 columns"),
        (["acc", "acc"], "names a column twice"),
        (["acc", ""], "non-empty column names"),
        (["x0", "mflops"], "are architecture columns"),
    ],
)
def test_bad_column_options(tmp_path, columns, message):
    macro_like(tmp_path / "m.csv")
    with pytest.raises(ValueError, match=message):
        load_problem(f"table:{tmp_path / 'm.csv'}", columns=columns)


# -- bad files: one error each, naming file, line and column --------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("x0,acc,lat_ms\n0,0.5,1\n1,fast,2\n", "line 3: cannot parse column 'acc' = 'fast'"),
        ("x0,acc,lat_ms\n0,0.5,1\n1,0.5,\n", "line 3: cannot parse column 'lat_ms' = ''"),
        ("x0,acc,lat_ms\n0,0.5,1\nseven,0.5,2\n", "line 3: cannot parse column 'x0' = 'seven'"),
        ("x0,acc,lat_ms\n0,0.5,1\n1,nan,2\n", "line 3: acc = nan is not finite"),
        ("x0,acc,lat_ms\n0,0.5,inf\n1,0.5,2\n", "line 2: lat_ms = inf is not finite"),
        ("x0,acc,lat_ms\n0,0.5,1\n1,0.6,2\n2,0.7,3\n1,0.9,4\n", r"twice \(lines 3 and 5\)"),
        ("x0,acc,lat_ms\n0,0.5,1\n1,0.6\n", "line 3: 2 fields, but the header has 3"),
        ("# a comment\n\nx0,acc,lat_ms\n0,0.5,1\n\n# more\n1,x,2\n", "line 7: cannot parse"),
    ],
)
def test_bad_values_name_the_file_line_and_column(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as error:
        load_problem(f"table:{path}")
    assert str(path) in str(error.value)


def test_nan_in_a_noise_column_is_refused(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x0,acc,r0,r1,lat_ms\n0,0.5,0.5,0.5,1\n1,0.6,0.6,nan,2\n")
    assert load_problem(f"table:{path}").evaluate(np.array([1]))["acc"] == 0.6  # unused: fine
    with pytest.raises(ValueError, match="line 3: r1 = nan is not finite"):
        load_problem(f"table:{path}", noise=["r0", "r1"])


def test_comments_and_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("# made by hand\nx0,acc,lat_ms\n\n0,0.5,1\n# between\n1,0.6,2\n")
    problem = load_problem(f"table:{path}")
    assert problem.size == 2 and problem.evaluate(np.array([1])) == {"acc": 0.6, "lat_ms": 2.0}


# -- noise -----------------------------------------------------------------------------------


def test_noise_returns_one_of_the_named_columns(tmp_path):
    t = macro_like(tmp_path / "m.csv")
    problem = load_problem(
        f"table:{tmp_path / 'm.csv'}", columns=["acc", "mflops"], noise=list(RUNS)
    )
    X = t["X"]
    seen: set[int] = set()
    for i, x in enumerate(X):
        allowed = {t[name][i]: k for k, name in enumerate(RUNS)}
        for _ in range(40):
            result = problem.evaluate(x)
            assert result["acc"] in allowed and result["lat_ms"] == t["mflops"][i]
            seen.add(allowed[result["acc"]])
    assert seen == {0, 1, 2}
    # Every architecture sees every column over many evaluations.
    values = {problem.evaluate(X[0])["acc"] for _ in range(60)}
    assert values == {t[name][0] for name in RUNS}
    # The cheap views stay on the main accuracy column.
    np.testing.assert_array_equal(problem.accuracy(X), t["acc"])
    assert problem.objective_bounds()["acc"] == (t["acc"].min(), t["acc"].max())
    acc, _ = problem.table()
    np.testing.assert_array_equal(acc[problem.codec.index(X)], t["acc"])


def test_noise_is_reproducible_whatever_the_thread_order(tmp_path):
    macro_like(tmp_path / "m.csv")
    options = {"columns": ["acc", "mflops"], "noise": list(RUNS), "noise_seed": 5}

    def sequence(problem, x):
        return [problem.evaluate(x)["acc"] for _ in range(12)]

    a = load_problem(f"table:{tmp_path / 'm.csv'}", **options)
    b = load_problem(f"table:{tmp_path / 'm.csv'}", **options)
    X = b.architectures()
    expected = {i: sequence(a, x) for i, x in enumerate(X)}
    # The same evaluations, interleaved across threads, give the same per-architecture draws.
    got: dict[int, list[float]] = {}

    def work(i):
        got[i] = sequence(b, X[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in reversed(range(len(X)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == expected
    other = load_problem(f"table:{tmp_path / 'm.csv'}", **{**options, "noise_seed": 6})
    assert {i: sequence(other, x) for i, x in enumerate(X)} != expected
    spec = a.spec()
    assert spec["options"]["noise"] == list(RUNS) and spec["options"]["noise_seed"] == 5
    assert load_problem(spec).spec() == spec


@pytest.mark.parametrize(
    ("options", "message"),
    [({"noise": []}, "non-empty column names"), ({"noise_seed": -1}, "noise_seed")],
)
def test_bad_noise_options(tmp_path, options, message):
    macro_like(tmp_path / "m.csv")
    with pytest.raises(ValueError, match=message):
        load_problem(f"table:{tmp_path / 'm.csv'}", columns=["acc", "mflops"], **options)


# -- digit kinds -----------------------------------------------------------------------------


def test_digit_kinds_from_an_option_or_a_header_comment(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x0,x1,acc,lat_ms\n0,0,0.5,1\n0,1,0.5,2\n1,0,0.6,2\n1,1,0.7,3\n")
    assert load_problem(f"table:{path}").digit_kinds is None
    p = load_problem(f"table:{path}", digit_kinds=["categorical", "ordinal"])
    assert p.digit_kinds == ["categorical", "ordinal"]
    assert load_problem(p.spec()).digit_kinds == ["categorical", "ordinal"]
    assert load_problem(f"table:{path}", digit_kinds="ordinal").digit_kinds == ["ordinal"] * 2
    commented = tmp_path / "c.csv"
    commented.write_text("# digit_kinds: ordinal, categorical\n" + path.read_text())
    assert load_problem(f"table:{commented}").digit_kinds == ["ordinal", "categorical"]
    assert load_problem(f"table:{commented}", digit_kinds="categorical").digit_kinds == [
        "categorical",
        "categorical",
    ]
    with pytest.raises(ValueError, match=r"unknown digit kind\(s\) \['nominal'\]"):
        load_problem(f"table:{path}", digit_kinds=["nominal", "ordinal"])
    with pytest.raises(ValueError, match="a list of 2 of them"):
        load_problem(f"table:{path}", digit_kinds=["ordinal"])


# -- the command line ------------------------------------------------------------------------


def test_table_flags_become_problem_options(tmp_path):
    config = RunConfig(problem=f"table:{tmp_path / 'm.csv'}", problem_options={"noise_seed": 2})
    out = _with_table_options(config, "acc, mflops", "acc_run0,acc_run1,acc_run2")
    assert out.problem_options == {
        "noise_seed": 2,
        "columns": ["acc", "mflops"],
        "noise": list(RUNS),
    }
    assert _with_table_options(config, None, None) is config
    with pytest.raises(click.UsageError, match="takes ACC,COST"):
        _with_table_options(config, "acc", None)
    with pytest.raises(click.UsageError, match=r"apply to table:PATH\.csv problems"):
        _with_table_options(RunConfig(problem="synthetic"), "acc,mflops", None)


def test_segevo_run_refuses_table_flags_for_other_problems(tmp_path):
    result = CliRunner().invoke(
        main,
        ["run", "-p", "synthetic", "--table-noise", "a,b", "--run-dir", str(tmp_path / "r")],
    )
    assert result.exit_code == 2 and "--table-noise apply to table:PATH.csv" in result.output
    assert not (tmp_path / "r").exists()


def test_segevo_run_with_table_flags_and_a_toml_config(tmp_path):
    t = macro_like(tmp_path / "m.csv")
    toml = tmp_path / "c.toml"
    toml.write_text(
        f'problem = "table:{tmp_path / "m.csv"}"\nevaluations = 6\ninitial = 3\nbatch = 2\n'
        'strategy = "random"\n'
    )
    # A budget over the table's size fails before anything is written, naming the table.
    result = CliRunner().invoke(
        main,
        ["run", "--config", str(toml), "-n", "10", "--table-columns", "acc,mflops"],
    )
    assert result.exit_code != 0 and "exceeds the 9 distinct architectures" in result.output
    from segevo.cli.run_options import resolve_run_config

    config = _with_table_options(resolve_run_config(toml, {}, {}), "acc,mflops", ",".join(RUNS))
    problem = load_problem(config.problem, **config.problem_options)
    np.testing.assert_array_equal(problem.latency(t["X"]), t["mflops"])


def test_segevo_run_searches_a_pool_with_table_flags(tmp_path):
    t = macro_like(tmp_path / "m.csv", rows=7)  # 7 of the box's 9: a pool
    toml = tmp_path / "c.toml"
    toml.write_text(
        f'problem = "table:{tmp_path / "m.csv"}"\nevaluations = 6\ninitial = 3\nbatch = 2\n'
        'strategy = "nsga2"\nevaluators = 1\n'
    )
    result = subprocess.run(
        [
            *(sys.executable, "-m", "segevo.cli.main", "run", "--config", str(toml)),
            *("--table-columns", "acc,mflops", "--table-noise", ",".join(RUNS)),
            *("--run-dir", str(tmp_path / "r")),
        ],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "covers 7 of 9 architectures of its box: searching that pool only" in result.stderr
    options = json.loads((tmp_path / "r" / "config.json").read_text())["problem_options"]
    assert options == {"columns": ["acc", "mflops"], "noise": list(RUNS)}
    data = open_archive(tmp_path / "r")
    index = {tuple(x): i for i, x in enumerate(t["X"].tolist())}
    rows = [index[tuple(x)] for x in data["x"].tolist()]  # KeyError: not a table row
    assert len(set(rows)) == 6
    np.testing.assert_array_equal(data["lat_ms"], t["mflops"][rows])
    runs = np.column_stack([t[name] for name in RUNS])[rows]
    assert np.all(np.any(runs == data["acc"][:, None], axis=1))
