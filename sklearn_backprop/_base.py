"""Shared estimator machinery: parameters, initialisation and training by minimize."""

import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Hidden, Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from sklearn_backprop._activations import ACTIVATIONS
from sklearn_backprop._callbacks import (
    CallbackSupportMixin,
    FitTasks,
    iteration_cap,
    open_fit_task,
)
from sklearn_backprop._data import FitRequest, fit_data, is_dask_collection
from sklearn_backprop._guards import (
    check_fit_memory,
    check_least_squares,
    loaded_state,
    plain_result,
    restore_on_error,
    saved_state,
)
from sklearn_backprop._kernel import forward
from sklearn_backprop._objective import Objective
from sklearn_backprop._reestimation import (
    fitted_evidence,
    forget_source,
    keep_source,
    make_settings,
    reestimate,
)
from sklearn_backprop._solvers import SOLVERS, _Monitor, minimize_network
from sklearn_backprop._spec import NetworkSpec
from sklearn_backprop.network import pack

# Where the documentation (docs/, built with Sphinx) is published.
DOCS_URL = "https://sklearn-backprop.readthedocs.io/en/latest/"


class BaseBackprop(CallbackSupportMixin, BaseEstimator, metaclass=ABCMeta):
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
        "alpha": [Interval(Real, 0, None, closed="left"), StrOptions({"evidence"})],
        "evidence_method": [StrOptions({"auto", "dense", "matrix-free"})],
        "solver": [
            StrOptions({name for name, s in SOLVERS.items() if not s.refused}),
            Hidden(StrOptions({name for name, s in SOLVERS.items() if s.refused})),
        ],
        "curvature": [StrOptions({"auto", "exact", "gauss-newton"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "init_epsilon": [Interval(Real, 0, None, closed="neither"), None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "solver_options": [dict, None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "callback": [callable, None],
    }

    # The loss and output units are fixed by the subclass.
    _loss: str

    # The HTML repr's "?" link: the estimator's page of our API reference,
    # which docs/api.rst builds as generated/<module>.<name>.html.
    _doc_link_module = "sklearn_backprop"
    _doc_link_template = DOCS_URL + "generated/{estimator_module}.{estimator_name}.html"

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
        curvature,
        early_stopping,
        validation_fraction,
        n_iter_no_change,
        callback,
        evidence_method="auto",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output_activation = output_activation
        self.alpha = alpha
        self.evidence_method = evidence_method
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.max_fun = max_fun
        self.init_epsilon = init_epsilon
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.solver_options = solver_options
        self.curvature = curvature
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callback = callback

    @abstractmethod
    def _encode_targets(self, y, dtype) -> tuple[np.ndarray, str, dict]:
        """Target matrix Y, output activation, and target-derived fitted attributes."""

    @abstractmethod
    def _decode(self, Z: np.ndarray) -> np.ndarray:
        """Predictions from the output units' pre-activations z^(L)."""

    @abstractmethod
    def _validation_score(self, y_true, y_pred, sample_weight) -> float:
        """The score early stopping watches (higher is better)."""

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

    def _curvature(self) -> str:
        """The curvature Hessian-vector products use: the parameter, or its auto."""
        if self.curvature == "auto":
            return SOLVERS[self.solver].curvature
        return self.curvature

    def _fit_request(self, hidden: list[int]) -> FitRequest:
        """What the training data of a fit need from this estimator."""

        def check_memory(layer_sizes, n_rows, dtype):
            check_fit_memory(self, layer_sizes, n_rows, dtype)

        return FitRequest(
            estimator_name=type(self).__name__,
            hidden=hidden,
            activation=self.activation,
            loss=self._loss,
            classifier=is_classifier(self),
            encode=self._encode_targets,
            class_weight=getattr(self, "class_weight", None),
            check_memory=check_memory,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction,
            random_state=self.random_state,
        )

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

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.preprocessing import scale
        >>> from sklearn_backprop import BackpropClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = BackpropClassifier(hidden_layer_sizes=(4,), random_state=0)
        >>> clf.fit(scale(X), y).n_iter_ > 0
        True
        """
        # scikit-learn's callbacks: the fit's task, opened before the state
        # is saved (teardown after fit needs it, even when the fit fails)
        open_fit_task(self, self._iteration_cap())
        with restore_on_error(self):  # a failed fit leaves the previous state
            return self._fit(X, y, sample_weight)

    def _iteration_cap(self) -> int | None:
        """The fit's task's subtasks: iterations, or None for alpha="evidence"
        (one re-estimation task each, their number not known in advance)."""
        if isinstance(self.alpha, str):
            return None
        solver = SOLVERS[self.solver]
        options = solver.options(self.max_iter, self.max_fun, self.tol)
        options.update(self.solver_options or {})
        return iteration_cap(solver, options, self.max_iter)

    def _fit(self, X, y, sample_weight):
        """The body of :meth:`fit`, which undoes its changes if it raises."""
        solver = SOLVERS[self.solver]
        if solver.refused:
            raise ValueError(f"solver={self.solver!r} {solver.refused}")
        if solver.least_squares and self._loss != "squared_error":
            raise ValueError(
                f"solver={self.solver!r} minimises a sum of squares ½‖r‖², and "
                f"{type(self).__name__}'s cost (loss={self._loss!r}) is not one; "
                "use it with BackpropRegressor, or choose one of the solvers of "
                "scipy.optimize.minimize (e.g. 'L-BFGS-B')."
            )
        if solver.least_squares and is_dask_collection(X):
            raise ValueError(
                f"solver={self.solver!r} is not available with dask input: its "
                "residual vector has one entry per row, on the client. Use a "
                "scipy.optimize.minimize solver (e.g. 'L-BFGS-B' or "
                "'trust-ncg'), which map-reduce over the cluster's blocks."
            )
        bayesian = isinstance(self.alpha, str)  # alpha="evidence"
        if bayesian and self.early_stopping:
            raise ValueError(
                "alpha='evidence' chooses the penalty from all the training "
                "data, and early_stopping=True holds a validation part out to "
                "decide when to stop: use one or the other."
            )
        hidden = self._hidden_sizes()
        if not is_dask_collection(X):
            X, y = validate_data(
                self,
                X,
                y,
                accept_sparse=["csr", "csc"],
                multi_output=True,
                y_numeric=self._loss == "squared_error",
                dtype=(np.float64, np.float32),
            )
        data = fit_data(X, y, sample_weight, self._fit_request(hidden))
        if is_dask_collection(X):  # what validate_data(reset=True) does
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            self.n_features_in_ = data.n_features
        # Decoding predictions (for the validation score) needs these now.
        for name, value in data.target_attrs.items():
            setattr(self, name, value)
        self.out_activation_ = data.spec.loss.output
        spec = data.spec
        if solver.least_squares:
            check_least_squares(self, spec, data.source.Y.size)
        objective = Objective(
            data.source, 0.0 if bayesian else self.alpha, self._curvature()
        )
        evidence_alpha0 = None
        if bayesian and self.warm_start and hasattr(self, "alpha_"):
            evidence_alpha0 = self.alpha_  # re-estimation starts where it was
        theta0 = self._initial_theta(list(spec.layer_sizes))
        callback, stopped = self.callback, []
        if bayesian and callback is not None:  # a stop also ends re-estimation

            def callback(progress, user=self.callback):
                if user(progress):
                    stopped.append(True)
                    return True
                return False

        tasks = FitTasks(
            self,
            getattr(self, "_callback_fit_ctx", None),
            X,
            y,
            sample_weight,
            lambda theta: self._fitted_at(spec, theta),
        )
        tasks.begin()
        monitor = _Monitor(
            objective,
            theta0,
            verbose=bool(self.verbose),
            callback=callback,
            validation=self._validation(spec, data.validation),
            n_iter_no_change=self.n_iter_no_change,
            tol=self.tol,
            max_iter=None if solver.max_iter_option else self.max_iter,
            tasks=tasks,
        )
        options = solver.options(self.max_iter, self.max_fun, self.tol)
        options.update(self.solver_options or {})
        settings = make_settings(
            self.evidence_method,
            self.curvature,
            not is_classifier(self),
            spec,
            check_random_state(self.random_state),
        )
        evidence_fit = None
        if bayesian:

            def run_inner(theta, tol, max_iter):
                """One inner fit at the objective's current α."""
                inner = solver.options(max_iter, self.max_fun, tol)
                inner.update(self.solver_options or {})
                if monitor.max_iter is not None:  # TNC: max_iter per inner fit
                    monitor.max_iter = len(monitor.losses) + max_iter
                tasks.begin_round(iteration_cap(solver, inner, max_iter))
                result = minimize_network(objective, theta, monitor, solver, inner)
                if tasks.end_round(result.x):  # a callback ends re-estimation
                    stopped.append(True)
                return result

            evidence_fit = reestimate(
                objective,
                theta0,
                run_inner,
                settings,
                tol=self.tol,
                max_iter=self.max_iter,
                alpha0=evidence_alpha0,
                stopped=lambda: bool(stopped),
                iterations=lambda: len(monitor.losses),
                verbose=bool(self.verbose),
            )
            result = evidence_fit.result
        else:
            result = minimize_network(objective, theta0, monitor, solver, options)
        if not result.success and result.status != -1:  # -1: interrupted, warned
            message = str(result.message).rstrip(".")
            warnings.warn(
                f"{self.solver} stopped after {result.nit} iterations without "
                f"converging: {message}. Increase max_iter or max_fun, or "
                "scale the data.",
                ConvergenceWarning,
                stacklevel=4,  # _fit, fit, _fit_context's wrapper, the caller
            )
        theta, loss = result.x, result.fun
        if monitor.best_x is not None:  # early stopping: restore the best iterate
            theta, loss = monitor.best_x, objective.at(monitor.best_x)[0]

        self.thetas_ = spec.unpack(np.asarray(theta, dtype=spec.dtype).copy())
        self.n_layers_ = spec.n_layers
        self.n_outputs_ = spec.layer_sizes[-1]
        self.loss_ = float(loss)
        self.loss_curve_ = monitor.losses
        self._store_evidence(evidence_fit, data.source, settings)
        self.validation_scores_ = self.best_validation_score_ = None
        if self.early_stopping:
            scores = monitor.scores
            if not scores:  # stopped before its first iteration: score θ0
                scores = [monitor.validation(np.asarray(theta, np.float64))]
            self.validation_scores_ = scores
            self.best_validation_score_ = max(scores)
        self.n_iter_ = int(result.nit if evidence_fit is None else evidence_fit.n_iter)
        self.optimize_result_ = plain_result(result)  # no SciPy objects: skops
        tasks.end()
        return self

    def _fitted_at(self, spec: NetworkSpec, theta) -> dict:
        """What a copy of this estimator needs to predict with the weights θ
        during the fit (scikit-learn callbacks' ``fitted_estimator``)."""
        return {
            "thetas_": spec.unpack(np.asarray(theta, dtype=spec.dtype).copy()),
            "n_layers_": spec.n_layers,
            "n_outputs_": spec.layer_sizes[-1],
        }

    def _store_evidence(self, evidence_fit, source, settings) -> None:
        """``alpha_``, ``evidence_curve_`` and the evidence's cached values.

        An ``alpha="evidence"`` fit stores them all; a float-alpha fit only
        ``alpha_``, and keeps its row source (outside the estimator) for
        :meth:`_evidence_value` to compute γ, β and the evidence on first
        access.
        """
        forget_source(self)
        self._evidence_values = self._posterior_factor = None
        if evidence_fit is None:
            self.alpha_ = float(self.alpha)
            self.evidence_curve_ = None
            keep_source(self, source, settings)
            return
        ev = evidence_fit.evidence
        self.alpha_ = ev.alpha
        self.evidence_curve_ = [tuple(map(float, row)) for row in evidence_fit.curve]
        self._cache_evidence(ev, evidence_fit.factor)

    def _cache_evidence(self, ev, factor) -> None:
        self._evidence_values = {
            "gamma": ev.gamma,
            "log_evidence": ev.log_evidence,
            "beta": ev.beta,
        }
        self._posterior_factor = None if factor is None else factor.factor

    def _evidence_value(self, name: str) -> float:
        """γ, the log evidence or β at the fitted weights (see the attributes)."""
        check_is_fitted(self)
        values = self.__dict__.get("_evidence_values")
        if values is None:
            computed = fitted_evidence(self, pack(self.thetas_), self.alpha_)
            if computed is None:
                raise AttributeError(
                    f"{name}_ of a fit with a float alpha is computed on first "
                    "access from the training data, which only the process "
                    "that fitted the estimator holds, and only in-memory data "
                    "(not dask arrays); this estimator was copied, pickled or "
                    "fitted on dask arrays before it was accessed. Refit it "
                    "here, or fit with alpha='evidence', which stores it."
                )
            self._cache_evidence(*computed)
            values = self._evidence_values
        return float(values[name])

    @property
    def gamma_(self) -> float:
        """γ, the number of well-determined non-bias weights (MacKay 1992).

        γ = N_W - α_B tr_W(A⁻¹) at the fitted weights, in [0, N_W]; see the
        user guide's "Bayesian regularisation".

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_backprop import BackpropRegressor
        >>> X = np.linspace(-1, 1, 50).reshape(-1, 1)
        >>> reg = BackpropRegressor(hidden_layer_sizes=(), alpha=1.0)
        >>> bool(0 < reg.fit(X, 2 * X.ravel()).gamma_ <= 1)
        True
        """
        return self._evidence_value("gamma")

    @property
    def log_evidence_(self) -> float:
        """ln p(D | α_B, β): the log evidence at the fitted weights.

        The Laplace approximation of MacKay 1992 with the constants of the
        biases' flat prior dropped; see the user guide's "Bayesian
        regularisation".

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_backprop import BackpropRegressor
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(60, 1))
        >>> y = X.ravel() + 0.1 * rng.normal(size=60)
        >>> small = BackpropRegressor(hidden_layer_sizes=(), alpha=0.1).fit(X, y)
        >>> huge = BackpropRegressor(hidden_layer_sizes=(), alpha=1e4).fit(X, y)
        >>> bool(small.log_evidence_ > huge.log_evidence_)
        True
        """
        return self._evidence_value("log_evidence")

    def _validation(self, spec: NetworkSpec, validation):
        """θ -> the score early stopping watches, or None without early stopping."""
        if validation is None:
            return None
        X_val, y_val, w_val = validation

        def score(theta):
            thetas = spec.unpack(theta.astype(spec.dtype))
            Z = forward(thetas, X_val, spec.activation, None)[-1]
            return self._validation_score(y_val, self._decode(Z), w_val)

        return score

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weights in scikit-learn's MLP layout: coefs_[l] = Θ^(l+1)[:, 1:].T.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_backprop import BackpropRegressor
        >>> X = np.arange(6.0).reshape(3, 2)
        >>> reg = BackpropRegressor(hidden_layer_sizes=(4,), alpha=1.0, random_state=0)
        >>> reg = reg.fit(X, [0.0, 1.0, 2.0])
        >>> [c.shape for c in reg.coefs_]
        [(2, 4), (4, 1)]
        """
        return [theta[:, 1:].T for theta in self.thetas_]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Biases in scikit-learn's MLP layout: intercepts_[l] = Θ^(l+1)[:, 0].

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_backprop import BackpropRegressor
        >>> X = np.arange(6.0).reshape(3, 2)
        >>> reg = BackpropRegressor(hidden_layer_sizes=(4,), alpha=1.0, random_state=0)
        >>> reg = reg.fit(X, [0.0, 1.0, 2.0])
        >>> [b.shape for b in reg.intercepts_]
        [(4,), (1,)]
        """
        return [theta[:, 0] for theta in self.thetas_]

    def _validate_new_data(self, X):
        """New input X, checked against the fitted estimator."""
        check_is_fitted(self)
        return validate_data(
            self,
            X,
            accept_sparse=["csr", "csc"],
            dtype=(np.float64, np.float32),
            reset=False,
        )

    def _output_logits(self, X) -> np.ndarray:
        """z^(L), the output units' pre-activations, for validated new data."""
        X = self._validate_new_data(X)
        return forward(self.thetas_, X, ACTIVATIONS[self.activation], None)[-1]

    def __getstate__(self):
        # pickle and skops.io both save this state: plain values and the version
        return saved_state(super().__getstate__())

    def __setstate__(self, state):
        # pickle and skops.io both load through here: the version is checked
        super().__setstate__(loaded_state(state, type(self).__name__))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
