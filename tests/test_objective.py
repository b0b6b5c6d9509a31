"""The one objective: regularize(Σ over row blocks), whatever the source."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_backprop._blocks import InMemoryBlocks
from sklearn_backprop._objective import Objective
from sklearn_backprop._spec import NetworkSpec
from sklearn_backprop.network import cost_grad, hessp


@pytest.fixture
def problem(make_problem):
    layer_sizes = [3, 5, 2]
    theta, X, Y, sw = make_problem(
        0, layer_sizes, "tanh", ("softmax", "log_loss"), n=40, weights=True
    )
    spec = NetworkSpec.make(layer_sizes, "tanh", "softmax", "log_loss")
    return spec, theta, X, Y, sw


@pytest.mark.parametrize("chunk_size", [None, 7])
def test_objective_equals_the_network_functions(problem, chunk_size):
    spec, theta, X, Y, sw = problem
    source = InMemoryBlocks(X, Y, sw, spec, chunk_size=chunk_size)
    objective = Objective(source, alpha=0.3, curvature="exact")
    kw = {"alpha": 0.3, "activation": "tanh", "output_activation": "softmax"}
    J, grad = objective(theta)
    J_ref, grad_ref = cost_grad(theta, X, Y, [3, 5, 2], sample_weight=sw, **kw)
    assert_allclose(J, J_ref, rtol=1e-13)
    assert_allclose(grad, grad_ref, rtol=1e-12, atol=1e-15)
    assert grad.dtype == np.float64
    v = np.random.default_rng(1).normal(size=theta.size)
    assert_allclose(
        objective.hessp(theta, v),
        hessp(theta, v, X, Y, [3, 5, 2], sample_weight=sw, **kw),
        rtol=1e-12,
        atol=1e-15,
    )


def test_the_last_evaluation_is_reused_and_never_shared(problem):
    spec, theta, X, Y, sw = problem
    objective = Objective(InMemoryBlocks(X, Y, sw, spec), alpha=0.3, curvature="exact")
    J, grad = objective(theta)
    again_J, again = objective(theta.copy())  # the same θ: no new evaluation
    assert objective.n_evaluations == 1 and again_J == J
    assert_array_equal(again, grad) and again is not grad  # scipy keeps both
    assert objective.at(theta)[0] == J and objective.n_evaluations == 1
    objective(theta + 1e-3)
    assert objective.n_evaluations == 2
    assert objective.at(theta)[0] == J and objective.n_evaluations == 3


def test_a_non_finite_cost_becomes_inf_quietly(problem):
    spec, theta, X, Y, sw = problem
    spec = NetworkSpec.make([3, 5, 2], "relu", "softmax", "log_loss")  # no cap
    objective = Objective(InMemoryBlocks(X * 1e306, Y, sw, spec), 0.0, "exact")
    with np.errstate(all="raise"):  # the objective silences its own overflow
        J, _ = objective(np.full_like(theta, 1e3))
    assert J == np.inf
