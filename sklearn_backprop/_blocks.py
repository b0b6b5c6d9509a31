"""In-memory row blocks: the data source of an evaluation on this machine.

An evaluation is a sum over row blocks (:mod:`sklearn_backprop._kernel` and
:mod:`sklearn_backprop._rop` compute one block's terms). :class:`InMemoryBlocks`
cuts in-memory X into cache-sized chunks once, folds the sample weights into
each chunk's targets once, and sums the chunks' terms serially or on threads
(the policy of :mod:`sklearn_backprop._threads`). When X is one chunk, an
evaluation is a handful of numpy calls on buffers prepared once.
"""

from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn import get_config

from sklearn_backprop import _jacobian
from sklearn_backprop._kernel import (
    block_cost_grad,
    fold,
    forward,
    is_large,
    use_tanh_form,
)
from sklearn_backprop._rop import block_hessp, forward_state
from sklearn_backprop._spec import NetworkSpec
from sklearn_backprop._threads import (
    evaluation_threads,
    run_in_order,
    single_threaded_blas,
)
from sklearn_backprop._workspace import Workspace

# Dense evaluations run over row chunks whose inputs and activations take about
# this many bytes, so that each chunk's GEMMs and elementwise passes work on
# data a core's L2 cache holds (the same GEMMs ran 1.1-1.6x faster so than
# over all rows at once, benchmarks/README.md). Fewer than _MIN_CHUNK_ROWS rows
# would let per-chunk Python overhead show.
CACHE_CHUNK_BYTES = 2 * 2**20
MIN_CHUNK_ROWS = 512


def working_memory_rows(n: int, layer_sizes, dtype) -> int:
    """Rows whose activations fit scikit-learn's ``working_memory`` (MiB)."""
    row_bytes = np.dtype(dtype).itemsize * (sum(layer_sizes[1:]) * 2 + 1)
    budget = get_config()["working_memory"] * 2**20
    return int(min(max(budget // row_bytes, 1), max(n, 1)))


def chunk_rows(n: int, layer_sizes, dtype) -> int:
    """Rows per chunk, the one rule: about :data:`CACHE_CHUNK_BYTES` of inputs
    and activations (at least :data:`MIN_CHUNK_ROWS`), and never more than
    ``working_memory`` allows."""
    row_bytes = np.dtype(dtype).itemsize * (
        layer_sizes[0] + 2 * sum(layer_sizes[1:]) + 1
    )
    cache_rows = max(CACHE_CHUNK_BYTES // row_bytes, MIN_CHUNK_ROWS)
    return int(min(cache_rows, working_memory_rows(n, layer_sizes, dtype)))


def as_rows(X):
    """X as CSR/CSC (row slicing) or an ndarray, float32 kept, else float64."""
    if sp.issparse(X):
        X = X if X.format in ("csr", "csc") else X.tocsr()
    else:
        X = np.asarray(X)
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    return X if X.dtype == dtype else X.astype(dtype)


class InMemoryBlocks:
    """Σ over in-memory row chunks of the data term and its curvature products.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, S_1)
        Input rows, float32 or float64 (other dtypes are converted).
    Y : array-like of shape (n_samples, S_L)
        Targets.
    sample_weight : array-like of shape (n_samples,) or None
        Non-negative weights.
    spec : NetworkSpec
        The network; its dtype is replaced by X's.
    chunk_size : int, default=None
        Rows per chunk; None applies :func:`chunk_rows`.
    n_threads : int, default=None
        Threads per evaluation (the thread policy of
        :func:`~sklearn_backprop._threads.evaluation_threads`).
    workspace : Workspace, default=None
        Scratch space to reuse; a new one if None.
    """

    def __init__(
        self,
        X,
        Y,
        sample_weight,
        spec: NetworkSpec,
        *,
        chunk_size: int | None = None,
        n_threads: int | None = None,
        workspace: Workspace | None = None,
    ):
        X = as_rows(X)
        spec = spec.with_dtype(X.dtype)
        n = X.shape[0]
        sizes = spec.layer_sizes
        if X.ndim != 2 or X.shape[1] != sizes[0]:
            raise ValueError(
                f"X must have shape (n_samples, {sizes[0]}), got {X.shape}."
            )
        Y = np.asarray(Y, dtype=spec.dtype)
        if Y.shape != (n, sizes[-1]):
            raise ValueError(f"Y must have shape ({n}, {sizes[-1]}), got {Y.shape}.")
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=spec.dtype)
            if sample_weight.shape != (n,):
                raise ValueError(
                    f"sample_weight must have shape ({n},), got {sample_weight.shape}."
                )
        if chunk_size is None:
            chunk_size = chunk_rows(n, sizes, spec.dtype)
        elif not isinstance(chunk_size, int | np.integer) or chunk_size < 1:
            raise ValueError(
                f"chunk_size must be a positive integer, got {chunk_size!r}."
            )
        self.spec, self.X, self.Y, self.w = spec, X, Y, sample_weight
        self.bounds = [(a, min(a + chunk_size, n)) for a in range(0, n, chunk_size)]
        self.rows = min(chunk_size, n)
        self.workspace = Workspace() if workspace is None else workspace
        one = len(self.bounds) == 1
        self._X = [X if one else X[a:b] for a, b in self.bounds]
        self._Y = [Y if one else Y[a:b] for a, b in self.bounds]
        self._w = [
            sample_weight if one or sample_weight is None else sample_weight[a:b]
            for a, b in self.bounds
        ]
        self._requested_threads = n_threads
        self.W = float(n)
        self._targets = [
            spec.loss.targets(Yc, wc) for Yc, wc in zip(self._Y, self._w, strict=True)
        ]
        self._views: tuple = (None, None)  # (out, its Θ-layout Δ views)
        self.key = None  # the options of the call that made it (network's cache)
        self.refresh(targets_derived=True)
        self._tanh_form = use_tanh_form(spec, self.rows)
        self._large = is_large(spec, self.rows)

    def refresh(self, targets_derived: bool = False) -> None:
        """Derive again what comes from the weights' and targets' values (W,
        the weighted targets, unless just ``targets_derived``) and the thread
        count from the thread policy."""
        w = self.w
        if w is not None:
            if np.any(w < 0):
                raise ValueError("sample_weight must be non-negative.")
            self.W = float(w.sum())
        # The weighted targets are derived again by each block's own
        # evaluation, inside the thread policy (a BLAS call out here would
        # wake BLAS's threads, which then spin on the cores the blocks need).
        self._stale = [not targets_derived] * len(self._targets)
        self.n_threads = evaluation_threads(
            len(self.bounds), self._requested_threads, self.spec.layer_sizes
        )

    def reuses(self, X, Y, sample_weight, key) -> bool:
        """Whether a call with these very arrays (no conversion needed) and
        options ``key`` can reuse this source after :meth:`refresh`."""
        return (
            self.X is X and self.Y is Y and self.w is sample_weight and self.key == key
        )

    @contextmanager
    def fit_context(self):
        """A fit's thread policy: BLAS on one thread throughout, the chunks of
        each evaluation on the evaluation threads (see ``_threads``)."""
        self.n_threads = evaluation_threads(len(self.bounds), self._requested_threads)
        with single_threaded_blas():
            yield

    def cost_grad_sum(self, theta: NDArray, out: NDArray | None = None):
        """(Σ_i w_i loss_i, Δ, W) at θ, as ``network.cost_grad_sum`` returns them."""
        spec, ws = self.spec, self.workspace
        grad = np.empty(spec.n_params, spec.dtype) if out is None else out
        thetas = spec.unpack(theta)
        folded = fold(thetas, spec, ws, self._tanh_form, self._large)
        n_blocks = len(self.bounds)

        def block(i, workspace, sums, accumulate):
            if self._stale[i]:
                spec.loss.update(self._targets[i])
                self._stale[i] = False
            return block_cost_grad(
                folded,
                self._X[i],
                self._targets[i],
                spec,
                workspace.buffers(self.bounds[i][1] - self.bounds[i][0], spec),
                sums,
                accumulate,
            )

        if n_blocks == 1:  # the lean path: Δ straight into Θ's layout
            if self._views[0] is not grad:
                self._views = (grad, [(G[:, 1:], G[:, 0]) for G in spec.unpack(grad)])
            return block(0, ws, self._views[1], False), grad, self.W
        if n_blocks == 0:
            grad[...] = 0
            return 0.0, grad, self.W
        total = ws.vector("sums", spec.n_params, spec.dtype)
        blocks = _sum_blocks(total, spec)
        J = 0.0
        if self.n_threads == 1:
            for i in range(n_blocks):  # the first block writes Δ, later ones add
                J += block(i, ws, blocks, i > 0)
        else:
            pool, helpers = ws.helpers(self.n_threads)

            def compute(i, worker):
                part = helpers[worker].vector("sums", spec.n_params, spec.dtype)
                return block(i, helpers[worker], _sum_blocks(part, spec), False)

            def combine(i, worker, J_block):  # in block order: the serial sums
                nonlocal J
                J += J_block
                part = helpers[worker].vector("sums", spec.n_params, spec.dtype)
                if i == 0:
                    np.copyto(total, part)
                else:
                    np.add(total, part, out=total)

            run_in_order(n_blocks, compute, combine, pool, self.n_threads)
        for (dW, db), G in zip(blocks, spec.unpack(grad), strict=True):
            G[:, 0] = db
            G[:, 1:] = dW
        return J, grad, self.W

    def row_sum(self, task, theta: NDArray) -> tuple:
        """``task(self, theta)``: Σ over all rows of a term another module
        defines (a tuple of arrays), as a Dask source sums it block by block."""
        return task(self, theta)

    def hessp_sum(self, theta: NDArray, v: NDArray, curvature: str):
        """(R{Δ}, W): :func:`~sklearn_backprop.network.hessp_sum` at θ along v."""
        spec = self.spec
        thetas, vs = spec.unpack(theta), spec.unpack(v)
        out = np.zeros(spec.n_params, spec.dtype)
        out_layers = spec.unpack(out)
        exact = curvature == "exact"
        states = None
        if self._cache_states():
            states = self.workspace.cached(
                (self.X, self.Y),
                (spec, self.rows),
                theta,
                lambda: [
                    forward_state(thetas, Xc, Yc, spec)
                    for Xc, Yc in zip(self._X, self._Y, strict=True)
                ],
            )

        def compute(i, worker):
            state = (
                states[i]
                if states
                else forward_state(thetas, self._X[i], self._Y[i], spec)
            )
            return block_hessp(thetas, vs, state, self._Y[i], self._w[i], spec, exact)

        def combine(i, worker, r_grads):
            for total, part in zip(out_layers, r_grads, strict=True):
                total += part

        if self.n_threads == 1 or len(self.bounds) == 1:
            for i in range(len(self.bounds)):
                combine(i, 0, compute(i, 0))
        else:
            pool, _ = self.workspace.helpers(self.n_threads)
            run_in_order(len(self.bounds), compute, combine, pool, self.n_threads)
        return out, self.W

    # ----------------------------------------------------------------------
    # The sum-of-squares form ½‖r‖² of a squared-error cost: its data rows
    # r_ik = √w_i (ŷ_ik - y_ik) and their Jacobian, for least-squares solvers.

    def _root_weights(self) -> NDArray | None:
        return None if self.w is None else np.sqrt(self.w)[:, None]

    def residual_rows(self, theta: NDArray) -> NDArray:
        """√w_i (ŷ_ik - y_ik), shape (n_samples, K)."""
        thetas = self.spec.unpack(theta)
        r = forward(thetas, self.X, self.spec.activation, self.spec.loss.output)[-1]
        r -= self.Y
        root = self._root_weights()
        return r if root is None else np.multiply(r, root, out=r)

    def jacobian_rows(self, theta: NDArray) -> NDArray:
        """√w_i ∂ŷ_ik/∂θ, shape (n_samples·K, n_params), rows sample-major."""
        jac = _jacobian.jacobian(self.spec.unpack(theta), self.X, self.spec)
        root = self._root_weights()
        if root is not None:
            K = self.spec.layer_sizes[-1]
            jac.reshape(len(root), K, -1)[...] *= root[:, :, None]
        return jac

    def jvp_rows(self, theta: NDArray, v: NDArray) -> NDArray:
        """√w_i (J v)_ik, shape (n_samples, K)."""
        spec = self.spec
        Jv = _jacobian.jvp(spec.unpack(theta), spec.unpack(v), self.X, spec)
        root = self._root_weights()
        return Jv if root is None else np.multiply(Jv, root, out=Jv)

    def vjp_rows(self, theta: NDArray, U: NDArray) -> NDArray:
        """Jᵀ (√w ⊙ U), shape (n_params,)."""
        root = self._root_weights()
        U = U if root is None else U * root
        grad = np.empty(self.spec.n_params, self.spec.dtype)
        return _jacobian.vjp(self.spec.unpack(theta), U, self.X, self.spec, grad)

    def _cache_states(self) -> bool:
        """Whether the forward pass at θ for all rows fits ``working_memory``."""
        n = self.X.shape[0]
        return working_memory_rows(n, self.spec.layer_sizes, self.spec.dtype) >= n


def _sum_blocks(flat: NDArray, spec: NetworkSpec) -> list[tuple]:
    """Views (Δ^(l) off the bias column, Δ^(l) of the bias) of a flat vector.

    The layout in which row chunks sum their Δ: contiguous (S_{l+1}, S_l)
    and (S_{l+1},) blocks, which BLAS writes and numpy adds several times
    faster than the strided Θ[:, 1:] and Θ[:, 0]; the total is moved into
    Θ's layout once per evaluation.
    """
    blocks, start = [], 0
    for s_out, width in spec.shapes:
        s_in = width - 1
        weights = flat[start : start + s_out * s_in].reshape(s_out, s_in)
        start += s_out * s_in
        blocks.append((weights, flat[start : start + s_out]))
        start += s_out
    return blocks
