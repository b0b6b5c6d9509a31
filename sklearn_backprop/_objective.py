"""The objective a solver minimises: J(θ), ∇J and H·v over a row-block source.

J = (1/W) Σ_i w_i loss_i + (α/(2W)) Σ_{non-bias} θ² and its gradient, the
notes' D term, are ``regularize(Σ over row blocks of cost_grad_sum)``. Where
the row blocks live is the source's business: in-memory chunks
(:class:`~sklearn_backprop._blocks.InMemoryBlocks`) or a Dask cluster's
blocks (``sklearn_backprop._dask``, imported only for dask input). Every
source provides ``cost_grad_sum(theta)``, ``hessp_sum(theta, v, curvature)``
and ``fit_context()``; :class:`Objective` adds the penalty, the 1/W scaling
and the last-value cache the solver's monitor reads.
"""

from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from scipy.sparse.linalg import LinearOperator

from sklearn_backprop._spec import NetworkSpec


class RowBlockSource(Protocol):
    """Where the rows live and how their sums are reduced."""

    spec: NetworkSpec

    def cost_grad_sum(
        self, theta: NDArray, out: NDArray | None = None
    ) -> tuple[float, NDArray, float]: ...

    def hessp_sum(
        self, theta: NDArray, v: NDArray, curvature: str
    ) -> tuple[NDArray, float]: ...

    def fit_context(self): ...


def regularize(
    spec: NetworkSpec,
    theta: NDArray,
    J_sum: float,
    grad_sum: NDArray,
    W: float,
    alpha: float,
) -> tuple[float, NDArray]:
    """J = J_sum / W + (α/(2W)) Σ θ² and D = Δ / W + (α/W) θ off the biases.

    ``grad_sum`` is overwritten with D, the notes' D term.
    """
    if not W > 0:
        raise ValueError("the data need at least one sample with positive weight.")
    grad_sum /= W
    J = J_sum / W
    if alpha:
        weights = theta * spec.weight_mask  # θ with the bias entries zeroed
        # einsum, not BLAS's dot: see Loss.update.
        J += 0.5 * alpha / W * float(np.einsum("i,i->", weights, theta))
        weights *= alpha / W
        grad_sum += weights
    return float(J), grad_sum


class Objective:
    """J(θ), its gradient and H·v for :func:`scipy.optimize.minimize`.

    A pure function of θ and the source's data: nothing on the estimator is
    touched. The last evaluation is remembered so that the per-iteration
    monitor reads the loss and gradient norm without evaluating again.

    Parameters
    ----------
    source : RowBlockSource
        The row blocks and their reduction.
    alpha : float
        L2 penalty λ.
    curvature : {"exact", "gauss-newton"}
        What :meth:`hessp` multiplies by.
    """

    def __init__(self, source: RowBlockSource, alpha: float, curvature: str):
        self.source, self.spec = source, source.spec
        self.alpha, self.curvature = alpha, curvature
        self.last: tuple[NDArray, float, NDArray] | None = None
        self.n_evaluations = self.n_hessp = 0
        self._grad = np.empty(self.spec.n_params, self.spec.dtype)

    def __call__(self, theta: NDArray) -> tuple[float, NDArray]:
        if self.last is not None and np.array_equal(self.last[0], theta):
            return self.last[1], self.last[2].copy()  # asked again at the last θ
        # A line-search trial step can leave the dtype's range (float32 data
        # with huge features): J is then +inf, which every solver rejects by
        # shortening the step, and no warning is raised for it.
        theta_c = np.asarray(theta, dtype=self.spec.dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            J_sum, grad, W = self.source.cost_grad_sum(theta_c, self._grad)
            J, grad = regularize(self.spec, theta_c, J_sum, grad, W, self.alpha)
        if not np.isfinite(J):
            J = np.inf
        # scipy keeps earlier gradients (BFGS, CG compare them), so it gets a
        # float64 array of its own, never a reused buffer.
        grad = grad.astype(np.float64)
        self.last = (np.array(theta, dtype=np.float64), J, grad)
        self.n_evaluations += 1
        return J, grad

    def hessp(self, theta: NDArray, v: NDArray) -> NDArray:
        dtype = self.spec.dtype
        v = np.ascontiguousarray(v, dtype=dtype)
        Hv, W = self.source.hessp_sum(
            np.ascontiguousarray(theta, dtype=dtype), v, self.curvature
        )
        self.n_hessp += 1
        # R{D} = (1/W) R{Δ} + (α/W) V off the bias column: the R-operator is
        # linear, so it is regularize's gradient part applied to (R{Δ}, V).
        return regularize(self.spec, v, 0.0, Hv, W, self.alpha)[1].astype(np.float64)

    def at(self, theta: NDArray) -> tuple[float, NDArray]:
        """(J, grad) at ``theta``, reusing the last evaluation when it matches."""
        if self.last is None or not np.array_equal(self.last[0], theta):
            self(theta)
        return self.last[1], self.last[2]

    # ----------------------------------------------------------------------
    # The least-squares form J = ½‖r‖² of a squared-error cost, with
    # r = [√(w_i/W) (ŷ_ik - y_ik)]_{i,k} ++ [√(α/W) θ_j]_{non-bias j}.

    @property
    def n_residuals(self) -> int:
        """Length of r: n_samples·K + n_non_bias."""
        return self.source.Y.size + int(np.count_nonzero(self.spec.weight_mask))

    def _penalty(self) -> tuple[NDArray, float]:
        """Indices of the non-bias weights in θ, and √(α/W)."""
        index = np.flatnonzero(self.spec.weight_mask)
        return index, float(np.sqrt(self.alpha / self.source.W))

    def residuals(self, theta: NDArray) -> NDArray:
        """r(θ), float64, of length n_samples·K + n_non_bias."""
        theta_c = np.asarray(theta, dtype=self.spec.dtype)
        index, root_alpha = self._penalty()
        with np.errstate(over="ignore", invalid="ignore"):
            data = self.source.residual_rows(theta_c).ravel()
        r = np.empty(data.size + index.size)
        np.divide(data, np.sqrt(self.source.W), out=r[: data.size])
        np.multiply(
            np.asarray(theta, np.float64)[index], root_alpha, out=r[data.size :]
        )
        return r

    def residual_jacobian(self, theta: NDArray, residuals=None) -> NDArray:
        """∂r/∂θ as a dense float64 matrix (n_samples·K + n_non_bias, n_params).

        Given ``residuals`` (r(θ)), [r | ∂r/∂θ] in Fortran order: r as a first
        column, ready for LAPACK's QR.
        """
        theta_c = np.asarray(theta, dtype=self.spec.dtype)
        index, root_alpha = self._penalty()
        data = self.source.jacobian_rows(theta_c)
        first = int(residuals is not None)
        jac = np.zeros(
            (data.shape[0] + index.size, first + self.spec.n_params),
            order="C" if residuals is None else "F",
        )
        np.divide(data, np.sqrt(self.source.W), out=jac[: data.shape[0], first:])
        jac[data.shape[0] + np.arange(index.size), first + index] = root_alpha
        if residuals is not None:
            jac[:, 0] = residuals
        return jac

    def residual_gram(self, theta: NDArray, residuals: NDArray) -> NDArray:
        """[r | ∂r/∂θ]ᵀ [r | ∂r/∂θ], (n_params + 1)², given r = ``residuals``.

        From the data rows of ∂r alone: the penalty rows √(α/W) e_j add α/W
        to the non-bias diagonal and √(α/W) r_j to ∂rᵀ r.
        """
        theta_c = np.asarray(theta, dtype=self.spec.dtype)
        index, root_alpha = self._penalty()
        # ∂r's data rows are these over √W: the scaling goes on the products
        data = self.source.jacobian_rows(theta_c).astype(np.float64, copy=False)
        n_data, W = data.shape[0], self.source.W
        gram = np.empty((self.spec.n_params + 1,) * 2)
        np.matmul(data.T, data, out=gram[1:, 1:])
        gram[1:, 1:] /= W
        gram[1 + index, 1 + index] += root_alpha**2
        gram[1:, 0] = data.T @ residuals[:n_data]
        gram[1:, 0] /= np.sqrt(W)
        gram[1 + index, 0] += root_alpha * residuals[n_data:]
        gram[0, 1:] = gram[1:, 0]
        gram[0, 0] = residuals @ residuals
        return gram

    def residual_operator(self, theta: NDArray) -> LinearOperator:
        """∂r/∂θ as a LinearOperator on J·v and Jᵀ·u: never formed."""
        theta_c = np.asarray(theta, dtype=self.spec.dtype)
        index, root_alpha = self._penalty()
        root_W, dtype = np.sqrt(self.source.W), self.spec.dtype
        n_data = self.source.Y.size
        shape = self.source.Y.shape

        def matvec(v):
            v = np.ravel(v)
            out = np.empty(n_data + index.size)
            Jv = self.source.jvp_rows(theta_c, v.astype(dtype))
            np.divide(Jv.ravel(), root_W, out=out[:n_data])
            np.multiply(v[index], root_alpha, out=out[n_data:])
            return out

        def rmatvec(u):
            u = np.ravel(u)
            U = u[:n_data].reshape(shape).astype(dtype)
            out = self.source.vjp_rows(theta_c, U).astype(np.float64)
            out /= root_W
            out[index] += root_alpha * u[n_data:]
            return out

        return LinearOperator(
            (n_data + index.size, self.spec.n_params),
            matvec=matvec,
            rmatvec=rmatvec,
            dtype=np.float64,
        )
