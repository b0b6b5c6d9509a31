"""Saved estimators: pickle, joblib, deepcopy and skops.io keep predictions
exactly, skops.io needs to trust nothing but our estimator classes, and an
estimator saved by another package version warns when loaded.

docs/guarantees.rst lists each guarantee with its test.
"""

import copy
import enum
import io
import json
import pickle
import warnings
import zipfile

import joblib
import numpy as np
import pytest
import scipy.sparse
import sklearn.exceptions
from numpy.testing import assert_array_equal
from scipy.optimize import OptimizeResult, minimize
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_backprop
from conftest import LEAST_SQUARES_SOLVERS, SOLVERS
from sklearn_backprop import BackpropClassifier, BackpropRegressor
from sklearn_backprop import _guards as guards
from sklearn_backprop._guards import InconsistentVersionWarning

# every solver each estimator takes ("lm" and "trf" are the regressor's only)
FITS = [
    *((BackpropClassifier, name) for name in SOLVERS),
    *((BackpropRegressor, name) for name in SOLVERS + LEAST_SQUARES_SOLVERS),
]


def _round_trips(est, tmp_path):
    yield pickle.loads(pickle.dumps(est))
    joblib.dump(est, tmp_path / "est.joblib")
    yield joblib.load(tmp_path / "est.joblib")
    yield copy.deepcopy(est)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pickle_and_joblib_round_trips_preserve_predictions_exactly(
    Estimator, dtype, small_data, make_small, quiet_fit, tmp_path
):
    X, y = small_data
    X = X.astype(dtype)
    est = quiet_fit(make_small(Estimator), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", sklearn.exceptions.InconsistentVersionWarning)
        for restored in _round_trips(est, tmp_path):
            assert type(restored) is Estimator
            assert guards.VERSION_KEY not in vars(restored)
            assert_array_equal(restored.predict(X), est.predict(X))
            if Estimator is BackpropClassifier:
                assert_array_equal(restored.predict_proba(X), est.predict_proba(X))
            for a, b in zip(restored.thetas_, est.thetas_, strict=True):
                assert a.dtype == b.dtype
                assert_array_equal(a, b)


def test_pickle_from_another_package_version_warns(
    small_data, make_small, quiet_fit, monkeypatch, tmp_path
):
    X, y = small_data
    clf = quiet_fit(make_small(BackpropClassifier), X, y)
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


def test_edited_or_missing_version_in_the_state_warns(
    small_data, make_small, quiet_fit
):
    X, y = small_data
    reg = quiet_fit(make_small(BackpropRegressor), X, y)
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


# --------------------------------------------------------------------------
# optimize_result_: plain values only (what skops can save without trusting
# SciPy's types)
# --------------------------------------------------------------------------

PLAIN_TYPES = (np.ndarray, bool, int, float, str)


def _fit_with(solver, Estimator, small_data, make_small, quiet_fit):
    X, y = small_data
    return quiet_fit(make_small(Estimator, solver=solver), X, y)


def test_optimize_result_holds_plain_values_for_every_solver(
    small_data, make_small, quiet_fit
):
    for Estimator, name in FITS:
        est = _fit_with(name, Estimator, small_data, make_small, quiet_fit)
        result = est.optimize_result_
        assert isinstance(result, OptimizeResult), name
        assert "hess_inv" not in result, name
        bad = {k: type(v) for k, v in result.items() if type(v) not in PLAIN_TYPES}
        assert not bad, (name, bad)
        # what the tests elsewhere (and users) read is still there
        assert result.x.shape == (sum(t.size for t in est.thetas_),), name
        assert result.jac.shape == result.x.shape, name
        assert result.nit == est.n_iter_, name
        assert isinstance(result.success, bool) and isinstance(result.message, str)


def test_plain_result_keeps_the_plain_entries_of_a_scipy_result():
    result = minimize(lambda x: ((x - 1.0) ** 2).sum(), np.zeros(3), method="L-BFGS-B")
    plain = guards.plain_result(result)
    assert set(plain) == set(result) - {"hess_inv"}
    assert_array_equal(plain.x, result.x)
    assert plain.fun == result.fun and type(plain.fun) is float
    assert (plain.nit, plain.nfev) == (result.nit, result.nfev)
    assert plain.message == result.message
    odd = OptimizeResult(
        n=np.int64(4),
        f=np.float32(0.5),
        flag=np.bool_(True),
        status=enum.IntEnum("Status", "DONE").DONE,
        none=None,
        vecs=[np.zeros(2), np.ones(2)],
        pair=(1, "a"),
        op=lambda v: v,
        o=object(),
        ops=[np.zeros(2), lambda v: v],
        objects=np.array([object()]),
    )
    plain = guards.plain_result(odd)
    assert plain.keys() == {"n", "f", "flag", "status", "none", "vecs", "pair"}
    scalars = [("n", int, 4), ("f", float, 0.5), ("flag", bool, True)]
    for key, kind, value in [*scalars, ("status", int, 1)]:  # numpy's, an enum's
        assert type(plain[key]) is kind and plain[key] == value, key
    assert plain.none is None
    assert type(plain.vecs) is list and type(plain.pair) is tuple
    assert_array_equal(plain.vecs[1], np.ones(2))


def test_return_all_keeps_the_iterates_and_saves_with_skops(
    small_data, make_small, quiet_fit, tmp_path
):
    X, y = small_data
    clf = quiet_fit(
        make_small(
            BackpropClassifier, solver="CG", solver_options={"return_all": True}
        ),
        X,
        y,
    )
    allvecs = clf.optimize_result_.allvecs  # scipy's list of the iterates
    assert type(allvecs) is list and len(allvecs) == clf.n_iter_ + 1
    assert_array_equal(allvecs[-1], clf.optimize_result_.x)
    untrusted, restored = _skops_round_trip(clf, tmp_path / "clf.skops")
    assert untrusted == [_class_name(BackpropClassifier)]
    _assert_same_fitted_state(restored, clf, X)


def test_pickle_saves_optimize_result_as_a_plain_dict(
    small_data, make_small, quiet_fit
):
    est = _fit_with("L-BFGS-B", BackpropClassifier, small_data, make_small, quiet_fit)
    state = est.__getstate__()
    assert type(state["optimize_result_"]) is dict
    assert type(est.optimize_result_) is OptimizeResult  # the estimator unchanged
    restored = pickle.loads(pickle.dumps(est))
    assert type(restored.optimize_result_) is OptimizeResult
    assert restored.optimize_result_.keys() == est.optimize_result_.keys()
    assert_array_equal(restored.optimize_result_.x, est.optimize_result_.x)
    assert restored.optimize_result_.message == est.optimize_result_.message


def test_a_state_holding_scipy_objects_loads_with_plain_values(
    small_data, make_small, quiet_fit
):
    # as pickled before optimize_result_ was kept plain: L-BFGS-B's hess_inv
    # is a SciPy LinearOperator
    X, y = small_data
    est = _fit_with("L-BFGS-B", BackpropClassifier, small_data, make_small, quiet_fit)
    scipy_result = minimize(lambda x: x @ x, np.ones(2), method="L-BFGS-B")
    assert not isinstance(scipy_result.hess_inv, PLAIN_TYPES)
    state = est.__getstate__()
    state["optimize_result_"] = scipy_result
    restored = BackpropClassifier.__new__(BackpropClassifier)
    restored.__setstate__(state)
    assert type(restored.optimize_result_) is OptimizeResult
    assert "hess_inv" not in restored.optimize_result_
    assert_array_equal(restored.optimize_result_.x, scipy_result.x)
    assert_array_equal(restored.predict_proba(X), est.predict_proba(X))


# --------------------------------------------------------------------------
# skops.io: the safe format
# --------------------------------------------------------------------------


def _class_name(Estimator):
    return f"{Estimator.__module__}.{Estimator.__qualname__}"


def _skops_round_trip(est, path):
    """Dump, audit and load with skops; the untrusted types and the copy."""
    sio = pytest.importorskip("skops.io")
    sio.dump(est, path)
    untrusted = sio.get_untrusted_types(file=path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", sklearn.exceptions.InconsistentVersionWarning)
        restored = sio.load(path, trusted=[_class_name(type(est))])
    return untrusted, restored


def _assert_same_fitted_state(restored, est, X):
    assert type(restored) is type(est)
    assert guards.VERSION_KEY not in vars(restored)
    assert restored.get_params() == est.get_params()
    assert_array_equal(restored.predict(X), est.predict(X))
    if isinstance(est, BackpropClassifier):
        assert_array_equal(restored.predict_proba(X), est.predict_proba(X))
        assert_array_equal(restored.classes_, est.classes_)
    for a, b in zip(restored.thetas_, est.thetas_, strict=True):
        assert a.dtype == b.dtype
        assert_array_equal(a, b)
    assert vars(restored).keys() == vars(est).keys()
    assert type(restored.optimize_result_) is OptimizeResult
    assert restored.optimize_result_.keys() == est.optimize_result_.keys()
    for key, value in est.optimize_result_.items():
        assert_array_equal(restored.optimize_result_[key], value)
    assert restored.loss_curve_ == est.loss_curve_


@pytest.mark.parametrize(
    ("Estimator", "solver"), FITS, ids=[f"{E.__name__}-{s}" for E, s in FITS]
)
def test_skops_round_trip_with_every_solver_trusts_only_our_class(
    Estimator, solver, small_data, make_small, quiet_fit, tmp_path
):
    X, y = small_data
    est = _fit_with(solver, Estimator, small_data, make_small, quiet_fit)
    untrusted, restored = _skops_round_trip(est, tmp_path / "est.skops")
    assert untrusted == [_class_name(Estimator)]
    _assert_same_fitted_state(restored, est, X)


def _multi_target(Estimator, y):
    if Estimator is BackpropClassifier:  # multilabel
        return np.column_stack([y == 0, y == 1, y != 1]).astype(int)
    return np.column_stack([y, -2.0 * y])  # multi-output


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("multi", [False, True], ids=["single", "multi"])
def test_skops_round_trip_of_dense_sparse_float32_and_multi_output_fits(
    Estimator, dtype, sparse, multi, small_data, make_small, quiet_fit, tmp_path
):
    X, y = small_data
    X = X.astype(dtype)
    X_fit = scipy.sparse.csr_matrix(X) if sparse else X
    y = _multi_target(Estimator, y) if multi else y
    est = quiet_fit(make_small(Estimator, early_stopping=multi), X_fit, y)
    untrusted, restored = _skops_round_trip(est, tmp_path / "est.skops")
    assert untrusted == [_class_name(Estimator)]
    _assert_same_fitted_state(restored, est, X_fit)
    assert restored.thetas_[0].dtype == dtype


def test_skops_round_trip_of_named_features_and_string_classes(
    small_data, make_small, quiet_fit, tmp_path
):
    pd = pytest.importorskip("pandas")
    X, y = small_data
    X = pd.DataFrame(X, columns=["a", "b", "c"])
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = quiet_fit(make_small(BackpropClassifier, class_weight="balanced"), X, labels)
    untrusted, restored = _skops_round_trip(clf, tmp_path / "clf.skops")
    assert untrusted == [_class_name(BackpropClassifier)]
    _assert_same_fitted_state(restored, clf, X)
    assert_array_equal(restored.feature_names_in_, ["a", "b", "c"])


def test_skops_round_trip_inside_a_pipeline(
    small_data, make_small, quiet_fit, tmp_path
):
    X, y = small_data
    pipe = make_pipeline(StandardScaler(), make_small(BackpropClassifier))
    pipe = quiet_fit(pipe, X, y)
    sio = pytest.importorskip("skops.io")
    sio.dump(pipe, tmp_path / "pipe.skops")
    # scikit-learn's own classes are trusted by default
    assert sio.get_untrusted_types(file=tmp_path / "pipe.skops") == [
        _class_name(BackpropClassifier)
    ]
    restored = sio.load(
        tmp_path / "pipe.skops", trusted=[_class_name(BackpropClassifier)]
    )
    assert_array_equal(restored.predict_proba(X), pipe.predict_proba(X))


def test_skops_round_trip_of_an_unfitted_estimator(Estimator, tmp_path):
    est = Estimator(hidden_layer_sizes=(4, 2), alpha=0.5, solver_options={"m": 3})
    untrusted, restored = _skops_round_trip(est, tmp_path / "est.skops")
    assert untrusted == [_class_name(Estimator)]
    assert type(restored) is Estimator
    assert restored.get_params() == est.get_params()
    assert vars(restored) == vars(est)


def test_skops_refuses_our_class_unless_trusted(
    small_data, make_small, quiet_fit, tmp_path
):
    sio = pytest.importorskip("skops.io")
    X, y = small_data
    reg = quiet_fit(make_small(BackpropRegressor), X, y)
    sio.dump(reg, tmp_path / "reg.skops")
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.load(tmp_path / "reg.skops")


def _progress_callback(progress):
    """A callback importable by module and name, as skops saves functions."""
    return False


def test_skops_lists_a_callback_function_as_untrusted(
    small_data, make_small, quiet_fit, tmp_path
):
    sio = pytest.importorskip("skops.io")
    X, y = small_data
    reg = quiet_fit(make_small(BackpropRegressor, callback=_progress_callback), X, y)
    sio.dump(reg, tmp_path / "reg.skops")
    callback = f"{__name__}._progress_callback"
    untrusted = sio.get_untrusted_types(file=tmp_path / "reg.skops")
    assert sorted(untrusted) == sorted([callback, _class_name(BackpropRegressor)])
    restored = sio.load(tmp_path / "reg.skops", trusted=untrusted)
    assert restored.callback is _progress_callback
    assert_array_equal(restored.predict(X), reg.predict(X))
    # what the user guide advises: drop the callback before saving
    reg.set_params(callback=None)
    untrusted, restored = _skops_round_trip(reg, tmp_path / "plain.skops")
    assert untrusted == [_class_name(BackpropRegressor)]
    assert restored.callback is None
    assert_array_equal(restored.predict(X), reg.predict(X))


def _with_stored_version(path, version):
    """Rewrite the skops file at path with the recorded version edited in its
    schema.json (None: removed), as a file from another version would hold."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(members["schema.json"])
    attrs = schema["content"]["content"]  # the estimator's state, key by key
    assert json.loads(attrs[guards.VERSION_KEY]["content"]) == (
        sklearn_backprop.__version__
    )
    if version is None:
        del attrs[guards.VERSION_KEY]
        schema["content"]["key_types"]["content"].pop()  # one str key fewer
    else:
        attrs[guards.VERSION_KEY]["content"] = json.dumps(version)
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.mark.parametrize(
    ("stored", "shown"), [("0.0.1", "0.0.1"), (None, "unknown")], ids=["old", "none"]
)
def test_skops_file_from_another_package_version_warns(
    stored, shown, Estimator, small_data, make_small, quiet_fit, tmp_path
):
    sio = pytest.importorskip("skops.io")
    X, y = small_data
    est = quiet_fit(make_small(Estimator), X, y)
    path = tmp_path / "est.skops"
    sio.dump(est, path)
    _with_stored_version(path, stored)
    current = sklearn_backprop.__version__
    match = (
        f"unpickle estimator {Estimator.__name__} from sklearn-backprop version "
        f"{shown} when using version {current}"
    )
    with pytest.warns(InconsistentVersionWarning, match=match) as record:
        restored = sio.load(path, trusted=[_class_name(Estimator)])
    warning = record[0]
    assert isinstance(warning.message, sklearn.exceptions.InconsistentVersionWarning)
    assert warning.message.original_version == shown
    assert warning.filename == __file__  # the line that loaded, not skops'
    assert guards.VERSION_KEY not in vars(restored)
    assert_array_equal(restored.predict(X), est.predict(X))


def test_version_warning_names_the_line_that_loaded(
    small_data, make_small, quiet_fit, monkeypatch, tmp_path
):
    X, y = small_data
    reg = quiet_fit(make_small(BackpropRegressor), X, y)
    current = sklearn_backprop.__version__
    monkeypatch.setattr(sklearn_backprop, "__version__", "0.0.1")
    pickled = pickle.dumps(reg)
    joblib.dump(reg, tmp_path / "old.joblib")
    monkeypatch.setattr(sklearn_backprop, "__version__", current)
    for load in [
        lambda: pickle.loads(pickled),
        lambda: joblib.load(tmp_path / "old.joblib"),
        lambda: pickle._Unpickler(io.BytesIO(pickled)).load(),  # pure Python
    ]:
        with pytest.warns(InconsistentVersionWarning) as record:
            load()
        assert [w.filename for w in record] == [__file__]


def test_skops_file_lists_scikit_learn_callbacks_until_they_are_removed(
    small_data, tmp_path
):
    callback = pytest.importorskip("sklearn.callback")
    X, y = small_data
    est = BackpropClassifier(hidden_layer_sizes=(3,), max_iter=5)
    scoring = callback.ScoringMonitor(scoring="accuracy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        est.set_callbacks(scoring).fit(X, y)
    sio = pytest.importorskip("skops.io")
    sio.dump(est, tmp_path / "with.skops")
    untrusted = sio.get_untrusted_types(file=tmp_path / "with.skops")
    assert any(name.startswith("sklearn.callback") for name in untrusted)
    est.set_callbacks()  # what the user guide says to do before saving
    untrusted, restored = _skops_round_trip(est, tmp_path / "without.skops")
    assert untrusted == [_class_name(BackpropClassifier)]
    _assert_same_fitted_state(restored, est, X)
