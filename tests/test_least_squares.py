"""Levenberg-Marquardt ("lm") and trust-region reflective ("trf") for the
regressor: the residuals r with J = ½‖r‖², their Jacobian, and the fits."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge

import sklearn_backprop._guards as guards
import sklearn_backprop._least_squares as lsq
from sklearn_backprop import BackpropClassifier, BackpropRegressor
from sklearn_backprop._blocks import InMemoryBlocks
from sklearn_backprop._objective import Objective
from sklearn_backprop._spec import NetworkSpec
from sklearn_backprop.network import n_params, numerical_gradient


@pytest.fixture(params=["lm", "trf"])
def lsq_solver(request):
    return request.param


def objective_for(output, weights, K=2, alpha=0.7, n=12, seed=0):
    rng = np.random.default_rng(seed)
    layer_sizes = [3, 4, K]
    X = rng.normal(size=(n, 3))
    Y = rng.uniform(size=(n, K)) if output == "logistic" else rng.normal(size=(n, K))
    w = rng.uniform(0.2, 2.0, size=n) if weights else None
    spec = NetworkSpec.make(layer_sizes, "tanh", output, "squared_error")
    objective = Objective(InMemoryBlocks(X, Y, w, spec), alpha, "exact")
    return objective, rng.normal(size=n_params(layer_sizes))


@pytest.mark.parametrize("output", ["identity", "logistic"])
@pytest.mark.parametrize("weights", [False, True])
def test_half_squared_norm_of_the_residuals_is_the_cost(output, weights):
    objective, theta = objective_for(output, weights)
    r = objective.residuals(theta)
    n_non_bias = int(objective.spec.weight_mask.sum())
    assert r.shape == (12 * 2 + n_non_bias,)
    assert_allclose(0.5 * r @ r, objective(theta)[0], rtol=1e-12)


@pytest.mark.parametrize("output", ["identity", "logistic"])
@pytest.mark.parametrize("weights", [False, True])
def test_jacobian_of_the_residuals(output, weights):
    objective, theta = objective_for(output, weights, n=6)
    jac = objective.residual_jacobian(theta)
    for i in range(0, jac.shape[0], 5):  # central differences, row by row
        numeric = numerical_gradient(
            lambda t, i=i: objective.residuals(t)[i], theta, 1e-6
        )
        assert_allclose(jac[i], numeric, rtol=1e-6, atol=1e-8)
    # the operator "trf" uses gives the same products without forming it
    operator = objective.residual_operator(theta)
    rng = np.random.default_rng(1)
    v, u = rng.normal(size=jac.shape[1]), rng.normal(size=jac.shape[0])
    assert_allclose(operator.matvec(v), jac @ v, rtol=1e-10, atol=1e-12)
    assert_allclose(operator.rmatvec(u), jac.T @ u, rtol=1e-10, atol=1e-12)
    # and Jᵀ r is the gradient of J
    r = objective.residuals(theta)
    assert_allclose(jac.T @ r, objective(theta)[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "shape, cond", [((40, 6), 1e2), ((40, 6), 1e12), ((5, 6), 1e2), ((6, 6), 1.0)]
)
def test_triangular_factors_have_the_gram_matrix_of_their_input(shape, cond):
    # Cholesky of AᵀA when A is well conditioned, else None; Householder QR
    # always. Both: upper triangular T with TᵀT = AᵀA.
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.normal(size=(shape[0], shape[0])))
    V, _ = np.linalg.qr(rng.normal(size=(shape[1], shape[1])))
    k = min(shape)
    A = np.asfortranarray(U[:, :k] * np.geomspace(1.0, 1.0 / cond, k) @ V[:k])
    T = lsq._householder_factor(A.copy(order="F"))
    assert T.shape == (k, shape[1])
    assert_allclose(np.tril(T, -1), 0.0)
    assert_allclose(T.T @ T, A.T @ A, atol=1e-14)
    T = lsq._cholesky_factor(A.T @ A)
    if k < shape[1] or cond > 1 / lsq.GRAM_MIN_RCOND:
        assert T is None
    else:
        assert_allclose(np.tril(T, -1), 0.0)
        assert_allclose(T.T @ T, A.T @ A, atol=1e-14)


def test_gram_matrix_of_the_residuals_and_their_jacobian():
    objective, theta = objective_for("identity", weights=True)
    r = objective.residuals(theta)
    stacked = objective.residual_jacobian(theta, residuals=r)
    assert_allclose(stacked[:, 0], r)
    assert_allclose(stacked[:, 1:], objective.residual_jacobian(theta))
    gram = objective.residual_gram(theta, r)
    assert_allclose(gram, stacked.T @ stacked, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("gram", [True, False])
def test_lm_takes_minpacks_own_steps_on_the_full_residuals(gram, monkeypatch):
    # "lm" hands MINPACK r and ∂r rotated onto n+1 rows: the iterates must be
    # those of least_squares(method="lm") on the full r and ∂r.
    from scipy.optimize import least_squares

    if not gram:  # force the Householder branch
        monkeypatch.setattr(lsq, "GRAM_MIN_RCOND", np.inf)
    objective, theta0 = objective_for("identity", weights=True, n=30, alpha=0.1)
    theta0 *= 0.3

    class Recorder:  # the monitor's interface: called with each accepted θ
        x, losses = theta0, []

        def __call__(self, theta):
            self.x = np.array(theta)
            self.losses.append(theta.copy())

    monitor = Recorder()
    options = {"ftol": 1e-12, "xtol": 1e-12, "gtol": 1e-12, "x_scale": 1.0}
    result = lsq.least_squares_network(
        objective, theta0, monitor, "lm", {**options, "max_nfev": 15}
    )
    seen = monitor.losses
    full = []
    least_squares(
        objective.residuals,
        theta0,
        jac=lambda t: full.append(t.copy()) or objective.residual_jacobian(t),
        method="lm",
        max_nfev=15,
        **options,
    )
    # MINPACK asks for the Jacobian at θ0 and then at each accepted iterate
    assert len(seen) == len(full) - 1 >= 5
    assert_allclose(np.array(seen), np.array(full[1:]), rtol=1e-7, atol=1e-9)
    assert_allclose(result.x, seen[-1])


def test_a_linear_network_reaches_ridge(lsq_solver):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = X @ [1.0, 2.0, -1.0, 0.5] + 0.3 + 0.2 * rng.normal(size=60)
    alpha = 3.0
    reg = BackpropRegressor(
        hidden_layer_sizes=(), solver=lsq_solver, alpha=alpha, tol=1e-12
    ).fit(X, y)
    ridge = Ridge(alpha=alpha).fit(X, y)  # J × 2W is Ridge's objective
    assert_allclose(reg.coefs_[0].ravel(), ridge.coef_, atol=1e-6)
    assert_allclose(reg.intercepts_[0], [ridge.intercept_], atol=1e-6)


def test_lm_fits_a_sine_with_its_accepted_steps_recorded():
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(200, 1))
    y = np.sin(X[:, 0])
    seen = []
    reg = BackpropRegressor(
        hidden_layer_sizes=(5,),
        solver="lm",
        alpha=1e-6,
        tol=1e-10,
        max_iter=5000,
        random_state=0,
        callback=seen.append,
    ).fit(X, y)
    assert reg.loss_ < 1e-6
    assert reg.n_iter_ == len(reg.loss_curve_) == len(seen) > 0
    assert reg.optimize_result_.success
    assert np.all(np.diff(reg.loss_curve_) <= 0)  # accepted steps only
    assert reg.loss_curve_[-1] == reg.loss_


def test_callback_stops_and_tolerance_zero_is_clipped(lsq_solver, iris):
    X, _ = iris
    y = X[:, 0] - X[:, 1] ** 2
    reg = BackpropRegressor(
        hidden_layer_sizes=(3,),
        solver=lsq_solver,
        tol=0.0,  # MINPACK refuses tolerances at or below machine epsilon
        callback=lambda progress: progress.iteration == 3,
        random_state=0,
    ).fit(X, y)
    assert reg.n_iter_ == 3 == len(reg.loss_curve_)
    assert "callback" in reg.optimize_result_.message


def test_sample_weight_two_equals_a_duplicated_row(lsq_solver):
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(30, 2)), rng.normal(size=30)
    w = np.ones(30)
    w[:4] = 2
    params = {"hidden_layer_sizes": (3,), "solver": lsq_solver, "tol": 1e-12}
    params["random_state"] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = BackpropRegressor(**params).fit(X, y, sample_weight=w)
        b = BackpropRegressor(**params).fit(np.vstack([X, X[:4]]), np.r_[y, y[:4]])
    # trf (lsmr steps) gets less close than lm in the default max_iter
    assert_allclose(
        a.predict(X), b.predict(X), atol=1e-6 if lsq_solver == "lm" else 1e-3
    )


def test_multi_output_float32_early_stopping_and_warm_start(lsq_solver):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 3)).astype(np.float32)
    Y = np.c_[np.sin(X[:, 0]), X[:, 1] * X[:, 2]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = BackpropRegressor(
            hidden_layer_sizes=(6,), solver=lsq_solver, max_iter=40, random_state=0
        ).fit(X, Y)
        assert reg.predict(X).shape == (80, 2)
        assert reg.thetas_[0].dtype == np.float32
        first = reg.loss_
        reg.set_params(warm_start=True).fit(X, Y)
        assert reg.loss_ <= first
        stopped = BackpropRegressor(
            hidden_layer_sizes=(6,),
            solver=lsq_solver,
            early_stopping=True,
            n_iter_no_change=2,
            random_state=0,
        ).fit(X, Y)
    assert stopped.best_validation_score_ == max(stopped.validation_scores_)
    assert len(stopped.validation_scores_) == stopped.n_iter_


def test_classifier_refuses_least_squares(lsq_solver, iris):
    X, y = iris
    with pytest.raises(ValueError, match="sum of squares.*BackpropRegressor"):
        BackpropClassifier(solver=lsq_solver).fit(X, y)


def test_dask_input_is_refused(lsq_solver):
    da = pytest.importorskip("dask.array")
    X = da.from_array(np.ones((20, 2)), chunks=10)
    with pytest.raises(ValueError, match="not available with dask input"):
        BackpropRegressor(solver=lsq_solver).fit(X, np.ones(20))


def test_lm_needs_as_many_residuals_as_parameters():
    X, y = np.ones((3, 2)), np.ones(3)
    with pytest.raises(ValueError, match="MINPACK.*solver='trf'"):
        BackpropRegressor(hidden_layer_sizes=(50,), solver="lm", alpha=0).fit(X, y)


def test_lm_names_the_memory_its_jacobian_would_need(monkeypatch):
    monkeypatch.setattr(guards, "physical_memory", lambda: 10**6)
    X, y = np.random.default_rng(0).normal(size=(2000, 5)), np.ones(2000)
    with pytest.raises(MemoryError, match=r"Jacobian.*MiB.*solver='trf'"):
        BackpropRegressor(hidden_layer_sizes=(10,), solver="lm").fit(X, y)


def test_unknown_solver_options_are_refused(lsq_solver):
    X, y = np.random.default_rng(0).normal(size=(30, 2)), np.ones(30)
    reg = BackpropRegressor(solver=lsq_solver, solver_options={"bogus": 1})
    with pytest.raises(ValueError, match="solver_options were rejected"):
        reg.fit(X, y)


def test_ctrl_c_keeps_the_last_accepted_step(lsq_solver):
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(100, 1))
    y = np.sin(X[:, 0])

    def interrupt_at_the_third_step(progress):
        if progress.iteration == 3:
            raise KeyboardInterrupt  # what Ctrl-C does mid-fit

    reg = BackpropRegressor(
        hidden_layer_sizes=(4,), solver=lsq_solver, random_state=0, max_iter=500
    )
    with pytest.warns(UserWarning, match="interrupted"):
        reg.set_params(callback=interrupt_at_the_third_step).fit(X, y)
    assert reg.n_iter_ == len(reg.loss_curve_) == 3
    assert reg.optimize_result_.status == -1 and not reg.optimize_result_.success
    # the kept weights are the third step's: their cost is its recorded cost
    residual = reg.predict(X) - y
    penalty = sum((c**2).sum() for c in reg.coefs_)
    cost = (0.5 * residual @ residual + 0.5 * reg.alpha * penalty) / len(y)
    assert_allclose(cost, reg.loss_curve_[-1], rtol=1e-10)
    assert reg.loss_ == reg.loss_curve_[-1]
