"""Seconds per MNIST training epoch: chainrule vs careful NumPy, PyTorch, scikit-learn, interleaved.

Each row of the table trains one network for ``--epochs`` timed epochs with every framework,
alternating epoch by epoch in this one process (the 2-thread BLAS speed of a shared host drifts
by up to 2x over minutes, so only interleaved runs compare), with a short pause before each
timed epoch so that the other library's spinning threads go idle. Every framework starts from
the same initial weights (scikit-learn: its own) and sees the same shuffles (scikit-learn: its
own), the data in memory as float32.

The frameworks: ``chainrule`` (``chainrule.fit``, epoch times from its ``History``);
``careful-numpy`` (:class:`NumpyRunner`: the issue's target, "chainrule faster than a careful
whole-batch NumPy implementation on every row", measured here side by side; an independent
NumPy implementation written in this script, checked against ``chainrule.fit`` before the
timings: same weights after one epoch on 1999 examples, up to float32 rounding, or the script
stops); ``pytorch``; ``sklearn`` (``MLPClassifier``, cross-entropy rows only); and with
``--with-loop`` a minimal loop over ``Network.train_step``.

Printed per row: median and min-max seconds per epoch, chainrule/PyTorch and
chainrule/careful-NumPy (below 1: chainrule is faster), chainrule's achieved GFLOP/s counting
only the matrix products it does (``2 m k n`` each; no input gradient for the first layer) and
that as a fraction of a large float32 matmul timed in the same rounds, the issue's numbers for
orientation (measured on the issue's machine, not this one); then the peak RSS of a separate
default ``chainrule train`` process.

    python benchmarks/epoch_time.py              # all rows, 5 timed epochs each
    python benchmarks/epoch_time.py --quick      # smoke run on 6000 examples
    python benchmarks/epoch_time.py --rows 3,4 --epochs 7 --no-sklearn
    python benchmarks/epoch_time.py --no-numpy   # without the careful-NumPy reference

Needs ``pip install torch threadpoolctl scikit-learn`` (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402

import chainrule  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Row:
    sizes: tuple[int, ...]
    activation: str
    loss: str
    optimizer: str  # "sgd" or "momentum"
    lr: float
    batch: int
    torch_ref: float  # seconds per epoch in the table (another machine): orientation
    numpy_ref: float  # likewise, the careful NumPy (NumpyRunner measures it here)

    @property
    def label(self) -> str:
        opt = f"SGD {self.lr:g}" if self.optimizer == "sgd" else f"momentum 0.9 lr {self.lr:g}"
        loss = "sse" if self.loss == "sse" else "CE"
        return f"{'-'.join(map(str, self.sizes))} {self.activation} {loss} {opt} b{self.batch}"


ROWS = [
    Row((784, 30, 10), "sigmoid", "sse", "sgd", 3.0, 10, 2.20, 0.30),
    Row((784, 100, 10), "sigmoid", "sse", "sgd", 3.0, 32, 0.99, 0.38),
    Row((784, 256, 10), "relu", "cross_entropy", "momentum", 0.05, 32, 1.25, 0.70),
    Row((784, 256, 10), "relu", "cross_entropy", "momentum", 0.05, 128, 0.59, 0.44),
    Row((784, 256, 10), "relu", "cross_entropy", "momentum", 0.05, 512, 0.39, 0.34),
    Row((784, 800, 10), "relu", "cross_entropy", "momentum", 0.05, 128, 1.51, 1.22),
]
MOMENTUM = 0.9


# -- chainrule -------------------------------------------------------------------------------


def make_optimizer(row: Row):
    from chainrule.optimizers import SGD

    return SGD(learning_rate=row.lr, momentum=0.0 if row.optimizer == "sgd" else MOMENTUM)


def fit_shuffles(seed: int, n: int):
    """The permutations ``fit(..., seed=seed)`` draws, one per epoch (its generator, replicated
    here so that the other frameworks see the same shuffles)."""
    _, rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    while True:
        yield rng.permutation(n)


class Interleave:
    """A ``fit`` callback: after each chainrule epoch, one timed epoch of every other runner.

    ``fit`` times its own epochs (``History`` ``seconds``: from before the first batch to the
    end-of-epoch record); the other runners run, and the pauses happen, between its epochs.
    """

    def __init__(self, others, perms, times, rates):
        self.others, self.perms, self.times, self.rates = others, perms, times, rates

    def on_train_begin(self, info):
        _common.pause()

    def on_epoch_end(self, epoch, record):
        self.times["chainrule"].append(record["seconds"])
        perm = next(self.perms)
        for runner in self.others if epoch % 2 else self.others[::-1]:
            _common.pause()
            start = time.perf_counter()
            runner.epoch(perm)
            self.times[runner.name].append(time.perf_counter() - start)
        _common.pause()
        self.rates.append(_common.matmul_rate())
        _common.pause()


class LoopRunner:
    """A minimal loop over ``Network.train_step`` with the update on the network's whole
    parameter vector (what ``fit`` costs beyond the math shows as the difference)."""

    name = "chainrule-loop"

    def __init__(self, row: Row, x, y, net: chainrule.Network):
        self.row, self.x, self.net = row, x, net
        self.targets = net.encode_targets(y)
        self.velocity = np.zeros_like(net.parameter_vector)
        self.scratch = np.empty_like(net.parameter_vector)

    def epoch(self, perm: np.ndarray) -> None:
        net, x, targets, batch = self.net, self.x, self.targets, self.row.batch
        p, g, v, s = net.parameter_vector, net.gradient_vector, self.velocity, self.scratch
        lr, sgd = self.row.lr, self.row.optimizer == "sgd"
        for start in range(0, len(perm), batch):
            idx = perm[start : start + batch]
            net.train_step(x[idx], targets[idx], want_loss=False)
            np.multiply(g, lr, out=s)  # lr * g
            if sgd:
                p -= s  # w -= lr g
            else:
                v *= MOMENTUM  # v = mu v - lr g
                v -= s
                p += v  # w += v


# -- careful NumPy ---------------------------------------------------------------------------


class NumpyRunner:
    """The issue's reference: a careful whole-batch NumPy implementation of the row's network.

    Written here from scratch, independent of chainrule's layers, losses and optimizers (only
    the initial weights are copied from the chainrule network), as a skilled NumPy programmer
    would write it:

    - float32 throughout; parameters and gradients are views of one flat vector each, so the
      update is one pass (SGD: ``w -= g``) or three (momentum: ``v *= 0.9; v -= g; w += v``)
      over all of them, with the learning rate folded into the output delta along with the
      loss's ``1 / batch`` (every gradient is linear in it);
    - each batch gathered with ``take(idx, axis=0, out=buffer)`` into buffers allocated once
      (inputs and targets), activation and delta buffers allocated once for the full batch
      size, the last, smaller batch using leading views of them;
    - elementwise work in place with ``out=``: sigmoid as ``0.5 tanh(0.5 net) + 0.5``, ReLU
      as ``np.maximum(net, zeros)`` against a preallocated array of zeros (about 3x faster
      than against the scalar 0 in NumPy 2) and its backward as a multiply by a preallocated
      mask;
    - the notes' loss ``E = 1/2 sum (label - out)^2`` (batch mean) on a sigmoid output with
      one-hot targets for "sse" rows; softmax and cross-entropy fused for "cross_entropy"
      rows, ``delta = (probs - onehot) / batch`` from integer labels (``1 / batch``
      subtracted at ``[i, label_i]``);
    - bias gradients as the column sums of delta, computed as the product ``1^T . delta``
      (one BLAS call, faster than ``np.sum``); no input gradient for the first layer.

    It computes neither the loss nor the accuracy of a batch, which ``chainrule.fit`` does at
    every step, so the comparison is conservative (it favours this runner). On the other
    hand it is written as the issue's reference was, with ``np.matmul`` and Python floats
    (``a *= 0.5``), where chainrule's layers call ``np.dot`` and use 0-d arrays of the
    array's dtype (``chainrule.backend.constant``): ~0.4 and ~0.3 us less a call, ~9% of a
    batch-10 step (``step_overhead.py``: a bare ``train_step`` loop 0.91x this one). Written
    with those two habits, this loop would be level with chainrule's layers again.
    """

    name = "careful-numpy"

    def __init__(self, row: Row, x, y, net: chainrule.Network):
        if row.activation not in ("sigmoid", "relu") or row.loss not in ("sse", "cross_entropy"):
            raise ValueError(f"NumpyRunner has no {row.activation}/{row.loss} network")
        self.row = row
        self.relu, self.sse, self.sgd = (
            row.activation == "relu",
            row.loss == "sse",
            row.optimizer == "sgd",
        )
        self.x = np.ascontiguousarray(x, dtype=np.float32)
        if self.sse:  # one-hot rows, gathered like the inputs
            self.targets = np.eye(row.sizes[-1], dtype=np.float32)[y]
        else:  # integer labels
            self.targets = np.ascontiguousarray(y, dtype=np.intp)
        shapes = list(zip(row.sizes, row.sizes[1:]))
        self.params = np.empty(sum(i * o + o for i, o in shapes), np.float32)
        self.grads = np.empty_like(self.params)  # holds lr * dE/dparam
        self.velocity = None if self.sgd else np.zeros_like(self.params)
        self.w, self.b, self.gw, self.gb = [], [], [], []
        offset = 0
        for n_in, n_out in shapes:
            for vector, w_list, b_list in (
                (self.params, self.w, self.b),
                (self.grads, self.gw, self.gb),
            ):
                w_list.append(vector[offset : offset + n_in * n_out].reshape(n_in, n_out))
                b_list.append(vector[offset + n_in * n_out : offset + n_in * n_out + n_out])
            offset += n_in * n_out + n_out
        m = min(row.batch, len(self.x))
        self.full = (
            np.empty((m, row.sizes[0]), np.float32),  # the batch's inputs
            np.empty((m,) + self.targets.shape[1:], self.targets.dtype),  # and targets
            [np.empty((m, o), np.float32) for _, o in shapes],  # net, then out, in place
            [np.empty((m, o), np.float32) for _, o in shapes],  # delta = dE/dnet (times lr)
            [np.empty((m, o), bool) for _, o in shapes[:-1]],  # ReLU masks
            np.empty((m, 1), np.float32),  # softmax row maxima, then row sums
            np.arange(m),  # row numbers, for delta[i, label_i]
            [np.zeros((m, o), np.float32) for _, o in shapes[:-1]],  # for max(net, 0)
            np.ones(m, np.float32),  # column sums as the product 1^T . delta
        )
        self.views = {m: self.full}
        self.load_weights(net)

    def load_weights(self, net: chainrule.Network) -> None:
        """Copy the weights of ``net`` (the same sizes); zero the velocity."""
        dense = net.dense_layers
        if [d.n_in for d in dense] + [dense[-1].n_out] != list(self.row.sizes):
            raise ValueError(f"network {net.sizes} is not {self.row.sizes}")
        for w, b, layer in zip(self.w, self.b, dense):
            w[...] = np.asarray(layer.weights)
            b[...] = np.asarray(layer.biases)
        if self.velocity is not None:
            self.velocity[...] = 0

    def _buffers(self, m: int) -> tuple:
        """The buffers for a batch of ``m`` rows: leading views of the full-size ones."""
        views = self.views.get(m)
        if views is None:
            xb, tb, acts, deltas, masks, rowvec, rows, zeros, ones = self.full
            views = (
                xb[:m],
                tb[:m],
                [a[:m] for a in acts],
                [d[:m] for d in deltas],
                [k[:m] for k in masks],
                rowvec[:m],
                rows[:m],
                [z[:m] for z in zeros],
                ones[:m],
            )
            self.views[m] = views
        return views

    def epoch(self, perm: np.ndarray) -> None:
        batch = self.row.batch
        for start in range(0, len(perm), batch):
            self.step(perm[start : start + batch])

    def step(self, idx: np.ndarray) -> None:
        """One update on the examples ``idx``."""
        m = len(idx)
        xb, tb, acts, deltas, masks, rowvec, rows, zeros, ones = self._buffers(m)
        self.x.take(idx, axis=0, out=xb)
        self.targets.take(idx, axis=0, out=tb)
        w, b, n_layers = self.w, self.b, len(self.w)
        # forward: net = in . w + b, then the activation in place
        inp = xb
        for i in range(n_layers):
            a = acts[i]
            np.matmul(inp, w[i], out=a)
            a += b[i]
            if i < n_layers - 1 and self.relu:
                np.maximum(a, zeros[i], out=a)  # against an array: ~3x faster than 0
            elif i < n_layers - 1 or self.sse:  # sigmoid = 0.5 tanh(0.5 net) + 0.5
                a *= 0.5
                np.tanh(a, out=a)
                a *= 0.5
                a += 0.5
            else:  # softmax, unnormalized: exp(net - row max); row sums left in rowvec
                np.max(a, axis=1, keepdims=True, out=rowvec)
                a -= rowvec
                np.exp(a, out=a)
                np.sum(a, axis=1, keepdims=True, out=rowvec)
            inp = a
        # the output delta, times lr / m (the batch mean and the learning rate folded in)
        scale = self.row.lr / m
        out, d = acts[-1], deltas[-1]
        if self.sse:  # dE/dnet = (out - label) out (1 - out)
            np.subtract(out, tb, out=d)
            d *= out
            np.subtract(1, out, out=out)  # out is not needed any more
            d *= out
            d *= scale
        else:  # (probs - onehot(label)) lr / m
            np.divide(scale, rowvec, out=rowvec)  # lr / (m row sum)
            np.multiply(out, rowvec, out=d)
            d[rows, tb] -= scale
        # backward: gradients (times lr), deltas of the hidden layers
        for i in range(n_layers - 1, -1, -1):
            inp = acts[i - 1] if i else xb
            np.matmul(inp.T, d, out=self.gw[i])
            np.matmul(ones, d, out=self.gb[i])  # column sums: faster than np.sum
            if i == 0:  # no input gradient for the first layer
                break
            h, d_prev = inp, deltas[i - 1]
            np.matmul(d, w[i].T, out=d_prev)  # dE/dh, before w[i] is updated
            if self.relu:  # times 1 where h > 0, else 0
                np.greater(h, 0, out=masks[i - 1])
                np.multiply(d_prev, masks[i - 1], out=d_prev)
            else:  # times h (1 - h); h is not needed any more
                d_prev *= h
                np.subtract(1, h, out=h)
                d_prev *= h
            d = d_prev
        # the update, on every parameter at once
        if self.sgd:
            self.params -= self.grads  # w -= lr g
        else:
            v = self.velocity
            v *= MOMENTUM  # v = mu v - lr g
            v -= self.grads
            self.params += v  # w += v


def check_numpy_runner(rows, x, y, n: int = 1999, seeds=(0, 1, 2)) -> None:
    """Train :class:`NumpyRunner` and ``chainrule.fit`` for one epoch on ``n`` examples from the
    same weights and shuffle, per row and seed; print the largest weight difference and stop
    the script if, on the median seed, it is more than float32 rounding could explain: above
    1e-4, or above 1e-4 of how far the weights moved (measured: 1e-8 to 6e-7, about 1e-6 of
    the movement; dropping one example of a batch or biases that never learn fail it).

    Why the median of three seeds: a rounding difference can move a ReLU's input across 0
    for one example, and that unit's gradient then differs by a whole example's share (seen
    once in four runs of 784-256-10 b128: one hidden unit off by 6e-5, every other weight
    within 3e-8). A real difference in the computation shows on every seed.

    ``n = 1999`` leaves a smaller last batch for every row's batch size.
    """
    from chainrule.training import fit

    x, y = x[:n], y[:n]
    for row in rows:
        results = []
        for seed in seeds:
            net = chainrule.Network.from_sizes(
                list(row.sizes), hidden=row.activation, loss=row.loss, seed=seed
            )
            initial = [np.array(layer.weights) for layer in net.dense_layers]
            runner = NumpyRunner(row, x, y, net)
            fit(net, x, y, epochs=1, batch_size=row.batch, optimizer=make_optimizer(row), seed=seed)
            runner.epoch(next(fit_shuffles(seed, len(x))))
            diff = moved = 0.0
            for i, layer in enumerate(net.dense_layers):
                for mine, theirs in ((runner.w[i], layer.weights), (runner.b[i], layer.biases)):
                    diff = max(diff, float(np.max(np.abs(mine - np.asarray(theirs)))))
                moved = max(moved, float(np.max(np.abs(runner.w[i] - initial[i]))))
            results.append((diff, moved))
        diff, moved = sorted(results)[len(results) // 2]
        each = ", ".join(f"{d:.1e}" for d, _ in results)
        print(
            f"# check: careful-numpy vs chainrule.fit, 1 epoch on {len(x)} examples, "
            f"{row.label}: max |weight difference| {diff:.1e} on the median of seeds "
            f"{list(seeds)} ({each}; weights moved up to {moved:.2f})",
            flush=True,
        )
        if not (diff <= 1e-4 and diff <= 1e-4 * moved):  # float32 rounding: ~1e-6 and below
            raise SystemExit(
                f"careful-numpy and chainrule.fit disagree on {row.label}: weights differ by "
                f"up to {diff:.3g} after one epoch (moved {moved:.3g}); the comparison would "
                "not be between the same computations"
            )


# -- PyTorch ---------------------------------------------------------------------------------


class TorchRunner:
    name = "pytorch"

    def __init__(self, row: Row, x, y, net: chainrule.Network):
        import torch
        from torch import nn

        self.torch, self.row = torch, row
        modules: list = []
        dense = net.dense_layers
        for i, layer in enumerate(dense):
            linear = nn.Linear(layer.n_in, layer.n_out)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(layer.weights.T.copy()))
                linear.bias.copy_(torch.from_numpy(layer.biases.copy()))
            modules.append(linear)
            if i < len(dense) - 1:
                modules.append(nn.ReLU() if row.activation == "relu" else nn.Sigmoid())
        if row.loss == "sse":
            modules.append(nn.Sigmoid())
        self.model = nn.Sequential(*modules)
        momentum = 0.0 if row.optimizer == "sgd" else MOMENTUM
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=row.lr, momentum=momentum)
        self.x = torch.from_numpy(x)
        if row.loss == "sse":
            self.y = torch.from_numpy(np.eye(row.sizes[-1], dtype=np.float32)[y])
        else:
            self.y = torch.from_numpy(y)

    def epoch(self, perm: np.ndarray) -> None:
        batch = self.row.batch
        perm_t = self.torch.from_numpy(perm)
        for start in range(0, len(perm), batch):
            self.step(perm_t[start : start + batch])

    def step(self, idx) -> None:
        """One update on the examples ``idx`` (row numbers, a tensor or a NumPy array)."""
        torch = self.torch
        if isinstance(idx, np.ndarray):
            idx = torch.from_numpy(idx)
        xb, yb = self.x[idx], self.y[idx]
        out = self.model(xb)
        if self.row.loss == "sse":  # the mean over the batch of 1/2 sum (out - label)^2
            loss = 0.5 * (out - yb).pow(2).sum() / len(idx)
        else:
            loss = torch.nn.functional.cross_entropy(out, yb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


# -- scikit-learn ------------------------------------------------------------------------------


class SklearnRunner:
    name = "sklearn"

    def __init__(self, row: Row, x, y, seed: int):
        from sklearn.neural_network import MLPClassifier

        self.x, self.y = x, y
        self.model = MLPClassifier(
            hidden_layer_sizes=row.sizes[1:-1],
            activation="relu",
            solver="sgd",
            learning_rate_init=row.lr,
            momentum=MOMENTUM,
            nesterovs_momentum=False,
            batch_size=row.batch,
            alpha=0.0,
            shuffle=True,
            random_state=seed,
        )
        self.classes = np.arange(row.sizes[-1])

    def epoch(self, perm: np.ndarray) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.partial_fit(self.x, self.y, classes=self.classes)


# -- the table ---------------------------------------------------------------------------------


def run_row(row: Row, x, y, args) -> dict:
    from chainrule.training import fit

    seed = 0
    net = chainrule.Network.from_sizes(
        list(row.sizes), hidden=row.activation, loss=row.loss, seed=seed
    )
    others: list = []
    if args.with_loop:
        others.append(LoopRunner(row, x, y, net.copy()))
    numpy_runner = None if args.no_numpy else NumpyRunner(row, x, y, net)
    if numpy_runner is not None:
        others.append(numpy_runner)
    if not args.no_torch:
        others.append(TorchRunner(row, x, y, net))
    if not args.no_sklearn and row.loss == "cross_entropy":
        others.append(SklearnRunner(row, x, y, seed))
    # warm-up, on copies where weights matter: allocations, thread pools, first-call costs
    warm = min(len(x), 50 * row.batch)
    fit(net.copy(), x[:warm], y[:warm], epochs=1, batch_size=row.batch, optimizer="sgd")
    for runner in others:
        runner.epoch(np.random.default_rng(1).permutation(len(x))[:warm])
    if args.with_loop:
        others[0] = LoopRunner(row, x, y, net.copy())
    if numpy_runner is not None:
        numpy_runner.load_weights(net)  # back to the initial weights, buffers kept
    times: dict[str, list[float]] = {"chainrule": [], **{r.name: [] for r in others}}
    rates: list[float] = []
    perms = fit_shuffles(seed, len(x))
    callback = Interleave(others, perms, times, rates)
    history = fit(
        net,
        x,
        y,
        epochs=args.epochs,
        batch_size=row.batch,
        optimizer=make_optimizer(row),
        seed=seed,
        callbacks=[callback],
    )
    return {"times": times, "rate": statistics.median(rates), "loss": history.epochs[-1]["loss"]}


def format_row(row: Row, result: dict, n: int) -> list[str]:
    times, rate = result["times"], result["rate"]
    med = statistics.median(times["chainrule"])
    lines = []
    for name, values in times.items():
        m, lo, hi = _common.median_min_max(values)
        lines.append(f"    {name:<15} {m:7.3f} s  ({lo:.3f}-{hi:.3f})")
    ratios = {
        name: med / statistics.median(times[name]) if name in times else float("nan")
        for name in ("pytorch", NumpyRunner.name)
    }
    gflops = _common.train_flops(list(row.sizes), n, row.batch) / med / 1e9
    lines.append(
        f"    chainrule/pytorch {ratios['pytorch']:.2f}   "
        f"chainrule/{NumpyRunner.name} {ratios[NumpyRunner.name]:.2f}   "
        f"{gflops:.0f} GFLOP/s = {gflops / rate:.0%} of matmul {rate:.0f} GFLOP/s"
    )
    lines.append(
        f"    issue's machine (not this one; 60000 examples): pytorch {row.torch_ref:.2f} s, "
        f"careful numpy {row.numpy_ref:.2f} s"
    )
    lines.append(f"    fit: final training loss {result['loss']:.4f}")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per framework")
    parser.add_argument("--quick", action="store_true", help="6000 examples, 2 epochs")
    parser.add_argument("--rows", default=None, help="comma-separated row numbers (1-based)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--no-numpy",
        action="store_true",
        help="leave out the careful whole-batch NumPy reference (and its check)",
    )
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--no-sklearn", action="store_true")
    parser.add_argument("--no-rss", action="store_true")
    parser.add_argument(
        "--with-loop",
        action="store_true",
        help="also time a minimal train_step loop (what fit costs beyond it)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs = min(args.epochs, 2)
    _common.set_threads(args.threads)
    x, y = _common.load_mnist("train")
    if args.quick:
        x, y = x[:6000], y[:6000]
    rows = ROWS
    if args.rows:
        rows = [ROWS[int(i) - 1] for i in args.rows.split(",")]
    print(
        f"# seconds per epoch, {len(x)} examples, {args.epochs} timed epochs, "
        f"{args.threads} threads"
    )
    print(f"# {_common.machine_line()}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, chainrule = chainrule.fit, epochs from History")
    if not args.no_numpy:
        check_numpy_runner(rows, x, y)
    for row in rows:
        result = run_row(row, x, y, args)
        print(row.label)
        print("\n".join(format_row(row, result, len(x))), flush=True)
    if not args.no_rss:
        from peak_rss import measure_cli_train

        print(measure_cli_train(quick=args.quick))


if __name__ == "__main__":
    main()
