"""Levenberg-Marquardt ("lm") against L-BFGS-B on small function approximation.

MATLAB's ``trainlm`` is the first choice for small regression networks; this
script measures whether ``BackpropRegressor(solver="lm")`` earns that place
here. Three problems, tanh hidden units (MATLAB's ``tansig``), identity
outputs, ``alpha=1e-4``, X and y standardised:

- **sine**: 200 rows, x uniform on [-π, π], y = sin(x); 1-5-1 (16 weights);
- **friedman**: ``make_friedman1(1000, noise=0.1)``; 10-10-1 (121 weights);
- **surface**: 1000 rows, x uniform on [-2, 2]², y = (sin x₁ cos x₂,
  exp(-‖x‖²)); 2-30-2 (152 weights).

For each of 5 starts (``random_state`` 0-4): L-BFGS-B runs to convergence
(``tol=1e-10``, ``max_iter=100000``, ``max_fun=10**7``), giving its final
training cost J_L and its wall time; "lm" runs from the same start with a
callback that stops it at its first accepted step with J <= J_L, giving the
wall time "lm" needs to reach J_L (``max_iter=2000`` evaluations; a start that
never gets there counts as infinitely slow). Both are timed as whole
``fit`` calls, ``--repeats`` times each, alternating, median per start; the
table gives the median over starts of lm/L-BFGS-B per start. Targets (the
issue's): <= 0.2 on a few dozen weights (sine), <= 0.6 on ~150 weights and
1000 rows (friedman, surface). Measured with one BLAS thread and at the
machine's default threads.

Then the memory check: ``solver="trf"`` fits a 20000x100->100->1 regression
(``--quick``: 2000 rows) in a child process, whose peak resident memory
during the fit is compared with the size of the dense Jacobian (rows:
20000 + 10000 non-bias weights; columns: 10201 weights), which "trf" never
forms.

Run: ``python benchmarks/bench_lm.py [--quick] [--repeats N]`` (about two
minutes on 2 cores; ``--quick``: a few seconds).
"""

import argparse
import resource
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
from _timing import (
    blas_threads,
    fmt,
    format_loadavg,
    machine_header,
    table_lines,
    target_cells,
)
from sklearn.datasets import make_friedman1, make_regression
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from sklearn_backprop import BackpropRegressor
from sklearn_backprop.network import n_params

STARTS = range(5)
LM_MAX_ITER = 2000
REFERENCE = {"solver": "L-BFGS-B", "tol": 1e-10, "max_iter": 100_000}
MEMORY_SHAPE = (20_000, 100, 100)  # rows, features, hidden units; one output

COLUMNS = [
    ("problem", "<", 9),
    ("shape", "<", 13),
    ("weights", ">", 7),
    ("L-BFGS-B ms", ">", 11),
    ("its", ">", 5),
    ("lm ms", ">", 8),
    ("steps", ">", 5),
    ("reached", ">", 7),
    ("lm/L-BFGS-B", ">", 11),
    ("target", ">", 7),
    ("met", "<", 3),
]


def _standardise(a):
    return (a - a.mean(axis=0)) / a.std(axis=0)


def sine(rng):
    x = rng.uniform(-np.pi, np.pi, size=(200, 1))
    return _standardise(x), _standardise(np.sin(x[:, 0])), (5,), 0.2


def friedman(rng):
    X, y = make_friedman1(1000, noise=0.1, random_state=0)
    return _standardise(X), _standardise(y), (10,), 0.6


def surface(rng):
    X = rng.uniform(-2, 2, size=(1000, 2))
    Y = np.c_[np.sin(X[:, 0]) * np.cos(X[:, 1]), np.exp(-(X**2).sum(axis=1))]
    return _standardise(X), _standardise(Y), (30,), 0.6


PROBLEMS = {"sine": sine, "friedman": friedman, "surface": surface}


def timed_fit(X, y, **params):
    start = time.perf_counter()
    reg = BackpropRegressor(activation="tanh", **params).fit(X, y)
    return time.perf_counter() - start, reg


def one_start(X, y, hidden, seed, repeats):
    """Median wall times of L-BFGS-B to convergence and of lm to its cost."""
    common = {"hidden_layer_sizes": hidden, "random_state": seed}
    reference = {**REFERENCE, "max_fun": 10**7, **common}
    _, ref = timed_fit(X, y, **reference)  # warm-up and the target J_L
    target = ref.loss_
    reached = {}

    def stop_at_target(progress):
        if progress.loss <= target:
            reached["steps"] = progress.iteration
            return True
        return False

    lm = {"solver": "lm", "tol": 1e-10, "max_iter": LM_MAX_ITER, **common}
    times = {"ref": [], "lm": []}
    for _ in range(repeats):
        times["ref"].append(timed_fit(X, y, **reference)[0])
        reached.clear()
        times["lm"].append(timed_fit(X, y, callback=stop_at_target, **lm)[0])
    lm_time = statistics.median(times["lm"]) if reached else np.inf
    return statistics.median(times["ref"]), ref.n_iter_, lm_time, reached


def problem_row(name, repeats, notes):
    X, y, hidden, target = PROBLEMS[name](np.random.default_rng(0))
    layer_sizes = [X.shape[1], *hidden, 1 if y.ndim == 1 else y.shape[1]]
    ratios, ref_times, lm_times, its, steps = [], [], [], [], []
    for seed in STARTS:
        t_ref, n_ref, t_lm, reached = one_start(X, y, hidden, seed, repeats)
        ratios.append(t_lm / t_ref)
        ref_times.append(t_ref)
        lm_times.append(t_lm)
        its.append(n_ref)
        steps.append(reached.get("steps"))
        notes.append(
            f"  {name} start {seed}: L-BFGS-B {1e3 * t_ref:.1f} ms, {n_ref} its; "
            f"lm {1e3 * t_lm:.1f} ms, "
            + (f"{reached['steps']} steps" if reached else "did not reach J_L")
        )
    ratio = statistics.median(ratios)
    n_reached = sum(s is not None for s in steps)
    return [
        name,
        f"{X.shape[0]}x" + "-".join(map(str, layer_sizes)),
        str(n_params(layer_sizes)),
        fmt(1e3 * statistics.median(ref_times), ".1f"),
        str(int(statistics.median(its))),
        fmt(1e3 * statistics.median(lm_times), ".1f"),
        str(int(statistics.median([s for s in steps if s is not None] or [0]))),
        f"{n_reached}/{len(STARTS)}",
        fmt(ratio, ".2f"),
        *target_cells(ratio, target),
    ]


def memory_child(n_rows: int) -> None:
    """Fit "trf" on n_rows x 100 -> 100 -> 1; print the peak RSS growth."""
    _, n_features, n_hidden = MEMORY_SHAPE
    X, y = make_regression(n_rows, n_features, noise=1.0, random_state=0)
    X, y = _standardise(X), _standardise(y)
    reg = BackpropRegressor(
        hidden_layer_sizes=(n_hidden,), solver="trf", max_iter=3, random_state=0
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{after - before} {seconds:.1f} {reg.n_iter_} {reg.loss_:.6g}")


def memory_lines(n_rows: int) -> list[str]:
    _, n_features, n_hidden = MEMORY_SHAPE
    layer_sizes = [n_features, n_hidden, 1]
    n_weights = n_params(layer_sizes)
    n_non_bias = n_features * n_hidden + n_hidden
    jacobian = 8 * (n_rows + n_non_bias) * n_weights
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(n_rows)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    growth, seconds, n_iter, loss = int(out[0]), out[1], out[2], out[3]
    verdict = "yes" if growth < jacobian else "no"
    return [
        f"trf on {n_rows}x{n_features}->{n_hidden}->1 ({n_weights} weights), "
        f"max_iter=3: {n_iter} accepted steps, J = {loss}, {seconds} s",
        f"  peak resident memory growth during fit: {growth / 2**20:.0f} MiB; "
        f"dense Jacobian ({n_rows + n_non_bias} x {n_weights} float64): "
        f"{jacobian / 2**20:.0f} MiB; below it: {verdict} "
        f"(ratio {growth / jacobian:.3f})",
    ]


LEGEND = """\
Columns: L-BFGS-B ms = median over starts of its median wall time of fit() to
convergence; its = its iterations (median over starts); lm ms = the same for
"lm" stopped at its first accepted step with J <= L-BFGS-B's final J; steps =
lm's accepted steps to get there; reached = starts where it got there (a start
that did not counts as infinitely slow); lm/L-BFGS-B = median over starts of
the per-start ratio of those times; target: the issue's bound; met: whether
this run meets it."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed fits per start (default 3)"
    )
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child)
        return 0
    started = time.perf_counter()
    print("bench_lm: Levenberg-Marquardt against L-BFGS-B, and trf's memory")
    for line in machine_header():
        print(line)
    print(f"mode: {'quick' if args.quick else 'full'}; {args.repeats} timed fits")
    problems = ["sine"] if args.quick else list(PROBLEMS)
    default_threads = blas_threads()
    for label, limit in (
        ("one BLAS thread", 1),
        (f"default ({default_threads})", None),
    ):
        rows, notes = [], []
        with threadpool_limits(limits=limit):
            for name in problems:
                rows.append(problem_row(name, args.repeats, notes))
        print(f"\nTime to L-BFGS-B's final cost, {label}")
        for line in table_lines(COLUMNS, rows):
            print(line)
        for note in notes:
            print(note)
    print()
    print(LEGEND)
    print()
    rows = MEMORY_SHAPE[0] // 10 if args.quick else MEMORY_SHAPE[0]
    for line in memory_lines(rows):
        print(line)
    print(
        f"\nload average at the end: {format_loadavg()}; "
        f"total {time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
