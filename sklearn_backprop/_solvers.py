"""Driving scipy.optimize.minimize: one record per solver, the per-iteration monitor.

:data:`SOLVERS` holds one :class:`Solver` record for every method name the
estimators know: which option ``tol`` sets, how ``max_iter`` and ``max_fun``
map onto the method's own options, whether it takes Hessian-vector products
and with which curvature by default, or why it is refused.
:func:`minimize_network` hands the objective to
:func:`scipy.optimize.minimize`, watches every iteration (loss curve, verbose
output, validation score, user callback), and turns an early stop or a
KeyboardInterrupt into an ordinary result that holds the last completed
iterate.
"""

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.optimize import OptimizeResult, OptimizeWarning, minimize

from sklearn_backprop._least_squares import least_squares_network
from sklearn_backprop._objective import Objective


@dataclass(frozen=True)
class Solver:
    """What the estimators need to know about one ``solver`` name.

    Attributes
    ----------
    name : str
        The method of :func:`scipy.optimize.minimize`.
    tol_option : str
        The option ``tol`` sets: the method's own stopping tolerance.
    max_iter_option : str or None
        The option ``max_iter`` sets; None for TNC, which has no iteration
        limit of its own (only ``maxfun``, a limit on function evaluations):
        its iterations are counted by the monitor, which ends the fit after
        ``max_iter`` of them as the other solvers' own limits do.
    takes_max_fun : bool
        Whether ``max_fun`` sets the method's "maxfun" too.
    takes_hessp : bool
        Whether the method takes Hessian-vector products.
    curvature : {"exact", "gauss-newton"}
        The curvature ``curvature="auto"`` gives those products.
    dense_matrix : bool
        Whether the method keeps an n_params × n_params matrix (BFGS's
        inverse Hessian approximation), which the memory guard counts.
    least_squares : bool
        Whether the method is one of :func:`scipy.optimize.least_squares`'s,
        on the residuals r of a sum-of-squares cost J = ½‖r‖²: "lm" with the
        dense Jacobian of r (MINPACK), "trf" with J·v and Jᵀ·u only.
    refused : str or None
        Why the method is refused (a message for the user), or None.

    Examples
    --------
    >>> SOLVERS["TNC"].options(max_iter=200, max_fun=15000, tol=1e-4)
    {'gtol': 0.0001, 'maxfun': 15000}
    """

    name: str
    tol_option: str = "gtol"
    max_iter_option: str | None = "maxiter"
    takes_max_fun: bool = False
    takes_hessp: bool = False
    curvature: str = "exact"
    dense_matrix: bool = False
    least_squares: bool = False
    refused: str | None = None

    def options(self, max_iter: int, max_fun: int, tol: float) -> dict:
        """``max_iter``, ``max_fun`` and ``tol`` as the method's own options."""
        if self.least_squares:  # MINPACK refuses tolerances at or below eps
            tol = max(tol, LEAST_SQUARES_MIN_TOL)
            # x_scale=1.0: Marquardt's μI damping (trainlm's); SciPy >= 1.16
            # defaults "lm" to "jac", slower on benchmarks/bench_lm.py.
            return {
                "ftol": tol,
                "xtol": tol,
                "gtol": tol,
                "max_nfev": max_iter,
                "x_scale": 1.0,
            }
        options = {self.tol_option: tol}
        if self.tol_option == "xtol":
            # SciPy 1.11 runs no Newton-CG iteration at all when xtol is 0.
            options["xtol"] = max(tol, np.finfo(np.float64).tiny)
        if self.max_iter_option is not None:
            options[self.max_iter_option] = max_iter
        if self.takes_max_fun:
            options["maxfun"] = max_fun
        return options


_NO_GRADIENT = (
    "does not use the gradient that backpropagation computes; choose one of {}."
)
_FULL_HESSIAN = (
    "needs the full Hessian matrix, which is never formed; use 'trust-ncg' or "
    "'trust-krylov', which take exact Hessian-vector products instead."
)
# The trust-region methods handle an indefinite Hessian; scipy's Newton-CG ends
# its inner CG at the first negative curvature and still makes progress. In
# benchmarks/bench_solvers.py (digits, 5000x400->25->10) the exact Hessian
# reached MLPClassifier(lbfgs)'s loss in fewer evaluations than the
# Gauss-Newton matrix for every method, Newton-CG by the widest margin, so
# "auto" is exact for all.
_GRADIENT_SOLVERS = (
    Solver("L-BFGS-B", takes_max_fun=True),
    Solver("CG"),
    Solver("BFGS", dense_matrix=True),
    Solver("Newton-CG", tol_option="xtol", takes_hessp=True),
    Solver("TNC", max_iter_option=None, takes_max_fun=True),
    Solver("trust-ncg", takes_hessp=True),
    Solver("trust-krylov", takes_hessp=True),
    Solver("lm", max_iter_option="max_nfev", least_squares=True),
    Solver("trf", max_iter_option="max_nfev", least_squares=True),
)
# The smallest tolerance least_squares accepts for "lm": MINPACK refuses
# ftol, xtol and gtol at or below machine epsilon.
LEAST_SQUARES_MIN_TOL = 2 * float(np.finfo(np.float64).eps)
_CHOICES = sorted(solver.name for solver in _GRADIENT_SOLVERS)
SOLVERS: dict[str, Solver] = {
    solver.name: solver
    for solver in (
        *_GRADIENT_SOLVERS,
        *(
            Solver(name, refused=_NO_GRADIENT.format(_CHOICES))
            for name in ("Nelder-Mead", "Powell", "COBYLA", "COBYQA")
        ),
        *(Solver(name, refused=_FULL_HESSIAN) for name in ("dogleg", "trust-exact")),
    )
}


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
    """Raised inside the solver's callback to end the fit; holds the reason,
    and whether the fit counts as converged (early stopping, the callback) or
    not (the iteration limit the monitor enforces)."""

    def __init__(self, reason: str, converged: bool = True):
        super().__init__(reason)
        self.converged = converged


class _Monitor:
    """Per-iteration callback: loss curve, verbose line, early stopping, user hook.

    ``validation`` is None or a function θ -> validation score (higher is
    better); with it, the best-scoring iterate is kept and the fit stops after
    ``n_iter_no_change`` iterations without an improvement larger than ``tol``.
    With ``max_iter``, the fit stops, unconverged, after that many iterations
    (for solvers without an iteration limit of their own). ``tasks`` (a
    :class:`~sklearn_backprop._callbacks.FitTasks`) reports each iteration to
    scikit-learn's callbacks, once, before the user's ``callback`` sees it.
    """

    def __init__(
        self,
        objective: Objective,
        theta0: np.ndarray,
        *,
        verbose: bool,
        callback: Callable[[Progress], bool | None] | None,
        validation: Callable[[np.ndarray], float] | None,
        n_iter_no_change: float,
        tol: float,
        max_iter: int | None = None,
        tasks=None,
    ):
        self.objective, self.verbose, self.callback = objective, verbose, callback
        self.tasks = tasks
        self.validation, self.n_iter_no_change, self.tol = (
            validation,
            n_iter_no_change,
            tol,
        )
        self.max_iter = max_iter
        self.x = theta0
        self.losses: list[float] = []
        self.scores: list[float] = []
        self.best_score, self.best_x, self._no_improvement = -np.inf, None, 0
        self.start = time.perf_counter()

    def __call__(self, intermediate_result):
        # TNC passes the iterate itself; every other method an OptimizeResult.
        x = np.array(getattr(intermediate_result, "x", intermediate_result))
        J, grad = self.objective.at(x)
        previous, self.x = self.x, x
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
        # scikit-learn's callbacks (set_callbacks) see the iteration too
        stop = self.tasks is not None and self.tasks.iteration(previous, x)
        if self.callback is not None and self.callback(progress):
            raise _StopFit("stopped by the callback")
        if stop:
            raise _StopFit("stopped by a scikit-learn callback")
        if progress.validation_score is not None:
            self._track(progress.validation_score, x)
        if self.max_iter is not None and progress.iteration >= self.max_iter:
            raise _StopFit(
                f"stopped at max_iter={self.max_iter} iterations", converged=False
            )

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
    objective: Objective, theta0: np.ndarray, monitor: _Monitor, solver: Solver, options
) -> OptimizeResult:
    """Run the solver; an early stop or interrupt returns the last iterate.

    Parameters
    ----------
    objective : Objective
        J, gradient and Hessian-vector products (and, for least-squares
        solvers, the residuals and their Jacobian).
    theta0 : ndarray of shape (n_params,)
        Starting point, float64.
    monitor : _Monitor
        The per-iteration callback.
    solver : Solver
        The method's record.
    options : dict
        Its ``options``; an unknown key raises ValueError.

    Returns
    -------
    result : OptimizeResult
        The solver's result, or one built from the last completed iterate
        when the monitor stopped the fit (``success=True``; ``success=False``,
        status 1, at the iteration limit it enforces) or a KeyboardInterrupt
        ended it (``success=False``, status -1; a warning says so).
    """
    # The thread policy of the objective's source holds for the whole fit.
    with warnings.catch_warnings(), objective.source.fit_context():
        _check_start(objective, theta0)
        try:
            if solver.least_squares:
                return least_squares_network(
                    objective, theta0, monitor, solver.name, options
                )
            return _minimize(objective, theta0, monitor, solver, options)
        except _StopFit as exc:
            stopped, success = str(exc), exc.converged
            status = 0 if success else 1
        except KeyboardInterrupt:
            stopped, success, status = "interrupted by KeyboardInterrupt", False, -1
    if status == -1:
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
        nfev=objective.n_evaluations,
        success=success,
        status=status,
        message=f"Fit {stopped}.",
    )


def _check_start(objective: Objective, theta0: np.ndarray) -> None:
    """Refuse θ0 where J or its gradient is not finite.

    A solver started there returns θ0 unchanged (or fails deep inside
    scipy): say why instead. The solver's own first evaluation at θ0 reuses
    this one.
    """
    J0, grad0 = objective(theta0)
    if not (np.isfinite(J0) and np.all(np.isfinite(grad0))):
        bad = int(np.sum(~np.isfinite(grad0)))
        raise ValueError(
            f"The cost J or its gradient is not finite at the initial weights "
            f"(J = {J0}; {bad} of {grad0.size} gradient entries not finite): "
            "the input likely needs scaling. Standardise the features (for "
            "example with sklearn.preprocessing.StandardScaler) and, for a "
            "regressor, the targets (TransformedTargetRegressor), or look for "
            "extreme values."
        )


def _minimize(objective, theta0, monitor, solver, options) -> OptimizeResult:
    """scipy.optimize.minimize on J, its gradient and H·v."""
    # scipy only warns about options it does not know; refuse them.
    warnings.filterwarnings("error", "Unknown solver options", OptimizeWarning)
    try:
        return minimize(
            objective,
            theta0,
            method=solver.name,
            jac=True,
            hessp=objective.hessp if solver.takes_hessp else None,
            callback=monitor,
            options=options,
        )
    except OptimizeWarning as exc:
        raise ValueError(
            f"solver_options were rejected by solver={solver.name!r}: {exc}"
        ) from None
