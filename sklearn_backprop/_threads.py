"""The thread policy: evaluation threads and BLAS threads never multiply.

An evaluation is a sum over row chunks. When it has several chunks, threads
compute them side by side, each with single-threaded BLAS (numpy releases the
GIL in its products and elementwise loops), and their sums are added strictly
in chunk order, so the result is bit for bit the one of a single thread. A
direct evaluation of one chunk, or of a network whose matrix products dwarf
its elementwise work, runs in the calling thread with BLAS's own threads.

A fit holds BLAS to one thread from start to end and spreads the chunks of
each evaluation over the evaluation threads: an idle OpenBLAS thread spins
for a while after each call and would take a core from them, and a fit's
weights then do not depend on the number of threads the machine gives BLAS
(a product split over BLAS's threads may round differently).

The number of evaluation threads follows BLAS's own (threadpoolctl) in the
main thread: limiting BLAS to one thread with
``threadpoolctl.threadpool_limits(1)`` makes evaluations single-threaded too,
and so does starting them from any other thread (a fit in a joblib or dask
worker thread, where the caller already runs things side by side, and where
OpenBLAS ignores thread limits set from some threads).
"""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from numbers import Integral

import numpy as np
from threadpoolctl import ThreadpoolController

_BLAS = None


def _blas():
    """threadpoolctl's handle on the BLAS libraries numpy has loaded."""
    global _BLAS
    if _BLAS is None:
        _BLAS = ThreadpoolController().select(user_api="blas")
    return _BLAS


# Evaluations whose matrix products outweigh their elementwise work by more
# than this many multiply-adds per activation run their chunks one after
# another on BLAS's own threads instead of on evaluation threads. Measured on
# 2 cores with MLPClassifier's BLAS calls in between (benchmarks/
# bench_threads.py): 5000x400->25->10 (293) took 0.70 of its one-thread time
# on BLAS's threads and 1.07 on ours, which an idle OpenBLAS thread still
# spinning from another library's call slows; 20000x100->100->10 (100) and
# 20000x100->256->128->10 (151) took 0.59 and 0.56 on ours, 0.74 and 0.68 on
# BLAS's, whose threads leave the elementwise passes to one core.
GEMM_BOUND = 200


def gemm_bound(layer_sizes) -> bool:
    """Whether the matrix products dwarf the elementwise work (see GEMM_BOUND)."""
    products = sum(
        a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:], strict=False)
    )
    return products > GEMM_BOUND * sum(layer_sizes[1:])


def evaluation_threads(
    n_chunks: int, requested: int | None = None, layer_sizes=None
) -> int:
    """Threads for an evaluation of ``n_chunks`` row chunks.

    ``requested`` (a positive int) if given; else BLAS's number of threads in
    the main thread and one in any other, and one when the network's matrix
    products dwarf its elementwise work (:func:`gemm_bound`: BLAS's own
    threads serve it better); never more than there are chunks.
    """
    if requested is None:
        on_main = threading.current_thread() is threading.main_thread()
        spread = on_main and n_chunks > 1
        if spread and layer_sizes is not None and gemm_bound(layer_sizes):
            spread = False
        requested = blas_threads() if spread else 1
    elif not isinstance(requested, Integral) or requested < 1:
        raise ValueError(f"n_threads must be a positive integer, got {requested!r}.")
    return int(max(min(requested, n_chunks), 1))


def single_threaded_blas() -> AbstractContextManager:
    """BLAS held to one thread (every BLAS library numpy and scipy loaded)."""
    return _blas().limit(limits=1)


def blas_threads() -> int:
    """The number of threads BLAS may use now (1 when it cannot be told).

    The smallest over the BLAS libraries loaded: scipy's own copy, loaded
    after a ``threadpool_limits`` call, keeps its default.
    """
    return min((lib.num_threads for lib in _blas().lib_controllers), default=1)


def run_in_order(
    n_items: int,
    compute: Callable[[int, int], object],
    combine: Callable[[int, int, object], None],
    pool: ThreadPoolExecutor,
    n_threads: int,
) -> None:
    """``compute(i, worker)`` for every item, ``combine`` strictly in order of i.

    Item i runs on worker ``i % n_threads``: worker 0 is the calling thread,
    the others run on ``pool``, which must have ``n_threads - 1`` threads
    free (the workers wait for one another's turns). ``combine(i, worker,
    result)`` is called once items 0, ..., i - 1 are combined. BLAS is
    limited to one thread meanwhile, and each worker runs under the caller's
    numpy error state. An exception in any worker (KeyboardInterrupt in the
    calling thread included) stops the others and is raised here.
    """
    cond = threading.Condition()
    state = {"turn": 0, "error": None}
    errstate = np.geterr()

    def work(worker: int) -> None:
        try:
            with np.errstate(**errstate):
                for i in range(worker, n_items, n_threads):
                    result = compute(i, worker)
                    with cond:
                        while state["turn"] != i and state["error"] is None:
                            cond.wait()
                        if state["error"] is not None:
                            return
                        combine(i, worker, result)
                        state["turn"] += 1
                        cond.notify_all()
        except BaseException as exc:
            with cond:
                if state["error"] is None:
                    state["error"] = exc
                cond.notify_all()

    with _blas().limit(limits=1):
        if blas_threads() > 1:  # the limit did not take: BLAS's threads suffice
            n_threads = 1
        futures = [pool.submit(work, worker) for worker in range(1, n_threads)]
        try:
            work(0)
            wait(futures)
        except BaseException as exc:  # interrupted while waiting: stop them
            with cond:
                state["error"] = state["error"] or exc
                cond.notify_all()
            wait(futures)
    if state["error"] is not None:
        raise state["error"]
