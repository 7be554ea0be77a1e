"""Shared helpers for the benchmark scripts: data, threads, timing, FLOP counts.

Not a test module and not part of the package: the scripts in this folder import it as a
sibling (``python benchmarks/epoch_time.py`` puts this folder on ``sys.path``).
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import numpy as np

PAUSE = 0.2  # seconds before each timed block: lets BLAS/OpenMP spinning threads go idle


def set_threads(n: int) -> None:
    """``n`` threads for NumPy's BLAS and, if loaded, PyTorch (intra- and inter-op)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # fall back to the environment (only works before numpy loads BLAS)
        os.environ.setdefault("OPENBLAS_NUM_THREADS", str(n))
    else:
        threadpool_limits(n)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(n)


def load_mnist(split: str = "train", dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """MNIST images (N, 784) in [0, 1] (or raw uint8) and int64 labels (N,)."""
    from chainrule.datasets import load_mnist as load

    return load(split, dtype=dtype)


def pause() -> None:
    time.sleep(PAUSE)


def median_min_max(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def batch_sizes(n: int, batch: int) -> list[int]:
    """The sizes of the batches of one epoch over ``n`` examples (the last may be smaller)."""
    return [min(batch, n - start) for start in range(0, n, batch)]


def train_flops(sizes: list[int], n: int, batch: int) -> float:
    """Floating-point operations of the matrix products of one training epoch.

    Per Dense layer and batch of ``m`` rows: forward ``in . w`` and ``dE/dw = in^T . delta``
    are ``2 m n_in n_out`` each; ``dE/din = delta . w^T`` the same, except for the first
    layer, whose input gradient is never computed.
    """
    per_row = 0
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        per_row += 2 * n_in * n_out * (2 if i == 0 else 3)
    return float(per_row) * n


def matmul_rate(size: int = 2048, repeats: int = 3) -> float:
    """GFLOP/s of a large float32 matrix product (the machine's practical matmul rate)."""
    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    c = np.empty_like(a)
    np.matmul(a, b, out=c)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, b, out=c)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def machine_line() -> str:
    """CPU model, core count, load average, NumPy/BLAS versions: for the table's header."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
            fh.seek(0)
            flags = next((ln for ln in fh if ln.startswith("flags")), "")
        simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    except OSError:
        simd = "?"
    try:
        load = "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        load = "load ?"
    blas = "?"
    try:
        from threadpoolctl import threadpool_info

        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if info:
            blas = f"{info[0]['internal_api']} {info[0]['version']} ({info[0]['architecture']})"
    except ImportError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {simd}; {load}; "
        f"python {platform.python_version()}, numpy {np.__version__}, BLAS {blas}"
    )
