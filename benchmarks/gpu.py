"""GPU check and timing: chainrule's math in CuPy against the CPU's gradients, and epochs
against PyTorch on the same GPU.

    python benchmarks/gpu.py                        # the README's networks, batch 256
    python benchmarks/gpu.py --layers 784,800,10 --epochs 3

Where no GPU is present (CuPy not importable, or no CUDA device) it says so and exits 0.

With a GPU, for each network:

1. **Gradients**: a copy of a chainrule network's weights is moved to CuPy arrays, and one
   batch's forward and backward are computed there with the formulas of docs/math.md (ReLU
   hidden layers, softmax + cross-entropy: ``delta_L = (softmax - onehot) / batch``,
   ``dE/dw = in^T . delta``, ``delta_l = (delta_{l+1} . w^T) * relu'(net_l)``); the gradients
   are compared with :meth:`chainrule.Network.gradients` on the CPU (both float32; the
   tolerance is float32 rounding). A mismatch exits 1.
2. **Epoch time**: one MNIST epoch of plain SGD in batches of 256 with that CuPy code against
   the same network in PyTorch on the same GPU (if PyTorch with CUDA is installed), the same
   shuffled batches, the median of ``--repeats`` epochs after a warm-up epoch, and optionally
   (``--cpu``) ``chainrule.fit`` on the CPU.

Not a test (the CI machine has no GPU) and not the library's GPU path: this script does its
own CuPy math, so it checks the formulas and shows what a GPU buys, whatever the layers do.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import _common
import numpy as np

import chainrule

README_NETWORKS = [
    [784, 30, 10],
    [784, 100, 10],
    [784, 256, 10],
    [784, 800, 10],
    [784, 400, 400, 10],
    [784, 800, 800, 10],
]


def find_gpu():
    """``(cupy, description)`` where CuPy and a CUDA device are present, else ``(None, why)``."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a CUDA library that fails to load
        return None, f"CuPy is not importable ({type(exc).__name__}: {exc})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # cupy.cuda.runtime.CUDARuntimeError: no driver, no device
        return None, f"CuPy found no CUDA device ({type(exc).__name__}: {exc})"
    if count < 1:
        return None, "CuPy found no CUDA device"
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return cupy, f"{name} (CuPy {cupy.__version__}, {count} device(s))"


class CupyNet:
    """A copy of a chainrule network (ReLU hidden layers, softmax + cross-entropy output) with
    its weights (n_in, n_out) and biases (n_out,) as CuPy arrays; SGD in place."""

    def __init__(self, cp, net: chainrule.Network):
        names = [layer.activation.name for layer in net.dense_layers]
        if net.loss_function.name != "cross_entropy" or any(n != "relu" for n in names[:-1]):
            raise ValueError(f"needs relu hidden layers and cross_entropy, got {names}")
        self.cp = cp
        self.weights = [cp.asarray(layer.weights) for layer in net.dense_layers]
        self.biases = [cp.asarray(layer.biases) for layer in net.dense_layers]

    def gradients(self, x, labels):
        """``[(dE/dw, dE/db), ...]`` of the batch-mean cross-entropy; x (batch, n_in)."""
        cp = self.cp
        inputs, nets = [], []
        a = x
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            inputs.append(a)
            z = a @ w + b
            nets.append(z)
            a = cp.maximum(z, 0) if i < len(self.weights) - 1 else z
        z = a - a.max(axis=1, keepdims=True)  # softmax of the logits
        p = cp.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        p[cp.arange(len(x)), labels] -= 1
        delta = p / len(x)  # dE/dnet_L = (softmax - onehot) / batch
        grads = []
        for i in range(len(self.weights) - 1, -1, -1):
            grads.append((inputs[i].T @ delta, delta.sum(axis=0)))
            if i:
                delta = (delta @ self.weights[i].T) * (nets[i - 1] > 0)
        return grads[::-1]

    def sgd_step(self, x, labels, lr: float) -> None:
        for (w, b), (dw, db) in zip(zip(self.weights, self.biases), self.gradients(x, labels)):
            w -= lr * dw
            b -= lr * db


def check_gradients(cp, sizes, x, y, batch: int) -> float:
    """The largest gradient difference, relative to the largest gradient, GPU vs CPU."""
    net = chainrule.Network.from_sizes(sizes, hidden="relu", loss="cross_entropy", seed=0)
    cpu = net.gradients(x[:batch], y[:batch])
    gpu = CupyNet(cp, net).gradients(cp.asarray(x[:batch]), cp.asarray(y[:batch]))
    worst = 0.0
    for (dw, db), (gw, gb) in zip(cpu, gpu):
        for c, g in ((dw, gw), (db, gb)):
            scale = max(float(np.abs(c).max()), 1e-30)
            worst = max(worst, float(np.abs(cp.asnumpy(g) - c).max()) / scale)
    return worst


def time_cupy_epochs(cp, sizes, x, y, batch, lr, repeats, seed=0) -> list[float]:
    net = chainrule.Network.from_sizes(sizes, hidden="relu", loss="cross_entropy", seed=0)
    model = CupyNet(cp, net)
    xg, yg = cp.asarray(x), cp.asarray(y)
    rng = np.random.default_rng(seed)
    times = []
    for epoch in range(repeats + 1):  # the first epoch warms up (kernel compilation)
        perm = cp.asarray(rng.permutation(len(x)))
        cp.cuda.Device().synchronize()
        start = time.perf_counter()
        for lo in range(0, len(x), batch):
            idx = perm[lo : lo + batch]
            model.sgd_step(xg[idx], yg[idx], lr)
        cp.cuda.Device().synchronize()
        if epoch:
            times.append(time.perf_counter() - start)
    return times


def time_torch_epochs(sizes, x, y, batch, lr, repeats, seed=0) -> list[float] | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    net = chainrule.Network.from_sizes(sizes, hidden="relu", loss="cross_entropy", seed=0)
    layers = []
    for i, layer in enumerate(net.dense_layers):
        linear = torch.nn.Linear(layer.n_in, layer.n_out)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(layer.weights.T.copy()))
            linear.bias.copy_(torch.from_numpy(layer.biases.copy()))
        layers += [linear] if i == len(net.dense_layers) - 1 else [linear, torch.nn.ReLU()]
    device = torch.device("cuda")
    model = torch.nn.Sequential(*layers).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    rng = np.random.default_rng(seed)
    times = []
    for epoch in range(repeats + 1):
        perm = torch.from_numpy(rng.permutation(len(x))).to(device)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for lo in range(0, len(x), batch):
            idx = perm[lo : lo + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
        torch.cuda.synchronize()
        if epoch:
            times.append(time.perf_counter() - start)
    return times


def time_cpu_epochs(sizes, x, y, batch, lr, repeats) -> list[float]:
    net = chainrule.Network.from_sizes(sizes, hidden="relu", loss="cross_entropy", seed=0)
    history = chainrule.fit(
        net, x, y, epochs=repeats, batch_size=batch, optimizer=chainrule.optimizers.SGD(lr), seed=0
    )
    return history["seconds"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", help="one network, e.g. 784,100,10 (default: the README's)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs (after a warm-up)")
    parser.add_argument("--subset", type=int, help="train on the first N MNIST examples")
    parser.add_argument("--cpu", action="store_true", help="also time chainrule.fit on the CPU")
    args = parser.parse_args(argv)

    cp, device = find_gpu()
    if cp is None:
        print(f"no GPU: {device}; nothing to check or time (exit 0)")
        return 0
    print(f"GPU: {device}")
    networks = [[int(v) for v in args.layers.split(",")]] if args.layers else README_NETWORKS
    x, y = _common.load_mnist("train")
    if args.subset:
        x, y = x[: args.subset], y[: args.subset]
    y = y.astype(np.int64)

    failed = False
    print(
        f"{'network':>16}  {'grad rel. diff':>14}  {'cupy s/epoch':>12}  {'torch s/epoch':>13}"
        f"  {'cupy/torch':>10}" + ("  cpu s/epoch" if args.cpu else "")
    )
    for sizes in networks:
        diff = check_gradients(cp, sizes, x, y, args.batch)
        ok = diff < 1e-4  # float32, summation orders differ
        failed |= not ok
        gpu = statistics.median(
            time_cupy_epochs(cp, sizes, x, y, args.batch, args.lr, args.repeats)
        )
        torch_times = time_torch_epochs(sizes, x, y, args.batch, args.lr, args.repeats)
        torch_s = statistics.median(torch_times) if torch_times else float("nan")
        line = (
            f"{'-'.join(map(str, sizes)):>16}  {diff:>10.2e} {'ok' if ok else 'BAD'}  "
            f"{gpu:>12.3f}  {torch_s:>13.3f}  {gpu / torch_s:>10.2f}"
        )
        if args.cpu:
            cpu = statistics.median(time_cpu_epochs(sizes, x, y, args.batch, args.lr, args.repeats))
            line += f"  {cpu:>11.3f}"
        print(line, flush=True)
    if not torch_times:
        print("(PyTorch with CUDA not available: no PyTorch column)")
    if failed:
        print("GPU gradients differ from the CPU's beyond float32 rounding", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
