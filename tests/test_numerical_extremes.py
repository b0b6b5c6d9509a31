"""Extreme values: a finite and correct answer, never a silent wrong one.

Features scaled by 1e-8 or 1e8, constant features, and logits so large that
the units saturate give finite losses, gradients equal to their analytic
limits, and probabilities that are probability distributions. The tests that
enforce "no RuntimeWarning" turn it into an error, so an overflow anywhere in
the computation fails them. docs/guarantees.rst lists each guarantee with its
test.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning

from sklearn_backprop import BackpropClassifier, BackpropRegressor
from sklearn_backprop.network import cost_grad, pack

# --------------------------------------------------------------------------
# Features scaled by 1e-8 or 1e8, and constant features
# --------------------------------------------------------------------------


def _scaled(X, how):
    if how == "constant":
        return np.hstack([X, np.full((X.shape[0], 1), 3.0)])
    if how == "mixed":
        return X * np.array([1e-8, 1e8, 1.0, 1.0, 1.0])
    return X * how


@pytest.fixture(scope="module")
def three_classes():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 5))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    return X, y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("how", [1e-8, 1e8, "constant", "mixed"])
def test_scaled_and_constant_features_fit_without_runtime_warnings(
    three_classes, how, dtype, activation, assert_distributions
):
    X, y = three_classes
    X = _scaled(X, how).astype(dtype)
    clf = BackpropClassifier(
        hidden_layer_sizes=(5,), activation=activation, max_iter=50, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", RuntimeWarning)
        clf.fit(X, y)
        P = clf.predict_proba(X)
        log_P = clf.predict_log_proba(X)
    assert np.isfinite(clf.loss_)
    assert np.all(np.isfinite(clf.loss_curve_))
    assert_distributions(P, atol=1e-5 if dtype == np.float32 else 1e-9)
    assert np.all(np.isfinite(log_P))


def test_scaled_features_fit_without_runtime_warnings_for_every_solver(
    three_classes, solver, assert_distributions
):
    X, y = three_classes
    for how in [1e-8, 1e8, "constant"]:
        clf = BackpropClassifier(
            hidden_layer_sizes=(4,), solver=solver, max_iter=15, random_state=0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("error", RuntimeWarning)
            clf.fit(_scaled(X, how), y)
            P = clf.predict_proba(_scaled(X, how))
        assert np.isfinite(clf.loss_)
        assert_distributions(P)


@pytest.mark.parametrize(
    "how, dtype",
    [
        (1e-8, np.float64),
        (1e8, np.float64),
        ("constant", np.float64),
        (1e-8, np.float32),
        (1e8, np.float32),
    ],
)
def test_scaled_features_regressor_fits_without_runtime_warnings(
    three_classes, how, dtype, activation_names
):
    X, y = three_classes
    X = _scaled(X, how).astype(dtype)
    for activation in activation_names:
        reg = BackpropRegressor(
            hidden_layer_sizes=(5,), activation=activation, max_iter=50, random_state=0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("error", RuntimeWarning)
            reg.fit(X, y.astype(float))
            pred = reg.predict(X)
        assert np.isfinite(reg.loss_)
        assert np.all(np.isfinite(pred))


# --------------------------------------------------------------------------
# Huge logits: saturated units
# --------------------------------------------------------------------------


def _saturated_problem(n_classes, output_activation, seed, quiet_fit):
    """A fitted classifier whose Θ are all ±1e4, on inputs x ∈ {-1, 1}⁴.

    Every hidden pre-activation is 1e4 × (an odd sum of ±1), so at least 1e4 in
    magnitude, and the logistic hidden units saturate to exactly 0 or 1; every
    output logit is then an integer multiple of 1e4.
    """
    rng = np.random.default_rng(seed)
    X = rng.choice([-1.0, 1.0], size=(40, 4))
    y = np.arange(40) % n_classes
    clf = BackpropClassifier(
        hidden_layer_sizes=(6,),
        output_activation=output_activation,
        alpha=0.3,
        max_iter=2,
        random_state=0,
    )
    quiet_fit(clf, X, y)
    for theta in clf.thetas_:
        theta[...] = rng.choice([-1e4, 1e4], size=theta.shape)
    return clf, X, y


def _analytic_limit(clf, X, y):
    """J and ∂J/∂Θ^(2) of the saturated network, from exact 0/1 hidden units."""
    T1, T2 = clf.thetas_
    A = np.hstack([np.ones((len(X), 1)), (X @ T1[:, 1:].T + T1[:, 0] > 0)])
    Z = A @ T2.T  # exact: integer multiples of 1e4
    Y = clf._label_binarizer.transform(y).astype(float)
    if clf.out_activation_ == "softmax":
        if Y.shape[1] == 1:
            Y = np.hstack([1 - Y, Y])
        top = Z == Z.max(axis=1, keepdims=True)
        ties = top.sum(axis=1)
        # logsumexp(z) = max + log(#ties), the other terms being e^{-1e4} = 0
        loss = Z.max(axis=1) + np.log(ties) - (Y * Z).sum(axis=1)
        delta = top / ties[:, None] - Y
    else:  # softplus(z) - y z, with softplus(0) = log 2
        loss = (np.maximum(Z, 0) + np.log(2) * (Z == 0) - Y * Z).sum(axis=1)
        delta = (Z > 0) + 0.5 * (Z == 0) - Y
    n = len(X)
    penalty = 0.5 * clf.alpha / n * sum((T[:, 1:] ** 2).sum() for T in (T1, T2))
    grad2 = delta.T @ A / n
    grad2[:, 1:] += clf.alpha / n * T2[:, 1:]
    return loss.mean() + penalty, grad2, Y


@pytest.mark.parametrize(
    "n_classes, output_activation",
    [(2, "auto"), (2, "softmax"), (3, "softmax"), (3, "logistic"), (4, "softmax")],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_huge_logits_give_finite_loss_and_gradient_equal_to_their_limits(
    n_classes, output_activation, seed, quiet_fit
):
    clf, X, y = _saturated_problem(n_classes, output_activation, seed, quiet_fit)
    J_limit, grad2_limit, Y = _analytic_limit(clf, X, y)
    layer_sizes = [4, 6, Y.shape[1]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        J, grad = cost_grad(
            pack(clf.thetas_),
            X,
            Y,
            layer_sizes,
            alpha=clf.alpha,
            activation="logistic",
            output_activation=clf.out_activation_,
            loss="log_loss",
        )
    assert np.isfinite(J) and np.all(np.isfinite(grad))
    assert J > 1e3  # the limit is huge and still exact
    assert_allclose(J, J_limit, rtol=1e-12)
    # g'(z) = 0 at saturation, exactly: Θ^(1)'s gradient is the penalty alone
    T1 = clf.thetas_[0]
    n1 = T1.size
    assert_array_equal(grad[:n1].reshape(T1.shape)[:, 0], 0.0)
    assert_allclose(
        grad[:n1].reshape(T1.shape)[:, 1:], clf.alpha / len(X) * T1[:, 1:], rtol=1e-15
    )
    assert_allclose(grad[n1:].reshape(grad2_limit.shape), grad2_limit, rtol=1e-12)


@pytest.mark.parametrize(
    "n_classes, output_activation, multilabel",
    [
        (2, "auto", False),
        (2, "softmax", False),
        (3, "auto", False),
        (3, "logistic", False),
        (3, "auto", True),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_huge_logits_never_give_nan_probabilities(
    n_classes, output_activation, multilabel, dtype, quiet_fit
):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(dtype)
    y = np.arange(60) % n_classes
    if multilabel:
        y = np.eye(n_classes, dtype=int)[y] | (rng.uniform(size=(60, 1)) < 0.3)
    clf = quiet_fit(
        BackpropClassifier(
            hidden_layer_sizes=(5,),
            output_activation=output_activation,
            max_iter=2,
            random_state=0,
        ),
        X,
        y,
    )
    for scale in [1e4, 1e30]:
        for theta in clf.thetas_:
            theta[...] = rng.choice([-scale, scale], size=theta.shape)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            P = clf.predict_proba(X)
            log_P = clf.predict_log_proba(X)
            pred = clf.predict(X)
        assert not np.isnan(P).any() and not np.isnan(log_P).any()
        assert np.all((P > 0) & (P < 1))  # strictly inside (0, 1)
        assert np.all(np.isfinite(log_P))
        if not multilabel:
            assert_allclose(
                P.sum(axis=1), 1.0, atol=1e-5 if dtype == np.float32 else 1e-9
            )
            # the predicted class has the largest probability (saturated
            # logistic units can tie in probability, not in logit)
            chosen = P[np.arange(len(P)), np.searchsorted(clf.classes_, pred)]
            assert_array_equal(chosen, P.max(axis=1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("scale", [1e4, 1e20])
def test_huge_tied_logits_split_the_probability_evenly(
    dtype, scale, make_small, quiet_fit
):
    X = np.random.default_rng(0).normal(size=(9, 2)).astype(dtype)
    clf = quiet_fit(make_small(BackpropClassifier), X, np.arange(9) % 3)
    T1, T2 = clf.thetas_
    T1[...] = 1.0
    T2[...] = scale  # classes 0 and 1 have the same weights: tied logits
    T2[2] = -scale  # and class 2 is far below them
    P = clf.predict_proba(X)
    assert_allclose(P[:, :2], 0.5, rtol=10 * np.finfo(dtype).eps)
    assert_array_equal(P[:, 2] < 1e-30, True)


# --------------------------------------------------------------------------
# Property-based: random small architectures and weights
# --------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(
    n_classes=st.integers(2, 4),
    output_activation=st.sampled_from(["auto", "logistic", "softmax"]),
    hidden=st.lists(st.integers(1, 4), max_size=2),
    scale=st.floats(1e-3, 1e4),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_property_predict_proba_rows_are_distributions(
    activation_names,
    quiet_fit,
    assert_distributions,
    n_classes,
    output_activation,
    hidden,
    scale,
    seed,
    data,
):
    activation = data.draw(st.sampled_from(activation_names), label="activation")
    rng = np.random.default_rng(seed)
    X = rng.normal(scale=3.0, size=(12, 3))
    y = np.arange(12) % n_classes
    clf = quiet_fit(
        BackpropClassifier(
            hidden_layer_sizes=tuple(hidden),
            activation=activation,
            output_activation=output_activation,
            max_iter=1,
            random_state=0,
        ),
        X,
        y,
    )
    for theta in clf.thetas_:
        theta[...] = rng.normal(scale=scale, size=theta.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        P = clf.predict_proba(X)
    assert P.shape == (12, n_classes)
    assert_distributions(P)
    # and they are the softmax / normalised sigmoids of the logits
    if clf.out_activation_ == "softmax":
        Z = clf._output_logits(X)
        expected = np.exp(Z - logsumexp(Z, axis=1, keepdims=True))
        assert_allclose(P, expected, rtol=0, atol=1e-9)
