"""The network's Jacobian: J, J·v and Jᵀ·u agree with each other and with
central finite differences of the forward pass."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from sklearn_backprop.network import forward, jacobian, jvp, n_params, unpack, vjp

LAYERS = [[3, 5, 2], [4, 3, 4, 3], [3, 1], [2, 6, 1]]


def outputs(theta, X, layer_sizes, activation, output_activation):
    thetas = unpack(theta, layer_sizes)
    return forward(
        thetas, X, activation=activation, output_activation=output_activation
    )[-1]


def problem(seed, layer_sizes, n=7, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, layer_sizes[0]))
    theta = rng.normal(scale=0.7, size=n_params(layer_sizes))
    return X.astype(dtype), theta.astype(dtype), rng


@pytest.mark.parametrize("layer_sizes", LAYERS)
def test_jacobian_equals_central_differences_of_forward(
    layer_sizes, activation, output_activation
):
    X, theta, _ = problem(0, layer_sizes)
    if activation == "relu":  # keep every unit away from its kink
        X = np.abs(X) + 0.5
        theta = np.abs(theta)
    args = (layer_sizes, activation, output_activation)
    J = jacobian(
        theta, X, *args[:1], activation=activation, output_activation=output_activation
    )
    K = layer_sizes[-1]
    assert J.shape == (len(X) * K, theta.size)
    h = 1e-6
    numeric = np.empty_like(J)
    for j in range(theta.size):
        step = np.zeros_like(theta)
        step[j] = h
        diff = outputs(theta + step, X, *args) - outputs(theta - step, X, *args)
        numeric[:, j] = (diff / (2 * h)).ravel()  # row i·K + k
    scale = np.abs(numeric).max()
    assert_allclose(J, numeric, rtol=1e-6, atol=1e-6 * scale)


@pytest.mark.parametrize("layer_sizes", LAYERS)
@pytest.mark.parametrize("sparse", [False, True])
def test_jvp_and_vjp_equal_products_with_the_jacobian(
    layer_sizes, activation, output_activation, sparse
):
    X, theta, rng = problem(1, layer_sizes, n=9)
    if sparse:
        X[rng.random(X.shape) < 0.5] = 0
        X = sp.csr_matrix(X)
    kw = {"activation": activation, "output_activation": output_activation}
    J = jacobian(theta, X, layer_sizes, **kw)
    v = rng.normal(size=theta.size)
    U = rng.normal(size=(X.shape[0], layer_sizes[-1]))
    Jv = jvp(theta, v, X, layer_sizes, **kw)
    assert Jv.shape == U.shape
    assert_allclose(Jv.ravel(), J @ v, rtol=1e-10, atol=1e-12)
    assert_allclose(
        vjp(theta, U, X, layer_sizes, **kw), J.T @ U.ravel(), rtol=1e-10, atol=1e-12
    )


def test_float32_stays_float32_and_agrees(output_activation):
    layer_sizes = [3, 5, 2]
    X, theta, rng = problem(2, layer_sizes)
    kw = {"activation": "tanh", "output_activation": output_activation}
    v, U = rng.normal(size=theta.size), rng.normal(size=(len(X), 2))
    for f, args in ((jacobian, ()), (jvp, (v,)), (vjp, (U,))):
        r64 = f(theta, *args, X, layer_sizes, **kw)
        r32 = f(
            theta.astype(np.float32), *args, X.astype(np.float32), layer_sizes, **kw
        )
        assert r32.dtype == np.float32
        assert_allclose(r32, r64, rtol=1e-4, atol=1e-5)


def test_bad_arguments_are_refused():
    X, theta, _ = problem(3, [3, 5, 2])
    with pytest.raises(ValueError, match="32 parameters"):
        jacobian(theta[:-1], X, [3, 5, 2])
    with pytest.raises(ValueError, match="X must have shape"):
        jvp(theta, theta, X[:, :2], [3, 5, 2])
    with pytest.raises(ValueError, match="U must have shape"):
        vjp(theta, np.ones((7, 3)), X, [3, 5, 2])
    with pytest.raises(ValueError, match="output_activation='tanh'"):
        jacobian(theta, X, [3, 5, 2], output_activation="tanh")
