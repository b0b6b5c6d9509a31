"""Hostile input and numerical extremes: a clear error or a correct answer.

Every bad input is refused with an exception whose message names the problem;
every legal input, however extreme, gives a finite and correct result; and
nothing is lost: a failed fit leaves the estimator as it was, a pickle keeps
its predictions (and says so when loaded by another version), and concurrent
predictions agree. docs/guarantees.rst lists each guarantee with its test.
"""

import copy
import pickle
import sys
import tracemalloc
import warnings
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn.exceptions
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted

import sklearn_backprop
from sklearn_backprop import BackpropClassifier, BackpropRegressor
from sklearn_backprop import _guards as guards
from sklearn_backprop._guards import InconsistentVersionWarning
from sklearn_backprop._training import (
    FULL_HESSIAN_SOLVERS,
    NO_GRADIENT_SOLVERS,
    TOL_OPTIONS,
)
from sklearn_backprop.network import (
    cost_grad,
    gradient_check,
    n_params,
    pack,
    unpack,
)

ACTIVATIONS = ["logistic", "tanh", "relu", "identity"]
ESTIMATORS = [BackpropClassifier, BackpropRegressor]


def quiet(estimator, X, y, **fit_params):
    """Fit, ignoring ConvergenceWarning (the tests use tiny max_iter)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y, **fit_params)


def small(cls, **params):
    return cls(hidden_layer_sizes=(3,), max_iter=5, random_state=0, **params)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    return X, np.arange(30) % 3


def assert_distributions(P, atol=1e-9):
    """Rows of P are probability distributions: finite, in [0, 1], sum 1."""
    assert not np.isnan(P).any()
    assert np.all((P >= 0) & (P <= 1))
    assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=atol)


# --------------------------------------------------------------------------
# Refused, with a message naming the problem
# --------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize(
    "value, match", [(np.nan, "Input X contains NaN"), (np.inf, "infinity")]
)
@pytest.mark.parametrize("sign", [1, -1])
def test_nan_or_inf_in_X_is_refused(cls, data, value, match, sign):
    X, y = data
    X = X.copy()
    X[4, 1] = sign * value
    with pytest.raises(ValueError, match=match):
        small(cls).fit(X, y)


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize(
    "value, match", [(np.nan, "Input y contains NaN"), (np.inf, "infinity")]
)
def test_nan_or_inf_in_y_is_refused(cls, data, value, match):
    X, y = data
    y = y.astype(float)
    y[3] = value
    with pytest.raises(ValueError, match=match):
        small(cls).fit(X, y)


def test_y_with_a_single_class_is_refused(data):
    X, _ = data
    with pytest.raises(ValueError, match="at least 2 classes.*only one class: .*7"):
        small(BackpropClassifier).fit(X, np.full(30, 7))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_y_of_the_wrong_length_is_refused(cls, data):
    X, y = data
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[30, 29"):
        small(cls).fit(X, y[:-1])


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_3d_X_is_refused(cls, data):
    X, y = data
    with pytest.raises(ValueError, match="Found array with dim 3"):
        small(cls).fit(X.reshape(30, 3, 1), y)


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("shape, match", [((0, 3), "0 sample"), ((30, 0), "0 feature")])
def test_empty_X_is_refused(cls, data, shape, match):
    y = data[1][: shape[0]]
    with pytest.raises(ValueError, match=match):
        small(cls).fit(np.empty(shape), y)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_non_numeric_X_is_refused(cls, data):
    _, y = data
    X = np.array([["a", "b"]] * 30)
    with pytest.raises(ValueError, match="could not convert string to float"):
        small(cls).fit(X, y)
    frame = pd.DataFrame({"a": np.arange(30.0), "b": ["x", "y"] * 15})
    with pytest.raises(ValueError, match="could not convert string to float: 'x'"):
        small(cls).fit(frame, y)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_complex_X_is_refused(cls, data):
    X, y = data
    with pytest.raises(ValueError, match="Complex data not supported"):
        small(cls).fit(X + 1j, y)


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize(
    "sample_weight, match",
    [
        (np.ones(29), r"sample_weight.shape == \(29,\), expected \(30,\)"),
        (np.r_[-1.0, np.ones(29)], "Negative values in data passed to sample_weight"),
        (np.r_[np.nan, np.ones(29)], "Input sample_weight contains NaN"),
        (np.r_[np.inf, np.ones(29)], "sample_weight contains infinity"),
        (np.zeros(30), "sample_weight must contain at least one positive value"),
    ],
    ids=["length", "negative", "nan", "inf", "all-zero"],
)
def test_bad_sample_weight_is_refused(cls, data, sample_weight, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        small(cls).fit(X, y, sample_weight=sample_weight)


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize(
    "hidden", [0, -2, 2.5, (0,), (-1,), (2.5,), (3, 0), ("a",), (True,)]
)
def test_bad_hidden_layer_sizes_are_refused(cls, data, hidden):
    X, y = data
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        cls(hidden_layer_sizes=hidden, max_iter=5).fit(X, y)


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("param", ["activation", "solver", "output_activation"])
def test_unknown_names_are_refused(cls, data, param):
    X, y = data
    with pytest.raises(ValueError, match=f"'{param}' parameter .* Got 'foo'"):
        small(cls, **{param: "foo"}).fit(X, y)


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("solver", sorted(NO_GRADIENT_SOLVERS))
def test_solvers_without_a_gradient_are_refused(cls, data, solver):
    X, y = data
    with pytest.raises(ValueError, match=f"solver='{solver}' does not use the grad"):
        small(cls, solver=solver).fit(X, y)


@pytest.mark.parametrize("solver", sorted(FULL_HESSIAN_SOLVERS))
def test_solvers_needing_the_full_hessian_are_refused(data, solver):
    X, y = data
    with pytest.raises(ValueError, match=f"solver='{solver}' needs the full Hessian"):
        small(BackpropClassifier, solver=solver).fit(X, y)


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("solver", sorted(TOL_OPTIONS))
def test_solver_options_the_solver_rejects_surface_scipys_message(cls, data, solver):
    X, y = data
    est = small(cls, solver=solver, solver_options={"bogus_option": 1})
    with pytest.raises(
        ValueError,
        match=f"rejected by solver='{solver}': Unknown solver options: bogus_option",
    ):
        est.fit(X, y)


def test_solver_option_values_scipy_rejects_are_not_swallowed(data):
    X, y = data
    est = small(BackpropClassifier, solver_options={"maxcor": "ten"})
    with pytest.raises(TypeError):  # raised by scipy itself, passed through
        est.fit(X, y)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_predict_on_another_number_of_features_is_refused(cls, data):
    X, y = data
    est = quiet(small(cls), X, y)
    methods = ["predict", "score"]
    if cls is BackpropClassifier:
        methods += ["predict_proba", "predict_log_proba"]
    match = "X has 2 features, but .* is expecting 3 features"
    for method in methods:
        args = (X[:, :2], y) if method == "score" else (X[:, :2],)
        with pytest.raises(ValueError, match=match):
            getattr(est, method)(*args)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_predict_on_other_feature_names_or_bad_values_is_refused(data):
    X, y = data
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    est = quiet(small(BackpropClassifier), frame, y)
    with pytest.raises(ValueError, match="feature names should match"):
        est.predict(frame.rename(columns={"a": "z"}))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.predict(np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        est.predict(X[0])


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_predict_before_fit_raises_not_fitted(cls, data):
    X, _ = data
    methods = ["predict"]
    if cls is BackpropClassifier:
        methods += ["predict_proba", "predict_log_proba"]
    for method in methods:
        with pytest.raises(NotFittedError, match="not fitted yet"):
            getattr(cls(), method)(X)


# --------------------------------------------------------------------------
# Correct under extremes
# --------------------------------------------------------------------------


def _scaled(X, how):
    if how == "constant":
        return np.hstack([X, np.full((X.shape[0], 1), 3.0)])
    if how == "mixed":
        return X * np.array([1e-8, 1e8, 1.0, 1.0, 1.0])
    return X * how


SCALED_CASES = [
    pytest.param(how, dtype, activation)
    for how in [1e-8, 1e8, "constant", "mixed"]
    for dtype in [np.float64, np.float32]
    for activation in ACTIVATIONS
]


@pytest.fixture(scope="module")
def three_classes():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 5))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    return X, y


@pytest.mark.parametrize("how, dtype, activation", SCALED_CASES)
def test_scaled_and_constant_features_fit_without_runtime_warnings(
    three_classes, how, dtype, activation
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


@pytest.mark.parametrize("solver", sorted(TOL_OPTIONS))
def test_scaled_features_fit_without_runtime_warnings_for_every_solver(
    three_classes, solver
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
    three_classes, how, dtype
):
    X, y = three_classes
    X = _scaled(X, how).astype(dtype)
    for activation in ACTIVATIONS:
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


def _saturated_problem(n_classes, output_activation, seed):
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
    quiet(clf, X, y)
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
    n_classes, output_activation, seed
):
    clf, X, y = _saturated_problem(n_classes, output_activation, seed)
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
    n_classes, output_activation, multilabel, dtype
):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(dtype)
    y = np.arange(60) % n_classes
    if multilabel:
        y = np.eye(n_classes, dtype=int)[y] | (rng.uniform(size=(60, 1)) < 0.3)
    clf = quiet(
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
def test_huge_tied_logits_split_the_probability_evenly(dtype, scale):
    X = np.random.default_rng(0).normal(size=(9, 2)).astype(dtype)
    clf = quiet(small(BackpropClassifier), X, np.arange(9) % 3)
    T1, T2 = clf.thetas_
    T1[...] = 1.0
    T2[...] = scale  # classes 0 and 1 have the same weights: tied logits
    T2[2] = -scale  # and class 2 is far below them
    P = clf.predict_proba(X)
    assert_allclose(P[:, :2], 0.5, rtol=10 * np.finfo(dtype).eps)
    assert_array_equal(P[:, 2] < 1e-30, True)


def test_one_sample_per_class():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = np.array(["a", "b", "c", "d"])
    clf = BackpropClassifier(hidden_layer_sizes=(4,), alpha=1e-6, random_state=0)
    clf.fit(X, y)
    assert_array_equal(clf.predict(X), y)
    assert_distributions(clf.predict_proba(X))
    assert np.isfinite(clf.loss_)
    # early stopping cannot hold a sample of each class out: a clear refusal
    with pytest.raises(ValueError, match="least populated class.* only 1 member"):
        BackpropClassifier(early_stopping=True).fit(X, y)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_more_features_than_samples(cls):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 300))
    y = np.arange(8) % 2
    est = cls(hidden_layer_sizes=(5,), random_state=0).fit(X, y)
    assert np.isfinite(est.loss_)
    if cls is BackpropClassifier:
        assert_array_equal(est.predict(X), y)  # separable: memorised
        assert_distributions(est.predict_proba(X))
    else:
        assert np.all(np.isfinite(est.predict(X)))
        assert est.score(X, y) > 0.9


def test_a_thousand_classes_with_two_samples_each():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 10))
    y = np.repeat(np.arange(1000), 2)
    rng.shuffle(y)
    clf = quiet(
        BackpropClassifier(hidden_layer_sizes=(6,), max_iter=8, random_state=0), X, y
    )
    assert clf.classes_.shape == (1000,)
    assert clf.n_outputs_ == 1000
    assert np.isfinite(clf.loss_)
    assert clf.loss_ < clf.loss_curve_[0] <= np.log(1000) + 1
    P = clf.predict_proba(X)
    assert P.shape == (2000, 1000)
    assert_distributions(P)
    assert np.isin(clf.predict(X), clf.classes_).all()


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_a_single_feature(cls):
    X = np.linspace(-3, 3, 40).reshape(-1, 1)
    y = (X.ravel() > 0.3).astype(int)
    est = cls(hidden_layer_sizes=(3,), random_state=0).fit(X, y)
    assert est.n_features_in_ == 1
    assert est.predict(X).shape == (40,)
    if cls is BackpropClassifier:
        assert est.score(X, y) == 1.0
        assert_distributions(est.predict_proba(X))
    with pytest.raises(ValueError, match="Reshape your data"):
        est.predict(X.ravel())


# --------------------------------------------------------------------------
# A network too large for memory is refused before allocating
# --------------------------------------------------------------------------


def test_a_network_too_large_for_memory_is_refused_before_allocating(data):
    X, y = data
    clf = BackpropClassifier(hidden_layer_sizes=(10**6, 10**6))
    tracemalloc.start()
    try:
        with pytest.raises(MemoryError) as info:
            clf.fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20  # 8 TB were never asked for
    message = str(info.value)
    assert "BackpropClassifier with hidden_layer_sizes=(1000000, 1000000)" in message
    layer_sizes = [3, 10**6, 10**6, 3]
    need = guards.fit_memory(layer_sizes, 30, np.float64, "L-BFGS-B")
    assert f"needs about {guards.format_bytes(need)} to fit" in message
    assert guards.format_bytes(need) == "291.0 TiB"
    assert "1,000,008,000,003 parameters (layer sizes [3, 1000000, 1000000, 3])" in (
        message
    )
    assert "physical memory" in message
    assert not hasattr(clf, "n_features_in_")  # and nothing was half-set


def test_fit_memory_estimate_and_its_constants():
    p = n_params([3, 4, 2])
    assert guards.fit_memory([3, 4, 2], 10, np.float64, "L-BFGS-B") == 8 * (
        p * guards.THETA_COPIES + 10 * 6 * guards.ACTIVATION_COPIES
    )
    assert guards.fit_memory([3, 4, 2], 10, np.float32, "CG") == (
        8 * p * guards.THETA_COPIES + 4 * 10 * 6 * guards.ACTIVATION_COPIES
    )
    assert guards.fit_memory([3, 4, 2], 10, np.float64, "BFGS") == (
        guards.fit_memory([3, 4, 2], 10, np.float64, "L-BFGS-B") + 8 * p * p
    )
    assert guards.fit_memory([3, 4, 2], 10, np.float64, "trust-ncg") == 8 * (
        p * guards.THETA_COPIES + 10 * 6 * guards.HESSP_ACTIVATION_COPIES
    )
    # activations are counted per row chunk, which working_memory bounds
    huge_n = guards.fit_memory([3, 4, 2], 10**12, np.float64, "L-BFGS-B")
    assert huge_n < 2 * sklearn.get_config()["working_memory"] * 2**20


@pytest.mark.parametrize(
    "layer_sizes, n_samples, solver",
    [
        ([64, 25, 10], 1797, "L-BFGS-B"),  # digits
        ([784, 300, 100, 10], 60_000, "L-BFGS-B"),  # MNIST-sized
        ([784, 300, 100, 10], 60_000, "trust-krylov"),
        ([20, 50, 50, 1], 10**6, "CG"),
        ([64, 100, 10], 1797, "BFGS"),
    ],
)
def test_memory_guard_does_not_trigger_on_normal_problems(
    monkeypatch, layer_sizes, n_samples, solver
):
    # A modest 4 GiB machine fits all of these.
    monkeypatch.setattr(guards, "physical_memory", lambda: 4 * 2**30)
    est = BackpropClassifier(hidden_layer_sizes=tuple(layer_sizes[1:-1]), solver=solver)
    guards.check_fit_memory(est, layer_sizes, n_samples, np.float64)


def test_memory_guard_compares_with_physical_memory(monkeypatch, data):
    X, y = data
    monkeypatch.setattr(guards, "physical_memory", lambda: 2**20)
    clf = BackpropClassifier(hidden_layer_sizes=(1000,))
    with pytest.raises(MemoryError, match=r"needs about 2\.6 MiB .* 1\.0 MiB of phys"):
        clf.fit(X, y)
    clf.set_params(hidden_layer_sizes=(100,)).fit(X, y)  # 100 units fit in 1 MiB


def test_physical_memory_and_its_fallback(monkeypatch):
    memory = guards.physical_memory()
    if hasattr(guards.os, "sysconf"):
        assert memory > 2**26  # at least 64 MiB
    monkeypatch.delattr(guards.os, "sysconf", raising=False)
    assert guards.physical_memory() is None
    # Without it, only what no process can address is refused.
    est = BackpropClassifier(hidden_layer_sizes=(10**9, 10**9))
    with pytest.raises(MemoryError, match="EiB .* a process can address"):
        guards.check_fit_memory(est, [3, 10**9, 10**9, 2], 10, np.float64)
    guards.check_fit_memory(est, [3, 10**6, 10**6, 2], 10, np.float64)
    assert sys.maxsize < guards.fit_memory([3, 10**9, 10**9, 2], 10, "f8", "CG")


# --------------------------------------------------------------------------
# Property-based: random small architectures, data and weights
# --------------------------------------------------------------------------


@st.composite
def networks(draw):
    """(layer_sizes, activation, output activation, loss, X, Y, θ, weights)."""
    output_activation, loss = draw(
        st.sampled_from(
            [
                ("logistic", "log_loss"),
                ("softmax", "log_loss"),
                ("identity", "squared_error"),
                ("logistic", "squared_error"),
            ]
        )
    )
    activation = draw(st.sampled_from(ACTIVATIONS))
    n_out = draw(st.integers(2 if output_activation == "softmax" else 1, 3))
    hidden = draw(st.lists(st.integers(1, 4), max_size=2))
    layer_sizes = [draw(st.integers(1, 3)), *hidden, n_out]
    n = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([0.1, 1.0, 3.0]))
    X = rng.normal(size=(n, layer_sizes[0]))
    theta = rng.normal(scale=scale, size=n_params(layer_sizes))
    if output_activation == "softmax":
        Y = np.eye(n_out)[rng.integers(0, n_out, size=n)]
    elif output_activation == "logistic":
        Y = rng.integers(0, 2, size=(n, n_out)).astype(float)
    else:
        Y = rng.normal(size=(n, n_out))
    sw = rng.uniform(0.1, 2.0, size=n) if draw(st.booleans()) else None
    return layer_sizes, activation, output_activation, loss, X, Y, theta, sw


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.sampled_from([0.0, 0.5]))
def test_property_gradient_matches_finite_differences(network, alpha):
    layer_sizes, activation, output_activation, loss, X, Y, theta, sw = network
    kwargs = {
        "alpha": alpha,
        "activation": activation,
        "output_activation": output_activation,
        "loss": loss,
        "sample_weight": sw,
    }
    J, grad = cost_grad(theta, X, Y, layer_sizes, **kwargs)
    # Differences across a relu kink, or of a gradient lost in J's round-off,
    # say nothing about the gradient.
    assume(np.linalg.norm(grad) > 1e-3 * max(1.0, J))
    if activation == "relu":
        A, Z = X, []
        for T in unpack(theta, layer_sizes)[:-1]:
            A = A @ T[:, 1:].T + T[:, 0]
            Z.append(A)
            A = np.maximum(A, 0)
        assume(all(np.min(np.abs(z)) > 1e-3 for z in Z))
    assert gradient_check(theta, X, Y, layer_sizes, eps=1e-5, **kwargs) < 1e-6


@settings(max_examples=20, deadline=None)
@given(
    st.integers(2, 4),
    st.sampled_from(["auto", "logistic", "softmax"]),
    st.lists(st.integers(1, 4), max_size=2),
    st.sampled_from(ACTIVATIONS),
    st.floats(1e-3, 1e4),
    st.integers(0, 2**32 - 1),
)
def test_property_predict_proba_rows_are_distributions(
    n_classes, output_activation, hidden, activation, scale, seed
):
    rng = np.random.default_rng(seed)
    X = rng.normal(scale=3.0, size=(12, 3))
    y = np.arange(12) % n_classes
    clf = quiet(
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


@settings(max_examples=10, deadline=None)
@given(
    st.sampled_from(ESTIMATORS),
    st.lists(st.integers(1, 4), max_size=2),
    st.sampled_from(ACTIVATIONS),
    st.sampled_from(sorted(TOL_OPTIONS)),
    st.integers(0, 2**32 - 1),
    st.integers(0, 1000),
)
def test_property_fit_is_deterministic_for_a_fixed_random_state(
    cls, hidden, activation, solver, data_seed, random_state
):
    rng = np.random.default_rng(data_seed)
    X = rng.normal(size=(20, 3))
    y = np.arange(20) % 2 if cls is BackpropClassifier else rng.normal(size=20)
    params = {
        "hidden_layer_sizes": tuple(hidden),
        "activation": activation,
        "solver": solver,
        "max_iter": 10,
        "random_state": random_state,
    }
    first = quiet(cls(**params), X, y)
    second = quiet(cls(**params), X, y)
    for a, b in zip(first.thetas_, second.thetas_, strict=True):
        assert_array_equal(a, b)
    assert first.loss_curve_ == second.loss_curve_
    assert_array_equal(first.predict(X), second.predict(X))


# --------------------------------------------------------------------------
# Nothing lost
# --------------------------------------------------------------------------


def _snapshot(est):
    return dict(vars(est))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_failed_refit_leaves_the_previous_fitted_state(cls, data):
    X, y = data
    est = quiet(small(cls), X, y)
    before, predictions = _snapshot(est), est.predict(X)
    X5 = np.hstack([X, X[:, :2]])
    est.set_params(solver_options={"bogus_option": 1})
    with pytest.raises(ValueError, match="bogus_option"):
        est.fit(X5, y)  # raises after validate_data has seen 5 features
    est.set_params(solver_options=None)
    after = _snapshot(est)
    after.pop("solver_options"), before.pop("solver_options")
    assert after.keys() == before.keys()
    assert all(after[k] is before[k] for k in before)  # the very same objects
    assert est.n_features_in_ == 3
    assert_array_equal(est.predict(X), predictions)


def test_failed_refit_keeps_feature_names_and_classes(data):
    X, y = data
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    clf = quiet(small(BackpropClassifier, warm_start=True), frame, y)
    proba = clf.predict_proba(frame)
    # warm start with other classes fails after validate_data and the labels
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(np.hstack([X, X]), y + 10)
    assert_array_equal(clf.feature_names_in_, ["a", "b", "c"])
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert_array_equal(clf.predict_proba(frame), proba)
    # the memory guard fails later still, after the targets are encoded
    clf.set_params(warm_start=False, hidden_layer_sizes=(10**6, 10**6))
    with pytest.raises(MemoryError):
        clf.fit(X[:, :2], np.arange(30) % 5)
    assert clf.n_features_in_ == 3 and clf.classes_.shape == (3,)
    assert_array_equal(clf.feature_names_in_, ["a", "b", "c"])
    assert_array_equal(clf.predict_proba(frame), proba)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_failed_first_fit_leaves_the_estimator_unfitted(cls, data):
    X, y = data
    est = small(cls, solver_options={"bogus_option": 1})
    before = _snapshot(est)
    with pytest.raises(ValueError, match="bogus_option"):
        est.fit(X, y)
    assert _snapshot(est) == before
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    with pytest.raises(NotFittedError):
        est.predict(X)


def _interrupt_on_the_second_iteration(progress):
    if progress.iteration == 2:
        raise KeyboardInterrupt  # what Ctrl-C does mid-fit


@pytest.mark.parametrize(
    "params, category",
    [
        ({"max_iter": 2}, ConvergenceWarning),
        ({"callback": _interrupt_on_the_second_iteration}, UserWarning),
    ],
    ids=["convergence", "interrupt"],
)
def test_fit_warnings_point_at_the_callers_line(data, params, category):
    X, y = data
    with pytest.warns(category) as record:
        BackpropClassifier(hidden_layer_sizes=(3,), **params).fit(X, y)
    assert [w.filename for w in record] == [__file__]


def _round_trips(est, tmp_path):
    yield pickle.loads(pickle.dumps(est))
    joblib.dump(est, tmp_path / "est.joblib")
    yield joblib.load(tmp_path / "est.joblib")
    yield copy.deepcopy(est)


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pickle_and_joblib_round_trips_preserve_predictions_exactly(
    cls, dtype, data, tmp_path
):
    X, y = data
    X = X.astype(dtype)
    est = quiet(small(cls), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", sklearn.exceptions.InconsistentVersionWarning)
        for restored in _round_trips(est, tmp_path):
            assert type(restored) is cls
            assert guards.VERSION_KEY not in vars(restored)
            assert_array_equal(restored.predict(X), est.predict(X))
            if cls is BackpropClassifier:
                assert_array_equal(restored.predict_proba(X), est.predict_proba(X))
            for a, b in zip(restored.thetas_, est.thetas_, strict=True):
                assert a.dtype == b.dtype
                assert_array_equal(a, b)


def test_pickle_from_another_package_version_warns(data, monkeypatch, tmp_path):
    X, y = data
    clf = quiet(small(BackpropClassifier), X, y)
    current = sklearn_backprop.__version__
    monkeypatch.setattr(sklearn_backprop, "__version__", "0.0.1")
    pickled = pickle.dumps(clf)
    joblib.dump(clf, tmp_path / "old.joblib")
    monkeypatch.setattr(sklearn_backprop, "__version__", current)
    match = (
        "unpickle estimator BackpropClassifier from sklearn-backprop version "
        f"0.0.1 when using version {current}"
    )
    for load in [
        lambda: pickle.loads(pickled),
        lambda: joblib.load(tmp_path / "old.joblib"),
    ]:
        with pytest.warns(InconsistentVersionWarning, match=match) as record:
            restored = load()
        warning = record[0].message
        # scikit-learn's filter for its own version warning catches it too
        assert isinstance(warning, sklearn.exceptions.InconsistentVersionWarning)
        assert (warning.original_version, warning.current_version) == ("0.0.1", current)
        assert guards.VERSION_KEY not in vars(restored)
        assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_edited_or_missing_version_in_the_state_warns(data):
    X, y = data
    reg = quiet(small(BackpropRegressor), X, y)
    state = reg.__getstate__()
    assert state[guards.VERSION_KEY] == sklearn_backprop.__version__
    state[guards.VERSION_KEY] = "9.9.9"
    restored = BackpropRegressor.__new__(BackpropRegressor)
    with pytest.warns(InconsistentVersionWarning, match="version 9.9.9 when using"):
        restored.__setstate__(state)
    assert_array_equal(restored.predict(X), reg.predict(X))
    del state[guards.VERSION_KEY]  # a pickle from before versions were recorded
    with pytest.warns(InconsistentVersionWarning, match="version unknown when using"):
        BackpropRegressor.__new__(BackpropRegressor).__setstate__(state)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_concurrent_predictions_on_one_estimator_are_identical(cls):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 6))
    y = np.arange(500) % 4
    est = quiet(cls(hidden_layer_sizes=(16, 8), max_iter=20, random_state=0), X, y)
    method = "predict_proba" if cls is BackpropClassifier else "predict"
    chunks = [X[i::7] for i in range(7)]
    expected = [getattr(est, method)(c) for c in chunks]
    expected_labels = [est.predict(c) for c in chunks]

    def work(i):
        chunk = chunks[i % 7]
        return i % 7, getattr(est, method)(chunk), est.predict(chunk)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(64)))
    for i, values, labels in results:
        assert_array_equal(values, expected[i])
        assert_array_equal(labels, expected_labels[i])
