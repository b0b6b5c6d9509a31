"""Full-batch training and prediction over dask arrays (the ``dask`` extra).

When ``fit`` gets a dask array, the row blocks of X, of the target matrix Y and
of the sample weights are persisted on the workers of a ``dask.distributed``
cluster once. Every evaluation of J and its gradient is then a map-reduce over
those blocks, the way Spark MLlib's MultilayerPerceptronClassifier trains:

1. θ is scattered to every worker once (``Client.scatter(broadcast=True)``);
   the tasks refer to it by key, it is not embedded in each of them;
2. each block's unscaled sums (J_sum, Δ, W) are computed where the block
   lives, by the same in-memory reduction a fit on one machine uses
   (:class:`~sklearn_backprop._blocks.InMemoryBlocks`);
3. the triples are added up in a tree of fixed shape (``SPLIT_EVERY`` parts
   per node, in block order, so that a fit is reproducible whichever worker
   holds which block);
4. the α penalty and the 1/W scaling are applied once, on the client, by the
   one :class:`~sklearn_backprop._objective.Objective` every backend shares.

Only θ and one gradient-sized vector per block cross the network, whatever
the number of rows. Hessian-vector products are computed the same way.
:func:`scipy.optimize.minimize` and the per-iteration monitor run unchanged
on the client. This module depends on the shared core; nothing in the core
or the estimators imports it (``sklearn_backprop._data`` does, lazily, for
dask input).

Predictions on a dask array are dask arrays, computed block by block with
``map_blocks``. dask is imported only when a dask collection is passed;
without the extra installed, that raises an ImportError naming it.
"""

import asyncio
import contextlib
import functools
import importlib
import math
import threading
import time
import uuid
import weakref

import numpy as np
from sklearn.utils.validation import check_is_fitted

from sklearn_backprop._blocks import InMemoryBlocks
from sklearn_backprop._data import (
    FitData,
    FitRequest,
    check_weight_summary,
    class_weights,
    is_dask_collection,
    warn_column_vector,
)
from sklearn_backprop._spec import NetworkSpec

EXTRA = 'pip install "sklearn-backprop[dask]"'
# Parts added by one task of the tree sum: ceil(log_8(n_blocks)) levels.
SPLIT_EVERY = 8
# Seconds an evaluation waits before checking that its workers are all there.
LOST_WORKER_CHECK = 2.0
# Scatters tried while a lost worker is still listed (LOST_WORKER_CHECK apart),
# and the seconds after which one is given up.
SCATTER_ATTEMPTS = 2
SCATTER_TIMEOUT = 10.0


def _import(name: str):
    """Import a module of the dask extra, or say how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(
            f"dask input needs the optional dependency {name!r}, which could not "
            f"be imported ({exc}). Install the dask extra: {EXTRA}"
        ) from exc


def _client():
    """The current ``dask.distributed`` Client, or an error saying how to start one."""
    distributed = _import("distributed")
    try:
        return distributed.default_client()
    except ValueError:
        raise ValueError(
            "Fitting on a dask array needs a dask.distributed Client: create one "
            "before calling fit, e.g. `Client()` for a cluster on this machine "
            "or `Client('scheduler-address:8786')` for a running cluster "
            "(from dask.distributed import Client)."
        ) from None


def _as_array(da, a, name: str):
    """A dask array, or a TypeError for other dask collections."""
    if isinstance(a, da.Array):
        return a
    raise TypeError(
        f"{name} is a {type(a).__name__}; dask input must be dask arrays. Convert "
        "a dask DataFrame or Series with .to_dask_array(lengths=True)."
    )


def _known_rows(a, name: str) -> None:
    if any(math.isnan(c) for c in a.chunks[0]):
        raise ValueError(
            f"{name} has unknown chunk sizes; call {name}.compute_chunk_sizes() "
            "(or .to_dask_array(lengths=True) on a dask DataFrame) before fit."
        )


def _check_X(da, X, estimator_name: str):
    """X as a 2-D float dask array with one block along the features."""
    X = _as_array(da, X, "X")
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D dask array for X, got shape {X.shape}.")
    _known_rows(X, "X")
    if not isinstance(X._meta, np.ndarray):
        raise TypeError(
            "The blocks of X must be numpy arrays; sparse dask arrays are not "
            f"supported (blocks of type {type(X._meta).__name__})."
        )
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X must hold numbers, got dtype {X.dtype}.")
    for size, what in ((X.shape[0], "sample(s)"), (X.shape[1], "feature(s)")):
        if size < 1:
            raise ValueError(
                f"Found array with 0 {what} (shape={X.shape}) while a minimum of "
                f"1 is required by {estimator_name}."
            )
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    return X.astype(dtype).rechunk({1: -1})


def _aligned(da, a, X, name: str):
    """``a`` (dask or in-memory) as a dask array with X's row blocks."""
    if is_dask_collection(a):
        a = _as_array(da, a, name)
        _known_rows(a, name)
    else:
        a = np.asarray(a)
        a = da.from_array(a, chunks=a.shape or -1)
    n = X.shape[0]
    if a.ndim == 0 or a.shape[0] != n:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{n}, {a.shape[0] if a.ndim else 'a scalar'}]"
        )
    if a.ndim == 2 and a.shape[1] == 1 and name == "y":
        # _aligned, dask_fit_data, fit_data, _fit, fit, its wrapper, the caller
        warn_column_vector(stacklevel=8)
        a = a[:, 0]
    return a.rechunk((X.chunks[0], *((s,) for s in a.shape[1:])))


def _lookup(labels, classes, table):
    """Rows of ``table`` for each label: the encoding of a block of y."""
    return table[np.searchsorted(classes, labels)]


# Worker side: each fit's row-block sources, per block and thread, while its
# blocks live.
_SOURCES: dict[str, dict[tuple[int, int], InMemoryBlocks]] = {}


class _Block:
    """One row block's X, Y and weights on a worker, and the fit they are for.

    Its tasks reuse one :class:`~sklearn_backprop._blocks.InMemoryBlocks` per
    thread and fit (building it, and its workspace, anew for every block and
    evaluation costs about 15 % of an evaluation); the sources of a fit are
    dropped when its blocks are.
    """

    __slots__ = ("X", "Y", "w", "spec", "fit", "__weakref__")

    def __init__(self, X, Y, w, spec: NetworkSpec, fit: str):
        self.X, self.Y, self.w, self.spec, self.fit = X, Y, w, spec, fit
        weakref.finalize(self, _SOURCES.pop, fit, None)

    def __reduce__(self):  # a copy on another worker gets its own finalizer
        return _Block, (self.X, self.Y, self.w, self.spec, self.fit)

    def source(self) -> InMemoryBlocks:
        """This thread's in-memory source over this block's rows."""
        per_fit = _SOURCES.setdefault(self.fit, {})
        key = (id(self), threading.get_ident())
        if key not in per_fit:
            per_fit[key] = InMemoryBlocks(
                self.X, self.Y, self.w, self.spec, n_threads=1
            )
        return per_fit[key]


def _placement(client, distributed, X) -> list[str]:
    """A worker for each row block of the persisted X, rows balanced by threads.

    A block stays on a worker that already holds it while that worker has
    less than its share of the rows (proportional to its threads); the
    others go where the most of a share is left.
    """
    futures = {f.key: f for f in distributed.futures_of(X)}
    keys = [block.key for block in X.to_delayed().ravel()]
    holders = client.who_has([futures[key] for key in keys])
    threads = client.nthreads()
    share = {a: X.shape[0] * t / sum(threads.values()) for a, t in threads.items()}
    rows = dict.fromkeys(threads, 0)
    placement: list[str | None] = [None] * len(keys)
    for i, (key, size) in enumerate(zip(keys, X.chunks[0], strict=True)):
        for address in holders.get(key, ()):
            if address in rows and rows[address] < share[address]:
                placement[i] = address
                rows[address] += size
                break
    for i, size in enumerate(X.chunks[0]):
        if placement[i] is None:
            address = max(rows, key=lambda a: share[a] - rows[a])
            placement[i] = address
            rows[address] += size
    return placement


def _packed_blocks(client, dask, distributed, X, Y, w, spec) -> list:
    """Futures of the :class:`_Block` of each row block, in block order.

    Each block is one piece of data on one worker, the workers holding equal
    shares of the rows: no evaluation has to bring a block's pieces together,
    and the scheduler has no replicas to drop and no imbalance to even out by
    moving blocks between workers.
    """
    parts = [a.to_delayed().ravel() for a in (X, Y)]
    parts.append([None] * len(parts[0]) if w is None else w.to_delayed().ravel())
    pack = dask.delayed(_Block, pure=False)
    fit = uuid.uuid4().hex
    packed = []
    placement = _placement(client, distributed, X)
    for address, block in zip(placement, zip(*parts, strict=True), strict=True):
        with dask.annotate(workers=[address], allow_other_workers=True):
            packed.append(pack(*block, spec, fit))
    return client.compute(packed)


def dask_fit_data(X, y, sample_weight, request: FitRequest) -> FitData:
    """Persist the data on the cluster; the fit's data over a :class:`DaskBlocks`.

    Parameters
    ----------
    X : dask array of shape (n_samples, n_features)
        Training data; float32 is trained in float32, others in float64.
    y : dask array or array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets; a classifier takes 1-D labels.
    sample_weight : dask array or array-like of shape (n_samples,) or None
        Non-negative weights.
    request : FitRequest
        What the estimator needs.

    Returns
    -------
    data : FitData
        The source (map-reduce over the persisted blocks), the network, and
        the target-derived values for the estimator's fitted attributes.
    """
    da = _import("dask.array")
    dask = _import("dask")
    distributed = _import("distributed")
    if request.early_stopping:
        raise ValueError(
            "early_stopping=True is not supported with dask input (it would "
            "need a held-out split of the distributed data and a prediction "
            "pass per iteration). Fit without it, or watch your own validation "
            "set with callback=..."
        )
    X = _check_X(da, X, request.estimator_name)
    dtype = X.dtype
    y = _aligned(da, y, X, "y")
    w = None
    if sample_weight is not None:
        w = _aligned(da, sample_weight, X, "sample_weight")
        if w.ndim != 1:
            raise ValueError(
                f"sample_weight.shape == {w.shape}, expected ({X.shape[0]},)!"
            )
        w = w.astype(dtype)
    client = _client()
    if request.classifier:
        if y.ndim != 1:
            raise ValueError(
                "With dask input, BackpropClassifier takes 1-D class labels; "
                "multilabel indicator y needs in-memory (numpy) input."
            )
        targets = y  # labels; encoded once the classes are known
    else:
        if y.ndim > 2:
            raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}.")
        if y.dtype.kind == "O":
            y = y.astype(np.float64)
        elif y.dtype.kind not in "biuf":
            raise ValueError(f"y must hold numbers for a regressor, got {y.dtype}.")
        # The regressor's encoding needs only y's shape: ask it with one row.
        _, out_activation, attrs = request.encode(np.zeros((1, *y.shape[1:])), dtype)
        targets = y.astype(dtype).reshape(y.shape[0], -1).rechunk({1: -1})

    # The one pass over the data: persist the blocks on the workers, then
    # check them and find the classes from there.
    X, targets, *rest = client.persist([X, targets, *([w] if w is not None else [])])
    w = rest[0] if rest else None
    checks = {"X": da.isfinite(X).all()}
    if targets.dtype.kind in "fc":
        checks["y"] = da.isfinite(targets).all()
    if w is not None:
        checks["w_finite"] = da.isfinite(w).all()
        checks["w_min"], checks["w_max"] = w.min(), w.max()
    if request.classifier:
        checks["classes"] = da.unique(targets, return_counts=True)
    (found,) = dask.compute(checks)
    for key, what in (("X", "X"), ("y", "y")):
        if not found.get(key, True):
            raise ValueError(f"Input {what} contains NaN or infinity.")
    if w is not None:
        check_weight_summary(found["w_finite"], found["w_min"], found["w_max"])

    if request.classifier:
        classes, counts = found["classes"]
        table, out_activation, attrs = request.encode(classes, dtype)
        labels = targets
        targets = labels.map_blocks(
            _lookup,
            classes,
            table,
            dtype=dtype,
            new_axis=1,
            chunks=(labels.chunks[0], (table.shape[1],)),
            meta=np.empty((0, 0), dtype),
        )
        if request.class_weight is not None:
            per_class = class_weights(request.class_weight, classes, counts)
            weights = labels.map_blocks(
                _lookup, classes, per_class.astype(dtype), dtype=dtype
            )
            w = weights if w is None else weights * w
            check_weight_summary(True, 0.0, float(w.max().compute()))
        targets, *rest = client.persist([targets, *([w] if w is not None else [])])
        w = rest[0] if rest else None
        del labels

    layer_sizes = [X.shape[1], *request.hidden, targets.shape[1]]
    request.check_memory(layer_sizes, max(X.chunks[0]), dtype)
    spec = NetworkSpec.make(
        layer_sizes, request.activation, out_activation, request.loss, dtype
    )
    blocks = _packed_blocks(client, dask, distributed, X, targets, w, spec)
    return FitData(DaskBlocks(client, blocks, spec), spec, X.shape[1], attrs)


# --------------------------------------------------------------------------
# Worker side: what runs on one block. Module-level so that it pickles by name.
# --------------------------------------------------------------------------


def _cost_grad_task(block, theta):
    """(Σ w_i loss_i, Δ, W) over one block: no α, no 1/W."""
    with np.errstate(over="ignore", invalid="ignore"):
        J_sum, grad, W = block.source().cost_grad_sum(theta)
    return J_sum, grad.copy(), W  # the source reuses nothing it returns


def _hessp_task(block, theta, v, curvature):
    """(R{Δ}, W) over one block: no α, no 1/W."""
    return block.source().hessp_sum(theta, v, curvature)


def _row_sum_task(block: _Block, theta, task):
    """``task`` on one block's in-memory source (see :meth:`DaskBlocks.row_sum`)."""
    return task(block.source(), theta)


def _add(*parts):
    """Elementwise sum of tuples of floats and arrays, in the order given."""
    total = [p.copy() if isinstance(p, np.ndarray) else p for p in parts[0]]
    for part in parts[1:]:
        for i, value in enumerate(part):
            total[i] += value
    return tuple(total)


class DaskBlocks:
    """Row blocks held by a dask cluster's workers: sums by map-reduce.

    The same interface as :class:`~sklearn_backprop._blocks.InMemoryBlocks`
    (``cost_grad_sum``, ``hessp_sum``, ``fit_context``), so that the one
    :class:`~sklearn_backprop._objective.Objective` and the solver driver run
    unchanged. Holds the futures of the persisted blocks: the data stay on
    the workers for as long as the source lives.

    Each block's task is pinned to the worker holding the block. Left free,
    the scheduler's work stealing and its active memory manager take turns at
    copying whole blocks between workers and dropping the copies again, every
    few evaluations. When a worker is lost, its blocks are recomputed
    elsewhere by dask and the evaluation is made again where they now are.
    """

    def __init__(self, client, blocks, spec: NetworkSpec):
        self.client, self.blocks, self.spec = client, blocks, spec
        self._scattered: tuple[np.ndarray, object] | None = None
        self._scatter_works = True
        self._dask = _import("dask")
        self._delayed = functools.partial(self._dask.delayed, pure=False)
        self._holders: list[str] | None = None

    def fit_context(self):
        """The cluster's workers run their own threads: nothing to hold here."""
        return contextlib.nullcontext()

    def cost_grad_sum(self, theta: np.ndarray, out=None):
        """(Σ w_i loss_i, Δ, W) over all blocks (``out`` is not used)."""
        return self._map_reduce(_cost_grad_task, self._scatter(theta))

    def hessp_sum(self, theta: np.ndarray, v: np.ndarray, curvature: str):
        """(R{Δ}, W) over all blocks."""
        v_future = self._broadcast(np.ascontiguousarray(v, dtype=self.spec.dtype))
        return self._map_reduce(_hessp_task, self._scatter(theta), v_future, curvature)

    def row_sum(self, task, theta: np.ndarray) -> tuple:
        """Σ over the blocks of ``task(source, theta)``, a tuple of arrays, where
        ``source`` is an :class:`InMemoryBlocks` over one block's rows: how a
        module other than this one sums its own per-row terms."""
        return self._map_reduce(_row_sum_task, self._scatter(theta), task)

    def _scatter(self, theta: np.ndarray):
        """θ on every worker; the last one scattered is reused (H·v at one θ)."""
        theta = np.ascontiguousarray(theta, dtype=self.spec.dtype)
        if self._scattered is None or not np.array_equal(self._scattered[0], theta):
            self._scattered = (theta.copy(), self._broadcast(theta))
        return self._scattered[1]

    def _broadcast(self, vector: np.ndarray):
        """Scatter to every worker, again while a worker lost meanwhile drops out.

        The scheduler lists a worker that has just died until it notices, and
        a scatter to it fails with a closed connection (an OSError), with the
        scheduler's KeyError for a worker it removed meanwhile, or hangs:
        scatter's own ``timeout`` only bounds the wait for workers, so the
        whole scatter runs under a deadline of its own. After a scatter has
        failed so, broadcasts stay unreliable for a while (the scheduler
        keeps trying the lost worker, 30 s per connection attempt): for the
        rest of the fit the vector goes into each evaluation's graph instead,
        so every evaluation is still made, only the vector travels once per
        task.
        """
        if not self._scatter_works:
            return vector.copy()

        async def scatter_with_deadline():
            scatter = self.client.scatter(
                vector, broadcast=True, hash=False, asynchronous=True
            )
            return await asyncio.wait_for(scatter, SCATTER_TIMEOUT)

        for attempt in range(SCATTER_ATTEMPTS):
            try:
                return self.client.sync(scatter_with_deadline)
            except (OSError, TimeoutError, KeyError):
                if attempt < SCATTER_ATTEMPTS - 1:
                    time.sleep(LOST_WORKER_CHECK)
        self._scatter_works = False
        return vector.copy()  # embedded in the graph

    def _map_reduce(self, task, *vectors):
        """Sum of ``task(block, *vectors)`` over the blocks, as a tree.

        The whole tree goes to the scheduler as one graph (one message), and
        only its root comes back.
        """
        while True:
            holders = self._where()
            parts = []
            for block, address in zip(self.blocks, holders, strict=True):
                with self._dask.annotate(workers=[address], allow_other_workers=False):
                    parts.append(self._delayed(task)(block, *vectors))
            while len(parts) > 1:
                parts = [
                    self._delayed(_add)(*parts[i : i + SPLIT_EVERY])
                    for i in range(0, len(parts), SPLIT_EVERY)
                ]
            future = self.client.compute(parts[0])
            while True:
                try:
                    return future.result(timeout=LOST_WORKER_CHECK)
                except TimeoutError:
                    # Slow, or waiting for a worker that is gone?
                    self._holders = None
                    if self._where() != holders:
                        future.cancel()
                        break

    def _where(self) -> list[str]:
        """The worker holding each block; asks the scheduler only after a loss."""
        if self._holders is None or any(f.status != "finished" for f in self.blocks):
            _import("distributed").wait(self.blocks)
            who_has = self.client.who_has(self.blocks)
            self._holders = [min(who_has[f.key]) for f in self.blocks]
        return self._holders


# --------------------------------------------------------------------------
# Prediction
# --------------------------------------------------------------------------


def _predict_block(block, estimator, method: str):
    """``estimator.method`` on one in-memory block of rows."""
    if block.shape[0] == 0:  # validate_data refuses empty input
        one_row = np.zeros((1, block.shape[1]), block.dtype)
        return getattr(estimator, method)(one_row)[:0]
    return getattr(estimator, method)(block)


def predict_blocks(estimator, method: str, X):
    """``estimator.method`` mapped over the row blocks of a dask array X."""
    da = _import("dask.array")
    check_is_fitted(estimator)
    X = _as_array(da, X, "X")
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D dask array for X, got shape {X.shape}.")
    if X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is "
            f"expecting {estimator.n_features_in_} features as input."
        )
    X = X.rechunk({1: -1})
    # One row on the client gives the output's dtype and width.
    probe = getattr(estimator, method)(np.zeros((1, X.shape[1]), X.dtype))
    layout = (
        {"drop_axis": 1}
        if probe.ndim == 1
        else {"chunks": (X.chunks[0], (probe.shape[1],))}
    )
    # One key for the estimator: the graph holds it once, not once a block.
    fitted = _import("dask").delayed(estimator, pure=False, traverse=False)
    return X.map_blocks(
        _predict_block,
        fitted,
        method,
        dtype=probe.dtype,
        meta=probe[:0],
        **layout,
    )
