"""scikit-learn's callback API (SLEP023, sklearn.callback, scikit-learn >= 1.9).

Every solver reports each of its iterations once, as one ``iteration`` task,
to the callbacks set with ``set_callbacks`` (the same iterations that
``n_iter_`` and our ``callback=`` count); ``alpha="evidence"`` adds one
``reestimation`` task per re-estimation of α; meta-estimators propagate their
callbacks; with an older scikit-learn ``set_callbacks`` is absent and every
fit runs as before.
"""

import importlib.util
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conftest import LEAST_SQUARES_SOLVERS, SOLVERS
from sklearn_backprop import BackpropClassifier, BackpropRegressor, _callbacks


@pytest.fixture
def sk_callback():
    """The sklearn.callback module; skips the test without it (< 1.9)."""
    return pytest.importorskip("sklearn.callback")


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.05 * rng.normal(size=80)
    return X, y


def _path(context):
    """(task_name, task_id) from the root task down to ``context``."""
    path = []
    while context is not None:
        path.append((context.task_name, context.task_id))
        context = context.parent
    return tuple(reversed(path))


class Recorder:
    """Records every hook call; ``stop(context)`` is what task ends return.

    Kept in this process (the fits below run in it), so no transport is
    needed. With ``max_propagation_depth`` set it is auto-propagated by
    meta-estimators.
    """

    def __init__(self, stop=None):
        self.events = []
        self.stop = stop

    def setup(self, estimator, context):
        self.events.append(("setup", estimator, context, {}))

    def on_fit_task_begin(
        self,
        estimator,
        context,
        *,
        X=None,
        y=None,
        metadata=None,
        fitted_estimator=None,
    ):
        kwargs = {"X": X, "y": y, "metadata": metadata, "fitted": fitted_estimator}
        self.events.append(("begin", estimator, context, kwargs))

    def on_fit_task_end(
        self,
        estimator,
        context,
        *,
        X=None,
        y=None,
        metadata=None,
        fitted_estimator=None,
    ):
        kwargs = {"X": X, "y": y, "metadata": metadata, "fitted": fitted_estimator}
        self.events.append(("end", estimator, context, kwargs))
        return bool(self.stop is not None and self.stop(context))

    def teardown(self, estimator, context):
        self.events.append(("teardown", estimator, context, {}))

    def hooks(self, hook, task_name=None):
        return [
            event
            for event in self.events
            if event[0] == hook
            and (task_name is None or event[2].task_name == task_name)
        ]


class AutoRecorder(Recorder):
    """A Recorder that meta-estimators propagate to their sub-estimators."""

    max_propagation_depth = None


def _fit_recorded(estimator, X, y, recorder, converges=False, **fit_params):
    """Fit with ``recorder`` set and our own ``callback=`` counting iterations;
    ``converges``: a ConvergenceWarning is an error, else it is ignored."""
    seen = []
    estimator.set_params(callback=lambda progress: seen.append(progress.iteration))
    estimator.set_callbacks(recorder)
    with warnings.catch_warnings():
        warnings.simplefilter("error" if converges else "ignore", ConvergenceWarning)
        estimator.fit(X, y, **fit_params)
    return seen


def _check_iterations(recorder, estimator, seen, X):
    """Each iteration begun and ended once, as many as n_iter_ and callback=."""
    begins = recorder.hooks("begin", "iteration")
    ends = recorder.hooks("end", "iteration")
    assert len(ends) == estimator.n_iter_ == len(seen) == len(estimator.loss_curve_)
    assert seen == list(range(1, estimator.n_iter_ + 1))
    assert [e[2] for e in begins] == [e[2] for e in ends]  # the same tasks
    by_parent = {}
    for e in ends:  # numbered 0, 1, ... within each parent task
        by_parent.setdefault(id(e[2].parent), []).append(e[2].task_id)
    assert all(ids == list(range(len(ids))) for ids in by_parent.values())
    # The last iteration's fitted estimator predicts as the fitted one.
    assert_allclose(ends[-1][3]["fitted"].predict(X), estimator.predict(X))


@pytest.mark.parametrize(
    "solver",
    [
        *((BackpropClassifier, name) for name in SOLVERS),
        *((BackpropRegressor, name) for name in SOLVERS + LEAST_SQUARES_SOLVERS),
    ],
    ids=lambda case: f"{case[0].__name__}-{case[1]}",
)
@pytest.mark.parametrize("max_iter", [6, 200])
def test_every_solver_reports_each_iteration_once(
    sk_callback, iris, regression, solver, max_iter
):
    Estimator, name = solver
    X, y = iris if Estimator is BackpropClassifier else regression
    est = Estimator(
        hidden_layer_sizes=(3,), solver=name, max_iter=max_iter, random_state=0
    )
    recorder = Recorder()
    seen = _fit_recorded(est, X, y, recorder)
    _check_iterations(recorder, est, seen, X)
    # One root task out of max_iter iterations (max_nfev for lm and trf).
    (root,) = [e[2] for e in recorder.hooks("begin", "fit")]
    assert root.parent is None and root.max_subtasks == max_iter
    assert len(recorder.hooks("end", "fit")) == 1
    assert [e[2].parent for e in recorder.hooks("end", "iteration")] == [root] * len(
        seen
    )
    assert len(recorder.hooks("setup")) == len(recorder.hooks("teardown")) == 1
    if max_iter == 6:  # every solver runs to its limit here
        assert est.n_iter_ <= 6
    assert not hasattr(est, "_callback_fit_ctx")  # torn down


def test_hooks_get_the_training_data_and_sample_weight(sk_callback, iris):
    X, y = iris
    weights = np.linspace(0.5, 2.0, len(y))
    recorder = Recorder()
    est = BackpropClassifier(hidden_layer_sizes=(3,), max_iter=5, random_state=0)
    _fit_recorded(est, X, y, recorder, sample_weight=weights)
    for _, estimator, _, kwargs in recorder.hooks("end"):
        assert estimator is est
        assert kwargs["X"] is not None and kwargs["X"].shape == X.shape
        assert_allclose(kwargs["metadata"]["sample_weight"], weights)
    # The iteration's begin is at the weights it started from: the first
    # iteration starts at the initial weights, each next where the last ended.
    begins = recorder.hooks("begin", "iteration")
    ends = recorder.hooks("end", "iteration")
    for before, after in zip(begins[1:], ends[:-1], strict=True):
        assert_allclose(
            before[3]["fitted"].predict_proba(X), after[3]["fitted"].predict_proba(X)
        )
    first = clone(est).set_params(max_iter=1, callback=None)
    first.set_callbacks(Recorder())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first.fit(X, y, sample_weight=weights)
    assert_allclose(
        ends[0][3]["fitted"].predict_proba(X), first.predict_proba(X), rtol=1e-12
    )


@pytest.mark.parametrize(
    "Estimator, solver, scoring",
    [
        (BackpropClassifier, "L-BFGS-B", "accuracy"),
        (BackpropClassifier, "TNC", "neg_log_loss"),
        (BackpropRegressor, "lm", "r2"),
        (BackpropRegressor, "trf", "r2"),
    ],
)
def test_scoring_monitor_records_a_score_per_iteration(
    sk_callback, iris, regression, Estimator, solver, scoring
):
    X, y = iris if Estimator is BackpropClassifier else regression
    monitor = sk_callback.ScoringMonitor(scoring=scoring)
    est = Estimator(hidden_layer_sizes=(3,), solver=solver, max_iter=30, random_state=0)
    est.set_callbacks(monitor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    rows = monitor.get_logs().data
    iterations = [row for row in rows if row["task_name"] == "iteration"]
    assert len(iterations) == est.n_iter_
    (fit,) = [row for row in rows if row["task_name"] == "fit"]
    from sklearn.metrics import get_scorer

    final = get_scorer(scoring)(est, X, y)
    assert fit[scoring] == pytest.approx(final)
    assert iterations[-1][scoring] == pytest.approx(final)
    if scoring != "accuracy":  # the fit improves on its first iterate
        assert iterations[-1][scoring] > iterations[0][scoring]


@pytest.mark.parametrize(
    "Estimator, solver",
    [
        (BackpropClassifier, "L-BFGS-B"),
        (BackpropClassifier, "TNC"),
        (BackpropRegressor, "lm"),
        (BackpropRegressor, "trf"),
    ],
)
def test_progress_bar_counts_iterations_out_of_max_iter(
    sk_callback, iris, regression, Estimator, solver, monkeypatch, capsys
):
    pytest.importorskip("rich")
    from sklearn.callback import _progressbar

    messages = []
    send = _progressbar.send

    def recording_send(handle, message):
        messages.append(dict(message))
        send(handle, message)

    monkeypatch.setattr(_progressbar, "send", recording_send)
    X, y = iris if Estimator is BackpropClassifier else regression
    est = Estimator(hidden_layer_sizes=(3,), solver=solver, max_iter=25, random_state=0)
    est.set_callbacks(sk_callback.ProgressBar())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    begins = [m for m in messages if m["event"] == "begin"]
    assert [(m["task_name"], m["max_subtasks"]) for m in begins] == [("fit", 25)]
    ends = [m["path"] for m in messages if m["event"] == "end"]
    assert ends == [[0, i] for i in range(est.n_iter_)] + [[0]]
    out = capsys.readouterr().out
    assert f"{Estimator.__name__} - fit" in out and "100%" in out


@pytest.mark.parametrize("solver", ["L-BFGS-B", "TNC", "lm"])
def test_evidence_fit_has_a_task_per_reestimation(sk_callback, regression, solver):
    X, y = regression
    recorder = Recorder()
    est = BackpropRegressor(
        hidden_layer_sizes=(3,), alpha="evidence", solver=solver, max_iter=60
    ).set_params(random_state=0)
    seen = _fit_recorded(est, X, y, recorder)
    _check_iterations(recorder, est, seen, X)
    (root,) = [e[2] for e in recorder.hooks("begin", "fit")]
    assert root.max_subtasks is None  # the number of re-estimations is not known
    rounds = [e[2] for e in recorder.hooks("end", "reestimation")]
    assert len(rounds) == len(est.evidence_curve_) > 1
    assert [r.parent for r in rounds] == [root] * len(rounds)
    assert [r.task_id for r in rounds] == list(range(len(rounds)))
    # each re-estimation's iterations are its subtasks, within its own limit:
    # the inner fits run 10, 20, 40, ... iterations, up to max_iter
    per_round = [
        sum(e[2].parent is r for e in recorder.hooks("end", "iteration"))
        for r in rounds
    ]
    assert sum(per_round) == est.n_iter_
    assert [r.max_subtasks for r in rounds][:3] == [10, 20, 40]
    assert all(
        n <= r.max_subtasks <= 60 for n, r in zip(per_round, rounds, strict=True)
    )
    # each re-estimation ends with the weights its inner fit reached
    last = recorder.hooks("end", "reestimation")[-1][3]["fitted"]
    assert_allclose(last.predict(X), est.predict(X))


def test_evidence_progress_bar_shows_each_reestimation(sk_callback, regression, capsys):
    pytest.importorskip("rich")
    X, y = regression
    est = BackpropRegressor(hidden_layer_sizes=(3,), alpha="evidence", random_state=0)
    est.set_callbacks(sk_callback.ProgressBar()).fit(X, y)
    out = capsys.readouterr().out
    assert "BackpropRegressor - fit" in out
    for i in range(len(est.evidence_curve_)):
        assert f"BackpropRegressor - reestimation #{i}" in out
    assert f"reestimation #{len(est.evidence_curve_)}" not in out


def test_a_scikit_learn_callback_stops_the_fit(sk_callback, iris):
    X, y = iris
    recorder = Recorder(
        stop=lambda ctx: ctx.task_name == "iteration" and ctx.task_id == 3
    )
    est = BackpropClassifier(hidden_layer_sizes=(3,), max_iter=200, random_state=0)
    seen = _fit_recorded(est, X, y, recorder, converges=True)  # a clean stop
    assert est.n_iter_ == 4 and seen == [1, 2, 3, 4]
    assert len(recorder.hooks("end", "iteration")) == 4
    assert "scikit-learn callback" in est.optimize_result_["message"]
    assert len(recorder.hooks("end", "fit")) == 1


def test_our_callback_stops_the_fit_with_scikit_learn_callbacks_set(sk_callback, iris):
    X, y = iris
    recorder = Recorder()
    est = BackpropClassifier(
        hidden_layer_sizes=(3,), random_state=0, callback=lambda p: p.iteration == 5
    ).set_callbacks(recorder)
    est.fit(X, y)
    assert est.n_iter_ == 5
    assert len(recorder.hooks("end", "iteration")) == 5
    assert len(recorder.hooks("end", "fit")) == len(recorder.hooks("teardown")) == 1


def test_stop_at_a_reestimation_ends_the_evidence_fit(sk_callback, regression):
    X, y = regression
    recorder = Recorder(
        stop=lambda ctx: ctx.task_name == "reestimation" and ctx.task_id == 1
    )
    est = BackpropRegressor(hidden_layer_sizes=(3,), alpha="evidence", random_state=0)
    est.set_callbacks(recorder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    # no "alpha did not settle" warning: the stop was asked for (the inner
    # fit, of at most 20 iterations, may still warn that it did not converge)
    assert not [w for w in caught if "re-estimations" in str(w.message)]
    assert len(est.evidence_curve_) == 2
    assert len(recorder.hooks("end", "reestimation")) == 2
    assert est.alpha_ == est.evidence_curve_[-1][0]
    assert est.n_iter_ == len(recorder.hooks("end", "iteration"))


def test_stop_at_an_iteration_ends_only_that_inner_fit(sk_callback, regression):
    # "stop the current level of iterations": the inner fit, not the
    # re-estimation loop, which goes on
    X, y = regression
    recorder = Recorder(
        stop=lambda ctx: (
            ctx.task_name == "iteration"
            and ctx.parent.task_id == 0
            and ctx.task_id == 2
        )
    )
    est = BackpropRegressor(hidden_layer_sizes=(3,), alpha="evidence", random_state=0)
    seen = _fit_recorded(est, X, y, recorder)
    rounds = [e[2] for e in recorder.hooks("end", "reestimation")]
    assert len(rounds) == len(est.evidence_curve_) > 1
    iterations = [e[2] for e in recorder.hooks("end", "iteration")]
    assert sum(task.parent is rounds[0] for task in iterations) == 3
    assert len(seen) == est.n_iter_ == len(recorder.hooks("end", "iteration"))


def test_pipeline_propagates_callbacks(sk_callback, iris, capsys):
    X, y = iris
    recorder = AutoRecorder()
    pipe = make_pipeline(
        StandardScaler(),
        BackpropClassifier(hidden_layer_sizes=(3,), max_iter=30, random_state=0),
    )
    pipe.set_callbacks(recorder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
    ends = recorder.hooks("end", "iteration")
    assert len(ends) == pipe[-1].n_iter_ > 0
    assert {type(e[1]) for e in ends} == {BackpropClassifier}
    path = _path(ends[0][2])
    assert path[0] == ("fit", 0) and path[-1] == ("iteration", 0)
    assert ends[0][2].parent.source_estimator_name == "Pipeline"
    # the iteration's data is what the final step sees: the scaled X
    assert_allclose(ends[0][3]["X"], pipe[0].transform(X))
    assert not hasattr(pipe[-1], "_skl_callbacks")  # removed after the fit
    if importlib.util.find_spec("rich") is not None:  # ProgressBar needs rich
        pipe.set_callbacks(sk_callback.ProgressBar(max_propagation_depth=None))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipe.fit(X, y)
        out = capsys.readouterr().out
        assert "Pipeline - fit-final-estimator | BackpropClassifier - fit" in out


def test_grid_search_propagates_callbacks(sk_callback, iris):
    X, y = iris
    recorder = AutoRecorder()
    search = GridSearchCV(
        BackpropClassifier(hidden_layer_sizes=(3,), max_iter=15, random_state=0),
        {"alpha": [0.1, 1.0]},
        cv=2,
    ).set_callbacks(recorder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    # Our fits: 2 candidates x 2 folds, and the refit.
    fits = [e for e in recorder.hooks("end", "fit") if type(e[1]) is BackpropClassifier]
    assert len(fits) == 5
    for _, estimator, root, _ in fits:
        assert root.source_estimator_name == "GridSearchCV"
        iterations = [
            e for e in recorder.hooks("end", "iteration") if e[2].parent is root
        ]
        assert len(iterations) == estimator.n_iter_ > 0
    assert len(recorder.hooks("setup")) == len(recorder.hooks("teardown")) == 1


def test_a_failed_fit_tears_callbacks_down(sk_callback, iris):
    X, y = iris
    recorder = Recorder()
    est = BackpropClassifier(solver="lm").set_callbacks(recorder)
    with pytest.raises(ValueError, match="sum of squares"):
        est.fit(X, y)
    assert len(recorder.hooks("setup")) == len(recorder.hooks("teardown")) == 1

    def fail(progress):
        if progress.iteration == 3:
            raise RuntimeError("boom")

    est = BackpropClassifier(hidden_layer_sizes=(3,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    thetas = est.thetas_
    recorder = Recorder()
    est.set_params(callback=fail).set_callbacks(recorder)
    with pytest.raises(RuntimeError, match="boom"):
        est.fit(X, y)
    assert len(recorder.hooks("teardown")) == 1
    assert est.thetas_ is thetas  # the previous fit's state is back
    assert not hasattr(est, "_callback_fit_ctx")


def test_a_failed_fit_stops_the_progress_bar(sk_callback, iris):
    pytest.importorskip("rich")
    from sklearn.callback import _progressbar

    X, y = iris
    est = BackpropClassifier(solver="lm").set_callbacks(sk_callback.ProgressBar())
    with pytest.raises(ValueError):
        est.fit(X, y)
    assert not _progressbar._run_monitors  # its display thread was joined


def test_solver_options_set_the_number_of_iterations_shown(sk_callback, regression):
    X, y = regression
    recorder = Recorder()
    est = BackpropRegressor(
        hidden_layer_sizes=(3,),
        max_iter=5,
        solver_options={"maxiter": 40},
        random_state=0,
    )
    seen = _fit_recorded(est, X, y, recorder)
    assert est.n_iter_ > 5
    _check_iterations(recorder, est, seen, X)
    assert recorder.hooks("begin", "fit")[0][2].max_subtasks == 40
    recorder = Recorder()
    est.set_params(solver="lm", solver_options={"max_nfev": None})
    seen = _fit_recorded(est, X, y, recorder)
    _check_iterations(recorder, est, seen, X)
    assert recorder.hooks("begin", "fit")[0][2].max_subtasks is None


def test_clone_keeps_callbacks_and_a_fit_without_them_reports_nothing(
    sk_callback, iris
):
    X, y = iris
    recorder = Recorder()
    est = BackpropClassifier(hidden_layer_sizes=(3,), max_iter=5, random_state=0)
    copy = clone(est.set_callbacks(recorder))
    assert copy._skl_callbacks == [recorder]
    est.set_callbacks()  # none
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert recorder.events == []


def test_without_the_callback_api_fits_report_nothing(iris, monkeypatch):
    # As with scikit-learn < 1.9, where nothing opens the fit's task.
    X, y = iris
    est = BackpropClassifier(hidden_layer_sizes=(3,), max_iter=5, random_state=0)
    recorder = Recorder()
    if hasattr(est, "set_callbacks"):  # scikit-learn >= 1.9
        est.set_callbacks(recorder)
    monkeypatch.setattr(_callbacks, "AVAILABLE", False)
    seen = []
    est.set_params(callback=lambda p: seen.append(p.iteration))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert seen == [1, 2, 3, 4, 5] and est.n_iter_ == 5
    assert recorder.events == []
    assert not hasattr(est, "_callback_fit_ctx")


def test_set_callbacks_exactly_where_scikit_learn_has_the_callback_api():
    try:
        import sklearn.callback
    except ImportError:  # scikit-learn < 1.9
        assert not _callbacks.AVAILABLE
        assert not hasattr(BackpropClassifier(), "set_callbacks")
        assert not hasattr(BackpropRegressor(), "set_callbacks")
    else:
        assert _callbacks.AVAILABLE
        for Estimator in (BackpropClassifier, BackpropRegressor):
            assert isinstance(Estimator(), sklearn.callback.CallbackSupportMixin)


OLD_SKLEARN = textwrap.dedent(
    """
    import sys, warnings
    import sklearn_backprop, sklearn.callback
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV
    from sklearn.exceptions import ConvergenceWarning
    warnings.simplefilter("ignore", ConvergenceWarning)
    # scikit-learn < 1.9 has no callback API: reimport the package without it
    for name in [m for m in sys.modules if m.startswith("sklearn_backprop")]:
        del sys.modules[name]
    del sklearn.callback.CallbackSupportMixin
    from sklearn_backprop import BackpropClassifier, BackpropRegressor, _callbacks
    assert not _callbacks.AVAILABLE
    assert not hasattr(BackpropClassifier(), "set_callbacks")
    X, y = load_iris(return_X_y=True)
    clf = BackpropClassifier(hidden_layer_sizes=(3,), max_iter=20, random_state=0)
    assert clf.fit(X, y).n_iter_ == 20
    search = GridSearchCV(clf, {"alpha": [0.1, 1.0]}, cv=2).fit(X, y)
    reg = BackpropRegressor(hidden_layer_sizes=(2,), alpha="evidence", solver="lm")
    reg.fit(X[:, :3], X[:, 3])
    print("ok", reg.n_iter_ > 0, search.best_estimator_.n_iter_)
    """
)


@pytest.mark.slow
def test_an_older_scikit_learn_has_no_set_callbacks_and_fits(sk_callback):
    # Simulated in a fresh interpreter: sklearn.callback without its mixin.
    done = subprocess.run(
        [sys.executable, "-c", OLD_SKLEARN], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", "True", "20"]
