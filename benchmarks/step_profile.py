"""Where an epoch of ``chainrule.fit`` goes: matrix products, optimizer, activations, loss, rest.

For each row of ``epoch_time.py``, one warm-up and then ``--epochs`` timed epochs of
``chainrule.fit`` on MNIST, with timers wrapped around the parts of a step:

- ``matmul``: every product the layers call (``dot`` and ``matmul``: forward products, weight
  and bias gradients, input gradients), and the rate it reaches by the exact count
  (``2 m k n`` per product);
- ``gather``: copying each shuffled batch out of the training set (``_Trainer._batch``);
- ``optimizer``: ``Optimizer.step`` (the update of the whole parameter vector);
- ``activations``: the activations' ``forward`` and ``backward`` (elementwise);
- ``loss``: the loss's value and output delta;
- ``accuracy``: the argmax that records each batch's predicted classes;
- ``rest``: everything else in the epoch: the bias additions, Python.

The wrappers add a few microseconds a call, so the shares are for orientation (small batches
most of all); the epoch time printed is the wrapped one. Its point is the ceiling on the
"fraction of the matmul rate" target: the exact-count rate of a whole epoch can be no higher
than the rate inside the products times their share of the epoch.

    python benchmarks/step_profile.py --rows 5,6

``--ceiling`` measures that ceiling directly, for any implementation that does its products
through NumPy's BLAS: epochs that do nothing but the row's exact products (forward, weight
gradient, input gradient except the first layer's), on shuffled batches gathered into a
reused buffer ("products + gather") and on contiguous slices with no gather at all
("products only"), interleaved with the large product that sets the matmul rate. A real
training step adds to these the bias, the activations and their derivatives, the loss and
its delta and the parameter update, so its fraction of the rate is below both.

    python benchmarks/step_profile.py --ceiling --rows 5,6 --epochs 7
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402
import epoch_time  # noqa: E402

import chainrule  # noqa: E402
import chainrule.training  # noqa: E402

PARTS = ("matmul", "gather", "optimizer", "activations", "loss", "accuracy")


class _TimedNumpy:
    """NumPy with a timer and a flop count on its products (``dot``, ``matmul``): the layers' xp."""

    def __init__(self, seconds, flops):
        self._seconds, self._flops = seconds, flops

    def __getattr__(self, name):
        return getattr(np, name)

    def _product(self, function, a, b, out):
        start = time.perf_counter()
        result = function(a, b, out=out)
        self._seconds["matmul"] += time.perf_counter() - start
        if a.ndim == 2 and b.ndim == 2:  # the bias gradients' 1^T . delta are not counted
            self._flops[0] += 2 * a.shape[0] * a.shape[1] * b.shape[1]
        return result

    def matmul(self, a, b, out=None):
        return self._product(np.matmul, a, b, out)

    def dot(self, a, b, out=None):
        return self._product(np.dot, a, b, out)


def _timed(function, seconds, part):
    def call(*args, **kwargs):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        seconds[part] += time.perf_counter() - start
        return result

    return call


def profile_row(row: epoch_time.Row, x, y, epochs: int) -> dict:
    from chainrule.training import fit

    net = chainrule.Network.from_sizes(
        list(row.sizes), hidden=row.activation, loss=row.loss, seed=0
    )
    seconds: dict[str, float] = collections.defaultdict(float)
    flops = [0]
    wrapped = set()
    for layer in net.dense_layers:
        layer.xp = _TimedNumpy(seconds, flops)
        layer._workspaces.clear()
        activation = layer.activation
        if id(activation) not in wrapped:
            wrapped.add(id(activation))
            activation.forward = _timed(activation.forward, seconds, "activations")
            activation.backward = _timed(activation.backward, seconds, "activations")
    loss = net.loss_function
    loss.value_and_delta = _timed(loss.value_and_delta, seconds, "loss")
    optimizer = epoch_time.make_optimizer(row)
    optimizer.step = _timed(optimizer.step, seconds, "optimizer")
    original = chainrule.training._predict_classes
    chainrule.training._predict_classes = _timed(original, seconds, "accuracy")
    gather = chainrule.training._Trainer._batch
    chainrule.training._Trainer._batch = _timed(gather, seconds, "gather")
    try:
        fit(net, x, y, epochs=1, batch_size=row.batch, optimizer=optimizer, seed=0)  # warm-up
        results = []
        for epoch in range(epochs):
            seconds.clear()
            flops[0] = 0
            _common.pause()
            history = fit(net, x, y, epochs=1, batch_size=row.batch, optimizer=optimizer,
                          seed=epoch + 1)  # fmt: skip
            total = history.epochs[-1]["seconds"]
            results.append((total, dict(seconds), flops[0]))
    finally:
        chainrule.training._predict_classes = original
        chainrule.training._Trainer._batch = gather
    return {"results": results, "rate": _common.matmul_rate()}


def ceiling_epoch(row: epoch_time.Row, x, order, gather: bool) -> float:
    """Seconds of one epoch of only the row's matrix products (see ``--ceiling``).

    ``order`` is the epoch's shuffle; with ``gather`` each batch's rows are copied out of
    ``x`` by it (``np.take`` into a reused buffer, as ``fit`` does), without it the batches
    are the contiguous slices of ``x``.
    """
    sizes, m = row.sizes, row.batch
    rng = np.random.default_rng(0)
    weights = [
        rng.standard_normal((a, b), dtype=np.float32) * np.float32(0.05)
        for a, b in zip(sizes, sizes[1:])
    ]
    buffer = np.empty((m, sizes[0]), np.float32)

    def buffers(rows):
        outs = [np.empty((rows, b), np.float32) for b in sizes[1:]]
        ins = [np.empty((rows, a), np.float32) for a in sizes[1:-1]]
        grads = [np.empty_like(w) for w in weights]
        return outs, ins, grads

    full, last = buffers(m), None
    _common.pause()
    start = time.perf_counter()
    for begin in range(0, len(x), m):
        rows = min(m, len(x) - begin)
        if rows == m:
            outs, ins, grads = full
        else:
            last = last or buffers(rows)
            outs, ins, grads = last
        if gather:
            batch = buffer[:rows]
            np.take(x, order[begin : begin + rows], axis=0, out=batch, mode="clip")
        else:
            batch = x[begin : begin + rows]
        a = batch
        for w, out in zip(weights, outs):  # forward: out = in . w
            np.dot(a, w, out=out)
            a = out
        delta = outs[-1]
        for i in range(len(weights) - 1, -1, -1):  # backward
            below = batch if i == 0 else outs[i - 1]
            np.matmul(below.T, delta, out=grads[i])  # dE/dw = in^T . delta
            if i > 0:
                np.dot(delta, weights[i].T, out=ins[i - 1])  # dE/din = delta . w^T
                delta = ins[i - 1]
    return time.perf_counter() - start


def ceiling(rows, x, y, epochs: int) -> None:
    from chainrule.training import fit

    n = len(x)
    print(
        f"# products-only epochs and chainrule.fit epochs (median of {epochs}), interleaved "
        "with a 2048 x 2048 product"
    )
    print(f"# {_common.machine_line()}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}")
    print(
        "| row | fit s | its fraction | products + gather s | its fraction | products only s "
        "| its fraction | big matmul GFLOP/s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        flops = _common.train_flops(list(row.sizes), n, row.batch)
        net = chainrule.Network.from_sizes(
            list(row.sizes), hidden=row.activation, loss=row.loss, seed=0
        )
        optimizer = epoch_time.make_optimizer(row)
        options = dict(batch_size=row.batch, optimizer=optimizer, epochs=1)
        fit(net, x, y, seed=0, **options)  # warm-up
        shuffles = epoch_time.fit_shuffles(0, n)
        ceiling_epoch(row, x, next(shuffles), True)
        fitted, gathered, sliced, rates = [], [], [], []
        for epoch in range(epochs):
            _common.pause()
            history = fit(net, x, y, seed=epoch + 1, **options)
            fitted.append(history.epochs[-1]["seconds"])
            gathered.append(ceiling_epoch(row, x, next(shuffles), True))
            sliced.append(ceiling_epoch(row, x, None, False))
            rates.append(_common.matmul_rate())
        rate = statistics.median(rates)
        cells = []
        for times in (fitted, gathered, sliced):
            t = statistics.median(times)
            cells.append(f"{t:.3f} | {flops / t / 1e9 / rate:.0%}")
        print(f"| {row.label} | {' | '.join(cells)} | {rate:.0f} |", flush=True)
    print(
        "\nfraction = exact-count GFLOP/s of the epoch / the big product's GFLOP/s. The two "
        "products-only columns are the most a training epoch that makes these products "
        "through NumPy could reach, with shuffled batches and without."
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rows", default=None, help="comma-separated row numbers (1-based)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--ceiling", action="store_true", help="time epochs of only the products (see above)"
    )
    args = parser.parse_args(argv)
    _common.set_threads(args.threads)
    x, y = _common.load_mnist("train")
    rows = epoch_time.ROWS
    if args.rows:
        rows = [epoch_time.ROWS[int(i) - 1] for i in args.rows.split(",")]
    if args.ceiling:
        ceiling(rows, x, y, args.epochs)
        return
    print(f"# shares of a chainrule.fit epoch (median of {args.epochs}), {args.threads} threads")
    print(f"# {_common.machine_line()}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}")
    header = " | ".join(PARTS)
    print(f"| row | epoch s | {header} | rest | GFLOP/s in matmul | big matmul GFLOP/s |")
    print("| --- | ---: |" + " ---: |" * (len(PARTS) + 3))
    for row in rows:
        result = profile_row(row, x, y, args.epochs)
        runs = sorted(result["results"], key=lambda r: r[0])
        total, parts, flops = runs[len(runs) // 2]  # the median epoch
        shares = [parts.get(p, 0.0) / total for p in PARTS]
        rest = 1 - sum(shares)
        inside = flops / parts["matmul"] / 1e9
        cells = " | ".join(f"{s:.0%}" for s in shares)
        print(
            f"| {row.label} | {total:.3f} | {cells} | {rest:.0%} | {inside:.0f} | "
            f"{result['rate']:.0f} |",
            flush=True,
        )
    print(
        "\nceiling on the epoch's exact-count rate = (GFLOP/s in matmul) x (matmul share); "
        "divided by the big-matmul rate it bounds the 'fraction of the matmul rate'."
    )


if __name__ == "__main__":
    main()
