"""Shared estimator machinery: parameters, initialisation and training by minimize."""

import time
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from scipy.optimize import OptimizeWarning, minimize
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state, column_or_1d
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from sklearn_backprop._activations import ACTIVATIONS
from sklearn_backprop.network import (
    Workspace,
    cost_grad,
    forward,
    n_params,
    pack,
    unpack,
)

# Methods of scipy.optimize.minimize that use the gradient, with the option
# that ``tol`` sets for each: its own stopping tolerance.
TOL_OPTIONS = {
    "L-BFGS-B": "gtol",
    "CG": "gtol",
    "BFGS": "gtol",
    "Newton-CG": "xtol",
    "TNC": "gtol",
}
# Methods that never look at a gradient: refused with a message saying so.
NO_GRADIENT_SOLVERS = {"Nelder-Mead", "Powell", "COBYLA", "COBYQA"}


def _check_sample_weight(sample_weight, n_samples: int, dtype) -> np.ndarray | None:
    """Validate sample weights: 1-D, finite, non-negative, not all zero."""
    if sample_weight is None:
        return None
    sample_weight = check_array(
        sample_weight, ensure_2d=False, dtype=dtype, input_name="sample_weight"
    )
    if sample_weight.shape != (n_samples,):
        raise ValueError(
            f"sample_weight.shape == {sample_weight.shape}, expected ({n_samples},)!"
        )
    if np.any(sample_weight < 0):
        raise ValueError("Negative values in data passed to sample_weight.")
    if not np.any(sample_weight > 0):
        raise ValueError(
            "sample_weight must contain at least one positive value; all are zero."
        )
    return sample_weight


class _Objective:
    """J(θ) and its gradient for scipy.optimize.minimize; owns the scratch space.

    A pure function of θ and the data: nothing on the estimator is touched. The
    last evaluation is remembered so that the per-iteration callback can read
    the loss and gradient norm without evaluating again.
    """

    def __init__(self, X, Y, layer_sizes, **cost_params):
        self.X, self.Y, self.layer_sizes = X, Y, layer_sizes
        self.cost_params = cost_params
        self.workspace = Workspace()
        self.grad = np.empty(n_params(layer_sizes), X.dtype)
        self.last: tuple[np.ndarray, float, np.ndarray] | None = None

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        J, grad = cost_grad(
            theta,
            self.X,
            self.Y,
            self.layer_sizes,
            workspace=self.workspace,
            out=self.grad,
            **self.cost_params,
        )
        # scipy keeps earlier gradients (BFGS, CG compare them), so it gets a
        # float64 copy, never the reused buffer.
        grad = grad.astype(np.float64)
        self.last = (np.array(theta, dtype=np.float64), J, grad)
        return J, grad

    def at(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """(J, grad) at ``theta``, reusing the last evaluation when it matches."""
        if self.last is None or not np.array_equal(self.last[0], theta):
            self(theta)
        return self.last[1], self.last[2]


class _Monitor:
    """Per-iteration callback for minimize: records J and prints progress."""

    def __init__(self, objective: _Objective, verbose: bool):
        self.objective, self.verbose = objective, verbose
        self.losses: list[float] = []
        self.start = time.perf_counter()

    def __call__(self, intermediate_result):
        # TNC passes the iterate itself; every other method an OptimizeResult.
        x = getattr(intermediate_result, "x", intermediate_result)
        J, grad = self.objective.at(x)
        self.losses.append(J)
        if self.verbose:
            print(
                f"Iteration {len(self.losses):4d}, loss = {J:.8f}, "
                f"|grad| = {np.linalg.norm(grad):.3e}, "
                f"time = {time.perf_counter() - self.start:.2f}s"
            )


class BaseBackprop(BaseEstimator, metaclass=ABCMeta):
    """Base class for backpropagation networks trained by scipy.optimize.minimize.

    Warning: This class should not be used directly. Use derived classes
    instead.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "solver": [
            StrOptions(set(TOL_OPTIONS)),
            Hidden(StrOptions(NO_GRADIENT_SOLVERS)),
        ],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "init_epsilon": [Interval(Real, 0, None, closed="neither"), None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "solver_options": [dict, None],
    }

    # The loss and output units are fixed by the subclass.
    _loss: str

    @abstractmethod
    def __init__(
        self,
        hidden_layer_sizes,
        activation,
        output_activation,
        alpha,
        solver,
        max_iter,
        tol,
        max_fun,
        init_epsilon,
        random_state,
        warm_start,
        verbose,
        solver_options,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output_activation = output_activation
        self.alpha = alpha
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.max_fun = max_fun
        self.init_epsilon = init_epsilon
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.solver_options = solver_options

    @abstractmethod
    def _encode_targets(self, y, dtype) -> tuple[np.ndarray, str, dict]:
        """Target matrix Y, output activation, and target-derived fitted attributes."""

    def _class_sample_weight(self, y) -> np.ndarray | None:
        """Per-sample weights implied by class weights; None if there are none."""
        return None

    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        for size in sizes:
            if not isinstance(size, Integral) or isinstance(size, bool) or size < 1:
                raise ValueError(
                    "hidden_layer_sizes must hold positive integers, got "
                    f"{self.hidden_layer_sizes!r}."
                )
        return [int(s) for s in sizes]

    def _solver_call_options(self) -> dict:
        """Map max_iter, max_fun and tol onto the solver's own options."""
        options = {TOL_OPTIONS[self.solver]: self.tol}
        if self.solver == "TNC":
            # TNC only counts function evaluations.
            options["maxfun"] = min(self.max_iter, self.max_fun)
        else:
            options["maxiter"] = self.max_iter
        if self.solver == "L-BFGS-B":
            options["maxfun"] = self.max_fun
        options.update(self.solver_options or {})
        return options

    def _initial_theta(self, layer_sizes: list[int]) -> np.ndarray:
        """θ to start from: the previous fit's (warm start) or uniform in [-ε, ε]."""
        if self.warm_start and hasattr(self, "thetas_"):
            previous = [t.shape for t in self.thetas_]
            wanted = [
                (o, i + 1) for i, o in zip(layer_sizes, layer_sizes[1:], strict=False)
            ]
            if previous != wanted:
                raise ValueError(
                    "warm_start=True needs the same network as the previous fit: "
                    f"its Θ shapes were {previous}, this fit needs {wanted}."
                )
            return pack(self.thetas_).astype(np.float64)
        rng = check_random_state(self.random_state)
        blocks = []
        for s_in, s_out in zip(layer_sizes[:-1], layer_sizes[1:], strict=False):
            eps = self.init_epsilon
            if eps is None:
                eps = np.sqrt(6.0) / np.sqrt(s_in + s_out)
            blocks.append(rng.uniform(-eps, eps, size=s_out * (s_in + 1)))
        return np.concatenate(blocks)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to X and y by minimising the regularised cost.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. float32 data is trained in float32.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative per-sample weights; None weighs every sample equally.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        if self.solver in NO_GRADIENT_SOLVERS:
            raise ValueError(
                f"solver={self.solver!r} does not use the gradient that "
                "backpropagation computes; choose one of "
                f"{sorted(TOL_OPTIONS)}."
            )
        hidden = self._hidden_sizes()
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=self._loss == "squared_error",
            dtype=(np.float64, np.float32),
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        sample_weight = _check_sample_weight(sample_weight, X.shape[0], X.dtype)
        class_weight = self._class_sample_weight(y)
        if class_weight is not None:
            class_weight = class_weight.astype(X.dtype)
            if sample_weight is not None:
                class_weight *= sample_weight
            sample_weight = _check_sample_weight(class_weight, X.shape[0], X.dtype)
        Y, out_activation, target_attrs = self._encode_targets(y, X.dtype)
        layer_sizes = [X.shape[1], *hidden, Y.shape[1]]

        objective = _Objective(
            X,
            Y,
            layer_sizes,
            alpha=self.alpha,
            activation=self.activation,
            output_activation=out_activation,
            loss=self._loss,
            sample_weight=sample_weight,
        )
        monitor = _Monitor(objective, bool(self.verbose))
        with warnings.catch_warnings():
            # scipy only warns about options it does not know; refuse them.
            warnings.filterwarnings("error", "Unknown solver options", OptimizeWarning)
            try:
                result = minimize(
                    objective,
                    self._initial_theta(layer_sizes),
                    method=self.solver,
                    jac=True,
                    callback=monitor,
                    options=self._solver_call_options(),
                )
            except OptimizeWarning as exc:
                raise ValueError(
                    f"solver_options were rejected by solver={self.solver!r}: {exc}"
                ) from None
        if not result.success:
            warnings.warn(
                f"{self.solver} stopped after {result.nit} iterations without "
                f"converging: {result.message}. Increase max_iter or max_fun, or "
                "scale the data.",
                ConvergenceWarning,
                stacklevel=3,
            )

        theta = result.x.astype(X.dtype)
        self.thetas_ = unpack(theta, layer_sizes)
        self.n_layers_ = len(layer_sizes)
        self.n_outputs_ = layer_sizes[-1]
        self.out_activation_ = out_activation
        self.loss_ = float(result.fun)
        self.loss_curve_ = monitor.losses
        self.n_iter_ = int(result.nit)
        self.optimize_result_ = result
        for name, value in target_attrs.items():
            setattr(self, name, value)
        return self

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weights in MLPClassifier's layout: coefs_[l] = Θ^(l+1)[:, 1:].T."""
        return [theta[:, 1:].T for theta in self.thetas_]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Biases in MLPClassifier's layout: intercepts_[l] = Θ^(l+1)[:, 0]."""
        return [theta[:, 0] for theta in self.thetas_]

    def _output_logits(self, X) -> np.ndarray:
        """z^(L), the output units' pre-activations, for validated new data."""
        check_is_fitted(self)
        X = validate_data(
            self,
            X,
            accept_sparse=["csr", "csc"],
            dtype=(np.float64, np.float32),
            reset=False,
        )
        return forward(
            self.thetas_, X, activation=self.activation, output_activation="identity"
        )[-1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
