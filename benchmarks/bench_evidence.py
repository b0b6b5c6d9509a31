"""alpha="evidence" against a grid search over alpha: held-out score and time.

Issue 16's target: on held-out data, ``alpha="evidence"`` (one fit, MacKay's
re-estimation of the penalty) scores within 0.03 (R² or accuracy, mean over
data draws) of the best model of ``GridSearchCV`` over 7 log-spaced alphas
from 1e-4 to 1e2 with 5-fold CV (35 fits and the refit), at no more than
0.35 of the grid search's wall time, on regression and classification
problems with networks of up to a few hundred weights.

Problems (features standardised on the training part; regression targets
too, which changes no R²):

* ``friedman1``: ``make_friedman1`` (10 features, noise 1), 400 training
  rows, hidden (10,): 121 weights;
* ``diabetes``: scikit-learn's diabetes data (442 rows, 10 features), 300
  training rows drawn at random, hidden (8,): 97 weights; and the same with
  hidden (3,): 37 weights (``diabetes (3,)``);
* ``moons``: ``make_moons`` (noise 0.3), 400 training rows, hidden (10,):
  41 weights;
* ``breast_cancer``: 569 rows, 30 features, 400 training rows drawn at
  random, hidden (5,): 161 weights;
* ``digits``: 1797 rows, 64 features, 10 classes (softmax outputs), 600
  training rows drawn at random, hidden (8,): 610 weights.

Each draw fits both on the same training rows and scores the rest (2000
fresh rows for the synthetic problems). Both use the estimator's defaults
(L-BFGS-B, tol=1e-4, max_iter=200) and ``random_state`` = the draw.
The table gives, per problem, the mean held-out score of each, their
difference (target >= -0.03), and the median and mean over draws of the
ratio of wall times (target <= 0.35).

Run: ``python benchmarks/bench_evidence.py [--draws N] [--quick]`` (about
a minute on 2 cores at the default 5 draws; ``--quick``: 2 draws). The exit
status is 0 whether or not the targets are met: the table says.
"""

import argparse
import statistics
import sys
import time
import warnings

import numpy as np
from _timing import fmt, format_loadavg, machine_header, table_lines
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    make_friedman1,
    make_moons,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_backprop import BackpropClassifier, BackpropRegressor

ALPHAS = np.logspace(-4, 2, 7)
CV = 5
SCORE_TARGET = -0.03  # evidence minus grid, mean over draws
TIME_TARGET = 0.35  # evidence / grid wall time


def _synthetic(make, n_train, seed, **kwargs):
    X, y = make(n_samples=n_train + 2000, random_state=seed, **kwargs)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _split(load, n_train, seed, stratify=False):
    X, y = load(return_X_y=True)
    return tuple(
        train_test_split(
            X,
            y,
            train_size=n_train,
            random_state=seed,
            stratify=y if stratify else None,
        )[i]
        for i in (0, 2, 1, 3)
    )


PROBLEMS = {
    "friedman1": (
        BackpropRegressor,
        (10,),
        lambda seed: _synthetic(make_friedman1, 400, seed, noise=1.0),
    ),
    "diabetes": (
        BackpropRegressor,
        (8,),
        lambda seed: _split(load_diabetes, 300, seed),
    ),
    "diabetes (3,)": (
        BackpropRegressor,
        (3,),
        lambda seed: _split(load_diabetes, 300, seed),
    ),
    "moons": (
        BackpropClassifier,
        (10,),
        lambda seed: _synthetic(make_moons, 400, seed, noise=0.3),
    ),
    "breast_cancer": (
        BackpropClassifier,
        (5,),
        lambda seed: _split(load_breast_cancer, 400, seed, stratify=True),
    ),
    "digits": (
        BackpropClassifier,
        (8,),
        lambda seed: _split(load_digits, 600, seed, stratify=True),
    ),
}


def _prepare(Estimator, X, y, X_test, y_test):
    scaler = StandardScaler().fit(X)
    X, X_test = scaler.transform(X), scaler.transform(X_test)
    if Estimator is BackpropRegressor:
        mean, std = y.mean(), y.std()
        y, y_test = (y - mean) / std, (y_test - mean) / std
    return X, y, X_test, y_test


def one_draw(name: str, seed: int) -> dict:
    """Both methods on one draw of one problem: scores, times, alphas."""
    Estimator, hidden, data = PROBLEMS[name]
    X, y, X_test, y_test = _prepare(Estimator, *data(seed))
    base = Estimator(hidden_layer_sizes=hidden, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        grid = GridSearchCV(base, {"alpha": ALPHAS}, cv=CV).fit(X, y)
        t_grid = time.perf_counter() - start
        start = time.perf_counter()
        evidence = base.set_params(alpha="evidence").fit(X, y)
        t_evidence = time.perf_counter() - start
    return {
        "grid_score": grid.score(X_test, y_test),
        "evidence_score": evidence.score(X_test, y_test),
        "ratio": t_evidence / t_grid,
        "t_grid": t_grid,
        "t_evidence": t_evidence,
        "grid_alpha": grid.best_params_["alpha"],
        "alpha": evidence.alpha_,
        "rounds": len(evidence.evidence_curve_),
    }


COLUMNS = [
    ("problem", "<", 14),
    ("weights", ">", 7),
    ("grid score", ">", 10),
    ("evidence", ">", 9),
    ("diff", ">", 7),
    ("target", ">", 7),
    ("ok", "<", 3),
    ("grid s", ">", 7),
    ("evid. s", ">", 7),
    ("median ratio", ">", 12),
    ("mean ratio", ">", 10),
    ("target", ">", 7),
    ("ok", "<", 3),
    ("alpha_ (median)", ">", 15),
    ("grid alpha (median)", ">", 19),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 draws")
    args = parser.parse_args(argv)
    draws = 2 if args.quick else args.draws
    print("\n".join(machine_header()))
    print(
        f"GridSearchCV over alpha in {[float(a) for a in ALPHAS]}, cv={CV}, "
        f"against alpha='evidence'; {draws} draws; load {format_loadavg()}"
    )
    rows, failed = [], False
    for name, (_, hidden, data) in PROBLEMS.items():
        results = [one_draw(name, seed) for seed in range(draws)]
        X0, y0 = data(0)[:2]
        n_features = X0.shape[1]
        n_out = len(np.unique(y0)) if name == "digits" else 1
        sizes = [n_features, *hidden, n_out]
        weights = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
        grid = statistics.mean(r["grid_score"] for r in results)
        evid = statistics.mean(r["evidence_score"] for r in results)
        ratios = [r["ratio"] for r in results]
        median_ratio, mean_ratio = statistics.median(ratios), statistics.mean(ratios)
        score_ok = evid - grid >= SCORE_TARGET
        time_ok = median_ratio <= TIME_TARGET and mean_ratio <= TIME_TARGET
        failed |= not (score_ok and time_ok)
        rows.append(
            [
                name,
                str(weights),
                fmt(grid),
                fmt(evid),
                f"{evid - grid:+.3f}",
                f">={SCORE_TARGET}",
                "yes" if score_ok else "NO",
                fmt(statistics.mean(r["t_grid"] for r in results), ".2f"),
                fmt(statistics.mean(r["t_evidence"] for r in results), ".2f"),
                fmt(median_ratio),
                fmt(mean_ratio),
                f"<={TIME_TARGET}",
                "yes" if time_ok else "NO",
                f"{statistics.median(r['alpha'] for r in results):.3g}",
                f"{statistics.median(r['grid_alpha'] for r in results):.3g}",
            ]
        )
        print(
            f"  {name}: per draw (evidence - grid score, time ratio, rounds): "
            + ", ".join(
                f"({r['evidence_score'] - r['grid_score']:+.3f}, "
                f"{r['ratio']:.3f}, {r['rounds']})"
                for r in results
            ),
            flush=True,
        )
    print()
    print("\n".join(table_lines(COLUMNS, rows)))
    del failed  # the table says which targets were met
    return 0


if __name__ == "__main__":
    sys.exit(main())
