"""Seconds per MNIST epoch of ``fit``: this working tree against another git revision.

For changes that must not cost speed (such as the array-module seam). The baseline's package
is exported with ``git archive`` into a temporary folder and renamed ``chainrule_baseline``,
so both versions load into this one process; then, per row of ``epoch_time.py``, the two
train copies of the same network epoch by epoch, alternating which goes first, with a pause
before each epoch (2 BLAS threads). The first epoch of each is a warm-up. The table gives the
median seconds per epoch of each, the ratio of the medians, and the median of the per-epoch
ratios (each epoch of this tree over the baseline's epoch next to it; below 1: this tree is
faster). The host's speed swings by 10-30% from one second to the next, so for a change of a
few percent prefer many short epochs (``--limit``) and the paired column.

    python benchmarks/compare_revisions.py --baseline HEAD --rows 1,3,5 --epochs 7
    python benchmarks/compare_revisions.py --baseline HEAD --rows 1,3,5 --limit 6000 --epochs 41
"""

from __future__ import annotations

import argparse
import importlib
import io
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import _common  # noqa: E402
import epoch_time  # noqa: E402

import chainrule  # noqa: E402
import chainrule.optimizers  # noqa: E402
import chainrule.training  # noqa: E402


def load_baseline(revision: str, folder: Path):
    """The package as it was at ``revision``, imported as ``chainrule_baseline``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "src/chainrule"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    package = folder / "chainrule_baseline"
    (folder / "src" / "chainrule").rename(package)
    for path in package.rglob("*.py"):
        text = path.read_text()
        path.write_text(re.sub(r"\bchainrule(?=[.\s]|$)", "chainrule_baseline", text, flags=re.M))
    sys.path.insert(0, str(folder))
    module = importlib.import_module("chainrule_baseline")
    importlib.import_module("chainrule_baseline.training")
    return module


def time_row(row, x, y, packages, epochs: int) -> dict[str, list[float]]:
    nets = {
        name: pkg.Network.from_sizes(list(row.sizes), hidden=row.activation, loss=row.loss, seed=0)
        for name, pkg in packages.items()
    }
    optimizers = {
        name: pkg.optimizers.SGD(
            learning_rate=row.lr, momentum=0.0 if row.optimizer == "sgd" else epoch_time.MOMENTUM
        )
        for name, pkg in packages.items()
    }
    times: dict[str, list[float]] = {name: [] for name in packages}
    for epoch in range(epochs + 1):
        order = list(packages) if epoch % 2 == 0 else list(packages)[::-1]
        for name in order:
            _common.pause()
            history = packages[name].training.fit(
                nets[name], x, y, epochs=1, batch_size=row.batch,
                optimizer=optimizers[name], seed=epoch,
            )  # fmt: skip
            if epoch > 0:
                times[name].append(history.epochs[0]["seconds"])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="HEAD", help="git revision to compare against")
    parser.add_argument("--rows", default="1,3,5", help="rows of epoch_time.py (1-based)")
    parser.add_argument("--epochs", type=int, default=7, help="timed epochs per version")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="use the first N examples")
    args = parser.parse_args()
    _common.set_threads(args.threads)
    x, y = _common.load_mnist("train")
    if args.limit:
        x, y = x[: args.limit], y[: args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        baseline = load_baseline(args.baseline, Path(tmp))
        packages = {"this tree": chainrule, args.baseline: baseline}
        print(_common.machine_line())
        print(f"# {len(x)} examples, {args.epochs} timed epochs, {args.threads} threads")
        print(f"| row | this tree (s) | {args.baseline} (s) | ratio | paired ratio |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for i in args.rows.split(","):
            row = epoch_time.ROWS[int(i) - 1]
            times = time_row(row, x, y, packages, args.epochs)
            a = statistics.median(times["this tree"])
            b = statistics.median(times[args.baseline])
            paired = statistics.median(
                p / q for p, q in zip(times["this tree"], times[args.baseline])
            )
            print(f"| {row.label} | {a:.4f} | {b:.4f} | {a / b:.3f} | {paired:.3f} |", flush=True)


if __name__ == "__main__":
    main()
