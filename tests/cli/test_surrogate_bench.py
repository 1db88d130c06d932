"""``segevo surrogate bench`` on a generated table."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from segevo.cli.main import main
from segevo.engine.problems.synthetic import SyntheticProblem
from segevo.surrogates.bench import read_table, run_benchmark


def test_bench_prints_the_summary_and_writes_the_report(tmp_path):
    csv = SyntheticProblem(seed=2, n_var=4, n_values=4).write_csv(tmp_path / "t.csv")
    out = tmp_path / "report"
    args = [
        "surrogate",
        "bench",
        str(csv),
        "--methods",
        "rbf,dt",
        "--sizes",
        "20,40,5000",
    ]
    args += ["--repeats", "2", "--test-size", "30", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "| N | method |" in result.output and "left out N > 226" in result.output
    results = pd.read_csv(out / "results.csv")
    # The same protocol called directly gives the same correlations (same seeds).
    direct = run_benchmark(
        read_table(csv), methods=["rbf", "dt"], sizes=[20, 40], repeats=2, test_size=30
    )
    pd.testing.assert_series_equal(
        results["kendall"], direct["kendall"], check_exact=False, rtol=1e-9
    )
    assert (out / "kendall_vs_n.png").stat().st_size > 5_000


def test_bench_refuses_a_table_too_small_for_its_test_set(tmp_path):
    csv = SyntheticProblem(seed=2, n_var=2, n_values=3).write_csv(tmp_path / "t.csv")
    result = CliRunner().invoke(main, ["surrogate", "bench", str(csv), "--test-size", "30"])
    assert result.exit_code == 2 and "test set" in result.output
