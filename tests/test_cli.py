"""The main job, ``python -m sklearn_backprop``: output, exit codes, data errors."""

import csv
import re
import subprocess
import sys

import pytest
from sklearn.datasets import load_iris

from sklearn_backprop._cli import main


def _write_csv(path, rows):
    with open(path, "w", newline="") as file:
        csv.writer(file).writerows(rows)
    return str(path)


@pytest.fixture
def iris_csv(tmp_path):
    """Iris as a CSV file with a string ``species`` column in the middle."""
    iris = load_iris()
    header = ["sepal length", "sepal width", "species", "petal length", "petal width"]
    rows = [
        [*x[:2], iris.target_names[t], *x[2:]]
        for x, t in zip(iris.data, iris.target, strict=True)
    ]
    return _write_csv(tmp_path / "iris.csv", [header, *rows])


def _expect_data_error(capsys, argv, *fragments):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    for fragment in fragments:
        assert fragment in err


def test_csv_job_reports_grid_best_and_comparison(iris_csv, capsys):
    assert main(["--data", iris_csv, "--target", "species"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "150 samples, 4 features, 3 classes" in out
    assert "Split: 112 train / 38 test" in out
    table = out[out.index("rank") : out.index("Best parameters")]
    assert len(re.findall(r"^ +[1-6] ", table, flags=re.MULTILINE)) == 6
    assert re.search(r"Best parameters: alpha=\S+, hidden_layer_sizes=\(\d+,\)", out)
    accuracy = float(re.search(r"Held-out test accuracy: (\S+)", out)[1])
    assert 0.8 <= accuracy <= 1.0
    assert re.search(r"^BackpropClassifier +\d\.\d{4} ", out, flags=re.MULTILINE)
    assert re.search(r"^MLPClassifier\S* +\d\.\d{4} ", out, flags=re.MULTILINE)


def test_cv_option(iris_csv, capsys):
    assert main(["--data", iris_csv, "--target", "species", "--cv", "2"]) == 0
    assert "2-fold CV" in capsys.readouterr().out


def test_missing_file(tmp_path, capsys):
    missing = str(tmp_path / "nope.csv")
    _expect_data_error(capsys, ["--data", missing, "--target", "y"], "nope.csv")


def test_empty_file(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text("")
    _expect_data_error(capsys, ["--data", str(path), "--target", "y"], "empty")


def test_missing_column(iris_csv, capsys):
    _expect_data_error(
        capsys, ["--data", iris_csv, "--target", "label"], "'label'", "species"
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


def test_target_without_data_is_a_usage_error(capsys):
    assert main(["--target", "y"]) == 2
    assert "--data and --target" in capsys.readouterr().err


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
    assert "scikit-learn digits: 1797 samples, 64 features, 10 classes" in result.stdout
    assert "Best parameters: " in result.stdout
    assert "Held-out test accuracy: " in result.stdout
