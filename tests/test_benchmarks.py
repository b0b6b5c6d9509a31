"""Smoke tests: benchmark scripts run in --quick mode (no timing checks)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_core.py"


def test_bench_core_quick_runs():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--problems", "a"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "ours/MLP" in out and "ours/fl" in out and "f32/f64" in out
    for dtype in ("float64", "float32"):
        assert re.search(rf"^\(a\)\s+{dtype}\s", out, re.MULTILINE), out
    assert "MISMATCH" not in out, out  # same weights give the same loss
    assert "Linear in n_samples" in out


BENCHMARKS = SCRIPT.parent


def _run_quick(script: str, timeout: int = 300) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow
def test_bench_small_quick_runs():
    out = _run_quick("bench_small.py")
    for column in ("data", "shape", "ours µs", "MLP µs", "ours/MLP", "target", "met"):
        assert column in out, out
    for name in ("iris", "wine", "breast_cancer", "digits"):
        assert re.search(rf"^{name}\s+\d+x", out, re.MULTILINE), out
    assert "ours ms" in out and "MLP ms" in out  # the fit table
    assert re.search(r"^1\s+breast_cancer\s", out, re.MULTILINE), out
    assert re.search(r"^default \(\d+\)\s+breast_cancer\s", out, re.MULTILINE), out
    assert "MISMATCH" not in out, out  # same weights give the same loss


@pytest.mark.slow
def test_bench_threads_quick_runs():
    out = _run_quick("bench_threads.py")
    for column in (
        "default ms",
        "1-thread ms",
        "default/1",
        "MLP def ms",
        "ours/MLP",
        "GEMMs def ms",
        "GEMMs 1 ms",
        "GEMMs def/1",
    ):
        assert column in out, out
    for key in ("b", "c", "d"):
        assert len(re.findall(rf"^\({key}\)\s+\d+x", out, re.MULTILINE)) == 2, out
    assert "MISMATCH" not in out, out


@pytest.mark.slow
def test_bench_lm_quick_runs():
    out = _run_quick("bench_lm.py")
    for column in ("L-BFGS-B ms", "lm ms", "steps", "reached", "lm/L-BFGS-B"):
        assert column in out, out
    assert re.search(r"^sine\s+200x1-5-1\s+16\s", out, re.MULTILINE), out
    assert "one BLAS thread" in out and "default (" in out
    assert re.search(r"dense Jacobian .* below it: (yes|no)", out), out
