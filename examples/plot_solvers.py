"""
The solvers of scipy.optimize.minimize compared
===============================================

The derivation in the notes ends with "we can use this in gradient descent
or any other advanced optimization techniques".
:class:`~sklearn_backprop.BackpropClassifier` hands the cost J(θ) and its
gradient, the D terms, to :func:`scipy.optimize.minimize`, and ``solver``
picks the method. This example trains the same network on the digits with
every supported solver and compares

* the training cost after each iteration (``loss_curve_``), and
* the training cost against the work done: the number of cost-and-gradient
  evaluations, plus Hessian-vector products for the methods that use them.

An iteration means very different amounts of work to different methods: CG
and the quasi-Newton methods (L-BFGS-B, BFGS) take one step per iteration
with a line search of one or a few evaluations; the truncated-Newton methods
(Newton-CG, TNC) and the trust-region methods (trust-ncg, trust-krylov) run an
inner conjugate-gradient loop in every iteration.
"""

# %%
# The problem
# -----------
# Digits, standardised, a hidden layer of 10 logistic units and α = 1:
# Θ^(1) is 10 × 65 and Θ^(2) is 10 × 11, 760 weights in all. BFGS keeps a
# dense 760 × 760 inverse Hessian and SciPy updates it with O(n_params³) work
# per iteration, so BFGS gets fewer iterations than L-BFGS-B and CG, and so do
# the methods with an inner loop. TNC has no iteration limit of its own, only
# one on evaluations (``maxfun``, the estimator's ``max_fun``): the estimator
# counts its iterations and ends the fit after ``max_iter`` of them.
#
# Every limit here is small enough that most runs end at it rather than at
# the tolerance; the curves below are the first iterations of each method,
# not where each one converges.
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import minimize
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelBinarizer, StandardScaler

from sklearn_backprop import BackpropClassifier, network

warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
hidden, alpha, tol = 10, 1.0, 1e-5
layer_sizes = [X.shape[1], hidden, 10]
print("weights:", network.n_params(layer_sizes))

max_iter = {
    "L-BFGS-B": 150,
    "CG": 150,
    "BFGS": 50,
    "Newton-CG": 50,
    "TNC": 50,
    "trust-ncg": 50,
    "trust-krylov": 50,
}

# %%
# Training cost per iteration
# ---------------------------
# Each estimator starts from the same weights (``random_state=0``).
fits = {}
for solver, n_iter in max_iter.items():
    clf = BackpropClassifier(
        hidden_layer_sizes=(hidden,),
        alpha=alpha,
        solver=solver,
        max_iter=n_iter,
        tol=tol,
        random_state=0,
    )
    start = time.perf_counter()
    clf.fit(X, y)
    fits[solver] = clf
    if clf.n_iter_ >= n_iter:
        ended = "stopped at max_iter"
    elif clf.optimize_result_.success:
        ended = "converged"
    else:
        ended = f"stopped: {clf.optimize_result_.message}"
    print(
        f"{solver:>12}: {clf.n_iter_:4d} iterations ({ended}), "
        f"J = {clf.loss_:.4f}, training accuracy {clf.score(X, y):.3f}, "
        f"{time.perf_counter() - start:.2f} s"
    )

# %%
# Training cost per evaluation
# ----------------------------
# ``optimize_result_.nfev`` only gives the total number of evaluations, so to
# see the cost after each one we call :func:`scipy.optimize.minimize` the way
# the estimator does: ``fun(theta) -> (J, grad)`` from
# :func:`~sklearn_backprop.network.cost_grad` with ``jac=True``, Hessian-vector
# products from :func:`~sklearn_backprop.network.hessp` for the methods that
# take them (exact, the estimators' default for all three),
# and each method's own options for ``max_iter``, ``max_fun`` and ``tol``
# (TNC's iterations are counted in the callback, which ends the call after
# ``max_iter`` of them, as the estimator does). The starting
# point is drawn the way the estimator draws it: uniform in [-ε, ε] with
# ε = √6 / √(S_l + S_(l+1)) for each layer.
Y = LabelBinarizer().fit_transform(y).astype(float)
cost = {"alpha": alpha, "output_activation": "softmax"}
rng = np.random.RandomState(0)
blocks = []
for s_in, s_out in zip(layer_sizes[:-1], layer_sizes[1:], strict=False):
    eps = np.sqrt(6.0) / np.sqrt(s_in + s_out)
    blocks.append(rng.uniform(-eps, eps, size=s_out * (s_in + 1)))
theta0 = np.concatenate(blocks)
tol_option = {"Newton-CG": "xtol"}
curvature = {"Newton-CG": "exact", "trust-ncg": "exact", "trust-krylov": "exact"}
max_fun = BackpropClassifier().max_fun


class IterationLimit(Exception):
    """Raised in the callback after max_iter iterations: TNC has no such limit."""


def count_run(solver, n_iter):
    """Minimize J from theta0; return (work done, J) after each iteration."""
    work = [0]
    workspace = network.Workspace()

    def fun(theta):
        work[0] += 1
        return network.cost_grad(theta, X, Y, layer_sizes, workspace=workspace, **cost)

    def hessp(theta, v):
        work[0] += 1
        return network.hessp(
            theta, v, X, Y, layer_sizes, curvature=curvature[solver], **cost
        )

    # Every method starts by evaluating J at theta0: that is evaluation 1.
    trace = [(1, network.cost_grad(theta0, X, Y, layer_sizes, **cost)[0])]

    def callback(xk):
        # Evaluating J here for the plot is not counted as the solver's work.
        counted = work[0]
        trace.append((counted, network.cost_grad(xk, X, Y, layer_sizes, **cost)[0]))
        if len(trace) - 1 >= n_iter:
            raise IterationLimit

    options = {tol_option.get(solver, "gtol"): tol}
    if solver == "TNC":
        options["maxfun"] = max_fun
    else:
        options["maxiter"] = n_iter
    try:
        minimize(
            fun,
            theta0,
            method=solver,
            jac=True,
            hessp=hessp if solver in curvature else None,
            callback=callback,
            options=options,
        )
    except IterationLimit:
        pass
    return np.array(trace)


traces = {solver: count_run(solver, n) for solver, n in max_iter.items()}


# %%
# The direct calls retrace the estimators: the cost after each iteration is
# the one in ``loss_curve_``, to the last bit, for every method except
# trust-krylov. SciPy's trust-krylov is not reproducible from one call to the
# next: given the same function, the same Hessian-vector products (both give
# bit-identical results for identical input) and the same starting point, it
# can take slightly different steps, and once two runs part they go on to
# different iterates. Its difference from ``loss_curve_`` is of that kind and
# changes from build to build, from 0 up to about 1e-2. Three more direct
# calls, each compared with the first on the last lines, show the method
# disagreeing with itself in the same way (on some builds, some of them agree
# to the last bit).
def largest_difference(a, b):
    """Largest difference between two cost curves over their common length."""
    n = min(len(a), len(b))
    return np.abs(np.asarray(a[:n]) - np.asarray(b[:n])).max()


for solver, trace in traces.items():
    curve = fits[solver].loss_curve_
    print(
        f"{solver:>12}: {len(trace) - 1} iterations (estimator {len(curve)}), "
        "largest difference from loss_curve_ "
        f"{largest_difference(trace[1:, 1], curve):.1e}"
    )
for call in range(2, 5):
    again = count_run("trust-krylov", max_iter["trust-krylov"])
    print(
        f"trust-krylov, direct call {call} against the first: largest difference "
        f"{largest_difference(again[:, 1], traces['trust-krylov'][:, 1]):.1e}"
    )

# %%
# The two views
# -------------
# Left: cost against iterations. Right: cost against evaluations of J and its
# gradient (plus Hessian-vector products). Both on a log scale. A cross marks
# the end of a run stopped by its ``max_iter`` (given in the legend), a circle
# one that met its tolerance first. The legend, on the right, holds for both.
styles = dict(zip(max_iter, ["-", "--", "-.", ":", "-", "--", "-."], strict=True))
fig, (ax_it, ax_ev) = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
for n, solver in enumerate(max_iter):
    curve = fits[solver].loss_curve_
    at_limit = fits[solver].n_iter_ >= max_iter[solver]
    ax_it.plot(
        np.arange(1, len(curve) + 1),
        curve,
        styles[solver],
        color=f"C{n}",
        lw=2,
    )
    ax_it.plot(
        len(curve), curve[-1], "x" if at_limit else "o", color=f"C{n}", ms=9, mew=2
    )
    work, J = traces[solver].T
    ax_ev.plot(
        work,
        J,
        styles[solver],
        color=f"C{n}",
        lw=2,
        label=f"{solver} (max_iter={max_iter[solver]})",
    )
bfgs = fits["BFGS"].loss_curve_
ax_it.annotate(
    f"BFGS ends here only because\nmax_iter={max_iter['BFGS']}: not converged,\n"
    "J still falling",
    xy=(len(bfgs), bfgs[-1]),
    xytext=(16, 1.15),
    arrowprops={"arrowstyle": "->", "color": "C2", "shrinkB": 6},
    color="C2",
)
for ax, xlabel in [
    (ax_it, "iteration"),
    (ax_ev, "evaluations of J and gradient (+ Hessian-vector products)"),
]:
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("training cost J")
    ax.grid(True, which="both", alpha=0.3)
ax_it.set_title(
    "Training cost per iteration (loss_curve_)\n× stopped at max_iter, ○ converged"
)
ax_ev.set_title("Training cost per unit of work")
ax_ev.legend(fontsize=9)
plt.show()

# %%
# The work each method needed to bring J below a few levels (evaluations of J
# and its gradient, plus Hessian-vector products; "-" where the run ended
# first):
levels = [0.3, 0.2, 0.17]
print(f"{'J at most':>12}: " + "  ".join(f"{level:>6}" for level in levels))
for solver, trace in traces.items():
    needed = []
    for level in levels:
        below = np.flatnonzero(trace[:, 1] <= level)
        needed.append(f"{int(trace[below[0], 0]):>6}" if below.size else f"{'-':>6}")
    print(f"{solver:>12}: " + "  ".join(needed))

# %%
# Per iteration (left), the methods with an inner loop (Newton-CG, TNC,
# trust-ncg, trust-krylov) descend fastest, because each of their iterations
# does many evaluations; BFGS, which starts from the identity as its inverse
# Hessian, is the slowest, and its run is cut off by its small ``max_iter``
# well before it converges. Per evaluation (right, and the table above),
# which is where the time goes for a network of this size, L-BFGS-B reaches
# a low cost with two to three times fewer evaluations than any other method,
# and needs no Hessian products: that is why it is the default. BFGS costs
# the most time per iteration as well, through its dense n_params × n_params
# matrix.
