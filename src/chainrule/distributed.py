"""Data-parallel training over MPI, and the cost model of docs/scaling.md.

``chainrule.fit(net, x, y, comm=MPI.COMM_WORLD)`` run under ``mpiexec -n P`` trains one model
on P processes (ranks), each holding the whole data set and a copy of the network::

    broadcast rank 0's parameters                   every rank starts from the same weights
    perm = rng.permutation(n_train)                 the same seeded shuffle on every rank
    for each global batch of k <= batch_size rows of perm:
        rank r takes rows [r k // P : (r + 1) k // P]   (k_r rows; k_r = 0 is allowed)
        backward gives (k_r / k) * (mean over its rows of dE/dw) = (1/k) * (sum over its rows)
        Allreduce(SUM) of the gradient vector          = the mean over all k rows
        the same optimizer step on every rank          (weights stay identical)

so an update is the update of one process on the same global batch, up to the order of the
float additions. The batch loss and the correct count are summed over the ranks as well, so
every rank reports (and checks for divergence) the global numbers. Only rank 0 writes
checkpoints; see :func:`chainrule.fit` and docs/scaling.md.

mpi4py is an optional dependency (``pip install chainrule[mpi]``; the ``mpich`` wheel from PyPI
provides the MPI library): it is imported only when a communicator is used.

The cost model (docs/scaling.md): per step, a ring allreduce of ``n`` float32 gradients on P
nodes sends and receives ``2 (P - 1) / P * 4 n`` bytes per node in ``2 (P - 1)`` messages, while
the matrix products of a step cost about ``6 * batch * n`` floating-point operations in all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "comm_world",
    "rank_and_size",
    "local_rows",
    "broadcast_parameters",
    "allreduce_sum",
    "allreduce_bytes",
    "step_flops",
    "ScalingRow",
    "scaling_table",
    "scaling_markdown",
    "README_NETWORKS",
]

# the networks of the README's results tables
README_NETWORKS: tuple[tuple[int, ...], ...] = (
    (784, 30, 10),
    (784, 100, 10),
    (784, 256, 10),
    (784, 800, 10),
    (784, 400, 400, 10),
    (784, 800, 800, 10),
)


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(
            "distributed training needs mpi4py and an MPI library: pip install 'chainrule[mpi]'"
        ) from exc
    return MPI


def comm_world():
    """``MPI.COMM_WORLD``: every process started by ``mpiexec``."""
    return _mpi().COMM_WORLD


def rank_and_size(comm) -> tuple[int, int]:
    """``(rank, size)`` of ``comm``; ``(0, 1)`` for ``None`` (one process)."""
    if comm is None:
        return 0, 1
    return comm.Get_rank(), comm.Get_size()


def local_rows(k: int, rank: int, size: int) -> tuple[int, int]:
    """The rows ``[lo, hi)`` of a global batch of ``k`` rows that ``rank`` of ``size`` takes.

    ``lo = rank * k // size``: the ranks' shares differ by at most one row, cover the batch
    in order, and may be empty when ``k < size``.
    """
    return rank * k // size, (rank + 1) * k // size


def broadcast_parameters(net, comm, root: int = 0) -> None:
    """Overwrite every rank's parameters with ``root``'s, in place (one message)."""
    vector = getattr(net, "parameter_vector", None)
    for array in [vector] if vector is not None else net.parameters():
        comm.Bcast(array, root=root)


def allreduce_sum(arrays: Sequence[np.ndarray], comm) -> None:
    """Replace each array by its sum over the ranks of ``comm``, in place."""
    mpi = _mpi()
    for array in arrays:
        comm.Allreduce(mpi.IN_PLACE, array, op=mpi.SUM)


def check_comm(comm) -> None:
    """A ValueError unless ``comm`` looks like an mpi4py intracommunicator."""
    missing = [
        name
        for name in ("Get_rank", "Get_size", "Allreduce", "Bcast", "bcast", "allgather")
        if not hasattr(comm, name)
    ]
    if missing:
        raise ValueError(
            f"comm must be an mpi4py communicator such as MPI.COMM_WORLD, got "
            f"{type(comm).__name__} (no {', '.join(missing)})"
        )


# -- the cost model ----------------------------------------------------------------------------


def allreduce_bytes(n_params: int, n_nodes: int | None = None, itemsize: int = 4) -> float:
    """Bytes each node sends (and receives) in one ring allreduce of ``n_params`` values.

    The ring reduce-scatter and all-gather each move ``(P - 1) / P`` of the vector through every
    node: ``2 (P - 1) / P * itemsize * n_params`` bytes, which tends to ``2 * 4 * n_params`` for
    float32 as P grows (the default, ``n_nodes=None``, gives that limit). 0 for one node.
    """
    if n_nodes is None:
        return 2.0 * itemsize * n_params
    if n_nodes < 1:
        raise ValueError(f"n_nodes must be >= 1, got n_nodes={n_nodes}")
    return 2.0 * (n_nodes - 1) / n_nodes * itemsize * n_params


def n_parameters(sizes: Sequence[int]) -> int:
    """Weights and biases of a dense network of widths ``sizes``."""
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def step_flops(sizes: Sequence[int], batch: int) -> float:
    """Floating-point operations of the matrix products of one training step.

    ``2 m k n`` per product: per layer the forward ``x @ W`` and the weight gradient
    ``x^T @ delta``, and the input gradient ``delta @ W^T`` for every layer but the first.
    (Activations, biases and the update are a few operations per entry: left out.)
    """
    matmuls = [a * b for a, b in zip(sizes, sizes[1:])]
    return 2.0 * batch * (2 * sum(matmuls) + sum(matmuls[1:]))


@dataclass(frozen=True)
class ScalingRow:
    """One network on ``nodes`` nodes: the modelled time of a step and the speedup."""

    sizes: tuple[int, ...]
    nodes: int
    link_gbit: float
    compute_s: float
    comm_s: float

    @property
    def step_s(self) -> float:
        return self.compute_s + self.comm_s

    @property
    def compute_bound(self) -> bool:
        return self.compute_s >= self.comm_s


def scaling_table(
    networks: Sequence[Sequence[int]] = README_NETWORKS,
    nodes: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
    batch: int = 256,
    flops_per_node: float = 150e9,
    link_gbit: Sequence[float] = (10, 25, 100),
    latency_s: float = 5e-6,
    itemsize: int = 4,
    weak: bool = False,
) -> list[ScalingRow]:
    """The modelled step time of each network on each node count and link.

    A global batch of ``batch`` examples is split evenly over P nodes (strong scaling; with
    ``weak=True`` every node takes ``batch`` examples, a global batch of ``P * batch``), each
    computing at
    ``flops_per_node``; the gradient of ``n`` parameters is then summed with a ring allreduce
    of ``2 (P - 1)`` messages of ``itemsize * n / P`` bytes, each costing
    ``latency_s + bytes / bandwidth``; no overlap of compute and communication::

        compute_s = step_flops(sizes, batch) / P / flops_per_node   (weak: no / P)
        comm_s = 2 (P - 1) * (latency_s + itemsize * n / P / (link_gbit * 1e9 / 8))
    """
    rows = []
    for sizes in networks:
        n = n_parameters(sizes)
        for gbit in link_gbit:
            bandwidth = gbit * 1e9 / 8
            for p in nodes:
                local = batch if weak else batch / p
                compute = step_flops(sizes, local) / flops_per_node
                comm = 2 * (p - 1) * (latency_s + itemsize * n / p / bandwidth)
                rows.append(ScalingRow(tuple(sizes), p, gbit, compute, comm))
    return rows


def scaling_markdown(**kwargs) -> str:
    """The tables of docs/scaling.md, from :func:`scaling_table` (same keyword arguments).

    One table per link speed: a row per network with its parameters, the bytes each node
    moves per step (P large), and the speedup in examples per second over one node for each
    node count (``step_s(1) / step_s(P)``, times P for ``weak=True``); ``*`` marks a
    communication-bound step (the allreduce takes longer than the compute).
    """
    rows = scaling_table(**kwargs)
    weak = kwargs.get("weak", False)
    nodes = sorted({row.nodes for row in rows})
    links = sorted({row.link_gbit for row in rows})
    networks = list(dict.fromkeys(row.sizes for row in rows))
    table = {(row.sizes, row.link_gbit, row.nodes): row for row in rows}
    out = []
    for gbit in links:
        out.append(f"**{gbit:g} Gbit/s**, speedup over one node (`*`: communication-bound)\n")
        out.append(
            "| network | parameters | MB per step | "
            + " | ".join(f"{p} node{'s' if p > 1 else ''}" for p in nodes)
            + " |"
        )
        out.append("|---|---:|---:|" + "---:|" * len(nodes))
        for sizes in networks:
            n = n_parameters(sizes)
            one = table[(sizes, gbit, 1)].step_s
            cells = []
            for p in nodes:
                row = table[(sizes, gbit, p)]
                mark = "" if row.compute_bound else "*"
                cells.append(f"{(p if weak else 1) * one / row.step_s:.1f}{mark}")
            out.append(
                f"| {'-'.join(map(str, sizes))} | {n:,} | {allreduce_bytes(n) / 1e6:.2f} | "
                + " | ".join(cells)
                + " |"
            )
        out.append("")
    return "\n".join(out)


def compute_bound_batch(
    nodes: int, flops_per_node: float = 150e9, link_gbit: float = 10, itemsize: int = 4
) -> float:
    """The global batch above which the bandwidth term of a step is smaller than its compute.

    For a dense network ``step_flops`` is about ``6 * batch * n`` and the allreduce moves
    ``2 (P - 1) / P * itemsize * n`` bytes, so ``n`` cancels::

        6 batch n / (P F) >= 2 (P - 1) itemsize n / (P bw)
        <=>  batch >= (P - 1) * itemsize * F / (3 bw)

    (the latency term, ``2 (P - 1) latency``, comes on top; it matters for small networks).
    """
    bandwidth = link_gbit * 1e9 / 8
    return (nodes - 1) * itemsize * flops_per_node / (3 * bandwidth)
