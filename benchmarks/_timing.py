"""Timing and reporting helpers shared by the benchmark scripts.

The scripts run as ``python benchmarks/bench_x.py``, so Python puts
``benchmarks/`` first on ``sys.path`` and they import this module as
``_timing``. It holds:

- :func:`machine_header`: what a reader needs to compare two runs (CPU, cores,
  load, library versions, the package's commit, thread variables, and
  threadpoolctl's view of BLAS and OpenMP);
- :func:`interleaved_medians`: the functions under comparison run in turn in
  every round, so a change of machine load hits all of them alike;
- :func:`median_time`: one function, repeated;
- :func:`header_line`, :func:`row_line`, :func:`table_lines`: fixed-width
  tables described by ``(name, align, width)`` columns.
"""

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import scipy
import sklearn

PER_TURN = 3  # calls per function and turn; the first one is not timed
# Environment variables that change thread counts or BLAS kernels.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "XLA_FLAGS",
)


# --------------------------------------------------------------------------
# Machine description


def machine_header(extra_versions: Mapping[str, str] | None = None) -> list[str]:
    """Lines describing the machine, the libraries and their thread pools.

    ``extra_versions`` adds ``name version`` pairs to the versions line (an
    optional peer such as jax). The thread pools are threadpoolctl's view at
    the time of the call: inside a ``threadpool_limits`` block they show the
    limit.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    versions = (
        f"Python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
        f"threadpoolctl {_version('threadpoolctl')}"
    )
    for name, version in (extra_versions or {}).items():
        versions += f", {name} {version}"
    lines = [
        f"CPU: {_cpu_name()}; {os.cpu_count()} logical cores ({usable} usable)",
        f"load average (1, 5, 15 min): {format_loadavg()}",
        versions,
        f"sklearn_backprop {_package_description()}",
    ]
    env = [
        f"{name}={os.environ[name]}" for name in THREAD_VARIABLES if name in os.environ
    ]
    if env:
        lines.append("environment: " + " ".join(env))
    lines.extend(threadpool_lines())
    return lines


def threadpool_lines() -> list[str]:
    """One line per thread pool threadpoolctl finds (BLAS, OpenMP)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["threadpoolctl not installed: BLAS threads unknown"]
    return [
        f"{pool.get('user_api')}: {pool.get('internal_api')} "
        f"{pool.get('version')} ({pool.get('architecture', '?')}), "
        f"{pool.get('num_threads')} threads, "
        f"{os.path.basename(pool.get('filepath', ''))}"
        for pool in threadpool_info()
    ]


def blas_threads() -> int | None:
    """The fewest threads any loaded BLAS may use now (None if unknown)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return min(counts, default=None)


def loadavg() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def format_loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in loadavg())


def _cpu_name() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except (ImportError, AttributeError):
        return "not installed"


def _package_description() -> str:
    """Version, where it was imported from and, in a git checkout, its commit."""
    try:
        import sklearn_backprop
    except ImportError as exc:  # the scripts' own imports will say more
        return f"not importable ({exc})"
    where = Path(sklearn_backprop.__file__).resolve().parent
    text = f"{sklearn_backprop.__version__} from {where}"
    try:
        commit = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return text
    if commit:
        text += f", commit {commit}" + (" + uncommitted changes" if dirty else "")
    return text


# --------------------------------------------------------------------------
# Timing


def interleaved_medians(
    funs: Mapping[str, Callable[[], object]],
    repeats: int,
    per_turn: int = PER_TURN,
    contexts: Mapping[str, Callable[[], AbstractContextManager]] | None = None,
) -> dict[str, float]:
    """Median seconds of each function, the functions run in turn each round.

    Every round gives each function one turn, in the order of ``funs``. A turn
    runs the function ``per_turn`` times back to back and times all calls but
    the first: an optimiser calls the evaluation back to back, and on a small
    machine the first call after another library's (or after a pause) pays for
    waking threads and cores, up to 2x with two threads. ``per_turn=1`` times
    every call.

    ``contexts`` maps some names to a factory of a context manager entered
    around that function's turn, outside the timed calls: for instance
    ``lambda: controller.limit(limits=1)`` to run one function with one BLAS
    thread and the others with the default.
    """
    if per_turn < 1 or repeats < 1:
        raise ValueError("per_turn and repeats must be at least 1")
    contexts = contexts or {}
    skip = 1 if per_turn > 1 else 0
    times = {name: [] for name in funs}
    for _ in range(repeats):
        for name, fun in funs.items():
            context = contexts.get(name)
            if context is None:
                _turn(fun, per_turn, skip, times[name])
            else:
                with context():
                    _turn(fun, per_turn, skip, times[name])
    return {name: statistics.median(t) for name, t in times.items()}


def _turn(fun, per_turn: int, skip: int, into: list) -> None:
    for call in range(per_turn):
        start = time.perf_counter()
        fun()
        if call >= skip:
            into.append(time.perf_counter() - start)


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls of ``fn``, every call timed."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --------------------------------------------------------------------------
# Tables

Column = tuple[str, str, int]  # (name, align "<" or ">", width)


def header_line(columns: Sequence[Column]) -> str:
    return "  ".join(f"{name:{align}{width}}" for name, align, width in columns)


def row_line(values: Sequence[str], columns: Sequence[Column]) -> str:
    return "  ".join(
        f"{value:{align}{width}}"
        for value, (_, align, width) in zip(values, columns, strict=True)
    )


def table_lines(columns: Sequence[Column], rows: Iterable[Sequence[str]]) -> list[str]:
    """The header, a rule as wide as the header, and one line per row."""
    header = header_line(columns)
    return [header, "-" * len(header), *(row_line(row, columns) for row in rows)]


def fmt(x, spec: str = ".3f") -> str:
    """``x`` formatted, ``-`` for None."""
    return "-" if x is None else format(x, spec)


def target_cells(value: float, target: float | None) -> list[str]:
    """``["<= 0.60", "yes"]``: a target and whether ``value`` meets it."""
    if target is None:
        return ["-", "-"]
    return [f"<= {target:.2f}", "yes" if value <= target else "no"]
