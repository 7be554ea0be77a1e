"""Accuracy targets of the command line, measured the way a user runs them.

Runs `chainrule train` for each configuration below in a subprocess and prints a table:
config, epochs, training seconds, test accuracy, target, and the command that reproduces it.

    python benchmarks/accuracy.py            # all rows (several minutes on 2 cores)
    python benchmarks/accuracy.py --only default seed

Fashion-MNIST rows need its files (`chainrule download fashion-mnist` or Debian's
`dataset-fashion-mnist`); without them the row says so.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ROWS = {
    "seed": (
        "the notes' network: 784-30-10 sigmoid, sse, SGD 3.0, batch 10",
        ["--preset", "seed"],
        0.95,
    ),
    "default": ("plain `chainrule train` (784-400-400-10 ReLU, Adam one-cycle)", [], 0.98),
    "mnist-98.5": (
        "recipes/mnist-98.5.toml (784-800-800-10, dropout 0.3)",
        ["--config", str(ROOT / "recipes/mnist-98.5.toml")],
        0.985,
    ),
    "fashion": (
        "recipes/fashion-mnist.toml (784-800-800-10, dropout 0.3)",
        ["--config", str(ROOT / "recipes/fashion-mnist.toml")],
        0.895,
    ),
}


def run_row(name: str, args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "chainrule", "train", *args, "--output", tmp],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)", proc.stdout).group(1))
    seconds = float(re.search(r"training time: ([0-9.]+)", proc.stdout).group(1))
    epochs = len(re.findall(r"^\s+\d+\s", proc.stderr, flags=re.M))
    return {"accuracy": accuracy, "seconds": seconds, "wall": wall, "epochs": epochs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(ROWS), help="rows to run")
    options = parser.parse_args()
    names = options.only or list(ROWS)
    print(f"{'config':<58} {'epochs':>6} {'train s':>8} {'test acc':>8} {'target':>7}  ok")
    for name in names:
        label, args, target = ROWS[name]
        result = run_row(name, args)
        if "error" in result:
            print(f"{label:<58} {'-':>6} {'-':>8} {'-':>8} {target:>7.3f}  {result['error']}")
            continue
        ok = "yes" if result["accuracy"] >= target else "NO"
        print(
            f"{label:<58} {result['epochs'] or '-':>6} {result['seconds']:>8.1f} "
            f"{result['accuracy']:>8.4f} {target:>7.3f}  {ok}"
        )
        print(f"    chainrule train {' '.join(a.replace(str(ROOT) + '/', '') for a in args)}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
