"""chainrule.sklearn.MLPClassifier vs sklearn.neural_network.MLPClassifier on an MNIST subset.

Both estimators get the same data (the first ``--train`` training images, float32 in [0, 1] as
``chainrule.datasets.load_mnist`` gives them; scikit-learn keeps float32 input in float32;
``--float64`` for both in float64) and the same configuration: one hidden layer of 100 ReLU
units, Adam at 1e-3, ``alpha=1e-4``, batches of 200, ``--epochs`` epochs (the ``tol`` stopping
rule is switched off with ``n_iter_no_change=epochs``, so both run every epoch), one BLAS
thread by default. Each is scored on the 10000 test images.

By default whole ``fit`` calls are timed (what users run), the two estimators alternating seed
by seed in this one process with a short pause before each. ``--per-epoch`` trains one epoch at
a time (``partial_fit``), alternating epoch by epoch, so that a burst of load on a shared
machine hits both; each time then includes the input checks both libraries repeat per call.
One thread, because on a shared 2-core host two BLAS threads stall whenever another process
holds a core (every matrix product then waits a scheduler slice for its second thread: both
libraries slow down ~10x, to the same speed); ``--threads 2`` on a quiet machine.

Printed: test accuracy (mean and standard deviation over the seeds: the noise between two
initializations), median and min-max seconds, and each time over chainrule's.

    python benchmarks/sklearn_compare.py                 # 10000 examples, 20 epochs, 5 seeds
    python benchmarks/sklearn_compare.py --per-epoch
    python benchmarks/sklearn_compare.py --threads 2      # on a quiet machine
    python benchmarks/sklearn_compare.py --quick         # smoke run
    python benchmarks/sklearn_compare.py --train 60000 --epochs 10 --float64

Needs scikit-learn (``pip install 'chainrule[sklearn]'``) and threadpoolctl (a dependency of
scikit-learn).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from threadpoolctl import threadpool_limits

from chainrule.datasets import load_mnist
from chainrule.sklearn import MLPClassifier

PAUSE = 0.05  # seconds before each timed block: lets the other run's BLAS threads go idle


def estimators(epochs: int, seed, dtype: str) -> dict:
    """The two estimators, configured alike."""
    common = dict(
        hidden_layer_sizes=(100,),
        activation="relu",
        alpha=1e-4,
        batch_size=200,
        learning_rate_init=1e-3,
        max_iter=epochs,
        n_iter_no_change=epochs,
        shuffle=True,
        random_state=seed,
    )
    return {
        f"scikit-learn {sklearn.__version__}": SkMLPClassifier(**common, solver="adam"),
        "chainrule": MLPClassifier(**common, optimizer="adam", dtype=dtype),
    }


def run_fits(args, dtype, data) -> tuple[dict, dict]:
    """Whole ``fit`` calls, the two estimators alternating seed by seed."""
    x, y, x_test, y_test = data
    accuracy: dict[str, list[float]] = {}
    seconds: dict[str, list[float]] = {}
    for seed in range(args.seeds):
        for name, est in estimators(args.epochs, seed, dtype).items():
            time.sleep(PAUSE)
            started = time.perf_counter()
            est.fit(x, y)
            seconds.setdefault(name, []).append(time.perf_counter() - started)
            accuracy.setdefault(name, []).append(float(est.score(x_test, y_test)))
            assert est.n_iter_ == args.epochs, (name, est.n_iter_)
    return accuracy, seconds


def run_epochs(args, dtype, data) -> tuple[dict, dict]:
    """One epoch at a time (``partial_fit``), the two estimators alternating epoch by epoch,
    so that a burst of load on a shared machine hits both; seconds are per epoch."""
    x, y, x_test, y_test = data
    classes = np.unique(y)
    accuracy: dict[str, list[float]] = {}
    seconds: dict[str, list[float]] = {}
    for seed in range(args.seeds):
        # a RandomState instance: scikit-learn's partial_fit then shuffles differently each
        # epoch, as its fit does (an int would repeat the first epoch's order)
        models = estimators(args.epochs, np.random.RandomState(seed), dtype)
        for _ in range(args.epochs):
            for name, est in models.items():
                time.sleep(PAUSE)
                started = time.perf_counter()
                est.partial_fit(x, y, classes=classes)
                seconds.setdefault(name, []).append(time.perf_counter() - started)
        for name, est in models.items():
            accuracy.setdefault(name, []).append(float(est.score(x_test, y_test)))
    return accuracy, seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=10000, help="training examples (first N)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--float64", action="store_true", help="train both in float64")
    parser.add_argument(
        "--per-epoch", action="store_true", help="time partial_fit epochs, interleaved"
    )
    parser.add_argument("--quick", action="store_true", help="2000 examples, 5 epochs, 2 seeds")
    args = parser.parse_args(argv)
    if args.quick:
        args.train, args.epochs, args.seeds = 2000, 5, 2
    dtype = np.float64 if args.float64 else np.float32

    x, y = load_mnist("train", dtype=dtype)
    x_test, y_test = load_mnist("test", dtype=dtype)
    data = (x[: args.train], y[: args.train], x_test, y_test)
    run = run_epochs if args.per_epoch else run_fits
    with threadpool_limits(args.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        accuracy, seconds = run(args, np.dtype(dtype).name, data)

    what = "seconds per epoch" if args.per_epoch else "seconds per fit"
    print(
        f"MNIST: first {args.train} training images, 10000 test images, {np.dtype(dtype).name}; "
        f"784-100-10 ReLU, Adam 1e-3, alpha 1e-4, batch 200, {args.epochs} epochs; "
        f"{args.seeds} seeds; {args.threads} BLAS threads; NumPy {np.__version__}, "
        f"Python {platform.python_version()}"
    )
    print()
    print(f"| estimator | test accuracy (mean ± sd) | {what} (median, min-max) | time ratio |")
    print("| --- | --- | --- | --- |")
    base = statistics.median(seconds["chainrule"])
    for name in accuracy:
        acc, sec = accuracy[name], seconds[name]
        sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
        med = statistics.median(sec)
        print(
            f"| {name} | {100 * statistics.mean(acc):.2f} % ± {100 * sd:.2f} | "
            f"{med:.3f} ({min(sec):.3f}-{max(sec):.3f}) | {med / base:.2f} |"
        )


if __name__ == "__main__":
    main()
