"""Behaviour of BackpropRegressor."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import expit
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import scale

from sklearn_backprop import BackpropRegressor


def test_sum_of_sigmoids_approximates_sine():
    # The seed's figure 3: a weighted sum of sigmoids approximating a curve.
    X = np.linspace(-np.pi, np.pi, 300).reshape(-1, 1)
    y = np.sin(X).ravel()
    reg = BackpropRegressor(hidden_layer_sizes=(6,), random_state=0).fit(X, y)
    assert reg.score(X, y) >= 0.99
    theta1, theta2 = reg.thetas_
    hidden = expit(theta1[:, :1].T + X @ theta1[:, 1:].T)  # g(Θ^(1)_j · [1, x])
    by_hand = theta2[0, 0] + hidden @ theta2[0, 1:]  # Θ^(2)_10 + Σ_j Θ^(2)_1j g
    assert_allclose(reg.predict(X), by_hand, rtol=1e-12, atol=1e-12)


def test_multi_output_targets():
    X, Y = make_regression(
        n_samples=200, n_features=5, n_targets=3, noise=0.1, random_state=0
    )
    Y = scale(Y)
    reg = BackpropRegressor(hidden_layer_sizes=(10,), max_iter=1000, random_state=0)
    reg.fit(X, Y)
    assert reg.n_outputs_ == 3
    pred = reg.predict(X)
    assert pred.shape == (200, 3)
    assert r2_score(Y, pred) > 0.95


def test_no_hidden_layer_is_ridge_regression():
    # ½ mean squared error + α/(2n)‖w‖² has Ridge(alpha=α)'s minimiser.
    X, y = make_regression(n_samples=100, n_features=4, noise=1.0, random_state=0)
    reg = BackpropRegressor(
        hidden_layer_sizes=(), alpha=3.0, tol=1e-10, solver_options={"ftol": 1e-15}
    ).fit(X, y)
    ridge = Ridge(alpha=3.0).fit(X, y)
    assert_allclose(reg.coefs_[0].ravel(), ridge.coef_, rtol=1e-6)
    assert_allclose(reg.intercepts_[0], ridge.intercept_, rtol=1e-6)


def test_loss_is_summed_over_outputs_so_cost_and_gradient_agree():
    X = np.array([[0.0], [1.0]])
    Y = np.array([[1.0, 2.0], [3.0, 4.0]])
    reg = BackpropRegressor(hidden_layer_sizes=(), max_iter=1, init_epsilon=1e-12)
    with pytest.warns(Warning):
        reg.fit(X, Y)
    reg.thetas_[0][...] = 0  # predictions 0: J = mean_i ½ Σ_k y_ik² = 7.5
    from sklearn_backprop.network import cost_grad, pack

    J, _ = cost_grad(
        pack(reg.thetas_),
        X,
        Y,
        [1, 2],
        output_activation="identity",
        loss="squared_error",
    )
    assert J == pytest.approx(0.25 * (1 + 4 + 9 + 16))


def test_logistic_output_for_targets_in_unit_interval():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = expit(2 * X[:, 0] - X[:, 1])
    reg = BackpropRegressor(
        hidden_layer_sizes=(4,), output_activation="logistic", random_state=0
    ).fit(X, y)
    pred = reg.predict(X)
    assert np.all((pred > 0) & (pred < 1))
    assert reg.score(X, y) > 0.99


def test_grid_search_over_alpha_and_hidden_size():
    X, y = make_regression(n_samples=120, n_features=3, noise=0.5, random_state=0)
    y = y / y.std()
    search = GridSearchCV(
        BackpropRegressor(random_state=0),
        {"alpha": [1e-3, 1.0], "hidden_layer_sizes": [(3,), (6,)]},
        cv=3,
    ).fit(X, y)
    assert search.best_score_ > 0.9


def test_float32_regression_stays_float32():
    X, y = make_regression(n_samples=100, n_features=3, random_state=0)
    X, y = X.astype(np.float32), (y / y.std()).astype(np.float32)
    reg = BackpropRegressor(hidden_layer_sizes=(4,), random_state=0).fit(X, y)
    assert reg.thetas_[0].dtype == np.float32
    assert reg.predict(X).dtype == np.float32


def test_weights_zero_drop_rows_and_two_duplicate_them():
    X, y = make_regression(n_samples=40, n_features=3, noise=1.0, random_state=1)
    y = y / y.std()
    params = {"hidden_layer_sizes": (3,), "tol": 1e-10, "random_state": 0}
    w = np.ones(40)
    w[:10] = 0
    w[10:15] = 2
    weighted = BackpropRegressor(**params).fit(X, y, sample_weight=w)
    keep = np.r_[np.arange(10, 40), np.arange(10, 15)]
    by_rows = BackpropRegressor(**params).fit(X[keep], y[keep])
    assert_allclose(weighted.predict(X), by_rows.predict(X), rtol=1e-5, atol=1e-6)


def test_regressor_has_no_partial_fit():
    assert not hasattr(BackpropRegressor(), "partial_fit")
