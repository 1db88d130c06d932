"""The predictor benchmark of the paper (Table V, Fig. 9) on any table of architectures.

Protocol: ``repeats`` times, with a different seed each time, hold out ``test_size`` random
rows as the test set; from the remaining rows (shuffled once per repeat) train every method
on the first ``N`` rows for each ``N`` in ``sizes`` and record Pearson, Spearman and Kendall
correlations on the test set plus fit and predict times. :func:`summarize` gives mean (std)
per method and ``N``; :func:`write_report` writes CSV, markdown and a Kendall-vs-N plot.

``segevo surrogate bench`` and ``benchmarks/bench_surrogates.py`` call :func:`run_benchmark`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .encoding import as_bounds
from .metrics import correlations
from .registry import available_surrogates, make_surrogate, surrogate_class

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_SIZES = (100, 200, 300, 500, 1000)
METRICS = ("pearson", "spearman", "kendall")
Progress = Callable[[int, int, str], None]


def read_table(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a CSV with columns ``x0..x{n-1}, acc`` (any order) as ``(X int64, y float64)``."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"table {path} does not exist")
    frame = pd.read_csv(path)
    if "acc" not in frame.columns:
        raise ValueError(f"{path}: no 'acc' column; columns are {list(frame.columns)}")
    n_var = sum(1 for c in frame.columns if c.startswith("x") and c[1:].isdigit())
    wanted = [f"x{i}" for i in range(n_var)]
    missing = [c for c in wanted if c not in frame.columns]
    if n_var == 0 or missing:
        raise ValueError(f"{path}: need columns x0..x{{n-1}}; missing {missing or ['x0']}")
    X = frame[wanted].to_numpy()
    if X.dtype.kind == "f" and not np.all(np.round(X) == X):
        raise ValueError(f"{path}: columns x0..x{n_var - 1} must hold integers")
    y = frame["acc"].to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise ValueError(f"{path}: acc must be finite; row {bad[0]} is {y[bad[0]]}")
    return X.astype(np.int64), y


def _as_table(table: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(table, str | Path):
        return read_table(table)
    try:
        X, y = table
    except (TypeError, ValueError) as error:
        raise ValueError("table must be a CSV path or an (X, y) pair") from error
    X = np.asarray(X)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be [n, n_var] and y [n], got {X.shape} and {y.shape}")
    return X.astype(np.int64), y


def _resolve_space(space: Any) -> Any:
    if isinstance(space, str):
        from segevo.nets.space import get_space

        return get_space(space)
    return space


def run_benchmark(
    table: Any,
    *,
    methods: Sequence[str] | None = None,
    sizes: Sequence[int] = DEFAULT_SIZES,
    repeats: int = 11,
    test_size: int = 100,
    seed: int = 0,
    space: Any = None,
    lower: Any = None,
    upper: Any = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    threads: int | None = 1,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Run the protocol; one row per (method, N, repeat).

    Args:
        table: a CSV path (columns ``x0..x{n-1}, acc``) or an ``(X, y)`` pair.
        methods: surrogate names (default: all registered).
        sizes: training-set sizes; each must leave ``test_size`` rows aside.
        repeats: independent random splits.
        test_size: held-out rows per repeat.
        seed: seeds the splits; repeat ``r`` fits its surrogates with seed ``seed + r``.
        space: a search space (or its name, e.g. ``"r50"``) for one-hot features and
            RankNet's synthetic samples; default: bounds only.
        lower, upper: bounds when no space is given (default: the table's column min/max).
        options: per-method surrogate options, e.g. ``{"ranknet": {"epochs": 200}}``.
        threads: BLAS/OpenMP and torch threads while fitting and predicting (the same for
            every method, so fit times compare); None leaves the process settings alone.
        progress: called as ``progress(done, total, label)`` after every fit.

    Returns:
        a pandas DataFrame with columns ``method, n_train, repeat, pearson, spearman,
        kendall, fit_s, predict_s``.
    """
    import pandas as pd

    X, y = _as_table(table)
    methods = list(methods) if methods is not None else available_surrogates()
    if not methods:
        raise ValueError(f"no methods given; known: {', '.join(available_surrogates())}")
    for method in methods:
        surrogate_class(method)  # an unknown name raises, naming the known ones
    options = dict(options or {})
    stray = sorted(set(options) - set(methods))
    if stray:
        raise ValueError(f"options given for methods not benchmarked: {stray}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    if isinstance(test_size, bool) or not isinstance(test_size, int) or test_size < 2:
        raise ValueError(f"test_size must be an integer >= 2, got {test_size!r}")
    sizes = sorted({int(n) for n in sizes})
    if not sizes or sizes[0] < 2:
        raise ValueError(f"sizes must be integers >= 2, got {sizes}")
    available = X.shape[0] - test_size
    if sizes[-1] > available:
        raise ValueError(
            f"N = {sizes[-1]} needs {sizes[-1] + test_size} rows (test set {test_size}), "
            f"the table has {X.shape[0]}"
        )
    space = _resolve_space(space)
    if space is not None:
        lower = upper = None
    elif lower is None and upper is None:
        lower, upper = X.min(axis=0), X.max(axis=0)
    else:
        lower, upper = as_bounds(lower, upper)
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    # Build every surrogate once up front so a bad option fails before any work.
    for method in methods:
        make_surrogate(method, lower, upper, space=space, **options.get(method, {}))
    with _thread_limit(threads):
        records = _run(
            X, y, methods, sizes, repeats, test_size, seed, space, lower, upper, options, progress
        )
    return pd.DataFrame.from_records(records)


@contextmanager
def _thread_limit(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(previous)


def _run(
    X: np.ndarray,
    y: np.ndarray,
    methods: list[str],
    sizes: list[int],
    repeats: int,
    test_size: int,
    seed: int,
    space: Any,
    lower: Any,
    upper: Any,
    options: dict[str, Mapping[str, Any]],
    progress: Progress | None,
) -> list[dict[str, Any]]:
    records = []
    total, done = repeats * len(sizes) * len(methods), 0
    for repeat in range(repeats):
        order = np.random.default_rng(np.random.SeedSequence([seed, repeat])).permutation(
            X.shape[0]
        )
        test, pool = order[:test_size], order[test_size:]
        for n_train in sizes:
            train = pool[:n_train]
            for method in methods:
                model = make_surrogate(
                    method,
                    lower,
                    upper,
                    seed=seed + repeat,
                    space=space,
                    **options.get(method, {}),
                )
                started = time.perf_counter()
                model.fit(X[train], y[train])
                fit_s = time.perf_counter() - started
                started = time.perf_counter()
                pred = model.predict(X[test])
                predict_s = time.perf_counter() - started
                records.append(
                    {
                        "method": method,
                        "n_train": n_train,
                        "repeat": repeat,
                        **correlations(y[test], pred),
                        "fit_s": fit_s,
                        "predict_s": predict_s,
                    }
                )
                done += 1
                if progress is not None:
                    progress(done, total, f"{method} N={n_train} repeat {repeat}")
    return records


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std of each correlation and the mean fit time, per method and N."""
    grouped = results.groupby(["method", "n_train"], sort=False)
    summary = grouped[list(METRICS)].agg(["mean", "std"])
    summary.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
    summary["fit_s"] = grouped["fit_s"].mean()
    summary["repeats"] = grouped.size()
    return summary.reset_index().sort_values(["n_train", "method"], kind="stable")


def to_markdown(summary: pd.DataFrame) -> str:
    """A markdown table: ``mean (std)`` per correlation, mean fit seconds; best tau in bold."""
    lines = [
        "| N | method | Pearson r | Spearman rho | Kendall tau | fit (s) |",
        "|---:|---|---|---|---|---:|",
    ]
    for n_train, block in summary.groupby("n_train", sort=True):
        best = block["kendall_mean"].max()
        for _, row in block.iterrows():
            cells = []
            for metric in METRICS:
                std = row[f"{metric}_std"]
                std_text = "-" if not np.isfinite(std) else f"{std:.2f}"
                cells.append(f"{row[f'{metric}_mean']:.4f} ({std_text})")
            if row["kendall_mean"] == best:
                cells[-1] = f"**{cells[-1]}**"
            lines.append(
                f"| {n_train} | {row['method']} | {' | '.join(cells)} | {row['fit_s']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def plot_kendall(results: pd.DataFrame, path: str | Path) -> Path:
    """Kendall tau (mean, +/- std band) against N for every method, like the paper's Fig. 9."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    summary = summarize(results)
    figure = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for method, block in summary.groupby("method", sort=False):
        block = block.sort_values("n_train")
        n = block["n_train"].to_numpy()
        mean = block["kendall_mean"].to_numpy()
        std = np.nan_to_num(block["kendall_std"].to_numpy())
        style = {"linewidth": 2.5} if method == "ranknet" else {"linewidth": 1.2}
        axes.plot(n, mean, marker="o", label=method, **style)
        axes.fill_between(n, mean - std, mean + std, alpha=0.12)
    axes.set_xscale("log")
    ticks = sorted(summary["n_train"].unique())
    axes.set_xticks(ticks, [str(t) for t in ticks])
    axes.set_xlabel("training samples N")
    axes.set_ylabel("Kendall tau on the test set")
    repeats = int(results.groupby(["method", "n_train"]).size().min())
    axes.set_title(f"Kendall tau vs N (mean of {repeats} repeats, band: 1 std)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, ncols=2)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    return path


def write_report(results: pd.DataFrame, out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.csv``, ``summary.csv``, ``summary.md`` and ``kendall_vs_n.png``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(results)
    paths = {
        "results": out / "results.csv",
        "summary": out / "summary.csv",
        "markdown": out / "summary.md",
        "plot": out / "kendall_vs_n.png",
    }
    results.to_csv(paths["results"], index=False)
    summary.to_csv(paths["summary"], index=False)
    paths["markdown"].write_text(to_markdown(summary))
    plot_kendall(results, paths["plot"])
    return paths
