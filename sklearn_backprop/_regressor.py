"""BackpropRegressor: the notes' network with real-valued outputs."""

from scipy.special import expit
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import StrOptions

from sklearn_backprop._base import BaseBackprop
from sklearn_backprop._data import blockwise


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
    alpha : float, default=1e-4
        L2 penalty λ, scaled as (α / (2W)) Σ Θ² over non-bias weights, as in
        :class:`~sklearn.neural_network.MLPRegressor`.
    solver : {"L-BFGS-B", "CG", "BFGS", "Newton-CG", "TNC", "trust-ncg", \
            "trust-krylov", "lm", "trf"}, default="L-BFGS-B"
        Method of :func:`scipy.optimize.minimize`, or of
        :func:`scipy.optimize.least_squares` on the residuals r of the cost
        J = ½‖r‖², r = [√(w_i/W) (ŷ_ik - y_ik)] ++ [√(α/W) θ_j] (non-bias
        j): "lm" is Levenberg-Marquardt (MINPACK, as MATLAB's ``trainlm``)
        with the dense analytic Jacobian of r, for networks of up to a few
        hundred weights; it needs at least as many residuals as weights and
        the Jacobian in memory, and is refused otherwise. "trf" uses J·v and
        Jᵀ·u only (``tr_solver="lsmr"``), never forming the Jacobian. With a
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
        J after each solver iteration.
    n_iter_ : int
        Iterations the solver ran.
    validation_scores_ : list of float or None
        Validation score after each iteration with ``early_stopping=True``
        (one score, of the starting weights, when the solver stopped before
        its first iteration), else None.
    best_validation_score_ : float or None
        Best of ``validation_scores_`` (the kept weights' score), else None.
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

    @blockwise
    def predict(self, X):
        """Predict with the network: a^(L) for new inputs.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions, in the training dtype; 1-D when y was 1-D.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_backprop import BackpropRegressor
        >>> X = np.arange(10.0).reshape(-1, 1)
        >>> reg = BackpropRegressor(hidden_layer_sizes=(), random_state=0)
        >>> reg.fit(X, 2 * X.ravel() + 1).predict([[20.0]]).round(3)
        array([41.])
        """
        return self._decode(self._output_logits(X))

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
