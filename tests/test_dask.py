"""Full-batch training over dask arrays on a real two-process LocalCluster.

The reference for every dask fit is the in-memory fit of the same estimator on
the same data. A dask evaluation adds the blocks' sums in block order; the
in-memory one adds the sums of its own row chunks in the same order. Both are
the same sums up to rounding (about 1e-16, checked per evaluation below with
the default chunking), but an optimiser amplifies rounding differences along
its path: with one 600-row chunk in memory and four 150-row blocks on the
cluster, L-BFGS-B's thetas end up 3e-3 apart. That is not a dask effect: the
in-memory fit moves just as much when only its own chunk size changes. So the
fit comparisons give the in-memory fit the cluster's row blocks as its chunks
(``_same_row_chunks``), and then require 1e-8 relative agreement (in our
runs they agree exactly, bit for bit).
"""

import contextlib
import gc
import os
import sys
import time
import warnings

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

from sklearn_backprop import BackpropClassifier, BackpropRegressor, _blocks, _dask
from sklearn_backprop._data import fit_data, is_dask_collection
from sklearn_backprop._objective import Objective
from sklearn_backprop.network import cost_grad, hessp, n_params, pack

try:
    import dask.array as da
    import distributed
except ImportError:  # the missing-extra test still runs
    da = distributed = None

requires_dask = pytest.mark.skipif(da is None, reason="needs the dask extra")

N, CHUNK = 600, 150


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def classification():
    X, y = make_classification(N, 8, n_informative=6, n_classes=3, random_state=0)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(N, 8, n_informative=6, noise=5.0, random_state=0)
    return StandardScaler().fit_transform(X), y / y.std()


def _dask_arrays(*arrays):
    return [da.from_array(a, chunks=(CHUNK, *a.shape[1:])) for a in arrays]


def _weights(n):
    # Multiples of 1/2: their sums are exact in any order, so the total W
    # cannot differ between the in-memory and the block-wise sums.
    return np.random.default_rng(1).integers(0, 5, n) / 2


@pytest.fixture
def _same_row_chunks(monkeypatch):
    """In-memory fits in this test use the cluster's 150-row blocks as chunks."""
    monkeypatch.setattr(_blocks, "chunk_rows", lambda n, *_: min(n, CHUNK))


def _rel(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


# --------------------------------------------------------------------------
# One evaluation: the map-reduce computes the in-memory J, gradient and H·v
# --------------------------------------------------------------------------


@requires_dask
@pytest.mark.slow
@pytest.mark.parametrize("weights", [None, "sample_weight", "balanced", "dict"])
def test_evaluation_equals_in_memory(client, classification, weights):
    X, y = classification
    sw = _weights(N) if weights == "sample_weight" else None
    est = BackpropClassifier(
        hidden_layer_sizes=(5,),
        alpha=0.7,
        solver="trust-ncg",
        class_weight={"balanced": "balanced", "dict": {0: 2.0, 1: 0.5, 2: 1.0}}.get(
            weights
        ),
    )
    Xd, yd = _dask_arrays(X, y)
    swd = None if sw is None else _dask_arrays(sw)[0]
    data = fit_data(Xd, yd, swd, est._fit_request([5]))
    layer_sizes = list(data.spec.layer_sizes)
    assert layer_sizes == [8, 5, 3] and data.spec.dtype == np.float64
    assert len(data.source.blocks) == N // CHUNK
    objective = Objective(data.source, 0.7, "exact")  # the one objective type
    if weights == "balanced":
        sw = (N / (3 * np.bincount(y)))[y]
    elif weights == "dict":
        sw = np.array([2.0, 0.5, 1.0])[y]
    Y = np.eye(3)[y]
    kwargs = {"alpha": 0.7, "output_activation": "softmax", "sample_weight": sw}
    rng = np.random.default_rng(2)
    for _ in range(2):
        theta, v = rng.normal(size=(2, n_params(layer_sizes)))
        J, grad = objective(theta)
        J_ref, grad_ref = cost_grad(theta, X, Y, layer_sizes, **kwargs)
        assert J == pytest.approx(J_ref, rel=1e-13)
        assert_allclose(grad, grad_ref, rtol=1e-12, atol=1e-15)
        assert objective.at(theta)[0] == J
        assert_allclose(
            objective.hessp(theta, v),
            hessp(theta, v, X, Y, layer_sizes, **kwargs),
            rtol=1e-12,
            atol=1e-15,
        )


# --------------------------------------------------------------------------
# Whole fits equal the in-memory fits
# --------------------------------------------------------------------------


@requires_dask
@pytest.mark.slow
@pytest.mark.usefixtures("_same_row_chunks")
@pytest.mark.parametrize("solver", ["L-BFGS-B", "trust-ncg"])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_fit_equals_in_memory_fit(
    client, classification, regression, kind, solver, quiet_fit
):
    X, y = classification if kind == "classifier" else regression
    Estimator = BackpropClassifier if kind == "classifier" else BackpropRegressor
    params = {"hidden_layer_sizes": (5,), "alpha": 1.0, "random_state": 0}
    if solver == "trust-ncg":
        params["max_iter"] = 15  # each iteration makes several H·v round trips
    ref = quiet_fit(Estimator(solver=solver, **params), X, y)
    est = quiet_fit(Estimator(solver=solver, **params), *_dask_arrays(X, y))
    assert _rel(pack(est.thetas_), pack(ref.thetas_)) <= 1e-8
    assert est.n_iter_ == ref.n_iter_
    assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-12)
    assert est.n_features_in_ == 8 and est.out_activation_ == ref.out_activation_
    if kind == "classifier":
        assert_array_equal(est.classes_, ref.classes_)


@requires_dask
@pytest.mark.slow
@pytest.mark.usefixtures("_same_row_chunks")
def test_sample_weight_as_dask_array(client, classification):
    X, y = classification
    sw = _weights(N)
    params = {"hidden_layer_sizes": (5,), "alpha": 1.0, "random_state": 0}
    ref = BackpropClassifier(**params).fit(X, y, sample_weight=sw)
    est = BackpropClassifier(**params).fit(*_dask_arrays(X, y, sw))
    assert _rel(pack(est.thetas_), pack(ref.thetas_)) <= 1e-8
    assert est.n_iter_ == ref.n_iter_
    # The fit's blocks, and the workers' scratch space with them, are released.
    for _ in range(50):
        if not any(client.run(_fits_with_workspaces).values()):
            break
        time.sleep(0.1)
    assert not any(client.run(_fits_with_workspaces).values())


def _fits_with_workspaces():
    gc.collect()
    return list(_dask._SOURCES)


@requires_dask
@pytest.mark.slow
def test_float32_and_string_labels(client, classification, quiet_fit):
    X, y = classification
    labels = np.array(["ant", "bee", "cat"])[y]
    Xd, yd = _dask_arrays(X.astype(np.float32), labels)
    est = BackpropClassifier(hidden_layer_sizes=(4,), alpha=1.0, max_iter=5)
    quiet_fit(est, Xd, yd)
    assert est.thetas_[0].dtype == np.float32
    assert_array_equal(est.classes_, ["ant", "bee", "cat"])
    assert set(np.unique(est.predict(Xd).compute())) <= {"ant", "bee", "cat"}


@requires_dask
@pytest.mark.slow
@pytest.mark.usefixtures("_same_row_chunks")
def test_fit_survives_losing_a_worker(client, classification):
    # The blocks the lost worker held are recomputed elsewhere by dask and the
    # evaluation is made again: the fit is the same as without the loss.
    X, y = classification
    lost = []

    def kill_a_worker(progress):
        if progress.iteration == 3 and not lost:
            lost.append(min(client.scheduler_info()["workers"]))
            with contextlib.suppress(Exception):  # its connection drops
                client.run(os._exit, 1, workers=lost)

    params = {"hidden_layer_sizes": (5,), "alpha": 1.0, "random_state": 0}
    ref = BackpropClassifier(**params).fit(X, y)
    est = BackpropClassifier(callback=kill_a_worker, **params)
    est.fit(*_dask_arrays(X, y))
    assert lost and lost[0] not in client.scheduler_info()["workers"]
    assert _rel(pack(est.thetas_), pack(ref.thetas_)) <= 1e-8
    client.wait_for_workers(2, timeout=30)  # the nanny restarts it


# --------------------------------------------------------------------------
# Predictions on dask arrays are dask arrays
# --------------------------------------------------------------------------


@requires_dask
@pytest.mark.slow
def test_predictions_are_dask_arrays(client, classification, regression):
    X, y = classification
    clf = BackpropClassifier(hidden_layer_sizes=(5,), alpha=1.0, random_state=0)
    clf.fit(X, y)
    Xd, yd = _dask_arrays(X, y)
    for method in ("predict", "predict_proba", "predict_log_proba"):
        lazy = getattr(clf, method)(Xd)
        assert isinstance(lazy, da.Array), method
        eager = getattr(clf, method)(X)
        assert isinstance(eager, np.ndarray) and lazy.shape == eager.shape
        assert lazy.dtype == eager.dtype
        assert_allclose(lazy.compute(), eager, rtol=1e-12)
    assert clf.score(Xd, yd) == pytest.approx(clf.score(X, y))

    X, y = regression
    reg = BackpropRegressor(hidden_layer_sizes=(5,), alpha=1.0, random_state=0)
    reg.fit(X, np.c_[y, -y])  # two outputs: a 2-D prediction
    lazy = reg.predict(_dask_arrays(X)[0])
    assert isinstance(lazy, da.Array) and lazy.shape == (N, 2)
    assert_allclose(lazy.compute(), reg.predict(X), rtol=1e-12)
    with pytest.raises(ValueError, match="X has 3 features"):
        reg.predict(_dask_arrays(X[:, :3])[0])


# --------------------------------------------------------------------------
# Model selection over the cluster
# --------------------------------------------------------------------------


@requires_dask
@pytest.mark.slow
def test_grid_search_with_the_dask_joblib_backend(client, classification):
    X, y = classification
    search = GridSearchCV(
        BackpropClassifier(hidden_layer_sizes=(4,), random_state=0, max_iter=30),
        {"alpha": [0.1, 1.0]},
        cv=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        local = search.fit(X, y).cv_results_["mean_test_score"]
        with distributed.get_task_stream(client) as tasks:
            with joblib.parallel_backend("dask"):
                search.fit(X, y)
    assert len(tasks.data) >= 6  # 2 candidates × 3 folds ran on the workers
    assert_allclose(search.cv_results_["mean_test_score"], local)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


@requires_dask
@pytest.mark.slow
def test_refusals(client, classification):
    X, y = classification
    Xd, yd = _dask_arrays(X, y)
    with pytest.raises(ValueError, match="early_stopping=True is not supported"):
        BackpropClassifier(early_stopping=True).fit(Xd, yd)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        BackpropClassifier().fit(Xd, yd[:-1])
    X_nan = X.copy()
    X_nan[7, 3] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        BackpropClassifier().fit(_dask_arrays(X_nan)[0], yd)
    with pytest.raises(ValueError, match="Negative values"):
        BackpropClassifier().fit(Xd, yd, sample_weight=-np.ones(N))
    with pytest.raises(ValueError, match="at least 2 classes"):
        BackpropClassifier().fit(Xd, np.zeros(N))
    with pytest.raises(ValueError, match="1-D class labels"):
        BackpropClassifier().fit(Xd, np.eye(3)[y])
    with pytest.raises(TypeError, match=r"to_dask_array\(lengths=True\)"):
        BackpropClassifier().fit(_FakeDaskDataFrame(), yd)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        BackpropClassifier().fit(Xd[Xd[:, 0] > 0], yd)


@requires_dask
def test_fit_without_a_client_says_how_to_start_one(monkeypatch, classification):
    def no_client():
        raise ValueError("No clients found")

    monkeypatch.setattr(distributed, "default_client", no_client)
    with pytest.raises(ValueError, match=r"Client\('scheduler-address:8786'\)"):
        BackpropClassifier().fit(*_dask_arrays(*classification))


class _FakeDaskDataFrame:
    """Stands for a dask DataFrame (dask[dataframe] needs pyarrow)."""

    __module__ = "dask.dataframe.core"


class _FakeDaskArray:
    """Stands for a dask array where dask cannot be imported."""

    __module__ = "dask.array.core"
    shape = (3, 2)


def test_dask_input_without_the_extra_names_it(monkeypatch, quiet_fit):
    for name in ("dask", "dask.array", "distributed"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    X = _FakeDaskArray()
    assert is_dask_collection(X)
    assert not is_dask_collection(np.zeros((3, 2)))
    extra = r'pip install "sklearn-backprop\[dask\]"'
    with pytest.raises(ImportError, match=extra):
        BackpropClassifier().fit(X, [0, 1, 0])
    reg = BackpropRegressor(hidden_layer_sizes=(2,), max_iter=5, random_state=0)
    quiet_fit(reg, np.arange(6.0).reshape(3, 2), [0.0, 1.0, 2.0])
    with pytest.raises(ImportError, match=extra):
        reg.predict(X)
