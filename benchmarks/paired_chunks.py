"""chainrule.fit against careful NumPy (and PyTorch), timed in paired chunks of steps, not epochs.

``epoch_time.py`` alternates frameworks epoch by epoch (0.3-2 s each), as the issue asks; on a
shared host whose speed swings by 10-30% from one second to the next, that leaves the ratio of
two close frameworks uncertain by about as much. Here the two alternate every ~2000 examples
(a few tens of milliseconds): a ``fit`` callback stops chainrule after each chunk of batches,
runs the same batches (same shuffle) through :class:`epoch_time.NumpyRunner`, and lets
``fit`` go on. Both use the same OpenBLAS threads, so no pause is needed between them. Each
chunk gives one ratio, chainrule's seconds over NumPy's on the same examples; the table gives
the median and quartiles of those ratios over every chunk of every epoch, and the summed
seconds.

With ``--pytorch`` the same chunks also go through :class:`epoch_time.TorchRunner` (from the
same initial weights), and every timed block (chainrule's, NumPy's, PyTorch's) starts after a
0.2 s pause, so that PyTorch's OpenMP threads and OpenBLAS's have stopped spinning: the ratio to
PyTorch then holds as steady as the one to NumPy, where the epoch-by-epoch ratio of
``epoch_time.py`` swings with the host (0.61 to 1.10 on one row in three runs of one day).

What chainrule's chunk time includes: everything ``fit`` does between two callbacks (the
gather, forward, loss, backward, update, accuracy bookkeeping, the schedule), plus the
callback's own early return on the other batches (well under a microsecond a step, counted
against chainrule). The first chunk of each epoch also holds the epoch's shuffle.

    python benchmarks/paired_chunks.py                    # rows 1-6, 3 epochs each
    python benchmarks/paired_chunks.py --rows 1,2 --epochs 5
    python benchmarks/paired_chunks.py --pytorch          # PyTorch too, between 0.2 s pauses
    python benchmarks/paired_chunks.py --pytorch --rows 5,6 --chunk 8000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402
import epoch_time  # noqa: E402

import chainrule  # noqa: E402
import chainrule.errors  # noqa: E402

CHUNK_EXAMPLES = 2000


class Paired:
    """A ``fit`` callback: after every ``k`` batches, time the same batches in each runner.

    With ``pause`` (when PyTorch is one of the runners), every timed block, chainrule's too,
    starts after a pause: PyTorch's OpenMP threads and OpenBLAS's spin for a while after their
    work and would fight over the two cores, and each block then starts alike."""

    def __init__(self, runners, perms, batch: int, k: int, pause: bool = False):
        self.runners, self.perms, self.batch, self.k = runners, perms, batch, k
        self.pause = pause
        self.mine: list[float] = []
        self.theirs: dict[str, list[float]] = {runner.name: [] for runner in runners}
        self.perm = None
        self.resumed = 0.0
        self.done = 0  # batches of this epoch the runners have trained

    def on_epoch_begin(self, epoch, n_batches):
        self.perm = next(self.perms)
        self.done = 0
        self.resumed = time.perf_counter()

    def on_batch_end(self, epoch, b, n_batches, loss):
        if (b + 1) % self.k:
            return
        stopped = time.perf_counter()
        self.mine.append(stopped - self.resumed)
        self._run_runners(b + 1, timed=True)
        self.resumed = time.perf_counter()

    def on_epoch_end(self, epoch, record):
        n_batches = len(self.perm) // self.batch + bool(len(self.perm) % self.batch)
        self._run_runners(n_batches, timed=False)

    def _run_runners(self, upto: int, timed: bool) -> None:
        """Train each runner on batches ``done .. upto - 1`` of this epoch's shuffle."""
        for runner in self.runners:
            if self.pause:
                _common.pause()
            start = time.perf_counter()
            for i in range(self.done, upto):
                runner.step(self.perm[i * self.batch : (i + 1) * self.batch])
            if timed:
                self.theirs[runner.name].append(time.perf_counter() - start)
        if self.pause:
            _common.pause()
        self.done = upto


def run_row(row: epoch_time.Row, x, y, epochs: int, pytorch: bool, chunk: int) -> dict:
    from chainrule.training import fit

    seed = 0
    net = chainrule.Network.from_sizes(
        list(row.sizes), hidden=row.activation, loss=row.loss, seed=seed
    )
    runners = [epoch_time.NumpyRunner(row, x, y, net)]
    if pytorch:
        runners.append(epoch_time.TorchRunner(row, x, y, net))
    warm = min(len(x), 50 * row.batch)  # allocations, thread pools, first-call costs
    with warnings.catch_warnings():  # one epoch of plain SGD on a few batches learns little
        warnings.simplefilter("ignore", chainrule.errors.TrainingWarning)
        fit(net.copy(), x[:warm], y[:warm], epochs=1, batch_size=row.batch, optimizer="sgd")
    runners[0].epoch(np.random.default_rng(1).permutation(len(x))[:warm])
    runners[0].load_weights(net)
    if pytorch:  # warmed up on its own copy: the one timed starts from chainrule's weights
        epoch_time.TorchRunner(row, x, y, net).epoch(np.arange(warm))
    k = max(1, round(chunk / row.batch))
    paired = Paired(runners, epoch_time.fit_shuffles(seed, len(x)), row.batch, k, pytorch)
    _common.pause()
    fit(
        net,
        x,
        y,
        epochs=epochs,
        batch_size=row.batch,
        optimizer=epoch_time.make_optimizer(row),
        seed=seed,
        callbacks=[paired],
    )
    return {"mine": paired.mine, "theirs": paired.theirs, "k": k}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rows", default=None, help="comma-separated row numbers (1-based)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="use the first N examples")
    parser.add_argument(
        "--pytorch", action="store_true", help="also PyTorch, the same chunks between pauses"
    )
    parser.add_argument(
        "--chunk", type=int, default=CHUNK_EXAMPLES, help="examples per chunk (default 2000)"
    )
    args = parser.parse_args(argv)
    _common.set_threads(args.threads)
    x, y = _common.load_mnist("train")
    if args.limit:
        x, y = x[: args.limit], y[: args.limit]
    rows = epoch_time.ROWS
    if args.rows:
        rows = [epoch_time.ROWS[int(i) - 1] for i in args.rows.split(",")]
    others = [epoch_time.NumpyRunner.name] + (["pytorch"] if args.pytorch else [])
    print(
        f"# chainrule.fit / {' and '.join(others)}, paired chunks of ~{args.chunk} "
        f"examples, {len(x)} examples x {args.epochs} epochs, {args.threads} threads"
    )
    print(f"# {_common.machine_line()}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}")
    print("| row | against | chunks | ratio median | quartiles | chainrule s | their s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        result = run_row(row, x, y, args.epochs, args.pytorch, args.chunk)
        mine = result["mine"]
        for name, theirs in result["theirs"].items():
            ratios = [a / b for a, b in zip(mine, theirs)]
            q1, med, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
            print(
                f"| {row.label} | {name} | {len(ratios)} x {result['k']} batches | {med:.3f} | "
                f"{q1:.3f}-{q3:.3f} | {sum(mine):.2f} | {sum(theirs):.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
