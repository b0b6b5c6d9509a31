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
# per iteration, so BFGS gets fewer iterations than the others, and so do the
# methods with an inner loop. TNC's ``max_iter`` is a limit on evaluations
# (TNC counts nothing else), so it gets a larger one.
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
    "TNC": 500,
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
    print(
        f"{solver:>12}: {clf.n_iter_:4d} iterations, J = {clf.loss_:.4f}, "
        f"training accuracy {clf.score(X, y):.3f}, "
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
# and each method's own options for ``max_iter`` and ``tol``. The starting
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

    options = {tol_option.get(solver, "gtol"): tol}
    options["maxfun" if solver == "TNC" else "maxiter"] = n_iter
    minimize(
        fun,
        theta0,
        method=solver,
        jac=True,
        hessp=hessp if solver in curvature else None,
        callback=callback,
        options=options,
    )
    return np.array(trace)


traces = {solver: count_run(solver, n) for solver, n in max_iter.items()}

# %%
# The direct calls retrace the estimators: the cost after each iteration is
# the one in ``loss_curve_``.
for solver, trace in traces.items():
    curve = fits[solver].loss_curve_
    print(
        f"{solver:>12}: {len(trace) - 1} iterations, largest difference from "
        f"loss_curve_ {np.abs(trace[1:, 1] - curve).max():.1e}"
    )

# %%
# The two views
# -------------
# Left: cost against iterations. Right: cost against evaluations of J and its
# gradient (plus Hessian-vector products). Both on a log scale.
styles = dict(zip(max_iter, ["-", "--", "-.", ":", "-", "--", "-."], strict=True))
fig, (ax_it, ax_ev) = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
for n, solver in enumerate(max_iter):
    curve = fits[solver].loss_curve_
    ax_it.plot(
        np.arange(1, len(curve) + 1),
        curve,
        styles[solver],
        color=f"C{n}",
        lw=2,
        label=solver,
    )
    work, J = traces[solver].T
    ax_ev.plot(work, J, styles[solver], color=f"C{n}", lw=2, label=solver)
for ax, xlabel in [
    (ax_it, "iteration"),
    (ax_ev, "evaluations of J and gradient (+ Hessian-vector products)"),
]:
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("training cost J")
    ax.grid(True, which="both", alpha=0.3)
ax_it.set_title("Training cost per iteration (loss_curve_)")
ax_ev.set_title("Training cost per unit of work")
ax_ev.legend()
plt.show()

# %%
# Per iteration (left), the methods with an inner loop (Newton-CG, TNC,
# trust-ncg, trust-krylov) descend fastest, because each of their iterations
# does many evaluations; BFGS, which starts from the identity as its inverse
# Hessian, is the slowest. Per evaluation (right), which is where the time
# goes for a network of this size, L-BFGS-B reaches a low cost with a few
# times fewer evaluations than any other method, and needs no Hessian
# products: that is why it is the default. BFGS costs the most time per
# iteration as well, through its dense n_params × n_params matrix.
