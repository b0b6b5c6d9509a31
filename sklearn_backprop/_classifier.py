"""BackpropClassifier: the notes' network as a scikit-learn classifier."""

import warnings

import numpy as np
from scipy.special import log_expit, logsumexp
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target

from sklearn_backprop._base import BaseBackprop
from sklearn_backprop._data import blockwise


def _open_unit_interval(P: np.ndarray) -> np.ndarray:
    """Clip probabilities into the open interval (0, 1) the dtype can represent."""
    info = np.finfo(P.dtype)
    return np.clip(P, info.tiny, 1 - info.epsneg, out=P)


class BackpropClassifier(ClassifierMixin, BaseBackprop):
    """Backpropagation network classifier trained by ``scipy.optimize.minimize``.

    The network of the backpropagation notes: weight matrices Θ^(l) with a
    bias column, forward propagation, δ terms, Δ accumulation and the
    regularised D-term gradient.
    All Θ^(l) are flattened into one vector, and the cross-entropy cost with
    its exact gradient is handed to a gradient-based method of
    :func:`scipy.optimize.minimize`.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(25,)
        Units S_l of each hidden layer. ``()`` gives (multinomial or
        one-vs-all) logistic regression. 25 is the hidden size of the
        handwritten-digits exercise of Andrew Ng's Machine Learning course.
    activation : {"logistic", "tanh", "relu", "identity"}, default="logistic"
        Hidden-unit activation g; "logistic" is the notes' sigmoid.
    output_activation : {"auto", "logistic", "softmax"}, default="auto"
        Output units. "auto" uses one logistic unit for binary targets, one
        logistic unit per label for multilabel targets and softmax for
        multiclass targets. "logistic" uses K sigmoid units for K classes, the
        one-vs-all network, trained with the sum of K binary
        cross-entropies; ``predict_proba`` then normalises each row.
    alpha : float or "evidence", default=1e-4
        L2 penalty λ. The cost gains (α / (2W)) Σ Θ² over the non-bias
        weights, W being the total sample weight, so ``alpha`` means what it
        means in :class:`~sklearn.neural_network.MLPClassifier` (same default).
        ``"evidence"`` picks the penalty from the training data in one fit
        (MacKay's evidence framework, as MATLAB's ``trainbr``): the weights'
        fit alternates with the re-estimation of the prior precision α_B of
        the non-bias weights, until it changes by less than 0.1% (β = 1:
        the likelihood is the cross-entropy, and α = α_B is ``alpha_``);
        see the user guide's "Bayesian regularisation". Not with
        ``early_stopping=True``.
    evidence_method : {"auto", "dense", "matrix-free"}, default="auto"
        How the posterior precision A = H_D + α_B I_W (H_D the Gauss-Newton
        matrix of the data term, or its exact Hessian with
        ``curvature="exact"``, which falls back to Gauss-Newton where A is
        indefinite) is handled for ``gamma_`` and ``log_evidence_``: "dense"
        forms and factorises it (n_params² memory); "matrix-free" estimates
        γ and ln det A by stochastic Lanczos quadrature on H·v products
        (seeded by ``random_state``). "auto" is "dense" up to 2000
        parameters.
    solver : {"L-BFGS-B", "CG", "BFGS", "Newton-CG", "TNC", "trust-ncg", \
            "trust-krylov"}, default="L-BFGS-B"
        Method of :func:`scipy.optimize.minimize`. All of them use the
        gradient; methods that do not (e.g. "Nelder-Mead") are refused. With
        a fixed ``random_state`` every solver gives the same fit from run to
        run except "trust-krylov": scipy's trust-krylov itself varies at
        about 1e-15 from one run to the next, and the fits drift apart from
        there (four runs on one problem took 175 to 200 iterations).
    max_iter : int, default=200
        Iteration limit: ``maxiter`` of every solver except TNC, which has
        none of its own (only ``maxfun``): its iterations are counted as it
        reports them, and the fit stops after ``max_iter`` of them.
    tol : float, default=1e-4
        Stopping tolerance, passed as the solver's own option: ``gtol`` for
        L-BFGS-B, CG, BFGS, TNC, trust-ncg and trust-krylov, ``xtol`` for
        Newton-CG.
    max_fun : int, default=15000
        Limit on cost+gradient evaluations (``maxfun``) for L-BFGS-B and TNC.
    init_epsilon : float, default=None
        Initial weights are drawn uniformly from [-ε, ε]. None uses
        ε = √6 / √(S_l + S_{l+1}) for each layer.
    random_state : int, RandomState instance or None, default=None
        Seed of the initial weights; an int makes fits reproducible.
    warm_start : bool, default=False
        Start from the previous fit's Θ instead of a random initialisation.
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
        (accuracy) after every iteration, stop when the score has not
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
    class_weight : dict, list of dict or "balanced", default=None
        Weights of the classes, applied as per-sample weights (multiplying
        ``sample_weight``): ``{label: weight}``, or "balanced" for
        ``n_samples / (n_classes * count(label))``, as in
        :func:`sklearn.utils.class_weight.compute_sample_weight`. For
        multilabel y give one dict per label or "balanced".

    Attributes
    ----------
    thetas_ : list of ndarray
        Θ^(l) of shape (S_{l+1}, S_l + 1), bias in column 0; views of one
        contiguous vector, in the training data's dtype.
    coefs_ : list of ndarray
        Weights in :class:`~sklearn.neural_network.MLPClassifier`'s layout,
        ``coefs_[l] = thetas_[l][:, 1:].T``.
    intercepts_ : list of ndarray
        Biases in MLPClassifier's layout, ``intercepts_[l] = thetas_[l][:, 0]``.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.
    n_layers_ : int
        Number of layers L, input and output included.
    n_outputs_ : int
        Number of output units S_L.
    out_activation_ : str
        The output activation used.
    loss_ : float
        Final value of the regularised cost J.
    loss_curve_ : list of float
        J after each iteration of the solver (of every inner fit, one after
        the other, with ``alpha="evidence"``).
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
        approximation; the flat bias prior's constants dropped; with softmax
        outputs, the pseudo-determinant of A, whose null direction shifts
        all output biases together). Computed on first access for a float
        ``alpha``.
    evidence_curve_ : list of tuple or None
        With ``alpha="evidence"``, one ``(alpha, gamma, log_evidence)`` per
        re-estimation (the last one is ``alpha_``, ``gamma_``,
        ``log_evidence_``); else None. ``optimize_result_`` is then the
        last inner fit's.
    optimize_result_ : scipy.optimize.OptimizeResult
        What :func:`scipy.optimize.minimize` returned (built from the last
        iterate when a callback, early stopping or an interrupt ended it),
        plain values only: ``x``, ``fun``, ``jac`` (the gradient of J),
        ``nit``, ``nfev``, the solver's other counts, ``status``, ``success``
        and ``message``. The solver's inverse-Hessian approximation
        ``hess_inv`` is not kept (a SciPy operator, or an n_params × n_params
        matrix), so that the estimator saves safely with :mod:`skops.io`.

    See Also
    --------
    BackpropRegressor : The regressor built on the same network.
    sklearn.neural_network.MLPClassifier : Multi-layer perceptron classifier.

    Notes
    -----
    There is no ``partial_fit``: every evaluation of J and its gradient uses
    the whole training set (the notes' full-batch method), which is what lets
    quasi-Newton solvers converge in few passes. To continue training, refit
    with ``warm_start=True``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.preprocessing import scale
    >>> from sklearn_backprop import BackpropClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> X = scale(X)
    >>> clf = BackpropClassifier(hidden_layer_sizes=(5,), alpha=1.0,
    ...                          random_state=0).fit(X, y)
    >>> clf.predict(X[:3])
    array([0, 0, 0])
    >>> clf.predict_proba(X[:1]).shape
    (1, 3)
    >>> bool(clf.score(X, y) > 0.95)
    True
    """

    _parameter_constraints: dict = {
        **BaseBackprop._parameter_constraints,
        "output_activation": [StrOptions({"auto", "logistic", "softmax"})],
        "class_weight": [dict, list, StrOptions({"balanced"}), None],
    }
    _loss = "log_loss"

    def __init__(
        self,
        hidden_layer_sizes=(25,),
        activation="logistic",
        *,
        output_activation="auto",
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
        class_weight=None,
    ):
        self.class_weight = class_weight
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

    def _encode_targets(self, y, dtype):
        # type_of_target once: scikit-learn's check_classification_targets and
        # LabelBinarizer's fit and transform would each ask again, which was
        # more than half of a small fit's time.
        target_type = type_of_target(y, input_name="y")
        if target_type not in ("binary", "multiclass", "multilabel-indicator"):
            if target_type == "multiclass-multioutput":
                raise ValueError(
                    "BackpropClassifier does not support multiclass-multioutput "
                    "targets; y must be binary, multiclass or a multilabel "
                    "indicator matrix."
                )
            check_classification_targets(y)  # raises scikit-learn's own error
        if target_type == "multilabel-indicator":
            binarizer = LabelBinarizer().fit(y)
            Y = binarizer.transform(y)
        else:
            classes, inverse = np.unique(y, return_inverse=True)
            n = len(y)
            if target_type == "multiclass" and n > 20 and len(classes) > round(n / 2):
                warnings.warn(  # as check_classification_targets warns
                    "The number of unique classes is greater than 50% of the "
                    "number of samples. `y` could represent a regression "
                    "problem, not a classification problem.",
                    UserWarning,
                    stacklevel=7,
                )
            binarizer = LabelBinarizer().fit(classes)  # the same as on y
            table = np.eye(len(classes)) if len(classes) > 2 else [[0], [1]]
            Y = np.asarray(table)[inverse.reshape(-1)]
        if binarizer.classes_.shape[0] < 2:
            (only,) = binarizer.classes_.tolist()
            raise ValueError(
                "BackpropClassifier needs samples of at least 2 classes in the data, "
                f"but the data contains only one class: {only!r}."
            )
        if (
            self.warm_start
            and hasattr(self, "classes_")
            and not np.array_equal(self.classes_, binarizer.classes_)
        ):
            raise ValueError(
                "warm_start=True needs the same classes as the previous fit: "
                f"{self.classes_} before, {binarizer.classes_} now."
            )
        Y = Y.astype(dtype)
        out_activation = self.output_activation
        if out_activation == "auto":
            out_activation = "softmax" if target_type == "multiclass" else "logistic"
        if out_activation == "softmax":
            if target_type == "multilabel-indicator":
                raise ValueError(
                    "output_activation='softmax' needs one label per sample; "
                    "multilabel y needs 'logistic' (one unit per label) or 'auto'."
                )
            if Y.shape[1] == 1:  # binary: two softmax units, one per class
                Y = np.hstack([1 - Y, Y])
        attrs = {"classes_": binarizer.classes_, "_label_binarizer": binarizer}
        return Y, out_activation, attrs

    def _is_multilabel(self) -> bool:
        return self._label_binarizer.y_type_ == "multilabel-indicator"

    def predict_log_proba(self, X):
        """Log of the class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            log of :meth:`predict_proba`.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.preprocessing import scale
        >>> from sklearn_backprop import BackpropClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = BackpropClassifier(random_state=0).fit(scale(X), y)
        >>> clf.predict_log_proba(scale(X)[:2]).shape
        (2, 3)
        """
        return np.log(self.predict_proba(X))

    @blockwise
    def predict_proba(self, X):
        """Class probabilities, strictly inside (0, 1).

        Softmax outputs are the probabilities; K logistic units are normalised
        to sum to one (multiclass) or kept as independent label probabilities
        (multilabel); a single logistic unit gives [1 - p, p].

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class (or label), in the training dtype.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.preprocessing import scale
        >>> from sklearn_backprop import BackpropClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = BackpropClassifier(random_state=0).fit(scale(X), y)
        >>> clf.predict_proba(scale(X)[:2]).sum(axis=1)
        array([1., 1.])
        """
        Z = self._output_logits(X)
        if self.out_activation_ == "softmax":
            Z -= Z.max(axis=1, keepdims=True)  # keeps ties of huge logits exact
            log_p = Z - logsumexp(Z, axis=1, keepdims=True)
        elif Z.shape[1] == 1:  # binary: log σ(-z), log σ(z)
            log_p = log_expit(np.hstack([-Z, Z]))
        elif self._is_multilabel():
            log_p = log_expit(Z)
        else:  # K logistic units, normalised in log space
            log_p = log_expit(Z)
            log_p -= logsumexp(log_p, axis=1, keepdims=True)
        return _open_unit_interval(np.exp(log_p))

    @blockwise
    def predict(self, X):
        """Predict class labels (or label indicators for multilabel y).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Predicted classes.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.preprocessing import scale
        >>> from sklearn_backprop import BackpropClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = BackpropClassifier(random_state=0).fit(scale(X), y)
        >>> clf.predict(scale(X)[[0, 50, 100]])
        array([0, 1, 2])
        """
        return self._decode(self._output_logits(X))

    def _decode(self, Z):
        if self._is_multilabel():
            return (Z > 0).astype(int)
        if Z.shape[1] == 1:
            return self.classes_[(Z[:, 0] > 0).astype(int)]
        return self.classes_[np.argmax(Z, axis=1)]

    def _validation_score(self, y_true, y_pred, sample_weight):
        return accuracy_score(y_true, y_pred, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
