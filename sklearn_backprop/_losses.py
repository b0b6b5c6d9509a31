"""Output units and losses: the output layer's activation, loss and δ^(L).

``OUTPUT_ACTIVATIONS`` maps an output-activation name to an in-place function
used for prediction. ``LOSSES`` maps an (output activation, loss) pair to a
function that, given the output layer's pre-activations z^(L), writes each
row's loss and the seed's δ^(L) = ∂loss/∂z^(L) (for cross-entropy with
logistic or softmax units, δ^(L) = a^(L) - y). Losses are computed from z^(L)
directly (log-sigmoid, log-sum-exp), so log(0) is never reached.
"""

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


def _scratch(Z: NDArray, scratch: NDArray | None, vec: NDArray | None):
    """Scratch of Z's shape and one row vector: the workspace's, or new ones."""
    if scratch is None:
        scratch = np.empty_like(Z)
    if vec is None:
        vec = np.empty(Z.shape[0], Z.dtype)
    return scratch, vec


def logistic_log_loss(
    Z: NDArray,
    Y: NDArray,
    row_loss: NDArray,
    scratch: NDArray | None = None,
    vec: NDArray | None = None,
) -> None:
    """Cross-entropy of K logistic units, summed over units (the seed's network).

    loss = Σ_k max(z_k, 0) - y_k z_k + log(1 + e^{-|z_k|}), which equals
    -Σ_k [y_k log a_k + (1 - y_k) log(1 - a_k)] and never takes log(0);
    δ^(L) = a - y.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, K)
        Pre-activations z^(L); overwritten with δ^(L).
    Y : ndarray of shape (n_samples, K)
        Targets in [0, 1].
    row_loss : ndarray of shape (n_samples,)
        Receives each row's loss.
    scratch : ndarray of shape (n_samples, K), default=None
        Work space (allocated if None).
    vec : ndarray of shape (n_samples,), default=None
        Work space (allocated if None).

    Examples
    --------
    >>> import numpy as np
    >>> Z, Y, loss = np.array([[0.0]]), np.array([[1.0]]), np.empty(1)
    >>> logistic_log_loss(Z, Y, loss)
    >>> loss.round(4), Z
    (array([0.6931]), array([[-0.5]]))
    """
    T, v = _scratch(Z, scratch, vec)
    np.einsum("ij,ij->i", Y, Z, out=row_loss)
    np.negative(row_loss, out=row_loss)
    np.maximum(Z, 0, out=T)
    row_loss += np.add.reduce(T, axis=1, out=v)
    np.abs(Z, out=T)
    np.negative(T, out=T)
    np.exp(T, out=T)  # e^{-|z|} in (0, 1]: no overflow
    np.log1p(T, out=T)
    row_loss += np.add.reduce(T, axis=1, out=v)
    expit(Z, out=Z)
    Z -= Y


def softmax_log_loss(
    Z: NDArray,
    Y: NDArray,
    row_loss: NDArray,
    scratch: NDArray | None = None,
    vec: NDArray | None = None,
) -> None:
    """Categorical cross-entropy of softmax units, via log-sum-exp.

    loss = s · logsumexp(z) - y · z with s = Σ_k y_k (1 for one-hot rows);
    δ^(L) = s · softmax(z) - y.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, K)
        Pre-activations z^(L); overwritten with δ^(L).
    Y : ndarray of shape (n_samples, K)
        Non-negative targets, usually one-hot.
    row_loss : ndarray of shape (n_samples,)
        Receives each row's loss.
    scratch : ndarray of shape (n_samples, K), default=None
        Work space (allocated if None).
    vec : ndarray of shape (n_samples,), default=None
        Work space (allocated if None).

    Examples
    --------
    >>> import numpy as np
    >>> Z, Y, loss = np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]), np.empty(1)
    >>> softmax_log_loss(Z, Y, loss)
    >>> loss.round(4), Z
    (array([0.6931]), array([[-0.5,  0.5]]))
    """
    T, v = _scratch(Z, scratch, vec)
    ones = np.ones(Z.shape[1], Z.dtype)
    # Row sums as products with a vector of ones (BLAS) and the row maximum
    # column by column: numpy's reductions along a short last axis cost
    # several times more on the (rows, classes) arrays of an output layer.
    _row_max(Z, out=v)
    Z -= v[:, None]
    np.multiply(Y, Z, out=T)
    np.matmul(T, ones, out=row_loss)  # y · z, with z shifted
    s = np.matmul(Y, ones, out=v)
    np.exp(Z, out=Z)
    if Z.shape[1] > 1:  # T has room for two row vectors
        total, scale = T.reshape(-1)[: len(v)], T.reshape(-1)[len(v) : 2 * len(v)]
    else:
        total, scale = T[:, 0], np.empty_like(v)
    np.matmul(Z, ones, out=total)
    np.divide(s, total, out=scale)
    Z *= scale[:, None]  # s · softmax(z)
    Z -= Y
    np.log(total, out=total)
    total *= s
    np.subtract(total, row_loss, out=row_loss)


def _row_max(Z: NDArray, out: NDArray) -> NDArray:
    """max_k Z[:, k]: a loop over columns while there are few of them."""
    if Z.shape[1] > 16:
        return np.max(Z, axis=1, out=out)
    np.copyto(out, Z[:, 0])
    for k in range(1, Z.shape[1]):
        np.maximum(out, Z[:, k], out=out)
    return out


def identity_squared_error(
    Z: NDArray,
    Y: NDArray,
    row_loss: NDArray,
    scratch: NDArray | None = None,
    vec: NDArray | None = None,
) -> None:
    """Half squared error of identity units: loss = ½‖z - y‖², δ^(L) = z - y.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, K)
        Pre-activations z^(L) (the predictions); overwritten with δ^(L).
    Y : ndarray of shape (n_samples, K)
        Real targets.
    row_loss : ndarray of shape (n_samples,)
        Receives each row's loss.
    scratch, vec : None
        Unused; accepted like the other losses'.

    Examples
    --------
    >>> import numpy as np
    >>> Z, Y, loss = np.array([[3.0]]), np.array([[1.0]]), np.empty(1)
    >>> identity_squared_error(Z, Y, loss)
    >>> loss, Z
    (array([2.]), array([[2.]]))
    """
    Z -= Y
    np.einsum("ij,ij->i", Z, Z, out=row_loss)
    row_loss *= 0.5


def logistic_squared_error(
    Z: NDArray,
    Y: NDArray,
    row_loss: NDArray,
    scratch: NDArray | None = None,
    vec: NDArray | None = None,
) -> None:
    """Half squared error of logistic units, the seed's J = ½(ŷ - y)².

    δ^(L) = (a - y) a (1 - a).

    Parameters
    ----------
    Z : ndarray of shape (n_samples, K)
        Pre-activations z^(L); overwritten with δ^(L).
    Y : ndarray of shape (n_samples, K)
        Targets.
    row_loss : ndarray of shape (n_samples,)
        Receives each row's loss.
    scratch : ndarray of shape (n_samples, K), default=None
        Work space (allocated if None).
    vec : None
        Unused.

    Examples
    --------
    >>> import numpy as np
    >>> Z, Y, loss = np.array([[0.0]]), np.array([[1.0]]), np.empty(1)
    >>> logistic_squared_error(Z, Y, loss)
    >>> loss, Z
    (array([0.125]), array([[-0.125]]))
    """
    R, _ = _scratch(Z, scratch, row_loss)
    expit(Z, out=Z)
    np.subtract(Z, Y, out=R)
    np.einsum("ij,ij->i", R, R, out=row_loss)
    row_loss *= 0.5
    R *= Z
    np.subtract(1, Z, out=Z)
    Z *= R


OUTPUT_ACTIVATIONS = {
    "logistic": inplace_sigmoid,
    "softmax": inplace_softmax,
    "identity": inplace_identity,
}

LOSSES = {
    ("logistic", "log_loss"): logistic_log_loss,
    ("softmax", "log_loss"): softmax_log_loss,
    ("identity", "squared_error"): identity_squared_error,
    ("logistic", "squared_error"): logistic_squared_error,
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


# R{δ^(L)} = (∂²loss/∂z²) R{z^(L)} per sample, keyed like LOSSES; each gets
# z^(L), the targets, R{z^(L)} and the unweighted δ^(L) LOSSES computed. With
# ``gauss_newton`` the loss's curvature is taken in the output units' own
# variables (Schraudolph 2002); for the matching pairs (logistic/softmax with
# log_loss, identity with squared_error) that is the exact curvature.
LOSS_CURVATURES = {
    ("logistic", "log_loss"): _logistic_log_loss_rop,
    ("softmax", "log_loss"): _softmax_log_loss_rop,
    ("identity", "squared_error"): _identity_squared_error_rop,
    ("logistic", "squared_error"): _logistic_squared_error_rop,
}
