"""scikit-learn's estimator checks, at the default parameters."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_backprop import BackpropClassifier, BackpropRegressor


@parametrize_with_checks([BackpropClassifier(), BackpropRegressor()])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
