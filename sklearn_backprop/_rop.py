"""Hessian-vector products over one row block: Pearlmutter's R-operator.

R{f} = ∂f(θ + r v)/∂r at r = 0 applied to every quantity of backpropagation
(Pearlmutter 1994) gives R{Δ^(l)}, the product of the data term's Hessian
with v, in one R-forward and one backward pass; H is never formed. With the
Gauss-Newton curvature the terms in the hidden units' second derivatives and
in δ are dropped (Schraudolph 2002), which keeps the matrix positive
semi-definite.
"""

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from sklearn_backprop._kernel import forward, matmul_t
from sklearn_backprop._spec import NetworkSpec


class ForwardState(NamedTuple):
    """What H·v needs at θ whatever v is: a^(l), g'(z^(l)), unweighted δ^(L)."""

    acts: list
    slopes: list
    delta: NDArray


def forward_state(thetas, X, Y: NDArray, spec: NetworkSpec) -> ForwardState:
    """The forward pass at θ that every H·v at θ shares."""
    acts = forward(thetas, X, spec.activation, None)
    slopes = [None] + [spec.activation.slope(A) for A in acts[1:-1]]
    delta = acts[-1].copy()
    n = len(delta)
    spec.loss.value_delta(
        delta, spec.loss.targets(Y), np.empty_like(delta), np.empty(n, delta.dtype)
    )
    return ForwardState(acts, slopes, delta)


def _t_dot(D: NDArray, A) -> NDArray:
    """Dᵀ A for dense D and dense or sparse A."""
    return (A.T @ D).T if sp.issparse(A) else D.T @ A


def block_hessp(
    thetas,
    vs,
    state: ForwardState,
    Y: NDArray,
    sample_weight: NDArray | None,
    spec: NetworkSpec,
    exact: bool,
) -> list[NDArray]:
    """R{Δ^(l)} over one row block, one array per Θ^(l)."""
    last = len(thetas) - 1
    second = spec.activation.second
    acts, slopes, delta = state
    ones = np.ones(len(delta), delta.dtype)
    # R-forward: R{z^(l+1)} = Θ R{a^(l)} + V [1; a^(l)],
    # R{a^(l+1)} = g'(z^(l+1)) ⊙ R{z^(l+1)}, with R{a^(1)} = 0.
    r_zs, r_acts = [None], [None]
    for layer, (theta, v) in enumerate(zip(thetas, vs, strict=True)):
        r_z = matmul_t(acts[layer], v)
        if layer > 0:
            r_z += r_acts[layer] @ theta[:, 1:].T
        r_zs.append(r_z)
        if layer < last:
            r_acts.append(slopes[layer + 1] * r_z)
    # Output layer: R{δ^(L)} = (∂²loss/∂z²) R{z^(L)}.
    r_delta = spec.loss.curvature(acts[-1], Y, r_zs[-1], delta, not exact)
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
