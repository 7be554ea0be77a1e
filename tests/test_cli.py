"""The chainrule command, run as a user runs it: in a subprocess, on small data.

Each command's happy path, its error paths (one line on stderr, non-zero exit, no traceback),
and the train -> evaluate --json -> predict round trip on real MNIST test images.
"""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

MNIST = Path(__file__).resolve().parents[1] / "src/chainrule/datasets/mnist"


def run(*args, cwd=None, check=True, env=None):
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run(
        [sys.executable, "-m", "chainrule", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def assert_one_line_error(proc, *fragments):
    assert proc.returncode != 0
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    """Three well-separated Gaussian blobs in 5 dimensions, as .npz and .csv."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4, size=(3, 5))
    y = np.repeat(np.arange(3), 100)
    x = (centres[y] + rng.normal(size=(300, 5))).astype(np.float32)
    folder = tmp_path_factory.mktemp("blobs")
    np.savez(folder / "blobs.npz", x=x, y=y)
    with open(folder / "blobs.csv", "w") as fh:
        fh.write("label," + ",".join(f"f{i}" for i in range(5)) + "\n")
        for label, row in zip(y, x):
            fh.write(f"{label}," + ",".join(f"{v:.5f}" for v in row) + "\n")
    return folder


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    """A small MNIST model trained through the command line (a few seconds)."""
    out = tmp_path_factory.mktemp("run")
    proc = run(
        "train",
        "--layers",
        "784,64,10",
        "--epochs",
        "2",
        "--subset",
        "6000",
        "--batch-size",
        "64",
        "--optimizer",
        "adam",
        "--lr",
        "0.003",
        "--schedule",
        "constant",
        "--output",
        out,
        "--quiet",
        env={"CHAINRULE_CACHE": str(out / "cache")},
    )
    return out, proc


def test_help_on_every_command():
    top = run("--help")
    commands = ["train", "evaluate", "predict", "info", "plot", "export", "download", "explain"]
    for command in commands:
        assert command in top.stdout
        proc = run(command, "--help")
        assert proc.stdout.startswith(f"usage: chainrule {command}")


def test_train_on_npz_reports_accuracy_and_writes_the_run(blobs, tmp_path):
    proc = run(
        "train",
        "--dataset",
        blobs / "blobs.npz",
        "--layers",
        "5,16,3",
        "--epochs",
        "5",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--schedule",
        "constant",
        "--batch-size",
        "16",
        "--output",
        tmp_path / "run",
    )
    accuracy = float(proc.stdout.split("test accuracy:")[1].split()[0])
    assert accuracy > 0.9
    run_dir = tmp_path / "run"
    for name in ("model.npz", "metrics.jsonl", "config.json", "test_metrics.json"):
        assert (run_dir / name).is_file(), name
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4, 5]
    assert list((run_dir / "checkpoints").iterdir())
    # progress and logs on stderr, results on stdout
    assert "epoch" in proc.stderr and "loss" in proc.stderr
    assert "epoch" not in proc.stdout.split("test accuracy")[0]


def test_toml_config_and_flags_agree(blobs, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text(
        f'dataset = "{blobs / "blobs.csv"}"\nlayers = [5, 8, 3]\nepochs = 2\n'
        'optimizer = "sgd"\nlr = 0.1\nschedule = "constant"\nbatch_size = 32\nseed = 3\n'
    )
    by_file = run("train", "--config", config, "--output", tmp_path / "a", "--quiet")
    by_flags = run(
        "train",
        "--dataset",
        blobs / "blobs.csv",
        "--layers",
        "5,8,3",
        "--epochs",
        "2",
        "--optimizer",
        "sgd",
        "--lr",
        "0.1",
        "--schedule",
        "constant",
        "--batch-size",
        "32",
        "--seed",
        "3",
        "--output",
        tmp_path / "b",
        "--quiet",
    )
    a = np.load(tmp_path / "a/model.npz")
    b = np.load(tmp_path / "b/model.npz")
    assert sorted(a.files) == sorted(b.files)
    for key in a.files:
        if key != "__metadata__":  # the metadata holds the (timing-dependent) training time
            np.testing.assert_array_equal(a[key], b[key])
    assert by_file.stdout.split("training time")[0] == by_flags.stdout.split("training time")[0]
    # a flag overrides the file
    run("train", "--config", config, "--epochs", "1", "--output", tmp_path / "c", "--quiet")
    assert len((tmp_path / "c/metrics.jsonl").read_text().splitlines()) == 1


def test_mnist_round_trip_train_evaluate_predict(mnist_run, tmp_path):
    out, proc = mnist_run
    trained = float(proc.stdout.split("test accuracy:")[1].split()[0])
    assert trained > 0.85
    evaluation = json.loads(run("evaluate", out / "model.npz", "--json").stdout)
    assert evaluation["accuracy"] == pytest.approx(trained, abs=1e-4)
    assert len(evaluation["confusion_matrix"]) == 10
    assert np.sum(evaluation["confusion_matrix"]) == 10000

    from PIL import Image

    raw = gzip.open(MNIST / "t10k-images-idx3-ubyte.gz").read()
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
    labels = np.frombuffer(
        gzip.open(MNIST / "t10k-labels-idx1-ubyte.gz").read(), np.uint8, offset=8
    )
    paths = []
    for i in range(5):
        # saved as a user would scan it: dark ink on white paper, larger than 28x28
        big = Image.fromarray(255 - images[i]).resize((112, 112), Image.Resampling.BILINEAR)
        path = tmp_path / f"digit{i}.png"
        big.save(path)
        paths.append(path)
    result = json.loads(run("predict", out / "model.npz", *paths, "--json").stdout)
    predicted = [r["prediction"] for r in result]
    assert sum(p == int(t) for p, t in zip(predicted, labels[:5])) >= 4
    for r in result:
        probs = [t["probability"] for t in r["top"]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001

    npy = tmp_path / "digits.npy"
    np.save(npy, images[:3])
    text = run("predict", out / "model.npz", npy).stdout
    assert text.count("top:") == 3


def test_info_shows_layers_and_training_config(mnist_run):
    out, _ = mnist_run
    text = run("info", out / "model.npz").stdout
    assert "784x64" in text and "64x10" in text and "50,890" in text
    assert "training config" in text and "final metrics" in text


def test_plot_writes_png_files(mnist_run):
    out, _ = mnist_run
    proc = run("plot", out)
    for name in ("curves.png", "confusion.png", "weights.png"):
        data = (out / "plots" / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), name
        assert name in proc.stdout


def test_export_onnx_runs_in_onnxruntime(mnist_run, tmp_path):
    import onnxruntime

    import chainrule

    out, _ = mnist_run
    target = tmp_path / "model.onnx"
    run("export", out / "model.npz", "--format", "onnx", "-o", target)
    net = chainrule.load(out / "model.npz")
    raw = gzip.open(MNIST / "t10k-images-idx3-ubyte.gz").read()
    x = (np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 784)[:200] / 255).astype(np.float32)
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {"input": x})[0]
    np.testing.assert_allclose(onnx_out, net.forward(x), rtol=1e-4, atol=1e-6)
    assert (onnx_out.argmax(1) == net.predict(x)).all()


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["evaluate", "missing.npz"], ["model file not found: missing.npz"]),
        (["predict", "missing.npz", "x.png"], ["model file not found"]),
        (["train", "--dataset", "imagenet", "--epochs", "1"], ["imagenet"]),
        (["train", "--epochs", "0"], ["--epochs", "positive integer"]),
        (["train", "--lr", "abc"], ["--lr"]),
        (["train", "--layers", "784"], ["--layers"]),
        (["train", "--dataset", "nothere.csv"], ["dataset file not found: nothere.csv"]),
        (["plot", "no-such-run"], ["run directory not found"]),
        (["train", "--optimizer", "adamm"], ["unknown optimizer 'adamm'"]),
        (["train", "--schedule", "cosin"], ["unknown schedule 'cosin'"]),
        (["train", "--loss", "xent"], ["unknown loss 'xent'"]),
        (["train", "--early-stopping", "2"], ["--early-stopping needs a validation set"]),
    ],
)
def test_user_mistakes_are_one_line(args, fragments, tmp_path):
    assert_one_line_error(run(*args, check=False, cwd=tmp_path), *fragments)
    assert not (tmp_path / "runs").exists()  # a mistake leaves no run directory behind


def test_corrupt_model_and_wrong_input_size(mnist_run, blobs, tmp_path):
    out, _ = mnist_run
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes((out / "model.npz").read_bytes()[:500])
    assert_one_line_error(run("evaluate", corrupt, check=False), "corrupt.npz")
    proc = run("evaluate", out / "model.npz", "--dataset", blobs / "blobs.npz", check=False)
    assert_one_line_error(proc, "takes 784 inputs", "5 features")
    proc = run("train", "--dataset", blobs / "blobs.npz", "--epochs", "1", check=False)
    assert_one_line_error(proc, "784 inputs", "5 features")
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("epochs = [oops")
    assert_one_line_error(run("train", "--config", bad_toml, check=False), "not valid TOML")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("epoch = 3\n")
    assert_one_line_error(run("train", "--config", unknown, check=False), "unknown key(s) epoch")


def test_debug_shows_the_traceback():
    proc = run("--debug", "evaluate", "missing.npz", check=False)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_distributed_train_under_mpiexec(blobs, tmp_path):
    """mpiexec -n 2 chainrule train --distributed: one run directory, one report (rank 0)."""
    import shutil

    mpiexec = shutil.which("mpiexec")
    if mpiexec is None and not os.environ.get("CI"):
        pytest.skip("mpiexec not installed (pip install 'chainrule[mpi]')")
    assert mpiexec is not None, "CI must have mpiexec (chainrule[mpi] is part of [test])"
    proc = subprocess.run(
        [
            mpiexec,
            "-n",
            "2",
            sys.executable,
            "-m",
            "chainrule",
            "train",
            "--distributed",
            "--dataset",
            blobs / "blobs.npz",
            "--layers",
            "5,16,3",
            "--epochs",
            "3",
            "--optimizer",
            "adam",
            "--lr",
            "0.01",
            "--schedule",
            "constant",
            "--batch-size",
            "16",
            "--output",
            tmp_path / "run",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("test accuracy:") == 1
    assert float(proc.stdout.split("test accuracy:")[1].split()[0]) > 0.9
    assert len((tmp_path / "run/metrics.jsonl").read_text().splitlines()) == 3


def test_explain_and_trace_commands(mnist_run, tmp_path):
    out, _ = mnist_run
    text = run("explain", "--sizes", "6,3,2", "--seed", "1").stdout
    assert "dE/dw_1" in text and "finite differences" in text and "\033[" not in text
    markdown = run("explain", "--sizes", "6,3,2", "--format", "markdown").stdout
    assert markdown.lstrip().startswith("#")
    trace = run("trace", "--sizes", "784,100,10").stdout
    assert "(64, 784)" in trace and "(784, 100)" in trace
    model = run("explain", "--model", out / "model.npz", "--index", "3").stdout
    assert "test image 3" in model and "784-64-10" in model
    batch = run("explain", "--sizes", "4,3,2", "--batch", "5").stdout
    assert "averag" in batch
    assert_one_line_error(
        run("explain", "--model", out / "model.npz", "--index", "-1", check=False), "--index"
    )


def test_train_on_gpu_without_cupy_is_one_line(blobs, tmp_path):
    """--device gpu where CuPy cannot be imported (a stand-in cupy package that raises)."""
    fake = tmp_path / "fake"
    (fake / "cupy").mkdir(parents=True)
    (fake / "cupy" / "__init__.py").write_text("raise ImportError('no CuPy here')\n")
    proc = run(
        "train",
        "--dataset",
        blobs / "blobs.npz",
        "--layers",
        "5,4,3",
        "--epochs",
        "1",
        "--device",
        "gpu",
        "--output",
        tmp_path / "run",
        check=False,
        env={"PYTHONPATH": os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")])},
    )
    assert_one_line_error(proc, "device='gpu' needs CuPy", "pip install 'chainrule[gpu]'")
    assert proc.returncode == 2
