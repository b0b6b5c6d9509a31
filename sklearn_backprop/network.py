"""The network of the backpropagation notes as plain functions over arrays.

Notation follows the backpropagation notes of Andrew Ng's Machine Learning
course, which the user guide cites: ``layer_sizes = [S_1, ..., S_L]`` with
S_1 the number of features and S_L the number of output units; Θ^(l) has
shape (S_{l+1}, S_l + 1) and its column 0 multiplies the bias unit a_0 = 1.
All Θ^(l) live in one contiguous vector ``theta`` (the vector that
``scipy.optimize.minimize`` sees); :func:`unpack` returns reshaped views of
it.

The cost is::

    J(Θ) = (1/W) Σ_i w_i loss_i + (α / (2W)) Σ_l Σ_{j≠0} (Θ^(l)_ij)²,  W = Σ_i w_i

and its gradient is the notes' D term: D = (1/W) Δ + (α/W) Θ off the bias
column, D = (1/W) Δ on it, where Δ^(l) = Σ_i δ^(l+1) (a^(l))ᵀ accumulates over
training examples. Because J and Δ are sums over rows, :func:`cost_grad`
evaluates them over row chunks, which bounds memory and lets the same
computation be map-reduced over partitions of the data.

This module is the public face: each function validates its arguments once
into a network description and delegates to the row-block machinery the
estimators use (``_kernel`` for one block, ``_rop`` for the R-operator,
``_blocks`` for the chunk and thread reduction, ``_objective`` for the
penalty).
"""

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from sklearn_backprop import _jacobian, _kernel
from sklearn_backprop._activations import ACTIVATIONS
from sklearn_backprop._blocks import InMemoryBlocks, as_rows
from sklearn_backprop._losses import LOSSES
from sklearn_backprop._objective import regularize as _regularize
from sklearn_backprop._spec import NetworkSpec, check_names, n_params
from sklearn_backprop._workspace import Workspace

__all__ = [
    "Workspace",
    "cost_grad",
    "cost_grad_sum",
    "forward",
    "gradient_check",
    "hessp",
    "hessp_sum",
    "jacobian",
    "jvp",
    "n_params",
    "numerical_gradient",
    "pack",
    "regularize",
    "unpack",
    "vjp",
]


@lru_cache(maxsize=64)
def _cached_spec(layer_sizes: tuple, activation, output_activation, loss, dtype):
    return NetworkSpec.make(layer_sizes, activation, output_activation, loss, dtype)


def _spec(layer_sizes, activation, output_activation, loss, dtype) -> NetworkSpec:
    """The validated network, made once per distinct set of arguments."""
    try:
        sizes = tuple(int(s) for s in layer_sizes)
    except (TypeError, ValueError):
        raise ValueError(
            f"layer_sizes must be a sequence of integers, got {layer_sizes!r}."
        ) from None
    if not (isinstance(activation, str) and isinstance(output_activation, str)):
        check_names(activation, output_activation, loss)  # unhashable: its error
    return _cached_spec(sizes, activation, output_activation, loss, np.dtype(dtype))


def _source(X, Y, sample_weight, layer_sizes, names, chunk_size, n_threads, workspace):
    """The in-memory row blocks of one call, its arguments validated.

    A workspace keeps the last call's source: called again with the very same
    arrays (none needing a conversion), only what depends on their values is
    derived again, so that repeated calls skip the set-up.
    """
    key = (tuple(layer_sizes), names, chunk_size, n_threads)
    cached = None if workspace is None else workspace.source
    if cached is not None and cached.reuses(X, Y, sample_weight, key):
        cached.refresh()
        return cached
    X = as_rows(X)
    spec = _spec(layer_sizes, *names, X.dtype)
    source = InMemoryBlocks(
        X,
        Y,
        sample_weight,
        spec,
        chunk_size=chunk_size,
        n_threads=n_threads,
        workspace=workspace,
    )
    if workspace is not None:
        source.key = key
        workspace.source = source
    return source


def _sums(
    theta,
    X,
    Y,
    layer_sizes,
    names,
    sample_weight,
    workspace,
    chunk_size,
    out,
    n_threads,
):
    """(source, θ, (J_sum, Δ, W)): the row sums of one call, validated."""
    source = _source(
        X, Y, sample_weight, layer_sizes, names, chunk_size, n_threads, workspace
    )
    theta = source.spec.check_theta(theta)
    return source, theta, source.cost_grad_sum(theta, _check_out(out, source.spec))


def _check_out(out: NDArray | None, spec: NetworkSpec) -> NDArray | None:
    """``out`` if it can take the gradient, else a ValueError."""
    if out is not None and (out.shape != (spec.n_params,) or out.dtype != spec.dtype):
        raise ValueError(
            f"out must be a {spec.dtype} vector of shape ({spec.n_params},), got "
            f"{out.dtype} of shape {out.shape}."
        )
    return out


def pack(thetas: Sequence[ArrayLike]) -> NDArray:
    """Flatten the weight matrices Θ^(1), ..., Θ^(L-1) into one vector.

    Parameters
    ----------
    thetas : sequence of array-like
        Θ^(l) of shape (S_{l+1}, S_l + 1), bias in column 0.

    Returns
    -------
    theta : ndarray of shape (n_params,)
        A new contiguous vector holding every Θ^(l) in row-major order.

    Examples
    --------
    >>> import numpy as np
    >>> pack([np.ones((2, 3)), np.zeros((1, 3))])
    array([1., 1., 1., 1., 1., 1., 0., 0., 0.])
    """
    return np.concatenate([np.asarray(t).ravel() for t in thetas])


def unpack(theta: NDArray, layer_sizes: Sequence[int]) -> list[NDArray]:
    """Views of the weight matrices Θ^(l) inside the flat vector ``theta``.

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
        The flat parameter vector; must be contiguous.
    layer_sizes : sequence of int
        ``[S_1, ..., S_L]``.

    Returns
    -------
    thetas : list of ndarray
        Θ^(l) of shape (S_{l+1}, S_l + 1), each a view of ``theta`` (writing
        to it writes to ``theta``).

    Examples
    --------
    >>> import numpy as np
    >>> theta = np.arange(16.0)
    >>> T1, T2 = unpack(theta, [3, 3, 1])
    >>> T1.shape, T2.shape, np.shares_memory(T2, theta)
    ((3, 4), (1, 4), True)
    """
    theta = np.asarray(theta)
    expected = n_params(layer_sizes)
    if theta.ndim != 1 or theta.size != expected:
        raise ValueError(
            f"theta must be a 1-D vector of {expected} parameters for layer_sizes="
            f"{list(layer_sizes)}, got shape {theta.shape}."
        )
    return _spec(layer_sizes, "logistic", "logistic", "log_loss", theta.dtype).unpack(
        theta
    )


def forward(
    thetas: Sequence[NDArray],
    X: ArrayLike,
    *,
    activation: str = "logistic",
    output_activation: str = "logistic",
) -> list[NDArray]:
    """Forward propagation: the activations a^(1), ..., a^(L) of every layer.

    Implements the notes' equations (1)-(4): z^(l+1) = Θ^(l) a^(l) with the
    bias unit prepended, a^(l+1) = g(z^(l+1)).

    Parameters
    ----------
    thetas : sequence of ndarray
        Θ^(l) of shape (S_{l+1}, S_l + 1).
    X : {array-like, sparse matrix} of shape (n_samples, S_1)
        Input rows; a^(1) = X.
    activation : {"logistic", "tanh", "relu", "identity"}, default="logistic"
        Hidden-unit activation g.
    output_activation : {"logistic", "softmax", "identity"}, default="logistic"
        Activation of the output units.

    Returns
    -------
    activations : list of ndarray
        ``[a^(1), ..., a^(L)]``, a^(1) being ``X`` itself; bias units are not
        included.

    Examples
    --------
    >>> import numpy as np
    >>> T1 = np.array([[0.0, 1.0, 1.0, 1.0]] * 3)  # 3 hidden units
    >>> T2 = np.array([[-1.5, 1.0, 1.0, 1.0]])
    >>> a1, a2, a3 = forward([T1, T2], np.zeros((1, 3)))
    >>> a2, a3
    (array([[0.5, 0.5, 0.5]]), array([[0.5]]))
    """
    check_names(activation, output_activation, None)
    X = X if sp.issparse(X) else np.asarray(X)
    thetas = [np.asarray(theta) for theta in thetas]
    return _kernel.forward(thetas, X, ACTIVATIONS[activation], output_activation)


def cost_grad(
    theta: ArrayLike,
    X: ArrayLike,
    Y: ArrayLike,
    layer_sizes: Sequence[int],
    *,
    alpha: float = 0.0,
    activation: str = "logistic",
    output_activation: str = "logistic",
    loss: str = "log_loss",
    sample_weight: ArrayLike | None = None,
    workspace: Workspace | None = None,
    chunk_size: int | None = None,
    out: NDArray | None = None,
    n_threads: int | None = None,
) -> tuple[float, NDArray]:
    """Regularised cost J(Θ) and its gradient, the notes' D terms, in one pass.

    Parameters
    ----------
    theta : array-like of shape (n_params,)
        All Θ^(l) flattened (see :func:`pack`).
    X : {array-like, sparse matrix} of shape (n_samples, S_1)
        Input rows. float32 input is computed in float32, anything else in
        float64.
    Y : array-like of shape (n_samples, S_L)
        Targets: one-hot, indicator or real values.
    layer_sizes : sequence of int
        ``[S_1, ..., S_L]``.
    alpha : float, default=0.0
        L2 penalty λ on the non-bias weights, scaled as (α / (2W)) Σ Θ².
    activation : {"logistic", "tanh", "relu", "identity"}, default="logistic"
        Hidden-unit activation g.
    output_activation : {"logistic", "softmax", "identity"}, default="logistic"
        Activation of the output units.
    loss : {"log_loss", "squared_error"}, default="log_loss"
        Per-example loss; log_loss pairs with logistic or softmax outputs,
        squared_error (½‖ŷ - y‖²) with identity or logistic outputs.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights w_i; None means all ones.
    workspace : Workspace, default=None
        Scratch space to reuse across calls; a fresh one is used if None.
    chunk_size : int, default=None
        Rows per chunk. None bounds the chunk's memory by scikit-learn's
        ``working_memory`` configuration (``sklearn.set_config``) and by what
        a core's cache holds (about 2 MiB of inputs, counted as dense, and
        activations; at least 512 rows), which is faster than all rows at
        once.
    out : ndarray of shape (n_params,), default=None
        Where to write the gradient; must have the computation's dtype.
    n_threads : int, default=None
        Threads that evaluate row chunks side by side, each with
        single-threaded BLAS; their sums are added in chunk order, so every
        thread count gives the same bits. None uses as many as BLAS may use
        (``threadpoolctl``) when called from the main thread, one from any
        other thread: ``threadpoolctl.threadpool_limits(1)`` makes
        evaluations single-threaded.

    Returns
    -------
    J : float
        The cost.
    grad : ndarray of shape (n_params,)
        ∂J/∂θ, flattened like ``theta``, in the computation's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> X, Y = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[1.0], [0.0]])
    >>> J, grad = cost_grad(np.zeros(n_params([2, 1])), X, Y, [2, 1])
    >>> round(J, 4), grad
    (0.6931, array([ 0.  ,  0.25, -0.25]))
    """
    source, theta, (J_sum, grad, W) = _sums(
        theta,
        X,
        Y,
        layer_sizes,
        (activation, output_activation, loss),
        sample_weight,
        workspace,
        chunk_size,
        out,
        n_threads,
    )
    return _regularize(source.spec, theta, J_sum, grad, W, alpha)


def cost_grad_sum(
    theta: ArrayLike,
    X: ArrayLike,
    Y: ArrayLike,
    layer_sizes: Sequence[int],
    *,
    activation: str = "logistic",
    output_activation: str = "logistic",
    loss: str = "log_loss",
    sample_weight: ArrayLike | None = None,
    workspace: Workspace | None = None,
    chunk_size: int | None = None,
    out: NDArray | None = None,
    n_threads: int | None = None,
) -> tuple[float, NDArray, float]:
    """Unscaled sums Σ_i w_i loss_i, Δ = Σ_i ∂(w_i loss_i)/∂θ and W = Σ_i w_i.

    The data term of :func:`cost_grad` before the α penalty and the 1/W
    scaling: sums over rows, so that the sums of row blocks (or of partitions
    of data spread over machines) add up to the sums of the whole, and
    :func:`regularize` turns the total into J and the D terms.

    Parameters
    ----------
    theta, X, Y, layer_sizes, activation, output_activation, loss
        As for :func:`cost_grad`.
    sample_weight, workspace, chunk_size, out, n_threads
        As for :func:`cost_grad`.

    Returns
    -------
    J_sum : float
        Σ_i w_i loss_i.
    grad_sum : ndarray of shape (n_params,)
        Δ, flattened like ``theta``.
    W : float
        Σ_i w_i (the number of rows without weights); may be 0.

    Examples
    --------
    >>> import numpy as np
    >>> X, Y = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[1.0], [0.0]])
    >>> theta = np.zeros(n_params([2, 1]))
    >>> halves = [cost_grad_sum(theta, X[i:i + 1], Y[i:i + 1], [2, 1]) for i in (0, 1)]
    >>> J_sum, grad_sum, W = (sum(parts) for parts in zip(*halves))
    >>> J, grad = regularize(theta, J_sum, grad_sum, W, [2, 1])
    >>> bool(np.allclose(grad, cost_grad(theta, X, Y, [2, 1])[1]))
    True
    """
    names = (activation, output_activation, loss)
    return _sums(
        theta,
        X,
        Y,
        layer_sizes,
        names,
        sample_weight,
        workspace,
        chunk_size,
        out,
        n_threads,
    )[2]


def regularize(
    theta: ArrayLike,
    J_sum: float,
    grad_sum: NDArray,
    W: float,
    layer_sizes: Sequence[int],
    *,
    alpha: float = 0.0,
) -> tuple[float, NDArray]:
    """J and the D terms from the sums of :func:`cost_grad_sum`.

    J = J_sum / W + (α / (2W)) Σ Θ² and D = Δ / W + (α / W) Θ off the bias
    column (Δ / W on it). ``grad_sum`` is overwritten with D.

    Parameters
    ----------
    theta : array-like of shape (n_params,)
        The parameters the sums were taken at.
    J_sum, grad_sum, W
        What :func:`cost_grad_sum` returned (or the total over data blocks).
    layer_sizes : sequence of int
        ``[S_1, ..., S_L]``.
    alpha : float, default=0.0
        L2 penalty λ.

    Returns
    -------
    J : float
        The regularised cost.
    grad : ndarray of shape (n_params,)
        ``grad_sum``, now holding D.

    Examples
    --------
    >>> import numpy as np
    >>> theta = np.array([1.0, 2.0])  # one output, one input: [bias, weight]
    >>> regularize(theta, 3.0, np.array([1.0, 1.0]), 2.0, [1, 1], alpha=1.0)
    (2.5, array([0.5, 1.5]))
    """
    grad_sum = np.asarray(grad_sum)
    spec = _spec(layer_sizes, "logistic", "logistic", "log_loss", grad_sum.dtype)
    theta = spec.check_theta(theta)
    return _regularize(spec, theta, J_sum, grad_sum, W, alpha)


def hessp(
    theta: ArrayLike,
    v: ArrayLike,
    X: ArrayLike,
    Y: ArrayLike,
    layer_sizes: Sequence[int],
    *,
    alpha: float = 0.0,
    activation: str = "logistic",
    output_activation: str = "logistic",
    loss: str = "log_loss",
    sample_weight: ArrayLike | None = None,
    curvature: str = "exact",
    chunk_size: int | None = None,
    workspace: Workspace | None = None,
) -> NDArray:
    """Hessian-vector product H·v of the regularised cost, never forming H.

    Computed exactly with Pearlmutter's R-operator: one forward pass, one
    R-forward pass and one backward pass carrying δ and R{δ} together. With
    ``curvature="gauss-newton"`` it returns the Gauss-Newton product G·v
    (Schraudolph 2002), which drops the terms in the hidden units' second
    derivatives and in δ: G is positive semi-definite, which is what
    Hessian-free training and scipy's Newton-CG need.

    Parameters
    ----------
    theta : array-like of shape (n_params,)
        Where the curvature is taken.
    v : array-like of shape (n_params,)
        The direction.
    X, Y, layer_sizes, alpha, activation, output_activation, loss, sample_weight
        As for :func:`cost_grad`.
    curvature : {"exact", "gauss-newton"}, default="exact"
        Which curvature matrix multiplies ``v``.
    chunk_size : int, default=None
        Rows per chunk, as for :func:`cost_grad`.
    workspace : Workspace, default=None
        When given and the forward pass at θ for all rows (activations, g'
        and δ^(L)) fits scikit-learn's ``working_memory``, it is kept in the
        workspace and reused by later calls at the same θ and data, as an
        optimiser's inner CG makes them: each such call then costs one
        R-forward and one backward pass.

    Returns
    -------
    Hv : ndarray of shape (n_params,)
        H·v (or G·v), in the computation's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(8, 3)), np.eye(2)[rng.integers(0, 2, 8)]
    >>> theta, v = rng.normal(size=(2, n_params([3, 4, 2])))
    >>> step = 1e-6
    >>> g_plus = cost_grad(theta + step * v, X, Y, [3, 4, 2], alpha=1.0)[1]
    >>> g_minus = cost_grad(theta - step * v, X, Y, [3, 4, 2], alpha=1.0)[1]
    >>> Hv = hessp(theta, v, X, Y, [3, 4, 2], alpha=1.0)
    >>> bool(np.allclose(Hv, (g_plus - g_minus) / (2 * step), rtol=1e-6))
    True
    """
    Hv_sum, W = hessp_sum(
        theta,
        v,
        X,
        Y,
        layer_sizes,
        activation=activation,
        output_activation=output_activation,
        loss=loss,
        sample_weight=sample_weight,
        curvature=curvature,
        chunk_size=chunk_size,
        workspace=workspace,
    )
    # R{D} = (1/W) R{Δ} + (α/W) V off the bias column: the R-operator is
    # linear, so it is regularize's gradient part applied to (R{Δ}, V).
    spec = _spec(layer_sizes, activation, output_activation, loss, Hv_sum.dtype)
    v = np.ascontiguousarray(v, dtype=Hv_sum.dtype)
    return _regularize(spec, v, 0.0, Hv_sum, W, alpha)[1]


def hessp_sum(
    theta: ArrayLike,
    v: ArrayLike,
    X: ArrayLike,
    Y: ArrayLike,
    layer_sizes: Sequence[int],
    *,
    activation: str = "logistic",
    output_activation: str = "logistic",
    loss: str = "log_loss",
    sample_weight: ArrayLike | None = None,
    curvature: str = "exact",
    chunk_size: int | None = None,
    workspace: Workspace | None = None,
) -> tuple[NDArray, float]:
    """Unscaled R{Δ} = Σ_i ∇²(w_i loss_i) v and W = Σ_i w_i.

    The data term of :func:`hessp` before the α term and the 1/W scaling, as
    :func:`cost_grad_sum` is for :func:`cost_grad`: a sum over rows, so that
    the sums of row blocks (or of partitions of data spread over machines)
    add up to the sum of the whole. :func:`hessp` is
    ``R{Δ} / W + (α / W) v`` off the bias columns.

    Parameters
    ----------
    theta, v, X, Y, layer_sizes, activation, output_activation, loss
        As for :func:`hessp`.
    sample_weight, curvature, chunk_size, workspace
        As for :func:`hessp`.

    Returns
    -------
    Hv_sum : ndarray of shape (n_params,)
        R{Δ}, the Hessian (or Gauss-Newton) product of the unscaled data
        term, in the computation's dtype.
    W : float
        Σ_i w_i (the number of rows without weights); may be 0.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(8, 3)), np.eye(2)[rng.integers(0, 2, 8)]
    >>> theta, v = rng.normal(size=(2, n_params([3, 4, 2])))
    >>> parts = [hessp_sum(theta, v, X[s], Y[s], [3, 4, 2])
    ...          for s in (slice(0, 5), slice(5, 8))]
    >>> Hv_sum, W = (sum(p) for p in zip(*parts))
    >>> bool(np.allclose(Hv_sum / W, hessp(theta, v, X, Y, [3, 4, 2])))
    True
    """
    if curvature not in ("exact", "gauss-newton"):
        raise ValueError(
            f"curvature must be 'exact' or 'gauss-newton', got {curvature!r}."
        )
    source = _source(
        X,
        Y,
        sample_weight,
        layer_sizes,
        (activation, output_activation, loss),
        chunk_size,
        None,
        workspace,
    )
    spec = source.spec
    theta = spec.check_theta(theta)
    v = spec.check_theta(v, "v")
    return source.hessp_sum(theta, v, curvature)


def numerical_gradient(
    fun: Callable[[NDArray], float], theta: ArrayLike, eps: float = 1e-4
) -> NDArray:
    """Central finite differences (J(θ + ε e_k) - J(θ - ε e_k)) / 2ε.

    Parameters
    ----------
    fun : callable
        ``fun(theta) -> J``, a scalar function of the flat parameter vector.
    theta : array-like of shape (n_params,)
        Where to differentiate.
    eps : float, default=1e-4
        Step ε.

    Returns
    -------
    grad : ndarray of shape (n_params,)
        The numerical gradient, in float64.

    Examples
    --------
    >>> import numpy as np
    >>> numerical_gradient(lambda t: float(t @ t), np.array([1.0, -2.0]))
    array([ 2., -4.])
    """
    theta = np.array(theta, dtype=np.float64)
    grad = np.empty_like(theta)
    for k in range(theta.size):
        saved = theta[k]
        theta[k] = saved + eps
        plus = fun(theta)
        theta[k] = saved - eps
        minus = fun(theta)
        theta[k] = saved
        grad[k] = (plus - minus) / (2 * eps)
    return grad


def gradient_check(
    theta: ArrayLike,
    X: ArrayLike,
    Y: ArrayLike,
    layer_sizes: Sequence[int],
    *,
    eps: float = 1e-4,
    **kwargs,
) -> float:
    """Relative error ‖g_num - g‖ / ‖g_num + g‖ of :func:`cost_grad`'s gradient.

    Parameters
    ----------
    theta, X, Y, layer_sizes
        As for :func:`cost_grad`.
    eps : float, default=1e-4
        Finite-difference step, see :func:`numerical_gradient`.
    **kwargs
        Keyword arguments of :func:`cost_grad` (alpha, activation, ...).

    Returns
    -------
    error : float
        About 1e-9 or less when the gradient is right (in float64).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(5, 3)), np.eye(2)[[0, 1, 1, 0, 1]]
    >>> theta = rng.normal(size=n_params([3, 4, 2]))
    >>> gradient_check(theta, X, Y, [3, 4, 2], alpha=1.0) < 1e-8
    True
    """
    _, grad = cost_grad(theta, X, Y, layer_sizes, **kwargs)
    num = numerical_gradient(
        lambda t: cost_grad(t, X, Y, layer_sizes, **kwargs)[0], theta, eps
    )
    denom = np.linalg.norm(num + grad)
    return float(np.linalg.norm(num - grad) / denom) if denom else 0.0


# A loss for each output, so that a network without targets has a spec.
_SOME_LOSS = dict(LOSSES.keys())  # output -> one of its losses


def _outputs(theta, X, layer_sizes, activation, output_activation):
    """(spec, θ's Θ^(l), X) of a call about the network's outputs alone."""
    check_names(activation, output_activation, None)
    X = as_rows(X)
    spec = _spec(
        layer_sizes,
        activation,
        output_activation,
        _SOME_LOSS[output_activation],
        X.dtype,
    )
    if X.ndim != 2 or X.shape[1] != spec.layer_sizes[0]:
        raise ValueError(
            f"X must have shape (n_samples, {spec.layer_sizes[0]}), got {X.shape}."
        )
    return spec, spec.unpack(spec.check_theta(theta)), X


def jacobian(
    theta: ArrayLike,
    X: ArrayLike,
    layer_sizes: Sequence[int],
    *,
    activation: str = "logistic",
    output_activation: str = "identity",
) -> NDArray:
    """The Jacobian ∂ŷ/∂θ of the network's outputs, computed analytically.

    One backward pass per output unit k (the notes' backpropagation with
    δ^(L) = ∂ŷ_k/∂z^(L)), keeping each row's Δ^(l) = δ_i^(l+1) [1, a_i^(l)]ᵀ
    apart: never by finite differences.

    Parameters
    ----------
    theta : array-like of shape (n_params,)
        All Θ^(l) flattened (see :func:`pack`).
    X : {array-like, sparse matrix} of shape (n_samples, S_1)
        Input rows (sparse X is made dense: J itself is dense). float32 X is
        computed in float32, anything else in float64.
    layer_sizes : sequence of int
        ``[S_1, ..., S_L]``.
    activation : {"logistic", "tanh", "relu", "identity"}, default="logistic"
        Hidden-unit activation g.
    output_activation : {"identity", "logistic", "softmax"}, default="identity"
        Activation of the output units ŷ = a^(L).

    Returns
    -------
    J : ndarray of shape (n_samples * S_L, n_params)
        ∂ŷ_ik/∂θ_j in row i·S_L + k (sample-major) and column j (θ's packed
        order).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, theta = rng.normal(size=(5, 3)), rng.normal(size=n_params([3, 4, 2]))
    >>> J = jacobian(theta, X, [3, 4, 2])
    >>> J.shape
    (10, 26)
    >>> step = 1e-6 * np.eye(theta.size)[7]
    >>> numeric = (forward(unpack(theta + step, [3, 4, 2]), X,
    ...                    output_activation="identity")[-1]
    ...            - forward(unpack(theta - step, [3, 4, 2]), X,
    ...                      output_activation="identity")[-1]) / 2e-6
    >>> bool(np.allclose(J[:, 7], numeric.ravel(), atol=1e-8))
    True
    """
    spec, thetas, X = _outputs(theta, X, layer_sizes, activation, output_activation)
    return _jacobian.jacobian(thetas, X, spec)


def jvp(
    theta: ArrayLike,
    v: ArrayLike,
    X: ArrayLike,
    layer_sizes: Sequence[int],
    *,
    activation: str = "logistic",
    output_activation: str = "identity",
) -> NDArray:
    """The Jacobian-vector product J·v, by the R-operator's forward pass.

    R{z^(l+1)} = V^(l) [1; a^(l)] + Θ^(l) [0; R{a^(l)}] and
    R{a^(l+1)} = g'(z^(l+1)) ⊙ R{z^(l+1)} (Pearlmutter 1994): the change of
    the outputs along v, without forming J.

    Parameters
    ----------
    theta : array-like of shape (n_params,)
        Where J is taken.
    v : array-like of shape (n_params,)
        The direction, packed like ``theta``.
    X, layer_sizes, activation, output_activation
        As for :func:`jacobian`.

    Returns
    -------
    Jv : ndarray of shape (n_samples, S_L)
        Row i holds Σ_j ∂ŷ_i/∂θ_j v_j (``(J @ v).reshape(n_samples, S_L)``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(5, 3))
    >>> theta, v = rng.normal(size=(2, n_params([3, 4, 2])))
    >>> Jv = jvp(theta, v, X, [3, 4, 2])
    >>> bool(np.allclose(Jv.ravel(), jacobian(theta, X, [3, 4, 2]) @ v))
    True
    """
    spec, thetas, X = _outputs(theta, X, layer_sizes, activation, output_activation)
    vs = spec.unpack(spec.check_theta(v, "v"))
    return _jacobian.jvp(thetas, vs, X, spec)


def vjp(
    theta: ArrayLike,
    U: ArrayLike,
    X: ArrayLike,
    layer_sizes: Sequence[int],
    *,
    activation: str = "logistic",
    output_activation: str = "identity",
) -> NDArray:
    """The vector-Jacobian product Jᵀ·vec(U), by one backward pass.

    The notes' backpropagation with δ^(L) = (∂ŷ/∂z^(L))ᵀ U in place of a
    loss's output error, and Δ^(l) summed over the rows.

    Parameters
    ----------
    theta : array-like of shape (n_params,)
        Where J is taken.
    U : array-like of shape (n_samples, S_L)
        One weight per output of each row.
    X, layer_sizes, activation, output_activation
        As for :func:`jacobian`.

    Returns
    -------
    JTu : ndarray of shape (n_params,)
        Σ_ik U_ik ∂ŷ_ik/∂θ (``jacobian(...).T @ U.ravel()``), packed like
        ``theta``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, U = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    >>> theta = rng.normal(size=n_params([3, 4, 2]))
    >>> JTu = vjp(theta, U, X, [3, 4, 2])
    >>> bool(np.allclose(JTu, jacobian(theta, X, [3, 4, 2]).T @ U.ravel()))
    True
    """
    spec, thetas, X = _outputs(theta, X, layer_sizes, activation, output_activation)
    U = np.asarray(U, dtype=spec.dtype)
    if U.shape != (X.shape[0], spec.layer_sizes[-1]):
        raise ValueError(
            f"U must have shape ({X.shape[0]}, {spec.layer_sizes[-1]}), got {U.shape}."
        )
    return _jacobian.vjp(thetas, U, X, spec, np.empty(spec.n_params, spec.dtype))
