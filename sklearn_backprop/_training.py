"""Driving scipy.optimize.minimize: the objective, the per-iteration monitor.

``minimize_network`` hands J, its gradient and (for the methods that take one)
the Hessian-vector product to :func:`scipy.optimize.minimize`, watches every
iteration (loss curve, verbose output, validation score, user callback), and
turns an early stop or a KeyboardInterrupt into an ordinary result that holds
the last completed iterate.
"""

import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from typing import NamedTuple

import numpy as np
from scipy.optimize import OptimizeResult, OptimizeWarning, minimize
from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

from sklearn_backprop._threads import evaluation_threads
from sklearn_backprop.network import Workspace, cost_grad, hessp, n_params

# Methods of scipy.optimize.minimize that use the gradient, with the option
# that ``tol`` sets for each: its own stopping tolerance.
TOL_OPTIONS = {
    "L-BFGS-B": "gtol",
    "CG": "gtol",
    "BFGS": "gtol",
    "Newton-CG": "xtol",
    "TNC": "gtol",
    "trust-ncg": "gtol",
    "trust-krylov": "gtol",
}
# Methods that take a Hessian-vector product, and the curvature "auto" gives
# each. The trust-region methods handle an indefinite Hessian; scipy's
# Newton-CG ends its inner CG at the first negative curvature and still makes
# progress. In benchmarks/bench_solvers.py (digits, 5000x400->25->10) the exact
# Hessian reached MLPClassifier(lbfgs)'s loss in fewer evaluations than the
# Gauss-Newton matrix for every method, Newton-CG by the widest margin (571
# against 7053 evaluation-equivalents on digits), so "auto" is exact for all.
AUTO_CURVATURE = {
    "Newton-CG": "exact",
    "trust-ncg": "exact",
    "trust-krylov": "exact",
}
# Methods refused with a message saying why.
NO_GRADIENT_SOLVERS = {"Nelder-Mead", "Powell", "COBYLA", "COBYQA"}
FULL_HESSIAN_SOLVERS = {"dogleg", "trust-exact"}


class Progress(NamedTuple):
    """What a ``callback`` receives after each solver iteration.

    Attributes
    ----------
    iteration : int
        Iterations completed, starting at 1.
    loss : float
        Training cost J at the current iterate.
    grad_norm : float
        Euclidean norm of the gradient of J there.
    validation_score : float or None
        Score on the held-out validation set when ``early_stopping=True``
        (accuracy for classifiers, R² for regressors), else None.
    elapsed : float
        Seconds since the fit started.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.preprocessing import scale
    >>> from sklearn_backprop import BackpropClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> def stop_at_five(progress):
    ...     return progress.iteration == 5
    >>> clf = BackpropClassifier(callback=stop_at_five).fit(scale(X), y)
    >>> clf.n_iter_
    5
    """

    iteration: int
    loss: float
    grad_norm: float
    validation_score: float | None
    elapsed: float


class _StopFit(Exception):
    """Raised inside the solver's callback to end the fit; holds the reason."""


class _Objective:
    """J(θ), its gradient and H·v for minimize; owns the scratch space.

    A pure function of θ and the data: nothing on the estimator is touched. The
    last evaluation is remembered so that the per-iteration monitor can read
    the loss and gradient norm without evaluating again.
    """

    def __init__(self, X, Y, layer_sizes, curvature, **cost_params):
        self.X, self.Y, self.layer_sizes = X, Y, layer_sizes
        self.curvature, self.cost_params = curvature, cost_params
        self.workspace = Workspace()
        self.n_threads = 1  # threads per evaluation; minimize_network sets it
        self.grad = np.empty(n_params(layer_sizes), X.dtype)
        self.last: tuple[np.ndarray, float, np.ndarray] | None = None

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        # A line-search trial step can leave the dtype's range (float32 data
        # with huge features): J is then +inf, which every solver rejects by
        # shortening the step, and no warning is raised for it.
        with np.errstate(over="ignore", invalid="ignore"):
            J, grad = cost_grad(
                theta,
                self.X,
                self.Y,
                self.layer_sizes,
                workspace=self.workspace,
                out=self.grad,
                n_threads=self.n_threads,
                **self.cost_params,
            )
        if not np.isfinite(J):
            J = np.inf
        # scipy keeps earlier gradients (BFGS, CG compare them), so it gets a
        # float64 copy, never the reused buffer.
        grad = grad.astype(np.float64)
        self.last = (np.array(theta, dtype=np.float64), J, grad)
        return J, grad

    def hessp(self, theta: np.ndarray, v: np.ndarray) -> np.ndarray:
        Hv = hessp(
            theta,
            v,
            self.X,
            self.Y,
            self.layer_sizes,
            curvature=self.curvature,
            workspace=self.workspace,
            **self.cost_params,
        )
        return Hv.astype(np.float64)

    def at(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """(J, grad) at ``theta``, reusing the last evaluation when it matches."""
        if self.last is None or not np.array_equal(self.last[0], theta):
            self(theta)
        return self.last[1], self.last[2]


class _Monitor:
    """Per-iteration callback: loss curve, verbose line, early stopping, user hook.

    ``validation`` is None or a function θ -> validation score (higher is
    better); with it, the best-scoring iterate is kept and the fit stops after
    ``n_iter_no_change`` iterations without an improvement larger than ``tol``.
    """

    def __init__(
        self,
        objective: _Objective,
        theta0: np.ndarray,
        *,
        verbose: bool,
        callback: Callable[[Progress], bool | None] | None,
        validation: Callable[[np.ndarray], float] | None,
        n_iter_no_change: int,
        tol: float,
    ):
        self.objective, self.verbose, self.callback = objective, verbose, callback
        self.validation, self.n_iter_no_change, self.tol = (
            validation,
            n_iter_no_change,
            tol,
        )
        self.x = theta0
        self.losses: list[float] = []
        self.scores: list[float] = []
        self.best_score, self.best_x, self._no_improvement = -np.inf, None, 0
        self.start = time.perf_counter()

    def __call__(self, intermediate_result):
        # TNC passes the iterate itself; every other method an OptimizeResult.
        x = np.array(getattr(intermediate_result, "x", intermediate_result))
        J, grad = self.objective.at(x)
        self.x = x
        self.losses.append(J)
        progress = Progress(
            iteration=len(self.losses),
            loss=J,
            grad_norm=float(np.linalg.norm(grad)),
            validation_score=None if self.validation is None else self.validation(x),
            elapsed=time.perf_counter() - self.start,
        )
        if self.verbose:
            line = (
                f"Iteration {progress.iteration:4d}, loss = {J:.8f}, "
                f"|grad| = {progress.grad_norm:.3e}, time = {progress.elapsed:.2f}s"
            )
            if progress.validation_score is not None:
                line += f", validation score = {progress.validation_score:.6f}"
            print(line)
        if self.callback is not None and self.callback(progress):
            raise _StopFit("stopped by the callback")
        if progress.validation_score is not None:
            self._track(progress.validation_score, x)

    def _track(self, score: float, x: np.ndarray) -> None:
        self.scores.append(score)
        if score > self.best_score + self.tol:
            self._no_improvement = 0
        else:
            self._no_improvement += 1
        if score > self.best_score:
            self.best_score, self.best_x = score, x
        if self._no_improvement >= self.n_iter_no_change:
            raise _StopFit(
                f"validation score did not improve by more than tol={self.tol} "
                f"for {self.n_iter_no_change} consecutive iterations"
            )


def minimize_network(
    objective: _Objective, theta0: np.ndarray, monitor: _Monitor, solver: str, options
) -> OptimizeResult:
    """Run minimize; an early stop or interrupt returns the last iterate.

    Parameters
    ----------
    objective : _Objective
        J, gradient and Hessian-vector products.
    theta0 : ndarray of shape (n_params,)
        Starting point, float64.
    monitor : _Monitor
        The per-iteration callback.
    solver : str
        Method of :func:`scipy.optimize.minimize`.
    options : dict
        Its ``options``; an unknown key raises ValueError.

    Returns
    -------
    result : OptimizeResult
        minimize's result, or one built from the last completed iterate when
        the monitor stopped the fit (``success=True``) or a KeyboardInterrupt
        ended it (``success=False``; a warning says so).
    """
    # Gradient-only solvers spread each evaluation over BLAS's threads, and
    # BLAS itself (numpy's, and scipy's inside the solver) keeps to one thread
    # for the whole fit: an idle OpenBLAS thread spins for a while after each
    # call and would take a core from the evaluation's threads. Hessian-vector
    # solvers keep BLAS's threads: H·v is evaluated in one piece.
    objective.n_threads = 1 if solver in AUTO_CURVATURE else evaluation_threads()
    single_blas = objective.n_threads > 1
    with (
        warnings.catch_warnings(),
        threadpool_limits(limits=1, user_api="blas") if single_blas else nullcontext(),
    ):
        # scipy only warns about options it does not know; refuse them.
        warnings.filterwarnings("error", "Unknown solver options", OptimizeWarning)
        try:
            return minimize(
                objective,
                theta0,
                method=solver,
                jac=True,
                hessp=objective.hessp if solver in AUTO_CURVATURE else None,
                callback=monitor,
                options=options,
            )
        except OptimizeWarning as exc:
            raise ValueError(
                f"solver_options were rejected by solver={solver!r}: {exc}"
            ) from None
        except _StopFit as exc:
            stopped, success = str(exc), True
        except KeyboardInterrupt:
            stopped, success = "interrupted by KeyboardInterrupt", False
    if not success:
        warnings.warn(
            f"Fit interrupted after {len(monitor.losses)} completed iterations; "
            "the estimator keeps the last completed iterate.",
            UserWarning,
            stacklevel=5,
        )
    J, grad = objective.at(monitor.x)
    return OptimizeResult(
        x=monitor.x,
        fun=J,
        jac=grad,
        nit=len(monitor.losses),
        success=success,
        status=0 if success else -1,
        message=f"Fit {stopped}.",
    )
