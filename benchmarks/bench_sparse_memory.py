"""Peak memory of fitting on a large sparse CSR matrix, against its dense size.

A 20000 × 50000 CSR input with 0.1 % density holds 1e6 non-zeros (about 12 MB)
where its dense copy would take 8 GB. The fit must stay far below the dense
size: the first layer's products are sparse matmuls. Peak memory is traced
with ``tracemalloc`` (NumPy and SciPy report their buffers to it). Most of
the peak is L-BFGS-B's own history (2 × 10 vectors of n_params float64s) and
the solver's working copies of θ: memory proportional to the parameters, not
to a dense X.

Run: ``python benchmarks/bench_sparse_memory.py``
"""

import time
import tracemalloc
import warnings

import numpy as np
import scipy.sparse as sp
from _timing import machine_header
from sklearn.exceptions import ConvergenceWarning

from sklearn_backprop import BackpropClassifier
from sklearn_backprop.network import n_params

N_SAMPLES, N_FEATURES, DENSITY, HIDDEN = 20_000, 50_000, 0.001, 25


def main() -> None:
    for line in machine_header():
        print(line)
    rng = np.random.default_rng(0)
    X = sp.random(
        N_SAMPLES, N_FEATURES, density=DENSITY, format="csr", random_state=rng
    )
    w = rng.normal(size=N_FEATURES)
    y = (X @ w > 0).astype(int)
    sparse_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    dense_bytes = N_SAMPLES * N_FEATURES * 8
    params = n_params([N_FEATURES, HIDDEN, 1])

    tracemalloc.start()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = BackpropClassifier(
            hidden_layer_sizes=(HIDDEN,), alpha=1.0, max_iter=20, random_state=0
        ).fit(X, y)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    mb = 2**20
    print(f"X: {N_SAMPLES} x {N_FEATURES} CSR, {X.nnz} non-zeros")
    print(f"size of X (CSR)         {sparse_bytes / mb:10.1f} MiB")
    print(f"size of a dense copy    {dense_bytes / mb:10.1f} MiB")
    print(f"parameters              {params:10d} ({params * 8 / mb:.1f} MiB)")
    print(f"peak traced during fit  {peak / mb:10.1f} MiB")
    print(f"peak / dense copy       {peak / dense_bytes:10.4f}")
    print(
        f"fit: {clf.n_iter_} iterations in {seconds:.1f} s, "
        f"train accuracy {clf.score(X, y):.3f}"
    )


if __name__ == "__main__":
    main()
