"""Threads: row chunks on several threads give the same bits as one thread,
BLAS-aware; concurrent predictions on one fitted estimator agree."""

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn import config_context
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_limits

from sklearn_backprop import BackpropClassifier, network
from sklearn_backprop._blocks import InMemoryBlocks, chunk_rows
from sklearn_backprop._threads import (
    blas_threads,
    evaluation_threads,
    gemm_bound,
    run_in_order,
)
from sklearn_backprop.network import Workspace, cost_grad, cost_grad_sum


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_threads_give_the_bits_of_one_thread(activation, pair, dtype, make_problem):
    layer_sizes = [4, 6, 5, 3]
    theta, X, Y, sw = make_problem(3, layer_sizes, activation, pair, n=37, weights=True)
    theta, X, Y, sw = (a.astype(dtype) for a in (theta, X, Y, sw))
    output_activation, loss = pair
    kw = {
        "activation": activation,
        "output_activation": output_activation,
        "loss": loss,
        "alpha": 0.4,
        "sample_weight": sw,
    }
    for chunk_size in (1, 4, 10, 37):
        J_1, g_1 = cost_grad(
            theta, X, Y, layer_sizes, chunk_size=chunk_size, n_threads=1, **kw
        )
        ws = Workspace()
        for n_threads in (2, 3, 5):
            for _ in range(2):  # a reused workspace too
                J, g = cost_grad(
                    theta,
                    X,
                    Y,
                    layer_sizes,
                    chunk_size=chunk_size,
                    n_threads=n_threads,
                    workspace=ws,
                    **kw,
                )
                assert J == J_1
                assert_array_equal(g, g_1)


def test_threads_follow_blas():
    X, Y = np.ones((40, 3)), np.ones((40, 2))
    theta = np.zeros(network.n_params([3, 4, 2]))
    with threadpool_limits(limits=1, user_api="blas"):
        assert blas_threads() == 1
        ws = Workspace()
        cost_grad(theta, X, Y, [3, 4, 2], chunk_size=5, workspace=ws)
        assert ws._pool is None  # one thread: no pool
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() == 2
        ws = Workspace()
        cost_grad(theta, X, Y, [3, 4, 2], chunk_size=5, workspace=ws)
        assert ws._pool._max_workers == 1  # the caller and one more
        # never more threads than chunks
        ws = Workspace()
        cost_grad(theta, X, Y, [3, 4, 2], chunk_size=40, workspace=ws)
        assert ws._pool is None


def test_blas_is_single_threaded_inside_and_restored_after():
    seen = []

    def compute(i, worker):
        seen.append(blas_threads())

    with threadpool_limits(limits=2, user_api="blas"):
        run_in_order(4, compute, lambda *a: None, _pool(1), 2)
        assert blas_threads() == 2
    assert seen == [1, 1, 1, 1]


@pytest.mark.parametrize("n", [0, -1, 1.5, "2"])
def test_bad_n_threads(n):
    with pytest.raises(ValueError, match="n_threads must be a positive integer"):
        cost_grad(np.zeros(3), np.ones((2, 2)), np.ones((2, 1)), [2, 1], n_threads=n)


def _pool(n):
    return ThreadPoolExecutor(n)


def test_combine_runs_in_item_order():
    order = []

    def compute(i, worker):
        if i % 3 == 0:  # make some items slow
            threading.Event().wait(0.01)
        return i

    run_in_order(12, compute, lambda i, w, r: order.append((i, r)), _pool(2), 3)
    assert order == [(i, i) for i in range(12)]


@pytest.mark.parametrize("failing_worker", [0, 1])
@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_an_error_in_any_thread_stops_all_and_is_raised(failing_worker, error):
    done = []

    def compute(i, worker):
        if i == 4 + failing_worker:
            raise error("stop")
        return i

    pool = _pool(1)
    with pytest.raises(error, match="stop"):
        run_in_order(100, compute, lambda i, w, r: done.append(i), pool, 2)
    # combined in order, and nothing from the failed item on
    assert done == list(range(len(done))) and len(done) <= 4 + failing_worker
    pool.submit(lambda: None).result(timeout=5)  # the pool's thread is free again


def test_threads_run_under_the_callers_error_state():
    # float32 overflow in an evaluation: the caller's errstate decides
    X = np.full((64, 2), 1e37, np.float32)
    Y = np.zeros((64, 1), np.float32)
    theta = np.full(network.n_params([2, 3, 1]), 1e3, np.float32)
    kw = {"chunk_size": 4, "n_threads": 2, "activation": "relu"}
    with np.errstate(all="raise"), pytest.raises(FloatingPointError):
        cost_grad_sum(theta, X, Y, [2, 3, 1], **kw)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        cost_grad_sum(theta, X, Y, [2, 3, 1], **kw)


@pytest.mark.parametrize(
    "n, n_features, hidden",
    [
        (6000, 40, (30,)),  # several chunks, on the evaluation threads
        (1797, 64, (25,)),  # one chunk
        (6000, 400, (10,)),  # several chunks of a GEMM-bound network
    ],
)
def test_fits_with_one_or_two_threads_are_identical(n, n_features, hidden):
    X, y = make_classification(
        n, n_features, n_informative=10, n_classes=3, random_state=0
    )
    params = {"hidden_layer_sizes": hidden, "max_iter": 30, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with threadpool_limits(limits=1, user_api="blas"):
            one = BackpropClassifier(**params).fit(X, y)
        with threadpool_limits(limits=2, user_api="blas"):
            two = BackpropClassifier(**params).fit(X, y)
    chunks = -(-n // chunk_rows(n, [n_features, *hidden, 3], np.float64))
    assert (chunks > 1) == (n == 6000)
    assert one.n_iter_ == two.n_iter_
    for a, b in zip(one.thetas_, two.thetas_, strict=True):
        assert_array_equal(a, b)


def test_evaluations_started_in_other_threads_use_one():
    # A fit in a joblib or dask thread: the caller is already parallel, and
    # OpenBLAS may ignore thread limits set from there.
    X, Y = np.ones((40, 3)), np.ones((40, 2))
    theta = np.zeros(network.n_params([3, 4, 2]))
    workspaces = []

    def fit_step():
        ws = Workspace()
        cost_grad(theta, X, Y, [3, 4, 2], chunk_size=5, workspace=ws)
        workspaces.append(ws)

    with threadpool_limits(limits=2, user_api="blas"):
        thread = threading.Thread(target=fit_step)
        thread.start()
        thread.join(timeout=30)
    assert len(workspaces) == 1 and workspaces[0]._pool is None


@pytest.mark.parametrize("solver", ["L-BFGS-B", "CG", "trust-ncg"])
@pytest.mark.parametrize("chunked", [False, True])
def test_fit_holds_blas_to_one_thread_while_evaluations_use_threads(solver, chunked):
    # (BLAS threads, threads per evaluation) seen during the fit
    X, y = make_classification(300, 5, random_state=0)
    seen, evaluations = set(), []
    original = InMemoryBlocks.cost_grad_sum

    def spy(self, *args, **kwargs):
        evaluations.append(self.n_threads)
        return original(self, *args, **kwargs)

    def callback(progress):
        seen.add(blas_threads())

    # A tiny working_memory cuts the 300 rows into chunks of a few rows.
    memory = 1e-4 if chunked else None
    with (
        threadpool_limits(limits=2, user_api="blas"),
        config_context(working_memory=memory),
    ):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(InMemoryBlocks, "cost_grad_sum", spy)
            BackpropClassifier((4,), solver=solver, max_iter=3, callback=callback).fit(
                X, y
            )
        assert blas_threads() == 2  # restored
    assert seen == {1}  # BLAS on one thread throughout the fit
    assert set(evaluations) == ({2} if chunked else {1})


def test_gemm_bound_networks_leave_the_threads_to_blas():
    # 400 inputs to 25 hidden units: matrix products dwarf the elementwise work
    assert gemm_bound([400, 25, 10]) and not gemm_bound([100, 100, 10])
    with threadpool_limits(limits=2, user_api="blas"):
        assert evaluation_threads(8, None, [400, 25, 10]) == 1
        assert evaluation_threads(8, None, [100, 100, 10]) == 2
        assert evaluation_threads(8, 2, [400, 25, 10]) == 2  # asked for


def test_concurrent_predictions_on_one_estimator_are_identical(Estimator, quiet_fit):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 6))
    y = np.arange(500) % 4
    est = quiet_fit(
        Estimator(hidden_layer_sizes=(16, 8), max_iter=20, random_state=0), X, y
    )
    method = "predict_proba" if Estimator is BackpropClassifier else "predict"
    chunks = [X[i::7] for i in range(7)]
    expected = [getattr(est, method)(c) for c in chunks]
    expected_labels = [est.predict(c) for c in chunks]

    def work(i):
        chunk = chunks[i % 7]
        return i % 7, getattr(est, method)(chunk), est.predict(chunk)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(64)))
    for i, values, labels in results:
        assert_array_equal(values, expected[i])
        assert_array_equal(labels, expected_labels[i])
