"""Sparse input: computed with sparse products, never densified, equal to dense."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from sklearn_backprop import BackpropClassifier, BackpropRegressor
from sklearn_backprop.network import cost_grad, n_params


class _NoDensify(sp.csr_matrix):
    """A CSR matrix that refuses to be turned into a dense array."""

    def toarray(self, *args, **kwargs):
        raise AssertionError("sparse X was densified")

    todense = toarray

    def __array__(self, *args, **kwargs):
        raise AssertionError("sparse X was densified")


def _sparse_problem(seed=0, n=60, d=30, density=0.1):
    X = sp.random(n, d, density=density, format="csr", random_state=seed)
    rng = np.random.default_rng(seed)
    y = (np.asarray(X.sum(axis=1)).ravel() + 0.1 * rng.normal(size=n) > 1.5).astype(int)
    return X, y


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_cost_grad_sparse_equals_dense(fmt):
    X, y = _sparse_problem()
    layer_sizes = [30, 5, 2]
    rng = np.random.default_rng(1)
    theta = rng.normal(size=n_params(layer_sizes))
    Y = np.eye(2)[y]
    J_dense, g_dense = cost_grad(theta, X.toarray(), Y, layer_sizes, alpha=0.5)
    J_sparse, g_sparse = cost_grad(theta, X.asformat(fmt), Y, layer_sizes, alpha=0.5)
    assert_allclose(J_sparse, J_dense, rtol=1e-12)
    assert_allclose(g_sparse, g_dense, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_fit_on_sparse_equals_fit_on_dense(Estimator, fmt, quiet_fit):
    # Sparse and dense products round differently in the last bit, and an
    # optimiser amplifies that over many iterations: compare a few iterations
    # at 1e-10, and a converged fit at the optimiser's own tolerance.
    X, y = _sparse_problem()
    params = {"hidden_layer_sizes": (4,), "random_state": 0}
    dense = quiet_fit(Estimator(max_iter=5, **params), X.toarray(), y)
    sparse = quiet_fit(Estimator(max_iter=5, **params), X.asformat(fmt), y)
    for a, b in zip(dense.thetas_, sparse.thetas_, strict=True):
        assert_allclose(b, a, rtol=1e-10, atol=1e-12)
    assert_allclose(sparse.predict(X.asformat(fmt)), dense.predict(X.toarray()))
    converged = {"alpha": 1.0, "tol": 1e-8, "max_iter": 1000, **params}
    dense = Estimator(**converged).fit(X.toarray(), y)
    sparse = Estimator(**converged).fit(X.asformat(fmt), y)
    assert dense.optimize_result_.success and sparse.optimize_result_.success
    assert_allclose(sparse.loss_, dense.loss_, rtol=1e-6)
    assert_allclose(
        sparse.predict(X.asformat(fmt)), dense.predict(X.toarray()), rtol=1e-3
    )


def test_sparse_input_is_never_densified():
    X, y = _sparse_problem()
    X = _NoDensify(X)
    clf = BackpropClassifier(hidden_layer_sizes=(4,), random_state=0).fit(X, y)
    clf.predict_proba(X)
    reg = BackpropRegressor(hidden_layer_sizes=(4,), random_state=0).fit(X, y * 1.0)
    reg.predict(X)
