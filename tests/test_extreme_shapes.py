"""Extreme shapes: one sample per class, more features than samples, a thousand
classes, a single feature. The fit completes and the answer is right.

docs/guarantees.rst lists each guarantee with its test.
"""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from sklearn_backprop import BackpropClassifier


def test_one_sample_per_class(assert_distributions):
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = np.array(["a", "b", "c", "d"])
    clf = BackpropClassifier(hidden_layer_sizes=(4,), alpha=1e-6, random_state=0)
    clf.fit(X, y)
    assert_array_equal(clf.predict(X), y)
    assert_distributions(clf.predict_proba(X))
    assert np.isfinite(clf.loss_)
    # early stopping cannot hold a sample of each class out: a clear refusal
    with pytest.raises(ValueError, match="early_stopping.*each of the 4 classes"):
        BackpropClassifier(early_stopping=True).fit(X, y)
    X, y = np.tile(X, (5, 1)), np.append(np.repeat(y, 5)[:-4], ["a"] * 3 + ["e"])
    with pytest.raises(ValueError, match="early_stopping.*only 1 member"):
        BackpropClassifier(early_stopping=True, validation_fraction=0.5).fit(X, y)


def test_more_features_than_samples(Estimator, assert_distributions):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 300))
    y = np.arange(8) % 2
    est = Estimator(hidden_layer_sizes=(5,), random_state=0).fit(X, y)
    assert np.isfinite(est.loss_)
    if Estimator is BackpropClassifier:
        assert_array_equal(est.predict(X), y)  # separable: memorised
        assert_distributions(est.predict_proba(X))
    else:
        assert np.all(np.isfinite(est.predict(X)))
        assert est.score(X, y) > 0.9


def test_a_thousand_classes_with_two_samples_each(quiet_fit, assert_distributions):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 10))
    y = np.repeat(np.arange(1000), 2)
    rng.shuffle(y)
    clf = quiet_fit(
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


def test_a_single_feature(Estimator, assert_distributions):
    X = np.linspace(-3, 3, 40).reshape(-1, 1)
    y = (X.ravel() > 0.3).astype(int)
    est = Estimator(hidden_layer_sizes=(3,), random_state=0).fit(X, y)
    assert est.n_features_in_ == 1
    assert est.predict(X).shape == (40,)
    if Estimator is BackpropClassifier:
        assert est.score(X, y) == 1.0
        assert_distributions(est.predict_proba(X))
    with pytest.raises(ValueError, match="Reshape your data"):
        est.predict(X.ravel())
