"""Guards around fitting and persistence: memory, failed fits, package versions.

* :func:`check_fit_memory` refuses, before anything is allocated, a network
  whose fit cannot fit in the machine's physical memory, and says how much it
  would need.
* :func:`restore_on_error` puts an estimator back the way it was when a fit
  raises part-way, so that a failed fit never leaves it half-updated.
* :func:`add_version` and :func:`check_version` record the package version in
  a pickled estimator's state and warn with :class:`InconsistentVersionWarning`
  when it is loaded by another version.
* :func:`plain_result` keeps of the solver's result only plain values, and
  :func:`saved_state` / :func:`loaded_state` (what ``__getstate__`` and
  ``__setstate__`` call) store it as a plain ``dict``, with the version: a
  state of plain values only is what ``skops.io`` saves and loads without
  trusting anything but the estimator's class. ``skops.io`` rebuilds an
  object with ``__new__`` and ``__setstate__``, as pickle does, so the
  version check covers both formats.
"""

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
from scipy.optimize import OptimizeResult
from sklearn.exceptions import InconsistentVersionWarning as _SklearnVersionWarning

from sklearn_backprop._blocks import working_memory_rows
from sklearn_backprop._solvers import SOLVERS
from sklearn_backprop._spec import n_params

# Vectors the size of θ alive at once during a fit, each counted at 8 bytes a
# parameter (scipy works in float64 whatever the data's dtype). Ours: the
# starting point θ0, the objective's gradient buffer and its float64 copy for
# scipy, the last evaluation's (θ, gradient), the monitor's iterate, the
# workspace's chunk accumulator and weight blocks, and the fitted thetas_ (9).
# scipy's: L-BFGS-B's 2 × maxcor = 20 correction vectors and 5 work vectors at
# the default maxcor=10, and the iterate and gradient copies its
# ScalarFunction keeps (about 29, the most of the vector-only solvers).
# Rounded up to 40.
THETA_COPIES = 40
# Per row and unit of the row chunk: cost_grad's workspace holds a^(l) of
# every layer plus as much again of back-propagation scratch (2); a
# Hessian-vector product (the solvers that take one) also keeps R{z},
# R{a}, δ, R{δ} and their back-propagated products (8).
ACTIVATION_COPIES = 2
HESSP_ACTIVATION_COPIES = 8

VERSION_KEY = "_sklearn_backprop_version"
RESULT_KEY = "optimize_result_"


class InconsistentVersionWarning(_SklearnVersionWarning):
    """An estimator was unpickled (or loaded by ``skops.io``) by another
    version of sklearn-backprop.

    A subclass of :class:`sklearn.exceptions.InconsistentVersionWarning`, so a
    filter for scikit-learn's warning (the documented way to turn version
    mismatches into errors) catches this one too, while its message names
    sklearn-backprop's versions instead of scikit-learn's.

    Parameters
    ----------
    estimator_name : str
        Class name of the unpickled estimator.
    current_version : str
        The sklearn-backprop version doing the loading.
    original_version : str
        The version that pickled it, or "unknown" when the pickle predates the
        version being recorded.

    Examples
    --------
    >>> w = InconsistentVersionWarning(
    ...     estimator_name="BackpropClassifier",
    ...     current_version="0.2.0",
    ...     original_version="0.1.0",
    ... )
    >>> print(str(w)[:72])
    Trying to unpickle estimator BackpropClassifier from sklearn-backprop ve
    """

    def __init__(self, *, estimator_name, current_version, original_version):
        super().__init__(
            estimator_name=estimator_name,
            current_sklearn_version=current_version,
            original_sklearn_version=original_version,
        )
        self.current_version = current_version
        self.original_version = original_version

    def __str__(self):
        return (
            f"Trying to unpickle estimator {self.estimator_name} from "
            f"sklearn-backprop version {self.original_version} when using version "
            f"{self.current_version}. This might lead to breaking code or invalid "
            "results. Use at your own risk, or refit the estimator with this "
            "version and pickle it again."
        )


def format_bytes(n_bytes: int) -> str:
    """A byte count in binary units with one decimal, e.g. "7.3 TiB".

    Examples
    --------
    >>> format_bytes(8 * 10**12)
    '7.3 TiB'
    >>> format_bytes(512)
    '512 B'
    """
    if n_bytes < 1024:
        return f"{n_bytes} B"
    value = float(n_bytes)
    for unit in ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]:
        value /= 1024
        if value < 1024 or unit == "EiB":
            break
    return f"{value:.1f} {unit}"


def physical_memory() -> int | None:
    """The machine's physical memory in bytes; None where it cannot be read.

    Read from ``os.sysconf`` (Linux, macOS and other POSIX systems); None on
    systems without it (Windows) or when it reports an unknown value.
    """
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    if pages <= 0 or page_size <= 0:
        return None
    return int(pages) * int(page_size)


def fit_memory(layer_sizes: Sequence[int], n_samples: int, dtype, solver: str) -> int:
    """Bytes a fit needs for its parameter vectors and activations (an estimate).

    ``8 × n_params × THETA_COPIES`` for θ, its gradient and the solver's vectors
    (float64, as scipy works), ``8 × n_params²`` more for BFGS's dense matrix,
    plus ``itemsize × rows × Σ_{l>1} S_l × copies`` for the row chunk of
    activations and back-propagation scratch (``ACTIVATION_COPIES``, or
    ``HESSP_ACTIVATION_COPIES`` for solvers that take Hessian-vector
    products), with ``rows`` the chunk size ``cost_grad`` uses (from
    scikit-learn's ``working_memory``).
    The training data, already in memory, is not counted.

    Examples
    --------
    >>> need = 8 * (26 * THETA_COPIES + 10 * 6 * ACTIVATION_COPIES)
    >>> fit_memory([3, 4, 2], 10, "float64", "L-BFGS-B") == need
    True
    """
    layer_sizes = [int(s) for s in layer_sizes]
    p = n_params(layer_sizes)
    record = SOLVERS[solver]
    need = 8 * p * THETA_COPIES
    if record.dense_matrix:
        need += 8 * p * p
    copies = HESSP_ACTIVATION_COPIES if record.takes_hessp else ACTIVATION_COPIES
    rows = working_memory_rows(max(int(n_samples), 1), layer_sizes, dtype)
    need += np.dtype(dtype).itemsize * rows * sum(layer_sizes[1:]) * copies
    return need


def check_fit_memory(estimator, layer_sizes: Sequence[int], n_samples: int, dtype):
    """Refuse, with a MemoryError stating the size, a fit that cannot fit in memory.

    Compares :func:`fit_memory` with :func:`physical_memory`; where the physical
    memory cannot be read, only sizes beyond what the process can address
    (``sys.maxsize`` bytes) are refused.

    Raises
    ------
    MemoryError
        When the estimate exceeds the limit; nothing has been allocated yet.
    """
    need = fit_memory(layer_sizes, n_samples, dtype, estimator.solver)
    have = physical_memory()
    limit = sys.maxsize if have is None else have
    if need <= limit:
        return
    where = (
        f"this machine's {format_bytes(have)} of physical memory"
        if have is not None
        else f"the {format_bytes(limit)} a process can address"
    )
    raise MemoryError(
        f"{type(estimator).__name__} with hidden_layer_sizes="
        f"{estimator.hidden_layer_sizes!r} needs about {format_bytes(need)} to fit: "
        f"{n_params(layer_sizes):,} parameters (layer sizes {list(layer_sizes)}) "
        f"held {THETA_COPIES} times in float64 by solver={estimator.solver!r}, "
        f"plus their activations. That is more than {where}; use fewer or "
        "smaller hidden layers."
    )


def check_least_squares(estimator, spec, n_residual_rows: int) -> None:
    """Refuse "lm" where MINPACK cannot run it: fewer residuals than
    parameters, or a dense Jacobian of r larger than the machine's memory.

    MINPACK's lmder needs m ≥ n (residuals at least as many as parameters).
    The m × n Jacobian of r is held at most twice in float64: its data rows,
    and, where the Gram matrix is too ill-conditioned for its Cholesky factor,
    the copy [r | ∂r] that LAPACK's QR factorises (``_least_squares.py``);
    "trf" forms neither.
    """
    if estimator.solver != "lm":
        return
    n_non_bias = int(np.count_nonzero(spec.weight_mask))
    m, p = n_residual_rows + n_non_bias, spec.n_params
    if m < p:
        raise ValueError(
            f"solver='lm' needs at least as many residuals as parameters "
            f"(MINPACK's requirement): {n_residual_rows} outputs + {n_non_bias} "
            f"penalty terms = {m} < {p} parameters. Use solver='trf', or more "
            "data or a smaller network."
        )
    need = 2 * 8 * m * p
    have = physical_memory()
    limit = sys.maxsize if have is None else have
    if need > limit:
        raise MemoryError(
            f"solver='lm' would hold the {m:,} × {p:,} Jacobian of the residuals "
            f"twice in float64: about {format_bytes(need)}, more than "
            f"{format_bytes(limit)} of memory. Use solver='trf', which never "
            "forms it."
        )


@contextlib.contextmanager
def restore_on_error(estimator) -> Iterator[None]:
    """Put back the estimator's attributes if the body raises, then re-raise.

    A fit only rebinds attributes (it never writes into the arrays of the
    previous fit), so a shallow copy of ``__dict__`` is a complete snapshot.
    """
    saved = estimator.__dict__.copy()
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        raise


def add_version(state: dict) -> dict:
    """The pickled state with this package's version recorded in it."""
    from sklearn_backprop import __version__

    return {**state, VERSION_KEY: __version__}


def check_version(state: dict, estimator_name: str, stacklevel: int = 3) -> dict:
    """The state without the recorded version; warns if it is not this version.

    ``stacklevel`` names the frame that called the loader (3: the caller of
    the ``__setstate__`` that calls this); frames of the loaders themselves
    (pickle's Python unpickler, joblib, skops) are skipped on top of it, so
    that the warning names the line that loaded the file.

    Warns
    -----
    InconsistentVersionWarning
        When the pickle was made by another sklearn-backprop version, or
        records none ("unknown").
    """
    from sklearn_backprop import __version__

    state = dict(state)
    original = state.pop(VERSION_KEY, "unknown")
    if original != __version__:
        warnings.warn(
            InconsistentVersionWarning(
                estimator_name=estimator_name,
                current_version=__version__,
                original_version=original,
            ),
            stacklevel=_past_loaders(stacklevel),
        )
    return state


# Packages whose frames lie between a loader's caller and __setstate__.
_LOADERS = frozenset({"pickle", "joblib", "skops"})


def _past_loaders(stacklevel: int) -> int:
    """The ``stacklevel`` of a warning its caller raises, moved on past the
    frames of :data:`_LOADERS`."""
    try:  # the frame the caller's stacklevel names (0 here is this function)
        frame = sys._getframe(stacklevel)
    except ValueError:  # a shorter stack than that
        return stacklevel
    level = stacklevel
    while frame.f_back is not None and (
        frame.f_globals.get("__name__", "").partition(".")[0] in _LOADERS
    ):
        frame = frame.f_back
        level += 1
    return level


def plain_result(result: Mapping) -> OptimizeResult:
    """The solver's result with its plain values only: what ``optimize_result_``
    keeps.

    Kept: arrays (``x``, ``jac``) as they are, numbers, booleans and strings
    (``fun``, ``nit``, ``nfev``, ``njev``, ``nhev``, ``status``, ``success``,
    ``message``) as Python scalars, None, and lists or tuples of these (the
    ``allvecs`` that ``solver_options={"return_all": True}`` asks for). Left
    out: the solver's own inverse-Hessian approximation ``hess_inv`` (a SciPy
    operator for "L-BFGS-B", a dense n_params × n_params matrix for "BFGS", as
    large as the network squared) and anything else that is not a plain value,
    so that a saved estimator holds no SciPy objects or code.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import minimize
    >>> result = minimize(lambda x: x @ x, np.ones(2), method="L-BFGS-B")
    >>> type(result["hess_inv"]).__name__
    'LbfgsInvHessProduct'
    >>> plain = plain_result(result)
    >>> "hess_inv" in plain, type(plain.nit), type(plain.fun), plain.success
    (False, <class 'int'>, <class 'float'>, True)
    """
    plain = OptimizeResult()
    for key, value in result.items():
        if key != "hess_inv" and (value := _plain(value)) is not _NOT_PLAIN:
            plain[key] = value
    return plain


_NOT_PLAIN = object()


def _plain(value):
    """value as a plain value (numpy scalars as Python's), or _NOT_PLAIN."""
    if isinstance(value, np.ndarray):
        return _NOT_PLAIN if value.dtype.hasobject else value
    if isinstance(value, np.generic):
        return _NOT_PLAIN if isinstance(value, np.object_) else value.item()
    if value is None:
        return value
    for kind in (bool, int, float, str):  # bool first: it is an int
        if isinstance(value, kind):
            return kind(value)  # a subclass (an IntEnum) as the plain type
    if type(value) in (list, tuple):
        items = [_plain(item) for item in value]
        if any(item is _NOT_PLAIN for item in items):
            return _NOT_PLAIN
        return type(value)(items)
    return _NOT_PLAIN


def saved_state(state: dict) -> dict:
    """The state ``__getstate__`` returns: the version recorded and
    ``optimize_result_`` as a plain ``dict`` (``OptimizeResult`` is a dict
    subclass, whose class skops would ask the loader to trust).

    Examples
    --------
    >>> from scipy.optimize import OptimizeResult
    >>> state = {"optimize_result_": OptimizeResult(nit=3)}
    >>> saved = saved_state(state)
    >>> type(saved["optimize_result_"]), type(state["optimize_result_"]).__name__
    (<class 'dict'>, 'OptimizeResult')
    >>> saved[VERSION_KEY] == __import__("sklearn_backprop").__version__
    True
    """
    state = add_version(state)
    if isinstance(state.get(RESULT_KEY), Mapping):
        state[RESULT_KEY] = dict(plain_result(state[RESULT_KEY]))
    return state


def loaded_state(state: dict, estimator_name: str) -> dict:
    """The state ``__setstate__`` restores: the version checked (see
    :func:`check_version`) and removed, ``optimize_result_`` an
    ``OptimizeResult`` of plain values again (also from a pickle made before
    it was stored plain).

    Warns
    -----
    InconsistentVersionWarning
        When the state was saved by another sklearn-backprop version, or
        records none.
    """
    state = check_version(state, estimator_name, stacklevel=4)
    if isinstance(state.get(RESULT_KEY), Mapping):
        state[RESULT_KEY] = plain_result(state[RESULT_KEY])
    return state
