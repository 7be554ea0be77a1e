"""Run under ``mpiexec -n P`` by tests/test_distributed.py: data-parallel ``fit`` on a small
synthetic problem, the results written by rank 0 to ``OUT`` for the test to compare with
one-process training.

    mpiexec -n 2 python tests/mpi_train_script.py OUT

For each optimizer of :data:`RUNS`, ``OUT/<name>.npz`` holds the final parameter vector, the
largest difference between the ranks' parameters (0: they stay identical), and the epoch
losses; rank r checkpoints into ``OUT/ckpt-<name>-<r>`` (only rank 0 must write). The ``sgd``
and ``sgd_dropout`` runs are then resumed from their epoch-EPOCHS/2 checkpoints by every rank
and must end bit-identical.

The runs of :data:`WEIGHTED_RUNS` (float64, sample weights, a batch size the ranks cannot share
evenly, a last batch of one row) write ``OUT/weighted/<name>.npz`` likewise, for a comparison
to 1e-10 with one-process weighted training; the ``batch`` run is then resumed from its middle
checkpoint with its weights (``OUT/weighted/batch-resumed.npy``), and without them, or with
another ``weight_normalization``, which every rank must refuse (``OUT/weighted/done.json``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from mpi4py import MPI

from chainrule import Network, fit
from chainrule.optimizers import SGD, Adam

# 501 training rows in batches of 50: 10 full batches and one of 1 row (rank 0 gets none)
N_TRAIN, N_VAL, BATCH, EPOCHS = 501, 120, 50, 30
SIZES = [20, 32, 16, 4]


def problem(seed: int = 0):
    """A 4-class problem in 20 dimensions: the class is the argmax of a fixed linear map."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N_TRAIN + N_VAL, SIZES[0])).astype(np.float32)
    y = (x @ rng.normal(size=(SIZES[0], SIZES[-1]))).argmax(axis=1)
    return (x[:N_TRAIN], y[:N_TRAIN]), (x[N_TRAIN:], y[N_TRAIN:])


def network(seed: int = 1, dropout: float = 0.0) -> Network:
    return Network.from_sizes(
        SIZES, hidden="relu", loss="cross_entropy", seed=seed, dropout=dropout
    )


RUNS = {
    "sgd": lambda: SGD(0.05, momentum=0.9, weight_decay=1e-4),  # the fused lr * g path
    "adam": lambda: Adam(0.003),  # unscaled gradients
    "adam_uint8": lambda: Adam(0.003),  # compact inputs: uint8, scaled batch by batch
    "sgd_dropout": lambda: SGD(0.01, momentum=0.9),  # masks of the whole global batch
}
SCALE = 1 / 32  # adam_uint8's inputs: round(32 x + 128) as uint8, times 1/32 in fit


def _compact(x):
    return np.clip(np.round(x * 32 + 128), 0, 255).astype(np.uint8)


def train(name: str, comm, checkpoint_dir=None, epochs: int = EPOCHS, resume=None):
    (x, y), val = problem()
    scale = None
    if name.endswith("_uint8"):
        x, val, scale = _compact(x), (_compact(val[0]), val[1]), SCALE
    seed = 1 + comm.Get_rank() if comm is not None else 1  # rank 0's weights (and masks) win
    net = network(seed=seed, dropout=0.3 if name.endswith("_dropout") else 0.0)
    history = fit(
        net,
        x,
        y,
        epochs=epochs,
        batch_size=BATCH,
        optimizer=RUNS[name](),
        validation_data=val,
        seed=7,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        comm=comm,
        input_scale=scale,
    )
    return net, history


def main(out: Path) -> None:
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    for name in RUNS:
        ckpt = out / f"ckpt-{name}-{rank}"
        net, history = train(name, comm, checkpoint_dir=ckpt)
        vectors = comm.gather(net.parameter_vector.copy(), root=0)
        histories = comm.gather(history.to_dicts(), root=0)
        if rank == 0:
            spread = max(float(np.abs(v - vectors[0]).max()) for v in vectors)
            same_history = all(
                [{k: v for k, v in e.items() if k != "seconds"} for e in h]
                == [{k: v for k, v in e.items() if k != "seconds"} for e in histories[0]]
                for h in histories
            )
            np.savez(
                out / f"{name}.npz",
                weights=net.parameter_vector,
                rank_spread=spread,
                same_history=same_history,
                loss=np.array(history["loss"]),
                val_loss=np.array(history["val_loss"]),
                accuracy=np.array(history["accuracy"]),
            )
        if name in ("sgd", "sgd_dropout"):  # resume from rank 0's mid-run checkpoint
            middle = out / f"ckpt-{name}-0" / f"epoch-{EPOCHS // 2:04d}.npz"
            resumed, _ = train(name, comm, resume=middle)
            if rank == 0:
                np.save(out / f"{name}-resumed.npy", resumed.parameter_vector)
    refusals = {}
    (x, y), _ = problem()
    for case in ("batch_size", "labels", "bad_label", "optimizer"):
        # wrong usage on rank 1 only: every rank must refuse at once, none may hang
        kwargs = dict(epochs=1, batch_size=BATCH, seed=7, comm=comm)
        labels = y
        if rank == 1 and case == "batch_size":
            kwargs["batch_size"] = BATCH + 1
        if rank == 1 and case == "labels":
            labels = (y + 1) % SIZES[-1]  # same shape, other data
        if rank == 1 and case == "bad_label":
            labels = y.copy()
            labels[0] = 99  # fails rank 1's own checks
        if rank == 1 and case == "optimizer":
            kwargs["optimizer"] = "no_such_optimizer"  # fails before the ranks first talk
        try:
            fit(network(), x, labels, **kwargs)
            refusals[case] = None
        except ValueError as exc:
            refusals[case] = str(exc)
    everyone = comm.gather(refusals, root=0)
    weighted(out / "weighted", comm)  # before done.json: the test reads it as the end
    if rank == 0:
        (out / "done.json").write_text(json.dumps({"size": comm.Get_size(), "refusals": everyone}))


# -- sample weights ------------------------------------------------------------------------------

# 25 rows a batch, 13 and 12 on 2 ranks; 501 (or 401 after validation_split=0.2) training rows:
# the last batch of 1 row (rank 0 gets none)
WEIGHTED_BATCH, WEIGHTED_EPOCHS = 25, 8
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
WEIGHTED_RUNS = {
    # validation_data with its own weights, the fused lr * g path of SGD
    "batch": dict(normalization="batch", optimizer=lambda: SGD(0.05, momentum=0.9)),
    # validation_split splits the weights; Adam's unscaled gradients; dropout masks
    "dataset": dict(normalization="dataset", optimizer=lambda: Adam(0.003), split=True),
    # no shuffle: the batches are slices of the data
    "batch_unshuffled": dict(normalization="batch", optimizer=lambda: Adam(0.003), shuffle=False),
}


def sample_weights(n: int, seed: int = 2) -> np.ndarray:
    """Weights (n,) of mean about 1, every fifth one zero (an example left out)."""
    w = np.random.default_rng(seed).exponential(size=n)
    w[::5] = 0
    return w


def train_weighted(
    name: str, comm, checkpoint_dir=None, resume=None, weights=True, normalization=None
):
    """One run of :data:`WEIGHTED_RUNS` in float64; ``weights=False`` leaves sample_weight out,
    ``normalization`` overrides the run's weight_normalization."""
    run = WEIGHTED_RUNS[name]
    (x, y), (x_val, y_val) = problem()
    x, x_val = x.astype(np.float64), x_val.astype(np.float64)
    seed = 1 + comm.Get_rank() if comm is not None else 1  # rank 0's weights (and masks) win
    net = Network.from_sizes(
        SIZES, hidden="relu", loss="cross_entropy", seed=seed, dtype=np.float64,
        dropout=0.2 if name == "dataset" else 0.0,
    )  # fmt: skip
    split = run.get("split", False)
    validation = {"validation_split": 0.2} if split else {
        "validation_data": (x_val, y_val, sample_weights(N_VAL, seed=3))
    }  # fmt: skip
    history = fit(
        net,
        x,
        y,
        epochs=WEIGHTED_EPOCHS,
        batch_size=WEIGHTED_BATCH,
        optimizer=run["optimizer"](),
        seed=7,
        shuffle=run.get("shuffle", True),
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        comm=comm,
        sample_weight=sample_weights(N_TRAIN) if weights else None,
        weight_normalization=normalization or run["normalization"],
        **validation,
    )
    return net, history


def _refused(call) -> str | None:
    """The message of the ValueError ``call()`` raises, or None if it returns."""
    try:
        call()
    except ValueError as exc:
        return str(exc)
    return None


def weighted(out: Path, comm) -> None:
    rank = comm.Get_rank()
    out.mkdir(exist_ok=True)
    for name in WEIGHTED_RUNS:
        ckpt = out / f"ckpt-{name}-{rank}" if name == "batch" else None
        net, history = train_weighted(name, comm, checkpoint_dir=ckpt)
        vectors = comm.gather(net.parameter_vector.copy(), root=0)
        histories = comm.gather(history.to_dicts(), root=0)
        if rank == 0:
            spread = max(float(np.abs(v - vectors[0]).max()) for v in vectors)
            same = [[{k: v for k, v in e.items() if k != "seconds"} for e in h] for h in histories]
            np.savez(
                out / f"{name}.npz",
                weights=net.parameter_vector,
                rank_spread=spread,
                same_history=all(h == same[0] for h in same),
                **{key: np.array(history[key]) for key in METRICS},
            )
    middle = out / "ckpt-batch-0" / f"epoch-{WEIGHTED_EPOCHS // 2:04d}.npz"
    resumed, _ = train_weighted("batch", comm, resume=middle)
    if rank == 0:
        np.save(out / "batch-resumed.npy", resumed.parameter_vector)
    refusals = {
        "resume_unweighted": _refused(
            lambda: train_weighted("batch", comm, resume=middle, weights=False)
        ),
        "resume_dataset": _refused(
            lambda: train_weighted("batch", comm, resume=middle, normalization="dataset")
        ),
    }
    (x, y), _ = problem()
    w = sample_weights(N_TRAIN)
    for case in ("weight_length", "weight_values", "no_weights", "normalization"):
        # wrong usage on rank 1 only: every rank must refuse at once, none may hang
        kwargs = dict(epochs=1, batch_size=WEIGHTED_BATCH, seed=7, comm=comm, sample_weight=w)
        if rank == 1:
            kwargs.update(
                {
                    "weight_length": {"sample_weight": w[:-1]},
                    "weight_values": {"sample_weight": w[::-1]},
                    "no_weights": {"sample_weight": None},
                    "normalization": {"weight_normalization": "dataset"},
                }[case]
            )
        refusals[case] = _refused(lambda: fit(network(), x, y, **kwargs))  # noqa: B023
    everyone = comm.gather(refusals, root=0)
    if rank == 0:
        (out / "done.json").write_text(json.dumps({"refusals": everyone}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
