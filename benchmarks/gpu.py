"""GPU check and timing of chainrule's own GPU path: ``net.to("gpu")`` against the CPU's
gradients and training, and epochs against PyTorch on the same GPU.

    python benchmarks/gpu.py                          # the README's networks, batch 256
    python benchmarks/gpu.py --layers 784,800,10 --repeats 5 --cpu

Where no GPU is present (CuPy not installed, or no CUDA device: the
:class:`chainrule.backend.DeviceError` of ``net.to("gpu")``) it prints why and exits 0. Where
CuPy is installed, GPU or not, it first checks that every function chainrule's math takes from
its arrays' module (``xp.<name>`` in the package's source) exists in that CuPy, and exits 1 if
one is missing (checked without a GPU against CuPy 13.6 and 14.2: none missing).

With a GPU, for each network (``Network.from_sizes(sizes, seed=0)``: ReLU hidden layers,
softmax + cross-entropy, float32):

1. **Gradients**: ``net.copy().to("gpu").gradients(x, y)`` against ``net.gradients(x, y)`` on
   the CPU, on the first MNIST batch; the largest difference relative to each array's largest
   gradient. Above 1e-4 (float32 rounding, summation orders differ) the script exits 1.
2. **Training**: a few steps of ``chainrule.fit`` (plain SGD, the same seed, so the same
   shuffled batches) on the device network and on the CPU; the largest weight difference
   relative to the largest weight is reported, and only a huge one (above 1e-3) exits 1.
3. **Epoch time**: ``chainrule.fit`` on the device network over MNIST (plain SGD at ``--lr``,
   batches of ``--batch``, seed 0): the median of ``--repeats`` epochs (History's
   ``seconds``) after one warm-up epoch. fit gathers each batch on the host, moves it to the
   GPU and reads the loss back every step, so each epoch's time includes every transfer and
   synchronization. Against it, the same network with the same initial weights in PyTorch on
   the same GPU (if PyTorch with CUDA is installed), with the same shuffles as fit, the data
   set kept on the GPU and the loss never read back: PyTorch's fast path. ``--cpu`` adds
   ``chainrule.fit`` on the CPU (``--threads`` sets its BLAS threads).

The table is markdown: network, gradient difference, training difference, seconds per epoch
(median, with min-max over the repeats), the chainrule/PyTorch ratio, and the CPU's seconds.

A smoke test of this script's own code path without a GPU: ``--device-module
array_api_strict`` moves the networks to ``array_api_strict`` arrays on its non-CPU device
``"device1"`` (arrays that refuse every NumPy call, as the tests use) instead of ``"gpu"``, and
runs the same checks and timing, without PyTorch; the timing then measures array-api-strict's
overhead, nothing about GPUs. With a small network and data set it runs in seconds:

    python benchmarks/gpu.py --device-module array_api_strict --layers 784,30,10 \\
        --repeats 1 --limit 2000

Not a test (the CI machine has no GPU).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

import _common
import numpy as np

import chainrule
from chainrule.backend import DeviceError, get_namespace, to_numpy

README_NETWORKS = [
    [784, 30, 10],
    [784, 100, 10],
    [784, 256, 10],
    [784, 800, 10],
    [784, 400, 400, 10],
    [784, 800, 800, 10],
]

GRAD_TOLERANCE = 1e-4  # float32 rounding: the device sums in another order
FIT_TOLERANCE = 1e-3  # float32 differences grow with each step; beyond this something is wrong
FIT_STEPS = 5  # training steps compared between the device and the CPU


class Target:
    """Where the networks go: ``"gpu"`` (CuPy), or an array-API module on one of its devices."""

    def __init__(self, module_name: str | None):
        if module_name is None:
            self.device, self.array_device = "gpu", None
        else:
            self.device = importlib.import_module(module_name)
            self.array_device = self.device.Device("device1")
        self.is_gpu = module_name is None

    def move(self, net: chainrule.Network) -> chainrule.Network:
        """``net`` moved in place; raises :class:`DeviceError` without CuPy or a GPU."""
        return net.to(self.device, self.array_device)

    def describe(self) -> str:
        """The device in words (after :meth:`move` has succeeded once)."""
        xp = get_namespace(self.device, self.array_device)
        if not self.is_gpu:
            return f"{xp!r} (smoke test of this script: no GPU, no PyTorch)"
        props = xp.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        count = xp.cuda.runtime.getDeviceCount()
        return f"{name} (CuPy {xp.__version__}, {count} device(s))"


def new_network(sizes) -> chainrule.Network:
    return chainrule.Network.from_sizes(sizes, hidden="relu", loss="cross_entropy", seed=0)


def sgd(lr: float) -> chainrule.optimizers.SGD:
    return chainrule.optimizers.SGD(lr)


def relative_difference(reference: np.ndarray, other: np.ndarray) -> float:
    """``max |other - reference|`` over ``max |reference|``."""
    scale = max(float(np.abs(reference).max()), 1e-30)
    return float(np.abs(other - reference).max()) / scale


def check_gradients(target: Target, sizes, x, y) -> float:
    """The largest gradient difference, device vs CPU, relative to each array's largest
    gradient, on one batch (``x``, ``y``)."""
    net = new_network(sizes)
    device_net = target.move(net.copy())
    worst = 0.0
    for (dw, db), (gw, gb) in zip(net.gradients(x, y), device_net.gradients(x, y)):
        worst = max(worst, relative_difference(dw, gw), relative_difference(db, gb))
    return worst


def check_fit(target: Target, sizes, x, y, batch: int, lr: float) -> float:
    """The largest weight difference after ``FIT_STEPS`` steps of fit, device vs CPU, relative
    to the largest weight."""
    net = new_network(sizes)
    device_net = target.move(net.copy())
    rows = FIT_STEPS * batch
    for model in (net, device_net):
        chainrule.fit(
            model, x[:rows], y[:rows], epochs=1, batch_size=batch, optimizer=sgd(lr), seed=0
        )
    return relative_difference(net.parameter_vector, to_numpy(device_net.parameter_vector))


def time_chainrule_epochs(net, x, y, batch: int, lr: float, repeats: int) -> list[float]:
    """Seconds of ``repeats`` epochs of ``chainrule.fit`` on ``net``'s device, after a warm-up
    epoch (kernel compilation, memory pools, optimizer state)."""
    _common.pause()
    history = chainrule.fit(
        net, x, y, epochs=repeats + 1, batch_size=batch, optimizer=sgd(lr), seed=0
    )
    return history["seconds"][1:]


def fit_shuffles(seed: int = 0) -> np.random.Generator:
    """The generator of fit's per-epoch shuffles for ``seed`` (chainrule.training._Trainer
    spawns two from the seed: the validation split's, then the shuffles'), so PyTorch sees the
    same batches. Only the batch order depends on it, not what the timing means."""
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])


def torch_cuda():
    """``torch`` where PyTorch with CUDA is available, else None."""
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def time_torch_epochs(torch, sizes, x, y, batch, lr, repeats) -> list[float]:
    """Seconds of ``repeats`` epochs of the same network (same initial weights) in PyTorch on
    the GPU, after a warm-up epoch; the data set lives on the GPU."""
    net = new_network(sizes)
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
    rng = fit_shuffles(0)
    times = []
    for epoch in range(repeats + 1):  # the first epoch warms up
        perm = torch.from_numpy(rng.permutation(len(x))).to(device)
        torch.cuda.synchronize()
        _common.pause()
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


def seconds(times: list[float] | None) -> str:
    """``median (min-max)`` of ``times``, or ``-`` where not measured."""
    if not times:
        return "-"
    median, low, high = _common.median_min_max(times)
    return f"{median:.3f}" if len(times) == 1 else f"{median:.3f} ({low:.3f}-{high:.3f})"


# names the code takes only from an ArrayAPIAdapter (chainrule.backend), never from CuPy
ADAPTER_ONLY = {"device", "module", "subtract_at_labels"}


def missing_cupy_functions(cupy) -> tuple[int, list[str]]:
    """How many distinct ``xp.<name>`` the package's modules use, and which of them ``cupy``
    lacks (a static scan of the source: ``xp.``, ``self.xp.`` and ``namespace(a).``)."""
    import pathlib
    import re

    pattern = re.compile(r"\b(?:xp|self\.xp|namespace\([a-z_]+\))\.([a-z_0-9]+)\b")
    names = set()
    for path in pathlib.Path(chainrule.__file__).parent.glob("*.py"):
        names |= set(pattern.findall(path.read_text()))
    names -= ADAPTER_ONLY
    return len(names), sorted(n for n in names if not hasattr(cupy, n))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--layers", help="one network, e.g. 784,100,10 (default: the README's)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.1, help="plain SGD's learning rate")
    parser.add_argument(
        "--repeats", "--epochs", type=int, default=3, help="timed epochs (after a warm-up)"
    )
    parser.add_argument(
        "--limit", "--subset", type=int, help="use the first N MNIST training rows (default all)"
    )
    parser.add_argument("--cpu", action="store_true", help="also time chainrule.fit on the CPU")
    parser.add_argument("--threads", type=int, help="BLAS threads for --cpu (default: BLAS's)")
    parser.add_argument(
        "--device-module",
        metavar="MODULE",
        help="smoke test without a GPU: an array-API module (array_api_strict) on its "
        "device 'device1' instead of 'gpu'; no PyTorch",
    )
    args = parser.parse_args(argv)

    target = Target(args.device_module)
    if args.device_module is None:
        try:
            import cupy
        except ImportError:
            pass
        else:
            used, missing = missing_cupy_functions(cupy)
            if missing:
                print(f"CuPy {cupy.__version__} lacks functions chainrule uses: {missing}")
                return 1
            print(f"CuPy {cupy.__version__}: all {used} array functions chainrule uses exist")
    try:
        target.move(new_network([1, 2]))  # what every network will do: CuPy and a GPU?
    except DeviceError as exc:
        print(f"no GPU: {exc}; nothing to check or time (exit 0)")
        return 0
    if args.threads:
        _common.set_threads(args.threads)
    torch = torch_cuda() if target.is_gpu else None

    networks = [[int(v) for v in args.layers.split(",")]] if args.layers else README_NETWORKS
    x, y = _common.load_mnist("train")
    if args.limit:
        x, y = x[: args.limit], y[: args.limit]
    y = y.astype(np.int64)
    name = "gpu" if target.is_gpu else "device"
    fit_steps = min(FIT_STEPS, -(-len(x) // args.batch))
    print(f"device: {target.describe()}")
    if args.cpu:
        print(f"cpu: {_common.machine_line()}")
    print(
        f"MNIST rows {len(x)}, batch {args.batch}, plain SGD lr {args.lr}, median of "
        f"{args.repeats} epoch(s) after a warm-up; training difference after {fit_steps} steps\n"
    )

    columns = ["network", "grad rel. diff", "fit weight diff", f"chainrule {name} s/epoch"]
    if target.is_gpu:
        columns += ["torch gpu s/epoch", "chainrule/torch"]
    if args.cpu:
        columns += ["chainrule cpu s/epoch"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|")

    failed = False
    for sizes in networks:
        grad_diff = check_gradients(target, sizes, x[: args.batch], y[: args.batch])
        fit_diff = check_fit(target, sizes, x, y, args.batch, args.lr)
        grad_ok, fit_ok = grad_diff <= GRAD_TOLERANCE, fit_diff <= FIT_TOLERANCE
        failed |= not (grad_ok and fit_ok)
        device_net = target.move(new_network(sizes))
        device_times = time_chainrule_epochs(device_net, x, y, args.batch, args.lr, args.repeats)
        row = [
            "-".join(map(str, sizes)),
            f"{grad_diff:.1e}" + ("" if grad_ok else " BAD"),
            f"{fit_diff:.1e}" + ("" if fit_ok else " BAD"),
            seconds(device_times),
        ]
        if target.is_gpu:
            torch_times = (
                time_torch_epochs(torch, sizes, x, y, args.batch, args.lr, args.repeats)
                if torch
                else None
            )
            ratio = np.median(device_times) / np.median(torch_times) if torch_times else None
            row += [seconds(torch_times), f"{ratio:.2f}" if ratio else "-"]
        if args.cpu:
            cpu_net = new_network(sizes)
            row.append(
                seconds(time_chainrule_epochs(cpu_net, x, y, args.batch, args.lr, args.repeats))
            )
        print("| " + " | ".join(row) + " |", flush=True)

    if target.is_gpu and torch is None:
        print("\n(PyTorch with CUDA is not available: no PyTorch timing)")
    if failed:
        print(
            f"{name} differs from the CPU beyond float32 rounding (gradients > {GRAD_TOLERANCE}"
            f" or weights after fit > {FIT_TOLERANCE}): see BAD above",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
