"""Behaviour of BackpropClassifier as a scikit-learn classifier."""

from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_circles, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_backprop import BackpropClassifier
from sklearn_backprop.network import unpack


@pytest.fixture(scope="module")
def digits_split(digits):
    X, y = digits
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


def test_learns_concentric_circles_where_linear_models_fail():
    # The seed's "example B": not separable by a line in the input space.
    X, y = make_circles(n_samples=400, noise=0.05, factor=0.5, random_state=0)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=0)
    linear = LogisticRegression().fit(X_tr, y_tr).score(X_te, y_te)
    net = BackpropClassifier(hidden_layer_sizes=(8,), alpha=1e-3, random_state=0)
    assert net.fit(X_tr, y_tr).score(X_te, y_te) >= 0.95
    assert linear < 0.65


# (hidden units, max_iter) for each solver. BFGS updates a dense inverse
# Hessian at O(n_params³) per iteration and Newton-CG's inner CG makes many
# Hessian-vector products per iteration: both get a budget that keeps the test
# quick.
BUDGETS = {"BFGS": (10, 40), "Newton-CG": (25, 8)}


def test_every_solver_beats_chance_on_digits(digits_split, solver, quiet_fit):
    X_tr, X_te, y_tr, y_te = digits_split
    hidden, max_iter = BUDGETS.get(solver, (25, 60))
    clf = BackpropClassifier(
        hidden_layer_sizes=(hidden,),
        alpha=1.0,
        solver=solver,
        max_iter=max_iter,
        random_state=0,
    )
    quiet_fit(clf, X_tr, y_tr)
    assert clf.score(X_te, y_te) > 0.5  # chance is 0.1
    assert clf.optimize_result_.x.shape == (hidden * 65 + 10 * (hidden + 1),)


def test_pipeline_and_grid_search_over_alpha_and_hidden_size(iris):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), BackpropClassifier(random_state=0))
    grid = {
        "backpropclassifier__alpha": [0.1, 10.0],
        "backpropclassifier__hidden_layer_sizes": [(3,), (6,)],
    }
    search = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    assert search.best_score_ > 0.85
    assert len(search.cv_results_["params"]) == 4
    scores = cross_val_score(BackpropClassifier(random_state=0), X, y, cv=3)
    assert scores.mean() > 0.85


def test_same_random_state_gives_identical_thetas(iris):
    X, y = iris
    a = BackpropClassifier(hidden_layer_sizes=(4,), random_state=3).fit(X, y)
    b = clone(a).fit(X, y)
    for ta, tb in zip(a.thetas_, b.thetas_, strict=True):
        assert_array_equal(ta, tb)
    c = BackpropClassifier(hidden_layer_sizes=(4,), random_state=4).fit(X, y)
    assert not np.array_equal(a.thetas_[0], c.thetas_[0])


def test_fitted_attributes_and_layouts(iris):
    X, y = iris
    clf = BackpropClassifier(hidden_layer_sizes=(5, 4), random_state=0).fit(X, y)
    assert [t.shape for t in clf.thetas_] == [(5, 5), (4, 6), (3, 5)]
    # All Θ^(l) are views of one contiguous vector.
    base = clf.thetas_[0].base
    assert all(t.base is base for t in clf.thetas_)
    assert clf.n_layers_ == 4 and clf.n_outputs_ == 3
    assert clf.out_activation_ == "softmax"
    assert clf.n_features_in_ == 4
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.n_iter_ == len(clf.loss_curve_) == clf.optimize_result_.nit
    assert clf.loss_ == pytest.approx(clf.loss_curve_[-1])
    assert_array_equal(clf.coefs_[1], clf.thetas_[1][:, 1:].T)
    assert_array_equal(clf.intercepts_[2], clf.thetas_[2][:, 0])


def test_weights_in_mlpclassifier_layout_reproduce_its_predictions(iris, quiet_fit):
    # Copy our weights into an MLPClassifier: both must predict the same.
    X, y = iris
    ours = BackpropClassifier(hidden_layer_sizes=(5,), random_state=0).fit(X, y)
    mlp = MLPClassifier(hidden_layer_sizes=(5,), activation="logistic", max_iter=1)
    quiet_fit(mlp, X, y)
    mlp.coefs_, mlp.intercepts_ = ours.coefs_, ours.intercepts_
    assert_allclose(mlp.predict_proba(X), ours.predict_proba(X), rtol=1e-10)


def test_no_hidden_layer_is_multinomial_logistic_regression(iris):
    # J = mean CE + α/(2n)‖W‖² has the minimiser of Σ CE + ½ C⁻¹‖W‖², C = 1/α.
    X, y = iris
    ours = BackpropClassifier(
        hidden_layer_sizes=(),
        alpha=1.0,
        tol=1e-10,
        max_iter=1000,
        solver_options={"ftol": 1e-15},
    ).fit(X, y)
    ref = LogisticRegression(C=1.0, tol=1e-10, max_iter=1000).fit(X, y)
    assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6)


def test_binary_uses_one_output_unit_and_two_probability_columns():
    X, y = make_circles(n_samples=100, factor=0.5, noise=0.05, random_state=0)
    labels = np.where(y == 1, "inner", "outer")
    clf = BackpropClassifier(hidden_layer_sizes=(6,), random_state=0).fit(X, labels)
    assert clf.n_outputs_ == 1 and clf.out_activation_ == "logistic"
    proba = clf.predict_proba(X)
    assert proba.shape == (100, 2)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert set(clf.predict(X)) <= {"inner", "outer"}


def test_binary_softmax_uses_two_units():
    X, y = make_circles(n_samples=100, factor=0.5, noise=0.05, random_state=0)
    clf = BackpropClassifier(
        hidden_layer_sizes=(6,), output_activation="softmax", random_state=0
    ).fit(X, y)
    assert clf.n_outputs_ == 2
    assert clf.score(X, y) > 0.9


def test_one_vs_all_logistic_outputs_are_normalised(iris):
    X, y = iris
    clf = BackpropClassifier(
        hidden_layer_sizes=(5,), output_activation="logistic", random_state=0
    ).fit(X, y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 3
    proba = clf.predict_proba(X)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.score(X, y) > 0.9


def test_multilabel_indicator_targets():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] > 0.5])
    Y = Y.astype(int)
    clf = BackpropClassifier(hidden_layer_sizes=(8,), random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic"
    assert clf.predict(X).shape == Y.shape
    assert (clf.predict(X) == Y).mean() > 0.9
    proba = clf.predict_proba(X)
    assert proba.shape == Y.shape and np.all((proba > 0) & (proba < 1))
    with pytest.raises(ValueError, match="softmax"):
        BackpropClassifier(output_activation="softmax").fit(X, Y)


def test_float32_is_trained_and_predicted_in_float32(digits_split):
    X_tr, X_te, y_tr, y_te = digits_split
    params = {"hidden_layer_sizes": (25,), "alpha": 1.0, "random_state": 0}
    clf32 = BackpropClassifier(**params).fit(X_tr.astype(np.float32), y_tr)
    clf64 = BackpropClassifier(**params).fit(X_tr, y_tr)
    assert all(t.dtype == np.float32 for t in clf32.thetas_)
    assert clf32.predict_proba(X_te.astype(np.float32)).dtype == np.float32
    assert all(t.dtype == np.float64 for t in clf64.thetas_)
    acc32 = clf32.score(X_te.astype(np.float32), y_te)
    assert abs(acc32 - clf64.score(X_te, y_te)) <= 0.005  # within half a point


def test_max_iter_raises_convergence_warning_with_solver_message(iris):
    X, y = iris
    clf = BackpropClassifier(max_iter=2, random_state=0)
    with pytest.warns(ConvergenceWarning, match="ITERATIONS REACHED LIMIT"):
        clf.fit(X, y)
    assert clf.n_iter_ == 2


def test_tnc_limits_function_evaluations_by_max_fun(iris):
    X, y = iris
    clf = BackpropClassifier(solver="TNC", max_fun=15, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.optimize_result_.nfev <= 16  # TNC may finish its last step


def test_verbose_prints_one_line_per_iteration(iris, capsys):
    X, y = iris
    clf = BackpropClassifier(hidden_layer_sizes=(3,), verbose=True, random_state=0)
    clf.fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == clf.n_iter_
    assert "loss" in lines[0] and "grad" in lines[0]


@pytest.mark.parametrize("solver", ["CG", "TNC"])
def test_loss_curve_recorded_for_every_solver(iris, solver, quiet_fit):
    X, y = iris
    clf = BackpropClassifier(hidden_layer_sizes=(3,), solver=solver, random_state=0)
    quiet_fit(clf, X, y)
    assert len(clf.loss_curve_) == clf.n_iter_ > 0
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_warm_start_continues_from_previous_thetas(iris, quiet_fit):
    X, y = iris
    clf = BackpropClassifier(max_iter=5, warm_start=True, random_state=0)
    first = quiet_fit(clf, X, y).loss_
    quiet_fit(clf, X, y)
    assert clf.loss_curve_[0] < first
    clf.set_params(hidden_layer_sizes=(7,))
    with pytest.raises(ValueError, match="warm_start"):
        clf.fit(X, y)


def test_sample_weight_two_equals_duplicated_row(iris):
    X, y = iris
    X, y = X[::3], y[::3]
    weights = np.ones(len(y))
    weights[:5] = 2
    params = {"hidden_layer_sizes": (3,), "tol": 1e-10, "random_state": 0}
    weighted = BackpropClassifier(**params).fit(X, y, sample_weight=weights)
    duplicated = BackpropClassifier(**params).fit(
        np.vstack([X, X[:5]]), np.concatenate([y, y[:5]])
    )
    assert_allclose(weighted.predict_proba(X), duplicated.predict_proba(X), atol=1e-6)


def test_solver_options_override_derived_options(iris):
    X, y = iris
    clf = BackpropClassifier(max_iter=200, solver_options={"maxiter": 3})
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.n_iter_ == 3


def test_thetas_unpack_from_optimizer_vector(iris):
    X, y = iris
    clf = BackpropClassifier(hidden_layer_sizes=(4,), random_state=0).fit(X, y)
    for got, want in zip(
        clf.thetas_, unpack(clf.optimize_result_.x, [4, 4, 3]), strict=True
    ):
        assert_array_equal(got, want)


def test_balanced_class_weight_raises_balanced_accuracy():
    X, y = make_classification(
        n_samples=600,
        n_features=6,
        n_informative=3,
        weights=[0.93, 0.07],
        class_sep=0.6,
        random_state=0,
    )
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, stratify=y, random_state=0)
    params = {"hidden_layer_sizes": (4,), "alpha": 1.0, "random_state": 0}
    plain = BackpropClassifier(**params).fit(X_tr, y_tr)
    balanced = BackpropClassifier(class_weight="balanced", **params).fit(X_tr, y_tr)
    plain_score = balanced_accuracy_score(y_te, plain.predict(X_te))
    balanced_score = balanced_accuracy_score(y_te, balanced.predict(X_te))
    assert balanced_score > plain_score + 0.05


def test_class_weight_dict_equals_sample_weight(iris, quiet_fit):
    X, y = iris
    params = {"hidden_layer_sizes": (3,), "max_iter": 20, "random_state": 0}
    by_class = BackpropClassifier(class_weight={0: 3.0, 1: 1.0, 2: 0.5}, **params)
    quiet_fit(by_class, X, y)
    by_sample = BackpropClassifier(**params)
    quiet_fit(by_sample, X, y, sample_weight=np.array([3.0, 1.0, 0.5])[y])
    assert_allclose(by_class.predict_proba(X), by_sample.predict_proba(X))


def test_multiclass_multioutput_is_refused_clearly(iris):
    X, y = iris
    Y = np.column_stack([y, y[::-1]])
    with pytest.raises(ValueError, match="multiclass-multioutput"):
        BackpropClassifier().fit(X, Y)


def test_feature_names_round_trip_from_pandas(iris):
    pd = pytest.importorskip("pandas")
    X, y = iris
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = BackpropClassifier(hidden_layer_sizes=(3,), random_state=0).fit(frame, y)
    assert_array_equal(clf.feature_names_in_, ["a", "b", "c", "d"])
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(frame.to_numpy())
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame[["b", "a", "c", "d"]])


def test_tied_huge_softmax_logits_split_probability_exactly(quiet_fit):
    X = np.zeros((6, 1))
    clf = BackpropClassifier(hidden_layer_sizes=(), max_iter=1)
    quiet_fit(clf, X, np.arange(6) % 3)
    clf.thetas_[0][...] = [[1e30, 0.0], [1e30, 0.0], [0.0, 0.0]]
    proba = clf.predict_proba(X[:1])
    assert_allclose(proba[0, :2], [0.5, 0.5])
    assert 0 < proba[0, 2] < 1e-300


def test_html_repr_links_to_the_api_reference(Estimator):
    # scikit-learn's "?" link, to the page docs/api.rst generates
    name = Estimator.__name__
    link = Estimator()._get_doc_link()
    assert link.endswith(f"/generated/sklearn_backprop.{name}.html")
    assert link in Estimator()._repr_html_()
    api = (Path(__file__).parents[1] / "docs" / "api.rst").read_text()
    assert ":toctree: generated/" in api and name in api
