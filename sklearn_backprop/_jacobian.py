"""The network's Jacobian ∂ŷ/∂θ: products with it, and the whole matrix.

ŷ = a^(L) are the network's outputs, θ all Θ^(l) packed. J·v is the
R-operator's forward pass (Pearlmutter 1994): R{z^(l+1)} = V^(l) [1; a^(l)]
+ Θ^(l) [0; R{a^(l)}], R{a} = g'(z) ⊙ R{z}, R{ŷ} = (∂a^(L)/∂z^(L)) R{z^(L)}.
Jᵀ·u is one backward pass of the notes' backpropagation with the output
error δ^(L) = (∂a^(L)/∂z^(L))ᵀ u in place of the loss's. The whole J runs
that backward pass once per output unit k, keeping each row's Δ^(l) =
δ_i^(l+1) [1, a_i^(l)]ᵀ apart instead of summing them.
"""

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from sklearn_backprop._kernel import forward, matmul_t
from sklearn_backprop._losses import OUTPUT_ACTIVATIONS
from sklearn_backprop._spec import NetworkSpec


def _forward(thetas, X, spec: NetworkSpec):
    """a^(1), ..., a^(L) (a^(L) = ŷ) and g'(z^(l)) of the hidden layers."""
    acts = forward(thetas, X, spec.activation, spec.loss.output)
    slopes = [None] + [spec.activation.slope(A) for A in acts[1:-1]]
    return acts, slopes


def jvp(thetas, vs, X, spec: NetworkSpec) -> NDArray:
    """J·v as an (n_samples, K) array: R{ŷ} along the direction ``vs``."""
    acts, slopes = _forward(thetas, X, spec)
    last = len(thetas) - 1
    r_act = None
    for layer, (theta, v) in enumerate(zip(thetas, vs, strict=True)):
        r_z = matmul_t(acts[layer], v)  # V^(l) [1; a^(l)]
        if layer > 0:
            r_z += r_act @ theta[:, 1:].T  # + Θ^(l) [0; R{a^(l)}]
        if layer < last:
            r_act = slopes[layer + 1] * r_z
    return OUTPUT_ACTIVATIONS[spec.loss.output].jacobian_product(acts[-1], r_z)


def _back(delta, theta, slope):
    """δ^(l) = (δ^(l+1) Θ^(l)[:, 1:]) ⊙ g'(z^(l))."""
    back = delta @ theta[:, 1:]
    back *= slope
    return back


def vjp(thetas, U, X, spec: NetworkSpec, grad: NDArray) -> NDArray:
    """Jᵀ·vec(U), written into ``grad`` (flat, θ's layout)."""
    acts, slopes = _forward(thetas, X, spec)
    output = OUTPUT_ACTIVATIONS[spec.loss.output]
    delta = output.jacobian_product(acts[-1], np.array(U, dtype=acts[-1].dtype))
    for layer in range(len(thetas) - 1, -1, -1):
        G, A = spec.unpack(grad)[layer], acts[layer]
        G[:, 0] = delta.sum(axis=0)  # Σ_i δ^(l+1): the bias column
        G[:, 1:] = (A.T @ delta).T if sp.issparse(A) else delta.T @ A
        if layer > 0:
            delta = _back(delta, thetas[layer], slopes[layer])
    return grad


def jacobian(thetas, X, spec: NetworkSpec) -> NDArray:
    """The (n_samples·K, n_params) Jacobian, rows sample-major (i·K + k)."""
    X = X.toarray() if sp.issparse(X) else X  # J itself is n·K·n_params dense
    acts, slopes = _forward(thetas, X, spec)
    n, K = acts[-1].shape
    output = OUTPUT_ACTIVATIONS[spec.loss.output]
    jac = np.empty((n, K, spec.n_params), acts[-1].dtype)
    with_bias = [np.hstack([np.ones((n, 1), A.dtype), A]) for A in acts[:-1]]
    for k in range(K):  # one backward pass per output unit
        unit = np.zeros((n, K), acts[-1].dtype)
        unit[:, k] = 1
        delta = output.jacobian_product(acts[-1], unit)  # ∂ŷ_k/∂z^(L), per row
        for layer in range(len(thetas) - 1, -1, -1):
            start, stop = spec.offsets[layer], spec.offsets[layer + 1]
            # row i: δ_i^(l+1) [1, a_i^(l)]ᵀ, flattened like Θ^(l)
            block = jac[:, k, start:stop].reshape(n, *spec.shapes[layer])
            np.einsum("ij,ik->ijk", delta, with_bias[layer], out=block)
            if layer > 0:
                delta = _back(delta, thetas[layer], slopes[layer])
    return jac.reshape(n * K, spec.n_params)
