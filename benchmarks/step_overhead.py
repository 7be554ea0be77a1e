"""Microseconds per training step when the arithmetic is negligible: what a step's Python costs.

A 4-3-2 sigmoid network with the sum-of-squares loss, batch 10, plain SGD, on 3,000 random
rows: every array is tiny, so a step's time is the cost of its calls. Timed in this one
process (1 BLAS thread; the products are too small to thread), the three taking turns epoch by
epoch (300 steps, ~15 ms each, so that the host's swings hit all three alike); the table gives
the median over the rounds of each one's microseconds per step and of its ratio to the
careful-NumPy epoch of the same round:

- ``fit``: ``chainrule.fit``, one epoch per round (History's seconds);
- ``train_step + update``: a bare loop over ``Network.train_step(..., want_loss=False)`` and
  ``w -= lr * g`` on the parameter vector (what the layers cost, without fit's bookkeeping, the
  per-step loss or the accuracy);
- ``careful-numpy``: ``epoch_time.NumpyRunner``, the flat hand-written loop.

The forward and backward passes make the same 28 NumPy calls in the last two; the difference
between them is the Python of the layers, the network and the loss. ``fit`` adds the loss and
the argmax of every step, the optimizer's bookkeeping and the loop's.

    python benchmarks/step_overhead.py
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

ROW = epoch_time.Row((4, 3, 2), "sigmoid", "sse", "sgd", 3.0, 10, 0.0, 0.0)


def main(argv=None) -> None:
    from chainrule.training import fit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=101)
    parser.add_argument("--rows", type=int, default=3000)
    args = parser.parse_args(argv)
    _common.set_threads(1)
    rng = np.random.default_rng(0)
    x = rng.random((args.rows, 4), dtype=np.float32)
    y = rng.integers(0, 2, args.rows)
    net = chainrule.Network.from_sizes(list(ROW.sizes), hidden="sigmoid", loss="sse", seed=0)
    runner = epoch_time.NumpyRunner(ROW, x, y, net)
    bare = net.copy()
    targets = bare.encode_targets(y)
    x_b = np.empty((ROW.batch, 4), np.float32)
    t_b = np.empty((ROW.batch, 2), np.float32)
    params, grads = bare.parameter_vector, bare.gradient_vector

    def bare_epoch(perm):
        for start in range(0, len(perm), ROW.batch):
            idx = perm[start : start + ROW.batch]
            x.take(idx, axis=0, out=x_b, mode="clip")
            targets.take(idx, axis=0, out=t_b, mode="clip")
            bare.train_step(x_b, t_b, want_loss=False, grad_scale=ROW.lr)
            np.subtract(params, grads, out=params)  # the gradients already hold lr * g

    steps = args.rows // ROW.batch
    times: dict[str, list[float]] = {"fit": [], "train_step + update": [], "careful-numpy": []}
    for r in range(args.rounds + 1):
        perm = rng.permutation(args.rows)
        optimizer = epoch_time.make_optimizer(ROW)
        history = fit(net, x, y, epochs=1, batch_size=ROW.batch, optimizer=optimizer, seed=r)
        results = {"fit": history.epochs[-1]["seconds"]}
        for name, run in (("train_step + update", bare_epoch), ("careful-numpy", runner.epoch)):
            start = time.perf_counter()
            run(perm)
            results[name] = time.perf_counter() - start
        if r:  # the first round warms up
            for name, seconds in results.items():
                times[name].append(seconds / steps * 1e6)
    print(f"# us per step, 4-3-2 sigmoid sse, batch 10, {args.rows} rows, {args.rounds} rounds")
    print(f"# {_common.machine_line()}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}")
    base = times["careful-numpy"]
    for name, values in times.items():
        ratio = statistics.median(a / b for a, b in zip(values, base))
        print(f"{name:<22} {statistics.median(values):6.1f} us  {ratio:.2f}x careful-numpy")


if __name__ == "__main__":
    main()
