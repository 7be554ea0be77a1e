"""Data-parallel training: ``mpiexec -n 2`` matches one process to float32 rounding, only rank 0
writes checkpoints, resume works on every rank; the cost model behind docs/scaling.md.

The MPI tests skip when mpi4py or mpiexec is missing, except in CI (the ``CI`` environment
variable set), where they fail: ``pip install -e '.[mpi]'`` provides both.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule import Network, distributed, fit
from chainrule.distributed import (
    README_NETWORKS,
    allreduce_bytes,
    compute_bound_batch,
    local_rows,
    n_parameters,
    scaling_markdown,
    scaling_table,
    step_flops,
)
from chainrule.layers import Dropout
from chainrule.optimizers import SGD, Adam

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve().parent / "mpi_train_script.py"
N_RANKS = 2


def _mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def _need_mpi(command: bool = False) -> None:
    """Skip without mpi4py (and mpiexec, if ``command``), unless in CI: there, fail."""
    missing = []
    if importlib.util.find_spec("mpi4py") is None:
        missing.append("mpi4py")
    if command and _mpiexec() is None:
        missing.append("mpiexec")
    if not missing:
        return
    message = f"{' and '.join(missing)} not found: pip install -e '.[mpi]'"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (required in CI)")
    pytest.skip(message)


# -- splitting a batch -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("k", [0, 1, 2, 5, 50, 51])
def test_local_rows_partition_the_batch_in_order(k, size):
    shares = [local_rows(k, r, size) for r in range(size)]
    assert shares[0][0] == 0 and shares[-1][1] == k
    assert all(a[1] == b[0] for a, b in zip(shares, shares[1:]))
    counts = [hi - lo for lo, hi in shares]
    assert max(counts) - min(counts) <= 1 and min(counts) >= 0


def test_fit_rejects_a_communicator_that_is_not_one():
    x, y = np.zeros((4, 2), np.float32), np.array([0, 1, 0, 1])
    net = Network.from_sizes([2, 3, 2])
    with pytest.raises(ValueError, match="mpi4py communicator.*got object"):
        fit(net, x, y, comm=object())


@pytest.mark.parametrize("splits", [[(0, 4), (4, 7)], [(0, 0), (0, 7)], [(0, 3), (3, 5), (5, 7)]])
def test_shared_dropout_draws_the_masks_of_one_process(splits):
    """Each rank draws the whole global batch's numbers from the same generator state and
    keeps its rows: together, the masks one process draws for the batch (also for a rank
    with no rows, which still draws)."""
    whole = Dropout(0.5, 8, rng=3)
    ones = np.ones((7, 8), np.float32)
    expected = whole.forward(ones, training=True).copy()
    for first, end in splits:
        part = Dropout(0.5, 8, rng=3)
        part.share = (7, first)
        if end > first:
            got = part.forward(ones[first:end], training=True)
            np.testing.assert_array_equal(got, expected[first:end])
        else:
            part.rng.random((7, 8), dtype=np.float32)  # what fit does for a rank with no rows
        assert part.rng.bit_generator.state == whole.rng.bit_generator.state


# -- the MPI runs ------------------------------------------------------------------------------


def _blobs(n=203, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    return x, (x[:, :3].sum(axis=1) > 0).astype(int) + (x[:, 3] > 1)


@pytest.mark.parametrize("optimizer", [lambda: SGD(0.1, momentum=0.9), lambda: Adam(0.01)])
def test_one_rank_communicator_is_bit_identical_to_no_communicator(optimizer):
    _need_mpi()
    from mpi4py import MPI

    from chainrule.training import Callback

    class BatchLosses(Callback):  # what a progress bar shows, the last, smaller batch included
        def __init__(self):
            self.losses = []

        def on_batch_end(self, epoch, batch_index, n_batches, loss):
            self.losses.append(loss)

    x, y = _blobs()
    kwargs = dict(epochs=3, batch_size=21, validation_split=0.2, seed=3)
    plain, distributed_net = (Network.from_sizes([6, 10, 3], seed=5) for _ in range(2))
    seen = BatchLosses(), BatchLosses()
    h1 = fit(plain, x, y, optimizer=optimizer(), callbacks=[seen[0]], **kwargs)
    h2 = fit(distributed_net, x, y, optimizer=optimizer(), comm=MPI.COMM_SELF,
             callbacks=[seen[1]], **kwargs)  # fmt: skip
    assert np.array_equal(plain.parameter_vector, distributed_net.parameter_vector)
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-12)
    assert h1["val_loss"] == h2["val_loss"] and h1["accuracy"] == h2["accuracy"]
    assert (len(x) - int(len(x) * 0.2)) % 21  # a smaller last batch in every epoch
    np.testing.assert_allclose(seen[0].losses, seen[1].losses, rtol=1e-6)


@pytest.fixture(scope="module")
def mpi_run(tmp_path_factory):
    """The results of ``mpiexec -n 2 python tests/mpi_train_script.py OUT``."""
    _need_mpi(command=True)
    out = tmp_path_factory.mktemp("mpi")
    env = dict(os.environ)
    src = str(Path(chainrule.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    command = [_mpiexec(), "-n", str(N_RANKS), sys.executable, str(SCRIPT), str(out)]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    assert (out / "done.json").exists()
    return out


def _script():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import mpi_train_script
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return mpi_train_script


@pytest.mark.parametrize("name", ["sgd", "adam", "adam_uint8", "sgd_dropout"])
def test_two_ranks_match_one_process_to_float32_rounding(mpi_run, name):
    script = _script()
    saved = np.load(mpi_run / f"{name}.npz")
    net, history = script.train(name, comm=None)  # one process, same global batch and seed
    steps = script.EPOCHS * -(-script.N_TRAIN // script.BATCH)
    diff = float(np.abs(saved["weights"] - net.parameter_vector).max())
    scale = float(np.abs(net.parameter_vector).max())
    print(f"{name}: {N_RANKS} ranks vs 1 process after {steps} steps: max |dw| = {diff:.3g}")
    assert diff <= 1e-5 * scale, f"max weight difference {diff:.3g} (max |w| = {scale:.3g})"
    assert float(saved["rank_spread"]) == 0.0  # the ranks hold the same weights
    assert bool(saved["same_history"])  # and report the same metrics
    np.testing.assert_allclose(saved["loss"], history["loss"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(saved["val_loss"], history["val_loss"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(saved["accuracy"], history["accuracy"], atol=2 / script.N_TRAIN)


def test_only_rank_zero_writes_checkpoints(mpi_run):
    script = _script()
    for name in script.RUNS:
        written = sorted(p.name for p in (mpi_run / f"ckpt-{name}-0").iterdir())
        assert written == [f"epoch-{e:04d}.npz" for e in range(1, script.EPOCHS + 1)]
        for rank in range(1, N_RANKS):
            assert not (mpi_run / f"ckpt-{name}-{rank}").exists()
    assert sorted(p.name for p in mpi_run.iterdir() if p.is_file()) == [
        "adam.npz",
        "adam_uint8.npz",
        "done.json",
        "sgd-resumed.npy",
        "sgd.npz",
        "sgd_dropout-resumed.npy",
        "sgd_dropout.npz",
    ]


def test_ranks_given_different_data_or_settings_all_refuse(mpi_run):
    """Rank 1 alone with another batch size, other labels, a label its own checks refuse, or
    an optimizer that does not exist: every rank raises a ValueError before the first step
    (none is left waiting)."""
    refusals = json.loads((mpi_run / "done.json").read_text())["refusals"]
    assert len(refusals) == N_RANKS
    for rank, seen in enumerate(refusals):
        assert "batch_size by rank: [50, 51]" in seen["batch_size"]
        assert "data (checksums of the targets" in seen["labels"]
        if rank == 1:
            assert "class labels must be in [0, 3]" in seen["bad_label"]
        else:
            assert "rank 1 could not start training: ValueError: class labels" in seen["bad_label"]
        if rank == 1:
            assert "unknown optimizer" in seen["optimizer"]
        else:  # rank 1 failed before the ranks first talk: rank 0 hears of it, not a hang
            assert (
                "rank 1 could not start training: ValueError: unknown optimizer"
                in (seen["optimizer"])
            )


@pytest.mark.parametrize("name", ["sgd", "sgd_dropout"])
def test_resume_on_every_rank_from_a_checkpoint_is_exact(mpi_run, name):
    resumed = np.load(mpi_run / f"{name}-resumed.npy")
    assert np.array_equal(resumed, np.load(mpi_run / f"{name}.npz")["weights"])


# -- sample weights under MPI ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["batch", "dataset", "batch_unshuffled"])
def test_two_ranks_train_weighted_as_one_process(mpi_run, name):
    """float64, a batch of 25 split 13 + 12, a last batch of one row that rank 0 sits out,
    zero weights: the weights and every metric of one-process weighted training, to 1e-10."""
    script = _script()
    saved = np.load(mpi_run / "weighted" / f"{name}.npz")
    net, history = script.train_weighted(name, comm=None)
    assert net.dtype == np.float64 and script.WEIGHTED_BATCH % N_RANKS
    n_train = script.N_TRAIN - (int(script.N_TRAIN * 0.2) if name == "dataset" else 0)
    assert n_train % script.WEIGHTED_BATCH == 1  # the last batch: one row, on rank 1 only
    np.testing.assert_allclose(saved["weights"], net.parameter_vector, rtol=1e-10, atol=1e-12)
    assert float(saved["rank_spread"]) == 0.0 and bool(saved["same_history"])
    for key in script.METRICS:
        assert None not in history[key]
        np.testing.assert_allclose(saved[key], history[key], rtol=1e-10, err_msg=key)
    # weighted accuracies, not counts of right rows over n_train
    assert any(abs(a * n_train - round(a * n_train)) > 1e-6 for a in saved["accuracy"])


def test_resume_of_a_weighted_run_on_every_rank_is_exact(mpi_run):
    """Two ranks resume their weighted checkpoint bit for bit; one process resumes it too, to
    float rounding, and refuses to without the weights."""
    script = _script()
    final = np.load(mpi_run / "weighted" / "batch.npz")["weights"]
    assert np.array_equal(np.load(mpi_run / "weighted" / "batch-resumed.npy"), final)
    written = sorted(p.name for p in (mpi_run / "weighted" / "ckpt-batch-0").iterdir())
    assert len(written) == script.WEIGHTED_EPOCHS
    assert not (mpi_run / "weighted" / "ckpt-batch-1").exists()
    middle = mpi_run / "weighted" / "ckpt-batch-0" / written[len(written) // 2 - 1]
    net, _ = script.train_weighted("batch", comm=None, resume=middle)
    np.testing.assert_allclose(net.parameter_vector, final, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="written while training with sample_weight"):
        script.train_weighted("batch", comm=None, resume=middle, weights=False)


def test_weighted_misuse_is_refused_on_every_rank(mpi_run):
    """A weighted checkpoint resumed without its weights or with another normalization, and
    rank 1 alone with weights of the wrong length, other weights, none, or another
    weight_normalization: every rank raises (the script got past them: none hung)."""
    refusals = json.loads((mpi_run / "weighted" / "done.json").read_text())["refusals"]
    assert len(refusals) == N_RANKS
    for rank, seen in enumerate(refusals):
        assert "was written while training with sample_weight" in seen["resume_unweighted"]
        assert "weight_normalization='batch'; resume it with the same" in seen["resume_dataset"]
        shape = "sample_weight must have shape (501,), one weight per example, got shape (500,)"
        if rank == 1:
            assert seen["weight_length"] == shape
        else:
            assert f"rank 1 could not start training: ValueError: {shape}" in seen["weight_length"]
        for case in ("weight_values", "no_weights"):  # the weights named, the data the same
            assert "sample_weight (a checksum of the weights; None: not given)" in seen[case]
        assert ", None]" in seen["no_weights"]
        assert "weight_normalization by rank: ['batch', 'dataset']" in seen["normalization"]


def test_one_rank_communicator_trains_weighted_bit_identically():
    """In process (COMM_SELF): the weighted distributed loop is the one-process one."""
    _need_mpi()
    from mpi4py import MPI

    x, y = _blobs()
    w = np.random.default_rng(4).exponential(size=len(x))
    w[::3] = 0
    for normalization in ("batch", "dataset"):
        nets = [Network.from_sizes([6, 10, 3], seed=5, dtype=np.float64) for _ in range(2)]
        kwargs = dict(epochs=2, batch_size=21, validation_split=0.2, seed=3, sample_weight=w)
        kwargs["weight_normalization"] = normalization
        h1 = fit(nets[0], x, y, optimizer=SGD(0.1, momentum=0.9), **kwargs)
        h2 = fit(nets[1], x, y, optimizer=SGD(0.1, momentum=0.9), comm=MPI.COMM_SELF, **kwargs)
        assert np.array_equal(nets[0].parameter_vector, nets[1].parameter_vector)
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            np.testing.assert_allclose(h1[key], h2[key], rtol=1e-12, err_msg=key)
        # weighted accuracies: not a multiple of 1 / rows
        assert any(round(a * 162) != a * 162 for a in h1["accuracy"])


# -- the cost model ----------------------------------------------------------------------------


def test_allreduce_bytes_of_a_ring():
    n = 79_510  # 784-100-10
    assert allreduce_bytes(n, 1) == 0
    assert allreduce_bytes(n, 2) == 4 * n  # half the vector out in each phase
    assert allreduce_bytes(n, 64) == pytest.approx(2 * 63 / 64 * 4 * n)
    assert allreduce_bytes(n) == 2 * n * 4  # the large-P limit: 2 x parameters x 4 bytes
    with pytest.raises(ValueError, match="n_nodes=0"):
        allreduce_bytes(n, 0)


def test_step_flops_by_hand():
    # 784-100-10, batch 1: forward 2(78400 + 1000), weight gradients the same, input
    # gradient of the second layer only: 2 * 1000
    assert n_parameters([784, 100, 10]) == 79_510
    assert step_flops([784, 100, 10], 1) == 2 * (2 * 79_400 + 1_000)
    assert step_flops([784, 100, 10], 256) == 256 * step_flops([784, 100, 10], 1)


def test_scaling_table_rows_follow_the_model():
    rows = scaling_table(networks=[(784, 800, 10)], nodes=(1, 4), link_gbit=(10,), batch=256)
    one, four = rows
    assert one.comm_s == 0 and one.compute_s == step_flops([784, 800, 10], 256) / 150e9
    n = n_parameters([784, 800, 10])
    assert four.compute_s == pytest.approx(one.compute_s / 4)
    assert four.comm_s == pytest.approx(6 * (5e-6 + 4 * n / 4 / 1.25e9))
    # the bandwidth term equals the compute of a batch of compute_bound_batch(P) (about)
    b = compute_bound_batch(4)
    assert b == pytest.approx(3 * 4 * 150e9 / (3 * 1.25e9))
    big = scaling_table(networks=[(784, 800, 800, 10)], nodes=(4,), link_gbit=(10,), batch=2 * b)
    assert big[0].compute_bound


def test_docs_scaling_table_is_the_models():
    """docs/scaling.md shows what scaling_markdown() gives today (regenerate it when the model
    changes: ``scaling_markdown()`` and ``scaling_markdown(weak=True)``)."""
    doc = (ROOT / "docs" / "scaling.md").read_text()
    assert scaling_markdown() in doc  # strong scaling, a global batch of 256
    assert scaling_markdown(weak=True) in doc  # 256 examples per node
    assert all("-".join(map(str, sizes)) in doc for sizes in README_NETWORKS)


def test_public_names():
    assert set(distributed.__all__) <= set(dir(distributed))


def test_a_divergence_under_mpiexec_is_reported_once(tmp_path):
    """Every rank finds the divergence at once: one error line (rank 0's), no MPI abort."""
    _need_mpi(command=True)
    env = dict(os.environ)
    src = str(Path(chainrule.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    flags = ["--layers", "784,16,10", "--subset", "1000", "--epochs", "1", "--lr", "1e30"]
    command = [_mpiexec(), "-n", "2", sys.executable, "-m", "chainrule", "train"]
    command += ["--distributed", *flags, "--optimizer", "sgd", "-q", "-o", str(tmp_path / "run")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert done.returncode == 1, done.stderr
    assert len(errors) == 1 and "training diverged" in errors[0], done.stderr
    assert "Abort" not in done.stderr
