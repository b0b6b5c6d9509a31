"""ONNX export: onnxruntime reproduces predict and predict_proba."""

import subprocess
import sys

import numpy as np
import pytest
from scipy import sparse
from scipy.special import expit
from sklearn.datasets import (
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_backprop import BackpropClassifier, BackpropRegressor

skl2onnx = pytest.importorskip("skl2onnx")
onnx = pytest.importorskip("onnx")
rt = pytest.importorskip("onnxruntime")
import sklearn_backprop.onnx  # noqa: E402, F401  (registers the converters)

ATOL = 1e-5  # what the float32 graph promises against predict_proba / predict
HIDDEN = [(), (4,), (4, 3), (3, 3, 3)]
N_TRAIN = 100


def _raw(X):
    """Features on unequal scales and offsets, which the StandardScaler undoes."""
    return X * np.array([1.0, 10.0, 0.1, 100.0, 3.0]) + np.array([5, -20, 0, 300, 1])


@pytest.fixture(scope="module")
def three_classes():
    X, y = make_classification(
        n_samples=160,
        n_features=5,
        n_informative=4,
        n_redundant=0,
        n_classes=3,
        class_sep=1.5,
        random_state=0,
    )
    return _raw(X), y


@pytest.fixture(scope="module")
def multilabel():
    X, Y = make_multilabel_classification(
        n_samples=160, n_features=5, n_classes=3, random_state=0
    )
    return _raw(X.astype(float)), Y


def _targets(kind, y3, Y):
    """y and the classifier's output_activation for one kind of output."""
    if kind == "binary":
        return np.where(y3 == 2, 8, 3), "auto"  # labels 3 and 8, one unit
    if kind == "binary-softmax":
        return np.where(y3 == 2, 8, 3), "softmax"  # two softmax units
    if kind == "softmax":
        return np.array([-1, 4, 7])[y3], "softmax"
    if kind == "one-vs-all":
        return np.array([-1, 4, 7])[y3], "logistic"
    return Y, "auto"  # multilabel


def _session(model, X, options=None, **kwargs):
    onx = skl2onnx.to_onnx(model, X[:1], options=options, **kwargs)
    onnx.checker.check_model(onx)
    used = {name for node in onx.graph.node for name in node.input}
    assert {init.name for init in onx.graph.initializer} <= used  # no dead weights
    return rt.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def _run(model, X, options=None, dtype=np.float32, **kwargs):
    """The ONNX graph's outputs for X (converted from X[:1] in ``dtype``)."""
    X = np.ascontiguousarray(X, dtype=dtype)
    session = _session(model, X, options, **kwargs)
    return session.run(None, {session.get_inputs()[0].name: X})


def _fit(quiet_fit, estimator, X, y, scale=True):
    model = make_pipeline(StandardScaler(), estimator) if scale else estimator
    return quiet_fit(model, X[:N_TRAIN], y[:N_TRAIN]), X[N_TRAIN:]


NO_ZIPMAP = {BackpropClassifier: {"zipmap": False}}


KINDS = ["binary", "binary-softmax", "softmax", "one-vs-all", "multilabel"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("hidden", HIDDEN, ids=str)
def test_classifier_pipeline_matches_predict_and_predict_proba(
    activation, hidden, kind, three_classes, multilabel, quiet_fit
):
    X, y3 = three_classes
    if kind == "multilabel":
        X, Y = multilabel
    else:
        Y = None
    y, output_activation = _targets(kind, y3, Y)
    clf = BackpropClassifier(
        hidden,
        activation,
        output_activation=output_activation,
        alpha=1e-2,
        max_iter=60,
        random_state=0,
    )
    pipe, X_test = _fit(quiet_fit, clf, X, y)
    labels, proba = _run(pipe, X_test, NO_ZIPMAP)
    expected = pipe.predict(X_test)
    assert labels.shape == expected.shape
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, expected)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba, pipe.predict_proba(X_test), rtol=0, atol=ATOL)


@pytest.mark.parametrize("n_outputs", [1, 2])
@pytest.mark.parametrize("hidden", HIDDEN, ids=str)
def test_regressor_pipeline_matches_predict(activation, hidden, n_outputs, quiet_fit):
    X, y = make_regression(
        n_samples=160, n_features=5, n_targets=n_outputs, noise=0.1, random_state=0
    )
    y = np.sin(y / y.std())  # of order 1, and not linear in X
    reg = BackpropRegressor(hidden, activation, alpha=1e-2, max_iter=60, random_state=0)
    pipe, X_test = _fit(quiet_fit, reg, _raw(X), y)
    (values,) = _run(pipe, X_test)
    # skl2onnx's regressors give (n_samples, n_outputs), also for one output
    assert values.shape == (len(X_test), n_outputs)
    expected = pipe.predict(X_test).reshape(len(X_test), -1)
    np.testing.assert_allclose(values, expected, rtol=0, atol=ATOL)


def test_regressor_with_logistic_outputs(quiet_fit):
    X, y = make_regression(
        n_samples=160, n_features=5, n_targets=2, noise=0.1, random_state=1
    )
    y = expit(y / y.std())  # targets in (0, 1)
    reg = BackpropRegressor((4,), output_activation="logistic", random_state=0)
    pipe, X_test = _fit(quiet_fit, reg, _raw(X), y)
    (values,) = _run(pipe, X_test)
    np.testing.assert_allclose(values, pipe.predict(X_test), rtol=0, atol=ATOL)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_string_labels_with_default_zipmap(n_classes, three_classes, quiet_fit):
    X, y3 = three_classes
    names = np.array(["setosa", "versicolor", "virginica"])
    y = names[np.minimum(y3, n_classes - 1)]
    clf = BackpropClassifier((4,), activation="tanh", random_state=0)
    pipe, X_test = _fit(quiet_fit, clf, X, y)
    labels, dicts = _run(pipe, X_test)  # skl2onnx's default: zipmap=True
    np.testing.assert_array_equal(labels, pipe.predict(X_test))
    assert set(labels) == set(names[:n_classes])  # both/all classes predicted
    proba = np.array([[row[c] for c in pipe.classes_] for row in dicts])
    np.testing.assert_allclose(proba, pipe.predict_proba(X_test), rtol=0, atol=ATOL)


def test_multilabel_with_default_zipmap(multilabel, quiet_fit):
    X, Y = multilabel
    pipe, X_test = _fit(quiet_fit, BackpropClassifier((4,), random_state=0), X, Y)
    labels, dicts = _run(pipe, X_test)
    np.testing.assert_array_equal(labels, pipe.predict(X_test))
    proba = np.array([[row[k] for k in range(Y.shape[1])] for row in dicts])
    np.testing.assert_allclose(proba, pipe.predict_proba(X_test), rtol=0, atol=ATOL)


def test_zipmap_columns_nocl_and_output_class_labels(three_classes, quiet_fit):
    X, y3 = three_classes
    y = np.array([-1, 4, 7])[y3]
    clf = BackpropClassifier((4,), random_state=0)
    pipe, X_test = _fit(quiet_fit, clf, X, y)
    expected = pipe.predict_proba(X_test)

    labels, *columns = _run(pipe, X_test, {id(clf): {"zipmap": "columns"}})
    np.testing.assert_array_equal(labels, pipe.predict(X_test))
    np.testing.assert_allclose(np.column_stack(columns), expected, rtol=0, atol=ATOL)

    options = {id(clf): {"zipmap": False, "nocl": True}}
    indices, proba = _run(pipe, X_test, options)
    np.testing.assert_array_equal(clf.classes_[indices], pipe.predict(X_test))
    assert set(indices) == {0, 1, 2}
    np.testing.assert_allclose(proba, expected, rtol=0, atol=ATOL)

    options = {id(clf): {"zipmap": False, "output_class_labels": True}}
    labels, proba, classes = _run(pipe, X_test, options)
    np.testing.assert_array_equal(classes, clf.classes_)
    np.testing.assert_array_equal(labels, pipe.predict(X_test))


def test_float_labels_come_out_as_integers(three_classes, quiet_fit):
    X, y3 = three_classes
    clf = BackpropClassifier((4,), random_state=0)
    pipe, X_test = _fit(quiet_fit, clf, X, y3 * 2.0)
    labels, _ = _run(pipe, X_test, NO_ZIPMAP)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, pipe.predict(X_test))


@pytest.mark.parametrize("fit_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("input_dtype", [np.float32, np.float64])
def test_fit_and_input_dtypes(fit_dtype, input_dtype, three_classes, quiet_fit):
    X, y3 = three_classes
    clf = BackpropClassifier((5, 4), output_activation="logistic", random_state=0)
    pipe, X_test = _fit(quiet_fit, clf, X.astype(fit_dtype), y3)
    assert clf.thetas_[0].dtype == fit_dtype
    labels, proba = _run(pipe, X_test, NO_ZIPMAP, dtype=input_dtype)
    assert proba.dtype == input_dtype  # the graph computes in the input's type
    np.testing.assert_array_equal(labels, pipe.predict(X_test))
    np.testing.assert_allclose(proba, pipe.predict_proba(X_test), rtol=0, atol=ATOL)


def test_sparse_trained_model(three_classes, quiet_fit):
    X, y3 = three_classes
    X = np.where(np.abs(X) < np.median(np.abs(X)), 0.0, X / np.abs(X).max(axis=0))
    clf = quiet_fit(
        BackpropClassifier((4,), random_state=0),
        sparse.csr_matrix(X[:N_TRAIN]),
        y3[:N_TRAIN],
    )
    X_test = X[N_TRAIN:]
    labels, proba = _run(clf, X_test, NO_ZIPMAP)
    np.testing.assert_array_equal(labels, clf.predict(sparse.csr_matrix(X_test)))
    np.testing.assert_allclose(proba, clf.predict_proba(X_test), rtol=0, atol=ATOL)


def test_int64_input(three_classes, quiet_fit):
    X, y3 = three_classes
    X = np.round(X).astype(np.int64)
    reg = quiet_fit(BackpropRegressor((3,), random_state=0), X[:N_TRAIN], y3[:N_TRAIN])
    session = _session(reg, X)
    (values,) = session.run(None, {session.get_inputs()[0].name: X[N_TRAIN:]})
    np.testing.assert_allclose(values.ravel(), reg.predict(X[N_TRAIN:]), atol=ATOL)


def _underflowing_rows(clf, X, margins):
    """Rows whose logits z are all at most -margin, and their z = x W + b."""
    W, b = clf.coefs_[0], clf.intercepts_[0]  # z = x W + b
    direction = np.linalg.lstsq(W.T, -np.ones(W.shape[1]), rcond=None)[0]  # W^T d = -1
    rows = np.array([(b.max() + m) * direction for m in margins])
    return rows, rows @ W + b


@pytest.mark.parametrize(
    "dtype, margins",
    [(np.float32, [105.0, 108.0, 111.0]), (np.float64, [760.0, 900.0, 2000.0])],
)
def test_one_vs_all_rows_whose_sigmoids_all_underflow(
    dtype, margins, three_classes, quiet_fit
):
    # Each of the K sigmoids underflows to 0 in the graph's type: normalising
    # σ(z) / Σσ(z) would give 0 / 0. predict_proba normalises in log space.
    X, y3 = three_classes
    X = StandardScaler().fit_transform(X)
    clf = BackpropClassifier((), output_activation="logistic", random_state=0)
    clf = quiet_fit(clf, X[:N_TRAIN].astype(dtype), y3[:N_TRAIN])
    rows, Z = _underflowing_rows(clf, X, margins)
    assert np.all(expit(Z.astype(dtype)) == 0)
    labels, proba = _run(clf, rows, NO_ZIPMAP, dtype=dtype)
    expected = clf.predict_proba(rows.astype(dtype))
    assert np.all(expected.max(axis=1) < 0.999)  # not one-hot: a real test
    np.testing.assert_array_equal(labels, clf.predict(rows.astype(dtype)))
    np.testing.assert_allclose(proba, expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("kind", KINDS)
def test_huge_inputs(kind, three_classes, multilabel, quiet_fit):
    X, y3 = three_classes
    Y = None
    if kind == "multilabel":
        X, Y = multilabel
    y, output_activation = _targets(kind, y3, Y)
    clf = BackpropClassifier(
        (4,), "relu", output_activation=output_activation, random_state=0
    )
    pipe, X_test = _fit(quiet_fit, clf, X, y)
    X_huge = X_test * 1e4
    labels, proba = _run(pipe, X_huge, NO_ZIPMAP, dtype=np.float64)
    assert np.isfinite(proba).all()
    np.testing.assert_array_equal(labels, pipe.predict(X_huge))
    np.testing.assert_allclose(proba, pipe.predict_proba(X_huge), rtol=0, atol=ATOL)
    labels32, proba32 = _run(pipe, X_huge, NO_ZIPMAP)
    assert np.isfinite(proba32).all() and np.all((proba32 > 0) & (proba32 < 1))
    np.testing.assert_array_equal(labels32, labels)


@pytest.mark.parametrize("kind", KINDS)
def test_lowest_target_opset(kind, three_classes, multilabel, quiet_fit):
    X, y3 = three_classes
    Y = None
    if kind == "multilabel":
        X, Y = multilabel
    y, output_activation = _targets(kind, y3, Y)
    clf = BackpropClassifier((4,), output_activation=output_activation, random_state=0)
    pipe, X_test = _fit(quiet_fit, clf, X, y)
    labels, proba = _run(pipe, X_test, NO_ZIPMAP, target_opset=11)
    np.testing.assert_array_equal(labels, pipe.predict(X_test))
    np.testing.assert_allclose(proba, pipe.predict_proba(X_test), rtol=0, atol=ATOL)


@pytest.mark.parametrize("Estimator", [BackpropClassifier, BackpropRegressor])
def test_unfitted_estimator_raises_not_fitted(Estimator, three_classes):
    X = three_classes[0].astype(np.float32)
    with pytest.raises(NotFittedError):
        skl2onnx.to_onnx(Estimator(), X[:1])
    pipe = Pipeline([("scale", StandardScaler().fit(X)), ("net", Estimator())])
    with pytest.raises(NotFittedError):
        skl2onnx.to_onnx(pipe, X[:1])


def test_unknown_options_are_refused(three_classes, quiet_fit):
    X, y3 = three_classes
    X = X.astype(np.float32)
    clf = quiet_fit(BackpropClassifier((3,), max_iter=5, random_state=0), X, y3)
    with pytest.raises(ValueError, match="raw_scores"):
        skl2onnx.to_onnx(clf, X[:1], options={id(clf): {"raw_scores": True}})
    with pytest.raises(ValueError, match="zipmap"):
        skl2onnx.to_onnx(clf, X[:1], options={id(clf): {"zipmap": "rows"}})
    reg = quiet_fit(BackpropRegressor((3,), max_iter=5, random_state=0), X, y3)
    with pytest.raises(ValueError, match="BackpropRegressor.*zipmap"):
        skl2onnx.to_onnx(reg, X[:1], options={id(reg): {"zipmap": False}})


def test_uncovered_activation_and_opset_are_refused(three_classes, quiet_fit):
    X, y3 = three_classes
    X = X.astype(np.float32)
    reg = quiet_fit(BackpropRegressor((3,), max_iter=5, random_state=0), X, y3)
    with pytest.raises(NotImplementedError, match="target_opset >= 11"):
        skl2onnx.to_onnx(reg, X[:1], target_opset=10)
    reg.activation = "softsign"  # as an activation added to the package later
    with pytest.raises(NotImplementedError, match="softsign"):
        skl2onnx.to_onnx(reg, X[:1])


def test_package_import_does_not_import_skl2onnx():
    code = "import sys, sklearn_backprop; print('skl2onnx' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
