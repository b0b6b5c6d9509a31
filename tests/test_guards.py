"""Guards around fitting: the memory guard, and a failed fit loses nothing.

A network too large for memory is refused before anything is allocated, with
a ``MemoryError`` that states what it needs; a fit that fails part-way leaves
the estimator as it was. docs/guarantees.rst lists each guarantee with its
test.
"""

import sys
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import sklearn
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from sklearn_backprop import BackpropClassifier
from sklearn_backprop import _guards as guards
from sklearn_backprop.network import n_params

# --------------------------------------------------------------------------
# A network too large for memory is refused before allocating
# --------------------------------------------------------------------------


def test_a_network_too_large_for_memory_is_refused_before_allocating(small_data):
    X, y = small_data
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


def test_memory_guard_compares_with_physical_memory(monkeypatch, small_data):
    X, y = small_data
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
# A failed fit leaves the estimator as it was
# --------------------------------------------------------------------------


def _snapshot(est):
    return dict(vars(est))


def test_failed_refit_leaves_the_previous_fitted_state(
    Estimator, small_data, make_small, quiet_fit
):
    X, y = small_data
    est = quiet_fit(make_small(Estimator), X, y)
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


def test_failed_refit_keeps_feature_names_and_classes(
    small_data, make_small, quiet_fit
):
    X, y = small_data
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    clf = quiet_fit(make_small(BackpropClassifier, warm_start=True), frame, y)
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


def test_failed_first_fit_leaves_the_estimator_unfitted(
    Estimator, small_data, make_small
):
    X, y = small_data
    est = make_small(Estimator, solver_options={"bogus_option": 1})
    before = _snapshot(est)
    with pytest.raises(ValueError, match="bogus_option"):
        est.fit(X, y)
    assert _snapshot(est) == before
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    with pytest.raises(NotFittedError):
        est.predict(X)
