"""Problems and evaluations shared by the benchmark scripts.

One cost+gradient evaluation three ways on the same data and weights: ours
(:func:`our_eval`), MLPClassifier's (:func:`mlp_eval`) and only its GEMMs
(:func:`floor_eval`), with what it takes to compare them: the issue's
problems (:func:`make_problem`), starting weights in our layout
(:func:`initial_theta`) and the conversions to and from MLPClassifier's layout.
Only the package's public API is used here. Scripts import this module as
``_problems`` (their own directory is first on ``sys.path``).
"""

import inspect
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from sklearn_backprop.network import Workspace, cost_grad, unpack

ALPHA = 1e-4  # MLPClassifier's default, used by both estimators
AGREE_RTOL = 1e-10  # float64 agreement required between ours and a peer
# (rows, features, hidden layers, classes); (a) is load_digits itself.
PROBLEMS = {
    "a": (1797, 64, (25,), 10),
    "b": (5000, 400, (25,), 10),
    "c": (20000, 100, (100,), 10),
    "d": (20000, 100, (256, 128), 10),
    "e": (100000, 50, (64,), 2),
}
QUICK_DIVISOR = 20  # --quick divides the rows of (b)-(e) by this


@dataclass
class Problem:
    key: str
    X: np.ndarray  # float64, C-contiguous, standardised (digits: / 16)
    y: np.ndarray
    layer_sizes: list[int]
    hidden: tuple[int, ...]
    output_activation: str
    theta: np.ndarray = field(repr=False)  # float64 starting weights, our layout

    @property
    def shape(self) -> str:
        return f"{self.X.shape[0]}x" + "-".join(map(str, self.layer_sizes))


def problem_from_data(key: str, X, y, hidden: tuple[int, ...]) -> Problem:
    """A Problem on given data: as ``output_activation="auto"`` decides.

    Softmax outputs for multiclass targets, one logistic unit for binary ones
    (what BackpropClassifier's ``output_activation="auto"`` and MLPClassifier
    both do); starting weights from :func:`initial_theta` with seed 0.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    n_classes = np.unique(y).size
    n_out = n_classes if n_classes > 2 else 1
    layer_sizes = [X.shape[1], *hidden, n_out]
    return Problem(
        key=key,
        X=X,
        y=y,
        layer_sizes=layer_sizes,
        hidden=tuple(hidden),
        output_activation="softmax" if n_classes > 2 else "logistic",
        theta=initial_theta(layer_sizes, seed=0),
    )


def make_problem(key: str, quick: bool) -> Problem:
    """One of the "Fast core" issue's problems (rows / QUICK_DIVISOR if quick)."""
    n, n_features, hidden, n_classes = PROBLEMS[key]
    if key == "a":
        X, y = load_digits(return_X_y=True)  # already tiny: whole in --quick too
        X = X / 16.0
    else:
        n = n // QUICK_DIVISOR if quick else n
        X, y = synthetic(n, n_features, n_classes)
    return problem_from_data(key, X, y, hidden)


def synthetic(n, n_features, n_classes, random_state=0):
    """``make_classification`` data, standardised."""
    informative = min(n_features, 20)
    X, y = make_classification(
        n_samples=n,
        n_features=n_features,
        n_informative=informative,
        n_redundant=min(n_features - informative, 10),
        n_classes=n_classes,
        random_state=random_state,
    )
    return StandardScaler().fit_transform(X), y


def initial_theta(layer_sizes, seed=0) -> np.ndarray:
    """Uniform in [-ε, ε], ε = √6 / √(S_l + S_{l+1}), our flat layout."""
    rng = np.random.default_rng(seed)
    blocks = []
    for s_in, s_out in zip(layer_sizes[:-1], layer_sizes[1:], strict=False):
        eps = np.sqrt(6.0 / (s_in + s_out))
        blocks.append(rng.uniform(-eps, eps, size=s_out * (s_in + 1)))
    return np.concatenate(blocks)


def to_mlp_layout(theta, layer_sizes):
    """Our θ as MLPClassifier's coefs_, intercepts_ and packed vector."""
    thetas = unpack(theta, layer_sizes)
    coefs = [np.ascontiguousarray(t[:, 1:].T) for t in thetas]
    intercepts = [np.ascontiguousarray(t[:, 0]) for t in thetas]
    packed = np.hstack([c.ravel() for c in coefs] + intercepts)
    return coefs, intercepts, packed


def from_mlp_grad(grad, layer_sizes):
    """MLPClassifier's packed gradient rearranged into our flat layout."""
    pairs = list(zip(layer_sizes[:-1], layer_sizes[1:], strict=False))
    ours, start = [], 0
    coef_blocks = []
    for s_in, s_out in pairs:
        coef_blocks.append(grad[start : start + s_in * s_out].reshape(s_in, s_out))
        start += s_in * s_out
    for (_, s_out), coef in zip(pairs, coef_blocks, strict=True):
        block = np.empty((s_out, coef.shape[0] + 1), grad.dtype)
        block[:, 0] = grad[start : start + s_out]
        block[:, 1:] = coef.T
        ours.append(block.ravel())
        start += s_out
    return np.concatenate(ours)


def rel_diff(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    denom = max(float(np.linalg.norm(b)), np.finfo(float).tiny)
    return float(np.linalg.norm(a - b)) / denom


# --------------------------------------------------------------------------
# The evaluations


def our_eval(problem: Problem, X, Y, theta):
    """One cost+gradient evaluation as the optimiser runs it (reused buffers)."""
    workspace = Workspace()
    out = np.empty(theta.size, theta.dtype)

    def run():
        return cost_grad(
            theta,
            X,
            Y,
            problem.layer_sizes,
            alpha=ALPHA,
            activation="logistic",
            output_activation=problem.output_activation,
            loss="log_loss",
            workspace=workspace,
            out=out,
        )

    return run


def mlp_model(problem: Problem, dtype) -> MLPClassifier:
    """An MLPClassifier whose internals are initialised by a tiny lbfgs fit."""
    classes = np.unique(problem.y)
    idx = np.concatenate([np.flatnonzero(problem.y == c)[:20] for c in classes])
    mlp = MLPClassifier(
        hidden_layer_sizes=problem.hidden,
        activation="logistic",
        solver="lbfgs",
        alpha=ALPHA,
        max_iter=1,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(problem.X[idx].astype(dtype), problem.y[idx])
    assert mlp.out_activation_ == problem.output_activation, mlp.out_activation_
    return mlp


def mlp_eval(mlp: MLPClassifier, problem: Problem, X, theta):
    """MLPClassifier._loss_grad_lbfgs with the buffers _fit_lbfgs gives it."""
    dtype = X.dtype
    layer_units = problem.layer_sizes
    Y = mlp._label_binarizer.transform(problem.y).astype(bool)  # as _validate_input
    activations = [X] + [None] * (len(layer_units) - 1)
    deltas = [None] * (len(activations) - 1)
    coef_grads = [
        np.empty((fan_in, fan_out), dtype=dtype)
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:], strict=False)
    ]
    intercept_grads = [np.empty(fan_out, dtype=dtype) for fan_out in layer_units[1:]]
    packed = to_mlp_layout(theta, problem.layer_sizes)[2].astype(dtype)
    # scikit-learn >= 1.5 passes sample_weight; older versions do not.
    extra = (
        (None,)
        if "sample_weight" in inspect.signature(mlp._loss_grad_lbfgs).parameters
        else ()
    )

    def run():
        return mlp._loss_grad_lbfgs(
            packed, X, Y, *extra, activations, deltas, coef_grads, intercept_grads
        )

    return run


def floor_eval(layer_sizes, X, chunk_rows=None):
    """Only the GEMMs of one evaluation, on preallocated arrays with out=.

    With ``chunk_rows``, the same GEMMs over row chunks of that many rows (as
    our evaluation runs them), otherwise over all rows at once: the issue's
    floor.
    """
    dtype, n = X.dtype, X.shape[0]
    m = n if chunk_rows is None else min(chunk_rows, n)
    rng = np.random.default_rng(1)
    pairs = list(zip(layer_sizes[:-1], layer_sizes[1:], strict=False))
    # W_l is S_l × S_{l+1}; scaled so that values stay O(1) (no inf, no denormals).
    Ws = [
        (rng.standard_normal((s_in, s_out)) / np.sqrt(s_in)).astype(dtype)
        for s_in, s_out in pairs
    ]
    acts = [np.empty((m, s), dtype) for s in layer_sizes[1:]]
    deltas = [rng.standard_normal((m, s)).astype(dtype) for s in layer_sizes[1:]]
    grads = [np.empty((s_out, s_in), dtype) for s_in, s_out in pairs]
    last = len(pairs) - 1

    def run():
        for start in range(0, n, m):
            rows = min(m, n - start)
            A = [X[start : start + rows]] + [a[:rows] for a in acts]
            D = [d[:rows] for d in deltas]
            for layer in range(last + 1):  # forward: n×S_l @ S_l×S_{l+1}
                np.matmul(A[layer], Ws[layer], out=A[layer + 1])
            for layer in range(last, -1, -1):
                # gradient: S_{l+1}×n @ n×S_l
                np.matmul(D[layer].T, A[layer], out=grads[layer])
                if layer > 0:  # delta: n×S_{l+1} @ S_{l+1}×S_l, not for the input
                    np.matmul(D[layer], Ws[layer].T, out=D[layer - 1])

    return run
