"""The network functions against the seed's equations and a naive reference.

``reference_cost_grad`` below is the seed's "Backpropagation Algorithm" box
written as literally as possible: one training example at a time, bias unit
prepended by hand, δ^(L) = ∂loss/∂z^(L), δ^(l) = (Θ^(l)ᵀ δ^(l+1))[1:] ⊙ g'(z^(l)),
Δ^(l) += w_i δ^(l+1) [1; a^(l)]ᵀ, then D = (1/W) Δ + (α/W) Θ off the bias
column (the package's scaling of the seed's D = (1/m) Δ + λ Θ).
"""

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_backprop.network import (
    Workspace,
    cost_grad,
    forward,
    gradient_check,
    hessp,
    hessp_sum,
    n_params,
    numerical_gradient,
    pack,
    unpack,
)

# Particular output/loss pairs. A test that takes ``activation`` or ``pair``
# runs for every activation or supported pair (fixtures in conftest.py).
LOGISTIC_LOG_LOSS = ("logistic", "log_loss")
SOFTMAX_LOG_LOSS = ("softmax", "log_loss")
IDENTITY_SQUARED_ERROR = ("identity", "squared_error")
LOGISTIC_SQUARED_ERROR = ("logistic", "squared_error")
ARCHITECTURES = [[3, 2], [3, 4, 2], [2, 3, 4, 3], [3, 2, 3, 2, 2]]  # 0-3 hidden


# --------------------------------------------------------------------------
# Naive reference implementation (per example, as in the seed)
# --------------------------------------------------------------------------


def sigma(z):
    """1 / (1 + e^{-z}), written as exp(-log(1 + e^{-z})) so it never overflows."""
    return np.exp(-np.logaddexp(0.0, -z))


def g(name, z):
    if name == "logistic":
        return sigma(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "identity":
        return z.copy()
    raise AssertionError(name)


def g_prime(name, z):
    if name == "logistic":
        s = sigma(z)
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "relu":
        return (z > 0).astype(float)
    if name == "identity":
        return np.ones_like(z)
    raise AssertionError(name)


def output_units(name, z):
    if name == "logistic":
        return sigma(z)
    if name == "softmax":
        e = np.exp(z - z.max())
        return e / e.sum()
    if name == "identity":
        return z.copy()
    raise AssertionError(name)


def loss_and_delta(output_activation, loss, z, y):
    """One example's loss and δ^(L) = ∂loss/∂z^(L), from the definitions."""
    a = output_units(output_activation, z)
    # -log a and -log(1 - a) as log(1 + e^{∓z}), -log softmax as lse(z) - z:
    # the same quantities as -log(·) of the probabilities, without log(0)
    if (output_activation, loss) == ("logistic", "log_loss"):
        minus_log_a, minus_log_1ma = np.logaddexp(0, -z), np.logaddexp(0, z)
        return np.sum(y * minus_log_a + (1 - y) * minus_log_1ma), a - y
    if (output_activation, loss) == ("softmax", "log_loss"):
        minus_log_a = np.logaddexp.reduce(z) - z
        return np.sum(y * minus_log_a), y.sum() * a - y
    if (output_activation, loss) == ("identity", "squared_error"):
        return 0.5 * np.sum((a - y) ** 2), a - y
    if (output_activation, loss) == ("logistic", "squared_error"):
        return 0.5 * np.sum((a - y) ** 2), (a - y) * a * (1 - a)
    raise AssertionError((output_activation, loss))


def reference_forward(thetas, x, activation):
    """Activations a^(1..L) and pre-activations z^(2..L) for one example."""
    a, zs = [np.asarray(x, dtype=float)], [None]
    for layer, theta in enumerate(thetas):
        z = theta @ np.concatenate(([1.0], a[-1]))  # seed eq. (1)/(3)
        zs.append(z)
        a.append(g(activation, z) if layer < len(thetas) - 1 else z)
    return a, zs


def reference_cost_grad(
    thetas,
    X,
    Y,
    *,
    alpha=0.0,
    activation="logistic",
    output_activation="logistic",
    loss="log_loss",
    sample_weight=None,
):
    m = len(X)
    w = np.ones(m) if sample_weight is None else np.asarray(sample_weight, float)
    W = w.sum()
    Deltas = [np.zeros_like(t) for t in thetas]
    J = 0.0
    for i in range(m):
        a, zs = reference_forward(thetas, X[i], activation)
        loss_i, delta = loss_and_delta(output_activation, loss, zs[-1], Y[i])
        J += w[i] * loss_i
        for layer in range(len(thetas) - 1, -1, -1):
            a_bias = np.concatenate(([1.0], a[layer]))
            Deltas[layer] += w[i] * np.outer(delta, a_bias)
            if layer > 0:
                back = thetas[layer].T @ delta
                delta = back[1:] * g_prime(activation, zs[layer])  # bias dropped
    J /= W
    D = []
    for theta, Delta in zip(thetas, Deltas, strict=True):
        J += alpha / (2 * W) * np.sum(theta[:, 1:] ** 2)
        grad = Delta / W
        grad[:, 1:] += alpha / W * theta[:, 1:]
        D.append(grad)
    return J, np.concatenate([d.ravel() for d in D])


def hidden_pre_activations(thetas, X, activation):
    zs = [reference_forward(thetas, x, activation)[1][1:-1] for x in X]
    return np.concatenate([np.ravel(z) for row in zs for z in row] + [[np.inf]])


def kwargs_for(activation, pair, **extra):
    return dict(activation=activation, output_activation=pair[0], loss=pair[1], **extra)


# --------------------------------------------------------------------------
# pack / unpack / n_params
# --------------------------------------------------------------------------


def test_n_params_counts_bias_columns():
    assert n_params([3, 3, 1]) == 3 * 4 + 1 * 4  # the seed's network: 16
    assert n_params([2, 5]) == 5 * 3
    assert n_params([4, 3, 2, 6]) == 3 * 5 + 2 * 4 + 6 * 3


def test_unpack_returns_views_of_theta():
    layer_sizes = [3, 4, 2, 1]
    theta = np.arange(float(n_params(layer_sizes)))
    thetas = unpack(theta, layer_sizes)
    assert [t.shape for t in thetas] == [(4, 4), (2, 5), (1, 3)]
    for t in thetas:
        assert np.shares_memory(t, theta)
    # row-major layout: Θ^(1) first, then Θ^(2), ...; column 0 is the bias
    assert_array_equal(thetas[0][1], [4.0, 5.0, 6.0, 7.0])
    assert thetas[1][0, 0] == 16.0
    assert thetas[2][0, 2] == theta[-1]
    thetas[1][1, 3] = -99.0
    assert theta[16 + 5 + 3] == -99.0
    theta[0] = 42.0
    assert thetas[0][0, 0] == 42.0


def test_pack_concatenates_and_round_trips():
    rng = np.random.default_rng(0)
    layer_sizes = [2, 3, 2]
    thetas = [rng.normal(size=(3, 3)), rng.normal(size=(2, 4))]
    theta = pack(thetas)
    assert theta.shape == (n_params(layer_sizes),)
    assert_array_equal(theta, np.concatenate([thetas[0].ravel(), thetas[1].ravel()]))
    assert not any(np.shares_memory(theta, t) for t in thetas)  # a new vector
    for orig, back in zip(thetas, unpack(theta, layer_sizes), strict=True):
        assert_array_equal(back, orig)
    assert_array_equal(pack(unpack(theta, layer_sizes)), theta)
    # lists are accepted too
    assert_array_equal(pack([[[1, 2]], [[3, 4], [5, 6]]]), [1, 2, 3, 4, 5, 6])


def test_unpack_rejects_wrong_length_and_shape():
    with pytest.raises(ValueError, match="theta must be a 1-D vector of 16"):
        unpack(np.zeros(15), [3, 3, 1])
    with pytest.raises(ValueError, match="theta must be a 1-D vector"):
        unpack(np.zeros((4, 4)), [3, 3, 1])


# --------------------------------------------------------------------------
# forward
# --------------------------------------------------------------------------


def test_forward_matches_reference(activation, output_activation):
    layer_sizes = [3, 4, 3, 2]
    rng = np.random.default_rng(1)
    theta = rng.normal(size=n_params(layer_sizes))
    thetas = unpack(theta, layer_sizes)
    saved = theta.copy()
    X = rng.normal(size=(6, 3))
    X_saved = X.copy()
    acts = forward(
        thetas, X, activation=activation, output_activation=output_activation
    )
    assert len(acts) == len(layer_sizes)
    assert acts[0] is X  # a^(1) is X itself
    assert [a.shape for a in acts] == [(6, s) for s in layer_sizes]  # no bias
    for i, x in enumerate(X):
        a, zs = reference_forward(thetas, x, activation)
        for layer in range(1, len(layer_sizes) - 1):
            assert_allclose(acts[layer][i], a[layer], rtol=1e-13, atol=1e-15)
        expected_out = output_units(output_activation, zs[-1])
        assert_allclose(acts[-1][i], expected_out, rtol=1e-13, atol=1e-15)
    assert_array_equal(theta, saved)  # inputs untouched
    assert_array_equal(X, X_saved)
    if output_activation == "softmax":
        assert_allclose(acts[-1].sum(axis=1), 1.0, rtol=1e-14)


def test_forward_docstring_network_by_hand():
    # g(0 + 0) = 1/2 in every hidden unit; output g(-1.5 + 3 * 1/2) = g(0)
    T1 = np.array([[0.0, 1.0, 1.0, 1.0]] * 3)
    T2 = np.array([[-1.5, 1.0, 1.0, 1.0]])
    _, a2, a3 = forward([T1, T2], np.zeros((2, 3)))
    assert_array_equal(a2, np.full((2, 3), 0.5))
    assert_array_equal(a3, np.full((2, 1), 0.5))


# --------------------------------------------------------------------------
# The seed's worked network, computed by hand
# --------------------------------------------------------------------------

# Θ^(1) is 3×4 (θ_jk, j = 1..3 rows, k = 0..3 columns), Θ^(2) is 1×4.
SEED_T1 = [
    [0.1, -0.4, 0.25, 0.8],
    [-0.3, 0.6, -0.9, 0.2],
    [0.5, 0.15, 0.35, -0.7],
]
SEED_T2 = [[-0.2, 1.1, -0.75, 0.6]]
SEED_X = [[1.0, -2.0, 0.5], [0.3, 0.8, -1.2], [-0.6, 0.1, 2.0]]
SEED_Y = [1.0, 0.0, 1.0]


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def seed_by_hand(alpha, squared_error):
    """The seed's equations (1)-(4) and backprop box, scalar by scalar."""
    t1, t2 = SEED_T1, SEED_T2
    m = len(SEED_X)
    Delta1 = [[0.0] * 4 for _ in range(3)]
    Delta2 = [[0.0] * 4]
    J = 0.0
    hidden, outputs = [], []
    for (x1, x2, x3), y in zip(SEED_X, SEED_Y, strict=True):
        x0 = 1.0
        # equations (1)-(2)
        a2_1 = sigmoid(t1[0][0] * x0 + t1[0][1] * x1 + t1[0][2] * x2 + t1[0][3] * x3)
        a2_2 = sigmoid(t1[1][0] * x0 + t1[1][1] * x1 + t1[1][2] * x2 + t1[1][3] * x3)
        a2_3 = sigmoid(t1[2][0] * x0 + t1[2][1] * x1 + t1[2][2] * x2 + t1[2][3] * x3)
        a2_0 = 1.0
        # equations (3)-(4)
        a3_1 = sigmoid(
            t2[0][0] * a2_0 + t2[0][1] * a2_1 + t2[0][2] * a2_2 + t2[0][3] * a2_3
        )
        hidden.append([a2_1, a2_2, a2_3])
        outputs.append([a3_1])
        if squared_error:  # the seed's J = ½(ŷ - y)², δ^(3) picks up g'(z^(3))
            J += 0.5 * (a3_1 - y) ** 2
            d3_1 = (a3_1 - y) * a3_1 * (1 - a3_1)
        else:  # cross-entropy: δ^(3) = a^(3) - y
            J += -(y * math.log(a3_1) + (1 - y) * math.log(1 - a3_1))
            d3_1 = a3_1 - y
        # δ^(2) = (Θ^(2))ᵀ δ^(3) .* a^(2) .* (1 - a^(2)), no δ_0^(2)
        d2_1 = t2[0][1] * d3_1 * a2_1 * (1 - a2_1)
        d2_2 = t2[0][2] * d3_1 * a2_2 * (1 - a2_2)
        d2_3 = t2[0][3] * d3_1 * a2_3 * (1 - a2_3)
        # Δ^(l)_ij += δ_i^(l+1) a_j^(l)
        for j, a2_j in enumerate([a2_0, a2_1, a2_2, a2_3]):
            Delta2[0][j] += d3_1 * a2_j
        for i, d2_i in enumerate([d2_1, d2_2, d2_3]):
            for j, x_j in enumerate([x0, x1, x2, x3]):
                Delta1[i][j] += d2_i * x_j
    # D = (1/m) Δ + (α/m) Θ for j ≠ 0, (1/m) Δ for j = 0
    D1 = [
        [Delta1[i][j] / m + (alpha / m * t1[i][j] if j else 0.0) for j in range(4)]
        for i in range(3)
    ]
    D2 = [[Delta2[0][j] / m + (alpha / m * t2[0][j] if j else 0.0) for j in range(4)]]
    J /= m
    J += alpha / (2 * m) * sum(t[j] ** 2 for t in t1 + t2 for j in range(1, 4))
    return J, D1, D2, hidden, outputs


@pytest.mark.parametrize("alpha", [0.0, 0.7])
@pytest.mark.parametrize("squared_error", [False, True])
def test_seed_network_by_hand(alpha, squared_error):
    J_hand, D1, D2, hidden, outputs = seed_by_hand(alpha, squared_error)
    thetas = [np.array(SEED_T1), np.array(SEED_T2)]
    X, Y = np.array(SEED_X), np.array(SEED_Y)[:, None]

    a1, a2, a3 = forward(thetas, X)
    assert_allclose(a2, hidden, rtol=1e-14)
    assert_allclose(a3, outputs, rtol=1e-14)

    loss = "squared_error" if squared_error else "log_loss"
    J, grad = cost_grad(pack(thetas), X, Y, [3, 3, 1], alpha=alpha, loss=loss)
    assert isinstance(J, float)
    assert_allclose(J, J_hand, rtol=1e-13)
    G1, G2 = unpack(grad, [3, 3, 1])
    assert_allclose(G1, D1, rtol=1e-12, atol=1e-15)
    assert_allclose(G2, D2, rtol=1e-12, atol=1e-15)


def test_zero_weights_by_hand():
    # Θ = 0: every output is g(0) = 1/2, so J = K log 2 and D = mean((1/2 - y) x)
    X = np.array([[1.0, 2.0], [3.0, -1.0], [0.0, 4.0], [2.0, 2.0]])
    Y = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    J, grad = cost_grad(np.zeros(n_params([2, 2])), X, Y, [2, 2], alpha=5.0)
    assert_allclose(J, 2 * math.log(2), rtol=1e-15)
    (G,) = unpack(grad, [2, 2])
    for k in range(2):
        d = 0.5 - Y[:, k]
        assert_allclose(G[k, 0], d.mean(), rtol=1e-15, atol=1e-16)
        assert_allclose(G[k, 1:], (d[:, None] * X).mean(axis=0), rtol=1e-15)


# --------------------------------------------------------------------------
# Gradient = reference = finite differences
# --------------------------------------------------------------------------


@pytest.mark.parametrize("layer_sizes", ARCHITECTURES, ids=lambda s: f"L{len(s)}")
def test_gradient_matches_reference_and_finite_differences(
    layer_sizes, activation, pair, make_problem
):
    for seed, (weights, alpha) in enumerate(
        [(False, 0.0), (True, 0.0), (False, 0.8), (True, 1.5)]
    ):
        theta, X, Y, sw = make_problem(
            seed, layer_sizes, activation, pair, weights=weights
        )
        kw = kwargs_for(activation, pair, alpha=alpha, sample_weight=sw)
        J, grad = cost_grad(theta, X, Y, layer_sizes, **kw)
        J_ref, grad_ref = reference_cost_grad(
            unpack(theta, layer_sizes),
            X,
            Y,
            alpha=alpha,
            activation=activation,
            output_activation=pair[0],
            loss=pair[1],
            sample_weight=sw,
        )
        assert_allclose(J, J_ref, rtol=1e-12)
        assert_allclose(grad, grad_ref, rtol=1e-10, atol=1e-13)
        assert gradient_check(theta, X, Y, layer_sizes, **kw) < 1e-7
        # and against finite differences of the *reference* cost
        num = numerical_gradient(
            lambda t, kw=kw, X=X, Y=Y: reference_cost_grad(
                unpack(t, layer_sizes),
                X,
                Y,
                alpha=kw["alpha"],
                activation=activation,
                output_activation=pair[0],
                loss=pair[1],
                sample_weight=kw["sample_weight"],
            )[0],
            theta,
        )
        err = np.linalg.norm(num - grad) / np.linalg.norm(num + grad)
        assert err < 1e-7


def test_numerical_gradient_of_known_function():
    theta = np.array([1.0, -2.0, 0.5])
    # f = Σ t³: f' = 3 t², central differences are exact up to eps² f'''/6 = eps²
    num = numerical_gradient(lambda t: float(np.sum(t**3)), theta, eps=1e-3)
    assert_allclose(num, 3 * theta**2 + 1e-6, rtol=1e-9)
    assert num.dtype == np.float64
    assert_array_equal(theta, [1.0, -2.0, 0.5])  # not modified


def test_gradient_check_detects_a_wrong_gradient(monkeypatch, make_problem):
    import sklearn_backprop.network as network

    theta, X, Y, _ = make_problem(0, [3, 4, 2], "tanh", LOGISTIC_LOG_LOSS)
    assert gradient_check(theta, X, Y, [3, 4, 2], activation="tanh") < 1e-7
    real = network.cost_grad

    def wrong(*args, **kwargs):
        J, grad = real(*args, **kwargs)
        return J, 1.1 * grad

    monkeypatch.setattr(network, "cost_grad", wrong)
    err = network.gradient_check(theta, X, Y, [3, 4, 2], activation="tanh")
    assert_allclose(err, 0.1 / 2.1, rtol=1e-6)


# hypothesis strategies: small random architectures and settings
hidden_st = st.lists(st.integers(1, 4), min_size=0, max_size=3)


@st.composite
def _problems(draw, activations, pairs):
    pair = draw(st.sampled_from(pairs))
    activation = draw(st.sampled_from(activations))
    n_in = draw(st.integers(1, 4))
    n_out = draw(st.integers(2 if pair[0] == "softmax" else 1, 4))
    layer_sizes = [n_in, *draw(hidden_st), n_out]
    n = draw(st.integers(1, 6))
    weights = draw(st.booleans())
    alpha = draw(st.sampled_from([0.0, 0.1, 2.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([0.5, 1.0, 2.0]))
    return layer_sizes, activation, pair, n, weights, alpha, seed, scale


@pytest.fixture(scope="module")
def problems(activation_names, loss_pairs):
    """A strategy for (layer_sizes, activation, pair, n, weights, alpha, ...)."""
    return _problems(activation_names, loss_pairs)


def draw_problem(layer_sizes, activation, pair, n, weights, seed, scale):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, layer_sizes[0]))
    theta = rng.normal(scale=scale, size=n_params(layer_sizes))
    n_out = layer_sizes[-1]
    if pair[0] == "softmax":
        Y = np.eye(n_out)[rng.integers(0, n_out, size=n)]
    elif pair[0] == "logistic":
        Y = rng.uniform(size=(n, n_out))
    else:
        Y = rng.normal(size=(n, n_out))
    sw = rng.uniform(0.1, 3.0, size=n) if weights else None
    if activation == "relu":
        z = hidden_pre_activations(unpack(theta, layer_sizes), X, activation)
        assume(np.min(np.abs(z)) > 1e-3)
    return theta, X, Y, sw


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_property_gradient_is_right(problems, data):
    problem = data.draw(problems)
    layer_sizes, activation, pair, n, weights, alpha, seed, scale = problem
    theta, X, Y, sw = draw_problem(
        layer_sizes, activation, pair, n, weights, seed, scale
    )
    kw = kwargs_for(activation, pair, alpha=alpha, sample_weight=sw)
    J, grad = cost_grad(theta, X, Y, layer_sizes, **kw)
    J_ref, grad_ref = reference_cost_grad(
        unpack(theta, layer_sizes),
        X,
        Y,
        alpha=alpha,
        activation=activation,
        output_activation=pair[0],
        loss=pair[1],
        sample_weight=sw,
    )
    assert_allclose(J, J_ref, rtol=1e-11, atol=1e-14)
    # saturated outputs make δ = a - y an absolute-precision quantity
    assert_allclose(grad, grad_ref, rtol=1e-9, atol=1e-12)
    # Finite differences carry ~1e-16 |J| / eps of round-off per component and
    # O(eps²) truncation error, large when weights are large: use a smaller eps
    # and judge only gradients that stand clear of the round-off.
    if np.linalg.norm(grad_ref) > 1e-2 * max(1.0, J_ref):
        assert gradient_check(theta, X, Y, layer_sizes, eps=1e-5, **kw) < 1e-7


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_property_integer_weights_equal_repeated_rows(problems, data):
    problem = data.draw(problems)
    layer_sizes, activation, pair, n, _, alpha, seed, scale = problem
    theta, X, Y, _ = draw_problem(layer_sizes, activation, pair, n, False, seed, scale)
    counts = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    assume(counts.sum() > 0)
    kw = kwargs_for(activation, pair, alpha=alpha)
    J_w, grad_w = cost_grad(theta, X, Y, layer_sizes, sample_weight=counts, **kw)
    rows = np.repeat(np.arange(n), counts)
    J_r, grad_r = cost_grad(theta, X[rows], Y[rows], layer_sizes, **kw)
    assert_allclose(J_w, J_r, rtol=1e-12, atol=1e-14)
    assert_allclose(grad_w, grad_r, rtol=1e-10, atol=1e-13)


@settings(max_examples=25, deadline=None)
@given(c=st.floats(0.05, 20.0), data=st.data())
def test_property_scaling_weights_and_alpha_together_changes_nothing(problems, c, data):
    # J = (1/W) Σ w loss + α/(2W) ΣΘ²: w → c w and α → c α leave J unchanged
    problem = data.draw(problems)
    layer_sizes, activation, pair, n, _, alpha, seed, scale = problem
    theta, X, Y, sw = draw_problem(layer_sizes, activation, pair, n, True, seed, scale)
    kw = kwargs_for(activation, pair)
    J1, g1 = cost_grad(theta, X, Y, layer_sizes, alpha=alpha, sample_weight=sw, **kw)
    J2, g2 = cost_grad(
        theta, X, Y, layer_sizes, alpha=c * alpha, sample_weight=c * sw, **kw
    )
    assert_allclose(J2, J1, rtol=1e-12, atol=1e-14)
    assert_allclose(g2, g1, rtol=1e-10, atol=1e-13)


@settings(max_examples=25, deadline=None)
@given(chunk_size=st.integers(1, 7), data=st.data())
def test_property_chunk_size_changes_nothing(problems, chunk_size, data):
    problem = data.draw(problems)
    layer_sizes, activation, pair, n, weights, alpha, seed, scale = problem
    theta, X, Y, sw = draw_problem(
        layer_sizes, activation, pair, n, weights, seed, scale
    )
    kw = kwargs_for(activation, pair, alpha=alpha, sample_weight=sw)
    J1, g1 = cost_grad(theta, X, Y, layer_sizes, chunk_size=n, **kw)
    J2, g2 = cost_grad(theta, X, Y, layer_sizes, chunk_size=chunk_size, **kw)
    assert_allclose(J2, J1, rtol=1e-12, atol=1e-14)
    assert_allclose(g2, g1, rtol=1e-12, atol=1e-14 * max(np.abs(g1).max(), 1.0))


# --------------------------------------------------------------------------
# Chunking, workspace, out=
# --------------------------------------------------------------------------


class RecordingWorkspace(Workspace):
    """A Workspace that remembers how many rows each chunk had."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def buffers(self, n_rows, spec):
        self.rows.append(n_rows)
        return super().buffers(n_rows, spec)


def test_chunk_sizes_give_the_same_result(activation, pair, make_problem):
    layer_sizes = [3, 4, 3, 2]
    n = 7
    theta, X, Y, sw = make_problem(5, layer_sizes, activation, pair, n=n, weights=True)
    kw = kwargs_for(activation, pair, alpha=0.3, sample_weight=sw)
    J_ref, g_ref = reference_cost_grad(
        unpack(theta, layer_sizes),
        X,
        Y,
        alpha=0.3,
        activation=activation,
        output_activation=pair[0],
        loss=pair[1],
        sample_weight=sw,
    )
    J_n, g_n = cost_grad(theta, X, Y, layer_sizes, chunk_size=n, **kw)
    assert_allclose(J_n, J_ref, rtol=1e-12)
    assert_allclose(g_n, g_ref, rtol=1e-10, atol=1e-14)
    for chunk_size in [1, 2, 3, n, n + 5]:
        ws = RecordingWorkspace()
        J, grad = cost_grad(
            theta,
            X,
            Y,
            layer_sizes,
            chunk_size=chunk_size,
            workspace=ws,
            n_threads=1,  # the helper threads' workspaces record nothing
            **kw,
        )
        expected_rows = [min(chunk_size, n - s) for s in range(0, n, chunk_size)]
        assert ws.rows == expected_rows
        assert_allclose(J, J_n, rtol=1e-12)
        assert_allclose(grad, g_n, rtol=1e-12, atol=1e-15)


def test_working_memory_config_drives_chunking(make_problem):
    layer_sizes = [3, 5, 2]
    theta, X, Y, sw = make_problem(
        6, layer_sizes, "tanh", SOFTMAX_LOG_LOSS, n=40, weights=True
    )
    kw = kwargs_for("tanh", SOFTMAX_LOG_LOSS, alpha=0.2, sample_weight=sw)
    J_n, g_n = cost_grad(theta, X, Y, layer_sizes, chunk_size=40, **kw)
    ws = RecordingWorkspace()
    with sklearn.config_context(working_memory=1e-6):  # about one byte
        J, grad = cost_grad(theta, X, Y, layer_sizes, workspace=ws, n_threads=1, **kw)
    assert max(ws.rows) < 40 and sum(ws.rows) == 40  # it really chunked
    assert_allclose(J, J_n, rtol=1e-12)
    assert_allclose(grad, g_n, rtol=1e-12, atol=1e-15)
    ws = RecordingWorkspace()
    J, grad = cost_grad(theta, X, Y, layer_sizes, workspace=ws, **kw)  # default
    assert ws.rows == [40]
    assert_allclose(J, J_n, rtol=1e-12)
    assert_allclose(grad, g_n, rtol=1e-12, atol=1e-15)


def test_reused_workspace_matches_fresh_ones(make_problem):
    calls = [
        ([3, 4, 2], 9, "logistic", LOGISTIC_LOG_LOSS, 4),
        ([3, 4, 2], 3, "logistic", LOGISTIC_LOG_LOSS, None),  # fewer rows
        ([3, 4, 2], 20, "tanh", SOFTMAX_LOG_LOSS, 6),  # more rows
        ([2, 6, 5, 3], 11, "relu", IDENTITY_SQUARED_ERROR, 4),  # other layer sizes
        ([2, 3], 5, "identity", LOGISTIC_SQUARED_ERROR, None),  # no hidden layer
        ([3, 4, 2], 9, "logistic", LOGISTIC_LOG_LOSS, 4),  # back to the first
        ([2, 6, 5, 3], 2, "tanh", SOFTMAX_LOG_LOSS, 1),
    ]
    ws = Workspace()
    previous = []
    for seed, (layer_sizes, n, activation, pair, chunk) in enumerate(calls):
        theta, X, Y, sw = make_problem(
            seed, layer_sizes, activation, pair, n=n, weights=seed % 2 == 1
        )
        kw = kwargs_for(activation, pair, alpha=0.5, sample_weight=sw, chunk_size=chunk)
        J_fresh, g_fresh = cost_grad(theta, X, Y, layer_sizes, **kw)
        J, grad = cost_grad(theta, X, Y, layer_sizes, workspace=ws, **kw)
        assert_allclose(J, J_fresh, rtol=1e-14)
        assert_allclose(grad, g_fresh, rtol=1e-14, atol=1e-16)
        previous.append((grad, grad.copy()))
        # a returned gradient is never overwritten by a later call
        for old, saved in previous:
            assert_array_equal(old, saved)
    # a float32 call on the same workspace
    theta, X, Y, _ = make_problem(9, [3, 4, 2], "tanh", SOFTMAX_LOG_LOSS, n=6)
    kw = kwargs_for("tanh", SOFTMAX_LOG_LOSS, chunk_size=4)
    X32 = X.astype(np.float32)
    J_fresh, g_fresh = cost_grad(theta, X32, Y, [3, 4, 2], **kw)
    J, grad = cost_grad(theta, X32, Y, [3, 4, 2], workspace=ws, **kw)
    assert grad.dtype == np.float32
    assert_allclose(J, J_fresh, rtol=1e-6)
    assert_allclose(grad, g_fresh, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("chunk_size", [None, 3])
def test_reused_workspace_sees_arrays_changed_in_place(pair, chunk_size, make_problem):
    # A workspace keeps the last call's set-up for the very same arrays; what
    # it derived from their values must follow changes made in place.
    layer_sizes = [3, 4, 2]
    theta, X, Y, sw = make_problem(4, layer_sizes, "logistic", pair, n=8, weights=True)
    kw = kwargs_for("logistic", pair, alpha=0.5, chunk_size=chunk_size)
    ws = Workspace()
    for weights in (None, sw):
        cost_grad(theta, X, Y, layer_sizes, workspace=ws, sample_weight=weights, **kw)
        X *= 1.5
        Y[:] = Y[::-1]
        if weights is not None:
            weights[:3] = 0.0
        fresh = cost_grad(theta, X, Y, layer_sizes, sample_weight=weights, **kw)
        again = cost_grad(
            theta, X, Y, layer_sizes, workspace=ws, sample_weight=weights, **kw
        )
        assert_allclose(again[0], fresh[0], rtol=1e-14)
        assert_allclose(again[1], fresh[1], rtol=1e-14, atol=1e-16)
    sw[0] = -1.0
    with pytest.raises(ValueError, match="non-negative"):
        cost_grad(theta, X, Y, layer_sizes, workspace=ws, sample_weight=sw, **kw)


@pytest.mark.parametrize("chunk_size", [None, 2])
def test_out_is_written_and_returned(chunk_size, make_problem):
    layer_sizes = [3, 4, 2]
    theta, X, Y, sw = make_problem(
        3, layer_sizes, "tanh", LOGISTIC_LOG_LOSS, n=7, weights=True
    )
    kw = kwargs_for("tanh", LOGISTIC_LOG_LOSS, alpha=0.4, sample_weight=sw)
    J_ref, g_ref = cost_grad(theta, X, Y, layer_sizes, **kw)
    out = np.full(theta.size, np.nan)
    J, grad = cost_grad(theta, X, Y, layer_sizes, out=out, chunk_size=chunk_size, **kw)
    assert grad is out
    assert_allclose(J, J_ref, rtol=1e-12)
    assert_allclose(out, g_ref, rtol=1e-12, atol=1e-15)
    # reusing the same out (stale values inside) and workspace
    ws = Workspace()
    for _ in range(2):
        J, grad = cost_grad(
            theta, X, Y, layer_sizes, out=out, workspace=ws, chunk_size=2, **kw
        )
        assert grad is out
        assert_allclose(out, g_ref, rtol=1e-12, atol=1e-15)


def test_inputs_are_not_modified(make_problem):
    layer_sizes = [3, 4, 2]
    theta, X, Y, sw = make_problem(
        4, layer_sizes, "relu", SOFTMAX_LOG_LOSS, n=6, weights=True
    )
    copies = [a.copy() for a in (theta, X, Y, sw)]
    cost_grad(
        theta,
        X,
        Y,
        layer_sizes,
        alpha=1.0,
        activation="relu",
        output_activation="softmax",
        sample_weight=sw,
        chunk_size=4,
    )
    for a, saved in zip((theta, X, Y, sw), copies, strict=True):
        assert_array_equal(a, saved)


def test_sparse_input_matches_dense(make_problem):
    layer_sizes = [5, 3, 2]
    theta, X, Y, sw = make_problem(
        8, layer_sizes, "tanh", LOGISTIC_LOG_LOSS, n=8, weights=True
    )
    X[np.abs(X) < 0.8] = 0.0
    kw = kwargs_for(
        "tanh", LOGISTIC_LOG_LOSS, alpha=0.3, sample_weight=sw, chunk_size=3
    )
    J_dense, g_dense = cost_grad(theta, X, Y, layer_sizes, **kw)
    J_sparse, g_sparse = cost_grad(theta, sp.csr_matrix(X), Y, layer_sizes, **kw)
    assert_allclose(J_sparse, J_dense, rtol=1e-12)
    assert_allclose(g_sparse, g_dense, rtol=1e-12, atol=1e-15)
    acts = forward(unpack(theta, layer_sizes), sp.csr_matrix(X), activation="tanh")
    dense_acts = forward(unpack(theta, layer_sizes), X, activation="tanh")
    for a, b in zip(acts[1:], dense_acts[1:], strict=True):
        assert_allclose(a, b, rtol=1e-12)
    J_csc, g_csc = cost_grad(theta, sp.csc_matrix(X), Y, layer_sizes, **kw)
    assert_allclose(J_csc, J_dense, rtol=1e-12)
    assert_allclose(g_csc, g_dense, rtol=1e-12, atol=1e-15)


def test_coo_input_matches_dense(make_problem):
    layer_sizes = [5, 3, 2]
    theta, X, Y, _ = make_problem(8, layer_sizes, "tanh", LOGISTIC_LOG_LOSS, n=8)
    X[np.abs(X) < 0.8] = 0.0
    J_dense, g_dense = cost_grad(theta, X, Y, layer_sizes)
    J_coo, g_coo = cost_grad(theta, sp.coo_matrix(X), Y, layer_sizes)
    assert_allclose(J_coo, J_dense, rtol=1e-12)
    assert_allclose(g_coo, g_dense, rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------
# Numerical safety
# --------------------------------------------------------------------------


def test_huge_inputs_and_weights_raise_no_warnings(activation, pair, make_problem):
    layer_sizes = [3, 4, 3, 2]
    theta, X, Y, sw = make_problem(
        2, layer_sizes, activation, pair, n=6, weights=True, scale=10.0, kink=0.0
    )
    X = X * 1e6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        J, grad = cost_grad(
            theta,
            X,
            Y,
            layer_sizes,
            **kwargs_for(activation, pair, alpha=1.0, sample_weight=sw, chunk_size=4),
        )
        acts = forward(
            unpack(theta, layer_sizes),
            X,
            activation=activation,
            output_activation=pair[0],
        )
    assert np.isfinite(J) and J >= 0
    assert np.all(np.isfinite(grad))
    assert all(np.all(np.isfinite(a)) for a in acts)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extreme_logits_logistic_log_loss(dtype):
    # one input x = 1, Θ = [0, ±1e4]: z = ±1e4. loss = softplus(z) - y z
    X = np.ones((1, 1), dtype=dtype)
    cases = [
        (1e4, 0.0, 1e4, 1.0),
        (1e4, 1.0, 0.0, 0.0),
        (-1e4, 1.0, 1e4, -1.0),
        (-1e4, 0.0, 0.0, 0.0),
    ]
    for z, y, loss, delta in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            J, grad = cost_grad(np.array([0.0, z]), X, [[y]], [1, 1])
        assert J == loss
        assert grad.dtype == dtype
        assert_array_equal(grad, [delta, delta])  # δ (a^(1) with bias) = δ [1, 1]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extreme_logits_softmax(dtype):
    # two softmax units with z = (1e4, -1e4)
    theta = np.array([0.0, 1e4, 0.0, -1e4])
    X = np.ones((1, 1), dtype=dtype)
    for y, loss, delta in [
        ([1.0, 0.0], 0.0, [0.0, 0.0]),
        ([0.0, 1.0], 2e4, [1.0, -1.0]),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            J, grad = cost_grad(theta, X, [y], [1, 2], output_activation="softmax")
        assert J == loss
        assert_array_equal(grad, [delta[0], delta[0], delta[1], delta[1]])


def test_extreme_logits_through_a_hidden_layer():
    # hidden logistic units saturate to exactly 1, output z = 1e4 (a = 1), y = 0
    thetas = [np.array([[0.0, 1e4], [0.0, 1e4]]), np.array([[0.0, 5e3, 5e3]])]
    X, Y = np.array([[1.0]]), np.array([[0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        J, grad = cost_grad(pack(thetas), X, Y, [1, 2, 1])
    assert J == 1e4
    G1, G2 = unpack(grad, [1, 2, 1])
    assert_array_equal(G2, [[1.0, 1.0, 1.0]])  # δ^(3) = 1, a^(2) = (1, 1, 1)
    assert_array_equal(G1, np.zeros((2, 2)))  # g'(z^(2)) = 0 at saturation


# --------------------------------------------------------------------------
# float32
# --------------------------------------------------------------------------


def test_float32_input_computes_in_float32(activation, pair, make_problem):
    layer_sizes = [4, 5, 3]
    theta, X, Y, sw = make_problem(7, layer_sizes, activation, pair, n=12, weights=True)
    kw = kwargs_for(activation, pair, alpha=0.5, sample_weight=sw, chunk_size=5)
    J64, g64 = cost_grad(theta, X, Y, layer_sizes, **kw)
    J32, g32 = cost_grad(theta, X.astype(np.float32), Y, layer_sizes, **kw)
    assert g32.dtype == np.float32
    assert isinstance(J32, float)
    assert_allclose(J32, J64, rtol=1e-4)
    assert_allclose(g32, g64, rtol=1e-3, atol=1e-5 * np.abs(g64).max())
    out = np.empty(theta.size, np.float32)
    _, g_out = cost_grad(theta, X.astype(np.float32), Y, layer_sizes, out=out, **kw)
    assert g_out is out
    assert_allclose(out, g32, rtol=1e-6, atol=1e-7)
    # anything that is not float32 is computed in float64
    _, g_int = cost_grad(theta, np.round(X * 4).astype(np.int64), Y, layer_sizes, **kw)
    assert g_int.dtype == np.float64


# --------------------------------------------------------------------------
# Bad arguments
# --------------------------------------------------------------------------


@pytest.fixture
def base_problem(make_problem):
    layer_sizes = [3, 4, 2]
    theta, X, Y, _ = make_problem(0, layer_sizes, "logistic", LOGISTIC_LOG_LOSS, n=5)
    return theta, X, Y, layer_sizes


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"activation": "softmax"}, "activation='softmax' is not supported"),
        ({"activation": "sigmoid"}, "activation='sigmoid' is not supported"),
        ({"output_activation": "tanh"}, "output_activation='tanh' is not supported"),
        (
            {"output_activation": "identity", "loss": "log_loss"},
            "loss='log_loss' cannot be combined with output_activation='identity'",
        ),
        (
            {"output_activation": "softmax", "loss": "squared_error"},
            "loss='squared_error' cannot be combined",
        ),
        ({"loss": "hinge"}, "loss='hinge' cannot be combined"),
        ({"chunk_size": 0}, "chunk_size must be a positive integer"),
        ({"chunk_size": 2.5}, "chunk_size must be a positive integer"),
        ({"sample_weight": np.zeros(5)}, "positive weight"),
    ],
)
def test_cost_grad_rejects_bad_options(kwargs, match, base_problem):
    theta, X, Y, layer_sizes = base_problem
    with pytest.raises(ValueError, match=match):
        cost_grad(theta, X, Y, layer_sizes, **kwargs)


def test_cost_grad_rejects_bad_shapes(base_problem):
    theta, X, Y, layer_sizes = base_problem
    with pytest.raises(ValueError, match="theta must be a 1-D vector of 26"):
        cost_grad(theta[:-1], X, Y, layer_sizes)
    with pytest.raises(ValueError, match="theta must be a 1-D vector of 26"):
        cost_grad(np.append(theta, 0.0), X, Y, layer_sizes)
    with pytest.raises(ValueError, match=r"Y must have shape \(5, 2\)"):
        cost_grad(theta, X, Y[:, :1], layer_sizes)
    with pytest.raises(ValueError, match=r"Y must have shape \(5, 2\)"):
        cost_grad(theta, X, Y[:4], layer_sizes)
    with pytest.raises(ValueError, match=r"Y must have shape \(5, 2\)"):
        cost_grad(theta, X, Y[:, 0], layer_sizes)
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 3\)"):
        cost_grad(theta, X[:, :2], Y, layer_sizes)
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 3\)"):
        cost_grad(theta, X[0], Y, layer_sizes)


def test_cost_grad_rejects_sample_weight_of_wrong_length(base_problem):
    theta, X, Y, layer_sizes = base_problem
    with pytest.raises(ValueError, match="sample_weight"):
        cost_grad(theta, X, Y, layer_sizes, sample_weight=np.ones(6))
    with pytest.raises(ValueError, match="non-negative"):
        cost_grad(theta, X, Y, layer_sizes, sample_weight=-np.ones(len(X)))
    with pytest.raises(ValueError, match="out must be"):
        cost_grad(theta, X, Y, layer_sizes, out=np.empty(theta.size, np.float32))
    with pytest.raises(ValueError, match="layer_sizes"):
        cost_grad(theta, X, Y, [3])


def test_forward_rejects_unknown_activations(base_problem):
    theta, X, _, layer_sizes = base_problem
    thetas = unpack(theta, layer_sizes)
    with pytest.raises(ValueError, match="activation='softplus' is not supported"):
        forward(thetas, X, activation="softplus")
    with pytest.raises(ValueError, match="output_activation='relu' is not supported"):
        forward(thetas, X, output_activation="relu")


# --------------------------------------------------------------------------
# Hessian-vector products (R-operator) and Gauss-Newton products
# --------------------------------------------------------------------------


def _fd_hessp(theta, v, X, Y, layer_sizes, step=1e-5, **kwargs):
    """Central differences of the gradient along v."""
    g_plus = cost_grad(theta + step * v, X, Y, layer_sizes, **kwargs)[1]
    g_minus = cost_grad(theta - step * v, X, Y, layer_sizes, **kwargs)[1]
    return (g_plus - g_minus) / (2 * step)


@pytest.mark.parametrize("layer_sizes", ARCHITECTURES, ids=str)
def test_hessp_equals_finite_differences_of_gradient(
    layer_sizes, activation, pair, make_problem
):
    theta, X, Y, sw = make_problem(
        11, layer_sizes, activation, pair, n=6, weights=True, kink=1e-2
    )
    v = np.random.default_rng(12).normal(size=theta.size)
    kwargs = {
        "alpha": 0.3,
        "activation": activation,
        "output_activation": pair[0],
        "loss": pair[1],
        "sample_weight": sw,
    }
    Hv = hessp(theta, v, X, Y, layer_sizes, **kwargs)
    fd = _fd_hessp(theta, v, X, Y, layer_sizes, **kwargs)
    assert np.linalg.norm(Hv - fd) / np.linalg.norm(Hv + fd) < 1e-6


@pytest.mark.parametrize("layer_sizes", ARCHITECTURES[1:], ids=str)
def test_gauss_newton_product_is_symmetric_psd(
    layer_sizes, activation, pair, make_problem
):
    theta, X, Y, sw = make_problem(13, layer_sizes, activation, pair, n=6, weights=True)
    rng = np.random.default_rng(14)
    kwargs = {
        "activation": activation,
        "output_activation": pair[0],
        "loss": pair[1],
        "sample_weight": sw,
        "curvature": "gauss-newton",
    }
    for _ in range(3):
        u, v = rng.normal(size=(2, theta.size))
        Gu = hessp(theta, u, X, Y, layer_sizes, **kwargs)
        Gv = hessp(theta, v, X, Y, layer_sizes, **kwargs)
        assert_allclose(u @ Gv, v @ Gu, rtol=1e-10, atol=1e-14)
        assert v @ Gv >= -1e-14


@pytest.mark.parametrize(
    "pair", [LOGISTIC_LOG_LOSS, SOFTMAX_LOG_LOSS, IDENTITY_SQUARED_ERROR], ids="+".join
)
def test_gauss_newton_is_exact_without_hidden_layers_for_matching_losses(
    pair, make_problem
):
    # With no hidden layer and a matching output/loss pair, H = G exactly.
    layer_sizes = [3, 2]
    theta, X, Y, _ = make_problem(15, layer_sizes, "logistic", pair, n=7)
    v = np.random.default_rng(16).normal(size=theta.size)
    kwargs = {"output_activation": pair[0], "loss": pair[1], "alpha": 1.0}
    assert_allclose(
        hessp(theta, v, X, Y, layer_sizes, curvature="gauss-newton", **kwargs),
        hessp(theta, v, X, Y, layer_sizes, **kwargs),
        rtol=1e-12,
        atol=1e-15,
    )


def test_hessp_chunked_and_sparse_equal_plain(make_problem):
    layer_sizes = [4, 3, 2]
    theta, X, Y, sw = make_problem(
        17, layer_sizes, "tanh", SOFTMAX_LOG_LOSS, n=9, weights=True
    )
    X[np.abs(X) < 0.7] = 0.0
    v = np.random.default_rng(18).normal(size=theta.size)
    kwargs = {"activation": "tanh", "output_activation": "softmax", "sample_weight": sw}
    plain = hessp(theta, v, X, Y, layer_sizes, **kwargs)
    assert_allclose(
        hessp(theta, v, X, Y, layer_sizes, chunk_size=2, **kwargs), plain, rtol=1e-12
    )
    assert_allclose(
        hessp(theta, v, sp.csr_matrix(X), Y, layer_sizes, **kwargs), plain, rtol=1e-12
    )


def test_hessp_rejects_unknown_curvature(base_problem):
    theta, X, Y, layer_sizes = base_problem
    with pytest.raises(ValueError, match="curvature"):
        hessp(theta, theta, X, Y, layer_sizes, curvature="fisher")


def test_hessp_reuses_the_forward_pass_only_at_the_same_theta(make_problem):
    layer_sizes = [3, 4, 2]
    theta, X, Y, sw = make_problem(
        19, layer_sizes, "logistic", SOFTMAX_LOG_LOSS, n=8, weights=True
    )
    rng = np.random.default_rng(20)
    u, v = rng.normal(size=(2, theta.size))
    kwargs = {"output_activation": "softmax", "sample_weight": sw, "alpha": 0.5}
    ws = Workspace()
    for point in (theta, theta + 0.1 * u):  # a new θ must not reuse the old pass
        for direction in (u, v, u):
            assert_allclose(
                hessp(point, direction, X, Y, layer_sizes, workspace=ws, **kwargs),
                hessp(point, direction, X, Y, layer_sizes, **kwargs),
                rtol=1e-13,
            )


def test_hessp_sum_of_row_blocks_is_hessp_before_scaling(make_problem):
    # What a map-reduce over partitions adds up: Σ blocks, then /W and α once.
    layer_sizes = [4, 3, 2]
    theta, X, Y, sw = make_problem(
        21, layer_sizes, "tanh", SOFTMAX_LOG_LOSS, n=9, weights=True
    )
    sw[:4] = 0.0  # a block whose weights are all zero contributes nothing
    v = np.random.default_rng(22).normal(size=theta.size)
    kwargs = {"activation": "tanh", "output_activation": "softmax"}
    parts = [
        hessp_sum(theta, v, X[s], Y[s], layer_sizes, sample_weight=sw[s], **kwargs)
        for s in (slice(0, 4), slice(4, 7), slice(7, 9))
    ]
    assert parts[0][1] == 0.0 and not parts[0][0].any()
    Hv_sum = sum(part[0] for part in parts)
    W = sum(part[1] for part in parts)
    assert W == pytest.approx(sw.sum())
    expected = hessp(theta, v, X, Y, layer_sizes, sample_weight=sw, alpha=0.7, **kwargs)
    Hv = Hv_sum / W
    for Hv_l, v_l in zip(unpack(Hv, layer_sizes), unpack(v, layer_sizes), strict=True):
        Hv_l[:, 1:] += 0.7 / W * v_l[:, 1:]
    assert_allclose(Hv, expected, rtol=1e-12)
