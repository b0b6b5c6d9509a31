"""scikit-learn's callback API (SLEP023) for the estimators, where it exists.

scikit-learn 1.9 added :mod:`sklearn.callback`: ``set_callbacks`` on an
estimator, callbacks such as :class:`~sklearn.callback.ProgressBar` and
:class:`~sklearn.callback.ScoringMonitor`, and a tree of tasks through which
a fit reports its progress (and meta-estimators such as ``Pipeline`` and
``GridSearchCV`` attach their sub-estimators' fits). This module is the one
place that imports it: with an older scikit-learn, :class:`CallbackSupportMixin`
is an empty class (the estimators have no ``set_callbacks``) and
:func:`open_fit_task` opens nothing, so that every fit runs as before.
scikit-learn's ``_fit_context``, around ``fit``, tears the callbacks down
after the fit (whether it succeeds or fails).

The task tree of a fit:

* ``fit``, the estimator's root task, whose subtasks are either
* one ``iteration`` leaf per solver iteration (the iterations the ``Progress``
  records of the ``callback`` parameter count, and ``n_iter_``), at most the
  solver's iteration limit (``max_iter``, or the limit ``solver_options``
  sets; for "lm" and "trf" ``max_nfev``, which ``max_iter`` sets), or, with
  ``alpha="evidence"``,
* one ``reestimation`` task per re-estimation of α (their number is not
  known in advance), each with one ``iteration`` leaf per iteration of its
  inner fit, at most that inner fit's limit.

:class:`~sklearn.callback.ProgressBar` thus shows one bar of the iterations
out of ``max_iter`` (a bar that completes when the solver converges early),
and for ``alpha="evidence"`` a bar of the fit (without a total) with one bar
below it per re-estimation.

A task's ``on_fit_task_end`` returning True stops "the current level of
iterations", as the protocol has it: at an ``iteration``, the solver's run
(the fit, or with ``alpha="evidence"`` that re-estimation's inner fit), as if
it had converged; at a ``reestimation``, the re-estimations (the fit keeps
that α and those weights).
"""

from numbers import Integral

try:  # scikit-learn >= 1.9
    from sklearn.callback import CallbackSupportMixin

    AVAILABLE = True
except ImportError:  # an older scikit-learn: no callback API
    AVAILABLE = False

    class CallbackSupportMixin:  # type: ignore[no-redef]
        """Nothing: this scikit-learn has no ``sklearn.callback``."""


def iteration_cap(solver, options: dict, max_iter: int) -> int | None:
    """The most iterations a fit with these options reports, or None if unknown.

    Parameters
    ----------
    solver : Solver
        The method's record (:data:`sklearn_backprop._solvers.SOLVERS`).
    options : dict
        The options the method is called with (``solver_options`` included).
    max_iter : int
        The estimator's ``max_iter`` (for TNC, the monitor's own limit).

    Returns
    -------
    cap : int or None
        The number of ``iteration`` subtasks the fit's task may have.

    Examples
    --------
    >>> from sklearn_backprop._solvers import SOLVERS
    >>> lbfgs, lm = SOLVERS["L-BFGS-B"], SOLVERS["lm"]
    >>> iteration_cap(lbfgs, lbfgs.options(200, 15000, 1e-4), 200)
    200
    >>> iteration_cap(lbfgs, {"maxiter": 500}, 200)
    500
    >>> iteration_cap(lm, {"max_nfev": None}, 200) is None
    True
    """
    if solver.max_iter_option is None:  # TNC: the monitor stops it at max_iter
        return max(int(max_iter), 1)
    cap = options.get(solver.max_iter_option, max_iter)
    if isinstance(cap, Integral) and not isinstance(cap, bool):
        return max(int(cap), 1)
    return None


def open_fit_task(estimator, max_subtasks: int | None):
    """Open the estimator's root task and set its callbacks up.

    Call it in ``fit`` before anything that may restore the estimator's
    attributes on error: scikit-learn tears the callbacks down after ``fit``
    only if the estimator still holds the context this opens.

    Parameters
    ----------
    estimator : BaseBackprop
        The estimator being fitted.
    max_subtasks : int or None
        The subtasks the root task may have (None: not known in advance).

    Returns
    -------
    context : CallbackContext or None
        The root task, or None without scikit-learn's callback API.
    """
    if not AVAILABLE or not hasattr(estimator, "_init_callback_context"):
        return None
    return estimator._init_callback_context(max_subtasks=max_subtasks)


class FitTasks:
    """The fit's tasks as the per-iteration monitor reports them.

    Without a root context (an older scikit-learn) every method does nothing
    and returns False. Without callbacks (none set, none propagated) the
    root task is still begun and ended, as scikit-learn's own estimators do,
    but no per-iteration subtask is created.

    Parameters
    ----------
    estimator : BaseBackprop
        The estimator being fitted.
    context : CallbackContext or None
        The root task from :func:`open_fit_task`.
    X, y : array-like
        The training data, passed to the hooks (``ScoringMonitor`` scores on
        them).
    sample_weight : array-like or None
        Passed to the hooks as ``metadata={"sample_weight": ...}``.
    fitted_at : callable
        θ -> the fitted attributes that make a copy of the estimator predict
        with the weights θ (the hooks' ``fitted_estimator``); only called when
        a callback asks for a fitted estimator.

    Examples
    --------
    >>> tasks = FitTasks(None, None, None, None, None, lambda theta: {})
    >>> tasks.begin(), tasks.iteration([0.0], [1.0]), tasks.end()
    (None, False, False)
    """

    def __init__(self, estimator, context, X, y, sample_weight, fitted_at):
        self.estimator, self.root = estimator, context
        self.parent = context  # the task the iterations are subtasks of
        self.fitted_at = fitted_at
        self._kwargs = {
            "X": X,
            "y": y,
            "metadata": None
            if sample_weight is None
            else {"sample_weight": sample_weight},
        }
        # Per-iteration tasks only when some callback listens (set on the
        # estimator, or propagated to it by a meta-estimator).
        self.active = context is not None and bool(
            getattr(estimator, "_skl_callbacks", None)
        )
        self._subtasks = 0  # of the parent task

    def _attributes(self, theta):
        return lambda: self.fitted_at(theta)

    def begin(self) -> None:
        """Begin the root task."""
        if self.root is not None:
            self.root.call_on_fit_task_begin(estimator=self.estimator, **self._kwargs)

    def iteration(self, theta_before, theta) -> bool:
        """Report one solver iteration, from ``theta_before`` to ``theta``.

        scipy's callbacks run at the end of an iteration, so the iteration's
        task is begun (with the weights it started from) and ended (with the
        weights it reached) there, one after the other.

        Returns
        -------
        stop : bool
            Whether a callback asked to stop this level of iterations (the
            solver's run).
        """
        if not self.active:
            return False
        parent = self.parent
        if parent.max_subtasks is not None and self._subtasks >= parent.max_subtasks:
            return False  # pragma: no cover - the caps are the solvers' own limits
        self._subtasks += 1
        task = parent.subcontext(task_name="iteration")
        task.call_on_fit_task_begin(
            estimator=self.estimator,
            reconstruction_attributes=self._attributes(theta_before),
            **self._kwargs,
        )
        return task.call_on_fit_task_end(
            estimator=self.estimator,
            reconstruction_attributes=self._attributes(theta),
            **self._kwargs,
        )

    def begin_round(self, max_iter: int | None) -> None:
        """Begin a re-estimation task of at most ``max_iter`` iterations."""
        if self.active:
            self.parent = self.root.subcontext(
                task_name="reestimation", max_subtasks=max_iter
            )
            self._subtasks = 0
            self.parent.call_on_fit_task_begin(estimator=self.estimator, **self._kwargs)

    def end_round(self, theta) -> bool:
        """End the re-estimation task, at the weights ``theta`` it reached.

        Returns
        -------
        stop : bool
            Whether a callback asked to stop the re-estimations.
        """
        if not self.active or self.parent is self.root:
            return False
        task, self.parent = self.parent, self.root
        return task.call_on_fit_task_end(
            estimator=self.estimator,
            reconstruction_attributes=self._attributes(theta),
            **self._kwargs,
        )

    def end(self) -> bool:
        """End the root task: the estimator is fitted."""
        if self.root is None:
            return False
        return self.root.call_on_fit_task_end(
            estimator=self.estimator, reconstruction_attributes={}, **self._kwargs
        )
