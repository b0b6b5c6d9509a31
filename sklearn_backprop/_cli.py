"""The main job: tune BackpropClassifier by grid search, compare with MLPClassifier.

Run as ``python -m sklearn_backprop``. By default the job uses scikit-learn's
bundled handwritten-digits data; ``--data FILE.csv --target COLUMN`` runs it on
a CSV file whose first row names the columns, every column but the target
being numeric and the target holding class labels (strings or numbers).

The job

1. splits the data into a stratified training set and a held-out test set
   (25 %, ``random_state=0``);
2. tunes ``alpha`` and ``hidden_layer_sizes`` of
   ``Pipeline(StandardScaler, BackpropClassifier(random_state=0))`` by
   :class:`~sklearn.model_selection.GridSearchCV` on the training set and
   prints every candidate's cross-validated accuracy;
3. prints the best parameters and the held-out accuracy of the refit best
   pipeline;
4. fits the same pipeline with
   :class:`~sklearn.neural_network.MLPClassifier` (``solver="lbfgs"``, the best
   parameters, the same ``max_iter``) and prints both estimators' test accuracy
   and median fit time.

BLAS runs on one thread: these matrices are small, and on a busy machine a
second BLAS thread makes fits many times slower rather than faster. Solver
ConvergenceWarnings are counted and reported in one line each rather than
shown one by one.

Examples
--------
::

    python -m sklearn_backprop
    python -m sklearn_backprop --data iris.csv --target species --cv 5
"""

import argparse
import contextlib
import csv
import statistics
import sys
import time
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_backprop._classifier import BackpropClassifier

TEST_SIZE = 0.25
RANDOM_STATE = 0
PARAM_GRID = {
    "net__hidden_layer_sizes": [(25,), (50,)],
    "net__alpha": [0.1, 1.0, 10.0],
}
N_TIMING_FITS = 5


class DataError(Exception):
    """Unusable input data; the message is shown to the user as one line."""


def read_csv(path: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Read features and class labels from a CSV file with a header row.

    Parameters
    ----------
    path : str
        CSV file, UTF-8 (a byte-order mark is allowed). Blank lines are skipped.
    target : str
        Name of the column holding the class labels; every other column is a
        feature and must hold finite numbers.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Features, float64.
    y : ndarray of shape (n_samples,)
        Class labels as strings, surrounding whitespace removed.

    Raises
    ------
    DataError
        If the file cannot be read or parsed, is empty, lacks the target
        column or a feature column, or holds a missing, non-numeric or
        non-finite feature value or a missing label.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
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
        raise DataError(
            f"no column {target!r} in {path!r}; its columns are: {', '.join(header)}"
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
                raise DataError(
                    f"non-numeric value {value.strip()!r} in column {name!r} on "
                    f"line {line} of {path!r}"
                ) from None
            if not np.isfinite(X[i, j]):
                raise DataError(
                    f"non-finite value {value.strip()!r} in column {name!r} on "
                    f"line {line} of {path!r}"
                )
    return X, np.asarray(y)


def split(X: np.ndarray, y: np.ndarray, cv: int) -> list[np.ndarray]:
    """Stratified train/test split that leaves every class enough for ``cv`` folds.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Features.
    y : ndarray of shape (n_samples,)
        Class labels.
    cv : int
        Number of cross-validation folds the training set must support.

    Returns
    -------
    X_train, X_test, y_train, y_test : ndarray
        The split, as :func:`~sklearn.model_selection.train_test_split` returns it.

    Raises
    ------
    DataError
        If y has fewer than 2 classes, the data cannot be split with every
        class on both sides, or a class has fewer than ``cv`` training samples.
    """
    classes = np.unique(y)
    if classes.size < 2:
        raise DataError(
            f"the target has only one class ({classes[0].item()!r}); at least 2 are "
            "needed"
        )
    try:
        parts = train_test_split(
            X, y, test_size=TEST_SIZE, stratify=y, random_state=RANDOM_STATE
        )
    except ValueError as exc:
        message = " ".join(str(exc).split())
        raise DataError(
            f"cannot split the data into train and test: {message}"
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
    return f"{value:g}" if isinstance(value, float) else str(value)


def grid_table(cv_results: dict) -> str:
    """Candidates of a grid search, best first, as an aligned table.

    Parameters
    ----------
    cv_results : dict
        ``cv_results_`` of a fitted :class:`~sklearn.model_selection.GridSearchCV`
        over the ``net`` step of a pipeline.

    Returns
    -------
    table : str
        Rank, parameters, mean and standard deviation of the CV accuracy and
        mean fit time of each candidate.
    """
    names = [key.removeprefix("net__") for key in cv_results["params"][0]]
    header = ["rank", *names, "mean CV accuracy", "std", "mean fit time"]
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


def timed_fits(
    estimator: Pipeline, X: np.ndarray, y: np.ndarray, n_fits: int
) -> tuple[Pipeline, float, int]:
    """Fit fresh clones of an estimator several times.

    Parameters
    ----------
    estimator : Pipeline
        Template; each fit is of a fresh clone of it.
    X : ndarray of shape (n_samples, n_features)
        Training features.
    y : ndarray of shape (n_samples,)
        Training labels.
    n_fits : int
        Number of fits.

    Returns
    -------
    fitted : Pipeline
        The last fitted clone.
    seconds : float
        Median wall time of one fit.
    n_unconverged : int
        Fits that ended with a ConvergenceWarning.
    """
    times = []
    with counting_convergence_warnings() as caught:
        for _ in range(n_fits):
            fitted = clone(estimator)
            start = time.perf_counter()
            fitted.fit(X, y)
            times.append(time.perf_counter() - start)
    return fitted, statistics.median(times), len(caught)


def run_job(X: np.ndarray, y: np.ndarray, description: str, cv: int) -> None:
    """Grid-search BackpropClassifier on X, y and compare it with MLPClassifier.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Features.
    y : ndarray of shape (n_samples,)
        Class labels.
    description : str
        Name of the data set, for the report.
    cv : int
        Number of stratified cross-validation folds.

    Raises
    ------
    DataError
        If the data cannot be split for testing and cross-validation.
    """
    X_train, X_test, y_train, y_test = split(X, y, cv)
    print(
        f"Data: {description}: {X.shape[0]} samples, {X.shape[1]} features, "
        f"{np.unique(y).size} classes"
    )
    print(
        f"Split: {y_train.size} train / {y_test.size} test "
        f"(stratified, random_state={RANDOM_STATE})"
    )

    pipeline = Pipeline(
        [("scale", StandardScaler()), ("net", BackpropClassifier(random_state=0))]
    )
    search = GridSearchCV(pipeline, PARAM_GRID, cv=cv, error_score="raise")
    with counting_convergence_warnings() as caught:
        search.fit(X_train, y_train)
    max_iter = search.best_estimator_["net"].max_iter
    print(
        "\nGrid search of StandardScaler -> BackpropClassifier(random_state=0), "
        f"{cv}-fold CV:"
    )
    print(grid_table(search.cv_results_))
    if caught:
        n_fits = len(search.cv_results_["params"]) * cv + 1
        print(
            f"ConvergenceWarning: {len(caught)} of {n_fits} fits (refit included) "
            f"ended without converging (max_iter={max_iter})."
        )

    best = {key.removeprefix("net__"): v for key, v in search.best_params_.items()}
    print(
        "\nBest parameters: "
        + ", ".join(f"{key}={_format_param(v)}" for key, v in best.items())
    )
    print(f"Best mean CV accuracy: {search.best_score_:.4f}")
    print(f"Held-out test accuracy: {search.score(X_test, y_test):.4f}")

    mlp = MLPClassifier(solver="lbfgs", max_iter=max_iter, random_state=0, **best)
    contenders = {
        "BackpropClassifier": search.best_estimator_,
        "MLPClassifier(solver='lbfgs')": Pipeline(
            [("scale", StandardScaler()), ("net", mlp)]
        ),
    }
    rows = []
    for name, estimator in contenders.items():
        fitted, seconds, unconverged = timed_fits(
            estimator, X_train, y_train, N_TIMING_FITS
        )
        rows.append(
            [
                name,
                f"{fitted.score(X_test, y_test):.4f}",
                f"{seconds:.3f} s",
                str(fitted["net"].n_iter_),
                "no" if unconverged else "yes",
            ]
        )
    print(
        f"\nSide by side with the best parameters, max_iter={max_iter}, "
        f"random_state=0\n(fit time: median of {N_TIMING_FITS} fits on the training "
        "set, BLAS on one thread):"
    )
    print(
        format_table(
            ["estimator", "test accuracy", "fit time", "iterations", "converged"],
            rows,
            n_left=1,
        )
    )


def _cv_folds(text: str) -> int:
    try:
        folds = int(text)
    except ValueError:
        folds = 0
    if folds < 2:
        raise argparse.ArgumentTypeError(f"needs an integer >= 2, got {text!r}")
    return folds


def build_parser() -> argparse.ArgumentParser:
    """Command-line parser of the main job.

    Returns
    -------
    parser : argparse.ArgumentParser
        Options ``--data``, ``--target`` and ``--cv``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_backprop",
        description=(
            "Tune BackpropClassifier (alpha, hidden_layer_sizes) by grid search "
            "and compare it with MLPClassifier on a held-out test set. Uses "
            "scikit-learn's digits data unless --data is given."
        ),
    )
    parser.add_argument(
        "--data",
        metavar="FILE.csv",
        help="CSV file with a header row; all columns but the target numeric",
    )
    parser.add_argument(
        "--target", metavar="COLUMN", help="class-label column of --data"
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
    except SystemExit as exc:  # --help, or a usage error argparse has reported
        return int(exc.code or 0)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            if args.data is None:
                X, y = load_digits(return_X_y=True)
                run_job(X, y, "scikit-learn digits", args.cv)
            else:
                X, y = read_csv(args.data, args.target)
                run_job(X, y, args.data, args.cv)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
