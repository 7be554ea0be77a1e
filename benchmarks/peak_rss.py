"""Peak resident memory (RSS) of a chainrule training process on MNIST.

Each measurement is a fresh subprocess; its peak RSS is the kernel's ``ru_maxrss`` for that
child (``os.wait4``), so nothing else in this process counts.

- ``chainrule train``: the command with its defaults (784-400-400-10, Adam; the MNIST training
  images kept as uint8 and scaled batch by batch by ``fit(..., input_scale=1/255)``, the test
  set as float32), one epoch, writing its run directory to a temporary folder;
- ``import``: Python with numpy and chainrule imported, nothing loaded;
- ``float32 data``: the train and test sets loaded as float32;
- ``fit on uint8`` / ``fit on float32``: one epoch of the default network through ``fit``
  with the training images as uint8 (47 MB) and ``input_scale=1/255``, or as float32 (188 MB).

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

_FIT = """
import numpy as np, chainrule
from chainrule.datasets import load_mnist
x, y = load_mnist("train", dtype=np.{dtype}); xt, yt = load_mnist("test")
net = chainrule.Network.from_sizes([784, 400, 400, 10], hidden="relu", loss="cross_entropy")
chainrule.fit(net, x, y, epochs=1, batch_size=256, optimizer="adam", input_scale={scale})
acc = np.mean(net.predict(xt) == yt)
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
        (
            "fit on uint8 images, input_scale=1/255, 1 epoch",
            _FIT.format(dtype="uint8", scale="1/255"),
        ),
        ("fit on float32 images, 1 epoch", _FIT.format(dtype="float32", scale=None)),
    ):
        mb, status, last = peak_rss_mb([sys.executable, "-c", code])
        tail = "" if status == 0 else f"  (failed, exit {status}: {last})"
        print(f"peak RSS, {label}: {mb:.0f} MB{tail}")


if __name__ == "__main__":
    main()
