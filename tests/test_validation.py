"""Bad parameters and bad input are refused, with a message naming the problem.

Each refusal is a ``ValueError`` (``InvalidParameterError``, a subclass of both
``ValueError`` and ``TypeError``, for constructor parameters) or a
``NotFittedError``. docs/guarantees.rst lists each guarantee with its test.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from sklearn_backprop import BackpropClassifier, BackpropRegressor

# --------------------------------------------------------------------------
# fit: bad X, y and sample_weight
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, match", [(np.nan, "Input X contains NaN"), (np.inf, "infinity")]
)
@pytest.mark.parametrize("sign", [1, -1])
def test_nan_or_inf_in_X_is_refused(
    Estimator, small_data, make_small, value, match, sign
):
    X, y = small_data
    X = X.copy()
    X[4, 1] = sign * value
    with pytest.raises(ValueError, match=match):
        make_small(Estimator).fit(X, y)


@pytest.mark.parametrize(
    "value, match", [(np.nan, "Input y contains NaN"), (np.inf, "infinity")]
)
def test_nan_or_inf_in_y_is_refused(Estimator, small_data, make_small, value, match):
    X, y = small_data
    y = y.astype(float)
    y[3] = value
    with pytest.raises(ValueError, match=match):
        make_small(Estimator).fit(X, y)


def test_y_with_a_single_class_is_refused(small_data, make_small):
    X, _ = small_data
    with pytest.raises(ValueError, match="at least 2 classes.*only one class: .*7"):
        make_small(BackpropClassifier).fit(X, np.full(30, 7))


def test_y_of_the_wrong_length_is_refused(Estimator, small_data, make_small):
    X, y = small_data
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[30, 29"):
        make_small(Estimator).fit(X, y[:-1])


def test_3d_X_is_refused(Estimator, small_data, make_small):
    X, y = small_data
    with pytest.raises(ValueError, match="Found array with dim 3"):
        make_small(Estimator).fit(X.reshape(30, 3, 1), y)


@pytest.mark.parametrize("shape, match", [((0, 3), "0 sample"), ((30, 0), "0 feature")])
def test_empty_X_is_refused(Estimator, small_data, make_small, shape, match):
    y = small_data[1][: shape[0]]
    with pytest.raises(ValueError, match=match):
        make_small(Estimator).fit(np.empty(shape), y)


def test_non_numeric_X_is_refused(Estimator, small_data, make_small):
    _, y = small_data
    X = np.array([["a", "b"]] * 30)
    with pytest.raises(ValueError, match="could not convert string to float"):
        make_small(Estimator).fit(X, y)
    frame = pd.DataFrame({"a": np.arange(30.0), "b": ["x", "y"] * 15})
    with pytest.raises(ValueError, match="could not convert string to float: 'x'"):
        make_small(Estimator).fit(frame, y)


def test_complex_X_is_refused(Estimator, small_data, make_small):
    X, y = small_data
    with pytest.raises(ValueError, match="Complex data not supported"):
        make_small(Estimator).fit(X + 1j, y)


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
def test_bad_sample_weight_is_refused(
    Estimator, small_data, make_small, sample_weight, match
):
    X, y = small_data
    with pytest.raises(ValueError, match=match):
        make_small(Estimator).fit(X, y, sample_weight=sample_weight)


# --------------------------------------------------------------------------
# fit: bad parameters
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hidden", [0, -2, 2.5, (0,), (-1,), (2.5,), (3, 0), (3, -1), ("a",), (True,)]
)
def test_bad_hidden_layer_sizes_are_refused(Estimator, small_data, hidden):
    X, y = small_data
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        Estimator(hidden_layer_sizes=hidden, max_iter=5).fit(X, y)


@pytest.mark.parametrize("param", ["activation", "solver", "output_activation"])
def test_unknown_names_are_refused(Estimator, small_data, make_small, param):
    X, y = small_data
    with pytest.raises(ValueError, match=f"'{param}' parameter .* Got 'foo'"):
        make_small(Estimator, **{param: "foo"}).fit(X, y)


def test_solvers_without_a_gradient_are_refused(
    Estimator, small_data, make_small, no_gradient_solver
):
    X, y = small_data
    solver = no_gradient_solver
    match = f"solver='{solver}' does not use the gradient"
    with pytest.raises(ValueError, match=match):
        make_small(Estimator, solver=solver).fit(X, y)


def test_solvers_needing_the_full_hessian_are_refused(
    small_data, make_small, full_hessian_solver
):
    X, y = small_data
    solver = full_hessian_solver
    with pytest.raises(ValueError, match=f"solver='{solver}' needs the full Hessian"):
        make_small(BackpropClassifier, solver=solver).fit(X, y)


def test_solver_options_the_solver_rejects_surface_scipys_message(
    Estimator, small_data, make_small, solver
):
    X, y = small_data
    est = make_small(Estimator, solver=solver, solver_options={"bogus_option": 1})
    with pytest.raises(
        ValueError,
        match=f"rejected by solver='{solver}': Unknown solver options: bogus_option",
    ):
        est.fit(X, y)


def test_solver_option_values_scipy_rejects_are_not_swallowed(small_data, make_small):
    X, y = small_data
    est = make_small(BackpropClassifier, solver_options={"maxcor": "ten"})
    with pytest.raises(TypeError):  # raised by scipy itself, passed through
        est.fit(X, y)


# --------------------------------------------------------------------------
# predict
# --------------------------------------------------------------------------


def test_predict_on_another_number_of_features_is_refused(
    Estimator, small_data, make_small, quiet_fit
):
    X, y = small_data
    est = quiet_fit(make_small(Estimator), X, y)
    methods = ["predict", "score"]
    if Estimator is BackpropClassifier:
        methods += ["predict_proba", "predict_log_proba"]
    match = "X has 2 features, but .* is expecting 3 features"
    for method in methods:
        args = (X[:, :2], y) if method == "score" else (X[:, :2],)
        with pytest.raises(ValueError, match=match):
            getattr(est, method)(*args)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_predict_on_other_feature_names_or_bad_values_is_refused(
    small_data, make_small, quiet_fit
):
    X, y = small_data
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    est = quiet_fit(make_small(BackpropClassifier), frame, y)
    with pytest.raises(ValueError, match="feature names should match"):
        est.predict(frame.rename(columns={"a": "z"}))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.predict(np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        est.predict(X[0])


def test_predict_before_fit_raises_not_fitted(Estimator, small_data):
    X, _ = small_data
    methods = ["predict"]
    if Estimator is BackpropClassifier:
        methods += ["predict_proba", "predict_log_proba"]
    for method in methods:
        with pytest.raises(NotFittedError, match="not fitted yet"):
            getattr(Estimator(), method)(X)


@pytest.mark.parametrize("activation", ["relu", "identity"])  # logistic, tanh saturate
def test_non_finite_cost_at_the_initial_weights_is_refused(
    Estimator, solver, activation
):
    # features near the largest float: J (or its gradient) overflows at θ0
    rng = np.random.RandomState(0)
    X = np.finfo(np.float64).max * rng.uniform(size=(10, 2))
    y = rng.standard_normal(size=10)
    if Estimator is BackpropClassifier:
        y = (y > 0).astype(int)
    est = Estimator(solver=solver, activation=activation, random_state=0)
    with pytest.raises(ValueError, match="not finite at the initial weights"):
        est.fit(X, y)
    assert not hasattr(est, "thetas_")  # nothing fitted


@pytest.mark.parametrize("n, classes", [(10, None), (10, 3), (30, 5)])
def test_a_validation_split_too_small_to_score_is_refused(n, classes):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    if classes is None:
        est, y = BackpropRegressor(early_stopping=True), rng.normal(size=n)
    else:
        est, y = BackpropClassifier(early_stopping=True), np.arange(n) % classes
    with pytest.raises(ValueError, match="early_stopping.*validation_fraction"):
        est.fit(X, y)
    # a larger validation_fraction makes the same data work
    est.set_params(validation_fraction=0.5, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert np.isfinite(est.best_validation_score_)


def test_n_iter_no_change_inf_turns_the_early_stop_off(iris):
    X, y = iris
    est = BackpropClassifier(
        early_stopping=True,
        n_iter_no_change=np.inf,
        tol=0.5,  # no iteration improves accuracy by half
        solver_options={"gtol": 1e-10},  # ...while the solver itself goes on
        max_iter=30,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert est.n_iter_ == 30  # tol=0.5 would have stopped it after 2 otherwise
    assert est.best_validation_score_ == max(est.validation_scores_)


def test_a_fit_stopped_before_its_first_iteration_scores_its_weights(iris):
    X, y = iris
    est = BackpropClassifier(early_stopping=True, tol=1e6).fit(X, y)
    assert est.n_iter_ == 0
    assert len(est.validation_scores_) == 1
    assert est.best_validation_score_ == est.validation_scores_[0]
    assert 0 <= est.best_validation_score_ <= 1
