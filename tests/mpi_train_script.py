"""Run under ``mpiexec -n P`` by tests/test_distributed.py: data-parallel ``fit`` on a small
synthetic problem, the results written by rank 0 to ``OUT`` for the test to compare with
one-process training.

    mpiexec -n 2 python tests/mpi_train_script.py OUT

For each optimizer of :data:`RUNS`, ``OUT/<name>.npz`` holds the final parameter vector, the
largest difference between the ranks' parameters (0: they stay identical), and the epoch
losses; rank r checkpoints into ``OUT/ckpt-<name>-<r>`` (only rank 0 must write). The ``sgd``
and ``sgd_dropout`` runs are then resumed from their epoch-EPOCHS/2 checkpoints by every rank
and must end bit-identical.
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
    if rank == 0:
        (out / "done.json").write_text(json.dumps({"size": comm.Get_size(), "refusals": everyone}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
