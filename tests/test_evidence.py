"""Bayesian regularisation (MacKay's evidence framework): issue 16.

The quantities are checked against the formulas recomputed independently
here, from the fitted weights and a finite-difference Jacobian, and the
linear network against scikit-learn's BayesianRidge, whose updates are the
same fixed point.
"""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import load_iris, make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import BayesianRidge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_backprop import (
    BackpropClassifier,
    BackpropRegressor,
    _evidence,
    _reestimation,
    network,
)
from sklearn_backprop._blocks import InMemoryBlocks

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
    if out == "softmax":  # pseudo-determinant and -inverse: drop u's zero
        lam, V = np.linalg.eigh(A)
        assert lam[0] < 1e-12 * lam[-1] < lam[1]  # one null direction
        logdet = np.sum(np.log(lam[1:]))
        A_inv = (V[:, 1:] / lam[1:]) @ V[:, 1:].T
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
    [("moons", (5,)), ("iris", (2,)), ("multilabel", (3,))],
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
    reg = BackpropRegressor((3,), alpha="evidence", random_state=0).fit(X, y)
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
        H = np.diag([-5.0, 1.0])
        _evidence.dense_factor(H, 1.0, np.array([1.0, 0.0]), exact=True)


def test_alpha_zero_with_more_weights_than_rows_is_a_pseudo_inverse():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(10, 30)), rng.normal(size=10)
    reg = BackpropRegressor(hidden_layer_sizes=(), alpha=0.0).fit(X, y)
    # 9 directions of the centred data are determined, the other 21 are not
    assert reg.gamma_ == pytest.approx(9.0)
    assert np.isfinite(reg.log_evidence_) and np.isfinite(reg.beta_)


def test_matrix_free_estimates_approach_the_dense_values():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(30, 40)) * 3  # data curvature in many directions
    H = B.T @ B
    mask = (rng.uniform(size=40) < 0.8).astype(float)
    mask[:5] = 0.0  # biases, not all of them determined
    H[:, 0] = H[0, :] = 0.0
    f = _evidence.dense_factor(H, 2.0, mask)
    assert f.rank == 39  # bias 0 is no datum's: dropped
    keep = np.arange(1, 40)
    H, mask = H[np.ix_(keep, keep)], mask[keep]
    A = H + 2.0 * np.diag(mask)
    assert f.logdet == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-10)
    trace = np.sum(np.diag(np.linalg.inv(A)) * mask)
    assert f.trace_w == pytest.approx(trace, rel=1e-10)
    assert f.gamma == pytest.approx(mask.sum() - 2.0 * trace, rel=1e-10)
    # Hutchinson over many probes, and exactly over the unit vectors
    probes = _evidence.rademacher_probes(int(mask.sum()), 400, np.random.RandomState(0))
    logdet, rank, trace_mf = _evidence.matrix_free_estimates(
        lambda v: H @ v, mask, 2.0, probes[:, : int(mask.sum())][:20]
    )
    assert rank == 39
    assert logdet == pytest.approx(f.logdet, rel=0.02)
    assert trace_mf == pytest.approx(f.trace_w, rel=0.05)
    logdet, _, trace_mf = _evidence.matrix_free_estimates(
        lambda v: H @ v, mask, 2.0, probes, steps=40
    )
    assert logdet == pytest.approx(f.logdet, rel=1e-8)
    assert trace_mf == pytest.approx(f.trace_w, rel=1e-8)


SQUARED_EXACT = {
    "output_activation": "identity",
    "loss": "squared_error",
    "curvature": "exact",
}


def test_exact_curvature_uses_the_exact_hessian():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(150, 2))
    y = X[:, 0] - np.tanh(2 * X[:, 1]) + 0.2 * rng.normal(size=150)
    reg = BackpropRegressor(
        (2,), alpha=1.0, curvature="exact", tol=1e-10, max_iter=2000, random_state=0
    ).fit(X, y)
    theta = network.pack(reg.thetas_)
    sizes = [2, 2, 1]
    H = np.column_stack(
        [
            network.hessp_sum(theta, e, X, y[:, None], sizes, **SQUARED_EXACT)[0]
            for e in np.eye(theta.size)
        ]
    )
    mask = np.ones_like(theta)
    for t in network.unpack(mask, sizes):
        t[:, 0] = 0
    A1 = 0.5 * (H + H.T) + 1.0 * np.diag(mask)
    assert np.linalg.eigvalsh(A1)[0] > 0  # at a minimum: positive definite
    gamma = mask.sum() - 1.0 * np.sum(np.diag(np.linalg.inv(A1)) * mask)
    assert reg.gamma_ == pytest.approx(gamma, rel=1e-6)
    gn = clone(reg).set_params(curvature="gauss-newton").fit(X, y)
    assert gn.gamma_ != pytest.approx(reg.gamma_, rel=1e-6)


def test_exact_curvature_falls_back_to_gauss_newton_where_indefinite():
    # far from a minimum (one iteration), the exact Hessian is indefinite
    X, y = sine_data(4, n=60)
    kwargs = {"alpha": 1e-6, "max_iter": 1, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        exact = BackpropRegressor((6,), curvature="exact", **kwargs).fit(X, y)
        gn = BackpropRegressor((6,), curvature="gauss-newton", **kwargs).fit(X, y)
    theta = network.pack(exact.thetas_)
    H = np.column_stack(
        [
            network.hessp_sum(theta, e, X, y[:, None], [1, 6, 1], **SQUARED_EXACT)[0]
            for e in np.eye(theta.size)
        ]
    )
    assert np.linalg.eigvalsh(0.5 * (H + H.T))[0] < -1e-3  # indefinite indeed
    assert exact.gamma_ == pytest.approx(gn.gamma_, rel=1e-9)
    assert 0 <= exact.gamma_ <= 12


# --------------------------------------------------------------------------
# Targets: error bars, dense against matrix-free


def test_intervals_cover_fresh_points_and_beta_estimates_the_noise():
    sigma = 0.3
    covers, ratios = [], []
    for seed in range(3):
        rng = np.random.default_rng(seed)

        def f(x):
            return np.sin(2 * x[:, 0]) + 0.5 * x[:, 0]

        X = rng.uniform(-2, 2, size=(300, 1))
        y = f(X) + sigma * rng.normal(size=300)
        X_new = rng.uniform(-2, 2, size=(2000, 1))
        y_new = f(X_new) + sigma * rng.normal(size=2000)
        reg = BackpropRegressor((10,), alpha="evidence", random_state=seed)
        mean, std = reg.fit(X, y).predict(X_new, return_std=True)
        covers.append(np.mean(np.abs(y_new - mean) <= 1.96 * std))
        ratios.append(reg.beta_**-0.5 / sigma)
    assert 0.90 <= np.mean(covers) <= 0.98
    np.testing.assert_allclose(ratios, 1.0, atol=0.15)


def test_dense_and_matrix_free_gamma_agree():
    X, y = make_moons(300, noise=0.3, random_state=0)
    gammas = [
        BackpropClassifier(
            (10,), alpha="evidence", evidence_method=method, random_state=0
        )
        .fit(X, y)
        .gamma_
        for method in ("dense", "matrix-free")
    ]
    assert gammas[1] == pytest.approx(gammas[0], rel=0.05)


def test_auto_is_dense_up_to_the_documented_size():
    assert _reestimation.choose_method("auto", _evidence.DENSE_MAX_PARAMS) == "dense"
    assert (
        _reestimation.choose_method("auto", _evidence.DENSE_MAX_PARAMS + 1)
        == "matrix-free"
    )
    assert _reestimation.choose_method("dense", 10**6) == "dense"


def test_matrix_free_refuses_return_std_clearly():
    X, y = sine_data(5, n=60)
    reg = BackpropRegressor(
        (3,), alpha="evidence", evidence_method="matrix-free", random_state=0
    ).fit(X, y)
    assert reg.predict(X).shape == (60,)
    with pytest.raises(ValueError, match="evidence_method='dense'"):
        reg.predict(X, return_std=True)


def test_matrix_free_is_seeded_by_random_state():
    X, y = sine_data(6, n=80)
    fits = [
        BackpropRegressor(
            (4,), alpha=0.1, evidence_method="matrix-free", random_state=seed
        ).fit(X, y)
        for seed in (0, 0, 1)
    ]
    assert fits[0].gamma_ == fits[1].gamma_
    assert fits[0].log_evidence_ == fits[1].log_evidence_


# --------------------------------------------------------------------------
# The loop: start, curve, warnings, iterations, callbacks


def test_curve_starts_small_and_iterations_add_up():
    X, y = make_moons(200, noise=0.3, random_state=1)
    clf = BackpropClassifier((5,), alpha="evidence", random_state=0).fit(X, y)
    curve = clf.evidence_curve_
    assert curve[0][0] == _reestimation.START_ALPHA
    assert clf.alpha_ == curve[-1][0]
    assert clf.n_iter_ == len(clf.loss_curve_) > 0
    # refitting at alpha_ from the same start is the same model's penalty
    assert len(curve) >= 2
    assert abs(curve[-1][0] - curve[-2][0]) <= 0.5 * curve[-2][0]


def test_refit_at_alpha_gives_the_same_gamma():
    X, y = sine_data(7)
    reg = BackpropRegressor((3,), alpha="evidence", random_state=0).fit(X, y)
    again = BackpropRegressor(
        (3,), alpha=reg.alpha_, warm_start=True, random_state=0, tol=1e-10
    )
    again.thetas_ = reg.thetas_  # the fitted weights as the start
    again.fit(X, y)
    assert again.gamma_ == pytest.approx(reg.gamma_, rel=1e-3)


def test_cap_on_reestimations_warns(monkeypatch):
    monkeypatch.setattr(_reestimation, "MAX_REESTIMATIONS", 2)
    X, y = make_moons(200, noise=0.3, random_state=1)
    with pytest.warns(ConvergenceWarning, match="2 re-estimations"):
        clf = BackpropClassifier((5,), alpha="evidence", random_state=0).fit(X, y)
    assert len(clf.evidence_curve_) == 2


def test_early_stopping_is_refused_with_evidence():
    X, y = make_moons(100, random_state=0)
    clf = BackpropClassifier(alpha="evidence", early_stopping=True)
    with pytest.raises(ValueError, match="early_stopping"):
        clf.fit(X, y)


def test_bad_alpha_and_method_are_refused():
    X, y = make_moons(50, random_state=0)
    with pytest.raises(ValueError, match="alpha"):
        BackpropClassifier(alpha="bayes").fit(X, y)
    with pytest.raises(ValueError, match="evidence_method"):
        BackpropClassifier(alpha="evidence", evidence_method="cholesky").fit(X, y)


def test_callback_stop_ends_the_reestimation_too():
    X, y = make_moons(200, noise=0.3, random_state=1)
    seen = []

    def stop_at_15(progress):
        seen.append(progress.iteration)
        return progress.iteration == 15

    clf = BackpropClassifier(
        (5,), alpha="evidence", callback=stop_at_15, random_state=0
    ).fit(X, y)
    assert seen == list(range(1, 16))  # iterations count across inner fits
    assert clf.n_iter_ == 15


def test_verbose_prints_each_reestimation(capsys):
    X, y = make_moons(100, noise=0.3, random_state=1)
    clf = BackpropClassifier((3,), alpha="evidence", verbose=True, random_state=0)
    clf.fit(X, y)
    out = capsys.readouterr().out
    assert out.count("Re-estimation") == len(clf.evidence_curve_)


# --------------------------------------------------------------------------
# Data and scikit-learn integration


def test_sparse_float32_and_multi_output():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 4))
    X[rng.uniform(size=X.shape) < 0.5] = 0
    Y = np.column_stack([X[:, 0] - X[:, 1], np.tanh(X[:, 2])])
    Y += 0.1 * rng.normal(size=Y.shape)
    dense = BackpropRegressor((3,), alpha="evidence", random_state=0).fit(X, Y)
    sparse = BackpropRegressor((3,), alpha="evidence", random_state=0)
    sparse.fit(sp.csr_matrix(X), Y)
    assert sparse.gamma_ == pytest.approx(dense.gamma_, rel=1e-3)
    mean, std = sparse.predict(sp.csr_matrix(X[:5]), return_std=True)
    assert mean.shape == std.shape == (5, 2)
    f32 = BackpropRegressor((3,), alpha="evidence", random_state=0)
    f32.fit(X.astype(np.float32), Y)
    assert f32.alpha_ == pytest.approx(dense.alpha_, rel=0.05)
    assert f32.predict(X[:5].astype(np.float32), return_std=True)[1].shape == (5, 2)
    f = formulas(dense, X, Y)
    assert dense.gamma_ == pytest.approx(f["gamma"], rel=1e-4)


def test_pipeline_clone_pickle_and_grid_search():
    X, y = make_moons(200, noise=0.3, random_state=2)
    pipe = make_pipeline(
        StandardScaler(), BackpropClassifier(alpha="evidence", random_state=0)
    )
    search = GridSearchCV(
        pipe, {"backpropclassifier__hidden_layer_sizes": [(2,), (6,)]}, cv=3
    ).fit(X, y)
    best = search.best_estimator_[-1]
    assert isinstance(best.alpha_, float) and best.evidence_curve_
    copy = pickle.loads(pickle.dumps(best))
    assert copy.gamma_ == best.gamma_
    assert copy.log_evidence_ == best.log_evidence_
    assert clone(best).get_params()["alpha"] == "evidence"


def test_lazy_attributes_for_float_alpha():
    X, y = sine_data(8, n=80)
    reg = BackpropRegressor((3,), alpha=0.2, random_state=0).fit(X, y)
    assert reg._evidence_values is None  # a plain fit computes nothing
    copy = pickle.loads(pickle.dumps(reg))
    gamma = reg.gamma_
    assert reg._evidence_values["gamma"] == gamma  # cached
    with pytest.raises(AttributeError, match="first access"):
        copy.gamma_  # noqa: B018
    accessed = pickle.loads(pickle.dumps(reg))
    assert accessed.gamma_ == gamma and accessed.beta_ == reg.beta_
    assert reg.evidence_curve_ is None and reg.alpha_ == 0.2
    # a new fit forgets the old values
    reg.set_params(alpha=2.0).fit(X, y)
    assert reg.gamma_ < gamma


def test_unfitted_attributes_are_absent():
    reg = BackpropRegressor()
    assert not hasattr(reg, "gamma_")
    assert not hasattr(reg, "beta_")


@pytest.mark.slow
def test_dask_blocks_give_the_in_memory_evidence():
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    X, y = sine_data(9, n=300)
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        X_d, y_d = da.from_array(X, chunks=(100, 1)), da.from_array(y, chunks=100)
        spec = _evidence.NetworkSpec.make(
            [1, 2, 1], "logistic", "identity", "squared_error"
        )
        source = InMemoryBlocks(X, y[:, None], None, spec)
        for method in ("matrix-free", "dense"):
            kwargs = {"alpha": "evidence", "evidence_method": method}
            remote = BackpropRegressor((2,), random_state=0, **kwargs).fit(X_d, y_d)
            # the block sums give the in-memory evidence at the fitted weights
            settings = _reestimation.EvidenceSettings(
                method, "gauss-newton", True, np.random.RandomState(0)
            )
            ev, _ = _reestimation.evaluate(
                source, network.pack(remote.thetas_), remote.alpha_, settings
            )
            assert remote.gamma_ == pytest.approx(ev.gamma, rel=1e-6)
            assert remote.log_evidence_ == pytest.approx(ev.log_evidence, rel=1e-6)
            assert remote.beta_ == pytest.approx(ev.beta, rel=1e-6)
        mean, std = remote.predict(X_d[:10], return_std=True)
        assert mean.compute().shape == std.compute().shape == (10,)
        float_fit = BackpropRegressor((2,), alpha=0.1, random_state=0).fit(X_d, y_d)
        with pytest.raises(AttributeError, match="dask"):
            float_fit.gamma_  # noqa: B018


def test_skops_saves_the_evidence_as_plain_values():
    sio = pytest.importorskip("skops.io")
    X, y = sine_data(10, n=80)
    reg = BackpropRegressor((3,), alpha="evidence", random_state=0).fit(X, y)
    data = sio.dumps(reg)
    assert sio.get_untrusted_types(data=data) == [
        "sklearn_backprop._regressor.BackpropRegressor"
    ]
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    assert loaded.gamma_ == reg.gamma_ and loaded.beta_ == reg.beta_
    np.testing.assert_array_equal(
        loaded.predict(X, return_std=True)[1], reg.predict(X, return_std=True)[1]
    )


@pytest.mark.parametrize("solver", ["lm", "trf", "trust-ncg", "TNC", "CG"])
def test_every_solver_reaches_the_same_evidence(solver):
    rng = np.random.default_rng(11)
    X = rng.normal(size=(200, 3))
    y = X[:, 0] - 2 * np.tanh(X[:, 1]) + 0.3 * rng.normal(size=200)
    reference = BackpropRegressor((2,), alpha="evidence", random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = BackpropRegressor(
            (2,), alpha="evidence", solver=solver, random_state=0
        ).fit(X, y)
    assert reg.n_iter_ == len(reg.loss_curve_) > 0
    assert reg.alpha_ == pytest.approx(reference.alpha_, rel=0.05)
    assert reg.gamma_ == pytest.approx(reference.gamma_, rel=0.05)


def test_warm_start_resumes_from_alpha_and_weights():
    X, y = make_moons(200, noise=0.3, random_state=3)
    clf = BackpropClassifier((4,), alpha="evidence", random_state=0).fit(X, y)
    first = len(clf.evidence_curve_)
    clf.set_params(warm_start=True).fit(X, y)
    assert clf.evidence_curve_[0][0] == pytest.approx(clf.alpha_, rel=0.01)
    assert len(clf.evidence_curve_) < first
