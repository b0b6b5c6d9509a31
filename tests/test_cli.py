"""The main job, ``python -m sklearn_backprop``: output, exit codes, data errors."""

import csv
import re
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_backprop import BackpropClassifier, _cli
from sklearn_backprop._cli import choose_task, main, read_csv

ROW = r"(\S+(?:, [a-z ]+)?) +(-?\d\.\d{4} ± \d\.\d{4}) +(-?\d\.\d{4}) +"


def _write_csv(path, rows, delimiter=","):
    with open(path, "w", newline="") as file:
        csv.writer(file, delimiter=delimiter).writerows(rows)
    return str(path)


def _iris_rows():
    iris = load_iris()
    header = ["sepal length", "sepal width", "species", "petal length", "petal width"]
    rows = [
        [*x[:2], iris.target_names[t], *x[2:]]
        for x, t in zip(iris.data, iris.target, strict=True)
    ]
    return [header, *rows]


@pytest.fixture
def iris_csv(tmp_path):
    """Iris as a CSV file with a string ``species`` column in the middle."""
    return _write_csv(tmp_path / "iris.csv", _iris_rows())


@pytest.fixture
def diabetes_csv(tmp_path):
    """scikit-learn's diabetes data as a CSV file, target ``progression`` last."""
    data = load_diabetes()
    rows = [[*x, t] for x, t in zip(data.data, data.target, strict=True)]
    header = [*data.feature_names, "progression"]
    return _write_csv(tmp_path / "diabetes.csv", [header, *rows])


@pytest.fixture
def small_grid(monkeypatch):
    """One grid candidate and one CV repetition: the job's code paths, quickly."""
    monkeypatch.setattr(_cli, "GRID", {"alpha": [1.0], "hidden_layer_sizes": [(5,)]})
    monkeypatch.setattr(_cli, "N_REPEATS", 1)


def _expect_data_error(capsys, argv, *fragments):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    for fragment in fragments:
        assert fragment in err


def _comparison(out):
    """The comparison rows as {name: (cells, settings dict)}."""
    table = out[out.index("\nestimator ") :]
    found = re.findall(rf"^{ROW}.*\n    (\w+)\((.*)\)$", table, flags=re.MULTILINE)
    rows = {}
    for name, cv_score, test_score, estimator, settings in found:
        params = dict(re.findall(r"(\w+)=((?:\([^)]*\))|[^,]+)", settings))
        rows[name.strip()] = (cv_score, test_score, estimator, params)
    return rows


# ----------------------------------------------------------------------------
# The job, classification
# ----------------------------------------------------------------------------


def test_csv_job_reports_grid_best_and_comparison(iris_csv, capsys):
    assert main(["--data", iris_csv, "--target", "species"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "150 samples, 4 features, 3 classes" in out
    assert "Task: classification (auto: 3 distinct labels" in out
    assert "Split: 112 train / 38 test" in out
    table = out[out.index("rank") : out.index("Best parameters")]
    assert len(re.findall(r"^ +[1-6] ", table, flags=re.MULTILINE)) == 6
    assert re.search(r"Best parameters: alpha=\S+, hidden_layer_sizes=\(\d+,\)", out)
    accuracy = float(re.search(r"Held-out test accuracy: (\S+)", out)[1])
    assert 0.8 <= accuracy <= 1.0
    rows = _comparison(out)
    assert list(rows) == [
        "BackpropClassifier, tuned",
        "MLPClassifier, same settings",
        "MLPClassifier(), defaults",
    ]
    # The tuned row's held-out score is the refit best pipeline's.
    assert rows["BackpropClassifier, tuned"][1] == f"{accuracy:.4f}"


def test_comparison_is_like_for_like(iris_csv, capsys, monkeypatch, small_grid):
    # A grid over the activation too: the MLP must follow whatever ours uses.
    grid = {"activation": ["tanh"], "alpha": [0.5], "hidden_layer_sizes": [(7,)]}
    monkeypatch.setattr(_cli, "GRID", grid)
    monkeypatch.setattr(_cli, "N_REPEATS", 2)
    assert main(["--data", iris_csv, "--target", "species", "--cv", "2"]) == 0
    out = capsys.readouterr().out
    text = " ".join(out.split())
    assert "fitted on the same 4 folds (2-fold stratified CV" in text
    assert "every row is StandardScaler -> the row's estimator" in text
    rows = _comparison(out)
    ours, same, default = rows.values()
    assert ours[2] == "BackpropClassifier"
    assert same[2] == default[2] == "MLPClassifier"
    shared = ("activation", "hidden_layer_sizes", "alpha", "max_iter", "tol")
    assert {k: ours[3][k] for k in shared} == {k: same[3][k] for k in shared}
    assert ours[3]["activation"] == "'tanh'"
    assert ours[3]["hidden_layer_sizes"] == "(7,)"
    assert same[3]["solver"] == "'lbfgs'"
    defaults = MLPClassifier().get_params()
    for key, value in default[3].items():
        if key != "random_state":
            assert value == _cli._format_param(defaults[key]), key
    assert default[3]["solver"] == "'adam'"
    # Every row: mean ± std over the folds, fit time, converged count.
    lines = [m[0] for m in re.finditer(rf"^{ROW}.*$", out, flags=re.MULTILINE)]
    assert len(lines) == 3
    for line in lines:
        assert re.search(r"\d\.\d{3} ± \d\.\d{3} s +\S+ +\d of 5$", line), line


def test_cv_option(iris_csv, capsys, small_grid):
    assert main(["--data", iris_csv, "--target", "species", "--cv", "2"]) == 0
    assert "2-fold CV" in capsys.readouterr().out


# ----------------------------------------------------------------------------
# Regression
# ----------------------------------------------------------------------------


def test_regression_csv_is_detected_and_compared_in_r2(diabetes_csv, capsys):
    assert main(["--data", diabetes_csv, "--target", "progression"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "442 samples, 10 features, numeric target" in out
    assert "Task: regression (auto: numeric target with 214 distinct values" in out
    assert "Split: 331 train / 111 test (shuffled" in out
    assert "TransformedTargetRegressor(BackpropRegressor(random_state=0), " in out
    assert "mean CV R²" in out
    rows = _comparison(out)
    assert list(rows) == [
        "BackpropRegressor, tuned",
        "MLPRegressor, same settings",
        "MLPRegressor(), defaults",
    ]
    # With the target standardised, R² is near 0.5, not the 0.26 of raw y.
    ours_cv = float(rows["BackpropRegressor, tuned"][0].split(" ± ")[0])
    assert ours_cv > 0.4
    assert float(re.search(r"Best mean CV R²: (\S+)", out)[1]) > 0.4


def test_bundled_regression_dataset(capsys, small_grid):
    assert main(["--dataset", "diabetes"]) == 0
    out = capsys.readouterr().out
    assert "Data: scikit-learn diabetes: 442 samples" in out
    assert "Task: regression" in out


def test_task_option_overrides_detection(iris_csv, tmp_path, capsys, small_grid):
    rows = _iris_rows()
    names = {name: str(k) for k, name in enumerate(["setosa", "versicolor"])}
    numeric = [rows[0]] + [[*r[:2], names.get(r[2], "2"), *r[3:]] for r in rows[1:]]
    path = _write_csv(tmp_path / "coded.csv", numeric)
    assert main(["--data", path, "--target", "species"]) == 0
    assert "Task: classification (auto: 3 distinct labels" in capsys.readouterr().out
    argv = ["--data", path, "--target", "species", "--task", "regression"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Task: regression (--task regression)" in out
    assert "MLPRegressor(), defaults" in out


def test_regression_needs_numbers(iris_csv, capsys):
    _expect_data_error(
        capsys,
        ["--data", iris_csv, "--target", "species", "--task", "regression"],
        "numeric target",
        "'setosa'",
    )


def test_classification_of_a_quantity_suggests_regression(diabetes_csv, capsys):
    _expect_data_error(
        capsys,
        ["--data", diabetes_csv, "--target", "progression", "--task", "classification"],
        "single sample",
        "--task regression",
    )


@pytest.mark.parametrize(
    ("y", "expected"),
    [
        (["1.5", "2.25", "3", "4"], "regression"),  # non-integer values
        ([str(v) for v in [*range(10), 3, 4]], "regression"),  # values seen once
        (["0", "1", "2"] * 5, "classification"),
        (["0", "0", "0", "1"], "classification"),  # binary: a rare class stays one
        (["a", "b", "c", "d"], "classification"),
        (["1", "inf", "2", "3"], "classification"),
    ],
)
def test_choose_task_auto(y, expected):
    task, target, reason = choose_task(np.array(y), "auto")
    assert task.name == expected
    assert reason.startswith("auto: ")
    if expected == "regression":
        assert target.dtype == np.float64


# ----------------------------------------------------------------------------
# CSV dialects
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_detected(tmp_path, delimiter):
    path = _write_csv(tmp_path / "iris.csv", _iris_rows(), delimiter)
    table = read_csv(path, "species")
    assert table.delimiter == delimiter
    assert table.X.shape == (150, 4)
    assert set(table.y) == {"setosa", "versicolor", "virginica"}


def test_job_says_which_delimiter(tmp_path, capsys, small_grid):
    path = _write_csv(tmp_path / "iris.csv", _iris_rows(), ";")
    assert main(["--data", path, "--target", "species"]) == 0
    assert "iris.csv (delimiter ';', detected): 150 samples" in capsys.readouterr().out
    path = _write_csv(tmp_path / "iris.tsv", _iris_rows(), "\t")
    assert main(["--data", path, "--target", "species", "--sep", "tab"]) == 0
    assert "(delimiter '\\t', from --sep): 150 samples" in capsys.readouterr().out


def test_wrong_sep_names_the_delimiter_and_the_fix(tmp_path, capsys):
    path = _write_csv(tmp_path / "iris.csv", _iris_rows(), ";")
    _expect_data_error(
        capsys,
        ["--data", path, "--target", "species", "--sep", ","],
        "delimiter ','",
        "from --sep",
        "try --sep ';'",
    )


def test_decimal_commas_are_named(tmp_path, capsys):
    rows = [["a", "y"]] + [[f"{i},5", f"c{i % 2}"] for i in range(20)]
    path = _write_csv(tmp_path / "comma.csv", rows, ";")
    _expect_data_error(
        capsys, ["--data", path, "--target", "y"], "'0,5'", "decimal commas"
    )


# ----------------------------------------------------------------------------
# ConvergenceWarnings name their fits
# ----------------------------------------------------------------------------


def test_convergence_warning_names_parameters_and_folds(iris_csv, capsys, monkeypatch):
    grid = {"alpha": [1.0], "hidden_layer_sizes": [(5,)], "max_iter": [3, 200]}
    monkeypatch.setattr(_cli, "GRID", grid)
    monkeypatch.setattr(_cli, "N_REPEATS", 1)
    assert main(["--data", iris_csv, "--target", "species"]) == 0
    out = capsys.readouterr().out

    # What the message must say, from fits made here, fold by fold.
    table = read_csv(iris_csv, "species")
    X, _, y, _ = train_test_split(
        table.X, table.y, test_size=0.25, stratify=table.y, random_state=0
    )
    folds = list(StratifiedKFold(3).split(X, y))

    def warns(max_iter, rows):
        net = BackpropClassifier((5,), alpha=1.0, max_iter=max_iter, random_state=0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            Pipeline([("s", StandardScaler()), ("n", net)]).fit(X[rows], y[rows])
        return any(issubclass(w.category, ConvergenceWarning) for w in caught)

    parts = []
    for max_iter in (3, 200):
        places = [
            str(k) for k, (train, _) in enumerate(folds, 1) if warns(max_iter, train)
        ]
        refit = max_iter == 200 and warns(max_iter, slice(None))
        if places or refit:
            where = [f"fold{'s' * (len(places) > 1)} {', '.join(places)}"] * bool(
                places
            )
            where += ["refit"] * refit
            params = f"alpha=1, hidden_layer_sizes=(5,), max_iter={max_iter}"
            parts.append(f"{params} ({', '.join(where)})")
    assert parts[0] == "alpha=1, hidden_layer_sizes=(5,), max_iter=3 (folds 1, 2, 3)"
    assert f"did not converge: {'; '.join(parts)}." in out


# ----------------------------------------------------------------------------
# Data and usage errors
# ----------------------------------------------------------------------------


def test_missing_file(tmp_path, capsys):
    missing = str(tmp_path / "nope.csv")
    _expect_data_error(capsys, ["--data", missing, "--target", "y"], "nope.csv")


def test_empty_file(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text("")
    _expect_data_error(capsys, ["--data", str(path), "--target", "y"], "empty")


def test_missing_column(iris_csv, capsys):
    _expect_data_error(
        capsys,
        ["--data", iris_csv, "--target", "label"],
        "'label'",
        "species",
        "delimiter ','",
    )


def test_non_numeric_feature(tmp_path, capsys):
    rows = [["a", "b", "y"]] + [[str(i), str(i % 3), f"c{i % 2}"] for i in range(20)]
    rows[5][1] = "oops"
    path = _write_csv(tmp_path / "bad.csv", rows)
    _expect_data_error(
        capsys, ["--data", path, "--target", "y"], "'oops'", "'b'", "line 6"
    )


def test_one_class_target(tmp_path, capsys):
    rows = [["a", "y"]] + [[str(i), "only"] for i in range(20)]
    path = _write_csv(tmp_path / "one.csv", rows)
    _expect_data_error(capsys, ["--data", path, "--target", "y"], "one class")


def test_class_too_small_for_cv(tmp_path, capsys):
    rows = [["a", "y"]] + [[str(i), "big"] for i in range(20)] + [["0", "rare"]] * 2
    path = _write_csv(tmp_path / "rare.csv", rows)
    _expect_data_error(capsys, ["--data", path, "--target", "y"], "'rare'")


def test_constant_regression_target(tmp_path, capsys):
    rows = [["a", "y"]] + [[str(i), "1.5"] for i in range(20)]
    path = _write_csv(tmp_path / "flat.csv", rows)
    _expect_data_error(
        capsys, ["--data", path, "--target", "y", "--task", "regression"], "constant"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--target", "y"], "--data and --target"),
        (["--sep", ";"], "--sep needs --data"),
        (["--data", "x.csv", "--target", "y", "--dataset", "iris"], "not allowed"),
        (["--task", "ranking"], "invalid choice"),
        (["--data", "x.csv", "--target", "y", "--sep", ";;"], "one character"),
    ],
)
def test_usage_errors(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


# ----------------------------------------------------------------------------
# As a program
# ----------------------------------------------------------------------------


@pytest.mark.slow  # a subprocess: a fresh interpreter, then a grid search
def test_default_digits_job():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_backprop"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "scikit-learn digits: 1797 samples, 64 features, 10 classes" in out
    assert "Best parameters: " in out
    assert "Held-out test accuracy: " in out
    assert len(_comparison(out)) == 3


BROKEN_PIPE = 128 + signal.SIGPIPE if hasattr(signal, "SIGPIPE") else 1


@pytest.mark.slow  # a subprocess, then a grid search
def test_closed_stdout_exits_quietly(iris_csv):
    # The reader is gone before the job writes anything, as with a `| head`
    # that has already exited: the first write fails.
    process = subprocess.Popen(
        [sys.executable, "-m", "sklearn_backprop", "--data", iris_csv, "--target"]
        + ["species", "--cv", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == BROKEN_PIPE
    assert stderr == ""


@pytest.mark.slow  # a subprocess, then a grid search
def test_job_piped_into_head_exits_quietly(iris_csv):
    # `python -m sklearn_backprop ... | head -2`: read two lines, then close.
    process = subprocess.Popen(
        [sys.executable, "-m", "sklearn_backprop", "--data", iris_csv, "--target"]
        + ["species", "--cv", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lines = [process.stdout.readline() for _ in range(2)]
    process.stdout.close()
    stderr = process.stderr.read().decode()
    # 0 if the job had written everything before the reader went away.
    assert process.wait(timeout=120) in (0, BROKEN_PIPE)
    assert lines[0].startswith(b"Data: ")
    assert stderr == ""
