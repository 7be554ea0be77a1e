"""Microseconds per training step where the arithmetic is small: what a step's Python costs.

By default a 4-3-2 sigmoid network with the sum-of-squares loss, batch 10, plain SGD, on 3,000
random rows: every array is tiny, so a step's time is the cost of its calls (1 BLAS thread;
the products are too small to thread). ``--row K`` takes row K of ``epoch_time.py`` instead, on
the first ``--examples`` MNIST images (2 BLAS threads). Each round runs one epoch of every
variant below, in an order shuffled round by round (so that the host's swings, and whatever
one variant leaves in the caches for the next, hit all alike); the table gives the median over
the rounds of each one's microseconds per step and of its ratio to the careful-NumPy epoch of
the same round:

- ``fit``: ``chainrule.fit``, one epoch per round (History's seconds);
- ``fit, minimal loop`` (with ``--all``): ``fit`` with its batch loop replaced by the least a
  loop can do: gather, ``train_step`` with the loss, the update (``w -= g``, or momentum's
  three passes), nothing else; what ``fit``'s data and buffers cost, without its bookkeeping;
- ``train_step + loss + update`` (with ``--all``): that loop outside ``fit``;
- ``train_step + update``: the same without the loss (``want_loss=False``): what the layers
  cost;
- ``careful-numpy``: ``epoch_time.NumpyRunner``, the flat hand-written loop.

The forward and backward passes make the same NumPy calls in the last two; the difference
between them is the Python of the layers, the network and the loss. ``fit`` adds the loss and
the argmax of every step, the optimizer's bookkeeping and the loop's.

    python benchmarks/step_overhead.py
    python benchmarks/step_overhead.py --row 1 --all --rounds 41
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402
import epoch_time  # noqa: E402

import chainrule  # noqa: E402
from chainrule import training  # noqa: E402

TINY = epoch_time.Row((4, 3, 2), "sigmoid", "sse", "sgd", 3.0, 10, 0.0, 0.0)


class BareLoop:
    """``train_step`` and the update on the parameter vector, for a network's epoch."""

    def __init__(self, net: chainrule.Network, row: epoch_time.Row, x, targets):
        self.net, self.row, self.x, self.targets = net, row, x, targets
        self.x_b = np.empty((row.batch,) + x.shape[1:], np.float32)
        self.t_b = np.empty((row.batch,) + targets.shape[1:], targets.dtype)
        self.params, self.grads = net.parameter_vector, net.gradient_vector
        self.velocity = np.zeros_like(self.params) if row.optimizer != "sgd" else None

    def epoch(self, perm, want_loss: bool) -> None:
        batch = self.row.batch
        for start in range(0, len(perm) - batch + 1, batch):  # full batches only
            idx = perm[start : start + batch]
            self.x.take(idx, axis=0, out=self.x_b, mode="clip")
            self.targets.take(idx, axis=0, out=self.t_b, mode="clip")
            self.net.train_step(self.x_b, self.t_b, want_loss, self.row.lr)
            update(self.params, self.grads, self.velocity)


def update(params, grads, velocity) -> None:
    """The gradients already hold ``lr * g``: SGD ``w -= lr g``; momentum in three passes."""
    if velocity is None:
        np.subtract(params, grads, out=params)
    else:
        velocity *= epoch_time.MOMENTUM
        velocity -= grads
        params += velocity


def minimal_loop(velocity):
    """A stand-in for ``fit``'s ``_Trainer._run_batches``: full batches, no bookkeeping."""

    def run_batches(self, epoch: int, perm) -> None:
        x, target, bs = self.x, self.target, self.batch_size
        x_b, t_b = self.full[0], self.full[1]
        params, grads = self.opt_params[0], self.opt_grads[0]
        lr = self.optimizer.learning_rate
        loss = 0.0
        for b in range(self.n_train // bs):
            rows = perm[b * bs : (b + 1) * bs]
            x.take(rows, axis=0, out=x_b, mode="clip")
            target.take(rows, axis=0, out=t_b, mode="clip")
            loss += self.net.train_step(x_b, t_b, True, lr)
            update(params, grads, velocity)
        self.loss_sum += loss * bs
        self.seen += self.n_train // bs * bs
        self.batch_done = self.n_batches

    return run_batches


def main(argv=None) -> None:
    from chainrule.training import fit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=101)
    parser.add_argument("--rows", type=int, default=3000, help="random rows of the 4-3-2 net")
    parser.add_argument("--row", type=int, default=None, help="a row of epoch_time.py instead")
    parser.add_argument("--examples", type=int, default=6000, help="MNIST images for --row")
    parser.add_argument("--all", action="store_true", help="also the two loops with the loss")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    if args.row is None:
        row = TINY
        _common.set_threads(1)
        x = rng.random((args.rows, 4), dtype=np.float32)
        y = rng.integers(0, 2, args.rows)
        what = f"4-3-2 sigmoid sse, batch 10, {args.rows} rows"
    else:
        row = epoch_time.ROWS[args.row - 1]
        _common.set_threads(2)
        x, y = _common.load_mnist("train")
        x, y = x[: args.examples], y[: args.examples]
        what = f"{row.label}, {len(x)} MNIST images"
    net = chainrule.Network.from_sizes(
        list(row.sizes), hidden=row.activation, loss=row.loss, seed=0
    )
    runner = epoch_time.NumpyRunner(row, x, y, net)
    bare = BareLoop(net.copy(), row, x, net.encode_targets(y))
    minimal_net = net.copy()
    minimal = minimal_loop(
        None if row.optimizer == "sgd" else np.zeros_like(minimal_net.parameter_vector)
    )
    original = training._Trainer._run_batches

    def fit_epoch(network, seed, bare_loop=False):
        optimizer = epoch_time.make_optimizer(row)
        if bare_loop:
            training._Trainer._run_batches = minimal
        try:
            history = fit(network, x, y, epochs=1, batch_size=row.batch, optimizer=optimizer,
                          seed=seed)  # fmt: skip
        finally:
            training._Trainer._run_batches = original
        return history.epochs[-1]["seconds"]

    def timed(run, *arguments):
        start = time.perf_counter()
        run(*arguments)
        return time.perf_counter() - start

    steps = len(x) // row.batch
    names = ["fit"]
    if args.all:
        names += ["fit, minimal loop", "train_step + loss + update"]
    names += ["train_step + update", "careful-numpy"]
    times: dict[str, list[float]] = {name: [] for name in names}

    def run(name, seed, perm):
        if name == "fit":
            return fit_epoch(net, seed)
        if name == "fit, minimal loop":
            return fit_epoch(minimal_net, seed, bare_loop=True)
        if name == "careful-numpy":
            return timed(runner.epoch, perm)
        return timed(bare.epoch, perm, "loss" in name)

    for r in range(args.rounds + 1):
        perm = rng.permutation(len(x))
        results = {names[i]: run(names[i], r, perm) for i in rng.permutation(len(names))}
        if r:  # the first round warms up
            for name, seconds in results.items():
                times[name].append(seconds / steps * 1e6)
    print(f"# us per step, {what}, {args.rounds} rounds in shuffled order")
    print(f"# {_common.machine_line()}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}")
    base = times["careful-numpy"]
    for name, values in times.items():
        ratio = statistics.median(a / b for a, b in zip(values, base))
        print(f"{name:<28} {statistics.median(values):7.1f} us  {ratio:.3f}x careful-numpy")


if __name__ == "__main__":
    main()
