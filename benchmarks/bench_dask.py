"""Full-batch training over Dask: the cost of one evaluation of J and its gradient.

What the "Beyond one machine" issue asks for, measured on a
``dask.distributed.LocalCluster`` with 1 and 2 worker processes (one thread
each) and in memory, on the same data, network and θ:

* **time per evaluation**: the median wall time of one J + gradient
  evaluation, as ``scipy.optimize.minimize`` makes them during a fit (the
  estimator's one objective type over its in-memory row blocks and
  over the cluster's blocks);
* **round-trip overhead**: the same on tiny data (as many blocks, n_classes
  rows each, so the same network and θ, next to no arithmetic): what
  scattering θ, running the block tasks and the tree sum and fetching the
  result cost by themselves; and the scatter of θ alone;
* **bytes moved per evaluation**: (a) "transfers": the data the workers sent
  (their ``transfer_outgoing_bytes_total`` counters: partial sums to the
  worker adding them, the total to the client) plus the scattered θ (its
  size × (1 + workers): client to scheduler, scheduler to each worker);
  (b) "written": every byte the client/scheduler process and the worker
  processes wrote to their TCP connections during the evaluations (counted
  by wrapping ``distributed.comm.tcp.TCP.write`` in each process, for this
  measurement only), messages, task specifications and heartbeats included;
  (c) the issue's bound 2 × n_params × 8 × n_blocks. (a) and (b) are also
  measured on the tiny data: what moves does not depend on the number of
  samples.

Run from the repository root::

    python benchmarks/bench_dask.py            # 200000 x 50 -> 64 -> 10, 8 blocks
    python benchmarks/bench_dask.py --quick    # tiny sizes, a smoke run

The cluster's workers run one BLAS thread each (dask's default for worker
processes); in-memory evaluations are timed with one BLAS thread and with the
machine's cores.
"""

import argparse
import os
import statistics
import time
import warnings

import numpy as np
from _timing import machine_header, median_time
from threadpoolctl import threadpool_limits

from sklearn_backprop import BackpropClassifier
from sklearn_backprop._blocks import InMemoryBlocks
from sklearn_backprop._data import fit_data
from sklearn_backprop._objective import Objective
from sklearn_backprop._spec import NetworkSpec
from sklearn_backprop.network import n_params


def _problem(n_samples, n_features, n_classes, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    y = rng.integers(0, n_classes, n_samples)
    return X, y


def _estimator(hidden):
    return BackpropClassifier(hidden_layer_sizes=hidden, alpha=1e-4)


def in_memory_ms(X, y, hidden, theta, repeats, threads):
    """Median ms of one evaluation of the in-memory objective."""
    Y = np.eye(y.max() + 1)[y]
    layer_sizes = [X.shape[1], *hidden, Y.shape[1]]
    spec = NetworkSpec.make(layer_sizes, "logistic", "softmax", "log_loss", X.dtype)
    with threadpool_limits(threads):  # the thread policy reads BLAS's threads
        objective = Objective(InMemoryBlocks(X, Y, None, spec), 1e-4, "exact")
        with objective.source.fit_context():  # as a fit runs it
            objective(theta)  # warm-up: workspace allocation
            return 1e3 * median_time(lambda: objective(theta), repeats)


def _count_tcp_writes():
    """Make this process count the bytes distributed's TCP comms write."""
    from distributed.comm import tcp

    if getattr(tcp.TCP.write, "counted", False):
        return
    write = tcp.TCP.write

    async def counted_write(self, msg, serializers=None, on_error="message"):
        n = await write(self, msg, serializers=serializers, on_error=on_error)
        tcp.bench_bytes_written = getattr(tcp, "bench_bytes_written", 0) + n
        return n

    counted_write.counted = True
    tcp.TCP.write = counted_write


def _tcp_bytes_written() -> int:
    from distributed.comm import tcp

    return getattr(tcp, "bench_bytes_written", 0)


def _written(client) -> int:
    """Bytes written to TCP by this process (client, scheduler) and the workers."""
    return _tcp_bytes_written() + sum(client.run(_tcp_bytes_written).values())


def _outgoing(client) -> int:
    counts = client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total)
    return sum(counts.values())


def on_cluster(client, X, y, hidden, n_blocks, theta, repeats):
    """Time and bytes of one evaluation on the cluster ``client`` talks to."""
    import dask.array as da

    chunk = -(-X.shape[0] // n_blocks)
    Xd = da.from_array(X, chunks=(chunk, -1))
    yd = da.from_array(y, chunks=chunk)
    with warnings.catch_warnings():
        # The in-memory X goes to the cluster inside the graph, once; real
        # data would be read by the workers (da.from_zarr, ...).
        warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
        data = fit_data(Xd, yd, None, _estimator(hidden)._fit_request(list(hidden)))
        objective = Objective(data.source, 1e-4, "exact")
    assert len(data.source.blocks) == n_blocks
    rng = np.random.default_rng(1)
    thetas = [theta + 1e-6 * rng.standard_normal(theta.size) for _ in range(repeats)]
    for t in thetas[:5]:  # warm-up: imports, blocks of Y moving next to X's
        objective(t)
    _count_tcp_writes()
    client.run(_count_tcp_writes)
    outgoing, written = _outgoing(client), _written(client)
    times = []
    for t in thetas:
        start = time.perf_counter()
        objective(t)
        times.append(time.perf_counter() - start)
    outgoing = (_outgoing(client) - outgoing) / repeats
    written = (_written(client) - written) / repeats
    n_workers = len(client.scheduler_info()["workers"])
    scattered = theta.nbytes * (1 + n_workers)
    return {
        "ms": 1e3 * statistics.median(times),
        "transfers": outgoing + scattered,
        "written": written,
    }


def scatter_ms(client, theta, repeats):
    return 1e3 * median_time(
        lambda: client.scatter(theta, broadcast=True, hash=False), repeats
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-samples", type=int, default=200_000)
    parser.add_argument("--n-features", type=int, default=50)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--n-classes", type=int, default=10)
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_samples, args.repeats = 4000, 5

    from dask.distributed import Client, LocalCluster

    hidden = (args.hidden,)
    X, y = _problem(args.n_samples, args.n_features, args.n_classes)
    layer_sizes = [args.n_features, *hidden, args.n_classes]
    p = n_params(layer_sizes)
    theta = np.random.default_rng(2).uniform(-0.1, 0.1, p)
    # The overhead data: as many blocks, n_classes rows each (every class
    # present, so the same network and θ), next to no arithmetic.
    X_tiny, _ = _problem(args.blocks * args.n_classes, args.n_features, 1, seed=3)
    y_tiny = np.arange(X_tiny.shape[0]) % args.n_classes
    bound = 2 * p * 8 * args.blocks
    for line in machine_header():
        print(line)
    print(
        f"data {args.n_samples} x {args.n_features} -> {args.hidden} -> "
        f"{args.n_classes} (float64), {p} parameters ({p * 8 / 1024:.1f} KiB), "
        f"{args.blocks} blocks of {-(-args.n_samples // args.blocks)} rows; "
        f"median of {args.repeats} evaluations"
    )
    cores = os.cpu_count()
    rows = [
        (
            "in memory, 1 BLAS thread",
            in_memory_ms(X, y, hidden, theta, args.repeats, 1),
        ),
        (
            f"in memory, {cores} BLAS threads",
            in_memory_ms(X, y, hidden, theta, args.repeats, cores),
        ),
    ]
    for name, ms in rows:
        print(f"{name:34s} {ms:9.1f} ms/evaluation")
    print()
    header = (
        f"{'LocalCluster':14s} {'ms/eval':>9s} {'overhead ms':>12s} "
        f"{'scatter ms':>11s} {'transfers B/eval':>17s} {'written B/eval':>15s} "
        f"{'(tiny data)':>28s} {'bound B':>9s}"
    )
    print(header)
    for n_workers in (1, 2):
        with (
            LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            full = on_cluster(client, X, y, hidden, args.blocks, theta, args.repeats)
            tiny = on_cluster(
                client, X_tiny, y_tiny, hidden, args.blocks, theta, args.repeats
            )
            sc = scatter_ms(client, theta, args.repeats)
        print(
            f"{n_workers} worker{'s' if n_workers > 1 else ' '}      "
            f"{full['ms']:9.1f} {tiny['ms']:12.1f} {sc:11.1f} "
            f"{full['transfers']:17,.0f} {full['written']:15,.0f} "
            f"{tiny['transfers']:>13,.0f} {tiny['written']:>14,.0f} {bound:9,d}"
        )


if __name__ == "__main__":
    main()
