"""MacKay's evidence at a fitted θ: γ, ln det A and the log evidence.

The model (MacKay 1992, "A practical Bayesian framework for backpropagation
networks"; the Gauss-Newton form is Foresee & Hagan 1997, MATLAB's
``trainbr``): the non-bias weights have a Gaussian prior of precision α_B,
the biases a flat prior; the regressor's outputs Gaussian noise of
precision β (the classifier's likelihood is the cross-entropy, β = 1). With
E_D = Σ_i w_i loss_i and E_W = ½ Σ_{non-bias} θ², the posterior mode
minimises β E_D + α_B E_W, the cost J with α = α_B / β.

At the mode, A = β H_D + α_B I_W (H_D the Hessian of E_D, Gauss-Newton or
exact; I_W the identity on the non-bias coordinates). Everything here works
on A₁ = A / β = H_D + α I_W, which depends on α alone:

* γ = N_W - α_B tr_W(A⁻¹) = N_W - α tr_W(A₁⁻¹), clipped to [0, N_W];
* ln det A = r ln β + ln det A₁ (r the rank of A, P but for null directions);
* log evidence = -β E_D - α_B E_W - ½ ln det A + (N_W/2) ln α_B
  + (N/2) ln β - (N/2) ln 2π (regressor, N = K·W), and -E_D - α_B E_W
  - ½ ln det A + (N_W/2) ln α_B (classifier).

A₁ is either formed and factorised (:func:`dense_factor`) or only multiplied
by (:func:`matrix_free_estimates`, stochastic Lanczos quadrature on H·v
products). Both take the biases' block out first (:func:`bias_block`): the
biases have no prior, so a bias that no datum determines is a null direction
of A. With softmax outputs, shifting all output biases together changes no
probability: that direction u is an exact null vector of A, and so is the
bias of a hidden unit whose outgoing weights vanish under a large α. Such
directions are dropped: ln det A is the pseudo-determinant (over their
complement), A⁻¹ the pseudo-inverse; they carry no non-bias weight, so γ is
unchanged. The Schur complement on the non-bias weights that remains has
all its eigenvalues ≥ α: well conditioned.
"""

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from sklearn_backprop import _jacobian
from sklearn_backprop._kernel import forward
from sklearn_backprop._losses import LOSSES, OUTPUT_ACTIVATIONS
from sklearn_backprop._spec import NetworkSpec
from sklearn_backprop._threads import single_threaded_blas

# evidence_method="auto" forms and factorises A up to this many parameters
# (an n_params² matrix, 32 MiB at 2000, and n_params³/3 flops a Cholesky);
# beyond it γ and ln det A come from matrix-free estimates.
DENSE_MAX_PARAMS = 2000
# Bytes of Jacobian rows (and their curvature products) a Gauss-Newton chunk
# holds at once.
JACOBIAN_CHUNK_BYTES = 32 * 2**20
# Stochastic Lanczos quadrature: Lanczos steps per probe, and Rademacher
# probes: SLQ_PROBES, fewer on large problems (see slq_probes).
SLQ_STEPS = 30
SLQ_PROBES = 64
SLQ_MIN_PROBES = 4
SLQ_BUDGET = 2e10


class IndefiniteCurvature(ValueError):
    """The exact Hessian makes A indefinite: the caller falls back to Gauss-Newton."""


# --------------------------------------------------------------------------
# The data term's curvature H_D as a dense matrix


def _logit_spec(spec: NetworkSpec) -> NetworkSpec:
    """The same network with identity outputs: its Jacobian is ∂z^(L)/∂θ."""
    return NetworkSpec(
        spec.layer_sizes,
        spec.activation,
        LOSSES["identity", "squared_error"],
        spec.dtype,
        spec.offsets,
    )


def _root_curvature(spec: NetworkSpec, Z: NDArray, Y: NDArray, Jz: NDArray):
    """Q_iᵀ ∂z_i/∂θ with Q_i Q_iᵀ = Λ_i, the loss's curvature in z^(L).

    Λ_i in the output units' own variables (the Gauss-Newton matrix,
    Schraudolph 2002): I for identity units with the squared error;
    diag(p(1 - p)) for logistic units with the log loss, diag(σ'(z)²) with
    the squared error; s (diag(p) - p pᵀ) for softmax units (s = Σ_k y_k,
    1 for one-hot rows), whose root is Q = √s (diag(√p) - p √pᵀ).
    ``Jz`` is (m, K, P); it is overwritten.
    """
    output, loss = spec.loss.output, spec.loss.name
    if output == "identity":
        return Jz
    p = Z.copy()
    OUTPUT_ACTIVATIONS[output](p)  # the network's own a^(L) = f(z^(L))
    if output == "logistic":
        root = p * (1 - p)  # σ'(z)
        if loss == "log_loss":
            root = np.sqrt(root)
        Jz *= root[:, :, None]
        return Jz
    # softmax: Qᵀ J = √s (√p ⊙ J - √p (pᵀ J))
    mean = np.einsum("mk,mkp->mp", p, Jz)
    Jz -= mean[:, None, :]
    Jz *= (np.sqrt(p) * np.sqrt(Y.sum(axis=1, keepdims=True)))[:, :, None]
    return Jz


def gauss_newton_rows(spec: NetworkSpec, theta: NDArray, X, Y, w) -> NDArray:
    """Σ_i w_i (∂z_i/∂θ)ᵀ Λ_i (∂z_i/∂θ) over the given rows, float64.

    Λ_i is the loss's curvature in the output pre-activations z^(L) (the
    Gauss-Newton matrix, :func:`_root_curvature`): the sum is Ĵᵀ Ĵ with
    Ĵ_i = √w_i Q_iᵀ ∂z_i/∂θ, one matrix product per chunk of rows of about
    :data:`JACOBIAN_CHUNK_BYTES`.
    """
    n, P, K = X.shape[0], spec.n_params, spec.layer_sizes[-1]
    thetas = spec.unpack(theta)
    z_spec = _logit_spec(spec)
    rows = max(1, JACOBIAN_CHUNK_BYTES // (8 * K * P))
    G = np.zeros((P, P))
    for a in range(0, n, rows):
        b = min(a + rows, n)
        Xc, m = X[a:b], b - a
        Jz = _jacobian.jacobian(thetas, Xc, z_spec).astype(np.float64, copy=False)
        Jz = Jz.reshape(m, K, P)  # rows i·K + k: ∂z_ik/∂θ
        Z = forward(thetas, Xc, spec.activation, None)[-1]
        Z = Z.astype(np.float64, copy=False)
        J_hat = _root_curvature(spec, Z, np.asarray(Y[a:b], np.float64), Jz)
        if w is not None:
            J_hat *= np.sqrt(np.asarray(w[a:b], np.float64))[:, None, None]
        J_hat = J_hat.reshape(m * K, P)
        G += J_hat.T @ J_hat
    return 0.5 * (G + G.T)


def _gauss_newton_sum(source, theta):
    """The Gauss-Newton sum over an in-memory source's rows, as a 1-tuple."""
    return (gauss_newton_rows(source.spec, theta, source.X, source.Y, source.w),)


def gauss_newton_matrix(source, theta: NDArray) -> NDArray:
    """The Gauss-Newton matrix of E_D at θ, summed over the source's rows
    (a Dask source sums each block where it lives and adds the P × P parts)."""
    theta = np.ascontiguousarray(theta, dtype=source.spec.dtype)
    return source.row_sum(_gauss_newton_sum, theta)[0]


def hessian_matrix(source, theta: NDArray) -> NDArray:
    """The exact Hessian of E_D at θ, one H·e_j product per column."""
    spec = source.spec
    theta = np.ascontiguousarray(theta, dtype=spec.dtype)
    P = spec.n_params
    H = np.empty((P, P))
    e = np.zeros(P, spec.dtype)
    for j in range(P):
        e[j] = 1
        H[:, j] = source.hessp_sum(theta, e, "exact")[0]
        e[j] = 0
    return 0.5 * (H + H.T)


# --------------------------------------------------------------------------
# Dense: A₁ = H + α I_W factorised once


@dataclass(frozen=True)
class DenseFactor:
    """A₁ = H + α I_W factorised: what γ, ln det A and error bars need.

    Attributes
    ----------
    logdet : float
        ln det A₁ (the pseudo-determinant when A₁ has null directions).
    rank : int
        Directions counted in ``logdet``.
    trace_w : float
        tr_W(A₁⁺), the trace of A₁'s (pseudo-)inverse over non-bias weights.
    gamma : float
        tr_W(A₁⁺ H), which equals N_W - α tr_W(A₁⁻¹) = γ (A₁⁻¹ H = I -
        α A₁⁻¹ I_W) without its cancellation when γ ≪ N_W.
    factor : ndarray of shape (rank, n_params)
        F with A₁⁺ = Fᵀ F, so that gᵀ A⁻¹ g = ‖F g‖² / β.
    """

    logdet: float
    rank: int
    trace_w: float
    gamma: float
    factor: NDArray


def bias_block(A_BB: NDArray, A_WB: NDArray, exact: bool = False):
    """The biases' block of A₁ taken out: (R, ln pdet A_BB, rank, V, λ).

    A_BB's eigenvalues at or below numpy's ``matrix_rank`` tolerance (|B| ·
    eps · the largest) are dropped: directions that neither a datum nor the
    prior determines (softmax's shift u of all output biases, a dead unit's
    bias), along which H's whole column vanishes, so that they are
    decoupled from W. R = A_WB V Λ^{-1/2} over the kept eigenpairs, so that
    A_WB A_BB⁺ A_BW = R Rᵀ. Clearly negative eigenvalues (the exact Hessian
    away from a minimum) raise :class:`IndefiniteCurvature`.
    """
    n_b = A_BB.shape[0]
    if n_b == 0:
        return np.zeros((A_WB.shape[0], 0)), 0.0, 0, np.zeros((0, 0)), np.zeros(0)
    lam, V = scipy.linalg.eigh(0.5 * (A_BB + A_BB.T), check_finite=False)
    top = max(float(lam[-1]), 0.0)
    if exact and lam[0] < -1e-8 * top:
        raise IndefiniteCurvature(
            f"the biases' block of A has a negative eigenvalue ({lam[0]:.3g})."
        )
    keep = lam > n_b * np.finfo(np.float64).eps * top
    lam, V = lam[keep], V[:, keep]
    R = (A_WB @ V) / np.sqrt(lam)
    return R, float(np.sum(np.log(lam))), int(keep.sum()), V, lam


def dense_factor(
    H: NDArray, alpha: float, mask: NDArray, exact: bool = False
) -> DenseFactor:
    """Factorise A₁ = H + α I_W through its biases' block, on one BLAS thread.

    With B the bias and W the non-bias coordinates, A_BB is diagonalised
    (:func:`bias_block`: its null directions, softmax's u or a dead unit's
    bias, dropped: the pseudo-determinant and pseudo-inverse) and the Schur
    complement S = A_WW - A_WB A_BB⁺ A_BW, whose eigenvalues are all ≥ α,
    is Cholesky-factorised: ln pdet A₁ = ln pdet A_BB + ln det S and
    tr_W(A₁⁺) = tr(S⁻¹). With the exact Hessian (``exact``), an indefinite
    A raises :class:`IndefiniteCurvature`.

    Examples
    --------
    >>> import numpy as np
    >>> f = dense_factor(np.diag([3.0, 1.0]), 1.0, np.array([1.0, 0.0]))
    >>> round(f.logdet, 6), f.rank, round(f.trace_w, 6), round(f.gamma, 6)
    (1.386294, 2, 0.25, 0.75)
    """
    mask = np.asarray(mask, dtype=np.float64)
    W_idx, B_idx = np.flatnonzero(mask), np.flatnonzero(mask == 0)
    with single_threaded_blas():
        R, logdet_BB, rank_BB, V, lam = bias_block(
            H[np.ix_(B_idx, B_idx)], H[np.ix_(W_idx, B_idx)], exact
        )
        K = H[np.ix_(W_idx, W_idx)] - R @ R.T  # the data's part of S
        S = K + alpha * np.eye(W_idx.size)
        T, logdet_S = _root_inverse(S, exact)  # S⁺ = Tᵀ T
        logdet = logdet_BB + logdet_S
        trace_w = float(np.einsum("ij,ij->", T, T))  # tr(S⁻¹)
        # γ = N_W - α tr(S⁻¹) = tr(S⁻¹ K): no cancellation when γ ≪ N_W
        gamma = float(np.einsum("ij,ij->", T @ K, T))
        # A₁⁺ = Fᵀ F: ‖F x‖² = x_Bᵀ A_BB⁺ x_B + rᵀ S⁻¹ r, r = x_W - A_WB A_BB⁺ x_B
        bias_rows = V.T / np.sqrt(lam)[:, None]  # Λ^{-1/2} Vᵀ
        factor = np.zeros((rank_BB + T.shape[0], mask.size))
        factor[np.ix_(np.arange(rank_BB), B_idx)] = bias_rows
        weight_rows = np.arange(rank_BB, rank_BB + T.shape[0])
        factor[np.ix_(weight_rows, W_idx)] = T
        factor[np.ix_(weight_rows, B_idx)] = -T @ (R @ bias_rows)
    return DenseFactor(logdet, rank_BB + T.shape[0], trace_w, gamma, factor)


def _root_inverse(S: NDArray, exact: bool) -> tuple[NDArray, float]:
    """(T, ln pdet S) with S⁺ = Tᵀ T: T = L⁻¹ from S's Cholesky factor.

    S ⪰ α I, so the Cholesky factorisation fails only where α = 0 leaves S
    singular (a float ``alpha=0`` with fewer determined directions than
    weights), or where the exact Hessian makes it indefinite
    (:class:`IndefiniteCurvature`): S is then diagonalised and its
    eigenvalues at numpy's ``matrix_rank`` tolerance dropped.
    """
    try:
        L = scipy.linalg.cholesky(S, lower=True, check_finite=False)
        T, info = scipy.linalg.lapack.dtrtri(L, lower=1)
        if info == 0 and np.all(np.isfinite(T)):
            return T, 2.0 * float(np.sum(np.log(np.diag(L))))
    except np.linalg.LinAlgError:
        pass
    mu, U = scipy.linalg.eigh(S, check_finite=False)
    top = max(float(mu[-1]), 0.0) if mu.size else 0.0
    tol = max(S.shape[0], 1) * np.finfo(np.float64).eps * top
    if exact and mu.size and mu[0] < -1e3 * tol - 1e-8 * top:
        raise IndefiniteCurvature(f"A has a negative eigenvalue ({mu[0]:.3g}).")
    keep = mu > tol
    return U[:, keep].T / np.sqrt(mu[keep])[:, None], float(np.sum(np.log(mu[keep])))


# --------------------------------------------------------------------------
# Matrix-free: stochastic Lanczos quadrature on products with A₁


def _lanczos(matvec, q0: NDArray, steps: int):
    """Lanczos with full reorthogonalisation from q0: (Q, T's two diagonals)."""
    n = q0.size
    steps = min(steps, n)
    Q = np.zeros((steps, n))
    a = np.zeros(steps)
    b = np.zeros(max(steps - 1, 0))
    q = q0 / np.linalg.norm(q0)
    for j in range(steps):
        Q[j] = q
        r = matvec(q)
        a[j] = float(q @ r)
        r -= Q[: j + 1].T @ (Q[: j + 1] @ r)  # twice is enough (Kahan)
        r -= Q[: j + 1].T @ (Q[: j + 1] @ r)
        if j == steps - 1:
            break
        beta = float(np.linalg.norm(r))
        if beta <= 1e-12 * max(abs(a[j]), 1.0):  # invariant subspace reached
            return Q[: j + 1], a[: j + 1], b[:j]
        b[j] = beta
        q = r / beta
    return Q, a, b


def rademacher_probes(n_params: int, n_probes: int, random_state) -> NDArray:
    """±1 probe vectors, (n_probes, n_params), from ``random_state``."""
    return random_state.choice([-1.0, 1.0], size=(n_probes, n_params))


def slq_probes(n_rows: int, n_params: int) -> int:
    """Probes for the matrix-free estimates: :data:`SLQ_PROBES` where an H·v
    product is cheap, down to :data:`SLQ_MIN_PROBES` on large problems (the
    probes times the steps cost about :data:`SLQ_BUDGET` row-weights of work).

    Examples
    --------
    >>> slq_probes(1000, 500), slq_probes(20000, 11110)
    (64, 4)
    """
    budget = SLQ_BUDGET / (max(n_rows, 1) * n_params * SLQ_STEPS)
    return int(np.clip(budget, SLQ_MIN_PROBES, SLQ_PROBES))


def _quadrature(matvec, z, steps, exact):
    """(zᵀ A⁻¹ z, zᵀ ln(A) z) by Lanczos quadrature, or None if indefinite.

    ``steps`` Lanczos steps from z give T = Y Θ Yᵀ, and zᵀ f(A) z ≈ ‖z‖²
    Σ_j Y_0j² f(θ_j) (Gauss quadrature; Ubaru, Chen & Saad 2017).
    """
    _, a, b = _lanczos(matvec, z, steps)
    theta, Y = scipy.linalg.eigh_tridiagonal(a, b)
    if exact and theta[0] < -1e-8 * max(float(theta[-1]), 0.0):
        return None
    theta = np.maximum(theta, np.finfo(np.float64).tiny)
    weights = float(z @ z) * Y[0] ** 2
    return float(weights @ (1.0 / theta)), float(weights @ np.log(theta))


def matrix_free_estimates(
    hessp, mask: NDArray, alpha: float, probes: NDArray, steps=SLQ_STEPS, exact=False
):
    """(ln det A₁, rank, tr_W(A₁⁻¹)) from products H v, or None if indefinite.

    The biases have no prior, so A₁ = H + α I_W is as ill-conditioned as the
    least determined bias (a flat direction for softmax outputs, a dead
    unit's bias): Lanczos quadrature on A₁ itself converges slowly. The
    bias block is taken out exactly instead: with B the bias and W the
    non-bias coordinates, one product H e_b per bias gives A_BB and A_WB,
    and the Schur complement S = A_WW - A_WB A_BB⁺ A_BW (applied with one
    H·v product) has all its eigenvalues ≥ α. Then tr_W(A₁⁻¹) = tr(S⁻¹)
    and ln det A₁ = ln pdet A_BB + ln det S (A_BB's null directions, such
    as softmax's u, are decoupled from W: H u = 0), and tr(S⁻¹), ln det S
    come from stochastic Lanczos quadrature over ``probes`` (Rademacher
    vectors on W, Hutchinson's estimator), or from the unit vectors of W
    when there are no more of them than probes (no sampling).
    """
    P = mask.size
    W_idx, B_idx = np.flatnonzero(mask), np.flatnonzero(mask == 0)
    e = np.zeros(P)
    HB = np.empty((P, B_idx.size))
    for j, b in enumerate(B_idx):
        e[b] = 1.0
        HB[:, j] = hessp(e)
        e[b] = 0.0
    try:
        R, logdet_BB, rank_BB, _, _ = bias_block(HB[B_idx], HB[W_idx], exact)
    except IndefiniteCurvature:
        return None

    def schur(x):
        v = np.zeros(P)
        v[W_idx] = x
        out = hessp(v)[W_idx] + alpha * x
        out -= R @ (R.T @ x)
        return out

    n_w = W_idx.size
    unit = n_w <= len(probes)  # the diagonal itself, unit vector by unit vector
    zs = np.eye(n_w) if unit else probes[:, :n_w]
    traces, logdets = [], []
    for z in zs:
        q = _quadrature(schur, z, min(steps, n_w), exact)
        if q is None:
            return None
        traces.append(q[0])
        logdets.append(q[1])
    combine = np.sum if unit else np.mean
    logdet = logdet_BB + float(combine(logdets))
    return logdet, rank_BB + n_w, float(combine(traces))


# --------------------------------------------------------------------------
# The evidence from these pieces


@dataclass(frozen=True)
class Evidence:
    """The evidence quantities at one fitted θ and α (J's units).

    Attributes
    ----------
    alpha : float
        α = α_B / β, the penalty of J the weights were fitted with.
    beta : float
        Noise precision (1 for the classifier).
    gamma : float
        γ, the number of well-determined weights.
    log_evidence : float
        ln p(D | α_B, β) as the module docstring gives it.
    E_D, E_W : float
        Σ_i w_i loss_i and ½ Σ_{non-bias} θ².
    N, N_W : float
        K·W (outputs times total sample weight) and the non-bias weight count.
    """

    alpha: float
    beta: float
    gamma: float
    log_evidence: float
    E_D: float
    E_W: float
    N: float
    N_W: float

    @property
    def alpha_B(self) -> float:
        """The prior precision α_B = α β."""
        return self.alpha * self.beta

    def reestimated_alpha(self) -> float:
        """α after one MacKay update: α_B ← γ / (2 E_W), β ← (N - γ) / (2 E_D)."""
        alpha_B = self.gamma / (2.0 * max(self.E_W, np.finfo(float).tiny))
        return alpha_B / self.beta


def evidence(
    *,
    alpha: float,
    E_D: float,
    E_W: float,
    N: float,
    N_W: float,
    logdet: float,
    rank: int,
    trace_w: float,
    regression: bool,
    gamma: float | None = None,
) -> Evidence:
    """γ, β and the log evidence from ln det A₁ and tr_W(A₁⁻¹) at α.

    ``gamma``, when given, is γ computed without cancellation
    (:attr:`DenseFactor.gamma`); else γ = N_W - α tr_W(A₁⁻¹).

    Examples
    --------
    >>> ev = evidence(alpha=1.0, E_D=2.0, E_W=0.5, N=10, N_W=1, logdet=0.0,
    ...               rank=1, trace_w=0.5, regression=True)
    >>> ev.gamma, ev.beta
    (0.5, 2.375)
    """
    if gamma is None:
        gamma = N_W - alpha * trace_w
    gamma = float(np.clip(gamma, 0.0, N_W))
    tiny = np.finfo(np.float64).tiny
    if regression:
        beta = (N - gamma) / (2.0 * max(E_D, tiny))  # MacKay's β update
    else:
        beta = 1.0
    alpha_B = alpha * beta
    logdet_A = rank * np.log(beta) + logdet  # A = β A₁
    value = -beta * E_D - alpha_B * E_W - 0.5 * logdet_A
    value += 0.5 * N_W * np.log(max(alpha_B, tiny))
    if regression:
        value += 0.5 * N * np.log(beta) - 0.5 * N * np.log(2 * np.pi)
    return Evidence(
        float(alpha), float(beta), gamma, float(value), E_D, E_W, float(N), float(N_W)
    )


def data_terms(source, theta: NDArray) -> tuple[float, float, float]:
    """(E_D, E_W, W) at θ: Σ_i w_i loss_i, ½ Σ_{non-bias} θ², Σ_i w_i."""
    spec = source.spec
    theta_c = np.ascontiguousarray(theta, dtype=spec.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        E_D, _, W = source.cost_grad_sum(theta_c)
    weights = np.asarray(theta, np.float64) * spec.weight_mask
    return float(E_D), 0.5 * float(weights @ weights), float(W)


def predictive_variance(thetas, X, spec: NetworkSpec, factor: NDArray, beta: float):
    """σ²_ik = 1/β + g_ikᵀ A⁻¹ g_ik = (1 + ‖F g_ik‖²) / β, shape (n, K).

    g_ik = ∂ŷ_ik/∂θ (the outputs' Jacobian, rows in chunks of about
    :data:`JACOBIAN_CHUNK_BYTES`) and A₁⁺ = Fᵀ F (:class:`DenseFactor`).
    """
    n, K, P = X.shape[0], spec.layer_sizes[-1], spec.n_params
    rows = max(1, JACOBIAN_CHUNK_BYTES // (8 * K * (P + factor.shape[0])))
    var = np.empty((n, K))
    with single_threaded_blas():
        for a in range(0, n, rows):
            b = min(a + rows, n)
            G = _jacobian.jacobian(thetas, X[a:b], spec).astype(np.float64)
            FG = G @ factor.T  # (m·K, rank)
            var[a:b] = np.einsum("ij,ij->i", FG, FG).reshape(b - a, K)
    var += 1.0
    var /= beta
    return var
