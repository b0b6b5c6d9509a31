"""BackpropRegressor: the notes' network with real-valued outputs."""

import numpy as np
from scipy.special import expit
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import StrOptions

from sklearn_backprop._base import BaseBackprop
from sklearn_backprop._data import blockwise
from sklearn_backprop._evidence import predictive_variance
from sklearn_backprop._spec import NetworkSpec


class BackpropRegressor(RegressorMixin, BaseBackprop):
    """Backpropagation network regressor trained by ``scipy.optimize.minimize``.

    The network of the backpropagation notes with real-valued outputs: a
    weighted sum of hidden units (the notes' figure 3, a linear combination
    of sigmoids) plus a bias.
    The cost is the half squared error summed over outputs,

        J = (1/W) Σ_i w_i ½‖ŷ_i - y_i‖² + (α / (2W)) Σ Θ²  (non-bias weights),

    and its gradient is exactly the gradient of that J (unlike
    :class:`~sklearn.neural_network.MLPRegressor`, which averages the loss
    over outputs but not the gradient).

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(25,)
        Units S_l of each hidden layer. ``()`` gives ridge-like linear
        regression.
    activation : {"logistic", "tanh", "relu", "identity"}, default="logistic"
        Hidden-unit activation g; "logistic" is the notes' sigmoid.
    output_activation : {"identity", "logistic"}, default="identity"
        Output units: "identity" for real targets, "logistic" for targets in
        [0, 1] (the notes' J = ½(ŷ - y)² with a sigmoid output).
    loss : {"squared_error"}, default="squared_error"
        Per-sample loss ½‖ŷ - y‖².
    alpha : float or "evidence", default=1e-4
        L2 penalty λ, scaled as (α / (2W)) Σ Θ² over non-bias weights, as in
        :class:`~sklearn.neural_network.MLPRegressor`.
        ``"evidence"`` picks the penalty from the training data in one fit
        (MacKay's evidence framework, as MATLAB's ``trainbr``): the weights'
        fit alternates with the re-estimation of the prior precision α_B of
        the non-bias weights and of the noise precision β, until α =
        α_B / β changes by less than 0.1% (``alpha_``); see the user guide's "Bayesian
        regularisation". Not with ``early_stopping=True``.
    evidence_method : {"auto", "dense", "matrix-free"}, default="auto"
        How the posterior precision A = β H_D + α_B I_W (H_D the Gauss-Newton
        matrix of the data term, or its exact Hessian with
        ``curvature="exact"``, which falls back to Gauss-Newton where A is
        indefinite) is handled for ``gamma_``, ``log_evidence_``, ``beta_``
        and ``predict(X, return_std=True)``: "dense" forms and factorises it
        (n_params² memory); "matrix-free" estimates γ and ln det A by
        stochastic Lanczos quadrature on H·v products (seeded by
        ``random_state``), and refuses ``return_std=True``. "auto" is
        "dense" up to 2000 parameters.
    solver : {"L-BFGS-B", "CG", "BFGS", "Newton-CG", "TNC", "trust-ncg", \
            "trust-krylov", "lm", "trf"}, default="L-BFGS-B"
        Method of :func:`scipy.optimize.minimize`, or of
        :func:`scipy.optimize.least_squares` on the residuals r of the cost
        J = ½‖r‖², r = [√(w_i/W) (ŷ_ik - y_ik)] ++ [√(α/W) θ_j] (non-bias
        j): "lm" is Levenberg-Marquardt (MINPACK, as MATLAB's ``trainlm``)
        with the dense analytic Jacobian of r, for networks of up to a few
        hundred weights; it needs at least as many residuals as weights and
        the Jacobian in memory, and is refused otherwise. Its damping is
        Marquardt's μI, as in ``trainlm`` (``x_scale=1.0``; SciPy ≥ 1.16
        defaults "lm" to ``x_scale="jac"``, which stalled or took several
        times more steps on Friedman's function in our benchmarks). "trf"
        uses J·v and Jᵀ·u only (``tr_solver="lsmr"``), never forming the
        Jacobian. ``solver_options`` override these choices. With a
        fixed ``random_state`` every solver gives the same fit from run to
        run except "trust-krylov": scipy's trust-krylov itself varies at
        about 1e-15 from one run to the next, and the fits drift apart from
        there.
    max_iter : int, default=200
        Iteration limit: ``maxiter`` of the minimize solvers except TNC,
        which has none of its own (only ``maxfun``): its iterations are
        counted as it reports them, and the fit stops after ``max_iter`` of
        them. For "lm" and "trf" it is ``max_nfev``, the limit on evaluations
        of r (``n_iter_`` counts their accepted steps).
    tol : float, default=1e-4
        Stopping tolerance, passed as the solver's own option: ``gtol`` for
        L-BFGS-B, CG, BFGS, TNC, trust-ncg and trust-krylov, ``xtol`` for
        Newton-CG, and ``ftol``, ``xtol`` and ``gtol`` together for "lm" and
        "trf", raised to 2 × machine epsilon if smaller (MINPACK refuses
        tolerances at or below it).
    max_fun : int, default=15000
        Limit on cost+gradient evaluations for L-BFGS-B and TNC.
    init_epsilon : float, default=None
        Initial weights are uniform in [-ε, ε]; None uses
        ε = √6 / √(S_l + S_{l+1}) per layer.
    random_state : int, RandomState instance or None, default=None
        Seed of the initial weights.
    warm_start : bool, default=False
        Start from the previous fit's Θ.
    verbose : bool or int, default=False
        Print one line per iteration: iteration, J, gradient norm and time.
    solver_options : dict, default=None
        Extra ``options`` for :func:`scipy.optimize.minimize`; they override
        the ones derived from ``max_iter``, ``max_fun`` and ``tol``.
    curvature : {"auto", "exact", "gauss-newton"}, default="auto"
        Hessian-vector products given to the solvers that take them
        (Newton-CG, trust-ncg, trust-krylov): the exact Hessian H·v by the
        R-operator, or the positive semi-definite Gauss-Newton G·v. "auto"
        uses the exact Hessian for all three: in benchmarks/bench_solvers.py
        it reached MLPClassifier(lbfgs)'s loss in fewer evaluations than
        Gauss-Newton with every solver, Newton-CG included (which truncates
        its inner CG at negative curvature instead of failing).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, score it
        (R²) after every iteration, stop when the score has not
        improved by more than ``tol`` for ``n_iter_no_change`` iterations,
        and keep the best-scoring weights. Works with every solver.
    validation_fraction : float, default=0.1
        Share of the training data held out when ``early_stopping=True``.
    n_iter_no_change : int or np.inf, default=10
        Iterations without improvement that end the fit with early stopping;
        ``np.inf`` never ends it that way (the best weights are still kept).
    callback : callable, default=None
        ``callback(progress)`` is called after every iteration with a
        :class:`~sklearn_backprop.Progress` (``iteration``, ``loss``,
        ``grad_norm``, ``validation_score``, ``elapsed``); returning True
        ends the fit cleanly with the current weights. A KeyboardInterrupt
        (from the keyboard or raised by the callback) also ends the fit with
        the last completed iterate, and warns that the fit was interrupted.
        scikit-learn's callbacks (``ProgressBar``, ``ScoringMonitor``;
        scikit-learn >= 1.9) are set with ``set_callbacks``; they and this
        callback see each iteration once (user guide: :ref:`callbacks`).

    Attributes
    ----------
    thetas_ : list of ndarray
        Θ^(l) of shape (S_{l+1}, S_l + 1), bias in column 0.
    coefs_ : list of ndarray
        Weights in MLPRegressor's layout, ``coefs_[l] = thetas_[l][:, 1:].T``.
    intercepts_ : list of ndarray
        Biases in MLPRegressor's layout, ``intercepts_[l] = thetas_[l][:, 0]``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.
    n_layers_ : int
        Number of layers L.
    n_outputs_ : int
        Number of outputs.
    out_activation_ : str
        The output activation used.
    loss_ : float
        Final value of J.
    loss_curve_ : list of float
        J after each solver iteration (of every inner fit, one after the
        other, with ``alpha="evidence"``).
    n_iter_ : int
        Iterations the solver ran (in all inner fits with
        ``alpha="evidence"``).
    validation_scores_ : list of float or None
        Validation score after each iteration with ``early_stopping=True``
        (one score, of the starting weights, when the solver stopped before
        its first iteration), else None.
    best_validation_score_ : float or None
        Best of ``validation_scores_`` (the kept weights' score), else None.
    alpha_ : float
        The penalty the weights were fitted with: ``alpha``, or the one
        ``alpha="evidence"`` chose (α = α_B / β, in J's units: refitting with
        ``alpha=alpha_`` and the same start gives the same model).
    gamma_ : float
        γ = N_W - α_B tr_W(A⁻¹), the number of well-determined non-bias
        weights, at the fitted weights (for a float ``alpha``, computed on
        first access and cached: a plain fit pays nothing for it).
    log_evidence_ : float
        The log evidence ln p(D | α_B, β) at the fitted weights (Laplace
        approximation; the flat bias prior's constants dropped).
        Computed on first access for a float ``alpha``.
    beta_ : float
        β, the noise precision in the units of y as given to ``fit``:
        re-estimated with ``alpha="evidence"``, else (N - γ) / (2 E_D) at the
        fitted weights. ``1 / √beta_`` estimates the noise's standard
        deviation. Computed on first access for a float ``alpha``.
    evidence_curve_ : list of tuple or None
        With ``alpha="evidence"``, one ``(alpha, gamma, log_evidence)`` per
        re-estimation (the last one is ``alpha_``, ``gamma_``,
        ``log_evidence_``); else None. ``optimize_result_`` is then the
        last inner fit's.
    optimize_result_ : scipy.optimize.OptimizeResult
        What :func:`scipy.optimize.minimize` returned, or for "lm" and "trf"
        the same fields taken from :func:`scipy.optimize.least_squares`'s
        result (built from the last iterate when a callback, early stopping
        or an interrupt ended it),
        plain values only: ``x``, ``fun``, ``jac`` (the gradient of J),
        ``nit``, ``nfev``, the solver's other counts, ``status``, ``success``
        and ``message``. The solver's inverse-Hessian approximation
        ``hess_inv`` is not kept (a SciPy operator, or an n_params × n_params
        matrix), so that the estimator saves safely with :mod:`skops.io`.

    See Also
    --------
    BackpropClassifier : The classifier built on the same network.
    sklearn.neural_network.MLPRegressor : Multi-layer perceptron regressor.

    Notes
    -----
    There is no ``partial_fit``: every evaluation of J and its gradient uses
    the whole training set (the notes' full-batch method), which is what lets
    quasi-Newton solvers converge in few passes. To continue training, refit
    with ``warm_start=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_backprop import BackpropRegressor
    >>> X = np.linspace(-np.pi, np.pi, 200).reshape(-1, 1)
    >>> reg = BackpropRegressor(hidden_layer_sizes=(5,), random_state=0)
    >>> reg = reg.fit(X, np.sin(X).ravel())
    >>> bool(reg.score(X, np.sin(X).ravel()) > 0.99)
    True
    """

    _parameter_constraints: dict = {
        **BaseBackprop._parameter_constraints,
        "output_activation": [StrOptions({"identity", "logistic"})],
        "loss": [StrOptions({"squared_error"})],
    }

    def __init__(
        self,
        hidden_layer_sizes=(25,),
        activation="logistic",
        *,
        output_activation="identity",
        loss="squared_error",
        alpha=1e-4,
        evidence_method="auto",
        solver="L-BFGS-B",
        max_iter=200,
        tol=1e-4,
        max_fun=15000,
        init_epsilon=None,
        random_state=None,
        warm_start=False,
        verbose=False,
        solver_options=None,
        curvature="auto",
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        callback=None,
    ):
        self.loss = loss
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            output_activation=output_activation,
            alpha=alpha,
            evidence_method=evidence_method,
            solver=solver,
            max_iter=max_iter,
            tol=tol,
            max_fun=max_fun,
            init_epsilon=init_epsilon,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
            solver_options=solver_options,
            curvature=curvature,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            callback=callback,
        )

    @property
    def _loss(self) -> str:
        return self.loss

    def _encode_targets(self, y, dtype):
        Y = y.astype(dtype, copy=False).reshape(y.shape[0], -1)
        return Y, self.output_activation, {"_y_ndim": y.ndim}

    def predict(self, X, return_std=False):
        """Predict with the network: a^(L) for new inputs, with error bars.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.
        return_std : bool, default=False
            Also return the standard deviation of the predictive
            distribution, as :class:`~sklearn.linear_model.BayesianRidge`
            does: σ²_ik = 1/β + g_ikᵀ A⁻¹ g_ik with g_ik = ∂ŷ_ik/∂θ at the
            fitted weights and A = β H_D + α_B I_W the posterior precision
            (``beta_``, and α_B = ``alpha_`` · ``beta_``). Needs A formed,
            i.e. the dense evidence (``evidence_method`` "dense", or "auto"
            up to 2000 parameters); a matrix-free fit refuses it.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions, in the training dtype; 1-D when y was 1-D.
        y_std : ndarray of the same shape, float64
            The predictive standard deviation, only with ``return_std=True``.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_backprop import BackpropRegressor
        >>> X = np.arange(10.0).reshape(-1, 1)
        >>> reg = BackpropRegressor(hidden_layer_sizes=(), random_state=0)
        >>> reg.fit(X, 2 * X.ravel() + 1).predict([[20.0]]).round(3)
        array([41.])

        With the evidence framework, the error bars widen away from the data:

        >>> rng = np.random.default_rng(0)
        >>> y = 2 * X.ravel() + 1 + 0.1 * rng.normal(size=10)
        >>> bayes = BackpropRegressor(hidden_layer_sizes=(), alpha="evidence")
        >>> y_pred, y_std = bayes.fit(X, y).predict([[5.0], [50.0]], return_std=True)
        >>> bool(y_std[1] > y_std[0])
        True
        """
        if not return_std:
            return self._predict(X)
        return self._predict(X), self._predict_std(X)

    @blockwise
    def _predict(self, X):
        """a^(L) for new inputs (dask arrays block by block)."""
        return self._decode(self._output_logits(X))

    @blockwise
    def _predict_std(self, X):
        """The predictive standard deviation (see :meth:`predict`)."""
        factor = self._posterior()
        X = self._validate_new_data(X)
        dtype = self.thetas_[0].dtype
        spec = NetworkSpec.make(
            [self.n_features_in_, *self._hidden_sizes(), self.n_outputs_],
            self.activation,
            self.out_activation_,
            "squared_error",
            dtype,
        )
        thetas = [t.astype(dtype, copy=False) for t in self.thetas_]
        beta = self._evidence_value("beta")
        var = predictive_variance(thetas, X, spec, factor, beta)
        return np.sqrt(var).ravel() if self._y_ndim == 1 else np.sqrt(var)

    def _posterior(self):
        """F with A⁻¹ = Fᵀ F / β, or a ValueError when A was never formed."""
        self._evidence_value("beta")  # computes the evidence if not yet done
        factor = self.__dict__.get("_posterior_factor")
        if factor is None:
            raise ValueError(
                "predict(X, return_std=True) needs the posterior precision A "
                "formed and factorised, and this fit estimated the evidence "
                "matrix-free (evidence_method="
                f"{self.evidence_method!r}, {sum(t.size for t in self.thetas_)} "
                "parameters). Refit with evidence_method='dense' (A is "
                "n_params × n_params) for error bars."
            )
        return factor

    @property
    def beta_(self) -> float:
        """β, the noise precision (in the units of y as given to ``fit``).

        For ``alpha="evidence"`` the re-estimated one; for a float alpha
        β = (N - γ) / (2 E_D) at the fitted weights (MacKay 1992), with
        N = n_outputs × Σ w_i and E_D = Σ_i w_i ½‖ŷ_i - y_i‖². ``1 / √beta_``
        estimates the noise's standard deviation.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_backprop import BackpropRegressor
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(400, 2))
        >>> y = X @ [1.0, -2.0] + 0.5 * rng.normal(size=400)
        >>> reg = BackpropRegressor(hidden_layer_sizes=(), alpha="evidence")
        >>> round(reg.fit(X, y).beta_ ** -0.5, 1)
        0.5
        """
        return self._evidence_value("beta")

    def _decode(self, Z):
        if self.out_activation_ == "logistic":
            expit(Z, out=Z)
        return Z.ravel() if self._y_ndim == 1 else Z

    def _validation_score(self, y_true, y_pred, sample_weight):
        return r2_score(y_true, y_pred, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
