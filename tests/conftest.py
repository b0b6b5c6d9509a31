"""Shared test data, names and helpers.

Names of activations, output/loss pairs and solvers come from the package's
own tables (the block just below, the only place the tests import them), so
that a name added to a table is tested everywhere without editing a test.

Parametrized fixtures run a test once per name:

* ``activation``: each hidden-unit activation;
* ``output_activation``: each output unit;
* ``pair``: each supported ``(output_activation, loss)`` pair;
* ``solver``: each solver that uses the gradient; ``hessp_solver``: each that
  also takes Hessian-vector products; ``no_gradient_solver`` and
  ``full_hessian_solver``: each solver the estimators refuse;
* ``Estimator``: BackpropClassifier and BackpropRegressor.

A test that parametrizes one of these names itself (a subset, or other
values) overrides the fixture. The whole lists, for loops and hypothesis
strategies, are the session fixtures ``activation_names``, ``loss_pairs`` and
``solver_names``.
"""

import math
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sklearn_backprop import BackpropClassifier, BackpropRegressor, network

# --------------------------------------------------------------------------
# Names from the package's tables. These private tables may move or be
# renamed: update this block, and only this block.
# --------------------------------------------------------------------------
from sklearn_backprop._activations import ACTIVATIONS as _ACTIVATION_TABLE
from sklearn_backprop._losses import LOSSES as _LOSS_TABLE
from sklearn_backprop._solvers import SOLVERS as _SOLVER_TABLE

ACTIVATION_NAMES = tuple(_ACTIVATION_TABLE)  # hidden units: "logistic", ...
LOSS_PAIRS = tuple(_LOSS_TABLE)  # (output_activation, loss): ("softmax", ...)
OUTPUT_ACTIVATIONS = tuple(dict.fromkeys(out for out, _ in LOSS_PAIRS))
# scipy.optimize.minimize methods that use the gradient (those that also take
# H·v products below, and those refused for taking no gradient or for needing
# the full Hessian).
SOLVERS = tuple(
    n for n, s in _SOLVER_TABLE.items() if not (s.refused or s.least_squares)
)
# scipy.optimize.least_squares methods, for sums of squares (the regressor)
LEAST_SQUARES_SOLVERS = tuple(n for n, s in _SOLVER_TABLE.items() if s.least_squares)
HESSP_SOLVERS = tuple(n for n, s in _SOLVER_TABLE.items() if s.takes_hessp)
NO_GRADIENT_SOLVERS = tuple(
    sorted(n for n, s in _SOLVER_TABLE.items() if s.refused and "gradient" in s.refused)
)
FULL_HESSIAN_SOLVERS = tuple(
    sorted(n for n, s in _SOLVER_TABLE.items() if s.refused and "Hessian" in s.refused)
)

ESTIMATORS = (BackpropClassifier, BackpropRegressor)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "slow: takes seconds (a Dask cluster, a subprocess); "
        'deselect with -m "not slow"',
    )


# --------------------------------------------------------------------------
# One test per name
# --------------------------------------------------------------------------


@pytest.fixture(params=ACTIVATION_NAMES)
def activation(request):
    """Each hidden-unit activation."""
    return request.param


@pytest.fixture(params=OUTPUT_ACTIVATIONS)
def output_activation(request):
    """Each output unit."""
    return request.param


@pytest.fixture(params=LOSS_PAIRS, ids="+".join)
def pair(request):
    """Each supported ``(output_activation, loss)`` pair."""
    return request.param


@pytest.fixture(params=SOLVERS)
def solver(request):
    """Each solver that uses the gradient."""
    return request.param


@pytest.fixture(params=HESSP_SOLVERS)
def hessp_solver(request):
    """Each solver that takes Hessian-vector products."""
    return request.param


@pytest.fixture(params=NO_GRADIENT_SOLVERS)
def no_gradient_solver(request):
    """Each scipy method refused for not using the gradient."""
    return request.param


@pytest.fixture(params=FULL_HESSIAN_SOLVERS)
def full_hessian_solver(request):
    """Each scipy method refused for needing the full Hessian."""
    return request.param


@pytest.fixture(params=ESTIMATORS, ids=lambda cls: cls.__name__)
def Estimator(request):
    """BackpropClassifier, then BackpropRegressor."""
    return request.param


# --------------------------------------------------------------------------
# The whole lists, for loops and hypothesis strategies
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def activation_names():
    return ACTIVATION_NAMES


@pytest.fixture(scope="session")
def loss_pairs():
    return LOSS_PAIRS


@pytest.fixture(scope="session")
def solver_names():
    return SOLVERS


# --------------------------------------------------------------------------
# Data sets (read-only: a test that needs to change one copies it)
# --------------------------------------------------------------------------


def _read_only(*arrays):
    for a in arrays:
        a.flags.writeable = False
    return arrays


@pytest.fixture(scope="session")
def small_data():
    """30 samples, 3 features, 3 balanced classes: input for quick fits."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    return _read_only(X, np.arange(30) % 3)


@pytest.fixture(scope="session")
def iris():
    """Iris, standardised."""
    X, y = load_iris(return_X_y=True)
    return _read_only(StandardScaler().fit_transform(X), y)


@pytest.fixture(scope="session")
def digits():
    """Digits, scaled to [0, 1]."""
    X, y = load_digits(return_X_y=True)
    return _read_only(X / 16.0, y)


# --------------------------------------------------------------------------
# Helpers, handed to tests as fixtures
# --------------------------------------------------------------------------


def _fit_quietly(estimator, X, y, **fit_params):
    """``estimator.fit(X, y, **fit_params)``, ignoring ConvergenceWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y, **fit_params)


@pytest.fixture(scope="session")
def quiet_fit():
    """Fit, ignoring ConvergenceWarning (for tests that use a tiny max_iter)."""
    return _fit_quietly


def _make_small(Estimator, **params):
    return Estimator(hidden_layer_sizes=(3,), max_iter=5, random_state=0, **params)


@pytest.fixture(scope="session")
def make_small():
    """``make_small(Estimator, **params)``: 3 hidden units, 5 iterations."""
    return _make_small


def _assert_distributions(P, atol=1e-9):
    """Rows of P are probability distributions: no NaN, in [0, 1], sum 1."""
    assert not np.isnan(P).any()
    assert np.all((P >= 0) & (P <= 1))
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=atol)


@pytest.fixture(scope="session")
def assert_distributions():
    """``assert_distributions(P, atol=1e-9)``: rows of P are distributions."""
    return _assert_distributions


def _relu_pre_activations(thetas, X):
    """min |z| over the hidden pre-activations of every row (inf if none)."""
    smallest = np.inf
    for x in X:
        a = np.asarray(x, dtype=float)
        for theta in thetas[:-1]:
            z = theta @ np.concatenate(([1.0], a))
            smallest = min(smallest, np.min(np.abs(z)))
            a = np.maximum(z, 0.0)
    return smallest


def _make_problem(
    seed, layer_sizes, activation, pair, n=5, weights=False, scale=1.0, kink=1e-3
):
    """Random (theta, X, Y, sample_weight), relu data kept away from its kink.

    Y suits the output/loss ``pair``: one-hot rows for softmax, 0/1 for the
    logistic log-loss, values in [0, 1] for the logistic squared error, normal
    values for the identity.
    """
    rng = np.random.default_rng(seed)
    n_in, n_out = layer_sizes[0], layer_sizes[-1]
    for _ in range(100):
        X = rng.normal(size=(n, n_in))
        thetas = [
            rng.normal(scale=scale / math.sqrt(s_in + 1), size=(s_out, s_in + 1))
            for s_in, s_out in zip(layer_sizes[:-1], layer_sizes[1:], strict=False)
        ]
        if activation != "relu" or _relu_pre_activations(thetas, X) > kink:
            break
    else:
        raise AssertionError("could not draw relu data away from the kink")
    if pair[0] == "softmax":
        Y = np.eye(n_out)[rng.integers(0, n_out, size=n)]
    elif pair == ("logistic", "log_loss"):
        Y = rng.integers(0, 2, size=(n, n_out)).astype(float)
    elif pair[0] == "logistic":
        Y = rng.uniform(size=(n, n_out))
    else:
        Y = rng.normal(size=(n, n_out))
    sample_weight = rng.uniform(0.2, 3.0, size=n) if weights else None
    return network.pack(thetas), X, Y, sample_weight


@pytest.fixture(scope="session")
def make_problem():
    """``make_problem(seed, layer_sizes, activation, pair, n=5, weights=False,
    scale=1.0, kink=1e-3)``: a random problem for gradient and H·v checks."""
    return _make_problem
