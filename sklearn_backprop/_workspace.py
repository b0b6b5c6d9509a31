"""Scratch space that evaluations reuse: row-block buffers and named vectors."""

from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from sklearn_backprop._spec import NetworkSpec


class Buffers(NamedTuple):
    """One row block's buffers, as views sized for its rows.

    ``acts`` holds one (rows, S_l) buffer per layer l >= 2 (z, then a, then
    δ), ``back`` the back-propagation scratch, ``out_scratch`` an (rows, S_L)
    scratch for the loss, ``vec`` and ``ones`` two (rows,) vectors, and
    ``dW``/``db`` one contiguous (S_{l+1}, S_l) and (S_{l+1},) buffer per
    Θ^(l) for a block's Δ^(l) before it is added to the earlier blocks' sum.
    """

    acts: list[NDArray]
    back: NDArray
    out_scratch: NDArray
    vec: NDArray
    ones: NDArray
    dW: list[NDArray]
    db: list[NDArray]


class Workspace:
    """Scratch space reused by :func:`~sklearn_backprop.network.cost_grad`.

    Holds the activation buffers of every layer for one row chunk, the
    back-propagation scratch and per-row losses. Pass the same instance to
    repeated calls (as an optimiser does) and no memory proportional to the
    number of samples is allocated after the first call. Called again with
    the very same arrays, a call also skips its set-up (the row chunks, the
    targets with the weights folded in: what depends on the arrays' values
    is derived again, so arrays changed in place are seen). It also keeps
    the forward pass that Hessian-vector products at one θ share (see
    :func:`~sklearn_backprop.network.hessp`), and the threads that evaluate
    row chunks side by side.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_backprop.network import cost_grad, n_params
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(20, 3)), np.eye(2)[rng.integers(0, 2, 20)]
    >>> ws, theta = Workspace(), rng.normal(size=n_params([3, 4, 2]))
    >>> J1, _ = cost_grad(theta, X, Y, [3, 4, 2], workspace=ws)
    >>> J2, _ = cost_grad(theta, X, Y, [3, 4, 2], workspace=ws)
    >>> J1 == J2
    True
    """

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._capacity = 0
        self._vectors: dict[str, NDArray] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._helpers: list[Workspace] = []
        self._hessp: tuple | None = None
        self._last: tuple | None = None  # (n_rows, key, Buffers) of the last call
        self.source = None  # the last call's row-block source (network's cache)

    def buffers(self, n_rows: int, spec: NetworkSpec) -> Buffers:
        """The buffers of a block of ``n_rows`` rows; reallocated only to grow."""
        sizes, dtype = spec.layer_sizes, spec.dtype
        key = (sizes, dtype)
        if self._last is not None and self._last[:2] == (n_rows, key):
            return self._last[2]
        if key != self._key or n_rows > self._capacity:
            hidden = max(sizes[1:-1], default=0)
            self._acts = [np.empty(n_rows * s, dtype) for s in sizes[1:]]
            self._back = np.empty(n_rows * hidden, dtype)
            self._out = np.empty(n_rows * sizes[-1], dtype)
            self._vec = np.empty(n_rows, dtype)
            self._ones = np.ones(n_rows, dtype)
            self._dW = [
                np.empty((s_out, s_in), dtype)
                for s_in, s_out in zip(sizes[:-1], sizes[1:], strict=False)
            ]
            self._db = [np.empty(s_out, dtype) for s_out in sizes[1:]]
            self._key, self._capacity = key, n_rows
        buffers = Buffers(
            [
                buf[: n_rows * s].reshape(n_rows, s)
                for buf, s in zip(self._acts, sizes[1:], strict=True)
            ],
            self._back,
            self._out[: n_rows * sizes[-1]].reshape(n_rows, sizes[-1]),
            self._vec[:n_rows],
            self._ones[:n_rows],
            self._dW,
            self._db,
        )
        self._last = (n_rows, key, buffers)
        return buffers

    def vector(self, name: str, size: int, dtype) -> NDArray:
        """A flat scratch vector of ``size`` elements kept under ``name``."""
        buf = self._vectors.get(name)
        if buf is None or buf.size != size or buf.dtype != dtype:
            buf = self._vectors[name] = np.empty(size, dtype)
        return buf

    def helpers(self, n_threads: int) -> tuple[ThreadPoolExecutor, list["Workspace"]]:
        """A pool of ``n_threads - 1`` threads and one Workspace per thread."""
        if len(self._helpers) != n_threads:
            if self._pool is not None:
                self._pool.shutdown(wait=False)
            self._pool = ThreadPoolExecutor(
                n_threads - 1, thread_name_prefix="sklearn_backprop"
            )
            self._helpers = [Workspace() for _ in range(n_threads)]
        return self._pool, self._helpers

    def cached(self, data: tuple, key: tuple, theta: NDArray, compute):
        """``compute()``, reused while the ``data`` arrays (compared by
        identity), ``key`` (compared by value) and θ stay the same.

        Hessian-vector products at one θ share their forward pass this way.
        """
        hit = (
            self._hessp is not None
            and len(self._hessp[0]) == len(data)
            and all(a is b for a, b in zip(self._hessp[0], data, strict=True))
            and self._hessp[1] == key
            and np.array_equal(self._hessp[2], theta)
        )
        if not hit:
            self._hessp = (data, key, theta.copy(), compute())
        return self._hessp[3]
