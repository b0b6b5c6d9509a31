"""The seed's network as plain functions over arrays.

Notation follows the seed: ``layer_sizes = [S_1, ..., S_L]`` with S_1 the
number of features and S_L the number of output units; Θ^(l) has shape
(S_{l+1}, S_l + 1) and its column 0 multiplies the bias unit a_0 = 1. All Θ^(l)
live in one contiguous vector ``theta`` (the vector that
``scipy.optimize.minimize`` sees); :func:`unpack` returns reshaped views of it.

The cost is::

    J(Θ) = (1/W) Σ_i w_i loss_i + (α / (2W)) Σ_l Σ_{j≠0} (Θ^(l)_ij)²,  W = Σ_i w_i

and its gradient is the seed's D term: D = (1/W) Δ + (α/W) Θ off the bias
column, D = (1/W) Δ on it, where Δ^(l) = Σ_i δ^(l+1) (a^(l))ᵀ accumulates over
training examples. Because J and Δ are sums over rows, :func:`cost_grad`
evaluates them over row chunks, which bounds memory and lets the same
computation be map-reduced over partitions of the data.
"""

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from sklearn import get_config

from sklearn_backprop._activations import (
    ACTIVATIONS,
    DELTAS,
    FIRST_DERIVATIVES,
    SECOND_DERIVATIVES,
)
from sklearn_backprop._losses import LOSS_CURVATURES, LOSSES, OUTPUT_ACTIVATIONS
from sklearn_backprop._threads import evaluation_threads, run_in_order

__all__ = [
    "Workspace",
    "cost_grad",
    "cost_grad_sum",
    "forward",
    "gradient_check",
    "hessp",
    "hessp_sum",
    "n_params",
    "numerical_gradient",
    "pack",
    "regularize",
    "unpack",
]


def n_params(layer_sizes: Sequence[int]) -> int:
    """Number of weights in a network, bias columns included.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[S_1, ..., S_L]``.

    Returns
    -------
    n : int
        Σ_l S_{l+1} (S_l + 1).

    Examples
    --------
    >>> n_params([3, 3, 1])  # the seed's network: Θ^(1) is 3×4, Θ^(2) is 1×4
    16
    """
    return sum(
        int(s_out) * (int(s_in) + 1)
        for s_in, s_out in zip(layer_sizes[:-1], layer_sizes[1:], strict=False)
    )


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
    thetas, start = [], 0
    for s_in, s_out in zip(layer_sizes[:-1], layer_sizes[1:], strict=False):
        stop = start + s_out * (s_in + 1)
        thetas.append(theta[start:stop].reshape(s_out, s_in + 1))
        start = stop
    return thetas


def _check_names(activation: str, output_activation: str, loss: str | None) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"activation={activation!r} is not supported; "
            f"choose one of {sorted(ACTIVATIONS)}."
        )
    if output_activation not in OUTPUT_ACTIVATIONS:
        raise ValueError(
            f"output_activation={output_activation!r} is not supported; "
            f"choose one of {sorted(OUTPUT_ACTIVATIONS)}."
        )
    if loss is not None and (output_activation, loss) not in LOSSES:
        pairs = ", ".join(f"{o}+{lo}" for o, lo in LOSSES)
        raise ValueError(
            f"loss={loss!r} cannot be combined with output_activation="
            f"{output_activation!r}; supported pairs: {pairs}."
        )


def _matmul_t(A, theta: NDArray) -> NDArray:
    """A Θ[:, 1:]ᵀ + Θ[:, 0], the seed's z = Θ a with the bias unit a_0 = 1."""
    Z = A @ theta[:, 1:].T
    Z += theta[:, 0]
    return Z


def forward(
    thetas: Sequence[NDArray],
    X: ArrayLike,
    *,
    activation: str = "logistic",
    output_activation: str = "logistic",
) -> list[NDArray]:
    """Forward propagation: the activations a^(1), ..., a^(L) of every layer.

    Implements the seed's equations (1)-(4): z^(l+1) = Θ^(l) a^(l) with the
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
    _check_names(activation, output_activation, None)
    A = X if sp.issparse(X) else np.asarray(X)
    activations = [A]
    for layer, theta in enumerate(thetas):
        A = _matmul_t(A, np.asarray(theta))
        if layer < len(thetas) - 1:
            ACTIVATIONS[activation](A)
        else:
            OUTPUT_ACTIVATIONS[output_activation](A)
        activations.append(A)
    return activations


class Workspace:
    """Scratch space reused by :func:`cost_grad` across calls.

    Holds the activation buffers of every layer for one row chunk, the
    back-propagation scratch and per-row losses. Pass the same instance to
    repeated :func:`cost_grad` calls (as an optimiser does) and no memory
    proportional to the number of samples is allocated after the first call.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(20, 3)), np.eye(2)[rng.integers(0, 2, 20)]
    >>> ws, theta = Workspace(), rng.normal(size=n_params([3, 4, 2]))
    >>> J1, _ = cost_grad(theta, X, Y, [3, 4, 2], workspace=ws)
    >>> J2, _ = cost_grad(theta, X, Y, [3, 4, 2], workspace=ws)
    >>> J1 == J2
    True
    """

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._capacity = 0
        self._vectors: dict[str, NDArray] = {}

    def _sized(self, n_rows: int, layer_sizes: Sequence[int], dtype) -> "Workspace":
        """Size the buffers for ``n_rows`` rows; reallocates only when they grow.

        Afterwards ``acts`` holds one (n_rows, S_l) buffer per layer l >= 2,
        ``back`` the back-propagation scratch, ``out_scratch`` an
        (n_rows, S_L) scratch for the loss, ``row_loss``, ``vec`` and ``ones``
        three (n_rows,) vectors, and ``dW`` and ``db`` one contiguous
        (S_{l+1}, S_l) and (S_{l+1},) buffer per Θ^(l) for a chunk's Δ^(l)
        before it is added to the sum of earlier chunks.
        """
        key = (tuple(layer_sizes), np.dtype(dtype))
        if key != self._key or n_rows > self._capacity:
            hidden = max(layer_sizes[1:-1], default=0)
            self._acts = [np.empty(n_rows * s, dtype) for s in layer_sizes[1:]]
            self._back = np.empty(n_rows * hidden, dtype)
            self._loss = np.empty(n_rows, dtype)
            self._vec = np.empty(n_rows, dtype)
            self._out_scratch = np.empty(n_rows * layer_sizes[-1], dtype)
            self._ones = np.ones(n_rows, dtype)
            self.dW = [
                np.empty((s_out, s_in), dtype)
                for s_in, s_out in zip(layer_sizes[:-1], layer_sizes[1:], strict=False)
            ]
            self.db = [np.empty(s_out, dtype) for s_out in layer_sizes[1:]]
            self._key, self._capacity = key, n_rows
        self.acts = [
            buf[: n_rows * s].reshape(n_rows, s)
            for buf, s in zip(self._acts, layer_sizes[1:], strict=True)
        ]
        self.back = self._back
        self.row_loss = self._loss[:n_rows]
        self.vec = self._vec[:n_rows]
        self.out_scratch = self._out_scratch[: n_rows * layer_sizes[-1]].reshape(
            n_rows, layer_sizes[-1]
        )
        self.ones = self._ones[:n_rows]
        return self

    def _threads(self, n_threads: int):
        """A pool of ``n_threads - 1`` threads and one Workspace per thread.

        Each helper Workspace has its own chunk buffers, and its own "sums"
        vector (:meth:`_vector`) for its chunk's Δ.
        """
        if getattr(self, "_pool_key", None) != n_threads:
            self._pool = ThreadPoolExecutor(
                n_threads - 1, thread_name_prefix="sklearn_backprop"
            )
            self._helpers = [Workspace() for _ in range(n_threads)]
            self._pool_key = n_threads
        return self._pool, self._helpers

    def _vector(self, name: str, size: int, dtype) -> NDArray:
        """A flat scratch vector of ``size`` elements kept under ``name``:
        "weights" for derived weights, "sums" for the row chunks' Δ sums."""
        buf = self._vectors.get(name)
        if buf is None or buf.size != size or buf.dtype != dtype:
            buf = self._vectors[name] = np.empty(size, dtype)
        return buf

    def _hessp_state(self, theta, X, Y, names, compute):
        """The forward pass H·v needs at θ, cached while θ, X, Y and names stay."""
        cached = getattr(self, "_hessp_cache", None)
        if (
            cached is None
            or cached[1] is not X
            or cached[2] is not Y
            or cached[3] != names
            or not np.array_equal(cached[0], theta)
        ):
            cached = (theta.copy(), X, Y, names, compute())
            self._hessp_cache = cached
        return cached[4]


def _default_chunk_size(n: int, layer_sizes: Sequence[int], dtype) -> int:
    """Rows whose workspace fits scikit-learn's ``working_memory`` (MiB)."""
    row_bytes = np.dtype(dtype).itemsize * (sum(layer_sizes[1:]) * 2 + 1)
    budget = get_config()["working_memory"] * 2**20
    return int(min(max(budget // row_bytes, 1), n))


# Dense evaluations run over row chunks whose inputs and activations take about
# this many bytes, so that each chunk's GEMMs and elementwise passes work on
# data a core's L2 cache holds; on the 2-core benchmark machine this makes the
# same GEMMs 1.1-1.6x faster than over all rows at once (benchmarks/README.md).
# Fewer than _MIN_CHUNK_ROWS rows would let per-chunk Python overhead show.
_CACHE_CHUNK_BYTES = 2 * 2**20
_MIN_CHUNK_ROWS = 512


def _cache_chunk_size(n: int, layer_sizes: Sequence[int], dtype) -> int:
    """Default rows per chunk of a dense evaluation: about _CACHE_CHUNK_BYTES
    of data, and never more than ``working_memory`` allows."""
    row_bytes = np.dtype(dtype).itemsize * (
        layer_sizes[0] + 2 * sum(layer_sizes[1:]) + 1
    )
    return int(
        min(
            max(_CACHE_CHUNK_BYTES // row_bytes, _MIN_CHUNK_ROWS),
            _default_chunk_size(n, layer_sizes, dtype),
        )
    )


def _tanh_form(thetas, activation, workspace):
    """Weights that propagate through the hidden layers, and their activation.

    Logistic hidden layers run as tanh units: σ(z) = ½ (1 + tanh(z/2)), so a
    layer can hold t = tanh(z/2) in place of a = σ(z), one elementwise pass
    instead of four. The ½ in z/2 is folded into the layer's own weights, and
    a = ½ (1 + t) into the next layer's: z' = (Θ'_0 + ½ Σ_j Θ'_j) + ½ Θ'_{1:} t.
    Going back, σ'(z) = a (1 - a) = ¼ (1 - t²) is the tanh unit's 1 - t²
    with the ¼ folded into the weights δ is back-propagated through, and
    :func:`_chunk_term` recovers Δ' = δ'ᵀ [1, a] from δ'ᵀ [1, t].

    Returns the forward weights per layer (shape (S_{l+1}, S_l)), their
    biases (contiguous vectors: a broadcast add reads them several times
    faster than the strided column Θ[:, 0]), the weights δ^(l+1) is
    multiplied by to reach layer l (for l >= 1, shape (S_{l+1}, S_l)) and the
    hidden activation's name.
    """
    tanh_form = activation == "logistic" and len(thetas) > 1
    n_biases = sum(theta.shape[0] for theta in thetas)
    n_folded = sum(2 * theta.size for theta in thetas) if tanh_form else 0
    flat = workspace._vector("weights", n_biases + n_folded, thetas[0].dtype)
    biases, start = [], n_folded
    for theta in thetas:
        biases.append(flat[start : start + theta.shape[0]])
        start += theta.shape[0]
    if not tanh_form:
        for bias, theta in zip(biases, thetas, strict=True):
            np.copyto(bias, theta[:, 0])
        weights = [theta[:, 1:] for theta in thetas]
        return weights, biases, weights, activation
    weights, back, start = [], [], 0
    for layer, (theta, bias) in enumerate(zip(thetas, biases, strict=True)):
        F = flat[start : start + theta.size].reshape(theta.shape)[:, 1:]
        B = flat[start + theta.size : start + 2 * theta.size].reshape(theta.shape)
        start += 2 * theta.size
        if layer == 0:
            F[...] = theta[:, 1:]
            np.copyto(bias, theta[:, 0])
            B = theta  # unused: δ is not propagated to the inputs
        else:  # the inputs are t: a = ½ (1 + t)
            np.multiply(theta[:, 1:], 0.5, out=F)
            np.add.reduce(F, axis=1, out=bias)
            bias += theta[:, 0]
            np.multiply(theta, 0.25, out=B)
        if layer < len(thetas) - 1:  # the outputs are t = tanh(z/2)
            F *= 0.5
            bias *= 0.5
        weights.append(F)
        back.append(B[:, 1:])
    return weights, biases, back, "tanh"


def _sum_blocks(flat: NDArray, layer_sizes: Sequence[int]) -> list[tuple]:
    """Views (Δ^(l) off the bias column, Δ^(l) of the bias) of a flat vector.

    The layout in which row chunks sum their Δ: contiguous (S_{l+1}, S_l)
    and (S_{l+1},) blocks, which BLAS writes and numpy adds several times
    faster than the strided Θ[:, 1:] and Θ[:, 0]; :func:`_gather` moves the
    total into Θ's layout once per evaluation.
    """
    blocks, start = [], 0
    for s_in, s_out in zip(layer_sizes[:-1], layer_sizes[1:], strict=False):
        weights = flat[start : start + s_out * s_in].reshape(s_out, s_in)
        start += s_out * s_in
        blocks.append((weights, flat[start : start + s_out]))
        start += s_out
    return blocks


def _gather(blocks, grads) -> None:
    """Write the summed Δ blocks into the gradient's Θ layout."""
    for (dW, db), G in zip(blocks, grads, strict=True):
        G[:, 0] = db
        G[:, 1:] = dW


def _chunk_term(
    weights,
    biases,
    back_weights,
    X,
    Y,
    sample_weight,
    activation,
    loss_fn,
    sums,
    workspace,
    layer_sizes,
    accumulate,
    held_as_tanh,
) -> float:
    """Σ_i w_i loss_i over one row chunk; writes (or with ``accumulate`` adds)
    the chunk's Δ^(l) into ``sums`` (:func:`_sum_blocks` views).

    ``weights``, ``biases``, ``back_weights`` and ``activation`` are
    :func:`_tanh_form`'s: the forward weights and biases, the weights δ goes
    back through, the hidden units; ``held_as_tanh`` says whether logistic
    hidden units are held as t = tanh(z/2) (then ``activation`` is "tanh").
    """
    ws = workspace._sized(X.shape[0], layer_sizes, sums[0][0].dtype)
    last = len(weights) - 1
    # Forward propagation: z^(l+1) = Θ^(l) [1; a^(l)], a^(l+1) = g(z^(l+1)).
    A = X
    for layer, (W, Z) in enumerate(zip(weights, ws.acts, strict=True)):
        if sp.issparse(A):
            Z[...] = A @ W.T
        else:
            np.matmul(A, W.T, out=Z)
        Z += biases[layer]
        if layer < last:
            ACTIVATIONS[activation](Z)
        A = Z
    # Output layer: per-row loss, and z^(L) is overwritten with δ^(L).
    delta = ws.acts[-1]
    loss_fn(delta, Y, ws.row_loss, ws.out_scratch, ws.vec)
    if sample_weight is None:
        J = float(ws.row_loss.sum())
    else:
        J = float(ws.row_loss @ sample_weight)
        delta *= sample_weight[:, None]
    # Backward propagation: Δ^(l) = δ^(l+1) [1, a^(l)] summed over rows, then
    # δ^(l) = (Θ^(l)ᵀ δ^(l+1)) ⊙ g'(z^(l)), written over a^(l) once it is used.
    for layer in range(last, -1, -1):
        A = X if layer == 0 else ws.acts[layer - 1]
        dW, db = (ws.dW[layer], ws.db[layer]) if accumulate else sums[layer]
        if sp.issparse(A):
            dW[...] = (A.T @ delta).T
        else:
            np.matmul(delta.T, A, out=dW)
        np.matmul(ws.ones, delta, out=db)  # Σ_i δ^(l+1): the bias column
        if layer > 0 and held_as_tanh:  # δᵀ a = ½ δᵀ (1 + t): see _tanh_form
            dW += db[:, None]
            dW *= 0.5
        if accumulate:
            W_sum, b_sum = sums[layer]
            W_sum += dW
            b_sum += db
        if layer > 0:
            B = ws.back[: A.size].reshape(A.shape)
            if delta.shape[1] == 1:  # an outer product, which GEMM does slowly
                np.multiply(delta, back_weights[layer], out=B)
            else:
                np.matmul(delta, back_weights[layer], out=B)
            DELTAS[activation](A, B)
            delta = A
    return J


def _prepare(
    theta,
    X,
    Y,
    layer_sizes,
    activation,
    output_activation,
    loss,
    sample_weight,
    chunk_size,
):
    """Validate and convert the arguments shared by cost_grad and hessp.

    Returns X, Y, θ and the weights in the computation's dtype (float32 for
    float32 X, float64 otherwise), the total weight W and the chunk size.
    """
    _check_names(activation, output_activation, loss)
    layer_sizes = [int(s) for s in layer_sizes]
    if len(layer_sizes) < 2:
        raise ValueError(
            "layer_sizes needs at least an input and an output size, got "
            f"{layer_sizes}."
        )
    if sp.issparse(X):
        X = X if X.format in ("csr", "csc") else X.tocsr()  # row slicing
    else:
        X = np.asarray(X)
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    if X.dtype != dtype:
        X = X.astype(dtype)
    Y = np.asarray(Y, dtype=dtype)
    n = X.shape[0]
    if X.ndim != 2 or X.shape[1] != layer_sizes[0]:
        raise ValueError(
            f"X must have shape (n_samples, {layer_sizes[0]}), got {X.shape}."
        )
    if Y.shape != (n, layer_sizes[-1]):
        raise ValueError(f"Y must have shape ({n}, {layer_sizes[-1]}), got {Y.shape}.")
    theta = np.ascontiguousarray(theta, dtype=dtype)
    unpack(theta, layer_sizes)  # checks the length
    if sample_weight is None:
        W = float(n)
    else:
        sample_weight = np.asarray(sample_weight, dtype=dtype)
        if sample_weight.shape != (n,):
            raise ValueError(
                f"sample_weight must have shape ({n},), got {sample_weight.shape}."
            )
        if np.any(sample_weight < 0):
            raise ValueError("sample_weight must be non-negative.")
        W = float(sample_weight.sum())
    if chunk_size is None:
        chunk_size = _default_chunk_size(n, layer_sizes, dtype)
    elif not isinstance(chunk_size, Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}.")
    return X, Y, theta, sample_weight, W, chunk_size


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
    """Regularised cost J(Θ) and its gradient, the seed's D terms, in one pass.

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
        ``working_memory`` configuration (``sklearn.set_config``) and, for
        dense X, by what a core's cache holds (about 2 MiB of inputs and
        activations, at least 512 rows), which is faster than all rows at
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
    J_sum, grad, W = cost_grad_sum(
        theta,
        X,
        Y,
        layer_sizes,
        activation=activation,
        output_activation=output_activation,
        loss=loss,
        sample_weight=sample_weight,
        workspace=workspace,
        chunk_size=chunk_size,
        out=out,
        n_threads=n_threads,
    )
    return regularize(theta, J_sum, grad, W, layer_sizes, alpha=alpha)


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
    default_chunks = chunk_size is None
    X, Y, theta, sample_weight, W, chunk_size = _prepare(
        theta,
        X,
        Y,
        layer_sizes,
        activation,
        output_activation,
        loss,
        sample_weight,
        chunk_size,
    )
    layer_sizes = [int(s) for s in layer_sizes]
    dtype, n = theta.dtype, X.shape[0]
    if default_chunks and not sp.issparse(X):
        chunk_size = _cache_chunk_size(n, layer_sizes, dtype)
    thetas = unpack(theta, layer_sizes)
    if out is None:
        grad = np.zeros(theta.size, dtype)
    elif out.shape != theta.shape or out.dtype != dtype:
        raise ValueError(
            f"out must be a {np.dtype(dtype)} vector of shape {theta.shape}, got "
            f"{out.dtype} of shape {out.shape}."
        )
    else:
        grad = out
    workspace = Workspace() if workspace is None else workspace
    loss_fn = LOSSES[output_activation, loss]

    weights, biases, back_weights, hidden = _tanh_form(thetas, activation, workspace)

    def chunk(i, ws, sums, accumulate):
        start, stop = i * chunk_size, min((i + 1) * chunk_size, n)
        return _chunk_term(
            weights,
            biases,
            back_weights,
            X[start:stop],
            Y[start:stop],
            None if sample_weight is None else sample_weight[start:stop],
            hidden,
            loss_fn,
            sums,
            ws,
            layer_sizes,
            accumulate=accumulate,
            held_as_tanh=hidden != activation,
        )

    n_chunks = -(-n // chunk_size)
    n_threads = _check_n_threads(n_threads, n_chunks)
    J = 0.0
    total = workspace._vector("sums", theta.size, dtype)
    blocks = _sum_blocks(total, layer_sizes)
    if n_threads == 1:
        for i in range(n_chunks):  # the first chunk writes Δ, later ones add
            J += chunk(i, workspace, blocks, accumulate=i > 0)
    else:
        pool, helpers = workspace._threads(n_threads)

        def compute(i, worker):
            part = helpers[worker]._vector("sums", theta.size, dtype)
            return chunk(i, helpers[worker], _sum_blocks(part, layer_sizes), False)

        def combine(i, worker, J_chunk):  # in chunk order: the serial sums
            nonlocal J
            J += J_chunk
            part = helpers[worker]._vector("sums", theta.size, dtype)
            if i == 0:
                np.copyto(total, part)
            else:
                np.add(total, part, out=total)

        run_in_order(n_chunks, compute, combine, pool, n_threads)
    if n == 0:
        grad[...] = 0
    else:
        _gather(blocks, unpack(grad, layer_sizes))
    return J, grad, W


def _check_n_threads(n_threads, n_chunks: int) -> int:
    """Threads for ``n_chunks`` chunks: as asked, or BLAS's own number if None."""
    if n_threads is None:
        n_threads = evaluation_threads()
    elif not isinstance(n_threads, Integral) or n_threads < 1:
        raise ValueError(f"n_threads must be a positive integer, got {n_threads!r}.")
    return int(max(min(n_threads, n_chunks), 1))


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
    if not W > 0:
        raise ValueError("the data need at least one sample with positive weight.")
    theta = np.asarray(theta, dtype=grad_sum.dtype)
    grad_sum /= W
    J = J_sum / W
    for theta_l, grad_l in zip(
        unpack(theta, layer_sizes), unpack(grad_sum, layer_sizes), strict=True
    ):
        weights = theta_l[:, 1:]
        J += 0.5 * alpha / W * float(np.vdot(weights, weights))
        grad_l[:, 1:] += (alpha / W) * weights
    return float(J), grad_sum


def _t_dot(D: NDArray, A) -> NDArray:
    """Dᵀ A for dense D and dense or sparse A."""
    return (A.T @ D).T if sp.issparse(A) else D.T @ A


def _hessp_forward(thetas, X, Y, activation, out_act, loss):
    """What H·v needs at θ whatever v is: a^(l), g'(z^(l)), unweighted δ^(L)."""
    acts = forward(thetas, X, activation=activation, output_activation="identity")
    slopes = [None] + [FIRST_DERIVATIVES[activation](A) for A in acts[1:-1]]
    delta = acts[-1].copy()
    LOSSES[out_act, loss](delta, Y, np.empty(len(delta), delta.dtype))
    return acts, slopes, delta


def _chunk_hessp(thetas, vs, state, Y, sample_weight, activation, out_act, loss, exact):
    """R{Δ^(l)} over one row chunk: Pearlmutter's R-operator on backprop.

    ``state`` is :func:`_hessp_forward`'s result for the chunk at θ.
    """
    last = len(thetas) - 1
    second = SECOND_DERIVATIVES[activation]
    acts, slopes, delta = state
    ones = np.ones(len(delta), delta.dtype)
    # R-forward: R{z^(l+1)} = Θ R{a^(l)} + V [1; a^(l)],
    # R{a^(l+1)} = g'(z^(l+1)) ⊙ R{z^(l+1)}, with R{a^(1)} = 0.
    r_zs, r_acts = [None], [None]
    for layer, (theta, v) in enumerate(zip(thetas, vs, strict=True)):
        r_z = _matmul_t(acts[layer], v)
        if layer > 0:
            r_z += r_acts[layer] @ theta[:, 1:].T
        r_zs.append(r_z)
        if layer < last:
            r_acts.append(slopes[layer + 1] * r_z)
    # Output layer: R{δ^(L)} = (∂²loss/∂z²) R{z^(L)}.
    r_delta = LOSS_CURVATURES[out_act, loss](acts[-1], Y, r_zs[-1], delta, not exact)
    if sample_weight is not None:
        delta = delta * sample_weight[:, None]  # the cached δ^(L) stays unweighted
        r_delta *= sample_weight[:, None]
    r_grads = []
    for layer in range(last, -1, -1):
        theta, v, A = thetas[layer], vs[layer], acts[layer]
        # R{Δ} = R{δ^(l+1)} [1, a^(l)] + δ^(l+1) [0, R{a^(l)}]
        r_grad = np.empty_like(theta)
        r_grad[:, 0] = ones @ r_delta  # Σ_i R{δ^(l+1)}: faster than .sum(axis=0)
        r_grad[:, 1:] = _t_dot(r_delta, A)
        if exact and layer > 0:
            r_grad[:, 1:] += delta.T @ r_acts[layer]
        r_grads.append(r_grad)
        if layer > 0:
            # δ^(l) = (Θᵀδ^(l+1)) ⊙ g'; R{δ^(l)} by the product rule.
            back = delta @ theta[:, 1:]
            r_delta = r_delta @ theta[:, 1:]
            slope = slopes[layer]
            if exact:
                r_delta += delta @ v[:, 1:]
                r_delta *= slope
                curvature = second(A, slope)
                curvature *= back
                curvature *= r_zs[layer]
                r_delta += curvature
            else:
                r_delta *= slope
            back *= slope
            delta = back
    return r_grads[::-1]


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
        Rows per chunk. None bounds the chunk's memory by scikit-learn's
        ``working_memory`` configuration only: the whole forward pass at θ
        is cached while it fits (see ``workspace``).
    workspace : Workspace, default=None
        When given and the data fit in one chunk, the forward pass at θ
        (activations, g' and δ^(L)) is kept in it and reused by later calls
        at the same θ and data, as an optimiser's inner CG makes them: each
        such call then costs one R-forward and one backward pass.

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
    return regularize(v, 0.0, Hv_sum, W, layer_sizes, alpha=alpha)[1]


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
    X, Y, theta, sample_weight, W, chunk_size = _prepare(
        theta,
        X,
        Y,
        layer_sizes,
        activation,
        output_activation,
        loss,
        sample_weight,
        chunk_size,
    )
    layer_sizes = [int(s) for s in layer_sizes]
    v = np.ascontiguousarray(v, dtype=theta.dtype)
    thetas, vs = unpack(theta, layer_sizes), unpack(v, layer_sizes)
    out = np.zeros_like(theta)
    out_layers = unpack(out, layer_sizes)
    names = (activation, output_activation, loss)
    for start in range(0, X.shape[0], chunk_size):
        stop = min(start + chunk_size, X.shape[0])
        Xc, Yc = X[start:stop], Y[start:stop]
        if workspace is not None and stop - start == X.shape[0]:
            state = workspace._hessp_state(
                theta, X, Y, names, partial(_hessp_forward, thetas, Xc, Yc, *names)
            )
        else:
            state = _hessp_forward(thetas, Xc, Yc, *names)
        r_grads = _chunk_hessp(
            thetas,
            vs,
            state,
            Yc,
            None if sample_weight is None else sample_weight[start:stop],
            activation,
            output_activation,
            loss,
            curvature == "exact",
        )
        for total, part in zip(out_layers, r_grads, strict=True):
            total += part
    return out, W


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
