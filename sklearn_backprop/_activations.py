"""Activation functions g and their derivatives, as tables keyed by public name.

Every function works in place on a 2-D float array, so that forward and backward
propagation need no temporaries. Derivatives are written in terms of the
activation's *output* a = g(z), as in the seed: g'(z) = a (1 - a) for the
logistic unit.
"""

import numpy as np
from numpy.typing import NDArray


def inplace_logistic(Z: NDArray) -> None:
    """Logistic sigmoid g(z) = 1 / (1 + exp(-z)), in place.

    Computed as (1 + tanh(z / 2)) / 2, which never overflows and is several
    times faster than ``scipy.special.expit`` on large arrays. Its absolute
    error is at the dtype's epsilon, which is what hidden units need.

    Parameters
    ----------
    Z : ndarray
        Pre-activations; overwritten with the activations.

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.array([[-1000.0, 0.0, 1000.0]])
    >>> inplace_logistic(Z)
    >>> Z
    array([[0. , 0.5, 1. ]])
    """
    Z *= 0.5
    np.tanh(Z, out=Z)
    Z *= 0.5
    Z += 0.5


def inplace_tanh(Z: NDArray) -> None:
    """Hyperbolic tangent, in place.

    Parameters
    ----------
    Z : ndarray
        Pre-activations; overwritten with the activations.

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.array([[0.0, 1.0]])
    >>> inplace_tanh(Z)
    >>> Z.round(4)
    array([[0.    , 0.7616]])
    """
    np.tanh(Z, out=Z)


def inplace_relu(Z: NDArray) -> None:
    """Rectified linear unit max(z, 0), in place.

    Parameters
    ----------
    Z : ndarray
        Pre-activations; overwritten with the activations.

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.array([[-2.0, 3.0]])
    >>> inplace_relu(Z)
    >>> Z
    array([[0., 3.]])
    """
    np.maximum(Z, 0, out=Z)


def inplace_identity(Z: NDArray) -> None:
    """Identity g(z) = z: leaves its argument unchanged.

    Parameters
    ----------
    Z : ndarray
        Pre-activations, which are also the activations.

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.array([[-2.0, 3.0]])
    >>> inplace_identity(Z)
    >>> Z
    array([[-2.,  3.]])
    """


def inplace_logistic_delta(A: NDArray, back: NDArray) -> None:
    """δ = back ⊙ a (1 - a), the seed's g'(z) for the logistic unit.

    Parameters
    ----------
    A : ndarray
        Activations a = g(z); overwritten with δ.
    back : ndarray
        The back-propagated error (Θ^T δ^(l+1)) of the same shape; used as
        scratch space.

    Examples
    --------
    >>> import numpy as np
    >>> A, back = np.array([[0.5, 0.9]]), np.array([[1.0, 2.0]])
    >>> inplace_logistic_delta(A, back)
    >>> A.round(4)
    array([[0.25, 0.18]])
    """
    back *= A
    np.subtract(1, A, out=A)
    A *= back


def inplace_tanh_delta(A: NDArray, back: NDArray) -> None:
    """δ = back ⊙ (1 - a²), the derivative of tanh in terms of its output.

    Parameters
    ----------
    A : ndarray
        Activations a = tanh(z); overwritten with δ.
    back : ndarray
        The back-propagated error of the same shape.

    Examples
    --------
    >>> import numpy as np
    >>> A, back = np.array([[0.0, 0.5]]), np.array([[1.0, 2.0]])
    >>> inplace_tanh_delta(A, back)
    >>> A
    array([[1. , 1.5]])
    """
    np.multiply(A, A, out=A)
    np.subtract(1, A, out=A)
    A *= back


def inplace_relu_delta(A: NDArray, back: NDArray) -> None:
    """δ = back where a > 0, else 0 (the relu derivative).

    Parameters
    ----------
    A : ndarray
        Activations a = max(z, 0); overwritten with δ.
    back : ndarray
        The back-propagated error of the same shape.

    Examples
    --------
    >>> import numpy as np
    >>> A, back = np.array([[0.0, 0.5]]), np.array([[1.0, 2.0]])
    >>> inplace_relu_delta(A, back)
    >>> A
    array([[0., 2.]])
    """
    np.sign(A, out=A)  # 1 where the unit is on, 0 where it is off
    A *= back


def inplace_identity_delta(A: NDArray, back: NDArray) -> None:
    """δ = back (the identity's derivative is 1).

    Parameters
    ----------
    A : ndarray
        Activations; overwritten with δ.
    back : ndarray
        The back-propagated error of the same shape.

    Examples
    --------
    >>> import numpy as np
    >>> A, back = np.array([[0.0, 0.5]]), np.array([[1.0, 2.0]])
    >>> inplace_identity_delta(A, back)
    >>> A
    array([[1., 2.]])
    """
    np.copyto(A, back)


ACTIVATIONS = {
    "logistic": inplace_logistic,
    "tanh": inplace_tanh,
    "relu": inplace_relu,
    "identity": inplace_identity,
}

DELTAS = {
    "logistic": inplace_logistic_delta,
    "tanh": inplace_tanh_delta,
    "relu": inplace_relu_delta,
    "identity": inplace_identity_delta,
}


# g'(z) in terms of the output a = g(z), and g''(z) in terms of a and g'(z),
# for Hessian-vector products (the R-operator needs g'' where the gradient
# needs only g').
FIRST_DERIVATIVES = {
    "logistic": lambda a: a * (1 - a),
    "tanh": lambda a: 1 - a * a,
    "relu": lambda a: (a > 0).astype(a.dtype),
    "identity": lambda a: np.ones_like(a),
}

SECOND_DERIVATIVES = {
    "logistic": lambda a, slope: slope * (1 - 2 * a),
    "tanh": lambda a, slope: -2 * a * slope,
    "relu": lambda a, slope: np.zeros_like(a),
    "identity": lambda a, slope: np.zeros_like(a),
}
