"""Fitting: solvers, early stopping, callbacks, interrupts, warnings, determinism."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

from sklearn_backprop import BackpropClassifier, BackpropRegressor, Progress
from sklearn_backprop._blocks import InMemoryBlocks
from sklearn_backprop.network import forward


def test_hessp_solvers_use_curvature_and_learn_digits(digits, hessp_solver, quiet_fit):
    X, y = digits
    clf = BackpropClassifier(
        hidden_layer_sizes=(10,),
        alpha=1.0,
        solver=hessp_solver,
        max_iter=15,
        random_state=0,
    )
    quiet_fit(clf, X, y)
    assert clf.optimize_result_.nhev > 0  # Hessian-vector products were used
    assert clf.score(X, y) > 0.9


def test_auto_curvature_per_solver(hessp_solver):
    assert BackpropClassifier(solver=hessp_solver)._curvature() == "exact"
    gauss_newton = BackpropClassifier(solver=hessp_solver, curvature="gauss-newton")
    assert gauss_newton._curvature() == "gauss-newton"


def test_explicit_curvature_reaches_the_objective(iris, monkeypatch):
    X, y = iris
    seen = []
    original = InMemoryBlocks.hessp_sum

    def spy(self, theta, v, curvature):
        seen.append(curvature)
        return original(self, theta, v, curvature)

    monkeypatch.setattr(InMemoryBlocks, "hessp_sum", spy)
    BackpropClassifier(
        hidden_layer_sizes=(3,), solver="trust-ncg", curvature="gauss-newton"
    ).fit(X, y)
    assert seen and set(seen) == {"gauss-newton"}


def test_early_stopping_keeps_best_weights_for_every_solver(digits, solver, quiet_fit):
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
    quiet_fit(clf, X, y)
    scores = clf.validation_scores_
    assert len(scores) == clf.n_iter_ == len(clf.loss_curve_)
    assert clf.best_validation_score_ == max(scores)
    # The kept weights are the best-scoring ones: rescore them on the same split.
    # the split early stopping makes: stratified, seeded by random_state
    _, val = train_test_split(
        np.arange(len(y)),
        test_size=0.1,
        random_state=np.random.RandomState(0),
        stratify=y,
    )
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
    original = InMemoryBlocks.cost_grad_sum

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > reference.optimize_result_.nfev:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(InMemoryBlocks, "cost_grad_sum", interrupting)
    clf = BackpropClassifier(hidden_layer_sizes=(4,), random_state=0)
    with pytest.warns(UserWarning, match="interrupt"):
        clf.fit(X, y)
    monkeypatch.setattr(InMemoryBlocks, "cost_grad_sum", original)
    assert clf.n_iter_ == 5
    for a, b in zip(clf.thetas_, reference.thetas_, strict=True):
        assert_array_equal(a, b)


def test_warm_start_continues_for_every_solver(iris, solver, quiet_fit):
    X, y = iris
    # TNC counts function evaluations: give it enough for a few iterations.
    clf = BackpropClassifier(
        hidden_layer_sizes=(4,),
        solver=solver,
        max_iter=12 if solver == "TNC" else 3,
        warm_start=True,
        random_state=0,
    )
    first = quiet_fit(clf, X, y).loss_
    quiet_fit(clf, X, y)
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
def test_fit_warnings_point_at_the_callers_line(small_data, params, category):
    X, y = small_data
    with pytest.warns(category) as record:
        BackpropClassifier(hidden_layer_sizes=(3,), **params).fit(X, y)
    assert [w.filename for w in record] == [__file__]


@settings(max_examples=10, deadline=None)
@given(
    cls=st.sampled_from([BackpropClassifier, BackpropRegressor]),
    hidden=st.lists(st.integers(1, 4), max_size=2),
    data_seed=st.integers(0, 2**32 - 1),
    random_state=st.integers(0, 1000),
    data=st.data(),
)
def test_property_fit_is_deterministic_for_a_fixed_random_state(
    activation_names,
    solver_names,
    quiet_fit,
    cls,
    hidden,
    data_seed,
    random_state,
    data,
):
    activation = data.draw(st.sampled_from(activation_names), label="activation")
    solver = data.draw(st.sampled_from(solver_names), label="solver")
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
    first = quiet_fit(cls(**params), X, y)
    second = quiet_fit(cls(**params), X, y)
    for a, b in zip(first.thetas_, second.thetas_, strict=True):
        assert_array_equal(a, b)
    assert first.loss_curve_ == second.loss_curve_
    assert_array_equal(first.predict(X), second.predict(X))


def test_tnc_leaves_room_for_max_iter_iterations(iris):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # converges unwarned
        clf = BackpropClassifier(solver="TNC", random_state=0).fit(X, y)
    assert 0 < clf.n_iter_ < 200
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        clf = BackpropClassifier(solver="TNC", max_iter=3, random_state=0).fit(X, y)
    assert clf.n_iter_ == 3 == len(clf.loss_curve_)
    assert not clf.optimize_result_.success


@pytest.mark.parametrize("solver", ["CG", "BFGS", "TNC", "L-BFGS-B"])
def test_convergence_warning_reads_as_one_sentence(iris, solver):
    X, y = iris
    with pytest.warns(ConvergenceWarning) as record:
        BackpropClassifier(solver=solver, max_iter=2, random_state=0).fit(X, y)
    message = str(record[0].message)
    assert ".." not in message and "Increase max_iter" in message
