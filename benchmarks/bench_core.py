"""Time segevo._core against its peers and print one table of medians and ratios.

    python benchmarks/bench_core.py            # the full run (about 1-2 minutes)
    python benchmarks/bench_core.py --quick    # smaller sizes and fewer repeats

Cases (issue 2):

* ``nondominated_rank`` vs ``moocore.pareto_rank`` (what pymoo 0.6.2 calls) and pymoo's
  ``NonDominatedSorting().do``, N = 1e2 .. 1e5, M = 2 and 3, uniform random points;
* the per-call cost at N = 200, M = 2 over 10,000 calls (NSGA-II survival size);
* ``lut_sum`` vs the fastest numpy gather-sum found at run time, 1e6 x 29;
* ``ks_subset_select`` vs the same GA written with pymoo + scipy.stats.kstest and
  vs a vectorised numpy version (100 candidates, 20 fixed, k = 8, pop 100, 60 gens).

Every timed call of a case gets a different input (a pool of inputs is cycled), so
that a branch predictor cannot learn one input by heart, and results are checked
against the peer before timing. ratio = segevo time / peer time (< 1: segevo faster).

On a shared machine, ``--clock cpu`` times the single-threaded cases with this thread's
CPU time, which preemption by other processes does not inflate; ``lut_sum`` (which uses
several threads) is always timed by the wall clock.
"""

from __future__ import annotations

import argparse
import importlib
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Row = tuple[str, str, float, float, str]

#: Clock for single-threaded timings; main() may switch it to time.thread_time.
clock: Callable[[], float] = time.perf_counter


@dataclass(frozen=True)
class Settings:
    sizes: tuple[int, ...]
    repeats: int
    per_call_calls: int
    lut_rows: int
    ga_repeats: int
    pymoo_ga_repeats: int
    seed: int


def per_call_seconds(fn: Callable[[Any], Any], inputs: Sequence[Any], repeats: int) -> float:
    """Median over repeats of (time of one pass over inputs) / len(inputs)."""
    fn(inputs[0])  # warm-up (imports, caches, first-touch page faults)
    # Enough passes per repeat that one repeat lasts at least ~20 ms.
    t0 = clock()
    for x in inputs:
        fn(x)
    one_pass = clock() - t0
    passes = max(1, math.ceil(0.02 / max(one_pass, 1e-9)))
    samples = []
    for _ in range(repeats):
        t0 = clock()
        for _ in range(passes):
            for x in inputs:
                fn(x)
        samples.append((clock() - t0) / (passes * len(inputs)))
    return statistics.median(samples)


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


# --------------------------------------------------------------------------------------
# non-dominated sorting


def bench_nondominated_rank(core: Any, s: Settings, rng: np.random.Generator) -> list[Row]:
    import moocore
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    nds = NonDominatedSorting()
    rows: list[Row] = []
    for m in (2, 3):
        for n in s.sizes:
            pool_size = max(2, min(64, 2_000_000 // (n * m)))
            pool = [rng.random((n, m)) for _ in range(pool_size)]
            for F in pool[:2]:
                if not np.array_equal(core.nondominated_rank(F), moocore.pareto_rank(F)):
                    raise AssertionError(f"nondominated_rank differs from moocore at N={n} M={m}")
            reps = s.repeats if n < 100_000 else max(3, s.repeats // 2)
            t_core = per_call_seconds(core.nondominated_rank, pool, reps)
            t_moo = per_call_seconds(moocore.pareto_rank, pool, reps)
            t_pymoo = per_call_seconds(nds.do, pool, reps)
            case = f"nondominated_rank M={m} N={n:.0e}".replace("e+0", "e")
            rows.append((case, "moocore.pareto_rank", t_core, t_moo, ""))
            rows.append((case, "pymoo NonDominatedSorting().do", t_core, t_pymoo, ""))
    return rows


def bench_per_call(core: Any, s: Settings, rng: np.random.Generator) -> list[Row]:
    import moocore

    pool = [rng.random((200, 2)) for _ in range(100)]
    calls = s.per_call_calls
    rounds = max(1, calls // len(pool))

    def total(fn: Callable[[Any], Any]) -> float:
        fn(pool[0])
        samples = []
        for _ in range(3):
            t0 = clock()
            for _ in range(rounds):
                for F in pool:
                    fn(F)
            samples.append((clock() - t0) / (rounds * len(pool)))
        return statistics.median(samples)

    case = f"per call, N=200 M=2, {rounds * len(pool)} calls"
    return [
        (case, "moocore.pareto_rank", total(core.nondominated_rank), total(moocore.pareto_rank), "")
    ]


# --------------------------------------------------------------------------------------
# LUT sums


def numpy_lut_variants(table: np.ndarray) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Gather-sum written in numpy several ways; the benchmark keeps the fastest."""
    padded = np.concatenate([[0.0], table])  # padded[i + 1] = table[i], padded[0] = absent
    zero_last = np.concatenate([table, [0.0]])  # index -1 reads the appended 0.0

    def fancy_sum(idx: np.ndarray) -> np.ndarray:
        return zero_last[idx].sum(axis=1)

    def take_sum(idx: np.ndarray) -> np.ndarray:
        return np.take(zero_last, idx).sum(axis=1)

    def take_intp_sum(idx: np.ndarray) -> np.ndarray:
        return np.take(padded, idx.astype(np.intp) + 1).sum(axis=1)

    def column_loop(idx: np.ndarray) -> np.ndarray:
        cols = np.ascontiguousarray(idx.T)
        out = zero_last.take(cols[0])
        for j in range(1, cols.shape[0]):
            out += zero_last.take(cols[j])
        return out

    def chunked_take(idx: np.ndarray) -> np.ndarray:
        # Cache-sized chunks keep the gathered matrix in L2 before the reduction.
        out = np.empty(idx.shape[0])
        buf = np.empty((4096, idx.shape[1]))
        for start in range(0, idx.shape[0], 4096):
            part = idx[start : start + 4096]
            g = buf[: len(part)]
            np.take(zero_last, part, out=g)
            g.sum(axis=1, out=out[start : start + len(part)])
        return out

    return {
        "numpy table[idx].sum(1)": fancy_sum,
        "numpy take().sum(1)": take_sum,
        "numpy take(intp).sum(1)": take_intp_sum,
        "numpy column loop": column_loop,
        "numpy chunked take+sum": chunked_take,
    }


def bench_lut(core: Any, s: Settings, rng: np.random.Generator) -> list[Row]:
    B, L, T = s.lut_rows, 29, 4096
    table = rng.random(T)
    idx64 = rng.integers(0, T, size=(B, L))
    idx64[rng.random((B, L)) < 0.1] = -1  # inactive layers
    inputs = {"int16": idx64.astype(np.int16), "int32": idx64.astype(np.int32), "int64": idx64}
    expected = core.lut_sum(inputs["int64"], table)

    def median_time(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, reps: int) -> float:
        out = fn(x)
        if not np.allclose(out, expected, rtol=1e-12, atol=0.0):
            raise AssertionError("LUT sums disagree")
        samples = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn(x)
            samples.append(time.perf_counter() - t0)
        return statistics.median(samples)

    reps = max(3, s.repeats)
    best_name, best_time = "", math.inf
    for name, fn in numpy_lut_variants(table).items():
        for dtype, x in inputs.items():
            t = median_time(fn, x, max(3, reps // 2))
            if t < best_time:
                best_name, best_time = f"{name} [{dtype}]", t
    rows: list[Row] = []
    for dtype in ("int16", "int32", "int64"):
        t = median_time(lambda x: core.lut_sum(x, table), inputs[dtype], reps)
        note = f"{B / t / 1e6:.0f} M arch/s vs {B / best_time / 1e6:.0f} M arch/s"
        rows.append(
            (f"lut_sum {B:.0e}x{L} {dtype}".replace("e+0", "e"), best_name, t, best_time, note)
        )
    return rows


# --------------------------------------------------------------------------------------
# K-S subset selection GA


def ks_problem(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int, float, float]:
    candidates = rng.beta(2.0, 5.0, size=100)  # skewed, so the choice matters
    fixed = rng.random(20)
    return candidates, fixed, 8, 0.0, 1.0


def ks_distance(values: np.ndarray, lo: float, hi: float) -> float:
    from scipy.stats import kstest

    return float(kstest(values, "uniform", args=(lo, hi - lo)).statistic)


def ga_pymoo(
    candidates: np.ndarray,
    fixed: np.ndarray,
    k: int,
    lo: float,
    hi: float,
    pop_size: int,
    generations: int,
    seed: int,
) -> np.ndarray:
    """The GA with pymoo operators (pymoo's subset-selection recipe) and scipy's kstest."""
    from pymoo.algorithms.soo.nonconvex.ga import GA
    from pymoo.core.crossover import Crossover
    from pymoo.core.mutation import Mutation
    from pymoo.core.problem import Problem
    from pymoo.core.sampling import Sampling
    from pymoo.optimize import minimize

    C = len(candidates)

    class SubsetProblem(Problem):
        def __init__(self) -> None:
            super().__init__(n_var=C, n_obj=1, xl=0, xu=1, vtype=bool)

        def _evaluate(self, X: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            out["F"] = np.array(
                [[ks_distance(np.concatenate([fixed, candidates[x]]), lo, hi)] for x in X]
            )

    class KBitSampling(Sampling):
        def _do(
            self, problem: Any, n_samples: int, *args: Any, random_state: Any = None, **kwargs: Any
        ) -> np.ndarray:
            X = np.zeros((n_samples, C), dtype=bool)
            for i in range(n_samples):
                X[i, random_state.permutation(C)[:k]] = True
            return X

    class KeepKCrossover(Crossover):
        def __init__(self) -> None:
            super().__init__(n_parents=2, n_offsprings=1, prob=1.0)

        def _do(
            self, problem: Any, X: np.ndarray, *args: Any, random_state: Any = None, **kwargs: Any
        ) -> np.ndarray:
            _, n_matings, _ = X.shape
            Y = np.zeros((1, n_matings, C), dtype=bool)
            for i in range(n_matings):
                p1, p2 = X[0, i], X[1, i]
                both = p1 & p2
                Y[0, i, both] = True
                differ = np.flatnonzero(p1 ^ p2)
                need = k - int(both.sum())
                Y[0, i, random_state.permutation(differ)[:need]] = True
            return Y

    class SwapMutation(Mutation):
        def _do(
            self, problem: Any, X: np.ndarray, *args: Any, random_state: Any = None, **kwargs: Any
        ) -> np.ndarray:
            for i in range(len(X)):
                on, off = np.flatnonzero(X[i]), np.flatnonzero(~X[i])
                X[i, random_state.choice(on)] = False
                X[i, random_state.choice(off)] = True
            return X

    algorithm = GA(
        pop_size=pop_size,
        sampling=KBitSampling(),
        crossover=KeepKCrossover(),
        mutation=SwapMutation(),
        eliminate_duplicates=True,
    )
    res = minimize(SubsetProblem(), algorithm, ("n_gen", generations), seed=seed, verbose=False)
    return np.flatnonzero(np.asarray(res.X, dtype=bool)).astype(np.int64)


def ga_numpy(
    candidates: np.ndarray,
    fixed: np.ndarray,
    k: int,
    lo: float,
    hi: float,
    pop_size: int,
    generations: int,
    seed: int,
) -> np.ndarray:
    """The same GA, vectorised over the population with numpy."""
    rng = np.random.default_rng(seed)
    C = len(candidates)
    cand_cdf = np.clip((candidates - lo) / (hi - lo), 0.0, 1.0)
    fixed_cdf = np.clip((fixed - lo) / (hi - lo), 0.0, 1.0)
    n = len(fixed) + k
    above = np.arange(1.0, n + 1) / n
    below = np.arange(0.0, n) / n

    def fitness(masks: np.ndarray) -> np.ndarray:
        chosen = cand_cdf[np.nonzero(masks)[1].reshape(len(masks), k)]
        allv = np.sort(
            np.concatenate([np.broadcast_to(fixed_cdf, (len(masks), len(fixed))), chosen], axis=1),
            axis=1,
        )
        return np.maximum((above - allv).max(axis=1), (allv - below).max(axis=1))

    def pick_random_bits(where: np.ndarray, count: np.ndarray) -> np.ndarray:
        """A mask with count[i] bits chosen uniformly among where[i]'s set bits."""
        keys = np.where(where, rng.random(where.shape), np.inf)
        ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
        return ranks < count[:, None]

    pop = pick_random_bits(np.ones((pop_size, C), dtype=bool), np.full(pop_size, k))
    fit = fitness(pop)
    for _ in range(generations):
        a = rng.integers(0, pop_size, (2, pop_size))
        b = rng.integers(0, pop_size, (2, pop_size))
        pa = np.where(fit[a[0]] <= fit[a[1]], a[0], a[1])
        pb = np.where(fit[b[0]] <= fit[b[1]], b[0], b[1])
        m1, m2 = pop[pa], pop[pb]
        both = m1 & m2
        child = both | pick_random_bits(m1 ^ m2, k - both.sum(axis=1))
        rows = np.arange(pop_size)
        on = np.argmax(np.where(child, rng.random(child.shape), -1.0), axis=1)
        off = np.argmax(np.where(~child, rng.random(child.shape), -1.0), axis=1)
        child[rows, on] = False
        child[rows, off] = True
        merged = np.concatenate([pop, child])
        merged_fit = np.concatenate([fit, fitness(child)])
        _, first = np.unique(np.packbits(merged, axis=1), axis=0, return_index=True)
        keep = first[np.argsort(merged_fit[first], kind="stable")][:pop_size]
        pop, fit = merged[keep], merged_fit[keep]
        if len(pop) < pop_size:  # duplicates removed: refill with copies of the best
            fill = np.resize(np.arange(len(pop)), pop_size - len(pop))
            pop, fit = np.concatenate([pop, pop[fill]]), np.concatenate([fit, fit[fill]])
    return np.flatnonzero(pop[np.argmin(fit)]).astype(np.int64)


def bench_ks(core: Any, s: Settings, rng: np.random.Generator) -> list[Row]:
    candidates, fixed, k, lo, hi = ks_problem(rng)
    pop_size, generations = 100, 60

    def timed(fn: Callable[..., np.ndarray], repeats: int) -> tuple[float, float]:
        times, dists = [], []
        for r in range(repeats):
            t0 = clock()
            chosen = fn(candidates, fixed, k, lo, hi, pop_size, generations, s.seed + r)
            times.append(clock() - t0)
            dists.append(ks_distance(np.concatenate([fixed, candidates[chosen]]), lo, hi))
        return statistics.median(times), statistics.median(dists)

    def core_ga(*args: Any) -> np.ndarray:
        c, f, kk, a, b, p, g, seed = args
        return core.ks_subset_select(c, f, kk, a, b, pop_size=p, generations=g, seed=seed)

    t_core, d_core = timed(core_ga, max(5, s.ga_repeats))
    t_np, d_np = timed(ga_numpy, s.ga_repeats)
    t_pm, d_pm = timed(ga_pymoo, s.pymoo_ga_repeats)
    case = "ks_subset_select C=100 F=20 k=8"
    return [
        (case, "pymoo GA + scipy kstest", t_core, t_pm, f"D {d_core:.4f} vs {d_pm:.4f}"),
        (case, "vectorised numpy GA", t_core, t_np, f"D {d_core:.4f} vs {d_np:.4f}"),
    ]


# --------------------------------------------------------------------------------------


def print_table(rows: list[Row]) -> None:
    header = ("case", "peer", "segevo", "peer time", "ratio", "note")
    body = [(c, p, fmt_time(a), fmt_time(b), f"{a / b:.3f}", note) for c, p, a, b, note in rows]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    line = "  ".join(
        f"{{:<{w}}}" if i < 2 or i == 5 else f"{{:>{w}}}" for i, w in enumerate(widths)
    )
    print(line.format(*header))
    print("  ".join("-" * w for w in widths))
    for r in body:
        print(line.format(*r))
    print("ratio = segevo time / peer time (< 1: segevo is faster); medians over repeats")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N up to 1e4, fewer repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timing repeats per case")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--only",
        choices=["nds", "percall", "lut", "ks"],
        action="append",
        help="run only these sections (repeatable)",
    )
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu: this thread's CPU time for single-threaded cases (shared machines)",
    )
    parser.add_argument(
        "--module",
        default="segevo._core",
        help="module to benchmark (default segevo._core), e.g. to compare builds",
    )
    args = parser.parse_args(argv)

    core = importlib.import_module(args.module)
    global clock
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    if args.quick:
        s = Settings(
            sizes=(100, 1_000, 10_000),
            repeats=args.repeats or 5,
            per_call_calls=10_000,
            lut_rows=1_000_000,
            ga_repeats=3,
            pymoo_ga_repeats=1,
            seed=args.seed,
        )
    else:
        s = Settings(
            sizes=(100, 1_000, 10_000, 100_000),
            repeats=args.repeats or 9,
            per_call_calls=10_000,
            lut_rows=1_000_000,
            ga_repeats=5,
            pymoo_ga_repeats=3,
            seed=args.seed,
        )
    rng = np.random.default_rng(args.seed)
    sections = {
        "nds": bench_nondominated_rank,
        "percall": bench_per_call,
        "lut": bench_lut,
        "ks": bench_ks,
    }
    rows: list[Row] = []
    for name, fn in sections.items():
        if args.only and name not in args.only:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.extend(fn(core, s, rng))
    print_table(rows)
    print(f"clock: {args.clock} (lut_sum: wall); module: {core.__name__}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
