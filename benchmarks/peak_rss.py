"""Peak resident memory (RSS) of a chainrule training process on MNIST.

Each measurement is a fresh subprocess; its peak RSS is the kernel's ``ru_maxrss`` for that
child (``os.wait4``), so nothing else in this process counts.

- ``chainrule train``: the command with its defaults (784-400-400-10, Adam, MNIST train and
  test sets as float32), one epoch, writing its run directory to a temporary folder;
- ``import``: Python with numpy and chainrule imported, nothing loaded;
- ``float32 data``: the train and test sets loaded as float32 (what the command loads);
- ``uint8 data + fit-like loop``: the images kept as uint8 (47 MB for the train set instead of
  188 MB) and each batch scaled to float32 in a reused buffer, one epoch of the default network;
  what ``fit`` could do with uint8 input.

    python benchmarks/peak_rss.py            # all four
    python benchmarks/peak_rss.py --quick    # the command on a 6000-example subset
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

LIMIT_MB = 300

_IMPORT = "import numpy, chainrule"

_FLOAT32 = """
from chainrule.datasets import load_dataset
x, y = load_dataset("mnist", "train"); xt, yt = load_dataset("mnist", "test")
"""

_UINT8_LOOP = """
import numpy as np, chainrule
from chainrule.datasets import load_mnist
from chainrule.optimizers import Adam
x, y = load_mnist("train", dtype=np.uint8); xt, yt = load_mnist("test", dtype=np.uint8)
net = chainrule.Network.from_sizes([784, 400, 400, 10], hidden="relu", loss="cross_entropy")
opt, params, grads = Adam(3e-3), net.parameters(), net.parameter_gradients()
batch = np.empty((256, 784), np.float32)
perm = np.random.default_rng(0).permutation(len(x))
for start in range(0, len(x) - 255, 256):
    idx = perm[start : start + 256]
    np.multiply(x[idx], np.float32(1 / 255), out=batch)  # uint8 -> [0, 1] float32, per batch
    net.train_step(batch, y[idx])
    opt.step(params, grads)
acc = np.mean(net.predict(xt.astype(np.float32) / 255) == yt)
"""


# A child forked from a big process (this one, with PyTorch and MNIST loaded) inherits its
# parent's high-water mark in ru_maxrss, so the measured process is started by this small
# wrapper, which prints the child's ru_maxrss (kB) and exit status.
_WRAPPER = """
import os, subprocess, sys
with open(os.devnull, "wb") as null:
    proc = subprocess.Popen(sys.argv[1:], stdout=null)
    _, status, usage = os.wait4(proc.pid, 0)
print(usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def peak_rss_mb(args: list[str], cwd: str | None = None) -> tuple[float, int, str]:
    """(peak RSS in MB, exit status, last line of stderr) of running ``args``."""
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *args], cwd=cwd, capture_output=True, text=True
    )
    lines = done.stderr.strip().splitlines()
    try:
        kb, status = map(int, done.stdout.split())
    except ValueError:
        return float("nan"), done.returncode or 1, lines[-1] if lines else ""
    return kb / 1024, status, lines[-1] if lines else ""


# Runs the command's main() after exporting fit/save/load at the package top level, for a
# checkout where chainrule/__init__.py does not export them yet (used only if the plain
# command fails for that reason).
_CLI_SHIM = """
import sys, chainrule
from chainrule import serialization, training
for name, value in (("fit", training.fit), ("save", serialization.save),
                    ("load", serialization.load), ("serialization", serialization)):
    if not hasattr(chainrule, name):
        setattr(chainrule, name, value)
from chainrule.cli import main
sys.exit(main(sys.argv[1:]))
"""


def measure_cli_train(quick: bool = False) -> str:
    """A line for the epoch-time table: peak RSS of a default ``chainrule train``."""
    flags = ["train", "--epochs", "1", "--quiet"] + (["--subset", "6000"] if quick else [])
    what = "chainrule " + " ".join(flags)
    note = ""
    with tempfile.TemporaryDirectory() as tmp:
        out = ["--output", os.path.join(tmp, "run")]
        start = time.perf_counter()
        mb, code, last = peak_rss_mb([sys.executable, "-m", "chainrule", *flags, *out], cwd=tmp)
        if code != 0 and "has no attribute" in last:
            note = f" [chainrule/__init__.py lacks an export ({last}); run through a shim]"
            start = time.perf_counter()
            mb, code, last = peak_rss_mb([sys.executable, "-c", _CLI_SHIM, *flags, *out], cwd=tmp)
        seconds = time.perf_counter() - start
    if code != 0:
        return f"peak RSS: `{what}` failed (exit {code}): {last}"
    verdict = "under" if mb < LIMIT_MB else "OVER"
    return (
        f"peak RSS of `{what}` (defaults otherwise): {mb:.0f} MB, {verdict} {LIMIT_MB} MB "
        f"({seconds:.1f} s){note}"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print(measure_cli_train(quick=args.quick))
    if args.quick:
        return
    for label, code in (
        ("import numpy + chainrule", _IMPORT),
        ("MNIST train + test as float32", _FLOAT32),
        ("uint8 data, per-batch scaling, 1 epoch", _UINT8_LOOP),
    ):
        mb, status, last = peak_rss_mb([sys.executable, "-c", code])
        tail = "" if status == 0 else f"  (failed, exit {status}: {last})"
        print(f"peak RSS, {label}: {mb:.0f} MB{tail}")


if __name__ == "__main__":
    main()
