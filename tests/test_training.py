"""Second-order solvers, early stopping, callbacks and interrupts."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import StandardScaler

import sklearn_backprop._training as training
from sklearn_backprop import BackpropClassifier, BackpropRegressor, Progress
from sklearn_backprop.network import forward

ALL_SOLVERS = [
    "L-BFGS-B",
    "CG",
    "BFGS",
    "Newton-CG",
    "TNC",
    "trust-ncg",
    "trust-krylov",
]


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.mark.parametrize("solver", ["Newton-CG", "trust-ncg", "trust-krylov"])
def test_hessp_solvers_use_curvature_and_learn_digits(digits, solver):
    X, y = digits
    clf = BackpropClassifier(
        hidden_layer_sizes=(10,), alpha=1.0, solver=solver, max_iter=15, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.optimize_result_.nhev > 0  # Hessian-vector products were used
    assert clf.score(X, y) > 0.9


@pytest.mark.parametrize(
    "solver, expected",
    [("Newton-CG", "exact"), ("trust-ncg", "exact"), ("trust-krylov", "exact")],
)
def test_auto_curvature_per_solver(solver, expected):
    assert BackpropClassifier(solver=solver)._curvature() == expected
    gauss_newton = BackpropClassifier(solver=solver, curvature="gauss-newton")
    assert gauss_newton._curvature() == "gauss-newton"


def test_explicit_curvature_reaches_the_objective(iris, monkeypatch):
    X, y = iris
    seen = []
    original = training.hessp

    def spy(*args, curvature, **kwargs):
        seen.append(curvature)
        return original(*args, curvature=curvature, **kwargs)

    monkeypatch.setattr(training, "hessp", spy)
    BackpropClassifier(
        hidden_layer_sizes=(3,), solver="trust-ncg", curvature="gauss-newton"
    ).fit(X, y)
    assert seen and set(seen) == {"gauss-newton"}


@pytest.mark.parametrize("solver", ["dogleg", "trust-exact"])
def test_full_hessian_solvers_are_refused(iris, solver):
    X, y = iris
    with pytest.raises(ValueError, match="full Hessian"):
        BackpropClassifier(solver=solver).fit(X, y)


@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_early_stopping_keeps_best_weights_for_every_solver(digits, solver):
    X, y = digits
    clf = BackpropClassifier(
        hidden_layer_sizes=(8,),
        alpha=1e-4,
        solver=solver,
        early_stopping=True,
        n_iter_no_change=3,
        tol=0.0,
        max_iter=300,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    scores = clf.validation_scores_
    assert len(scores) == clf.n_iter_ == len(clf.loss_curve_)
    assert clf.best_validation_score_ == max(scores)
    # The kept weights are the best-scoring ones: rescore them on the same split.
    _, val = clf._validation_split(y)
    Z = forward(clf.thetas_, X[val], output_activation="identity")[-1]
    assert accuracy_score(y[val], clf._decode(Z)) == clf.best_validation_score_
    if clf.optimize_result_.message.startswith("Fit validation"):
        assert clf.n_iter_ < 300


def test_early_stopping_stops_before_max_iter(digits):
    X, y = digits
    clf = BackpropClassifier(
        hidden_layer_sizes=(8,),
        early_stopping=True,
        n_iter_no_change=2,
        tol=0.5,  # no iteration improves accuracy by half: stop at once
        solver_options={"gtol": 1e-10},  # ...while the solver itself goes on
        max_iter=300,
        random_state=0,
    ).fit(X, y)
    assert clf.n_iter_ == 3  # the first iteration improves on nothing
    assert "validation score did not improve" in clf.optimize_result_.message
    assert clf.validation_scores_ is not None


def test_early_stopping_regressor_scores_r2():
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(300, 1))
    y = np.sin(X).ravel()
    reg = BackpropRegressor(
        hidden_layer_sizes=(5,), early_stopping=True, random_state=0, max_iter=500
    ).fit(X, y)
    assert reg.best_validation_score_ > 0.95


def test_without_early_stopping_no_validation_scores(iris):
    X, y = iris
    clf = BackpropClassifier(hidden_layer_sizes=(3,), random_state=0).fit(X, y)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None


@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_callback_receives_progress_and_can_stop(iris, solver):
    X, y = iris
    seen = []

    def callback(progress):
        seen.append(progress)
        return progress.iteration == 3

    clf = BackpropClassifier(
        hidden_layer_sizes=(4,), solver=solver, callback=callback, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a clean stop
        clf.fit(X, y)
    assert [p.iteration for p in seen] == [1, 2, 3]
    assert all(isinstance(p, Progress) for p in seen)
    assert clf.n_iter_ == 3 and clf.loss_curve_ == [p.loss for p in seen]
    assert seen[-1].loss == pytest.approx(clf.loss_)
    assert seen[-1].grad_norm > 0 and seen[-1].validation_score is None
    assert clf.optimize_result_.success
    assert clf.predict(X).shape == y.shape


def test_keyboard_interrupt_in_callback_keeps_last_iterate(iris):
    X, y = iris

    def callback(progress):
        if progress.iteration == 4:
            raise KeyboardInterrupt

    clf = BackpropClassifier(hidden_layer_sizes=(4,), callback=callback, random_state=0)
    with pytest.warns(UserWarning, match="interrupt"):
        clf.fit(X, y)
    assert clf.n_iter_ == 4 and len(clf.loss_curve_) == 4
    assert clf.loss_ == pytest.approx(clf.loss_curve_[-1])
    assert not clf.optimize_result_.success
    assert clf.predict_proba(X).shape == (150, 3)


def test_keyboard_interrupt_inside_an_evaluation_keeps_last_iterate(iris, monkeypatch):
    X, y = iris
    reference = BackpropClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    with pytest.warns(ConvergenceWarning):
        reference.fit(X, y)
    calls = {"n": 0}
    original = training.cost_grad

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > reference.optimize_result_.nfev:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(training, "cost_grad", interrupting)
    clf = BackpropClassifier(hidden_layer_sizes=(4,), random_state=0)
    with pytest.warns(UserWarning, match="interrupt"):
        clf.fit(X, y)
    monkeypatch.setattr(training, "cost_grad", original)
    assert clf.n_iter_ == 5
    for a, b in zip(clf.thetas_, reference.thetas_, strict=True):
        assert_array_equal(a, b)


@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_warm_start_continues_for_every_solver(iris, solver):
    X, y = iris
    # TNC counts function evaluations: give it enough for a few iterations.
    clf = BackpropClassifier(
        hidden_layer_sizes=(4,),
        solver=solver,
        max_iter=12 if solver == "TNC" else 3,
        warm_start=True,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        first = clf.loss_
        clf.fit(X, y)
    assert clf.loss_ <= first
    assert clf.loss_curve_[0] <= first


def test_verbose_line_shows_validation_score(iris, capsys):
    X, y = iris
    BackpropClassifier(
        hidden_layer_sizes=(3,), early_stopping=True, verbose=True, random_state=0
    ).fit(X, y)
    assert "validation score" in capsys.readouterr().out


def test_trust_region_reaches_lbfgs_loss(iris):
    X, y = iris
    params = {"hidden_layer_sizes": (4,), "alpha": 1.0, "random_state": 0}
    lbfgs = BackpropClassifier(tol=1e-8, **params).fit(X, y)
    trust = BackpropClassifier(solver="trust-krylov", tol=1e-6, **params).fit(X, y)
    assert_allclose(trust.loss_, lbfgs.loss_, rtol=1e-4)
