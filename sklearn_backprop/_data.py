"""Training data for a fit: targets encoded, weights checked, a row-block source.

The estimator describes what it needs in a :class:`FitRequest` (network,
target encoding, class weights, memory guard) and asks :func:`fit_data` for
the data of this X; it gets back a :class:`FitData` whose ``source`` the
objective sums over, and the target-derived values it stores as fitted
attributes itself. In-memory data become
:class:`~sklearn_backprop._blocks.InMemoryBlocks`; dask collections go to
``sklearn_backprop._dask``, imported only then. The checks both backends
make on weights and class weights live here, once.
"""

import functools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import DataConversionWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_array, check_random_state
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight

from sklearn_backprop._blocks import InMemoryBlocks
from sklearn_backprop._spec import NetworkSpec


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


@dataclass(frozen=True)
class FitRequest:
    """What a fit needs from its estimator, as plain values and functions.

    Attributes
    ----------
    estimator_name : str
        For messages.
    hidden : list of int
        Hidden layer sizes.
    activation, loss : str
        Hidden activation and loss names.
    classifier : bool
        Whether y holds class labels.
    encode : callable
        ``encode(y, dtype) -> (Y, output_activation, attrs)``: the target
        matrix (for a classifier given its sorted classes, the row of each
        class), the output units and the target-derived fitted attributes.
    class_weight : dict, list of dict, "balanced" or None
        A classifier's class weights.
    check_memory : callable
        ``check_memory(layer_sizes, n_rows, dtype)`` refuses a fit that cannot
        fit in memory.
    early_stopping : bool
        Whether a validation split is held out.
    validation_fraction : float
        Its size.
    random_state : int, RandomState or None
        Seeds the split.
    """

    estimator_name: str
    hidden: list[int]
    activation: str
    loss: str
    classifier: bool
    encode: Callable[[Any, Any], tuple]
    class_weight: Any
    check_memory: Callable[[list[int], int, Any], None]
    early_stopping: bool
    validation_fraction: float
    random_state: Any


@dataclass
class FitData:
    """The data of a fit, ready for the objective."""

    source: Any  # a RowBlockSource
    spec: NetworkSpec
    n_features: int
    target_attrs: dict
    validation: tuple | None = None  # (X_val, y_val, w_val), in memory


def fit_data(X, y, sample_weight, request: FitRequest) -> FitData:
    """The training data of X: in-memory row blocks, or the dask backend's.

    In-memory X and y must have passed ``validate_data`` already.
    """
    if is_dask_collection(X):
        from sklearn_backprop._dask import dask_fit_data  # the dask extra

        return dask_fit_data(X, y, sample_weight, request)
    return _in_memory_fit_data(X, y, sample_weight, request)


def check_weight_summary(all_finite: bool, minimum: float, maximum: float) -> None:
    """Refuse sample weights from their summary: finite, ≥ 0, not all zero."""
    if not all_finite:
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if minimum < 0:
        raise ValueError("Negative values in data passed to sample_weight.")
    if not maximum > 0:
        raise ValueError(
            "sample_weight must contain at least one positive value; all are zero."
        )


def check_sample_weight(sample_weight, n_samples: int, dtype) -> np.ndarray | None:
    """Validate in-memory sample weights: 1-D, finite, non-negative, not all 0."""
    if sample_weight is None:
        return None
    sample_weight = check_array(
        sample_weight, ensure_2d=False, dtype=dtype, input_name="sample_weight"
    )
    if sample_weight.shape != (n_samples,):
        raise ValueError(
            f"sample_weight.shape == {sample_weight.shape}, expected ({n_samples},)!"
        )
    if n_samples:
        check_weight_summary(True, sample_weight.min(), sample_weight.max())
    return sample_weight


def class_weights(class_weight, classes, counts) -> np.ndarray:
    """Weight of each class from the class counts, as scikit-learn defines it.

    "balanced" gives n / (n_classes × count); a dict gives its values (1 for
    classes it does not name).
    """
    if isinstance(class_weight, str):  # "balanced"
        counts = np.asarray(counts, dtype=np.float64)
        return counts.sum() / (len(classes) * counts)
    if isinstance(class_weight, dict):
        return compute_class_weight(class_weight, classes=classes, y=classes)
    raise ValueError(
        "class_weight as a list of dicts is for multilabel y, which needs "
        "in-memory (numpy) input."
    )


def warn_column_vector(stacklevel: int) -> None:
    """The warning scikit-learn gives for a column-vector y."""
    warnings.warn(
        "A column-vector y was passed when a 1d array was expected. Please "
        "change the shape of y to (n_samples, ), for example using ravel().",
        DataConversionWarning,
        stacklevel=stacklevel,
    )


def _check_validation_split(n: int, request: FitRequest, stratify) -> None:
    """Refuse an early-stopping split whose validation part cannot be scored.

    R² needs two rows; a stratified split needs a row of every class on both
    sides. The sizes are train_test_split's: ceil(fraction × n) held out.
    """
    n_val = math.ceil(request.validation_fraction * n)
    counts = np.unique(stratify, return_counts=True)[1] if stratify is not None else []
    n_classes = len(counts)
    needed = max(n_classes, 1 if request.classifier else 2)
    problem = None
    if n_val < needed or n - n_val < max(n_classes, 1):
        problem = (
            f"a row of each of the {n_classes} classes in both parts"
            if n_classes
            else f"at least {needed} rows to score"
        )
    elif n_classes and counts.min() < 2:
        problem = (
            "two rows of every class, one for each part (the least populated "
            "class has only 1 member)"
        )
    if problem:
        raise ValueError(
            f"early_stopping=True holds out validation_fraction="
            f"{request.validation_fraction} of the {n} training rows: "
            f"{n_val} for validation and {n - n_val} for training, but the "
            f"split needs {problem}. Use more data, a larger "
            "validation_fraction, or early_stopping=False."
        )


def _in_memory_fit_data(X, y, sample_weight, request: FitRequest) -> FitData:
    if y.ndim == 2 and y.shape[1] == 1:
        # _in_memory_fit_data, fit_data, _fit, fit, its wrapper, the caller
        warn_column_vector(stacklevel=7)
        y = y[:, 0]
    n = X.shape[0]
    sample_weight = check_sample_weight(sample_weight, n, X.dtype)
    if request.class_weight is not None:
        if y.ndim == 1:
            classes, inverse, counts = np.unique(
                y, return_inverse=True, return_counts=True
            )
            per_row = class_weights(request.class_weight, classes, counts)[inverse]
        else:  # multilabel: one dict per label
            per_row = compute_sample_weight(request.class_weight, y)
        per_row = per_row.astype(X.dtype)
        if sample_weight is not None:
            per_row *= sample_weight
        sample_weight = check_sample_weight(per_row, n, X.dtype)
    Y, out_activation, attrs = request.encode(y, X.dtype)
    layer_sizes = [X.shape[1], *request.hidden, Y.shape[1]]
    request.check_memory(layer_sizes, n, X.dtype)
    spec = NetworkSpec.make(
        layer_sizes, request.activation, out_activation, request.loss, X.dtype
    )
    validation = None
    if request.early_stopping:
        stratify = y if request.classifier and y.ndim == 1 else None
        _check_validation_split(n, request, stratify)
        train, val = train_test_split(
            np.arange(n),
            test_size=request.validation_fraction,
            random_state=check_random_state(request.random_state),
            stratify=stratify,
        )
        w_val = None if sample_weight is None else sample_weight[val]
        validation = (X[val], y[val], w_val)
        X, Y = X[train], Y[train]
        sample_weight = None if sample_weight is None else sample_weight[train]
    source = InMemoryBlocks(X, Y, sample_weight, spec)
    return FitData(source, spec, layer_sizes[0], attrs, validation)


def blockwise(method):
    """Decorate a prediction method so that a dask X gives a dask array.

    On a dask array the method is mapped over the row blocks
    (``map_blocks``, in ``sklearn_backprop._dask``) and nothing is computed;
    any other input goes to the method itself.

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
            from sklearn_backprop._dask import predict_blocks  # the dask extra

            return predict_blocks(self, method.__name__, X)
        return method(self, X)

    return wrapper
