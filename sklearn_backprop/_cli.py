"""The main job: tune a Backprop estimator by grid search, compare it like for like.

Run as ``python -m sklearn_backprop``. By default the job uses scikit-learn's
bundled handwritten-digits data; ``--dataset NAME`` picks another bundled data
set (``diabetes`` is a regression one), and ``--data FILE.csv --target COLUMN``
runs it on a CSV file whose first row names the columns, every column but the
target being numeric. The delimiter (``,``, ``;`` or tab) is detected unless
``--sep`` gives it.

``--task auto`` (the default) treats the target as a regression target when it
is numeric and either has non-integer values or has values seen only once,
which cannot be classes that are both trained and tested; otherwise as class
labels. ``--task classification`` or ``--task regression`` overrides it.

The job

1. splits the data into a training set and a held-out test set (25 %,
   ``random_state=0``, stratified for classification);
2. tunes ``alpha`` and ``hidden_layer_sizes`` of
   ``Pipeline(StandardScaler, BackpropClassifier(random_state=0))`` by
   :class:`~sklearn.model_selection.GridSearchCV` on the training set and
   prints every candidate's cross-validated accuracy; for regression the
   estimator is :class:`~sklearn_backprop.BackpropRegressor` inside a
   :class:`~sklearn.compose.TransformedTargetRegressor` that standardises the
   target, and the score is R²;
3. prints the best parameters and the held-out score of the refit best
   pipeline;
4. compares three estimators in the same pipeline, fitted on the same
   repeated cross-validation folds of the training set and once on the whole
   training set: the tuned Backprop estimator; the scikit-learn MLP with
   ``solver="lbfgs"`` and the same activation, ``hidden_layer_sizes``,
   ``alpha``, ``max_iter`` and ``tol``; and the scikit-learn MLP at its
   defaults (``adam``). Each row prints its settings, the mean ± standard
   deviation of its CV score, its held-out score, its fit time and how many
   of its fits converged.

BLAS runs on one thread: these matrices are small, and on a busy machine a
second BLAS thread makes fits many times slower rather than faster. Solver
ConvergenceWarnings are counted and reported in one line, naming the grid
candidates and folds that did not converge, rather than shown one by one.

Examples
--------
::

    python -m sklearn_backprop
    python -m sklearn_backprop --dataset diabetes
    python -m sklearn_backprop --data iris.csv --target species --cv 5
    python -m sklearn_backprop --data house.csv --target price --sep ';'
"""

import argparse
import contextlib
import csv
import io
import os
import signal
import statistics
import sys
import textwrap
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import get_scorer
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    StratifiedKFold,
    train_test_split,
)
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import type_of_target
from threadpoolctl import threadpool_limits

from sklearn_backprop._classifier import BackpropClassifier
from sklearn_backprop._regressor import BackpropRegressor

TEST_SIZE = 0.25
RANDOM_STATE = 0
GRID = {
    "alpha": [0.1, 1.0, 10.0],
    "hidden_layer_sizes": [(25,), (50,)],
}
# Parameters every comparison row prints, in this order.
SHOWN_PARAMS = (
    "hidden_layer_sizes",
    "activation",
    "alpha",
    "solver",
    "max_iter",
    "tol",
    "random_state",
)
N_REPEATS = 2  # the comparison's CV is --cv folds, repeated this many times
DATASETS: dict[str, Callable] = {
    "digits": load_digits,
    "iris": load_iris,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "diabetes": load_diabetes,
}
DELIMITERS = ",;\t"


class DataError(Exception):
    """Unusable input data; the message is shown to the user as one line."""


@dataclass(frozen=True)
class Task:
    """What differs between the classification and the regression job."""

    name: str
    ours: type
    mlp: type
    metric: str
    scoring: str

    def pipeline(self, net: BaseEstimator) -> Pipeline:
        """``StandardScaler`` on X, then net; for regression y standardised too."""
        if self.name == "regression":
            net = TransformedTargetRegressor(
                regressor=net, transformer=StandardScaler()
            )
        return Pipeline([("scale", StandardScaler()), ("net", net)])

    @property
    def prefix(self) -> str:
        """Prefix of the network's parameters in :meth:`pipeline`."""
        return "net__regressor__" if self.name == "regression" else "net__"

    @staticmethod
    def network(pipeline: Pipeline) -> BaseEstimator:
        """The fitted network inside a fitted :meth:`pipeline`."""
        net = pipeline["net"]
        return net.regressor_ if isinstance(net, TransformedTargetRegressor) else net

    def describe(self, net: str) -> str:
        """The pipeline of :meth:`pipeline`, in words, around net."""
        if self.name == "regression":
            net = f"TransformedTargetRegressor({net}, transformer=StandardScaler)"
        return f"StandardScaler -> {net}"


CLASSIFICATION = Task(
    "classification", BackpropClassifier, MLPClassifier, "accuracy", "accuracy"
)
REGRESSION = Task("regression", BackpropRegressor, MLPRegressor, "R²", "r2")


@dataclass(frozen=True)
class Table:
    """Features and raw target values read from a CSV file."""

    X: np.ndarray
    y: np.ndarray
    delimiter: str


def sniff_delimiter(text: str) -> str | None:
    """The delimiter, among comma, semicolon and tab, of CSV text.

    Parameters
    ----------
    text : str
        The file's text; its first 20 non-blank lines are examined.

    Returns
    -------
    delimiter : str or None
        ``","``, ``";"`` or ``"\\t"``; None if none of them is used
        consistently.

    Examples
    --------
    >>> sniff_delimiter("a;b;y\\n1,5;2;x\\n3;4;z\\n")
    ';'
    >>> sniff_delimiter("a\\tb\\n1\\t2\\n")
    '\\t'
    >>> sniff_delimiter("y\\n1\\n2\\n") is None
    True
    """
    lines = [line for line in text.splitlines() if line.strip()][:20]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        return None


def _sep_option(delimiter: str) -> str:
    """How to write a delimiter as the argument of ``--sep`` in a shell."""
    return "tab" if delimiter == "\t" else repr(delimiter)


def read_csv(path: str, target: str, sep: str | None = None) -> Table:
    """Read features and target values from a CSV file with a header row.

    Parameters
    ----------
    path : str
        CSV file, UTF-8 (a byte-order mark is allowed). Blank lines are skipped.
    target : str
        Name of the target column; every other column is a feature and must
        hold finite numbers.
    sep : str, default=None
        Field delimiter; None detects comma, semicolon or tab, and falls back
        to comma.

    Returns
    -------
    table : Table
        ``X`` of shape (n_samples, n_features), float64; ``y`` of shape
        (n_samples,), the target values as strings, surrounding whitespace
        removed; and the ``delimiter`` used.

    Raises
    ------
    DataError
        If the file cannot be read or parsed, is empty, lacks the target
        column or a feature column, or holds a missing, non-numeric or
        non-finite feature value or a missing target value.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            text = file.read()
        delimiter = sep or sniff_delimiter(text) or ","
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows = [(reader.line_num, row) for row in reader if row]
    except OSError as exc:
        raise DataError(f"cannot read {path!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path!r} is not UTF-8 text") from None
    except csv.Error as exc:
        raise DataError(f"{path!r} is not valid CSV: {exc}") from None
    if not rows:
        raise DataError(f"{path!r} is empty")
    header = [name.strip() for name in rows[0][1]]
    if header.count(target) != 1:
        if target in header:
            raise DataError(f"column {target!r} appears more than once in {path!r}")
        how = "from --sep" if sep else "detected; --sep sets another"
        hint = ""
        others = [d for d in DELIMITERS if d != delimiter and d in rows[0][1][0]]
        if len(header) == 1 and others:
            hint = f"; try --sep {_sep_option(others[0])}"
        raise DataError(
            f"no column {target!r} in {path!r} read with delimiter {delimiter!r} "
            f"({how}); its columns are: {', '.join(header)}{hint}"
        )
    if len(header) < 2:
        raise DataError(f"{path!r} has no feature columns besides {target!r}")
    if len(rows) < 2:
        raise DataError(f"{path!r} has a header but no data rows")

    t = header.index(target)
    features = [name for name in header if name != target]
    X = np.empty((len(rows) - 1, len(features)))
    y = []
    for i, (line, row) in enumerate(rows[1:]):
        if len(row) != len(header):
            raise DataError(
                f"line {line} of {path!r} has {len(row)} fields, the header "
                f"{len(header)}"
            )
        label = row.pop(t).strip()
        if not label:
            raise DataError(f"missing {target!r} value on line {line} of {path!r}")
        y.append(label)
        for j, (name, value) in enumerate(zip(features, row, strict=True)):
            if not value.strip():
                raise DataError(
                    f"missing value in column {name!r} on line {line} of {path!r}"
                )
            try:
                X[i, j] = float(value)
            except ValueError:
                hint = ""
                with contextlib.suppress(ValueError):
                    float(value.replace(",", "."))
                    hint = " (decimal commas are not read: write 1.5, not 1,5)"
                raise DataError(
                    f"non-numeric value {value.strip()!r} in column {name!r} on "
                    f"line {line} of {path!r}{hint}"
                ) from None
            if not np.isfinite(X[i, j]):
                raise DataError(
                    f"non-finite value {value.strip()!r} in column {name!r} on "
                    f"line {line} of {path!r}"
                )
    return Table(X, np.asarray(y), delimiter)


def _as_numbers(y: np.ndarray) -> np.ndarray | None:
    """y as finite float64, or None if a value is not a finite number."""
    try:
        numbers = np.asarray(y, dtype=np.float64)
    except ValueError:
        return None
    return numbers if np.isfinite(numbers).all() else None


def choose_task(y: np.ndarray, task: str) -> tuple[Task, np.ndarray, str]:
    """The job's task for a target, the target in that task's form, and why.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Target values: strings from a CSV file, or numbers.
    task : {"auto", "classification", "regression"}
        The ``--task`` option. ``"auto"`` picks regression for a numeric
        target that :func:`~sklearn.utils.multiclass.type_of_target` calls
        continuous, or whose values include more than two distinct ones
        with some seen only once (they cannot be classes both trained and
        tested); classification otherwise.

    Returns
    -------
    task : Task
        :data:`CLASSIFICATION` or :data:`REGRESSION`.
    y : ndarray of shape (n_samples,)
        The target unchanged for classification, as float64 for regression.
    reason : str
        Why this task, for the report.

    Raises
    ------
    DataError
        If regression is asked for and a target value is not a finite number.

    Examples
    --------
    >>> import numpy as np
    >>> choose_task(np.array(["1.5", "2", "3"]), "auto")[2]
    'auto: numeric target with non-integer values; --task overrides'
    >>> choose_task(np.array(["a", "b", "a", "b"]), "auto")[0].name
    'classification'
    """
    numbers = _as_numbers(y)
    if task == "regression":
        if numbers is None:
            bad = next(v for v in y if _as_numbers(np.array([v])) is None)
            raise DataError(
                f"--task regression needs a numeric target; it holds {bad!r}"
            )
        return REGRESSION, numbers, "--task regression"
    if task == "classification":
        return CLASSIFICATION, y, "--task classification"
    if numbers is not None:
        if type_of_target(numbers).startswith("continuous"):
            why = "numeric target with non-integer values"
            return REGRESSION, numbers, f"auto: {why}; --task overrides"
        values, counts = np.unique(numbers, return_counts=True)
        n_once = int((counts == 1).sum())
        if values.size > 2 and n_once:
            why = (
                f"numeric target with {values.size} distinct values, {n_once} of "
                "them seen only once"
            )
            return REGRESSION, numbers, f"auto: {why}; --task overrides"
    n_classes = np.unique(y).size
    return CLASSIFICATION, y, f"auto: {n_classes} distinct labels; --task overrides"


def split(X: np.ndarray, y: np.ndarray, cv: int, task: Task) -> list[np.ndarray]:
    """Train/test split that leaves enough for ``cv`` folds.

    Stratified for classification, so that every class is on both sides.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Features.
    y : ndarray of shape (n_samples,)
        Class labels, or numeric targets for regression.
    cv : int
        Number of cross-validation folds the training set must support.
    task : Task
        :data:`CLASSIFICATION` or :data:`REGRESSION`.

    Returns
    -------
    X_train, X_test, y_train, y_test : ndarray
        The split, as :func:`~sklearn.model_selection.train_test_split` returns it.

    Raises
    ------
    DataError
        For classification, if y has fewer than 2 classes, the data cannot be
        split with every class on both sides, or a class has fewer than ``cv``
        training samples; for regression, if y is constant or there are too
        few samples for ``cv`` folds of 2 samples and a test set of 2.
    """
    if task is REGRESSION:
        if np.ptp(y) == 0:
            raise DataError(f"the target is constant ({y[0]:g}); nothing to regress")
        n_test = int(np.ceil(TEST_SIZE * y.size))
        if y.size - n_test < 2 * cv or n_test < 2:
            raise DataError(
                f"{y.size} samples are too few for a test set and {cv}-fold "
                "cross-validation; lower --cv or add data"
            )
        return train_test_split(X, y, test_size=TEST_SIZE, random_state=RANDOM_STATE)

    classes = np.unique(y)
    if classes.size < 2:
        raise DataError(
            f"the target has only one class ({classes[0].item()!r}); at least 2 are "
            "needed"
        )
    numeric = _as_numbers(y) is not None
    regress = "; if the target is a quantity, pass --task regression" if numeric else ""
    once = classes[np.unique(y, return_counts=True)[1] == 1]
    if once.size:
        shown = ", ".join(repr(c.item()) for c in once[:5])
        raise DataError(
            f"{once.size} of the {classes.size} classes have a single sample "
            f"({shown}{', ...' if once.size > 5 else ''}), too few to be both "
            f"trained and tested{regress}"
        )
    try:
        parts = train_test_split(
            X, y, test_size=TEST_SIZE, stratify=y, random_state=RANDOM_STATE
        )
    except ValueError as exc:
        message = " ".join(str(exc).split())
        raise DataError(
            f"cannot split the data into train and test: {message}{regress}"
        ) from None
    labels, counts = np.unique(parts[2], return_counts=True)
    if counts.min() < cv:
        rarest = labels[counts.argmin()].item()
        raise DataError(
            f"class {rarest!r} has only {counts.min()} training samples, too few "
            f"for {cv}-fold cross-validation; lower --cv or add data"
        )
    return parts


@contextlib.contextmanager
def counting_convergence_warnings() -> Iterator[list[str]]:
    """Collect ConvergenceWarnings instead of showing them; show the rest as usual.

    Yields
    ------
    caught : list of str
        Filled with the message of every ConvergenceWarning raised inside the
        ``with`` block.
    """
    caught: list[str] = []
    with warnings.catch_warnings():
        show = warnings.showwarning

        def hook(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, ConvergenceWarning):
                caught.append(str(message))
            else:
                show(message, category, filename, lineno, file, line)

        warnings.simplefilter("always", ConvergenceWarning)
        warnings.showwarning = hook
        yield caught


def format_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], n_left: int = 0
) -> str:
    """Align columns under a header and a rule.

    Parameters
    ----------
    header : sequence of str
        Column titles.
    rows : sequence of sequence of str
        Cells, already formatted.
    n_left : int, default=0
        Number of leading columns to left-justify; the others are
        right-justified.

    Returns
    -------
    table : str
        Header, rule and rows, one line each.

    Examples
    --------
    >>> print(format_table(["name", "n"], [["a", "10"], ["bcd", "2"]], n_left=1))
    name   n
    ----  --
    a     10
    bcd    2
    """
    widths = [max(map(len, column)) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) if j < n_left else cell.rjust(width)
            for j, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _format_param(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def _format_params(params: dict) -> str:
    return ", ".join(f"{key}={_format_param(value)}" for key, value in params.items())


def grid_table(cv_results: dict, prefix: str, metric: str) -> str:
    """Candidates of a grid search, best first, as an aligned table.

    Parameters
    ----------
    cv_results : dict
        ``cv_results_`` of a fitted :class:`~sklearn.model_selection.GridSearchCV`.
    prefix : str
        Prefix of the parameter names to strip, such as ``"net__"``.
    metric : str
        Name of the score, for the header.

    Returns
    -------
    table : str
        Rank, parameters, mean and standard deviation of the CV score and
        mean fit time of each candidate.
    """
    names = [key.removeprefix(prefix) for key in cv_results["params"][0]]
    header = ["rank", *names, f"mean CV {metric}", "std", "mean fit time"]
    rows = [
        [
            str(cv_results["rank_test_score"][i]),
            *map(_format_param, cv_results["params"][i].values()),
            f"{cv_results['mean_test_score'][i]:.4f}",
            f"{cv_results['std_test_score'][i]:.4f}",
            f"{cv_results['mean_fit_time'][i]:.3f} s",
        ]
        for i in np.argsort(cv_results["rank_test_score"], kind="stable")
    ]
    return format_table(header, rows)


class ConvergenceLedger:
    """A grid-search scorer that also notes which fits did not converge.

    :class:`~sklearn.model_selection.GridSearchCV` scores each fit right after
    making it (the search runs in this process, ``n_jobs=None``), so the
    ConvergenceWarnings caught since the previous call are those of the fit
    being scored. Its fold is found from its test rows.

    Parameters
    ----------
    caught : list of str
        The list :func:`counting_convergence_warnings` fills.
    X : ndarray of shape (n_samples, n_features)
        The features the search is fitted on.
    folds : list of (train, test) index arrays
        The search's ``cv``.
    scoring : str
        Name of the scorer to delegate the score to.
    names : dict of str to str
        Pipeline parameter names of the grid, mapped to the names to report.
    """

    def __init__(self, caught, X, folds, scoring, names):
        self.caught = caught
        self.seen = 0
        self.fold_of = {X[test].tobytes(): k for k, (_, test) in enumerate(folds, 1)}
        self.scorer = get_scorer(scoring)
        self.names = names
        self.unconverged: list[tuple[str, str]] = []

    def note(self, estimator, where: str) -> None:
        """Record estimator at ``where`` if it warned since the previous note."""
        if len(self.caught) > self.seen:
            params = estimator.get_params()
            described = _format_params(
                {name: params[key] for key, name in self.names.items()}
            )
            self.unconverged.append((described, where))
        self.seen = len(self.caught)

    def __call__(self, estimator, X, y) -> float:
        self.note(estimator, f"fold {self.fold_of.get(X.tobytes(), '?')}")
        return self.scorer(estimator, X, y)

    def summary(self) -> str:
        """The unconverged fits, grouped by parameters, in one line.

        Examples
        --------
        >>> ledger = ConvergenceLedger([], np.zeros((2, 1)), [], "accuracy", {})
        >>> ledger.unconverged = [("alpha=1", "fold 1"), ("alpha=1", "fold 3"),
        ...                       ("alpha=10", "refit")]
        >>> ledger.summary()
        'alpha=1 (folds 1, 3); alpha=10 (refit)'
        """
        groups: dict[str, list[str]] = {}
        for params, where in self.unconverged:
            groups.setdefault(params, []).append(where)
        parts = []
        for params, places in groups.items():
            folds = [p.removeprefix("fold ") for p in places if p.startswith("fold")]
            named = [p for p in places if not p.startswith("fold")]
            if len(folds) > 1:
                named.insert(0, f"folds {', '.join(folds)}")
            elif folds:
                named.insert(0, f"fold {folds[0]}")
            parts.append(f"{params} ({', '.join(named)})")
        return "; ".join(parts)


@dataclass
class Result:
    """One comparison row's scores, fit times, iterations and convergence."""

    cv_scores: list[float]
    test_score: float
    fit_times: list[float]
    iterations: list[int]
    n_converged: int
    n_fits: int


def evaluate(
    pipeline: Pipeline,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
) -> Result:
    """Fit fresh clones on each fold and on the whole training set; score them.

    Parameters
    ----------
    pipeline : Pipeline
        Template, as :meth:`Task.pipeline` builds it; each fit is of a fresh
        clone.
    folds : sequence of (train, test) index arrays
        Cross-validation folds of the training set.
    X_train, y_train : ndarray
        Training set.
    X_test, y_test : ndarray
        Held-out test set.

    Returns
    -------
    result : Result
        CV scores and fit times, one per fold; the held-out score of the fit
        on the whole training set; the iterations of the CV fits; and how many
        of all the fits ended without a ConvergenceWarning.
    """
    scores, times, iterations, n_converged = [], [], [], 0
    for train, test in [*folds, (None, None)]:
        X_fit, y_fit = (
            (X_train, y_train) if train is None else (X_train[train], y_train[train])
        )
        fitted = clone(pipeline)
        with counting_convergence_warnings() as caught:
            start = time.perf_counter()
            fitted.fit(X_fit, y_fit)
            elapsed = time.perf_counter() - start
        n_converged += not caught
        if train is None:
            test_score = fitted.score(X_test, y_test)
        else:
            scores.append(fitted.score(X_train[test], y_train[test]))
            times.append(elapsed)
            iterations.append(Task.network(fitted).n_iter_)
    return Result(scores, test_score, times, iterations, n_converged, len(folds) + 1)


def _mean_std(values: Sequence[float], digits: int, unit: str = "") -> str:
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}{unit}"


def run_job(
    X: np.ndarray, y: np.ndarray, description: str, cv: int, task: str = "auto"
) -> None:
    """Grid-search a Backprop estimator on X, y and compare it with scikit-learn's MLP.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Features.
    y : ndarray of shape (n_samples,)
        Target: class labels or numbers.
    description : str
        Name of the data set, for the report.
    cv : int
        Number of cross-validation folds (stratified for classification).
    task : {"auto", "classification", "regression"}, default="auto"
        See :func:`choose_task`.

    Raises
    ------
    DataError
        If the target does not suit the task or the data cannot be split for
        testing and cross-validation.
    """
    job, y, reason = choose_task(y, task)
    regression = job is REGRESSION
    X_train, X_test, y_train, y_test = split(X, y, cv, job)
    what = (
        f"numeric target (mean {y.mean():.4g}, std {y.std():.4g})"
        if regression
        else f"{np.unique(y).size} classes"
    )
    print(f"Data: {description}: {X.shape[0]} samples, {X.shape[1]} features, {what}")
    print(f"Task: {job.name} ({reason})")
    print(
        f"Split: {y_train.size} train / {y_test.size} test "
        f"({'shuffled' if regression else 'stratified'}, "
        f"random_state={RANDOM_STATE})"
    )

    ours = job.ours(random_state=RANDOM_STATE)
    grid = {job.prefix + key: values for key, values in GRID.items()}
    splitter = KFold(cv) if regression else StratifiedKFold(cv)
    search_folds = list(splitter.split(X_train, y_train))
    with counting_convergence_warnings() as caught:
        ledger = ConvergenceLedger(
            caught,
            X_train,
            search_folds,
            job.scoring,
            {key: key.removeprefix(job.prefix) for key in sorted(grid)},
        )
        search = GridSearchCV(
            job.pipeline(ours),
            grid,
            scoring=ledger,
            cv=search_folds,
            error_score="raise",
        )
        search.fit(X_train, y_train)
        ledger.note(search.best_estimator_, "refit")
    tuned = Task.network(search.best_estimator_)
    print(
        f"\nGrid search of {job.describe(f'{job.ours.__name__}(random_state=0)')}, "
        f"{cv}-fold CV:"
    )
    print(grid_table(search.cv_results_, job.prefix, job.metric))
    if ledger.unconverged:
        n_fits = len(search.cv_results_["params"]) * cv + 1
        print(
            f"ConvergenceWarning: {len(ledger.unconverged)} of {n_fits} fits "
            "(refit included) "
            f"ended without converging (max_iter={tuned.max_iter}); did not "
            f"converge: {ledger.summary()}."
        )

    best = {key.removeprefix(job.prefix): v for key, v in search.best_params_.items()}
    print(f"\nBest parameters: {_format_params(best)}")
    print(f"Best mean CV {job.metric}: {search.best_score_:.4f}")
    held_out = search.best_estimator_.score(X_test, y_test)
    print(f"Held-out test {job.metric}: {held_out:.4f}")

    same = {key: getattr(tuned, key) for key in ("activation", "max_iter", "tol")}
    contenders = {
        f"{job.ours.__name__}, tuned": clone(tuned),
        f"{job.mlp.__name__}, same settings": job.mlp(
            solver="lbfgs", random_state=RANDOM_STATE, **{**same, **best}
        ),
        f"{job.mlp.__name__}(), defaults": job.mlp(random_state=RANDOM_STATE),
    }
    repeated = RepeatedKFold if regression else RepeatedStratifiedKFold
    folds = list(
        repeated(n_splits=cv, n_repeats=N_REPEATS, random_state=RANDOM_STATE).split(
            X_train, y_train
        )
    )
    rows, settings = [], []
    for name, net in contenders.items():
        result = evaluate(job.pipeline(net), folds, X_train, y_train, X_test, y_test)
        params = net.get_params()
        settings.append(
            f"{type(net).__name__}("
            + _format_params({key: params[key] for key in SHOWN_PARAMS})
            + ")"
        )
        rows.append(
            [
                name,
                _mean_std(result.cv_scores, 4),
                f"{result.test_score:.4f}",
                _mean_std(result.fit_times, 3, " s"),
                f"{statistics.median(result.iterations):g}",
                f"{result.n_converged} of {result.n_fits}",
            ]
        )
    n_fits = len(folds) + 1
    pipeline = job.describe("the row's estimator")
    tuned_names = " and ".join(GRID)
    print()
    print(
        textwrap.fill(
            f"Comparison: every row is {pipeline}, "
            f"fitted on the same {len(folds)} folds ({cv}-fold "
            f"{'' if regression else 'stratified '}CV of the training set, repeated "
            f"{N_REPEATS} times, random_state={RANDOM_STATE}), then on the whole "
            f"training set and scored on the held-out test set. CV {job.metric} and "
            f"fit time: mean ± std over the {len(folds)} folds; iterations: median "
            "over them; converged: fits without a ConvergenceWarning, of all "
            f"{n_fits}. BLAS on one thread. Each row's settings are printed under "
            f"it; parameters not shown are at their defaults. {tuned_names} "
            f"were tuned for {job.ours.__name__} above; "
            f"{job.mlp.__name__}(solver='lbfgs') reuses them unchanged.",
            width=88,
        )
    )
    header = [
        "estimator",
        f"CV {job.metric}",
        f"held-out {job.metric}",
        "fit time",
        "iterations",
        "converged",
    ]
    lines = format_table(header, rows, n_left=1).splitlines()
    print()
    print("\n".join(lines[:2]))
    for line, setting in zip(lines[2:], settings, strict=True):
        print(f"{line}\n    {setting}")


def _cv_folds(text: str) -> int:
    try:
        folds = int(text)
    except ValueError:
        folds = 0
    if folds < 2:
        raise argparse.ArgumentTypeError(f"needs an integer >= 2, got {text!r}")
    return folds


def _separator(text: str) -> str:
    if text.lower() in ("tab", "\\t"):
        return "\t"
    if len(text) != 1 or text in '\r\n"':
        raise argparse.ArgumentTypeError(
            f"needs one character such as ',' ';' or 'tab', got {text!r}"
        )
    return text


def build_parser() -> argparse.ArgumentParser:
    """Command-line parser of the main job.

    Returns
    -------
    parser : argparse.ArgumentParser
        Options ``--data``, ``--target``, ``--sep``, ``--dataset``, ``--task``
        and ``--cv``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_backprop",
        description=(
            "Tune BackpropClassifier or BackpropRegressor (alpha, "
            "hidden_layer_sizes) by grid search, then compare it with "
            "scikit-learn's MLP at the same settings and at its defaults, over "
            "repeated CV folds and a held-out test set. Uses scikit-learn's "
            "digits data unless --dataset or --data is given."
        ),
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--data",
        metavar="FILE.csv",
        help="CSV file with a header row; all columns but the target numeric",
    )
    source.add_argument(
        "--dataset",
        choices=list(DATASETS),
        help="a data set bundled with scikit-learn (default: digits)",
    )
    parser.add_argument("--target", metavar="COLUMN", help="target column of --data")
    parser.add_argument(
        "--sep",
        type=_separator,
        metavar="CHAR",
        help="field delimiter of --data, such as ';' or tab "
        "(default: detect comma, semicolon or tab)",
    )
    parser.add_argument(
        "--task",
        choices=["auto", "classification", "regression"],
        default="auto",
        help="auto (the default) picks regression for a numeric target with "
        "non-integer values or values seen only once, classification otherwise",
    )
    parser.add_argument(
        "--cv",
        type=_cv_folds,
        default=3,
        metavar="K",
        help="number of cross-validation folds (default: 3)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the main job from the command line.

    Parameters
    ----------
    argv : sequence of str, default=None
        Arguments without the program name; None reads ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success, 2 on a usage error or unusable data (after one
        ``error: ...`` line on stderr).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if (args.data is None) != (args.target is None):
            parser.error("--data and --target must be given together")
        if args.sep is not None and args.data is None:
            parser.error("--sep needs --data")
    except SystemExit as exc:  # --help, or a usage error argparse has reported
        return int(exc.code or 0)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            if args.data is None:
                name = args.dataset or "digits"
                X, y = DATASETS[name](return_X_y=True)
                run_job(X, y, f"scikit-learn {name}", args.cv, args.task)
            else:
                table = read_csv(args.data, args.target, args.sep)
                how = "from --sep" if args.sep else "detected"
                description = f"{args.data} (delimiter {table.delimiter!r}, {how})"
                run_job(table.X, table.y, description, args.cv, args.task)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    """:func:`main` for ``python -m``: exits quietly if stdout's reader goes away.

    As in ``python -m sklearn_backprop | head -2``: instead of a
    BrokenPipeError traceback, the process stops writing and exits with status
    141 (128 + SIGPIPE, what a shell reports for a Unix tool stopped that way;
    1 where there is no SIGPIPE).

    Parameters
    ----------
    argv : sequence of str, default=None
        Arguments without the program name; None reads ``sys.argv[1:]``.

    Returns
    -------
    status : int
        :func:`main`'s status, or 141 after a broken pipe.
    """
    try:
        status = main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at devnull so that
        # flush cannot fail and print a second traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE if hasattr(signal, "SIGPIPE") else 1
    return status
