"""Hidden-unit activations g: one record per activation, keyed by public name.

Each :class:`Activation` holds g itself, the δ update, g'(z) and g''(z), every
derivative written in terms of the activation's *output* a = g(z) as in the
notes: g'(z) = a (1 - a) for the logistic unit. The in-place functions work on
2-D float arrays, so that forward and backward propagation need no temporaries.
"""

from collections.abc import Callable
from dataclasses import dataclass

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
    """δ = back ⊙ a (1 - a), the notes' g'(z) for the logistic unit.

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


def _logistic_slope(A: NDArray) -> NDArray:
    return A * (1 - A)


def _tanh_slope(A: NDArray) -> NDArray:
    return 1 - A * A


def _relu_slope(A: NDArray) -> NDArray:
    return (A > 0).astype(A.dtype)


def _identity_slope(A: NDArray) -> NDArray:
    return np.ones_like(A)


def _logistic_second(A: NDArray, slope: NDArray) -> NDArray:
    return slope * (1 - 2 * A)


def _tanh_second(A: NDArray, slope: NDArray) -> NDArray:
    return -2 * A * slope


def _zero_second(A: NDArray, slope: NDArray) -> NDArray:
    return np.zeros_like(A)


@dataclass(frozen=True)
class Activation:
    """Everything propagation needs to know about one hidden activation g.

    Attributes
    ----------
    name : str
        The public name (the estimators' ``activation`` parameter).
    forward : callable
        ``forward(Z)`` overwrites pre-activations z with a = g(z).
    delta : callable
        ``delta(A, back)`` overwrites a with δ = back ⊙ g'(z), the notes'
        δ^(l) = (Θ^(l))ᵀ δ^(l+1) ⊙ g'(z^(l)); ``back`` may be used as scratch.
    slope : callable
        ``slope(A)`` returns g'(z) from a, as a new array.
    second : callable
        ``second(A, slope)`` returns g''(z) from a and g'(z): the R-operator
        needs it where the gradient needs only g'.

    Examples
    --------
    >>> import numpy as np
    >>> g = ACTIVATIONS["logistic"]
    >>> A = np.array([[0.5]])
    >>> g.slope(A), g.second(A, g.slope(A))
    (array([[0.25]]), array([[0.]]))
    """

    name: str
    forward: Callable[[NDArray], None]
    delta: Callable[[NDArray, NDArray], None]
    slope: Callable[[NDArray], NDArray]
    second: Callable[[NDArray, NDArray], NDArray]


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation(
            "logistic",
            inplace_logistic,
            inplace_logistic_delta,
            _logistic_slope,
            _logistic_second,
        ),
        Activation("tanh", inplace_tanh, inplace_tanh_delta, _tanh_slope, _tanh_second),
        Activation("relu", inplace_relu, inplace_relu_delta, _relu_slope, _zero_second),
        Activation(
            "identity",
            inplace_identity,
            inplace_identity_delta,
            _identity_slope,
            _zero_second,
        ),
    )
}
