"""Backpropagation over one row block: forward pass, δ terms, Δ accumulation.

Everything numerical is a sum over row blocks; this module computes one
block's terms. :func:`fold` prepares the weights once per evaluation,
:func:`block_cost_grad` runs the notes' forward propagation, output δ^(L),
back-propagated δ^(l) and Δ^(l) = Σ_i δ^(l+1) [1, a^(l)]ᵀ over the block's
rows. :func:`forward` is the plain forward pass that predictions use.
"""

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from sklearn_backprop._activations import ACTIVATIONS, Activation
from sklearn_backprop._losses import OUTPUT_ACTIVATIONS, Targets
from sklearn_backprop._spec import NetworkSpec
from sklearn_backprop._workspace import Buffers, Workspace

# Weights are folded (contiguous biases; logistic hidden units held as tanh
# units, see :func:`fold`) once a block has at least this many activations.
# Measured with one thread: folding made 20000x100->100->10 (chunks of 816
# rows, 90k activations) 2-3 % faster, and breast_cancer, wine, iris and
# digits (up to 63k activations) 0-20 % slower: below it, folding costs more
# numpy calls than the elementwise passes it saves.
TANH_FORM_MIN_VALUES = 80_000


def matmul_t(A, theta: NDArray) -> NDArray:
    """A Θ[:, 1:]ᵀ + Θ[:, 0], the notes' z = Θ a with the bias unit a_0 = 1."""
    Z = A @ theta[:, 1:].T
    Z += theta[:, 0]
    return Z


def forward(
    thetas, X, activation: Activation, output_activation: str | None
) -> list[NDArray]:
    """``[a^(1), ..., a^(L)]``: the notes' forward propagation, equations (1)-(4).

    ``output_activation=None`` leaves z^(L) (the output units' pre-activations).
    """
    A = X
    activations = [A]
    last = len(thetas) - 1
    for layer, theta in enumerate(thetas):
        A = matmul_t(A, theta)
        if layer < last:
            activation.forward(A)
        elif output_activation is not None:
            OUTPUT_ACTIVATIONS[output_activation](A)
        activations.append(A)
    return activations


class Folded(NamedTuple):
    """The weights one evaluation propagates through (see :func:`fold`)."""

    weights: list[NDArray]  # forward weights (S_{l+1}, S_l) per layer
    biases: list[NDArray]  # contiguous bias vectors
    back: list[NDArray]  # weights δ^(l+1) goes back through (l >= 1)
    hidden: Activation  # the activation the hidden layers run as
    held_as_tanh: bool


def is_large(spec: NetworkSpec, n_rows: int) -> bool:
    """Whether blocks of ``n_rows`` rows are worth folding the weights for."""
    return n_rows * sum(spec.layer_sizes[1:]) >= TANH_FORM_MIN_VALUES


def use_tanh_form(spec: NetworkSpec, n_rows: int) -> bool:
    """Whether logistic hidden units of a block of ``n_rows`` run as tanh units."""
    return (
        spec.activation.name == "logistic"
        and spec.n_layers > 2
        and is_large(spec, n_rows)
    )


def fold(
    thetas, spec: NetworkSpec, workspace: Workspace, tanh_form: bool, large: bool
) -> Folded:
    """Weights that propagate through the layers, and their hidden activation.

    Biases of blocks with at least :data:`TANH_FORM_MIN_VALUES` hidden values
    are copied to contiguous vectors: a broadcast add reads them several
    times faster than the strided column Θ[:, 0], while on small blocks the
    copies cost more than they save.

    With ``tanh_form``, logistic hidden layers run as tanh units:
    σ(z) = ½ (1 + tanh(z/2)), so a layer holds t = tanh(z/2) in place of
    a = σ(z), one elementwise pass instead of four. The ½ in z/2 is folded
    into the layer's own weights, and a = ½ (1 + t) into the next layer's:
    z' = (Θ'_0 + ½ Σ_j Θ'_j) + ½ Θ'_{1:} t. Going back, σ'(z) = a (1 - a) =
    ¼ (1 - t²) is the tanh unit's 1 - t² with the ¼ folded into the weights δ
    is back-propagated through, and :func:`block_cost_grad` recovers
    Δ' = δ'ᵀ [1, a] from δ'ᵀ [1, t].
    """
    if not large:  # the lean path: Θ's own views
        weights = [theta[:, 1:] for theta in thetas]
        biases = [theta[:, 0] for theta in thetas]
        return Folded(weights, biases, weights, spec.activation, False)
    n_biases = sum(shape[0] for shape in spec.shapes)
    n_folded = 2 * spec.n_params if tanh_form else 0
    flat = workspace.vector("weights", n_biases + n_folded, spec.dtype)
    biases, start = [], n_folded
    for theta in thetas:
        biases.append(flat[start : start + theta.shape[0]])
        start += theta.shape[0]
    if not tanh_form:
        for bias, theta in zip(biases, thetas, strict=True):
            np.copyto(bias, theta[:, 0])
        weights = [theta[:, 1:] for theta in thetas]
        return Folded(weights, biases, weights, spec.activation, False)
    weights, back, start = [], [], 0
    last = len(thetas) - 1
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
        if layer < last:  # the outputs are t = tanh(z/2)
            F *= 0.5
            bias *= 0.5
        weights.append(F)
        back.append(B[:, 1:])
    return Folded(weights, biases, back, ACTIVATIONS["tanh"], True)


def block_cost_grad(
    folded: Folded,
    X,
    targets: Targets,
    spec: NetworkSpec,
    buffers: Buffers,
    sums: list[tuple[NDArray, NDArray]],
    accumulate: bool,
) -> float:
    """Σ_i w_i loss_i over one row block; writes (or with ``accumulate`` adds)
    the block's Δ^(l) into ``sums``, one (off-bias, bias) pair per Θ^(l).

    The pairs may be views of the gradient in Θ's layout (Θ[:, 1:] and
    Θ[:, 0]), or contiguous blocks that several row blocks add into.
    """
    weights, biases, back_weights, hidden, held_as_tanh = folded
    acts, back, out_scratch, vec, ones, dWs, dbs = buffers
    last = len(weights) - 1
    sparse = sp.issparse(X)  # the hidden layers' a^(l) are dense
    # Forward propagation: z^(l+1) = Θ^(l) [1; a^(l)], a^(l+1) = g(z^(l+1)).
    A = X
    for layer, (W, Z) in enumerate(zip(weights, acts, strict=True)):
        if sparse and layer == 0:
            Z[...] = A @ W.T
        else:
            np.matmul(A, W.T, out=Z)
        Z += biases[layer]
        if layer < last:
            hidden.forward(Z)
        A = Z
    # Output layer: the loss, and z^(L) is overwritten with the weighted δ^(L).
    delta = acts[-1]
    J = spec.loss.value_delta(delta, targets, out_scratch, vec)
    # Backward propagation: Δ^(l) = δ^(l+1) [1, a^(l)] summed over rows, then
    # δ^(l) = (Θ^(l)ᵀ δ^(l+1)) ⊙ g'(z^(l)), written over a^(l) once it is used.
    for layer in range(last, -1, -1):
        A = X if layer == 0 else acts[layer - 1]
        dW, db = (dWs[layer], dbs[layer]) if accumulate else sums[layer]
        if sparse and layer == 0:
            dW[...] = (A.T @ delta).T
        else:
            np.matmul(delta.T, A, out=dW)
        np.matmul(ones, delta, out=db)  # Σ_i δ^(l+1): the bias column
        if layer > 0 and held_as_tanh:  # δᵀ a = ½ δᵀ (1 + t): see fold
            dW += db[:, None]
            dW *= 0.5
        if accumulate:
            W_sum, b_sum = sums[layer]
            W_sum += dW
            b_sum += db
        if layer > 0:
            B = back[: A.size].reshape(A.shape)
            if delta.shape[1] == 1:  # an outer product, which GEMM does slowly
                np.multiply(delta, back_weights[layer], out=B)
            else:
                np.matmul(delta, back_weights[layer], out=B)
            hidden.delta(A, B)
            delta = A
    return J
