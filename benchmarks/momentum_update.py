"""The momentum update of one weight matrix, three ways, each right after the product that
writes its gradient (as in a training step, where OpenBLAS's threads are still spinning).

At 784-256-10 batch 32 the update ``v = momentum * v - g; w += v`` costs about as much as the
matrix products (the issue says so, and ``step_profile.py`` puts it at ~24% of the epoch).
NumPy needs three passes for it (``v *= m``, ``v -= g``, ``w += v``); a fused kernel would
need one. This script measures the two ways of getting fewer passes or more cores that stay
within Python libraries, against the three NumPy passes:

- ``numpy``: the three in-place ufunc calls chainrule's SGD makes;
- ``numexpr``: ``v = m * v - g`` and ``w = w + v`` as two numexpr expressions (one pass each,
  its own thread pool; needs ``pip install numexpr``), with 1 and 2 threads;
- ``2 threads``: the three NumPy calls on each half of the rows, one half on a worker thread
  (NumPy releases the GIL in its loops);
- ``numba``: the one-pass loop ``v[i] = m * v[i] - g[i]; w[i] += v[i]`` compiled by Numba
  (``pip install numba``), one thread: what a compiled kernel, outside NumPy, would give.

Each update is timed right after ``np.matmul(x.T, delta, out=g)`` (the weight gradient's
product, 2 BLAS threads), as it comes in ``fit``; medians of ``--repeats`` pairs, each way
after a 0.2 s pause (so that the threads of the way before have stopped spinning).

A second table times the product and the update together, after a forward product through
NumPy's BLAS (as in a step): NumPy (``matmul``, then the three passes) against SciPy's
``sgemm`` with ``beta``, which writes ``v = 0.9 v - x^T delta`` in the product itself, then
``w += v`` (needs SciPy; SciPy's wheels bring their own OpenBLAS and its thread pool).

    python benchmarks/momentum_update.py
    python benchmarks/momentum_update.py --shapes 784x800x128
"""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402


def updates(w, v, g, momentum):
    """The update functions to time, by name (numexpr's only if it is installed)."""
    m = np.float32(momentum)

    def numpy_passes():
        np.multiply(v, m, out=v)  # v = momentum * v
        np.subtract(v, g, out=v)  #     - g
        np.add(w, v, out=w)  #      w += v

    pool = concurrent.futures.ThreadPoolExecutor(1)
    half = len(w) // 2

    def rows(part):
        vv, gg, ww = v[part], g[part], w[part]
        vv *= m
        vv -= gg
        ww += vv

    def two_threads():
        later = pool.submit(rows, slice(half, None))
        rows(slice(0, half))
        later.result()

    found = {"numpy": numpy_passes, "2 threads": two_threads}
    fused = _numba_kernel()
    if fused is not None:
        flat_w, flat_v, flat_g = w.reshape(-1), v.reshape(-1), g.reshape(-1)
        fused(flat_w, flat_v, flat_g, m)  # compiled here, not in the timing
        found["numba (1 fused pass)"] = lambda: fused(flat_w, flat_v, flat_g, m)
    try:
        import numexpr
    except ImportError:
        return found, None

    def numexpr_with(threads):
        def update():
            numexpr.set_num_threads(threads)
            arrays = {"m": m, "v": v, "g": g, "w": w}
            numexpr.evaluate("m * v - g", local_dict=arrays, out=v, casting="same_kind")
            numexpr.evaluate("w + v", local_dict=arrays, out=w, casting="same_kind")

        return update

    found["numexpr 1 thread"] = numexpr_with(1)
    found["numexpr 2 threads"] = numexpr_with(2)
    return found, numexpr


def _numba_kernel():
    """The momentum update as one compiled loop over flat arrays, or None without Numba."""
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(nogil=True)
    def momentum_pass(w, v, g, m):
        for i in range(w.size):
            velocity = m * v[i] - g[i]
            v[i] = velocity
            w[i] += velocity

    return momentum_pass


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shapes",
        default="784x256x32,784x800x128",
        help="comma-separated n_in x n_out x batch (default: rows 3 and 6 of epoch_time.py)",
    )
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    _common.set_threads(args.threads)
    print(f"# momentum update after the weight-gradient product, medians of {args.repeats}")
    print(f"# {_common.machine_line()}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}")
    fused_rows = []
    print("| weights | batch | update | update us | product us | update / numpy |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    for shape in args.shapes.split(","):
        n_in, n_out, batch = (int(n) for n in shape.split("x"))
        rng = np.random.default_rng(0)
        w = rng.standard_normal((n_in, n_out), dtype=np.float32)
        v, g = np.zeros_like(w), np.empty_like(w)
        x = rng.standard_normal((batch, n_in), dtype=np.float32)
        delta = rng.standard_normal((batch, n_out), dtype=np.float32) * np.float32(1e-6)
        found, numexpr = updates(w, v, g, 0.9)
        times = {}
        for _ in range(2):  # each way twice, interleaved: the second round is the one shown
            for name, update in found.items():
                _common.pause()  # the other ways' spinning threads go idle first
                spent, products = [], []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    np.matmul(x.T, delta, out=g)  # dE/dw = in^T . delta
                    middle = time.perf_counter()
                    update()
                    spent.append(time.perf_counter() - middle)
                    products.append(middle - start)
                times[name] = (statistics.median(spent), statistics.median(products))
        base = times["numpy"][0]
        for name, (spent, product) in times.items():
            print(
                f"| {n_in}x{n_out} | {batch} | {name} | {spent * 1e6:.1f} | {product * 1e6:.1f} "
                f"| {spent / base:.2f} |"
            )
        if numexpr is None:
            print(f"| {n_in}x{n_out} | {batch} | numexpr | not installed | | |")
        if not any(name.startswith("numba") for name in times):
            print(f"| {n_in}x{n_out} | {batch} | numba | not installed | | |")
        fused_rows.append(_fused_gemm(x, delta, w, v, g, args.repeats))
    print()
    print("| weights | batch | product and update | us | / numpy |")
    print("| --- | ---: | --- | ---: | ---: |")
    for rows in fused_rows:
        for row in rows:
            print(row)


def _fused_gemm(x, delta, w, v, g, repeats: int) -> list[str]:
    """Table rows: a forward product (NumPy's BLAS), then the weight gradient's product and
    the momentum update, by NumPy or by SciPy's ``sgemm`` with ``beta``."""
    batch, n_in = x.shape
    n_out = w.shape[1]
    h = np.ones((batch, n_in), np.float32)
    net = np.empty((batch, n_out), np.float32)
    m = np.float32(0.9)

    def with_numpy():
        np.dot(h, w, out=net)
        np.matmul(x.T, delta, out=g)
        np.multiply(v, m, out=v)
        np.subtract(v, g, out=v)
        np.add(w, v, out=w)

    ways = {"numpy: matmul, 3 passes": with_numpy}
    try:
        from scipy.linalg import blas
    except ImportError:
        blas = None
    else:

        def with_scipy():
            np.dot(h, w, out=net)
            # v^T = -1 delta^T x + 0.9 v^T: v (C order) is v.T in Fortran order, written in place
            blas.sgemm(-1.0, delta, x, beta=0.9, c=v.T, trans_a=1, overwrite_c=1)
            np.add(w, v, out=w)

        ways["scipy: sgemm with beta, 1 pass"] = with_scipy
    times = {}
    for _ in range(2):  # interleaved; the second round is the one shown
        for name, way in ways.items():
            _common.pause()
            spent = []
            for _ in range(repeats):
                start = time.perf_counter()
                way()
                spent.append(time.perf_counter() - start)
            times[name] = statistics.median(spent)
    base = times["numpy: matmul, 3 passes"]
    rows = [
        f"| {n_in}x{n_out} | {batch} | {name} | {t * 1e6:.1f} | {t / base:.2f} |"
        for name, t in times.items()
    ]
    if blas is None:
        rows.append(f"| {n_in}x{n_out} | {batch} | scipy | not installed | |")
    return rows


if __name__ == "__main__":
    main()
