"""ONNX export: skl2onnx converters for BackpropClassifier and BackpropRegressor.

Importing this module registers the converters with `skl2onnx
<https://onnx.ai/sklearn-onnx/>`_, after which :func:`skl2onnx.to_onnx`
converts fitted estimators, and pipelines that contain them, to ONNX graphs
that onnxruntime runs. ``import sklearn_backprop`` does not import skl2onnx
(it stays fast); the converters come with the explicit
``import sklearn_backprop.onnx``, and need the optional extra:

.. code-block:: bash

    pip install "sklearn-backprop[onnx]"

The graph is the network's forward propagation, one ``Gemm``
(a^(l) Θ^(l)ᵀ plus the bias column) and the hidden activation per layer,
followed by the output units exactly as ``predict`` and ``predict_proba``
compute them:

* classifier: the ``label`` output holds the class labels that ``predict``
  returns (integers as int64, strings as strings; a multilabel model gives
  the (n_samples, n_labels) indicator matrix), the ``probabilities`` output
  what ``predict_proba`` returns: softmax, [1 - p, p] for one logistic unit,
  independent sigmoids for multilabel models, and, for K one-vs-all
  logistic units (``output_activation="logistic"`` on a multiclass target),
  the sigmoids normalised in log space, log σ(z) = -softplus(-z) followed by
  a log-softmax, so that rows whose sigmoids all underflow or all round to
  one are normalised as ``predict_proba`` normalises them. skl2onnx's
  classifier options apply: ``zipmap`` (True, False or "columns"), ``nocl``
  and ``output_class_labels``.
* regressor: one ``variable`` output of shape (n_samples, n_outputs), also
  for a single output (skl2onnx's convention for regressors, where
  ``predict`` returns a 1-D array).

The graph computes in the input's type: float32 for a float32 input (what
``to_onnx(model, X[:1].astype(np.float32))`` declares), float64 for a
float64 input, whatever dtype the estimator was fitted in. In float32 the
outputs agree with ``predict_proba`` / ``predict`` to within 1e-5 (a few
1e-6 in the tests), in float64 to about 1e-14.

Examples
--------
>>> import numpy as np
>>> import onnxruntime as rt
>>> from skl2onnx import to_onnx
>>> from sklearn.datasets import load_iris
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> import sklearn_backprop.onnx  # registers the converters
>>> from sklearn_backprop import BackpropClassifier
>>> X, y = load_iris(return_X_y=True)
>>> pipe = make_pipeline(
...     StandardScaler(), BackpropClassifier((5,), alpha=1.0, random_state=0)
... ).fit(X, y)
>>> onx = to_onnx(
...     pipe,
...     X[:1].astype(np.float32),
...     options={BackpropClassifier: {"zipmap": False}},
... )
>>> session = rt.InferenceSession(
...     onx.SerializeToString(), providers=["CPUExecutionProvider"]
... )
>>> labels, proba = session.run(None, {"X": X.astype(np.float32)})
>>> bool((labels == pipe.predict(X)).all())
True
>>> bool(np.abs(proba - pipe.predict_proba(X)).max() < 1e-5)
True
"""

import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted

from sklearn_backprop._classifier import BackpropClassifier
from sklearn_backprop._regressor import BackpropRegressor

try:
    from onnx import TensorProto
    from skl2onnx import update_registered_converter
    from skl2onnx._parse import _parse_sklearn_classifier
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )
except ImportError as error:  # pragma: no cover - the extra is installed in CI
    raise ImportError(
        "sklearn_backprop.onnx needs skl2onnx and onnx (and onnxruntime to run "
        'the graphs): pip install "sklearn-backprop[onnx]"'
    ) from error

__all__ = ["CLASSIFIER_ALIAS", "REGRESSOR_ALIAS", "register_converters"]

#: The name skl2onnx knows :class:`~sklearn_backprop.BackpropClassifier` by.
CLASSIFIER_ALIAS = "SklearnBackpropClassifier"
#: The name skl2onnx knows :class:`~sklearn_backprop.BackpropRegressor` by.
REGRESSOR_ALIAS = "SklearnBackpropRegressor"

# The options the classifier's converter takes: skl2onnx's own classifier
# options, handled by its parser and zipmap operators.
CLASSIFIER_OPTIONS = {
    "zipmap": [True, False, "columns"],
    "nocl": [True, False],
    "output_class_labels": [False, True],
}

# Hidden activations as ONNX operators (None: the identity, no operator).
_HIDDEN_OPS = {"logistic": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "identity": None}
_OUTPUTS = {
    BackpropClassifier: ("softmax", "logistic"),
    BackpropRegressor: ("identity", "logistic"),
}
_MIN_OPSET = 11  # Clip with min and max as inputs


def _check_convertible(model):
    """Raise NotFittedError, or NotImplementedError naming what is not covered."""
    check_is_fitted(model)
    name = type(model).__name__
    if model.activation not in _HIDDEN_OPS:
        raise NotImplementedError(
            f"The ONNX converter of {name} does not cover activation="
            f"{model.activation!r}; it covers {sorted(_HIDDEN_OPS)}."
        )
    outputs = _OUTPUTS[type(model)]
    if model.out_activation_ not in outputs:
        raise NotImplementedError(
            f"The ONNX converter of {name} does not cover output units "
            f"{model.out_activation_!r}; it covers {list(outputs)}."
        )
    if isinstance(model, BackpropClassifier):
        _class_labels(model, nocl=False)


def _check_options(scope, model, defaults=None):
    """The model's options, with unknown ones refused by a ValueError."""
    try:
        return scope.get_options(model, defaults)
    except (NameError, RuntimeError) as error:  # skl2onnx's own kinds of refusal
        allowed = (
            sorted(CLASSIFIER_OPTIONS)
            if isinstance(model, BackpropClassifier)
            else "none"
        )
        raise ValueError(
            f"The ONNX converter of {type(model).__name__} does not cover these "
            f"options (it takes {allowed}): {error}"
        ) from error


def _class_labels(model, nocl):
    """(labels, ONNX type): class labels as int64 or UTF-8 bytes, as predict's."""
    classes = model.classes_
    if nocl:
        return np.arange(len(classes), dtype=np.int64), TensorProto.INT64
    values = classes.tolist()
    if all(isinstance(c, str) for c in values):
        return np.array([c.encode("utf-8") for c in values]), TensorProto.STRING
    if all(
        isinstance(c, numbers.Integral)
        or (isinstance(c, numbers.Real) and float(c).is_integer())
        for c in values
    ):
        return np.array([int(c) for c in values], dtype=np.int64), TensorProto.INT64
    raise NotImplementedError(
        f"The ONNX converter of {type(model).__name__} covers integer and string "
        f"class labels (ONNX labels are int64 or strings), not {classes!r}."
    )


def _is_multilabel(model):
    return model._label_binarizer.y_type_ == "multilabel-indicator"


def _parse_classifier(scope, model, inputs, custom_parsers=None):
    """skl2onnx's classifier parser, after the checks that make errors clear."""
    _check_convertible(model)
    _check_options(scope, model, {"zipmap": True})
    return _parse_sklearn_classifier(
        scope, model, inputs, custom_parsers=custom_parsers
    )


def _parse_regressor(scope, model, inputs, custom_parsers=None):
    """One operator with one output, ``variable``, in the input's float type."""
    _check_convertible(model)
    _check_options(scope, model)
    operator = scope.declare_local_operator(REGRESSOR_ALIAS, model)
    operator.inputs = inputs
    variable = scope.declare_local_variable("variable", _tensor_type(inputs[0].type)())
    operator.outputs.append(variable)
    return operator.outputs


def _tensor_type(input_type):
    """The float type the graph computes in: float64 input stays float64."""
    if isinstance(input_type, DoubleTensorType):
        return DoubleTensorType
    if isinstance(input_type, FloatTensorType | Int64TensorType):
        return FloatTensorType
    raise NotImplementedError(
        "The ONNX converters of sklearn_backprop take float32, float64 or int64 "
        f"tensors, not {input_type!r}."
    )


def _check_operator(operator, n_outputs):
    if len(operator.inputs) != 1 or len(operator.outputs) != n_outputs:
        raise RuntimeError(
            f"{operator.type} expects 1 input and {n_outputs} output(s), got "
            f"{len(operator.inputs)} and {len(operator.outputs)}."
        )
    return _tensor_type(operator.inputs[0].type)


def _classifier_shapes(operator):
    """Shapes and types of ``label`` and ``probabilities``."""
    model = operator.raw_operator
    float_type = _check_operator(operator, 2)
    n_rows = operator.inputs[0].get_first_dimension()
    n_classes = len(model.classes_)
    options = operator.scope_inst.get_options(model, {"nocl": False})
    _, label_type = _class_labels(model, options["nocl"])
    label = Int64TensorType if label_type == TensorProto.INT64 else StringTensorType
    shape = [n_rows, n_classes] if _is_multilabel(model) else [n_rows]
    operator.outputs[0].type = label(shape=shape)
    operator.outputs[1].type = float_type(shape=[n_rows, n_classes])


def _regressor_shapes(operator):
    """Shape and type of ``variable``: (n_samples, n_outputs)."""
    float_type = _check_operator(operator, 1)
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = float_type(
        shape=[n_rows, operator.raw_operator.n_outputs_]
    )


class _Graph:
    """Adds nodes and initializers to the container under unique names."""

    def __init__(self, scope, operator, container):
        self.scope, self.container = scope, container
        self.input = operator.inputs[0]
        double = _tensor_type(self.input.type) is DoubleTensorType
        self.dtype = np.dtype(np.float64 if double else np.float32)
        self.proto = TensorProto.DOUBLE if double else TensorProto.FLOAT
        opset = container.target_opset
        if opset is not None and opset < _MIN_OPSET:
            raise NotImplementedError(
                "The ONNX converters of sklearn_backprop need target_opset >= "
                f"{_MIN_OPSET}, got {opset}."
            )

    def node(self, op_type, inputs, output=None, domain="", **attrs):
        """Add a node; return its output's name (a fresh one unless given)."""
        if output is None:
            output = self.scope.get_unique_variable_name(op_type.lower())
        self.container.add_node(
            op_type,
            list(inputs),
            output,
            op_domain=domain,
            name=self.scope.get_unique_operator_name(op_type),
            **attrs,
        )
        return output

    def constant(self, base, values, proto=None):
        """Add an initializer holding ``values`` (in the graph's float type)."""
        name = self.scope.get_unique_variable_name(base)
        if proto is None:
            proto = self.proto
            values = np.asarray(values, dtype=self.dtype)
        values = np.asarray(values)  # int64 or bytes as given
        self.container.add_initializer(name, proto, list(values.shape), values.ravel())
        return name

    def logits(self, model):
        """z^(L): forward propagation of the input through every Θ^(l)."""
        A = self.input.full_name
        if isinstance(self.input.type, Int64TensorType):
            A = self.node("Cast", [A], to=self.proto)
        last = len(model.thetas_) - 1
        for layer, theta in enumerate(model.thetas_):
            weights = self.constant("theta_weights", theta[:, 1:])
            bias = self.constant("theta_bias", theta[:, 0])
            # z^(l+1) = a^(l) Θ[:, 1:]ᵀ + Θ[:, 0]
            A = self.node("Gemm", [A, weights, bias], transB=1)
            op = _HIDDEN_OPS[model.activation]
            if layer < last and op is not None:
                A = self.node(op, [A])
        return A

    def log_sigmoid(self, Z):
        """log σ(z) = min(z, 0) - log(1 + exp(-|z|)), which never overflows."""
        zero = self.constant("zero", 0.0)
        one = self.constant("one", 1.0)
        negative_abs = self.node("Neg", [self.node("Abs", [Z])])
        softplus = self.node(
            "Log", [self.node("Add", [one, self.node("Exp", [negative_abs])])]
        )
        return self.node("Sub", [self.node("Min", [Z, zero]), softplus])

    def open_unit_interval(self, P, output):
        """Clip into (0, 1) as predict_proba does, with the graph's type's bounds."""
        info = np.finfo(self.dtype)
        low = self.constant("tiny", info.tiny)
        high = self.constant("one_minus_epsneg", 1 - info.epsneg)
        return self.node("Clip", [P, low, high], output)


def _convert_classifier(scope, operator, container):
    """Graph of BackpropClassifier: ``label`` (as predict) and ``probabilities``."""
    model = operator.raw_operator
    graph = _Graph(scope, operator, container)
    Z = graph.logits(model)
    label, probabilities = (v.full_name for v in operator.outputs)
    n_units = model.thetas_[-1].shape[0]

    # predict_proba
    if model.out_activation_ == "softmax":
        P = graph.node("Exp", [graph.node("LogSoftmax", [Z], axis=1)])
    elif n_units == 1:  # binary: [σ(-z), σ(z)]
        P = graph.node(
            "Sigmoid", [graph.node("Concat", [graph.node("Neg", [Z]), Z], axis=1)]
        )
    elif _is_multilabel(model):
        P = graph.node("Sigmoid", [Z])
    else:  # K one-vs-all units, normalised in log space
        log_p = graph.log_sigmoid(Z)
        P = graph.node("Exp", [graph.node("LogSoftmax", [log_p], axis=1)])
    graph.open_unit_interval(P, probabilities)

    # predict: from z^(L), as _decode does
    if _is_multilabel(model):
        indicators = graph.node("Greater", [Z, graph.constant("zero", 0.0)])
        graph.node("Cast", [indicators], label, to=TensorProto.INT64)
        return
    if n_units == 1:
        positive = graph.node(
            "Cast",
            [graph.node("Greater", [Z, graph.constant("zero", 0.0)])],
            to=TensorProto.INT64,
        )
        shape = graph.constant("flat", [-1], TensorProto.INT64)
        index = graph.node("Reshape", [positive, shape])
    else:
        index = graph.node("ArgMax", [Z], axis=1, keepdims=0)
    options = scope.get_options(model, {"nocl": False})
    classes, proto = _class_labels(model, options["nocl"])
    graph.node(
        "Gather", [graph.constant("classes", classes, proto), index], label, axis=0
    )


def _convert_regressor(scope, operator, container):
    """Graph of BackpropRegressor: ``variable``, a^(L) of shape (n, n_outputs)."""
    model = operator.raw_operator
    graph = _Graph(scope, operator, container)
    Z = graph.logits(model)
    op = "Sigmoid" if model.out_activation_ == "logistic" else "Identity"
    graph.node(op, [Z], operator.outputs[0].full_name)


def register_converters():
    """Register the skl2onnx converters of both estimators (again).

    Importing :mod:`sklearn_backprop.onnx` already calls it; call it again if
    something registered other converters for the same classes since.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as rt
    >>> from skl2onnx import to_onnx
    >>> from sklearn_backprop import BackpropRegressor
    >>> from sklearn_backprop.onnx import register_converters
    >>> register_converters()
    >>> X = np.linspace(-2, 2, 40).reshape(-1, 2)
    >>> reg = BackpropRegressor((3,), alpha=1.0, random_state=0)
    >>> reg = reg.fit(X, X.sum(axis=1))
    >>> onx = to_onnx(reg, X[:1].astype(np.float32))
    >>> session = rt.InferenceSession(
    ...     onx.SerializeToString(), providers=["CPUExecutionProvider"]
    ... )
    >>> (y,) = session.run(None, {"X": X.astype(np.float32)})
    >>> y.shape
    (20, 1)
    >>> bool(np.abs(y.ravel() - reg.predict(X)).max() < 1e-5)
    True
    """
    update_registered_converter(
        BackpropClassifier,
        CLASSIFIER_ALIAS,
        _classifier_shapes,
        _convert_classifier,
        parser=_parse_classifier,
        options=CLASSIFIER_OPTIONS,
    )
    update_registered_converter(
        BackpropRegressor,
        REGRESSOR_ALIAS,
        _regressor_shapes,
        _convert_regressor,
        parser=_parse_regressor,
    )


register_converters()
