"""The fast core, measured: one cost+gradient evaluation against its peers.

For each problem of the "Fast core" issue and each dtype (float64, float32)
this prints one row of one table:

- ``ours``: one :func:`sklearn_backprop.network.cost_grad` evaluation, median
  of N repeats, with a reused ``Workspace`` and ``out=`` gradient buffer, as
  the optimiser calls it;
- ``MLP``: ``MLPClassifier._loss_grad_lbfgs`` on the same packed weights,
  data and dtype, with the buffers its ``_fit_lbfgs`` passes;
- ``floor``: only the GEMMs of one evaluation (forward, delta and gradient
  products of the same shapes and dtype) on preallocated arrays with ``out=``;
- ``jax``: ``jax.jit(jax.value_and_grad(loss))`` over a flat θ with the same
  mathematics, when jax is installed (optional peer, never a dependency);
- the ratios ours/MLP, ours/floor, MLP/floor, jax/floor and float32/float64;
- the whole fit: ``BackpropClassifier``'s wall time to reach the final
  training loss of ``MLPClassifier(solver="lbfgs")`` (same architecture,
  alpha, max_iter and starting weights) over MLPClassifier's fit time;
- memory: the peak traced by ``tracemalloc`` while ``fit`` runs, against the
  issue's bound size(X) + 2 × size(all activations) + O(n_params), and what one
  evaluation allocates once its workspace exists.

Before timing, the float64 losses and gradients of ours, MLPClassifier's (and
jax's) are compared: they must agree to 1e-10 relative, or the weights were
laid out differently and the comparison is void. A second table checks that
the cost grows linearly in n_samples (problem (c)'s shapes, 10k to 80k rows).

The median of ours, MLP's and the floor is taken over rounds that run each
once in turn, so a change of machine load hits all of them alike; jax is timed
in its own rounds right after (XLA's threads interleaved with OpenBLAS's on
few cores slow both several-fold). On a shared machine, ``--blas-threads 1``
(one BLAS thread, and one XLA thread) gives much steadier numbers: two BLAS
threads that lose a core to another process stall for tens of milliseconds.

Run: ``python benchmarks/bench_core.py [--quick] [--problems a,b,...]
[--blas-threads N]`` (about 3 minutes on 2 cores, most of it the fits of (d)
and (e); ``--quick`` shrinks every size for a smoke run of ~10-20 s).
"""

import argparse
import os
import sys
import time
import tracemalloc
import warnings

import numpy as np
from _problems import (
    AGREE_RTOL,
    ALPHA,
    PROBLEMS,
    QUICK_DIVISOR,
    Problem,
    floor_eval,
    from_mlp_grad,
    initial_theta,
    make_problem,
    mlp_eval,
    mlp_model,
    our_eval,
    rel_diff,
    synthetic,
    to_mlp_layout,
)
from _timing import (
    PER_TURN,
    fmt,
    format_loadavg,
    interleaved_medians,
    machine_header,
    table_lines,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelBinarizer

from sklearn_backprop import BackpropClassifier
from sklearn_backprop._blocks import chunk_rows
from sklearn_backprop._threads import evaluation_threads
from sklearn_backprop.network import n_params, unpack

DTYPES = (np.float64, np.float32)
LINEAR_ROWS = (10_000, 20_000, 40_000, 80_000)  # target 6, with problem (c)
# O(n_params) allowance of the memory bound, in float64 vectors of n_params:
# scipy's L-BFGS-B (m = 10) alone holds about 45 (2m history vectors plus its
# (2m + 5) n workspace), measured as the fit's peak on a 50-row data set.
PARAM_VECTORS = 48
JAX_SETTLE = 0.3  # seconds of sleep after jax runs: XLA's idle threads spin


def _jax_version() -> str:
    try:
        import jax

        return jax.__version__
    except ImportError:
        return "not installed"


# --------------------------------------------------------------------------
# The evaluations (ours, MLP's and the floor's are in _problems.py)


def our_chunk_rows(problem: Problem, X) -> int:
    """The rows per chunk cost_grad picks for this problem (its private rule)."""
    return chunk_rows(X.shape[0], problem.layer_sizes, X.dtype)


def jax_eval(problem: Problem, X, Y, theta):
    """jax.jit(jax.value_and_grad(J)) over a flat θ; None if jax is missing."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    layer_sizes, softmax = problem.layer_sizes, problem.output_activation == "softmax"
    pairs = list(zip(layer_sizes[:-1], layer_sizes[1:], strict=False))
    last = len(pairs) - 1

    def loss(theta, X, Y):
        A, start, penalty = X, 0, 0.0
        for layer, (s_in, s_out) in enumerate(pairs):
            T = theta[start : start + s_out * (s_in + 1)].reshape(s_out, s_in + 1)
            start += s_out * (s_in + 1)
            W = T[:, 1:]
            Z = A @ W.T + T[:, 0]
            penalty = penalty + jnp.vdot(W, W)
            if layer < last:
                A = jax.nn.sigmoid(Z)
        if softmax:
            rows = jnp.sum(Y, axis=1) * jax.nn.logsumexp(Z, axis=1)
            rows = rows - jnp.sum(Y * Z, axis=1)
        else:
            rows = jnp.sum(jax.nn.softplus(Z) - Y * Z, axis=1)
        n = X.shape[0]
        return (jnp.sum(rows) + 0.5 * ALPHA * penalty) / n

    fun = jax.jit(jax.value_and_grad(loss))
    args = [jax.device_put(a) for a in (theta, X, Y)]

    def run():
        return jax.block_until_ready(fun(*args))

    return run


# --------------------------------------------------------------------------
# Fits


def fit_to_mlp_loss(problem: Problem, X, max_iter: int) -> dict:
    """Our wall time to reach MLPClassifier(lbfgs)'s final loss, over its time.

    Both start from ``problem.theta``; MLPClassifier runs max_iter L-BFGS
    iterations, ours runs until its training loss is at most MLP's final one
    (relative slack 1e-9 in float64, 1e-5 in float32) or 3 × max_iter.
    """
    dtype, y = X.dtype, problem.y
    mlp = mlp_model(problem, dtype)
    coefs, intercepts, _ = to_mlp_layout(problem.theta, problem.layer_sizes)
    mlp.coefs_ = [c.astype(dtype) for c in coefs]
    mlp.intercepts_ = [b.astype(dtype) for b in intercepts]
    mlp.set_params(warm_start=True, max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        mlp.fit(X, y)
        mlp_seconds = time.perf_counter() - start
    target = float(mlp.loss_)
    slack = 1e-9 if dtype == np.float64 else 1e-5
    reached = {}

    def stop(progress):
        if progress.loss <= target + slack * abs(target):
            reached.setdefault("loss", progress.loss)
            return True
        return False

    clf = BackpropClassifier(
        hidden_layer_sizes=problem.hidden,
        activation="logistic",
        alpha=ALPHA,
        max_iter=3 * max_iter,
        tol=0.0,
        warm_start=True,
        callback=stop,
    )
    clf.thetas_ = unpack(problem.theta.copy(), problem.layer_sizes)  # same start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        clf.fit(X, y)
        our_seconds = time.perf_counter() - start
    return {
        "mlp_seconds": mlp_seconds,
        "mlp_iter": mlp.n_iter_,
        "target": target,
        "our_seconds": our_seconds,
        "our_iter": clf.n_iter_,
        "our_loss": clf.loss_,
        "reached": "loss" in reached,
        "ratio": our_seconds / mlp_seconds,
    }


def fit_peak_memory(problem: Problem, X, max_iter: int = 3) -> dict:
    """tracemalloc peak during a short fit, and the issue's bound."""
    clf = BackpropClassifier(
        hidden_layer_sizes=problem.hidden,
        activation="logistic",
        alpha=ALPHA,
        max_iter=max_iter,
        random_state=0,
    )
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, problem.y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    n, item = X.shape[0], X.dtype.itemsize
    activations = n * sum(problem.layer_sizes[1:]) * item
    bound = (
        X.nbytes + 2 * activations + PARAM_VECTORS * 8 * n_params(problem.layer_sizes)
    )
    return {"peak": peak, "bound": bound, "ok": peak <= bound}


def eval_allocation(run) -> int:
    """Bytes allocated (traced peak) by one evaluation after the first."""
    run()
    tracemalloc.start()
    try:
        run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


# --------------------------------------------------------------------------
# Report


COLUMNS = [
    ("problem", "<", 7),
    ("dtype", "<", 7),
    ("shape", "<", 20),
    ("ours ms", ">", 8),
    ("MLP ms", ">", 8),
    ("ours/MLP", ">", 8),
    ("floor ms", ">", 8),
    ("ours/fl", ">", 7),
    ("MLP/fl", ">", 7),
    ("jax/fl", ">", 7),
    ("f32/f64", ">", 7),
    ("fit ratio", ">", 9),
    ("peak MB", ">", 8),
    ("bound MB", ">", 8),
    ("ok", "<", 3),
    ("eval KB", ">", 8),
]


def bench_problem(problem: Problem, args, notes: list[str]) -> list[list[str]]:
    rows, ours_f64 = [], None  # ours_f64: the float64 evaluation, timed again
    repeats_cap = 3 if args.quick else args.repeats
    repeats_min = 3 if args.quick else min(7, args.repeats)
    for dtype in DTYPES:
        name = np.dtype(dtype).name
        X = np.ascontiguousarray(problem.X, dtype=dtype)
        Y = LabelBinarizer().fit(problem.y).transform(problem.y).astype(dtype)
        theta = problem.theta.astype(dtype)
        mlp = mlp_model(problem, dtype)
        chunk_rows = our_chunk_rows(problem, X)
        funs = {
            "ours": our_eval(problem, X, Y, theta),
            "mlp": mlp_eval(mlp, problem, X, theta),
            "floor": floor_eval(problem.layer_sizes, X),
            "chunk floor": floor_eval(problem.layer_sizes, X, chunk_rows),
        }
        if ours_f64 is not None:  # float32/float64 from the same rounds
            funs["ours float64"] = ours_f64
        # Warm-up (workspace allocation, jit compile) and the agreement check.
        results = {key: fun() for key, fun in funs.items()}
        if dtype == np.float64:
            ours_f64 = funs["ours"]
        jax_run = None if args.no_jax else jax_eval(problem, X, Y, theta)
        if jax_run is not None:
            results["jax"] = jax_run()
            time.sleep(JAX_SETTLE)
        J, grad = results["ours"]
        J_mlp, grad_mlp = results["mlp"]
        grad_mlp = from_mlp_grad(grad_mlp, problem.layer_sizes)
        diffs = {"MLP": (rel_diff(J, J_mlp), rel_diff(grad, grad_mlp))}
        if "jax" in results:
            diffs["jax"] = (
                rel_diff(J, results["jax"][0]),
                rel_diff(grad, results["jax"][1]),
            )
        disagree = dtype == np.float64 and any(
            d > AGREE_RTOL for pair in diffs.values() for d in pair
        )
        flag = "  MISMATCH: layouts or maths differ" if disagree else ""
        print(
            f"check ({problem.key}) {name}: J = {J:.12g}; relative difference "
            "(J, gradient) to "
            + "; ".join(f"{k}: {dj:.1e}, {dg:.1e}" for k, (dj, dg) in diffs.items())
            + flag,
            flush=True,
        )
        if disagree:
            notes.append(f"({problem.key}) {name}: ours and a peer DISAGREE{flag}")
        # Repeats: about args.budget seconds per problem and dtype, at least 7
        # (3 in --quick) and at most args.repeats.
        start = time.perf_counter()
        for fun in funs.values():
            fun()
        one_round = PER_TURN * (time.perf_counter() - start)
        repeats = int(
            min(repeats_cap, max(repeats_min, args.budget / max(one_round, 1e-9)))
        )
        med = interleaved_medians(funs, repeats)
        if jax_run is not None:
            # Timed apart: XLA's threads interleaved with OpenBLAS's on few
            # cores slow both down several-fold.
            med.update(interleaved_medians({"jax": jax_run}, repeats))
            time.sleep(JAX_SETTLE)
        alloc = eval_allocation(funs["ours"])
        fit = None if args.no_fit else fit_to_mlp_loss(problem, X, args.max_iter)
        memory = fit_peak_memory(problem, X)
        if fit is not None:
            notes.append(
                f"fit ({problem.key}) {name}: MLP {fit['mlp_iter']} iterations in "
                f"{fit['mlp_seconds']:.2f} s to loss {fit['target']:.6g}; ours "
                + (
                    f"reached it after {fit['our_iter']} iterations"
                    if fit["reached"]
                    else f"did NOT reach it ({fit['our_iter']} iterations, "
                    f"loss {fit['our_loss']:.6g})"
                )
                + f" in {fit['our_seconds']:.2f} s"
            )
        ours, floor = med["ours"], med["floor"]
        notes.append(
            f"chunks ({problem.key}) {name}: {chunk_rows} rows per chunk, "
            f"{evaluation_threads(-(-problem.X.shape[0] // chunk_rows))} evaluation "
            "thread(s); the same GEMMs over "
            f"those chunks take {1e3 * med['chunk floor']:.3f} ms "
            f"({med['chunk floor'] / floor:.2f} x the floor); ours over them: "
            f"{ours / med['chunk floor']:.2f}"
        )
        rows.append(
            [
                f"({problem.key})",
                name,
                problem.shape,
                fmt(1e3 * ours),
                fmt(1e3 * med["mlp"]),
                fmt(ours / med["mlp"], ".2f"),
                fmt(1e3 * floor),
                fmt(ours / floor, ".2f"),
                fmt(med["mlp"] / floor, ".2f"),
                fmt(med["jax"] / floor if "jax" in med else None, ".2f"),
                fmt(
                    ours / med["ours float64"] if "ours float64" in med else None,
                    ".2f",
                ),
                "-"
                if fit is None
                else (f"{fit['ratio']:.2f}" if fit["reached"] else "n/r"),
                fmt(memory["peak"] / 2**20, ".1f"),
                fmt(memory["bound"] / 2**20, ".1f"),
                "yes" if memory["ok"] else "NO",
                fmt(alloc / 2**10, ".1f"),
            ]
        )
        print(f"  ({problem.key}) {name}: {repeats} repeats", flush=True)
    return rows


def linearity(args) -> list[str]:
    """Target 6: eval time per row at 10k-80k rows with problem (c)'s shapes."""
    n_rows = [n // QUICK_DIVISOR for n in LINEAR_ROWS] if args.quick else LINEAR_ROWS
    _, n_features, hidden, n_classes = PROBLEMS["c"]
    X_all, y_all = synthetic(max(n_rows), n_features, n_classes)
    layer_sizes = [n_features, *hidden, n_classes]
    theta64 = initial_theta(layer_sizes)
    lines = [
        "Linear in n_samples (target 6): problem (c) shapes "
        + "-".join(map(str, layer_sizes)),
        f"{'rows':>8}  {'dtype':<7}  {'ours ms':>8}  {'ns/row':>8}  "
        f"{'vs first':>8}  {'floor ns/row':>12}  {'ours/fl':>7}",
    ]
    for dtype in DTYPES:
        first = None
        for n in n_rows:
            X = np.ascontiguousarray(X_all[:n], dtype=dtype)
            y = y_all[:n]
            Y = LabelBinarizer().fit(y_all).transform(y).astype(dtype)
            problem = Problem("c", X, y, layer_sizes, hidden, "softmax", theta64)
            funs = {
                "ours": our_eval(problem, X, Y, theta64.astype(dtype)),
                "floor": floor_eval(layer_sizes, X),
            }
            for fun in funs.values():
                fun()
            med = interleaved_medians(funs, 3 if args.quick else 9)
            per_row = med["ours"] / n
            first = per_row if first is None else first
            lines.append(
                f"{n:>8}  {np.dtype(dtype).name:<7}  {1e3 * med['ours']:>8.3f}  "
                f"{1e9 * per_row:>8.1f}  {per_row / first:>8.2f}  "
                f"{1e9 * med['floor'] / n:>12.1f}  {med['ours'] / med['floor']:>7.2f}"
            )
    return lines


LEGEND = f"""\
Columns: ours/MLP/floor ms = median seconds x 1e3 of one cost+gradient
evaluation (ours: cost_grad with reused Workspace and out=; MLP:
MLPClassifier._loss_grad_lbfgs, same packed weights and dtype; floor: the
forward, delta and gradient GEMMs alone). ours/fl, MLP/fl, jax/fl: time over
the floor. f32/f64: our float32 evaluation over our float64 one (timed
again in the float32 row's rounds). fit ratio:
our fit wall time until our training loss <= MLPClassifier(lbfgs)'s final
loss, over MLPClassifier's fit time (same start, alpha, max_iter; n/r: not
reached). peak MB: tracemalloc peak during a 3-iteration fit; bound MB:
size(X) + 2 x size(all activations) + {PARAM_VECTORS} x 8 B x n_params; ok: peak <=
bound. eval KB: traced peak of one evaluation after the first (should not
grow with n_samples)."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes and few repeats (smoke run)"
    )
    parser.add_argument(
        "--problems",
        default=",".join(PROBLEMS),
        help="comma-separated subset of " + ",".join(PROBLEMS) + " (default: all)",
    )
    parser.add_argument(
        "--repeats", type=int, default=25, help="most repeats of each evaluation"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=1.5,
        help="seconds of timing rounds per problem and dtype (before the cap)",
    )
    parser.add_argument(
        "--max-iter",
        type=int,
        default=None,
        help="MLPClassifier's max_iter in the fit comparison (default 100, quick 10)",
    )
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="limit BLAS threads (threadpoolctl) for every numpy product, and "
        "jax to one thread when 1; steadier timings on a shared machine "
        "(default: BLAS as configured)",
    )
    parser.add_argument("--no-jax", action="store_true", help="skip the jax peer")
    parser.add_argument("--no-fit", action="store_true", help="skip the fit timing")
    parser.add_argument(
        "--no-linear", action="store_true", help="skip the n_samples scaling table"
    )
    args = parser.parse_args(argv)
    keys = [k.strip().lower().strip("()") for k in args.problems.split(",") if k]
    unknown = sorted(set(keys) - set(PROBLEMS))
    if unknown:
        parser.error(f"unknown problems {unknown}; choose from {list(PROBLEMS)}")
    args.keys = keys
    if args.max_iter is None:
        args.max_iter = 10 if args.quick else 100
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.blas_threads is None:
        return run(args)
    from threadpoolctl import threadpool_limits

    if args.blas_threads == 1 and "jax" not in sys.modules:
        # The same single thread for the jax peer (read when XLA starts).
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = (
            f"{flags} --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        ).strip()
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        return run(args)


def run(args) -> int:
    started = time.perf_counter()
    print("bench_core: one cost+gradient evaluation vs MLPClassifier, BLAS floor, jax")
    for line in machine_header({"jax": _jax_version()}):
        print(line)
    if not args.no_jax and _jax_version() == "not installed":
        print("jax not installed: skipped")
    print(
        f"mode: {'quick' if args.quick else 'full'}; alpha={ALPHA}; "
        f"fit max_iter={args.max_iter}; problems: {','.join(args.keys)}",
        flush=True,
    )
    rows, notes = [], []
    for key in args.keys:
        rows.extend(bench_problem(make_problem(key, args.quick), args, notes))
    print()
    for line in table_lines(COLUMNS, rows):
        print(line)
    print()
    for note in notes:
        print(note)
    if not args.no_linear:
        print()
        for line in linearity(args):
            print(line)
    print()
    print(LEGEND)
    print(
        f"\nload average at the end: {format_loadavg()}; "
        f"total {time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
