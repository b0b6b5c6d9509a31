"""Output units and losses: one record per (output activation, loss) pair.

A :class:`Loss` knows the output layer's activation (used for prediction), the
per-row loss with the notes' δ^(L) = ∂loss/∂z^(L) (for cross-entropy with
logistic or softmax units, δ^(L) = a^(L) - y), and the loss's curvature in
z^(L), which Hessian-vector products need. Losses are computed from z^(L)
directly (log-sigmoid, log-sum-exp), so log(0) is never reached. Sample
weights are folded into the targets once per row block (:meth:`Loss.targets`),
so that an evaluation returns Σ_i w_i loss_i and the weighted δ^(L) without a
separate pass.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit


def inplace_sigmoid(Z: NDArray) -> None:
    """Logistic output units, accurate to relative precision, in place.

    Parameters
    ----------
    Z : ndarray
        Pre-activations z^(L); overwritten with a^(L) = 1 / (1 + exp(-z)).

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.array([[-800.0, 0.0]])
    >>> inplace_sigmoid(Z)
    >>> Z
    array([[0. , 0.5]])
    """
    expit(Z, out=Z)


def inplace_softmax(Z: NDArray) -> None:
    """Softmax over each row, in place, shifted by the row maximum.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, K)
        Pre-activations z^(L); overwritten with the class probabilities.

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.array([[1000.0, 1000.0]])
    >>> inplace_softmax(Z)
    >>> Z
    array([[0.5, 0.5]])
    """
    Z -= Z.max(axis=1, keepdims=True)
    np.exp(Z, out=Z)
    Z /= Z.sum(axis=1, keepdims=True)


def inplace_identity(Z: NDArray) -> None:
    """Identity output units (regression): leaves ``Z`` unchanged.

    Parameters
    ----------
    Z : ndarray
        Pre-activations, which are also the outputs.

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.array([[1.5]])
    >>> inplace_identity(Z)
    >>> Z
    array([[1.5]])
    """


class Targets(NamedTuple):
    """One row block's targets, with the sample weights folded in.

    Attributes
    ----------
    Y : ndarray of shape (n_samples, K)
        The targets.
    w : ndarray of shape (n_samples,) or None
        Sample weights; None means all ones.
    WY : ndarray of shape (n_samples, K)
        w_i y_i (``Y`` itself without weights).
    ws : ndarray of shape (n_samples,) or None
        w_i s_i with s_i = Σ_k y_ik, for softmax units; else None.
    ones : ndarray of shape (K,)
        A vector of ones, for row sums as matrix products.
    """

    Y: NDArray
    w: NDArray | None
    WY: NDArray
    ws: NDArray | None
    ones: NDArray


def _weighted_sum(S: NDArray, w: NDArray | None) -> float:
    """Σ_i w_i Σ_k S_ik."""
    return float(S.sum() if w is None else (w @ S).sum())


def logistic_log_loss(Z: NDArray, T: Targets, S: NDArray, v: NDArray) -> float:
    """Cross-entropy of K logistic units, summed over units (the notes' network).

    loss = Σ_k log(1 + e^{z_k}) - y_k z_k, which equals
    -Σ_k [y_k log a_k + (1 - y_k) log(1 - a_k)] and never takes log(0);
    δ^(L) = a - y.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, K)
        Pre-activations z^(L); overwritten with the weighted δ^(L).
    T : Targets
        The block's targets and weights (:meth:`Loss.targets`).
    S : ndarray of shape (n_samples, K)
        Scratch space.
    v : ndarray of shape (n_samples,)
        Scratch space.

    Returns
    -------
    loss : float
        Σ_i w_i loss_i.

    Examples
    --------
    >>> import numpy as np
    >>> loss = LOSSES["logistic", "log_loss"]
    >>> Z = np.array([[0.0]])
    >>> J = logistic_log_loss(Z, loss.targets(np.array([[1.0]])), np.empty((1, 1)),
    ...                       np.empty(1))
    >>> round(J, 4), Z
    (0.6931, array([[-0.5]]))
    """
    np.logaddexp(0, Z, out=S)  # log(1 + e^z) = max(z, 0) + log1p(e^{-|z|})
    J = _weighted_sum(S, T.w) - float(np.vdot(T.WY, Z))
    expit(Z, out=Z)
    if T.w is not None:
        Z *= T.w[:, None]
    Z -= T.WY
    return J


def softmax_log_loss(Z: NDArray, T: Targets, S: NDArray, v: NDArray) -> float:
    """Categorical cross-entropy of softmax units, via log-sum-exp.

    loss = s · logsumexp(z) - y · z with s = Σ_k y_k (1 for one-hot rows);
    δ^(L) = s · softmax(z) - y.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, K)
        Pre-activations z^(L); overwritten with the weighted δ^(L).
    T : Targets
        The block's targets and weights (:meth:`Loss.targets`).
    S : ndarray of shape (n_samples, K)
        Scratch space (two row vectors are kept in it when K > 1).
    v : ndarray of shape (n_samples,)
        Scratch space.

    Returns
    -------
    loss : float
        Σ_i w_i loss_i.

    Examples
    --------
    >>> import numpy as np
    >>> loss = LOSSES["softmax", "log_loss"]
    >>> Z = np.array([[0.0, 0.0]])
    >>> J = softmax_log_loss(Z, loss.targets(np.array([[1.0, 0.0]])),
    ...                      np.empty((1, 2)), np.empty(1))
    >>> round(J, 4), Z
    (0.6931, array([[-0.5,  0.5]]))
    """
    n = len(v)
    # Shift each row by its maximum, so that exp neither overflows nor
    # underflows and s·log(total) - y·(z - max) loses nothing to cancellation;
    # the row maximum is taken column by column: numpy's reductions along a
    # short last axis cost several times more on an output layer's (rows,
    # classes). In float64, when all of z lies within _NEAR of 0 or of its
    # overall maximum, no shift or one scalar shift (two flat reductions)
    # does as well: the cancellation then costs at most _NEAR ulps of 1.
    # Row sums are products with a vector of ones (BLAS) for the same reason.
    top, bottom = (Z.max(), Z.min()) if Z.dtype == np.float64 and Z.size else (0, 0)
    if Z.dtype == np.float64 and -_NEAR <= bottom and top <= _NEAR:
        pass  # exp(z) in [e^-8, e^8]: no shift
    elif Z.dtype == np.float64 and top - bottom <= _NEAR:
        Z -= top
    else:
        _row_max(Z, out=v)
        Z -= v[:, None]
    J = -float(np.vdot(T.WY, Z))  # Σ_i w_i y_i · (z_i - shift_i)
    np.exp(Z, out=Z)
    if Z.shape[1] > 1:  # S has room for the two row vectors
        total, scale = S.reshape(-1)[:n], S.reshape(-1)[n : 2 * n]
    else:
        total, scale = S[:, 0], np.empty_like(v)
    np.matmul(Z, T.ones, out=total)
    np.divide(T.ws, total, out=scale)
    Z *= scale[:, None]  # w s · softmax(z)
    Z -= T.WY
    np.log(total, out=total)
    return J + float(T.ws @ total)


# See softmax_log_loss: the spread of the logits within which a scalar shift
# (or none) is as exact as the row maximum, in float64.
_NEAR = 8.0


def _row_max(Z: NDArray, out: NDArray) -> NDArray:
    """max_k Z[:, k]: a loop over columns while there are few of them."""
    if Z.shape[1] > 16:
        return np.max(Z, axis=1, out=out)
    np.copyto(out, Z[:, 0])
    for k in range(1, Z.shape[1]):
        np.maximum(out, Z[:, k], out=out)
    return out


def identity_squared_error(Z: NDArray, T: Targets, S: NDArray, v: NDArray) -> float:
    """Half squared error of identity units: loss = ½‖z - y‖², δ^(L) = z - y.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, K)
        Pre-activations z^(L) (the predictions); overwritten with the weighted
        δ^(L).
    T : Targets
        The block's targets and weights (:meth:`Loss.targets`).
    S : ndarray of shape (n_samples, K)
        Scratch space.
    v : ndarray of shape (n_samples,)
        Unused.

    Returns
    -------
    loss : float
        Σ_i w_i loss_i.

    Examples
    --------
    >>> import numpy as np
    >>> loss = LOSSES["identity", "squared_error"]
    >>> Z = np.array([[3.0]])
    >>> J = identity_squared_error(Z, loss.targets(np.array([[1.0]])),
    ...                            np.empty((1, 1)), np.empty(1))
    >>> J, Z
    (2.0, array([[2.]]))
    """
    Z -= T.Y
    if T.w is None:
        return 0.5 * float(np.vdot(Z, Z))
    np.multiply(Z, T.w[:, None], out=S)
    J = 0.5 * float(np.vdot(S, Z))
    np.copyto(Z, S)
    return J


def logistic_squared_error(Z: NDArray, T: Targets, S: NDArray, v: NDArray) -> float:
    """Half squared error of logistic units, the notes' J = ½(ŷ - y)².

    δ^(L) = (a - y) a (1 - a).

    Parameters
    ----------
    Z : ndarray of shape (n_samples, K)
        Pre-activations z^(L); overwritten with the weighted δ^(L).
    T : Targets
        The block's targets and weights (:meth:`Loss.targets`).
    S : ndarray of shape (n_samples, K)
        Scratch space.
    v : ndarray of shape (n_samples,)
        Scratch space.

    Returns
    -------
    loss : float
        Σ_i w_i loss_i.

    Examples
    --------
    >>> import numpy as np
    >>> loss = LOSSES["logistic", "squared_error"]
    >>> Z = np.array([[0.0]])
    >>> J = logistic_squared_error(Z, loss.targets(np.array([[1.0]])),
    ...                            np.empty((1, 1)), np.empty(1))
    >>> J, Z
    (0.125, array([[-0.125]]))
    """
    expit(Z, out=Z)
    np.subtract(Z, T.Y, out=S)
    np.einsum("ij,ij->i", S, S, out=v)
    J = 0.5 * float(v.sum() if T.w is None else v @ T.w)
    S *= Z
    np.subtract(1, Z, out=Z)
    Z *= S
    if T.w is not None:
        Z *= T.w[:, None]
    return J


def _identity_jacobian_product(A: NDArray, R: NDArray) -> NDArray:
    return R  # ∂a/∂z = I


def _logistic_jacobian_product(A: NDArray, R: NDArray) -> NDArray:
    R *= A * (1 - A)  # ∂a_k/∂z_k = a_k (1 - a_k)
    return R


def _softmax_jacobian_product(A: NDArray, R: NDArray) -> NDArray:
    # ∂a/∂z = diag(a) - a aᵀ per row: (∂a/∂z) r = a ⊙ (r - a·r)
    R -= np.einsum("ij,ij->i", A, R)[:, None]
    R *= A
    return R


@dataclass(frozen=True)
class Output:
    """The output units' activation a^(L) = f(z^(L)) and its Jacobian.

    Attributes
    ----------
    name : str
        The public name (``output_activation``).
    activate : callable
        ``activate(Z)`` overwrites z^(L) with a^(L).
    jacobian_product : callable
        ``jacobian_product(A, R)`` overwrites each row r of R with
        (∂a/∂z) r, given a^(L); ∂a/∂z is symmetric for all three outputs, so
        the same product carries R{z} forward and δ back.

    Examples
    --------
    >>> import numpy as np
    >>> out = OUTPUT_ACTIVATIONS["logistic"]
    >>> out.jacobian_product(np.array([[0.5]]), np.array([[2.0]]))
    array([[0.5]])
    """

    name: str
    activate: Callable[[NDArray], None]
    jacobian_product: Callable[[NDArray, NDArray], NDArray]

    def __call__(self, Z: NDArray) -> None:
        self.activate(Z)


OUTPUT_ACTIVATIONS: dict[str, Output] = {
    out.name: out
    for out in (
        Output("logistic", inplace_sigmoid, _logistic_jacobian_product),
        Output("softmax", inplace_softmax, _softmax_jacobian_product),
        Output("identity", inplace_identity, _identity_jacobian_product),
    )
}


def _logistic_log_loss_rop(Z, Y, RZ, delta, gauss_newton):
    p = delta + Y  # δ^(L) = a - y gives the outputs back without another expit
    return p * (1 - p) * RZ


def _softmax_log_loss_rop(Z, Y, RZ, delta, gauss_newton):
    Q = delta + Y  # δ^(L) = s·softmax(z) - y, so Q = s·p with s = Σ_k y_k
    s = Y @ np.ones(Y.shape[1], Y.dtype)
    # s·(p ⊙ Rz - p (p·Rz)) = Q ⊙ Rz - Q (Q·Rz) / s; rows with s = 0 have Q = 0.
    proj = np.einsum("ij,ij->i", Q, RZ)
    np.divide(proj, s, out=proj, where=s > 0)
    out = Q * RZ
    out -= Q * proj[:, None]
    return out


def _identity_squared_error_rop(Z, Y, RZ, delta, gauss_newton):
    return RZ.copy()


def _logistic_squared_error_rop(Z, Y, RZ, delta, gauss_newton):
    a = expit(Z)
    slope = a * (1 - a)  # ∂a/∂z
    if gauss_newton:  # J_aᵀ J_a: the loss's Hessian in a is the identity
        return slope * slope * RZ
    return (slope * slope + (a - Y) * slope * (1 - 2 * a)) * RZ


@dataclass(frozen=True)
class Loss:
    """One output activation with its loss: value, δ^(L) and curvature.

    Attributes
    ----------
    output : str
        The output units' activation (``output_activation``).
    name : str
        The loss (``loss``).
    value_delta : callable
        ``value_delta(Z, targets, scratch, vec) -> Σ_i w_i loss_i``; overwrites
        z^(L) with the weighted δ^(L).
    curvature : callable
        ``curvature(Z, Y, RZ, delta, gauss_newton)``: R{δ^(L)} =
        (∂²loss/∂z²) R{z^(L)} per row, given z^(L), the targets, R{z^(L)} and
        the unweighted δ^(L). With ``gauss_newton`` the loss's curvature is
        taken in the output units' own variables (Schraudolph 2002); for the
        matching pairs (logistic/softmax with log_loss, identity with
        squared_error) that is the exact curvature.

    Examples
    --------
    >>> import numpy as np
    >>> loss = LOSSES["softmax", "log_loss"]
    >>> P = np.array([[0.0, 0.0]])
    >>> loss.activate(P)
    >>> P
    array([[0.5, 0.5]])
    """

    output: str
    name: str
    value_delta: Callable[[NDArray, Targets, NDArray, NDArray], float]
    curvature: Callable[..., NDArray]

    @property
    def activate(self) -> Callable[[NDArray], None]:
        """The output activation, in place (for predictions)."""
        return OUTPUT_ACTIVATIONS[self.output].activate

    def targets(self, Y: NDArray, w: NDArray | None = None) -> Targets:
        """The block's :class:`Targets`: Y with the weights w folded in."""
        ones = np.ones(Y.shape[1], Y.dtype)
        WY = Y if w is None else Y * w[:, None]
        ws = None
        if self.output == "softmax":
            ws = Y @ ones if w is None else w * (Y @ ones)
        return Targets(Y, w, WY, ws, ones)

    def update(self, T: Targets) -> None:
        """Derive ``T``'s weighted targets again, in place, from its Y and w."""
        if T.w is not None:
            np.multiply(T.Y, T.w[:, None], out=T.WY)
        if T.ws is not None:
            np.matmul(T.Y, T.ones, out=T.ws)
            if T.w is not None:
                np.multiply(T.ws, T.w, out=T.ws)


LOSSES: dict[tuple[str, str], Loss] = {
    (loss.output, loss.name): loss
    for loss in (
        Loss("logistic", "log_loss", logistic_log_loss, _logistic_log_loss_rop),
        Loss("softmax", "log_loss", softmax_log_loss, _softmax_log_loss_rop),
        Loss(
            "identity",
            "squared_error",
            identity_squared_error,
            _identity_squared_error_rop,
        ),
        Loss(
            "logistic",
            "squared_error",
            logistic_squared_error,
            _logistic_squared_error_rop,
        ),
    )
}
