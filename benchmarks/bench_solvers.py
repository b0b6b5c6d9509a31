"""Training loss versus evaluations and wall time, for every solver.

Problems: digits (1797 × 64 → 25 → 10) and the classic handwritten-digits
exercise shape, 5000 × 400 → 25 → 10 (synthetic, ``make_classification``).
For each solver (and each curvature of Newton-CG) the loss after every
iteration is recorded with the number of cost+gradient evaluations and
Hessian-vector products spent so far, and the wall time. The target is
``MLPClassifier(solver="lbfgs")``'s final loss with the same architecture,
alpha and max_iter; the report says which configuration reaches it first,
counted in evaluations (a Hessian-vector product counted at its measured cost
in gradient evaluations) and in seconds. It also measures what one H·v costs
relative to one cost+gradient evaluation.

Run: ``python benchmarks/bench_solvers.py`` (a few minutes on 2 cores). BLAS
runs on one thread: on a shared 2-core machine a second BLAS thread stalls
small products for tens of milliseconds and makes timings meaningless.
BFGS keeps a dense n_params² inverse Hessian updated in O(n_params³) per
iteration, so it runs on digits only.
"""

import time
import warnings

import numpy as np
from _timing import machine_header, median_time
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_backprop import BackpropClassifier
from sklearn_backprop._blocks import InMemoryBlocks
from sklearn_backprop._solvers import SOLVERS
from sklearn_backprop.network import Workspace, cost_grad, hessp, n_params

ALPHA, HIDDEN, MAX_ITER, TIME_CAP = 1.0, 25, 200, 60.0
CONFIGS = [
    ("L-BFGS-B", "auto"),
    ("CG", "auto"),
    ("BFGS", "auto"),
    ("TNC", "auto"),
    ("Newton-CG", "gauss-newton"),
    ("Newton-CG", "exact"),
    ("trust-ncg", "exact"),
    ("trust-ncg", "gauss-newton"),
    ("trust-krylov", "exact"),
    ("trust-krylov", "gauss-newton"),
]


class _Counter:
    """Counts the evaluations the estimator's objective asks of its data."""

    def __init__(self):
        self.fg = self.hv = 0
        self._sums = InMemoryBlocks.cost_grad_sum, InMemoryBlocks.hessp_sum

    def install(self):
        cost_grad_sum, hessp_sum = self._sums

        def counted_cost_grad(*args, **kwargs):
            self.fg += 1
            return cost_grad_sum(*args, **kwargs)

        def counted_hessp(*args, **kwargs):
            self.hv += 1
            return hessp_sum(*args, **kwargs)

        InMemoryBlocks.cost_grad_sum = counted_cost_grad
        InMemoryBlocks.hessp_sum = counted_hessp

    def remove(self):
        InMemoryBlocks.cost_grad_sum, InMemoryBlocks.hessp_sum = self._sums


HESSP_REPEATS = 7  # calls timed for each of hessp_cost_ratio's medians


def hessp_cost_ratio(X, Y, layer_sizes):
    """Median time of one H·v over one cost+gradient evaluation.

    Returns the exact and Gauss-Newton ratios as the solvers meet them (the
    forward pass at θ cached in the workspace, since an inner CG asks for many
    products at one θ) and the exact ratio of a first, uncached product.
    """
    rng = np.random.default_rng(0)
    theta, v = rng.normal(scale=0.1, size=(2, n_params(layer_sizes)))
    kw = {"alpha": ALPHA, "output_activation": "softmax"}
    ws = Workspace()
    calls = {
        "grad": lambda: cost_grad(theta, X, Y, layer_sizes, **kw),
        "first": lambda: hessp(theta, v, X, Y, layer_sizes, **kw),
        "exact": lambda: hessp(theta, v, X, Y, layer_sizes, workspace=ws, **kw),
        "gn": lambda: hessp(
            theta, v, X, Y, layer_sizes, curvature="gauss-newton", workspace=ws, **kw
        ),
    }
    t_grad, t_first, t_exact, t_gn = (
        median_time(fun, HESSP_REPEATS) for fun in calls.values()
    )
    return t_exact / t_grad, t_gn / t_grad, t_first / t_grad


def trajectory(X, y, solver, curvature, counter):
    """(evaluations, hessps, seconds, loss) after every iteration of one fit."""
    points = []
    start = time.perf_counter()

    def record(progress):
        points.append(
            (counter.fg, counter.hv, time.perf_counter() - start, progress.loss)
        )
        return progress.elapsed > TIME_CAP

    counter.fg = counter.hv = 0
    clf = BackpropClassifier(
        hidden_layer_sizes=(HIDDEN,),
        alpha=ALPHA,
        solver=solver,
        curvature=curvature,
        max_iter=MAX_ITER,
        tol=1e-8,
        callback=record,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    return points


def run_problem(name, X, y, skip=()):
    X = StandardScaler().fit_transform(X)
    n_classes = np.unique(y).size
    layer_sizes = [X.shape[1], HIDDEN, n_classes]
    print(
        f"\n=== {name}: {X.shape[0]} x {X.shape[1]} -> {HIDDEN} -> {n_classes}, "
        f"alpha={ALPHA}, max_iter={MAX_ITER} ==="
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(
            solver="lbfgs",
            hidden_layer_sizes=(HIDDEN,),
            activation="logistic",
            alpha=ALPHA,
            max_iter=MAX_ITER,
            random_state=0,
        ).fit(X, y)
    mlp_time = time.perf_counter() - start
    target = mlp.loss_
    print(
        f"MLPClassifier(lbfgs): final loss {target:.6f} after {mlp.n_iter_} "
        f"iterations, {mlp_time:.2f} s"
    )

    Y = np.eye(n_classes)[y]
    exact_ratio, gn_ratio, first_ratio = hessp_cost_ratio(X, Y, layer_sizes)
    print(
        f"one H.v costs {exact_ratio:.2f} (exact) and {gn_ratio:.2f} "
        "(Gauss-Newton) cost+gradient evaluations at a theta whose forward pass "
        f"is cached, {first_ratio:.2f} (exact) for the first at a new theta "
        f"(medians of {HESSP_REPEATS})"
    )

    counter = _Counter()
    counter.install()
    rows = []
    try:
        for solver, curvature in CONFIGS:
            if solver in skip:
                continue
            points = trajectory(X, y, solver, curvature, counter)
            hv_cost = exact_ratio if curvature == "exact" else gn_ratio
            reached = next((p for p in points if p[3] <= target), None)
            final = points[-1] if points else (0, 0, 0.0, np.nan)
            rows.append((solver, curvature, len(points), final, reached, hv_cost))
    finally:
        counter.remove()

    print(
        f"{'solver':<13}{'curvature':<14}{'final loss':>12}{'iters':>7}"
        f"{'f+g':>7}{'H.v':>7}{'seconds':>9}  reached MLP's loss at "
        "(evaluation-equivalents, seconds)"
    )
    firsts = []
    for solver, curvature, n_iter, final, reached, hv_cost in rows:
        label = curvature if SOLVERS[solver].takes_hessp else "-"
        if reached is None:
            where = "not reached"
        else:
            equiv = reached[0] + hv_cost * reached[1]
            where = f"{equiv:8.1f}, {reached[2]:6.2f} s"
            firsts.append((equiv, reached[2], f"{solver} ({label})"))
        print(
            f"{solver:<13}{label:<14}{final[3]:>12.6f}{n_iter:>7}"
            f"{final[0]:>7}{final[1]:>7}{final[2]:>9.2f}  {where}"
        )
    if firsts:
        by_evals = min(firsts)
        by_time = min(firsts, key=lambda f: f[1])
        print(
            f"first to MLP's loss in evaluations: {by_evals[2]}; "
            f"in wall time: {by_time[2]}"
        )


def main():
    threadpool_limits(limits=1, user_api="blas")
    for line in machine_header():  # after the limit: shows BLAS's one thread
        print(line)
    X, y = load_digits(return_X_y=True)
    run_problem("digits", X, y)
    X, y = make_classification(
        n_samples=5000,
        n_features=400,
        n_informative=60,
        n_classes=10,
        random_state=0,
    )
    run_problem("5000x400 (make_classification)", X, y, skip=("BFGS",))


if __name__ == "__main__":
    main()
