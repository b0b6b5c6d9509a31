"""Bayesian regularisation (MacKay's evidence framework): issue 16.

The quantities are checked against the formulas recomputed independently
here, from the fitted weights and a finite-difference Jacobian, and the
linear network against scikit-learn's BayesianRidge, whose updates are the
same fixed point.
"""

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_moons
from sklearn.linear_model import BayesianRidge
from sklearn.preprocessing import StandardScaler

from sklearn_backprop import BackpropClassifier, BackpropRegressor, _evidence, network

# --------------------------------------------------------------------------
# Independent recomputation of the formulas


def fd_output_jacobian(reg_or_clf, X, output_activation):
    """∂z/∂θ (logits) by central differences, rows sample-major."""
    theta = network.pack(reg_or_clf.thetas_).astype(np.float64)
    sizes = [X.shape[1], *[t.shape[0] for t in reg_or_clf.thetas_]]
    eps = 1e-6
    cols = []
    for j in range(theta.size):
        step = np.zeros_like(theta)
        step[j] = eps
        plus = network.forward(
            network.unpack(theta + step, sizes),
            X,
            activation=reg_or_clf.activation,
            output_activation="identity",
        )[-1]
        minus = network.forward(
            network.unpack(theta - step, sizes),
            X,
            activation=reg_or_clf.activation,
            output_activation="identity",
        )[-1]
        cols.append(((plus - minus) / (2 * eps)).ravel())
    return np.column_stack(cols), theta, sizes


def formulas(est, X, Y, sample_weight=None):
    """γ, log evidence, β and the re-estimates from an FD Gauss-Newton matrix."""
    out = est.out_activation_
    Jz, theta, sizes = fd_output_jacobian(est, X, out)
    n, K = Y.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    Z = network.forward(
        network.unpack(theta, sizes),
        X,
        activation=est.activation,
        output_activation="identity",
    )[-1]
    Jz = Jz.reshape(n, K, -1)
    if out == "identity":
        Lam = np.broadcast_to(np.eye(K), (n, K, K))
        E_D = 0.5 * np.sum(w[:, None] * (Z - Y) ** 2)
    elif out == "softmax":
        Zs = Z - Z.max(axis=1, keepdims=True)
        p = np.exp(Zs) / np.exp(Zs).sum(axis=1, keepdims=True)
        Lam = np.einsum("ij,jk->ijk", p, np.eye(K)) - np.einsum("ij,ik->ijk", p, p)
        E_D = -np.sum(w[:, None] * Y * np.log(p))
    else:  # logistic with log loss
        p = 1 / (1 + np.exp(-Z))
        Lam = np.einsum("ij,jk->ijk", p * (1 - p), np.eye(K))
        E_D = -np.sum(w[:, None] * (Y * np.log(p) + (1 - Y) * np.log(1 - p)))
    G = np.einsum("i,ikp,ikl,ilq->pq", w, Jz, Lam, Jz)
    mask = np.ones_like(theta)
    for t in network.unpack(mask, sizes):
        t[:, 0] = 0
    N_W, W = mask.sum(), w.sum()
    E_W = 0.5 * np.sum((theta * mask) ** 2)
    alpha = est.alpha_
    regression = isinstance(est, BackpropRegressor)
    beta = est.beta_ if regression else 1.0
    alpha_B = alpha * beta
    A = beta * G + alpha_B * np.diag(mask)
    if out == "softmax":  # the pseudo-determinant: drop the null direction
        lam = np.linalg.eigvalsh(A)
        logdet = np.sum(np.log(lam[1:]))
        A_inv = np.linalg.pinv(A, hermitian=True)
    else:
        logdet = np.linalg.slogdet(A)[1]
        A_inv = np.linalg.inv(A)
    gamma = N_W - alpha_B * np.sum(np.diag(A_inv) * mask)
    N = K * W
    ev = -beta * E_D - alpha_B * E_W - 0.5 * logdet + 0.5 * N_W * np.log(alpha_B)
    if regression:
        ev += 0.5 * N * np.log(beta) - 0.5 * N * np.log(2 * np.pi)
    return {
        "gamma": gamma,
        "log_evidence": ev,
        "beta_re": (N - gamma) / (2 * E_D),
        "E_D": E_D,
        "N": N,
        "alpha_B_re": gamma / (2 * E_W),
        "alpha_B": alpha_B,
        "beta": beta,
        "A_inv": A_inv,
        "theta": theta,
        "sizes": sizes,
    }


def linear_data(seed, n=240, d=12, noise=2.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, size=d) + rng.normal(size=d)
    coef = rng.normal(size=d) * (rng.uniform(size=d) < 0.5)
    y = X @ coef + 3.0 + noise * rng.normal(size=n)
    return X, y, rng


def sine_data(seed, n=150, sigma=0.2):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, size=(n, 1))
    return X, np.sin(X).ravel() + sigma * rng.normal(size=n)


# --------------------------------------------------------------------------
# The linear network is BayesianRidge


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_linear_network_matches_bayesian_ridge(seed, weighted):
    X, y, rng = linear_data(seed)
    w = rng.uniform(0.5, 2.0, size=len(y)) if weighted else None
    ridge = BayesianRidge().fit(X, y, sample_weight=w)
    reg = BackpropRegressor(hidden_layer_sizes=(), alpha="evidence", random_state=0)
    reg.fit(X, y, sample_weight=w)
    assert reg.alpha_ == pytest.approx(ridge.lambda_ / ridge.alpha_, rel=0.02)
    assert reg.beta_ == pytest.approx(ridge.alpha_, rel=0.02)
    X_test = 2 * rng.normal(size=(100, X.shape[1]))
    mean_r, std_r = ridge.predict(X_test, return_std=True)
    mean, std = reg.predict(X_test, return_std=True)
    assert std.shape == (100,)
    np.testing.assert_allclose(std, std_r, rtol=0.02)
    np.testing.assert_allclose(mean, mean_r, rtol=0.02, atol=0.02 * np.std(mean_r))


def test_float_alpha_gamma_depends_on_alpha_alone():
    X, y, _ = linear_data(3)
    reg = BackpropRegressor(hidden_layer_sizes=(), alpha=5.0).fit(X, y)
    assert reg.alpha_ == 5.0
    # the linear case in closed form: γ = Σ λ_i / (λ_i + α), λ_i the
    # eigenvalues of the centred XᵀX (the flat bias prior)
    Xc = X - X.mean(axis=0)
    lam = np.linalg.eigvalsh(Xc.T @ Xc)
    assert reg.gamma_ == pytest.approx(np.sum(lam / (lam + 5.0)), rel=1e-6)
    resid = reg.predict(X) - y
    E_D = 0.5 * np.sum(resid**2)
    assert reg.beta_ == pytest.approx((len(y) - reg.gamma_) / (2 * E_D), rel=1e-6)


# --------------------------------------------------------------------------
# A small network: the formulas, recomputed, and the fixed point


@pytest.mark.parametrize("method", ["dense", "matrix-free"])
def test_regressor_formulas_and_fixed_point(method):
    X, y = sine_data(0)
    reg = BackpropRegressor(
        (4,), alpha="evidence", evidence_method=method, random_state=0
    ).fit(X, y)
    f = formulas(reg, X, y[:, None])
    if method == "dense":
        assert reg.gamma_ == pytest.approx(f["gamma"], rel=1e-4)
        assert reg.log_evidence_ == pytest.approx(f["log_evidence"], rel=1e-4)
    else:  # stochastic estimates
        assert reg.gamma_ == pytest.approx(f["gamma"], rel=0.05)
    # the fixed point: α_B and β equal their re-estimates
    beta_re = (f["N"] - reg.gamma_) / (2 * f["E_D"])
    assert reg.beta_ == pytest.approx(beta_re, rel=1e-9)
    assert f["alpha_B"] == pytest.approx(
        reg.gamma_ / (2 * 0.5 * np.sum(_non_bias(reg) ** 2)), rel=1e-3
    )
    if method == "dense":
        assert f["alpha_B"] == pytest.approx(f["alpha_B_re"], rel=1.1e-3)
    assert reg.evidence_curve_[-1] == pytest.approx(
        (reg.alpha_, reg.gamma_, reg.log_evidence_)
    )


def _non_bias(est):
    return np.concatenate([t[:, 1:].ravel() for t in est.thetas_])


@pytest.mark.parametrize(
    "data, hidden",
    [("moons", (5,)), ("iris", (4,)), ("multilabel", (3,))],
)
def test_classifier_formulas(data, hidden):
    if data == "moons":
        X, y = make_moons(120, noise=0.3, random_state=0)
        Y = y[:, None].astype(float)
    elif data == "iris":  # softmax: the pseudo-determinant
        X, y = load_iris(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        Y = np.eye(3)[y]
    else:
        rng = np.random.default_rng(0)
        X = rng.normal(size=(100, 3))
        y = (X[:, :2] + 0.5 * rng.normal(size=(100, 2)) > 0).astype(int)
        Y = y.astype(float)
    clf = BackpropClassifier(hidden, alpha="evidence", random_state=0).fit(X, y)
    f = formulas(clf, X, Y)
    assert clf.gamma_ == pytest.approx(f["gamma"], rel=1e-4)
    assert clf.log_evidence_ == pytest.approx(f["log_evidence"], rel=1e-4)
    assert f["alpha_B"] == pytest.approx(f["alpha_B_re"], rel=1.1e-3)
    assert 0 <= clf.gamma_ <= _non_bias(clf).size


def test_float_alpha_formulas_with_sample_weight():
    X, y = sine_data(1)
    w = np.random.default_rng(1).uniform(0.2, 3, size=len(y))
    reg = BackpropRegressor((3,), alpha=0.3, random_state=0).fit(X, y, sample_weight=w)
    f = formulas(reg, X, y[:, None], sample_weight=w)
    assert reg.gamma_ == pytest.approx(f["gamma"], rel=1e-4)
    assert reg.log_evidence_ == pytest.approx(f["log_evidence"], rel=1e-4)
    assert reg.beta_ == pytest.approx(f["beta_re"], rel=1e-9)


def test_predictive_std_is_the_formula():
    X, y = sine_data(2)
    reg = BackpropRegressor((4,), alpha="evidence", random_state=0).fit(X, y)
    f = formulas(reg, X, y[:, None])
    X_new = np.array([[-5.0], [0.0], [2.0], [6.0]])
    g, _, _ = fd_output_jacobian(reg, X_new, "identity")
    expected = np.sqrt(1 / f["beta"] + np.einsum("ip,pq,iq->i", g, f["A_inv"], g))
    _, std = reg.predict(X_new, return_std=True)
    np.testing.assert_allclose(std, expected, rtol=1e-5)
    assert std[0] > std[1] and std[3] > std[2]  # wider away from the data


# --------------------------------------------------------------------------
# Pieces of the math


def test_gauss_newton_matrix_is_the_hessp_gauss_newton(pair):
    output, loss = pair
    rng = np.random.default_rng(0)
    sizes = [3, 4, 2 if output != "softmax" else 3]
    X = rng.normal(size=(30, 3))
    if loss == "log_loss" and output == "softmax":
        Y = np.eye(3)[rng.integers(0, 3, 30)]
    else:
        Y = rng.uniform(size=(30, sizes[-1]))
    w = rng.uniform(0.5, 2, size=30)
    spec = _evidence.NetworkSpec.make(sizes, "tanh", output, loss)
    from sklearn_backprop._blocks import InMemoryBlocks

    source = InMemoryBlocks(X, Y, w, spec)
    theta = rng.normal(size=spec.n_params)
    G = _evidence.gauss_newton_matrix(source, theta)
    columns = [
        source.hessp_sum(theta, e, "gauss-newton")[0] for e in np.eye(spec.n_params)
    ]
    np.testing.assert_allclose(G, np.column_stack(columns), atol=1e-10)


def test_dense_factor_of_a_singular_matrix_uses_the_pseudo_inverse():
    # a dead unit: a bias with no curvature at all, and no prior
    H = np.diag([2.0, 0.0, 1.0])
    f = _evidence.dense_factor(H, 1.0, np.array([1.0, 0.0, 1.0]))
    assert f.rank == 2
    assert f.logdet == pytest.approx(np.log(3.0) + np.log(2.0))
    assert f.trace_w == pytest.approx(1 / 3 + 1 / 2)


def test_dense_factor_refuses_an_indefinite_matrix():
    with pytest.raises(_evidence.IndefiniteCurvature):
        _evidence.dense_factor(np.diag([-5.0, 1.0]), 1.0, np.array([1.0, 0.0]))


def test_matrix_free_estimates_approach_the_dense_values():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(60, 40))
    H = B.T @ B
    mask = (rng.uniform(size=40) < 0.8).astype(float)
    f = _evidence.dense_factor(H, 2.0, mask)
    A = H + 2.0 * np.diag(mask)
    probes = _evidence.rademacher_probes(40, 400, np.random.RandomState(0))
    logdet, trace = _evidence.matrix_free_estimates(lambda v: A @ v, mask, probes)
    assert logdet == pytest.approx(f.logdet, rel=0.02)
    assert trace == pytest.approx(f.trace_w, rel=0.02)
