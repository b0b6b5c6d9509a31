"""Row chunks evaluated on several threads, with results added in chunk order.

An evaluation is a sum over row chunks. Threads compute chunks side by side,
each with single-threaded BLAS (numpy releases the GIL in its products and
elementwise loops), and their sums are added strictly in chunk order, so the
result is bit for bit the one of a single thread. The number of threads
follows BLAS's own (threadpoolctl) in the main thread: limiting BLAS to one
thread with ``threadpoolctl.threadpool_limits(1)`` makes evaluations
single-threaded too, and so does starting them from any other thread.
"""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np
from threadpoolctl import ThreadpoolController  # a dependency of scikit-learn

_BLAS = None


def _blas():
    """threadpoolctl's handle on the BLAS libraries numpy has loaded."""
    global _BLAS
    if _BLAS is None:
        _BLAS = ThreadpoolController().select(user_api="blas")
    return _BLAS


def evaluation_threads() -> int:
    """Threads for an evaluation started from this thread: BLAS's number.

    Only the main thread spreads an evaluation over threads. Elsewhere (a fit
    in a thread of joblib or dask) the caller already runs things side by
    side, and OpenBLAS ignores thread limits set from some threads.
    """
    if threading.current_thread() is not threading.main_thread():
        return 1
    return blas_threads()


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
