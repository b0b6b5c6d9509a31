"""Smoke test: the core benchmark script runs in --quick mode (no timing checks)."""

import re
import subprocess
import sys
from pathlib import Path

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
