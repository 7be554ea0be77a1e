"""Seconds to load bundled MNIST: decompressing the package's .gz files vs the decoded cache.

Each load runs in a fresh Python process (a user's script loads once per process; the timer
starts after ``import chainrule.datasets``), ``--repeats`` times; the table prints the median
and the min-max. Three ways to load:

* ``no cache``: ``load_mnist(split, cache=False)``: gunzip, SHA-256 check, scale.
* ``first load``: an empty cache directory each time: the same, plus writing the cache.
* ``cached``: the cache is there: read the ``.npy``, SHA-256 check, scale.

A last block repeats the cached load inside one process (memory already mapped), the best
case. The cache goes to a temporary directory (``$CHAINRULE_CACHE``), never the user's.

    python benchmarks/load_mnist.py                # train and test, float32 and uint8
    python benchmarks/load_mnist.py --repeats 9 --split train
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

CHILD = """
import sys, time
import numpy as np
from chainrule.datasets import load_mnist
split, dtype, cache = sys.argv[1], np.dtype(sys.argv[2]), sys.argv[3] == "1"
start = time.perf_counter()
images, labels = load_mnist(split, dtype=dtype, cache=cache)
print(time.perf_counter() - start)
"""
LIMIT = 1.0  # seconds: the target for a cached load of the train split


def child_seconds(split: str, dtype: str, cache: bool, cache_dir: str) -> float:
    env = dict(os.environ, CHAINRULE_CACHE=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, split, dtype, "1" if cache else "0"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip())


def fresh_process_times(split: str, dtype: str, how: str, repeats: int, root: str) -> list[float]:
    times = []
    warm = os.path.join(root, "warm")
    if how == "cached" and not os.path.isdir(warm):
        child_seconds(split, dtype, True, warm)  # fill it once
    for i in range(repeats):
        if how == "no cache":
            times.append(child_seconds(split, dtype, False, os.path.join(root, "unused")))
        elif how == "first load":
            empty = os.path.join(root, f"empty-{split}-{dtype}-{i}")
            times.append(child_seconds(split, dtype, True, empty))
            shutil.rmtree(empty)
        else:
            times.append(child_seconds(split, dtype, True, warm))
    return times


def in_process_times(split: str, dtype: str, repeats: int, root: str) -> list[float]:
    os.environ["CHAINRULE_CACHE"] = os.path.join(root, "warm")
    from chainrule.datasets import load_mnist

    load_mnist(split, dtype=np.dtype(dtype))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        load_mnist(split, dtype=np.dtype(dtype))
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--split", choices=["train", "test", "both"], default="both")
    args = parser.parse_args()
    splits = ["train", "test"] if args.split == "both" else [args.split]
    configs = [(s, d) for s in splits for d in ("float32", "uint8")]

    print(
        f"load_mnist: {os.cpu_count()} cores, python {platform.python_version()}, "
        f"numpy {np.__version__}; median of {args.repeats} loads (min-max), seconds"
    )
    header = f"{'split':<6} {'dtype':<8} {'how':<32} {'median':>7} {'min':>7} {'max':>7}"
    print(header)
    print("-" * len(header))
    cached_train = None
    with tempfile.TemporaryDirectory(prefix="chainrule-bench-") as root:
        for split, dtype in configs:
            for how in ("no cache", "first load", "cached"):
                times = fresh_process_times(split, dtype, how, args.repeats, root)
                label = f"{how} (fresh process)"
                med = statistics.median(times)
                print(
                    f"{split:<6} {dtype:<8} {label:<32} {med:7.3f} {min(times):7.3f} "
                    f"{max(times):7.3f}"
                )
                if (split, dtype, how) == ("train", "float32", "cached"):
                    cached_train = med
        for split, dtype in configs:
            times = in_process_times(split, dtype, args.repeats, root)
            print(
                f"{split:<6} {dtype:<8} {'cached (same process, again)':<32} "
                f"{statistics.median(times):7.3f} {min(times):7.3f} {max(times):7.3f}"
            )
    if cached_train is not None:
        verdict = "yes" if cached_train < LIMIT else "NO"
        print(
            f"\ncached train load, float32, fresh process: median {cached_train:.3f} s; "
            f"under {LIMIT:g} s: {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
