"""
Levenberg-Marquardt against the gradient methods
================================================

For a small regression network the cost is a sum of squares, J(θ) = ½‖r(θ)‖²,
and Levenberg-Marquardt uses that: from the Jacobian of the residuals it
builds the Gauss-Newton model JᵀJ of the curvature, damped by μI, and takes
steps that the gradient methods need hundreds of iterations to match.
MATLAB's ``trainlm`` made it the method of choice for networks of up to a
few hundred weights; :class:`~sklearn_backprop.BackpropRegressor` offers it
as ``solver="lm"`` (MINPACK, through :func:`scipy.optimize.least_squares`).

This example fits two function-approximation problems from the same
starting weights with L-BFGS-B, CG, Newton-CG and "lm", and plots the
training cost against the wall-clock time of the fit.
"""

# %%
# Two problems
# ------------
# A 1-5-1 network on a sine (200 points, 16 weights) and a 10-10-1 network on
# Friedman's function #1 (1000 points, 121 weights), tanh hidden units (MATLAB's
# ``tansig``), inputs and targets standardised, the default ``alpha=1e-4``.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.exceptions import ConvergenceWarning

from sklearn_backprop import BackpropRegressor

warnings.filterwarnings("ignore", category=ConvergenceWarning)


def standardise(a):
    return (a - a.mean(axis=0)) / a.std(axis=0)


rng = np.random.default_rng(0)
x = rng.uniform(-np.pi, np.pi, size=(200, 1))
X_friedman, y_friedman = make_friedman1(1000, noise=0.1, random_state=0)
problems = {
    "sine, 1-5-1": (standardise(x), standardise(np.sin(x[:, 0])), (5,)),
    "Friedman #1, 10-10-1": (
        standardise(X_friedman),
        standardise(y_friedman),
        (10,),
    ),
}

# %%
# Cost against time
# -----------------
# Every fit starts from the same weights (``random_state=0``) and runs with
# ``tol=1e-10`` until the solver stops or reaches its iteration limit. A
# ``callback`` records the training cost after each iteration with the
# seconds since the fit began (for "lm", after each accepted step). A short
# fit with each solver first keeps one-off import costs off the curves.
solvers = {
    "L-BFGS-B": {"max_iter": 20_000, "max_fun": 10**6},
    "CG": {"max_iter": 3_000},
    "Newton-CG": {"max_iter": 300},
    "lm": {"max_iter": 5_000},
}
X, y, hidden = problems["sine, 1-5-1"]
for solver in solvers:
    BackpropRegressor(hidden_layer_sizes=hidden, solver=solver, max_iter=2).fit(X, y)

curves = {}
for name, (X, y, hidden) in problems.items():
    for solver, limits in solvers.items():
        trace = []
        reg = BackpropRegressor(
            hidden_layer_sizes=hidden,
            activation="tanh",
            solver=solver,
            tol=1e-10,
            random_state=0,
            callback=lambda p, trace=trace: trace.append((p.elapsed, p.loss)),
            **limits,
        ).fit(X, y)
        curves[name, solver] = np.array(trace)
        print(
            f"{name:>22} {solver:>9}: {reg.n_iter_:5d} iterations, "
            f"J = {reg.loss_:.3e}, {trace[-1][0]:.3f} s"
        )

# %%
# Time to each solver's cost
# --------------------------
# How long each method needs to reach the final cost of L-BFGS-B run to
# convergence (a solver that ends above it gets a dash):
for name in problems:
    target = curves[name, "L-BFGS-B"][-1, 1]
    print(f"{name}: L-BFGS-B's final J = {target:.4e}")
    for solver in solvers:
        curve = curves[name, solver]
        hit = np.flatnonzero(curve[:, 1] <= target)
        seconds = f"{curve[hit[0], 0]:.3f} s" if hit.size else "-"
        print(f"    {solver:>9}: {seconds}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
styles = {"L-BFGS-B": "-", "CG": "--", "Newton-CG": "-.", "lm": "-"}
for ax, name in zip(axes, problems, strict=True):
    for solver in solvers:
        curve = curves[name, solver]
        ax.plot(
            curve[:, 0],
            curve[:, 1],
            styles[solver],
            lw=2.5 if solver == "lm" else 1.5,
            label=solver,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("seconds since the fit began")
    ax.set_title(name)
axes[0].set_ylabel("training cost J")
axes[0].legend()
plt.show()

# %%
# What the picture shows
# ----------------------
# On the sine, "lm" is ahead from its first steps: about a dozen of them take
# the cost to L-BFGS-B's final value in a fraction of L-BFGS-B's time (the
# printed times above), and it goes on to a lower cost than the one at which
# L-BFGS-B's ``tol=1e-10`` stops it: near a minimum its Gauss-Newton steps
# converge fast where the gradient methods crawl.
#
# On Friedman's function the picture has two phases. For the first tens of
# milliseconds L-BFGS-B is ahead: its iterations cost a fraction of a
# millisecond, while each "lm" step forms the Jacobian of the residuals
# (1000 × 121 here) and has MINPACK factorise it. Then "lm" overtakes,
# reaches L-BFGS-B's final cost in about half of L-BFGS-B's time and ends
# lower again. CG stops at its iteration limit above that cost; Newton-CG,
# with exact Hessian-vector products, takes few iterations but pays for each
# with an inner conjugate-gradient loop.
#
# The advantage is for small networks: each "lm" step costs time proportional
# to n_samples × n_weights² and memory for the whole Jacobian, so beyond a few
# hundred weights the gradient methods (or ``solver="trf"``, which only uses
# products with the Jacobian) are the better choice. ``benchmarks/bench_lm.py``
# measures the time to L-BFGS-B's cost over five starting points.
