"""Seconds per MNIST training epoch: chainrule vs PyTorch (and scikit-learn), interleaved.

Each row of the table trains one network for ``--epochs`` timed epochs with every framework,
alternating epoch by epoch in this one process (the 2-thread BLAS speed of a shared host drifts
by up to 2x over minutes, so only interleaved runs compare), with a short pause before each
timed epoch so that the other library's spinning threads go idle. Every framework starts from
the same initial weights (scikit-learn: its own) and sees the same shuffles (scikit-learn: its
own), the data in memory as float32.

Printed per row: median and min-max seconds per epoch, chainrule/PyTorch, chainrule's achieved
GFLOP/s counting only the matrix products it does (``2 m k n`` each; no input gradient for the
first layer) and that as a fraction of a large float32 matmul timed in the same rounds; then the
peak RSS of a separate default ``chainrule train`` process.

    python benchmarks/epoch_time.py              # all rows, 5 timed epochs each
    python benchmarks/epoch_time.py --quick      # smoke run on 6000 examples
    python benchmarks/epoch_time.py --rows 3,4 --epochs 7 --no-sklearn

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
    numpy_ref: float

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
        torch, batch = self.torch, self.row.batch
        sse = self.row.loss == "sse"
        perm_t = torch.from_numpy(perm)
        for start in range(0, len(perm), batch):
            idx = perm_t[start : start + batch]
            xb, yb = self.x[idx], self.y[idx]
            out = self.model(xb)
            if sse:  # the mean over the batch of 1/2 sum (out - label)^2
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
    ratio = med / statistics.median(times["pytorch"]) if "pytorch" in times else float("nan")
    gflops = _common.train_flops(list(row.sizes), n, row.batch) / med / 1e9
    lines.append(
        f"    chainrule/pytorch {ratio:.2f}   {gflops:.0f} GFLOP/s = {gflops / rate:.0%} of "
        f"matmul {rate:.0f} GFLOP/s   (issue, other machine: pytorch {row.torch_ref:.2f}, "
        f"careful numpy {row.numpy_ref:.2f})"
    )
    lines.append(f"    fit: final training loss {result['loss']:.4f}")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per framework")
    parser.add_argument("--quick", action="store_true", help="6000 examples, 2 epochs")
    parser.add_argument("--rows", default=None, help="comma-separated row numbers (1-based)")
    parser.add_argument("--threads", type=int, default=2)
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
    for row in rows:
        result = run_row(row, x, y, args)
        print(row.label)
        print("\n".join(format_row(row, result, len(x))), flush=True)
    if not args.no_rss:
        from peak_rss import measure_cli_train

        print(measure_cli_train(quick=args.quick))


if __name__ == "__main__":
    main()
