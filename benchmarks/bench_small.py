"""Small data: one evaluation and a one-iteration fit against MLPClassifier.

Most real uses of a small network are small data sets, where an evaluation
takes microseconds and per-call Python work, not the matrix products, decides
the time. This script measures scikit-learn's bundled data sets (iris, wine,
breast_cancer, digits; ``StandardScaler`` applied; nothing is downloaded),
with logistic hidden units, softmax outputs for multiclass targets and one
logistic output unit for binary breast_cancer, ``alpha=1e-4``:

1. **One evaluation**, hidden layers (25,) and (25, 25), everything under
   ``threadpool_limits(1)``: ours is :func:`sklearn_backprop.network.cost_grad`
   with a reused ``Workspace`` and ``out=`` gradient buffer (as the optimiser
   calls it); MLP is ``MLPClassifier._loss_grad_lbfgs`` at the same weights
   with the buffers its ``_fit_lbfgs`` passes. Before timing, the two losses
   and gradients must agree to 1e-10 relative (else the row ends in
   ``MISMATCH``). Both run in the same rounds (:func:`_timing.interleaved_medians`:
   three calls per turn, the first untimed). Targets: ours/MLP <= 0.60 on
   iris, wine and breast_cancer, <= 0.55 on digits.
2. **One fit**: ``BackpropClassifier(hidden_layer_sizes=(25,), max_iter=1,
   activation="logistic", random_state=0).fit`` against
   ``MLPClassifier(hidden_layer_sizes=(25,), solver="lbfgs",
   activation="logistic", max_iter=1, random_state=0).fit`` on breast_cancer
   (scaled), ``ConvergenceWarning`` silenced, interleaved in the same rounds;
   under ``threadpool_limits(1)`` (target ours/MLP <= 1.0) and at the
   machine's default threads.

Run: ``python benchmarks/bench_small.py [--quick] [--repeats N]
[--fit-rounds N]`` (about 5 s on 2 cores; ``--quick``: about a second).
"""

import argparse
import sys
import time
import warnings

import numpy as np
from _problems import (
    AGREE_RTOL,
    ALPHA,
    from_mlp_grad,
    mlp_eval,
    mlp_model,
    our_eval,
    problem_from_data,
    rel_diff,
)
from _timing import (
    PER_TURN,
    blas_threads,
    fmt,
    format_loadavg,
    interleaved_medians,
    machine_header,
    table_lines,
    target_cells,
)
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import LabelBinarizer, StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_backprop import BackpropClassifier

DATASETS = {
    "iris": load_iris,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
}
HIDDEN = ((25,), (25, 25))
# The targets for ours/MLP, one evaluation with one thread.
EVAL_TARGETS = {"iris": 0.60, "wine": 0.60, "breast_cancer": 0.60, "digits": 0.55}
FIT_DATA, FIT_HIDDEN, FIT_TARGET = "breast_cancer", (25,), 1.0

EVAL_COLUMNS = [
    ("data", "<", 13),
    ("shape", "<", 16),
    ("ours µs", ">", 9),
    ("MLP µs", ">", 9),
    ("ours/MLP", ">", 8),
    ("target", ">", 7),
    ("met", "<", 3),
]
FIT_COLUMNS = [
    ("threads", "<", 11),
    ("data", "<", 13),
    ("ours ms", ">", 8),
    ("MLP ms", ">", 8),
    ("ours/MLP", ">", 8),
    ("target", ">", 7),
    ("met", "<", 3),
]


def load(name: str):
    X, y = DATASETS[name](return_X_y=True)
    return StandardScaler().fit_transform(X), y


def eval_row(name: str, hidden, repeats: int) -> list[str]:
    """Check, then time, one evaluation of ours and MLP's on one data set."""
    X, y = load(name)
    problem = problem_from_data(name, X, y, hidden)
    X = problem.X
    Y = LabelBinarizer().fit(y).transform(y).astype(np.float64)
    funs = {
        "ours": our_eval(problem, X, Y, problem.theta),
        "mlp": mlp_eval(mlp_model(problem, np.float64), problem, X, problem.theta),
    }
    J, grad = funs["ours"]()
    J_mlp, grad_mlp = funs["mlp"]()
    dj = rel_diff(J, J_mlp)
    dg = rel_diff(grad, from_mlp_grad(grad_mlp, problem.layer_sizes))
    flag = "  MISMATCH: layouts or maths differ" if max(dj, dg) > AGREE_RTOL else ""
    print(
        f"check {name} {problem.shape}: J = {J:.12g}, MLP's {J_mlp:.12g}; relative "
        f"difference J {dj:.1e}, gradient {dg:.1e}{flag}",
        flush=True,
    )
    med = interleaved_medians(funs, repeats)
    ratio = med["ours"] / med["mlp"]
    return [
        name,
        problem.shape,
        fmt(1e6 * med["ours"], ".1f"),
        fmt(1e6 * med["mlp"], ".1f"),
        fmt(ratio, ".2f"),
        *target_cells(ratio, EVAL_TARGETS[name]),
    ]


def fit_row(label: str, rounds: int, notes: list[str]) -> list[str]:
    """Median wall time of one max_iter=1 fit of each, interleaved."""
    X, y = load(FIT_DATA)
    fitted = {}

    def ours():
        fitted["ours"] = BackpropClassifier(
            hidden_layer_sizes=FIT_HIDDEN,
            max_iter=1,
            activation="logistic",
            random_state=0,
        ).fit(X, y)

    def mlp():
        fitted["mlp"] = MLPClassifier(
            hidden_layer_sizes=FIT_HIDDEN,
            solver="lbfgs",
            activation="logistic",
            max_iter=1,
            random_state=0,
        ).fit(X, y)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours()  # warm-up: imports, first allocations
        mlp()
        med = interleaved_medians({"ours": ours, "mlp": mlp}, rounds)
    timed = rounds * (PER_TURN - 1)
    notes.append(
        f"fit, {label} thread(s): median of {timed} fits each; last fits: ours "
        f"n_iter_={fitted['ours'].n_iter_}, loss_={fitted['ours'].loss_:.6g}; "
        f"MLP n_iter_={fitted['mlp'].n_iter_}, loss_={fitted['mlp'].loss_:.6g}"
    )
    ratio = med["ours"] / med["mlp"]
    return [
        label,
        FIT_DATA,
        fmt(1e3 * med["ours"]),
        fmt(1e3 * med["mlp"]),
        fmt(ratio, ".2f"),
        *target_cells(ratio, FIT_TARGET),
    ]


LEGEND = f"""\
Columns: ours/MLP µs = median seconds x 1e6 of one cost+gradient evaluation
(ours: network.cost_grad with a reused Workspace and out= buffer; MLP:
MLPClassifier._loss_grad_lbfgs at the same weights), {PER_TURN} calls per turn
with the first untimed, ours and MLP's turns alternating, one BLAS thread
(threadpool_limits(1)). shape: rows x layer sizes. target: the issue's bound
on ours/MLP; met: whether this run meets it. Fit table: median wall time of
one BackpropClassifier / MLPClassifier(solver="lbfgs") fit with max_iter=1,
hidden (25,), logistic, random_state=0, on {FIT_DATA} (scaled); the "1" row
under threadpool_limits(1), the "default" row at the machine's default
threads. Single timings move by about 10 % between runs on a shared machine;
ratios from one run are steadier."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick", action="store_true", help="few repeats (a smoke run)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="rounds of evaluation timing (default 200, quick 3)",
    )
    parser.add_argument(
        "--fit-rounds",
        type=int,
        default=None,
        help=f"rounds of fit timing, {PER_TURN - 1} timed fits each per round "
        "(default 30, quick 2)",
    )
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 200
    if args.fit_rounds is None:
        args.fit_rounds = 2 if args.quick else 30
    if args.repeats < 1 or args.fit_rounds < 1:
        parser.error("--repeats and --fit-rounds must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    print("bench_small: small data sets, one evaluation and one fit vs MLPClassifier")
    for line in machine_header():  # the machine's default threads
        print(line)
    print(
        f"mode: {'quick' if args.quick else 'full'}; alpha={ALPHA}; "
        f"{args.repeats} evaluation rounds; {args.fit_rounds} fit rounds",
        flush=True,
    )
    default_threads = blas_threads()
    eval_rows, fit_rows, notes = [], [], []
    with threadpool_limits(limits=1):
        print(f"under threadpool_limits(1): BLAS threads {blas_threads()}")
        for name in DATASETS:
            for hidden in HIDDEN:
                eval_rows.append(eval_row(name, hidden, args.repeats))
        fit_rows.append(fit_row("1", args.fit_rounds, notes))
    fit_rows.append(fit_row(f"default ({default_threads})", args.fit_rounds, notes))
    print()
    print("One evaluation, one BLAS thread")
    for line in table_lines(EVAL_COLUMNS, eval_rows):
        print(line)
    print()
    print(f"One fit, max_iter=1, {FIT_DATA}, hidden {FIT_HIDDEN}")
    for line in table_lines(FIT_COLUMNS, fit_rows):
        print(line)
    print()
    for note in notes:
        print(note)
    print()
    print(LEGEND)
    print(
        f"\nload average at the end: {format_loadavg()}; "
        f"total {time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
