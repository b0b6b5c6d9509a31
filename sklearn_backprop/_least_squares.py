"""Driving scipy.optimize.least_squares on the regressor's residuals, J = ½‖r‖².

:func:`least_squares_network` runs "lm" (MINPACK's ``lmder``) or "trf"
(trust-region reflective, ``tr_solver="lsmr"``) on r(θ) of
:meth:`Objective.residuals <sklearn_backprop._objective.Objective.residuals>`
and reports every accepted iterate to the fit's monitor.

For "lm" the solver sees r and its Jacobian in a rotated basis in which only
n+1 of their m rows are not zero (:class:`_TriangularResiduals`): the same
steps, at a fraction of the cost of MINPACK's own QR of the full Jacobian.
"""

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import lapack
from scipy.optimize import OptimizeResult, least_squares

from sklearn_backprop._objective import Objective


class _TriangularResiduals:
    """r(θ) and ∂r/∂θ as MINPACK gets them: n+1 rows instead of m.

    MINPACK QR-factorises the m × n Jacobian at every iterate with its own
    unblocked Householder loop: about 20 ms per step for 2150 × 152 here, 90 %
    of an "lm" fit. Its step, trust region and stopping tests use r and ∂r
    only through ‖r‖, ‖∂r p + r‖ and the column norms of ∂r, all unchanged by
    an orthogonal change of basis of the residual space. In the basis of
    LAPACK's (blocked) QR of the m × (n+1) matrix with r first,

        [r | ∂r] = Q [[‖r‖, gᵀ], [0, R]],  (the sign fixed so ‖r‖ ≥ 0)

    the solver is given r̃ = ‖r‖ e₁ and ∂r̃ = [[gᵀ], [R]] ((n+1) × n), for which
    ‖∂r̃ p + r̃‖ = ‖∂r p + r‖ for every step p: MINPACK takes the steps of the
    full problem (up to rounding) while factorising a small matrix. r̃ at a
    point needs only ‖r‖ (trial points cost one forward pass), and the
    factorisation runs only where the solver asks for the Jacobian: at
    accepted points. T = [[‖r‖, gᵀ], [0, R]] is the Cholesky factor of the
    Gram matrix [r | ∂r]ᵀ[r | ∂r] (BLAS-3, from ∂r's data rows: the m × n
    matrix is never copied) when that is well enough conditioned, else R of
    LAPACK's Householder QR.
    """

    def __init__(self, objective: Objective, n_rows: int):
        self.objective = objective
        self.n_rows = n_rows
        self.last: tuple[NDArray, NDArray] | None = None  # (θ, r(θ))

    def residuals(self, theta: NDArray) -> NDArray:
        r = self.objective.residuals(theta)
        self.last = (np.array(theta), r)
        small = np.zeros(self.n_rows)
        small[0] = np.linalg.norm(r)
        if not np.isfinite(small[0]):  # MINPACK rejects the step
            small[0] = np.inf
        return small

    def jacobian(self, theta: NDArray) -> NDArray:
        if self.last is None or not np.array_equal(self.last[0], theta):
            self.residuals(theta)
        r = self.last[1]
        triangle = _cholesky_factor(self.objective.residual_gram(theta, r))
        if triangle is None:
            stacked = self.objective.residual_jacobian(theta, residuals=r)
            triangle = _householder_factor(stacked)
        triangle = triangle[: self.n_rows]
        if triangle[0, 0] < 0:  # make Q's first column r / ‖r‖
            triangle[0] = -triangle[0]
        return triangle[:, 1:]


# The Cholesky factor of the Gram matrix is used when LAPACK's estimate of its
# reciprocal condition number is above this. Cholesky is backward stable: T
# factors AᵀA + E exactly with ‖E‖ ~ eps‖A‖², the accuracy with which
# trainlm's normal equations hold JᵀJ; E perturbs the trial step by about
# eps·cond(A)² < 2e-2 relative in A's weakest direction, and MINPACK accepts
# a step on the true ‖r‖. Worse conditioned: Householder QR. For A of
# 2150 × 153, one thread: 1.5 ms, against 6.5 ms for LAPACK's QR and 20 ms
# for MINPACK's own; [r | ∂r] of bench_lm.py's 2-30-2 network has cond ≈ 1e6.
GRAM_MIN_RCOND = 1e-7


def _cholesky_factor(gram: NDArray) -> NDArray | None:
    """Upper triangular T with TᵀT = ``gram`` (= AᵀA), or None if A is too
    ill-conditioned for it (or rank deficient)."""
    T, info = lapack.dpotrf(gram, lower=0, clean=1)
    if info != 0:
        return None
    rcond, _ = lapack.dtrcon(T, norm="1", uplo="U", diag="N")
    return T if rcond > GRAM_MIN_RCOND else None


def _householder_factor(A: NDArray) -> NDArray:
    """R of A = QR (LAPACK's ``dgeqrf``): min(m, n) rows, TᵀT = AᵀA."""
    qr, _, _, info = lapack.dgeqrf(np.asfortranarray(A), overwrite_a=True)
    if info != 0:  # pragma: no cover - LAPACK's argument checks
        raise RuntimeError(f"LAPACK dgeqrf failed with info={info}")
    return np.triu(qr[: min(A.shape)])


def least_squares_network(
    objective: Objective, theta0: NDArray, monitor, method: str, options: dict
) -> OptimizeResult:
    """scipy.optimize.least_squares on the residuals r, J = ½‖r‖².

    least_squares has no per-iteration hook for "lm" (MINPACK), but both
    methods evaluate the Jacobian once at the start and then once at each
    accepted iterate: the monitor runs there, on J = ½‖r‖² and its gradient
    ∂rᵀ r computed from what the solver already has. The last accepted step
    may end the run before its Jacobian is asked for; it is monitored after.

    Parameters
    ----------
    objective : Objective
        A squared-error objective: its residuals and their Jacobian.
    theta0 : ndarray of shape (n_params,)
        Starting point, float64.
    monitor : callable
        The fit's per-iteration monitor, called with each accepted θ.
    method : {"lm", "trf"}
        least_squares's method.
    options : dict
        Its keyword arguments (``ftol``, ``xtol``, ``gtol``, ``max_nfev``, ...).

    Returns
    -------
    result : OptimizeResult
        ``x``, ``fun`` (J), ``jac`` (its gradient), ``nit`` (accepted steps),
        ``nfev``, ``success``, ``status`` and ``message``.
    """
    if method == "lm":
        small = _TriangularResiduals(
            objective, min(theta0.size + 1, objective.n_residuals)
        )
        fun, jacobian_at = small.residuals, small.jacobian
        extra = {}
    else:
        fun, jacobian_at = objective.residuals, objective.residual_operator
        extra = {"tr_solver": "lsmr"}
    last = {"x": None, "r": None, "calls": 0}

    def residuals(theta):
        r = fun(theta)
        last["x"], last["r"] = np.array(theta), r
        return r

    def jac(theta):
        jacobian = jacobian_at(theta)
        if last["calls"]:  # an accepted iterate
            observe(theta, jacobian)
        last["calls"] += 1
        return jacobian

    def observe(theta, jacobian):
        r = last["r"] if np.array_equal(last["x"], theta) else residuals(theta)
        grad = jacobian.T @ r if method == "lm" else jacobian.rmatvec(r)
        objective.last = (np.array(theta, dtype=np.float64), 0.5 * float(r @ r), grad)
        monitor(theta)

    try:
        result = least_squares(
            residuals, theta0, jac=jac, method=method, **{**extra, **options}
        )
    except TypeError as exc:  # an option least_squares does not take
        raise ValueError(
            f"solver_options were rejected by solver={method!r}: {exc}"
        ) from None
    if not np.array_equal(result.x, monitor.x):  # the last accepted step
        observe(result.x, jacobian_at(result.x))
    J, grad = objective.at(result.x)
    return OptimizeResult(
        x=result.x,
        fun=J,
        jac=grad,
        nit=len(monitor.losses),
        nfev=result.nfev,
        success=result.status > 0,
        status=result.status,
        message=result.message,
    )
