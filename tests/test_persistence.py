"""Saved estimators: pickle, joblib and deepcopy keep predictions exactly, and
an estimator saved by another package version warns when loaded.

docs/guarantees.rst lists each guarantee with its test.
"""

import copy
import pickle
import warnings

import joblib
import numpy as np
import pytest
import sklearn.exceptions
from numpy.testing import assert_array_equal

import sklearn_backprop
from sklearn_backprop import BackpropClassifier, BackpropRegressor
from sklearn_backprop import _guards as guards
from sklearn_backprop._guards import InconsistentVersionWarning


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
