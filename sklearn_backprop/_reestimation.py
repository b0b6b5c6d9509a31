"""``alpha="evidence"``: the weights' fit alternating with MacKay's re-estimation.

Each round minimises J at the current α (warm-started from the last
weights), evaluates γ and the log evidence there (:mod:`._evidence`) and
re-estimates α_B ← γ / (2 E_W) and β ← (N - γ) / (2 E_D) (MacKay 1992;
Foresee & Hagan 1997), i.e. α ← α_B / β, until α changes by less than
:data:`ALPHA_RTOL` relative. The first round starts from the small
:data:`START_ALPHA` (``trainbr`` starts from α_B = 0): a large start can land
in a worse optimum. The inner fits are tightened as α settles, so that α
does not jitter on a flat evidence.

For a float ``alpha`` the same quantities are computed at the fitted weights
on first access (:func:`fitted_evidence`): the fit keeps its training data's
row source for that in :data:`_KEPT`, a weak mapping outside the estimator,
so that pickles, clones and ``skops`` files never hold it.
"""

import warnings
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_backprop._blocks import InMemoryBlocks
from sklearn_backprop._evidence import (
    DENSE_MAX_PARAMS,
    DenseFactor,
    Evidence,
    IndefiniteCurvature,
    data_terms,
    dense_factor,
    evidence,
    gauss_newton_matrix,
    hessian_matrix,
    matrix_free_estimates,
    rademacher_probes,
    slq_probes,
)
from sklearn_backprop._threads import single_threaded_blas

# Re-estimation stops when α changes by less than this, relative.
ALPHA_RTOL = 1e-3
# Re-estimations before a ConvergenceWarning.
MAX_REESTIMATIONS = 100
# α of the first inner fit.
START_ALPHA = 1e-4
# Iterations of the first inner fit; each later one may run twice as many as
# the one before, up to max_iter.
START_ITER = 10
# α is kept within these bounds (a weight vector of zeros would send it to ∞).
ALPHA_BOUNDS = (1e-12, 1e12)


@dataclass
class EvidenceSettings:
    """How the evidence of one fit is computed.

    Attributes
    ----------
    method : {"dense", "matrix-free"}
        Whether A is formed and factorised.
    curvature : {"gauss-newton", "exact"}
        H_D's form; the exact Hessian falls back to Gauss-Newton where it
        makes A indefinite.
    regression : bool
        β is estimated (regressor) or 1 (classifier).
    random_state : RandomState
        Draws the Rademacher probes of the matrix-free estimates, once a fit
        (the same probes at every re-estimation) and only when needed.
    """

    method: str
    curvature: str
    regression: bool
    random_state: Any = None
    _probes: Any = field(default=None, repr=False)

    def probes(self, n_rows: int, n_params: int) -> np.ndarray:
        if self._probes is None:
            count = slq_probes(n_rows, n_params)
            self._probes = rademacher_probes(n_params, count, self.random_state)
        return self._probes


def choose_method(evidence_method: str, n_params: int) -> str:
    """ "dense" or "matrix-free" for ``evidence_method`` ("auto" by size).

    Examples
    --------
    >>> choose_method("auto", 500), choose_method("auto", 11110)
    ('dense', 'matrix-free')
    """
    if evidence_method == "auto":
        return "dense" if n_params <= DENSE_MAX_PARAMS else "matrix-free"
    return evidence_method


def make_settings(
    evidence_method: str, curvature: str, regression: bool, spec, random_state
) -> EvidenceSettings:
    """The settings of a fit: the method by size, Gauss-Newton unless "exact"."""
    method = choose_method(evidence_method, spec.n_params)
    curvature = "exact" if curvature == "exact" else "gauss-newton"
    return EvidenceSettings(method, curvature, regression, random_state)


def evaluate(
    source, theta: np.ndarray, alpha: float, settings: EvidenceSettings
) -> tuple[Evidence, DenseFactor | None]:
    """The evidence at the fitted θ and α, and the dense factor if formed."""
    spec = source.spec
    mask = np.asarray(spec.weight_mask, dtype=np.float64)
    with source.fit_context(), single_threaded_blas():
        E_D, E_W, W = data_terms(source, theta)
        curvature = settings.curvature
        factor = None
        if settings.method == "dense":
            if curvature == "exact":
                try:
                    H = hessian_matrix(source, theta)
                    factor = dense_factor(H, alpha, mask, exact=True)
                except IndefiniteCurvature:
                    curvature = "gauss-newton"
            if factor is None:
                H = gauss_newton_matrix(source, theta)
                factor = dense_factor(H, alpha, mask)
            logdet, rank, trace_w = factor.logdet, factor.rank, factor.trace_w
        else:
            logdet, rank, trace_w = _matrix_free(
                source, theta, alpha, settings, mask, W
            )
    ev = evidence(
        alpha=alpha,
        E_D=E_D,
        E_W=E_W,
        N=spec.layer_sizes[-1] * W,
        N_W=float(mask.sum()),
        logdet=logdet,
        rank=rank,
        trace_w=trace_w,
        regression=settings.regression,
        gamma=None if factor is None else factor.gamma,
    )
    return ev, factor


def _matrix_free(source, theta, alpha, settings, mask, W):
    """(ln det A₁, rank, tr_W(A₁⁻¹)) from H·v products over the row blocks."""
    spec = source.spec
    theta_c = np.ascontiguousarray(theta, dtype=spec.dtype)

    def hessp(curvature):
        def product(v):
            Hv = source.hessp_sum(theta_c, v.astype(spec.dtype), curvature)[0]
            return Hv.astype(np.float64)

        return product

    curvature = settings.curvature
    n_w = int(mask.sum())
    probes = settings.probes(int(round(W)), n_w)
    estimates = matrix_free_estimates(
        hessp(curvature), mask, alpha, probes, exact=curvature == "exact"
    )
    if estimates is None:  # the exact Hessian was indefinite: Gauss-Newton
        estimates = matrix_free_estimates(hessp("gauss-newton"), mask, alpha, probes)
    return estimates


@dataclass
class EvidenceFit:
    """What the re-estimation loop leaves: the last inner result and the curve."""

    result: Any
    evidence: Evidence
    factor: DenseFactor | None
    curve: list = field(default_factory=list)
    n_iter: int = 0


def reestimate(
    objective,
    theta0: np.ndarray,
    run_inner,
    settings: EvidenceSettings,
    *,
    tol: float,
    max_iter: int,
    alpha0: float | None = None,
    stopped=lambda: False,
    iterations=None,
    verbose: bool = False,
) -> EvidenceFit:
    """Alternate the weights' fit and the re-estimation of α until α settles.

    Parameters
    ----------
    objective : Objective
        J; its ``alpha`` is set before each inner fit.
    theta0 : ndarray
        The first inner fit's start.
    run_inner : callable
        ``run_inner(theta, tol, max_iter) -> OptimizeResult``: one inner
        fit, of at most ``max_iter`` iterations (capped by the estimator's).
    settings : EvidenceSettings
        How the evidence is computed.
    tol : float
        The estimator's ``tol``: the first inner fit's, then ``tol`` times α's
        last relative change (at most 1, at least :data:`ALPHA_RTOL`).
    max_iter : int
        The estimator's ``max_iter``: the inner fits' iterations start at
        :data:`START_ITER` and double each round up to it. α has settled
        only once an inner fit converged (or ran ``max_iter`` iterations).
    alpha0 : float, default=None
        The first α; None uses :data:`START_ALPHA`.
    stopped : callable
        True once the user's callback asked to stop: no further round.
    iterations : callable, default=None
        The iterations of all inner fits so far (the monitor's count, which a
        stopped fit's result reports too); None sums the results' ``nit``.
    verbose : bool
        Print one line per re-estimation.
    """
    source = objective.source
    alpha = START_ALPHA if alpha0 is None else float(alpha0)
    theta = np.asarray(theta0, dtype=np.float64)
    curve, n_iter, inner_tol = [], 0, tol
    inner_iter = min(START_ITER, max_iter)
    converged, last_step = False, 0.0
    for round_ in range(1, MAX_REESTIMATIONS + 1):
        objective.alpha, objective.last = alpha, None  # J changed with α
        result = run_inner(theta, inner_tol, inner_iter)
        theta = np.asarray(result.x, dtype=np.float64)
        n_iter += int(result.nit)
        ev, factor = evaluate(source, theta, alpha, settings)
        curve.append((ev.alpha, ev.gamma, ev.log_evidence))
        new_alpha = float(np.clip(ev.reestimated_alpha(), *ALPHA_BOUNDS))
        change = abs(new_alpha - alpha) / alpha
        if verbose:
            print(
                f"Re-estimation {round_:3d}: alpha = {alpha:.6g}, gamma = "
                f"{ev.gamma:.4f}, beta = {ev.beta:.6g}, log evidence = "
                f"{ev.log_evidence:.6f}, next alpha = {new_alpha:.6g}"
            )
        settled = change < ALPHA_RTOL and (result.success or inner_iter >= max_iter)
        if settled or result.status == -1 or stopped():
            converged = settled
            break
        step = np.log(new_alpha / alpha)
        if step * last_step < 0:
            # α overshot (the update's slope is below -1 where γ changes fast
            # with α): the geometric mean of the two, which keeps the fixed
            # point and damps the oscillation.
            new_alpha = float(np.sqrt(alpha * new_alpha))
            step = np.log(new_alpha / alpha)
        # α to 4 significant digits (it settles to 3): estimates that agree
        # to 1e-5, dense and matrix-free ones, then run the same inner fits.
        alpha, last_step = float(f"{new_alpha:.4g}"), step
        # Tighter inner fits as α settles: tol at a 100% change and above,
        # tol·change below, down to tol·ALPHA_RTOL.
        inner_tol = tol * float(np.clip(change, ALPHA_RTOL, 1.0))
        inner_iter = min(2 * inner_iter, max_iter)
    if not converged and result.status != -1 and not stopped():
        warnings.warn(
            f"alpha='evidence' stopped after {MAX_REESTIMATIONS} re-estimations "
            f"without alpha settling: its last relative change was {change:.3g} "
            f"(> {ALPHA_RTOL}). The model is fitted at alpha_={alpha:.6g}.",
            ConvergenceWarning,
            stacklevel=5,
        )
    if iterations is not None:
        n_iter = iterations()
    return EvidenceFit(result, ev, factor, curve, n_iter)


# --------------------------------------------------------------------------
# Lazy evidence of a fit with a float alpha

_KEPT: "weakref.WeakKeyDictionary[Any, tuple]" = weakref.WeakKeyDictionary()


def keep_source(estimator, source, settings: EvidenceSettings) -> None:
    """Remember the fit's in-memory row source for :func:`fitted_evidence`."""
    if not isinstance(source, InMemoryBlocks):  # a dask cluster's: not kept
        _KEPT.pop(estimator, None)
        return
    _KEPT[estimator] = (source, settings)


def forget_source(estimator) -> None:
    """Drop what :func:`keep_source` kept (a new fit)."""
    _KEPT.pop(estimator, None)


def fitted_evidence(estimator, theta: np.ndarray, alpha: float):
    """(Evidence, DenseFactor or None) at a float-alpha fit's weights, or None
    when this process does not hold the fit's training data."""
    kept = _KEPT.get(estimator)
    if kept is None:
        return None
    source, settings = kept
    return evaluate(source, theta, alpha, settings)
