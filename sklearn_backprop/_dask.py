"""Full-batch training and prediction over dask arrays (the ``dask`` extra).

When ``fit`` gets a dask array, the row blocks of X, of the target matrix Y and
of the sample weights are persisted on the workers of a ``dask.distributed``
cluster once. Every evaluation of J and its gradient is then a map-reduce over
those blocks, the way Spark MLlib's MultilayerPerceptronClassifier trains:

1. θ is scattered to every worker once (``Client.scatter(broadcast=True)``);
   the tasks refer to it by key, it is not embedded in each of them;
2. each block's unscaled sums (J_sum, Δ, W) are computed where the block
   lives, by :func:`~sklearn_backprop.network.cost_grad_sum`;
3. the triples are added up in a tree of fixed shape (``SPLIT_EVERY`` parts
   per node, in block order, so that a fit is reproducible whichever worker
   holds which block);
4. the α penalty and the 1/W scaling are applied once, on the client, by
   :func:`~sklearn_backprop.network.regularize`.

Only θ and one gradient-sized vector per block cross the network, whatever
the number of rows. Hessian-vector products are computed the same way with
:func:`~sklearn_backprop.network.hessp_sum`. :func:`scipy.optimize.minimize`
and the per-iteration monitor run unchanged on the client.

Predictions on a dask array are dask arrays, computed block by block with
``map_blocks``. dask is imported only when a dask collection is passed;
without the extra installed, that raises an ImportError naming it.
"""

import functools
import importlib
import math
import threading
import time
import uuid
import warnings
import weakref

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import check_is_fitted

from sklearn_backprop._guards import check_fit_memory
from sklearn_backprop.network import (
    Workspace,
    cost_grad_sum,
    hessp_sum,
    regularize,
)

EXTRA = 'pip install "sklearn-backprop[dask]"'
# Parts added by one task of the tree sum: ceil(log_8(n_blocks)) levels.
SPLIT_EVERY = 8
# Seconds an evaluation waits before checking that its workers are all there.
LOST_WORKER_CHECK = 2.0
# Scatters tried while a lost worker is still listed (LOST_WORKER_CHECK apart),
# and the seconds after which one is given up.
SCATTER_ATTEMPTS = 5
SCATTER_TIMEOUT = 10.0


def is_dask_collection(obj) -> bool:
    """Whether ``obj`` is a dask collection, decided without importing dask.

    Parameters
    ----------
    obj : object
        Anything passed as X, y or sample_weight.

    Returns
    -------
    is_dask : bool
        True for the collections of ``dask`` (arrays, dataframes, bags) and of
        the older ``dask_expr`` package.

    Examples
    --------
    >>> import numpy as np
    >>> is_dask_collection(np.zeros(3))
    False
    """
    module = getattr(type(obj), "__module__", None) or ""
    return module.partition(".")[0] in {"dask", "dask_expr"}


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


def _check_X(da, X, estimator):
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
                f"1 is required by {type(estimator).__name__}."
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
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please "
            "change the shape of y to (n_samples, ), for example using ravel().",
            DataConversionWarning,
            stacklevel=6,  # _aligned, fit_objective, _fit, fit, its wrapper, caller
        )
        a = a[:, 0]
    return a.rechunk((X.chunks[0], *((s,) for s in a.shape[1:])))


def _lookup(labels, classes, table):
    """Rows of ``table`` for each label: the encoding of a block of y."""
    return table[np.searchsorted(classes, labels)]


# Worker side: the scratch space of each fit, per thread, while its blocks live.
_WORKSPACES: dict[str, dict[int, Workspace]] = {}


class _Block:
    """One row block's X, Y and weights on a worker, and the fit they are for.

    Its tasks reuse one :class:`~sklearn_backprop.network.Workspace` per
    thread and fit (allocating it anew for every block and evaluation costs
    about 15 % of an evaluation); the workspaces of a fit are dropped when its
    blocks are.
    """

    __slots__ = ("X", "Y", "w", "fit", "__weakref__")

    def __init__(self, X, Y, w, fit: str):
        self.X, self.Y, self.w, self.fit = X, Y, w, fit
        weakref.finalize(self, _WORKSPACES.pop, fit, None)

    def __reduce__(self):  # a copy on another worker gets its own finalizer
        return _Block, (self.X, self.Y, self.w, self.fit)

    def workspace(self) -> Workspace:
        """This thread's scratch space for this fit."""
        per_thread = _WORKSPACES.setdefault(self.fit, {})
        thread = threading.get_ident()
        if thread not in per_thread:
            per_thread[thread] = Workspace()
        return per_thread[thread]


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


def _packed_blocks(client, dask, distributed, X, Y, w) -> list:
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
            packed.append(pack(*block, fit))
    return client.compute(packed)


def fit_objective(estimator, X, y, sample_weight, hidden: list[int]):
    """Persist the data on the cluster and build the objective a fit minimises.

    Sets the target-derived fitted attributes (``classes_``, ...),
    ``n_features_in_`` and ``out_activation_`` on the estimator, as the
    in-memory path does before training.

    Parameters
    ----------
    estimator : BaseBackprop
        The estimator being fitted.
    X : dask array of shape (n_samples, n_features)
        Training data; float32 is trained in float32, others in float64.
    y : dask array or array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets; a classifier takes 1-D labels.
    sample_weight : dask array or array-like of shape (n_samples,) or None
        Non-negative weights.
    hidden : list of int
        Hidden layer sizes.

    Returns
    -------
    objective : _DaskObjective
        J, gradient and H·v by map-reduce over the persisted blocks.
    layer_sizes : list of int
        ``[S_1, ..., S_L]``.
    dtype : numpy dtype
        The computation's dtype.
    """
    da = _import("dask.array")
    dask = _import("dask")
    distributed = _import("distributed")
    if estimator.early_stopping:
        raise ValueError(
            "early_stopping=True is not supported with dask input (it would "
            "need a held-out split of the distributed data and a prediction "
            "pass per iteration). Fit without it, or watch your own validation "
            "set with callback=..."
        )
    X = _check_X(da, X, estimator)
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
    classifier = is_classifier(estimator)
    if classifier:
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
        targets = y.astype(dtype).reshape(y.shape[0], -1).rechunk({1: -1})
        attrs = {"_y_ndim": y.ndim}
        out_activation = estimator.output_activation

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
    if classifier:
        checks["classes"] = da.unique(targets, return_counts=True)
    (found,) = dask.compute(checks)
    for key, what in (("X", "X"), ("y", "y"), ("w_finite", "sample_weight")):
        if not found.get(key, True):
            raise ValueError(f"Input {what} contains NaN or infinity.")
    if w is not None:
        if found["w_min"] < 0:
            raise ValueError("Negative values in data passed to sample_weight.")
        if not found["w_max"] > 0:
            raise ValueError(
                "sample_weight must contain at least one positive value; all are zero."
            )

    if classifier:
        classes, counts = found["classes"]
        table, out_activation, attrs = estimator._encode_targets(classes, dtype)
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
        if getattr(estimator, "class_weight", None) is not None:
            per_class = _class_weights(estimator.class_weight, classes, counts)
            weights = labels.map_blocks(
                _lookup, classes, per_class.astype(dtype), dtype=dtype
            )
            w = weights if w is None else weights * w
            if not (w > 0).any().compute():
                raise ValueError(
                    "sample_weight must contain at least one positive value; all "
                    "are zero."
                )
        targets, *rest = client.persist([targets, *([w] if w is not None else [])])
        w = rest[0] if rest else None
        del labels

    layer_sizes = [X.shape[1], *hidden, targets.shape[1]]
    check_fit_memory(estimator, layer_sizes, max(X.chunks[0]), dtype)
    if hasattr(estimator, "feature_names_in_"):  # what validate_data(reset=True) does
        del estimator.feature_names_in_
    estimator.n_features_in_ = X.shape[1]
    for name, value in attrs.items():
        setattr(estimator, name, value)
    estimator.out_activation_ = out_activation
    objective = _DaskObjective(
        client,
        _packed_blocks(client, dask, distributed, X, targets, w),
        layer_sizes,
        estimator._curvature(),
        dtype,
        alpha=estimator.alpha,
        activation=estimator.activation,
        output_activation=out_activation,
        loss=estimator._loss,
    )
    return objective, layer_sizes, dtype


def _class_weights(class_weight, classes, counts) -> np.ndarray:
    """Weight of each class, as compute_sample_weight gives it, from the counts."""
    if isinstance(class_weight, str):  # "balanced": n / (n_classes × count)
        counts = counts.astype(np.float64)
        return counts.sum() / (len(classes) * counts)
    if isinstance(class_weight, dict):
        return compute_class_weight(class_weight, classes=classes, y=classes)
    raise ValueError(
        "class_weight as a list of dicts is for multilabel y, which needs "
        "in-memory (numpy) input."
    )


# --------------------------------------------------------------------------
# Worker side: what runs on one block. Module-level so that it pickles by name.
# --------------------------------------------------------------------------


def _block_cost_grad(block, theta, *, layer_sizes, params):
    """(Σ w_i loss_i, Δ, W) over one block: cost_grad_sum, no α, no 1/W."""
    with np.errstate(over="ignore", invalid="ignore"):
        return cost_grad_sum(
            theta,
            block.X,
            block.Y,
            layer_sizes,
            sample_weight=block.w,
            workspace=block.workspace(),
            **params,
        )


def _block_hessp(block, theta, v, *, layer_sizes, params, curvature):
    """(R{Δ}, W) over one block: hessp_sum, no α, no 1/W."""
    return hessp_sum(
        theta,
        v,
        block.X,
        block.Y,
        layer_sizes,
        sample_weight=block.w,
        curvature=curvature,
        workspace=block.workspace(),
        **params,
    )


def _add(*parts):
    """Elementwise sum of tuples of floats and arrays, in the order given."""
    total = [p.copy() if isinstance(p, np.ndarray) else p for p in parts[0]]
    for part in parts[1:]:
        for i, value in enumerate(part):
            total[i] += value
    return tuple(total)


class _DaskObjective:
    """J(θ), its gradient and H·v by map-reduce over blocks held by workers.

    The same interface as :class:`~sklearn_backprop._training._Objective`
    (``__call__``, ``hessp``, ``at``, ``last``), so that ``minimize_network``
    and the monitor run unchanged. Holds the futures of the persisted blocks:
    the data stay on the workers for as long as the objective lives.

    Each block's task is pinned to the worker holding the block. Left free,
    the scheduler's work stealing and its active memory manager take turns at
    copying whole blocks between workers and dropping the copies again, every
    few evaluations. When a worker is lost, its blocks are recomputed
    elsewhere by dask and the evaluation is made again where they now are.
    """

    def __init__(
        self, client, blocks, layer_sizes, curvature, dtype, *, alpha, **params
    ):
        self.client, self.blocks = client, blocks
        self.layer_sizes, self.curvature = layer_sizes, curvature
        self.dtype, self.alpha = np.dtype(dtype), alpha
        self.last: tuple[np.ndarray, float, np.ndarray] | None = None
        self.n_evaluations = self.n_hessp = 0
        self._scattered: tuple[np.ndarray, object] | None = None
        self._dask = _import("dask")
        self._delayed = functools.partial(self._dask.delayed, pure=False)
        self._holders: list[str] | None = None
        self._cost_task = functools.partial(
            _block_cost_grad, layer_sizes=tuple(layer_sizes), params=params
        )
        self._hessp_task = functools.partial(
            _block_hessp,
            layer_sizes=tuple(layer_sizes),
            params=params,
            curvature=curvature,
        )

    def _scatter(self, theta: np.ndarray):
        """θ on every worker; the last one scattered is reused (H·v at one θ)."""
        theta = np.ascontiguousarray(theta, dtype=self.dtype)
        if self._scattered is None or not np.array_equal(self._scattered[0], theta):
            self._scattered = (theta.copy(), self._broadcast(theta))
        return self._scattered[1]

    def _broadcast(self, vector: np.ndarray):
        """Scatter to every worker, again while a worker lost meanwhile drops out.

        The scheduler lists a worker that has just died until it notices, and
        a scatter to it fails with a closed connection (an OSError) or hangs.
        """
        for attempt in range(SCATTER_ATTEMPTS):
            try:
                return self.client.scatter(
                    vector, broadcast=True, hash=False, timeout=SCATTER_TIMEOUT
                )
            except (OSError, TimeoutError):
                if attempt == SCATTER_ATTEMPTS - 1:
                    raise
                time.sleep(LOST_WORKER_CHECK)

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

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        J_sum, grad, W = self._map_reduce(self._cost_task, self._scatter(theta))
        with np.errstate(over="ignore", invalid="ignore"):
            J, grad = regularize(
                theta, J_sum, grad, W, self.layer_sizes, alpha=self.alpha
            )
        if not np.isfinite(J):
            J = np.inf
        grad = grad.astype(np.float64)
        self.last = (np.array(theta, dtype=np.float64), J, grad)
        self.n_evaluations += 1
        return J, grad

    def hessp(self, theta: np.ndarray, v: np.ndarray) -> np.ndarray:
        v_future = self._broadcast(np.ascontiguousarray(v, dtype=self.dtype))
        Hv, W = self._map_reduce(self._hessp_task, self._scatter(theta), v_future)
        self.n_hessp += 1
        Hv = regularize(v, 0.0, Hv, W, self.layer_sizes, alpha=self.alpha)[1]
        return Hv.astype(np.float64)

    def at(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """(J, grad) at ``theta``, reusing the last evaluation when it matches."""
        if self.last is None or not np.array_equal(self.last[0], theta):
            self(theta)
        return self.last[1], self.last[2]


# --------------------------------------------------------------------------
# Prediction
# --------------------------------------------------------------------------


def _predict_block(block, estimator, method: str):
    """``estimator.method`` on one in-memory block of rows."""
    if block.shape[0] == 0:  # validate_data refuses empty input
        one_row = np.zeros((1, block.shape[1]), block.dtype)
        return getattr(estimator, method)(one_row)[:0]
    return getattr(estimator, method)(block)


def _predict_blocks(estimator, method: str, X):
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


def blockwise(method):
    """Decorate a prediction method so that a dask X gives a dask array.

    On a dask array the method is mapped over the row blocks
    (``map_blocks``) and nothing is computed; any other input goes to the
    method itself.

    Parameters
    ----------
    method : callable
        ``method(self, X)`` of an estimator.

    Returns
    -------
    wrapper : callable
        The method, with dask arrays mapped block-wise.
    """

    @functools.wraps(method)
    def wrapper(self, X):
        if is_dask_collection(X):
            return _predict_blocks(self, method.__name__, X)
        return method(self, X)

    return wrapper
