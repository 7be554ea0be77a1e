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


def run(*args, cwd=None, check=True, env=None, timeout=300):
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run(
        [sys.executable, "-m", "chainrule", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=timeout,
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
    proc = run("predict", out / "model.npz", npy)
    assert proc.stdout.count("top:") == 3 and "note:" not in proc.stderr  # uint8: scaled
    from PIL import Image

    Image.new("L", (28, 28), 255).save(tmp_path / "blank.png")  # among good inputs: named
    proc = run("predict", out / "model.npz", paths[0], tmp_path / "blank.png", check=False)
    assert_one_line_error(proc, "blank.png: the image is blank", "leave it out to predict")
    np.save(npy, images[:3].astype(np.float32))  # 0-255 as floats: used as they are, said so
    proc = run("predict", out / "model.npz", npy)
    assert "digits.npy holds values up to 255, used as they are, but the model was trained on " \
        "pixels scaled to [0, 1]" in proc.stderr  # fmt: skip


def test_evaluate_on_other_images_notes_what_the_model_was_trained_on(mnist_run):
    out, _ = mnist_run  # (CI installs the real Fashion-MNIST files: .ci/run)
    proc = run("evaluate", out, "--dataset", "fashion-mnist")
    assert "note: the model was trained on mnist; fashion-mnist is other images" in proc.stderr
    assert "accuracy:" in proc.stdout
    assert "note:" not in run("evaluate", out, "--dataset", "mnist").stderr


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
    proc = run("export", out / "model.npz", "--format", "onnx", "-o", target)
    # trained on uint8 pixels scaled by 1/255: the graph takes them scaled, which it says
    assert "the ONNX graph takes them scaled: multiply pixels by 0.00392157 first" in proc.stderr
    import onnx

    props = {p.key: p.value for p in onnx.load(target).metadata_props}
    assert float(props["input_scale"]) == pytest.approx(1 / 255)
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
    proc = run("train", "--dataset", blobs / "blobs.npz", "--layers", "784,10,3", "--epochs",
               "1", check=False)  # fmt: skip
    assert_one_line_error(proc, "784 inputs", "5 features", "give e.g. --layers 5,10,3")
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("epochs = [oops")
    assert_one_line_error(run("train", "--config", bad_toml, check=False), "not valid TOML")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("epoch = 3\n")
    assert_one_line_error(run("train", "--config", unknown, check=False), "unknown key(s) epoch")


def test_debug_shows_the_traceback():
    proc = run("--debug", "evaluate", "missing.npz", check=False)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def _mpiexec() -> str:
    """The mpiexec command; a skip where it is missing, except in CI (there, a failure)."""
    import shutil

    mpiexec = shutil.which("mpiexec")
    if mpiexec is None and not os.environ.get("CI"):
        pytest.skip("mpiexec not installed (pip install 'chainrule[mpi]')")
    assert mpiexec is not None, "CI must have mpiexec (chainrule[mpi] is part of [test])"
    return mpiexec


def test_distributed_train_under_mpiexec(blobs, tmp_path):
    """mpiexec -n 2 chainrule train --distributed: one run directory, one report (rank 0)."""
    mpiexec = _mpiexec()
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
    # one rank with a mistake the others do not have: every rank ends, nothing is left behind
    command = [sys.executable, "-m", "chainrule", "train", "--distributed", "--dataset",
               str(blobs / "blobs.npz"), "--layers", "5,16,3", "--epochs", "1", "-q", "-o",
               str(tmp_path / "bad")]  # fmt: skip
    for mistake in (["--bogus"], ["--lr", "0.5"]):  # a bad flag; another setting than rank 0's
        proc = subprocess.run([mpiexec, "-n", "1", *command, ":", "-n", "1", *command, *mistake],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode != 0 and "chainrule: error:" in proc.stderr
        assert not (tmp_path / "bad").exists() or not any(
            p.name != ".lock" for p in (tmp_path / "bad").iterdir()
        )  # fmt: skip
    assert "every rank must call fit with the same data and settings" in proc.stderr
    proc = subprocess.run([mpiexec, "-n", "2", *command], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr  # the corrected command is not refused
    # again: rank 0 refuses to write over that run; said once, no rank aborts the others
    proc = subprocess.run([mpiexec, "-n", "2", *command], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode != 0 and "Abort" not in proc.stdout + proc.stderr, proc.stderr
    assert proc.stderr.count("chainrule: error:") == 1, proc.stderr
    assert "already holds a run" in proc.stderr
    # only rank 1 weighs the classes: every rank ends (none waits in fit for the other), rank 0
    # says why, once, and leaves nothing behind
    weighted = [*command[:-1], str(tmp_path / "weighted"), "--class-weight", "balanced"]
    mixed = [mpiexec, "-n", "1", *command[:-1], str(tmp_path / "mixed"), ":", "-n", "1", *weighted]
    proc = subprocess.run(mixed, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert proc.stderr.count("chainrule: error:") == 1, proc.stderr
    assert "every rank must call fit with the same data and settings; sample_weight (a " \
        "checksum of the weights; None: not given) by rank: [None, " in proc.stderr  # fmt: skip
    for name in ("mixed", "weighted"):
        assert not (tmp_path / name).exists() or not any(
            p.name != ".lock" for p in (tmp_path / name).iterdir()
        )  # fmt: skip


def test_distributed_train_refusals_before_training_are_said_once(blobs, tmp_path):
    """Under mpiexec the checks before training run on every rank and are agreed on: a
    mistake that every rank finds (--early-stopping without --val-split) is said once, by rank
    0, with no MPI_Abort; one that a single rank finds (a data file missing on its node) reaches
    every rank, is said once in that rank's words, and nothing hangs; neither run leaves a run
    directory."""
    mpiexec = _mpiexec()
    command = [sys.executable, "-m", "chainrule", "train", "--distributed", "--layers", "5,16,3",
               "--epochs", "1", "-q", "-o", str(tmp_path / "run"), "--dataset"]  # fmt: skip
    proc = subprocess.run([mpiexec, "-n", "2", *command, str(blobs / "blobs.npz"),
                           "--early-stopping", "3"], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    shown = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert shown.count("chainrule: error: --early-stopping needs a validation set") == 1, shown
    assert shown.count("chainrule: error:") == 1 and "abort" not in shown.lower(), shown
    assert not (tmp_path / "run").exists()
    missing = str(tmp_path / "elsewhere" / "blobs.npz")  # rank 1's node lacks the file
    proc = subprocess.run([mpiexec, "-n", "1", *command, str(blobs / "blobs.npz"), ":", "-n",
                           "1", *command, missing], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    shown = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert shown.count("chainrule: error:") == 1 and "abort" not in shown.lower(), shown
    assert f"rank 1 could not start training: dataset file not found: {missing}" in shown
    assert not (tmp_path / "run").exists()


def test_distributed_train_weighs_examples_as_one_process(weighted_csv, tmp_path):
    """mpiexec -n 2 chainrule train --distributed with --class-weight balanced, and with
    --weight-column: the model, the metrics and the balanced (or weighted) test accuracy of
    the one-process run (float64, to 1e-10), that accuracy and the weighting's note said
    once; the weighted run, resumed on two ranks from its first checkpoint, ends with the
    uninterrupted run's weights."""
    import chainrule

    mpiexec = _mpiexec()
    flags = ["--dataset", str(weighted_csv), "--dtype", "float64", "--val-split", "0.2",
             "--batch-size", "25", "--epochs", "3", "--schedule", "constant"]  # fmt: skip
    command = [sys.executable, "-m", "chainrule", "train", "--distributed", *flags]
    for name, weighting, line, key in (
        ("balanced", ["--class-weight", "balanced"], "balanced accuracy: ", "balanced_accuracy"),
        ("column", ["--weight-column", "w"], "weighted test accuracy: ", "weighted_accuracy"),
    ):
        one = run("train", *flags, *weighting, "-o", tmp_path / f"one-{name}")
        two = subprocess.run([mpiexec, "-n", "2", *command, *weighting, "-o",
                              str(tmp_path / name)], capture_output=True, text=True,
                             timeout=120)  # fmt: skip
        assert two.returncode == 0, two.stderr
        assert two.stdout.count(line) == 1 and two.stdout.count("model: ") == 1, two.stdout
        shown = [[t for t in p.stdout.splitlines() if t.startswith(line)] for p in (one, two)]
        assert shown[0] == shown[1], shown
        assert two.stderr.count(f"note: {' '.join(weighting)}: the loss") == 1, two.stderr
        nets = [
            chainrule.load(d / "model.npz") for d in (tmp_path / f"one-{name}", tmp_path / name)
        ]
        assert nets[1].dtype == np.float64
        np.testing.assert_allclose(nets[1].parameter_vector, nets[0].parameter_vector,
                                   rtol=1e-10, atol=1e-12)  # fmt: skip
        tested = [json.loads((d / "test_metrics.json").read_text())
                  for d in (tmp_path / f"one-{name}", tmp_path / name)]  # fmt: skip
        assert tested[1][key] == pytest.approx(tested[0][key], rel=1e-12)
        epochs = [[json.loads(t) for t in (d / "metrics.jsonl").read_text().splitlines()]
                  for d in (tmp_path / f"one-{name}", tmp_path / name)]  # fmt: skip
        assert len(epochs[1]) == 3
        for mine, theirs in zip(*epochs):  # weighted means, validation too
            for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
                assert theirs[metric] == pytest.approx(mine[metric], rel=1e-10), metric
    first = tmp_path / "column" / "checkpoints" / "epoch-0001.npz"
    proc = subprocess.run([mpiexec, "-n", "2", sys.executable, "-m", "chainrule", "train",
                           "--distributed", "--resume", str(first), "-q", "-o",
                           str(tmp_path / "resumed")], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("weighted test accuracy: ") == 1, proc.stdout
    resumed, whole = (chainrule.load(tmp_path / d / "model.npz") for d in ("resumed", "column"))
    assert np.array_equal(resumed.parameter_vector, whole.parameter_vector)


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


# -- the fixes of the command-line probe ------------------------------------------------------

BLOB_FLAGS = ["--layers", "5,16,3", "--optimizer", "adam", "--lr", "0.01", "--batch-size", "16"]


@pytest.fixture(scope="module")
def blob_model(blobs, tmp_path_factory):
    """A model of the blobs (features well outside [0, 1]) trained by the command line."""
    out = tmp_path_factory.mktemp("blob_run") / "run"
    run("train", "--dataset", blobs / "blobs.npz", *BLOB_FLAGS, "--epochs", "5", "-o", out, "-q")
    return out / "model.npz"


def predictions(model, *inputs):
    result = json.loads(run("predict", model, *inputs, "--json").stdout)
    assert isinstance(result, list)  # a list, even of one row
    return [r["prediction"] for r in result]


def test_predict_uses_tabular_npy_rows_as_they_are(blob_model, blobs, tmp_path):
    import chainrule

    data = np.load(blobs / "blobs.npz")
    x = data["x"][::15]  # 20 rows, 3 classes, values up to about 10
    assert x.max() > 1
    np.save(tmp_path / "rows.npy", x)
    np.save(tmp_path / "row.npy", x[4])
    expected = chainrule.load(blob_model).predict(x).tolist()
    assert predictions(blob_model, tmp_path / "rows.npy") == expected
    # a row's answer does not depend on the other rows of its file
    assert predictions(blob_model, tmp_path / "row.npy") == [expected[4]]
    assert "input_scale" not in chainrule.serialization.load_metadata(blob_model)


def test_predict_scales_uint8_pixels_as_training_did(mnist_run, tmp_path):
    import chainrule

    out, _ = mnist_run
    model = out / "model.npz"
    assert chainrule.serialization.load_metadata(model)["input_scale"] == pytest.approx(1 / 255)
    raw = gzip.open(MNIST / "t10k-images-idx3-ubyte.gz").read()
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)[:8]
    np.save(tmp_path / "pixels.npy", images)
    np.save(tmp_path / "floats.npy", images.astype(np.float32) / 255)
    expected = chainrule.load(model).predict(images.reshape(8, -1) / 255).tolist()
    assert predictions(model, tmp_path / "pixels.npy") == expected
    assert predictions(model, tmp_path / "floats.npy") == expected
    # the probabilities too (an unscaled input can keep its argmax), and --top k shows k
    proba = chainrule.load(model).predict_proba(images.reshape(8, -1) / 255)
    answer = json.loads(
        run("predict", model, tmp_path / "pixels.npy", "--json", "--top", "2").stdout
    )
    for row, p in zip(answer, proba):
        assert [t["class"] for t in row["top"]] == np.argsort(-p)[:2].tolist()
        shown = [t["probability"] for t in row["top"]]
        np.testing.assert_allclose(shown, np.sort(p)[::-1][:2], atol=2e-6)


def test_predict_refuses_empty_text_and_complex_arrays(blob_model, tmp_path):
    np.save(tmp_path / "empty.npy", np.zeros((0, 5), np.float32))
    np.save(tmp_path / "text.npy", np.array([["a"] * 5]))
    np.save(tmp_path / "complex.npy", np.ones((2, 5), complex))
    for name, problem in (("empty", "no rows"), ("text", "expected real numbers")):
        proc = run("predict", blob_model, tmp_path / f"{name}.npy", check=False)
        assert_one_line_error(proc, f"{name}.npy", problem)
    proc = run("predict", blob_model, tmp_path / "complex.npy", check=False)
    assert_one_line_error(proc, "complex.npy", "complex128")
    (tmp_path / "rows.tsv").write_text("1\t2\t3\t4\t5\n")  # not taken for a broken image
    proc = run("predict", blob_model, tmp_path / "rows.tsv", check=False)
    assert_one_line_error(
        proc, "rows.tsv: predict reads images", ".npy arrays and .csv files", "numpy.save"
    )


def test_train_refuses_a_directory_holding_a_run(blobs, tmp_path):
    out = tmp_path / "run"
    common = ["train", "--dataset", blobs / "blobs.npz", "-o", out, "-q"]
    run(*common, *BLOB_FLAGS, "--epochs", "3")
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    proc = run(*common, "--layers", "5,8,3", "--epochs", "2", check=False)
    assert_one_line_error(proc, f"{out} already holds a run", "--overwrite")
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    # --overwrite replaces the whole run: no stale checkpoints or epochs of the old one
    run(*common, "--layers", "5,8,3", "--epochs", "2", "--overwrite")
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "epoch-0001.npz",
        "epoch-0002.npz",
    ]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert json.loads((out / "config.json").read_text())["layers"] == [5, 8, 3]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    afile = tmp_path / "afile"
    afile.write_text("x")
    for target, fragment in ((afile, "is a file"), (afile / "run", f"is under {afile}")):
        proc = run("train", *common[1:3], *BLOB_FLAGS, "-o", target, check=False)
        assert_one_line_error(proc, fragment, "not a directory")


def start_training(cwd, *flags) -> subprocess.Popen:
    """``chainrule train FLAGS`` in the background, its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "chainrule", "train", *map(str, flags)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path, proc, seconds: float = 120) -> None:
    """Until ``path`` exists (or the process ends, or ``seconds`` pass)."""
    import time

    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)


def test_interrupted_run_resumes_to_its_end_bit_identically(tmp_path):
    """Ctrl-C in the middle of a run, then the command it prints: the same weights, metrics
    and config as the run straight through (the checkpoint's 4 epochs, not a default)."""
    import re
    import signal

    flags = ["--layers", "784,32,10", "--subset", "6000", "--batch-size", "16", "--epochs", "4"]
    flags += ["--dropout", "0.2", "--quiet"]
    run("train", *flags, "-o", "straight", cwd=tmp_path)
    proc = start_training(tmp_path, *flags, "-o", "cut")
    wait_for(tmp_path / "cut/checkpoints/epoch-0001.npz", proc)
    # at once: in epoch 2 (an epoch here can take only ~10 ms; any moment before the end will do)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    command = re.search(r"resume with: (.+)", err).group(1).split()
    assert command[:3] == ["chainrule", "train", "--resume"] and len(command) == 4
    assert "epoch-0004" not in command[3]  # interrupted before the end
    run(*command[1:], cwd=tmp_path)
    a, b = np.load(tmp_path / "straight/model.npz"), np.load(tmp_path / "cut/model.npz")
    assert sorted(a.files) == sorted(b.files)
    for key in a.files:
        if key != "__metadata__":
            np.testing.assert_array_equal(a[key], b[key])

    def epochs(name):
        lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]

    assert [r["epoch"] for r in epochs("cut")] == [1, 2, 3, 4]
    assert epochs("cut") == epochs("straight")
    straight = json.loads((tmp_path / "straight/config.json").read_text())
    cut = json.loads((tmp_path / "cut/config.json").read_text())
    assert cut.pop("activation") == ["relu", "softmax"] and straight.pop("activation") == ["relu"]
    assert cut == straight
    # the run is done: resuming its directory again has nothing to train
    proc = run("train", "--resume", "cut", cwd=tmp_path, check=False)
    assert_one_line_error(proc, "has 4 epochs done", "--epochs")


def test_resume_takes_the_checkpoints_settings(blobs, tmp_path):
    """A .csv run resumed without --layers (the checkpoint's network, not the default 784),
    from a directory, into another run directory; flags that disagree are refused."""
    flags = ["--dataset", blobs / "blobs.csv", *BLOB_FLAGS, "--schedule", "one_cycle"]
    run("train", *flags, "--epochs", "4", "--seed", "2", "-o", tmp_path / "a", "-q")
    (tmp_path / "part/checkpoints").mkdir(parents=True)
    for name in ("config.json", "checkpoints/epoch-0002.npz"):
        (tmp_path / "part" / name).write_bytes((tmp_path / "a" / name).read_bytes())
    run("train", "--resume", tmp_path / "part", "-o", tmp_path / "b", "-q")
    a, b = np.load(tmp_path / "a/model.npz"), np.load(tmp_path / "b/model.npz")
    for key in a.files:
        if key != "__metadata__":
            np.testing.assert_array_equal(a[key], b[key])
    config = json.loads((tmp_path / "b/config.json").read_text())
    assert (config["epochs"], config["seed"], config["layers"]) == (4, 2, [5, 16, 3])
    assert len((tmp_path / "b/metrics.jsonl").read_text().splitlines()) == 4
    ckpt = tmp_path / "part/checkpoints/epoch-0002.npz"
    lines = (blobs / "blobs.csv").read_text().splitlines()  # other data of the same size:
    (tmp_path / "other.csv").write_text("\n".join(lines[:1] + lines[:0:-1]) + "\n")  # reversed
    for extra, fragments in (
        (["--layers", "5,8,3"], ["--layers", "5-8-3", "5-16-3", "epoch-0002.npz"]),
        # another depth: said of the layers, not of the checkpoint's activations
        (["--layers", "5,8,8,3"], ["--layers: a 5-8-8-3 network, but the checkpoint", "5-16-3"]),
        (["--seed", "0"], ["--seed 0", "seed 2"]),
        (["--optimizer", "sgd"], ["Adam", "SGD"]),
        (["--dataset", tmp_path / "other.csv"], ["--dataset", "other.csv", "blobs.csv"]),
    ):
        proc = run("train", "--resume", ckpt, *extra, "-o", tmp_path / "c", check=False)
        assert_one_line_error(proc, *fragments)
    assert not (tmp_path / "c").exists()
    proc = run("train", "--resume", tmp_path / "nothing", check=False)
    assert_one_line_error(proc, "checkpoint not found")


def test_interrupt_before_any_checkpoint_says_so(blobs, tmp_path, monkeypatch, capsys):
    import chainrule
    from chainrule import cli
    from chainrule.errors import TrainingInterrupted

    def interrupted(*args, **kwargs):
        raise TrainingInterrupted("interrupted", checkpoint_path=None)

    monkeypatch.setattr(chainrule, "fit", interrupted)
    status = cli.main(
        [
            "train",
            "--dataset",
            str(blobs / "blobs.npz"),
            *BLOB_FLAGS,
            "-q",
            "-o",
            str(tmp_path / "run"),
        ]
    )
    err = capsys.readouterr().err
    assert status == 130
    assert "None" not in err and "resume with" not in err
    assert (
        f"before the first checkpoint: nothing to resume (in {tmp_path / 'run'}); train it "
        "again (with --overwrite to replace this run, or another --output)"
    ) in err


def test_checkpoint_every_0_writes_none_and_such_a_run_is_not_resumed(blobs, tmp_path):
    """--checkpoint-every 0: no checkpoints/, the model, metrics and early stopping's best
    weights as with checkpoints (bit for bit); --resume of the run says it wrote none."""
    flags = ["--dataset", blobs / "blobs.npz", *BLOB_FLAGS, "--epochs", "40", "-q",
             "--val-split", "0.2", "--early-stopping", "1"]  # fmt: skip
    run("train", *flags, "-o", tmp_path / "on")
    run("train", *flags, "--checkpoint-every", "0", "-o", tmp_path / "off")
    assert (tmp_path / "on/checkpoints").is_dir()
    assert not (tmp_path / "off/checkpoints").exists()
    for name in ("model.npz", "metrics.jsonl", "test_metrics.json", "config.json"):
        assert (tmp_path / "off" / name).is_file()
    on, off = np.load(tmp_path / "on/model.npz"), np.load(tmp_path / "off/model.npz")
    for key in on.files:
        if key != "__metadata__":
            np.testing.assert_array_equal(on[key], off[key])
    n_epochs = len((tmp_path / "off/metrics.jsonl").read_text().splitlines())
    assert n_epochs < 40  # early stopping stopped it (and restored the best weights, as "on")
    assert json.loads((tmp_path / "off/config.json").read_text())["checkpoint_every"] == 0
    for target in ("off", "off/checkpoints", "off/checkpoints/epoch-0002.npz"):
        proc = run("train", "--resume", tmp_path / target, "--epochs", "50", check=False)
        assert_one_line_error(proc, "the run wrote no checkpoints", "--checkpoint-every 0",
                              "so it cannot be resumed; train it again (with --overwrite to "
                              "replace this run, or another --output)")  # fmt: skip
    proc = run("train", *flags, "-o", tmp_path / "off", check=False)  # why --overwrite
    assert_one_line_error(proc, "already holds a run")
    run("train", *flags, "-o", tmp_path / "off", "--overwrite")  # as the message says
    proc = run("train", *flags, "--checkpoint-every", "-1", "-o", tmp_path / "x", check=False)
    assert_one_line_error(proc, "--checkpoint-every: expected an integer >= 0, got '-1'")
    (tmp_path / "off.toml").write_text("checkpoint_every = 0\n")
    run("train", *flags, "--config", tmp_path / "off.toml", "-o", tmp_path / "toml")
    assert (tmp_path / "toml/model.npz").is_file() and not (tmp_path / "toml/checkpoints").exists()
    assert "0:nocheckpointsatall" in squeezed(run("train", "--help").stdout)


def test_a_run_resumed_with_checkpoint_every_0_is_not_resumed_from_an_older_checkpoint(
    blobs, tmp_path
):
    """A run with checkpoints resumed with --checkpoint-every 0 trains on without any: its
    newest checkpoint is older than the run, so --resume RUN is refused (it went back to that
    checkpoint, dropping the epochs since, and again at every resume); the file, named, is
    resumed."""
    flags = ["--dataset", blobs / "blobs.npz", *BLOB_FLAGS, "-q"]
    run("train", *flags, "--epochs", "2", "-o", tmp_path / "run")
    run("train", "--resume", tmp_path / "run", "--checkpoint-every", "0", "--epochs", "3", "-q")
    assert len((tmp_path / "run/metrics.jsonl").read_text().splitlines()) == 3
    newest = tmp_path / "run/checkpoints/epoch-0002.npz"
    for target in ("run", "run/checkpoints"):
        proc = run("train", "--resume", tmp_path / target, "--epochs", "4", check=False)
        assert_one_line_error(proc, "trained on to epoch 3 with --checkpoint-every 0 after",
                              f"checkpoint, {newest} (epoch 2)", f"--resume {newest}")  # fmt: skip
    assert len((tmp_path / "run/metrics.jsonl").read_text().splitlines()) == 3
    run("train", "--resume", newest, "--epochs", "4", "-q")
    assert len((tmp_path / "run/metrics.jsonl").read_text().splitlines()) == 4


def test_an_interrupted_run_without_checkpoints_says_there_is_nothing_to_resume(
    blobs, tmp_path, monkeypatch, capsys
):
    import chainrule
    from chainrule import cli
    from chainrule.errors import TrainingInterrupted

    def interrupted(*args, checkpoint=None, **kwargs):
        assert checkpoint is None
        raise TrainingInterrupted("interrupted", checkpoint_path=None)

    monkeypatch.setattr(chainrule, "fit", interrupted)
    argv = ["train", "--dataset", str(blobs / "blobs.npz"), *BLOB_FLAGS, "-q",
            "--checkpoint-every", "0", "-o", str(tmp_path / "run")]  # fmt: skip
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert "the run writes no checkpoints (checkpoint_every 0): nothing to resume" in err
    assert "; train it again (with --overwrite to replace this run, or another --output)" in err
    assert "resume with" not in err


def test_sigterm_saves_and_a_second_writer_of_the_run_is_refused(blobs, tmp_path):
    """SIGTERM (``timeout``, ``kill``, ``docker stop``) stops like Ctrl-C, exit 143, and the
    printed command finishes the run; while it trains, RUN is locked: neither --resume of it
    nor a new run or --overwrite in it may write there (the lock comes before the contents
    check, so two new runs in one directory cannot both pass it either)."""
    import re
    import signal

    flags = ["--layers", "784,32,10", "--subset", "3000", "--batch-size", "4", "--epochs", "4"]
    proc = start_training(tmp_path, *flags, "-q", "-o", "run")
    wait_for(tmp_path / "run/checkpoints/epoch-0001.npz", proc)
    proc.send_signal(signal.SIGSTOP)  # still training (in epoch 2) while the others try
    try:
        for others in (
            ["--resume", "run"],
            ["--dataset", blobs / "blobs.npz", *BLOB_FLAGS, "-o", "run"],
            ["--dataset", blobs / "blobs.npz", *BLOB_FLAGS, "-o", "run", "--overwrite"],
        ):
            second = run("train", *others, cwd=tmp_path, check=False)
            assert_one_line_error(
                second, f"another chainrule train is writing run (pid {proc.pid})"
            )
        proc.send_signal(signal.SIGTERM)  # delivered as it continues: within a few batches
    finally:
        proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "interrupted by SIGTERM: checkpoint saved to" in err
    command = re.search(r"resume with: (.+)", err).group(1).split()
    assert command[:3] == ["chainrule", "train", "--resume"] and len(command) == 4
    # stopped as it ends epoch 1 (the checkpoint just written), it stops there, exactly
    checkpoint = r"run/checkpoints/epoch-000(1|[234]-batch-\d{5})\.npz"
    assert re.fullmatch(checkpoint, command[3]), err
    assert (tmp_path / command[3]).is_file()
    assert not (tmp_path / "run/model.npz").exists()
    finished = run(*command[1:], cwd=tmp_path)
    assert "test accuracy:" in finished.stdout
    lines = (tmp_path / "run/metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]
    assert (tmp_path / "run/model.npz").is_file() and not (tmp_path / "run/.lock").exists()


def test_resume_finishes_a_run_whose_model_was_not_saved(blobs, tmp_path):
    """A run killed after its last epoch, before its model was saved (or whose final save
    failed): --resume saves the model it would have saved, removing the temporary files of
    killed writes and ignoring the lock file of the dead process; a finished run is refused."""
    out = tmp_path / "run"
    run("train", "--dataset", blobs / "blobs.npz", *BLOB_FLAGS, "--epochs", "3", "-o", out, "-q")
    whole = np.load(out / "model.npz")
    whole = {key: whole[key] for key in whole.files if key != "__metadata__"}
    (out / "model.npz").unlink()
    (out / "test_metrics.json").unlink()
    (out / ".lock").write_text("999999999\n")  # its process is gone: nothing holds the lock
    stale = [
        out / ".model.npz.0123456789ab.tmp",
        out / "checkpoints/.epoch-0004.npz.cafe0123beef.tmp",
    ]
    kept = [
        out / ".notes.tmp",
        out / "checkpoints/.x.0123456789ab.tmp.bak",
        out / "a.0123456789ab.tmp",
    ]
    for path in stale + kept:
        path.write_bytes(b"x")
    proc = run("train", "--resume", out, "-o", tmp_path / "elsewhere", check=False)
    assert_one_line_error(proc, "has 3 epochs done", "--epochs")  # not another run's end
    assert not (tmp_path / "elsewhere").exists()
    proc = run("train", "--resume", out)
    assert "test accuracy:" in proc.stdout and "finishing" in proc.stderr
    assert "epoch  " not in proc.stderr  # nothing trained
    saved = np.load(out / "model.npz")
    assert sorted(saved.files) == sorted([*whole, "__metadata__"])
    for key, value in whole.items():
        np.testing.assert_array_equal(saved[key], value)
    assert (out / "test_metrics.json").is_file()
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    assert not [path for path in stale if path.exists()]
    assert all(path.exists() for path in kept) and not (out / ".lock").exists()
    proc = run("train", "--resume", out, check=False)
    assert_one_line_error(proc, "has 3 epochs done", "--epochs")


def test_a_failed_metrics_append_leaves_whole_lines(tmp_path):
    """A full disk in the middle of appending an epoch to metrics.jsonl (here: a file size
    limit that lets half the line through) leaves the file as it was: no half line for
    ``chainrule plot`` to trip over; the error names the file."""
    pytest.importorskip("resource")
    script = """
import resource, signal, sys
from pathlib import Path
from chainrule.cli import _MetricsLog

path = Path(sys.argv[1])
path.write_text('{"epoch": 1}\\n')
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (100, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    _MetricsLog(path).on_epoch_end(2, {"epoch": 2, "loss": 0.5, "note": "x" * 200})
except OSError as exc:
    print(exc)
"""
    path = tmp_path / "metrics.jsonl"
    proc = subprocess.run(
        [sys.executable, "-c", script, path], capture_output=True, text=True, timeout=60
    )
    assert path.read_text() == '{"epoch": 1}\n', proc.stdout + proc.stderr
    assert f"cannot write {path}" in proc.stdout


def test_serve_startup_failures_are_one_line(blob_model, mnist_run):
    import socket

    pytest.importorskip("uvicorn")
    proc = run("serve", blob_model, check=False, timeout=60)  # 5 inputs: no digits to draw
    assert_one_line_error(proc, "cannot serve", "784 inputs")
    assert "serving" not in proc.stdout and proc.returncode == 2
    model = mnist_run[0] / "model.npz"
    proc = run("serve", model, "--port", "70000", check=False)
    assert_one_line_error(proc, "--port", "1..65535")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run("serve", model, "--port", port, check=False, timeout=60)
    assert_one_line_error(proc, f"cannot listen on 127.0.0.1:{port}")
    assert proc.returncode == 2
    proc = run("serve", model, "--host", "999.1.1.1", check=False, timeout=60)
    assert_one_line_error(proc, "--host 999.1.1.1")
    assert proc.returncode == 2


def test_serve_runs_from_another_thread(mnist_run, monkeypatch, capsys):
    """Signal handlers are the main thread's: serve started from another thread (a notebook's
    or a test's) leaves them to uvicorn, which skips them there, and still serves."""
    import socket
    import threading

    import chainrule.cli
    import chainrule.web

    pytest.importorskip("uvicorn")
    served = []
    monkeypatch.setattr(chainrule.web, "serve", lambda model, **kwargs: served.append(kwargs))
    status = []
    model = str(mnist_run[0] / "model.npz")
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    thread = threading.Thread(
        target=lambda: status.append(chainrule.cli.main(["serve", model, "--port", port]))
    )
    thread.start()
    thread.join(60)
    assert status == [0] and served and served[0]["host"] == "127.0.0.1", capsys.readouterr()


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_serve_takes_an_ipv6_address_as_urls_write_it_and_says_when_it_stops(mnist_run, stop):
    """--host [::1] (the URL form) is served at the printed http://[::1]:PORT/, and Ctrl-C or
    SIGTERM stops it with a line that says so (exit 0: stopping is how a server ends)."""
    import signal
    import socket
    import time
    import urllib.error
    import urllib.request

    pytest.importorskip("uvicorn")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
            port = probe.getsockname()[1]
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    model = mnist_run[0] / "model.npz"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chainrule", "serve", str(model), "--host", "[::1]",
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert f"at http://[::1]:{port}/  (Ctrl-C to stop)" in line, line
        for _ in range(100):  # uvicorn starts listening just after the line
            try:
                with urllib.request.urlopen(f"http://[::1]:{port}/api/model", timeout=5) as r:
                    assert r.status == 200 and json.load(r)["name"] == "model.npz"
                break
            except urllib.error.URLError:
                time.sleep(0.1)
        else:
            raise AssertionError("the server never answered")
        proc.send_signal(getattr(signal, stop))
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "chainrule serve: stopped" in err, err


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ("subset = -5", ["subset", "positive integer"]),
        ("subset = 0", ["subset", "positive integer"]),
        ('plot = "no"', ["plot", "true or false"]),
        ('standardize = "yes"', ["standardize", "true or false"]),
        ("output = 5", ["output", "string"]),
        ('dataset = ["mnist"]', ["dataset", "string"]),
        ("val_split = [0.1]", ["val_split", "[0, 1)"]),
        ("checkpoint_every = -1", ["checkpoint_every", "an integer >= 0"]),
        ("batch_size = [1, 2]", ["batch_size", "positive integer"]),
        ("seed = -1", ["seed", "integer >= 0"]),
        ("early_stopping = 1.5", ["early_stopping", "integer >= 0"]),
        ("lr = 0", ["lr", "> 0"]),
        ("epochs = true", ["epochs", "positive integer"]),
        ("layers = [5, 8.5, 3]", ["layers", "list of integers"]),
    ],
)
def test_every_toml_value_is_checked_before_anything_is_written(body, fragments, tmp_path):
    (tmp_path / "run.toml").write_text(body + "\n")
    proc = run("train", "--config", "run.toml", "-o", "out", cwd=tmp_path, check=False)
    assert_one_line_error(proc, "run.toml", *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.toml"]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["train", "--subset", "1", "--val-split", "0.5"], ["--val-split", "0 for validation"]),
        (["train", "--seed", "-1"], ["--seed", "integer >= 0"]),
        (["train", "--lr", "0"], ["--lr", "> 0"]),
    ],
)
def test_setting_mistakes_leave_no_run_directory(args, fragments, tmp_path):
    assert_one_line_error(run(*args, "-o", "out", check=False, cwd=tmp_path), *fragments)
    assert not list(tmp_path.iterdir())


def test_export_and_download_name_bad_paths(blob_model, tmp_path):
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    proc = run("export", blob_model, "-o", tmp_path / "adir", check=False)
    assert_one_line_error(proc, "adir is a directory")
    assert ".tmp" not in proc.stderr
    assert_one_line_error(run("export", blob_model, "-o", "", check=False), "expected a file name")
    proc = run("download", "mnist", "--data-dir", tmp_path / "afile", check=False)
    assert_one_line_error(proc, "--data-dir", "afile is not a directory")


def test_a_closed_pipe_ends_output_quietly_but_not_training(mnist_run, blobs, tmp_path):
    out, _ = mnist_run
    reader_gone = subprocess.Popen(
        [sys.executable, "-m", "chainrule", "explain", "--model", out / "model.npz"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    reader_gone.stdout.close()  # before the command writes: `... | head -0`
    err = reader_gone.stderr.read().decode()
    assert reader_gone.wait(timeout=120) == 1
    assert err == ""
    training = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chainrule",
            "train",
            "--dataset",
            blobs / "blobs.npz",
            *BLOB_FLAGS,
            "--epochs",
            "3",
            "-o",
            tmp_path / "run",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    training.stdout.close()
    training.stderr.close()
    assert training.wait(timeout=120) == 0
    assert (tmp_path / "run/model.npz").is_file()
    assert len((tmp_path / "run/metrics.jsonl").read_text().splitlines()) == 3


def test_a_data_file_of_another_kind_is_named_with_what_to_do(blob_model, blobs, tmp_path):
    """A .tsv or .txt data file (which exists) is not 'an unknown dataset': the error says
    which files are read and how (rename to .csv, --delimiter tab); nothing is written."""
    tsv = tmp_path / "blobs.tsv"
    tsv.write_text((blobs / "blobs.csv").read_text().replace(",", "\t"))
    proc = run("train", "--dataset", tsv, "--delimiter", "tab", "-o", tmp_path / "run",
               check=False)  # fmt: skip
    assert_one_line_error(proc, f"the dataset {tsv} is not a file chainrule reads", ".csv",
                          "--delimiter tab", "mnist")  # fmt: skip
    assert not (tmp_path / "run").exists()
    for command in (["evaluate", blob_model], ["explain", "--model", blob_model]):
        proc = run(*command, "--dataset", tmp_path / "rows.txt", check=False)  # not even there
        assert_one_line_error(proc, "rows.txt is not a file chainrule reads", ".npz")
    proc = run("train", "--dataset", "mnst", check=False)  # a misspelt name: the names
    assert_one_line_error(proc, "unknown dataset 'mnst'", "fashion-mnist, mnist")
    tsv.rename(tmp_path / "blobs.csv")  # the fix the message gives
    run("train", "--dataset", tmp_path / "blobs.csv", "--delimiter", "tab", *BLOB_FLAGS,
        "--epochs", "1", "-o", tmp_path / "run", "-q")  # fmt: skip
    assert (tmp_path / "run" / "model.npz").exists()


def test_explain_a_model_refuses_network_flags_and_takes_files(blob_model, blobs):
    proc = run("explain", "--model", blob_model, "--sizes", "5,3", check=False)
    assert_one_line_error(proc, "--sizes", "--model")
    text = run("explain", "--model", blob_model, "--dataset", blobs / "blobs.csv").stdout
    assert squeezed("blobs.csv row 0 (label 0)") in squeezed(text) and "5-16-3" in text


def test_odd_files_are_refused(tmp_path):
    for command in ("info", "evaluate"):
        proc = run(command, "/dev/zero", check=False, timeout=30)
        assert_one_line_error(proc, "not a regular file: /dev/zero")
    (tmp_path / "metrics.jsonl").write_text("")
    assert_one_line_error(run("plot", tmp_path, check=False), "no epochs")
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1, "loss": 0.5}\n[1, 2]\n')
    assert_one_line_error(run("plot", tmp_path, check=False), "metrics.jsonl: line 2")
    assert not (tmp_path / "plots").exists()


def test_missing_extras_for_plot_and_distributed_are_one_line_before_any_work(
    tmp_path, monkeypatch, capsys
):
    import sys

    from chainrule import cli, plots

    def no_matplotlib():
        raise ImportError("plots need matplotlib: pip install 'chainrule[plot]'")

    monkeypatch.setattr(plots, "_pyplot", no_matplotlib)
    run_dir = tmp_path / "run"
    flags = ["train", "--subset", "200", "--epochs", "1", "-q", "-o", str(run_dir)]
    assert cli.main([*flags, "--plot"]) == 2
    assert "chainrule[plot]" in capsys.readouterr().err
    assert not run_dir.exists()  # refused before training, not after it
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py fails
    assert cli.main([*flags, "--distributed"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "chainrule: error: --distributed needs mpi4py: pip install 'chainrule[mpi]'"
    ]
    assert not run_dir.exists()


def test_flags_that_would_be_ignored_are_refused(blobs, blob_model, tmp_path):
    """A misspelt activation with no hidden layer to use it, --split with a data file (used
    whole), and --index or --dataset without --model: one line, exit 2, nothing written."""
    proc = run("train", "--layers", "784,10", "--activation", "foo", "--subset", "100",
               "-o", tmp_path / "run", check=False)  # fmt: skip
    assert_one_line_error(proc, "--activation", "unknown activation 'foo'")
    assert not (tmp_path / "run").exists()
    proc = run("evaluate", blob_model, "--dataset", blobs / "blobs.npz", "--split", "train",
               "--label-column", "1", check=False)  # fmt: skip
    assert_one_line_error(proc, "--split", "evaluated whole without --split")
    np.savez(tmp_path / "more.npz", x=np.zeros((3, 5)), y=np.array([0, 2, 5]))
    proc = run("evaluate", blob_model, "--dataset", tmp_path / "more.npz", check=False)
    assert_one_line_error(proc, "more.npz: example 2 has label 5", "tells 3 classes apart")
    # explain --model too, for the rows it explains; a model whose classes are numbers (a
    # scikit-learn classifier's classes_) reads them as class indices, so the same
    import chainrule

    numbered = tmp_path / "numbered.npz"
    chainrule.save(chainrule.load(blob_model), numbered, metadata={"classes": [10, 20, 30]})
    for model, rows in ((blob_model, ["--batch", "3"]), (numbered, ["--index", "2"])):
        proc = run("explain", "--model", model, "--dataset", tmp_path / "more.npz", *rows,
                   check=False)  # fmt: skip
        assert_one_line_error(proc, "more.npz: example 2 has label 5", "tells 3 classes apart")
    proc = run("explain", "--model", numbered, "--dataset", tmp_path / "more.npz", "--index", "1")
    assert "(label 2 30)" in proc.stdout
    assert "on 300 examples" in run("evaluate", blob_model, "--dataset", blobs / "blobs.npz").stdout
    for flag, value in (("--index", "3"), ("--dataset", str(blobs / "blobs.csv"))):
        assert_one_line_error(run("explain", flag, value, check=False), flag, "with --model")


def test_a_csv_label_column_is_chosen_by_name_or_index_and_kept_by_evaluate(blobs, tmp_path):
    """--label-column picks a CSV's label column (by name or index) for train; evaluate and
    explain read other CSVs the same way unless told otherwise; refused where it means nothing."""
    x, y = np.load(blobs / "blobs.npz")["x"], np.load(blobs / "blobs.npz")["y"]
    csv = tmp_path / "last.csv"
    rows = [",".join(f"{v:.5f}" for v in row) + f",{label}" for row, label in zip(x, y)]
    csv.write_text("f0,f1,f2,f3,f4,kind\n" + "\n".join(rows) + "\n")
    out = tmp_path / "run"
    run("train", "--dataset", csv, "--label-column", "kind", *BLOB_FLAGS, "--epochs", "5",
        "-o", out, "-q")  # fmt: skip
    assert json.loads((out / "config.json").read_text())["label_column"] == "kind"
    summary = json.loads(run("evaluate", out / "model.npz", "--dataset", csv, "--json").stdout)
    assert summary["n_examples"] == 300 and summary["accuracy"] > 0.9
    by_index = run("evaluate", out / "model.npz", "--dataset", csv, "--label-column", "-1",
                   "--json").stdout  # fmt: skip
    assert json.loads(by_index) == summary
    proc = run("evaluate", out / "model.npz", "--dataset", csv, "--label-column", "0", check=False)
    assert_one_line_error(proc, "last.csv: its label column, which is not read, is headed 'f0'")
    (tmp_path / "run.toml").write_text(f'dataset = "{csv}"\nlabel_column = -1\n')
    by_toml = run("train", "--config", tmp_path / "run.toml", *BLOB_FLAGS, "--epochs", "5",
                  "-o", tmp_path / "toml", "-q")  # fmt: skip
    assert float(by_toml.stdout.split("test accuracy:")[1].split()[0]) > 0.9
    assert json.loads((tmp_path / "toml" / "config.json").read_text())["label_column"] == -1
    for args, fragment in (
        (["train", "--dataset", blobs / "blobs.npz", "-o", tmp_path / "no"], "an .npz file"),
        (["train", "-o", tmp_path / "no"], "mnist is not a .csv file"),
        # without --dataset the model's own file is read as in training (see below)
        (["evaluate", out / "model.npz"], "without --dataset, the model's own data"),
    ):
        proc = run(*args, "--label-column", "2", check=False)
        assert_one_line_error(proc, "--label-column 2", fragment)
    assert not (tmp_path / "no").exists()


def test_a_stray_huge_class_index_is_refused_before_a_network_of_a_million_outputs(tmp_path):
    """Labels 0-2 and one 1000000: a network of 1000001 outputs (65M parameters), then a
    7 TB confusion matrix, before; now one line, before any file is written."""
    rng = np.random.default_rng(0)
    rows = [f"{rng.integers(0, 3)},{a:.3f},{b:.3f}" for a, b in rng.random((59, 2))]
    (tmp_path / "ids.csv").write_text("label,a,b\n" + "\n".join(rows) + "\n1000000,0.5,0.5\n")
    proc = run("train", "--dataset", tmp_path / "ids.csv", "--label-column", "label",
               "-o", tmp_path / "out", check=False)  # fmt: skip
    assert_one_line_error(proc, "the largest 1000000", "1000001 outputs for 4 different labels")
    assert not (tmp_path / "out").exists()


def test_labels_all_different_are_refused_in_the_command_lines_words(tmp_path):
    """A first column of decimal-comma numbers, read as class names, all different: the
    error names --label-column, not train_val_split's Python-only stratify=False."""
    rows = [f'"{10 + i},5",{i * 0.01:.3f},{i % 3}' for i in range(60)]
    (tmp_path / "dc.csv").write_text("w,a,label\n" + "\n".join(rows) + "\n")
    proc = run("train", "--dataset", tmp_path / "dc.csv", "-o", tmp_path / "out", check=False)
    assert_one_line_error(proc, "every one of the 60 labels", "--label-column")
    assert "stratify" not in proc.stderr and not (tmp_path / "out").exists()


def test_train_on_a_csv_says_what_to_do_about_common_slips(blobs, tmp_path):
    """The label column left at its default, a pandas index column, a relative path in a
    TOML file: each says what to do."""
    x, y = np.load(blobs / "blobs.npz")["x"], np.load(blobs / "blobs.npz")["y"]
    rows = [",".join(f"{v:.5f}" for v in row[:2]) + f",{'abc'[k]}," + ",".join(
        f"{v:.5f}" for v in row[2:]) for row, k in zip(x, y)]  # fmt: skip
    (tmp_path / "middle.csv").write_text("f0,f1,kind,f2,f3,f4\n" + "\n".join(rows) + "\n")
    proc = run("train", "--dataset", tmp_path / "middle.csv", *BLOB_FLAGS, "-o",
               tmp_path / "no", check=False)  # fmt: skip
    assert_one_line_error(
        proc, "column 3 ('kind'): not a number: 'a'; the labels are read from the first column",
        "if column 3 holds the labels, give --label-column kind",
    )  # fmt: skip
    numbered = [r.replace(",a,", ",0,").replace(",b,", ",1,").replace(",c,", ",2,") for r in rows]
    (tmp_path / "numbered.csv").write_text("f0,f1,kind,f2,f3,f4\n" + "\n".join(numbered) + "\n")
    proc = run("train", "--dataset", tmp_path / "numbered.csv", *BLOB_FLAGS, "-o",
               tmp_path / "no", check=False)  # fmt: skip
    assert_one_line_error(proc, "is not an integer", "give --label-column kind")
    proc = run("train", "--dataset", tmp_path / "middle.csv", *BLOB_FLAGS, "--label-column",
               "0", "-o", tmp_path / "no", check=False)  # fmt: skip
    assert_one_line_error(proc, "not a number: 'a'")
    assert "--label-column" not in proc.stderr  # given: no word about the default
    assert not (tmp_path / "no").exists()
    # pandas' to_csv writes its row index as a first column without a name
    indexed = [f"{i}," + r for i, r in enumerate(rows)]
    (tmp_path / "indexed.csv").write_text(",f0,f1,kind,f2,f3,f4\n" + "\n".join(indexed) + "\n")
    proc = run("train", "--dataset", tmp_path / "indexed.csv", "--label-column", "kind",
               "--layers", "6,16,3", "--epochs", "1", "-o", tmp_path / "indexed", "-q")  # fmt: skip
    assert "feature 1 of" in proc.stderr and "save with index=False" in proc.stderr
    assert "features: (no name), f0, f1, f2, f3, f4" in run("info", tmp_path / "indexed").stdout
    # without --layers, batch size or epochs, a file gets its own widths and, being small,
    # batches of 16 for about 500 updates (the MNIST defaults would make 8), which it says
    proc = run("train", "--dataset", tmp_path / "middle.csv", "--label-column", "kind", "-o",
               tmp_path / "auto", "-q")  # fmt: skip
    assert "network: 5-64-3 (relu, softmax)" in proc.stderr and "batch 16, 30 epochs" in proc.stderr
    assert (
        "note: 270 training examples: batches of 16 for 30 epochs (the defaults, 256 for 4, "
        "would make 8 updates of the weights)"
    ) in proc.stderr
    assert float(proc.stdout.split("test accuracy:")[1].split()[0]) > 0.9
    proc = run("train", "--dataset", tmp_path / "middle.csv", "--label-column", "kind",
               "--activation", "tanh,tanh,softmax", "--epochs", "1", "-o", tmp_path / "act",
               "-q")  # fmt: skip
    assert "network: 5-64-64-3 (tanh, tanh, softmax)" in proc.stderr  # a layer an activation
    # a --layers that does not fit: the widths the file needs are suggested
    proc = run("train", "--dataset", tmp_path / "middle.csv", "--label-column", "kind",
               "--layers", "5,8,8,4", "-o", tmp_path / "no", check=False)  # fmt: skip
    assert_one_line_error(proc, "ends with 4 outputs", "give e.g. --layers 5,8,8,3")
    # batch size or epochs given: kept, and a run of few updates says so, after every check,
    # so that a refused run's error stays one line
    proc = run("train", "--dataset", tmp_path / "middle.csv", "--label-column", "kind",
               "--layers", "5,8,3", "--epochs", "2", "-o", tmp_path / "few", "-q")  # fmt: skip
    assert "2 epochs of 270 examples in batches of 256 make only 4 updates" in proc.stderr
    assert "a smaller --batch-size and more --epochs (e.g. --batch-size 16 --epochs 30)" in (
        proc.stderr  # 30 epochs of 17 batches: about 500 updates
    )
    proc = run("train", "--dataset", tmp_path / "middle.csv", "--label-column", "kind",
               "--layers", "5,8,3", "--batch-size", "16", "--epochs", "1", "-o",
               tmp_path / "few16", "-q")  # fmt: skip
    assert "1 epoch of 270 examples in batches of 16 makes only 17 updates" in proc.stderr
    assert "give more --epochs (e.g. --epochs 30)" in proc.stderr  # never a larger batch
    proc = run("train", "--dataset", tmp_path / "middle.csv", "--label-column", "kind",
               "--layers", "5,8,3", "--epochs", "2", "-o", tmp_path / "few", "-q",
               check=False)  # fmt: skip
    assert_one_line_error(proc, "already holds a run")
    # labels that are all different: a row number or an ID (pandas' index as the first column)
    (tmp_path / "ids.csv").write_text(",f0,f1,f2,f3,f4,kind\n" + "\n".join(
        f"{i}," + ",".join(r.split(",")[:2] + r.split(",")[3:]) + f",{k}"
        for i, (r, k) in enumerate(zip(rows, y))) + "\n")  # fmt: skip
    proc = run("train", "--dataset", tmp_path / "ids.csv", "--layers", "6,8,300", "-o",
               tmp_path / "no", check=False)  # fmt: skip
    assert_one_line_error(
        proc, "column 1 has no name in the header and holds 300 different whole numbers (0, 1, "
        "2, ...): a row index", "not class labels [the labels were read from the first "
        "column, the default: if they are in another, give --label-column kind]"
    )  # fmt: skip
    proc = run("train", "--dataset", tmp_path / "ids.csv", "--label-column", "0", "-o",
               tmp_path / "no", check=False)  # fmt: skip
    assert_one_line_error(proc, "a row index", "(--label-column names it: an index, or a name")
    # whole-number regression targets (diabetes' 25..346) are no classes either
    targets = np.random.default_rng(0).integers(25, 347, len(rows))
    (tmp_path / "reg.csv").write_text("f0,t\n" + "".join(f"{v / 9},{v}\n" for v in targets))
    proc = run("train", "--dataset", tmp_path / "reg.csv", "--label-column", "t", "--epochs",
               "1", "-o", tmp_path / "reg", "-q")  # fmt: skip
    assert "whole numbers over 300 examples, most of them on two examples or fewer: a " in (
        proc.stderr  # a note, not a refusal: many small classes may be classes after all
    )
    assert "regression target, not classes? train classifies" in proc.stderr
    # named, the IDs are no index, but the labels all different still say what they are
    (tmp_path / "named_ids.csv").write_text("id" + (tmp_path / "ids.csv").read_text())
    proc = run("train", "--dataset", tmp_path / "named_ids.csv", "--layers", "6,8,300", "-o",
               tmp_path / "no", check=False)  # fmt: skip
    assert_one_line_error(proc, "every label of", "(--label-column 0) is another number")
    # labels all one class (a constant first column, digits' pixel_0_0): refused
    numbers = [",".join(r.split(",")[:2] + r.split(",")[3:]) for r in rows]
    constant = "c,f0,f1,f2,f3,f4\n" + "".join(f"0,{r}\n" for r in numbers)
    (tmp_path / "constant.csv").write_text(constant)
    proc = run("train", "--dataset", tmp_path / "constant.csv", "-o", tmp_path / "no",
               check=False)  # fmt: skip
    assert_one_line_error(proc, "every label of", "is 0: one class, nothing to tell apart")
    # a file without a header: a note says where the labels come from; an accuracy no
    # better than the most common class says so
    (tmp_path / "headless.csv").write_text("".join(f"0,{r}\n" for r in numbers[:200]) + "".join(
        f"1,{r}\n" for r in numbers[200:]))  # fmt: skip
    proc = run("train", "--dataset", tmp_path / "headless.csv", "--layers", "5,4,2",
               "--epochs", "1", "--lr", "1e-9", "-o", tmp_path / "headless", "-q")  # fmt: skip
    assert "has no header: the labels are its first column" in proc.stderr
    assert "no better than always answering the most common class" in proc.stderr
    assert "Warning" not in proc.stderr  # fit's TrainingWarning: the note says it instead
    # a file with pandas' index column, for a model trained without one: refused
    features = [",".join(r.split(",")[:2] + r.split(",")[3:]) for r in rows[:3]]
    (tmp_path / "indexed_rows.csv").write_text(
        ",f0,f1,f2,f3,f4\n" + "".join(f"{i},{f}\n" for i, f in enumerate(features))
    )
    proc = run("predict", tmp_path / "auto", tmp_path / "indexed_rows.csv", check=False)
    assert_one_line_error(proc, "its first column has no name in the header", "index=False")
    for args in (["evaluate", tmp_path / "auto", "--dataset"], ["explain", "--model",
                 tmp_path / "auto", "--dataset"]):  # fmt: skip
        labelled = ",".join(["", "f0", "f1", "kind", "f2", "f3", "f4"])
        body = "".join(f"{i},{r}\n" for i, r in enumerate(rows[::10]))
        (tmp_path / "indexed.csv").write_text(labelled + "\n" + body)
        proc = run(*args, tmp_path / "indexed.csv", check=False)
        assert_one_line_error(proc, "its first column has no name in the header")
    # a model trained without a header (no names recorded) reads such a file by position
    (tmp_path / "no_header.csv").write_text(body)
    run("train", "--dataset", tmp_path / "no_header.csv", "--label-column", "3", "--layers",
        "6,8,3", "--epochs", "1", "-o", tmp_path / "unnamed", "-q")  # fmt: skip
    proc = run("evaluate", tmp_path / "unnamed", "--dataset", tmp_path / "indexed.csv",
               "--label-column", "kind")  # fmt: skip
    assert "on 30 examples" in proc.stdout
    # an unnamed label column (pd.DataFrame(x, index=y).to_csv()) is no index: the model's
    # own file evaluates
    features = [",".join(r.split(",")[:2] + r.split(",")[3:]) for r in rows]
    unnamed_labels = ",f0,f1,f2,f3,f4\n" + "".join(f"{k},{f}\n" for k, f in zip(y, features))
    (tmp_path / "unnamed_labels.csv").write_text(unnamed_labels)
    run("train", "--dataset", tmp_path / "unnamed_labels.csv", "--epochs", "1", "-o",
        tmp_path / "ul", "-q")  # fmt: skip
    proc = run("evaluate", tmp_path / "ul", "--dataset", tmp_path / "unnamed_labels.csv")
    assert "on 300 examples" in proc.stdout
    # class indices 1, 2, 3: class 0 has no example, which a note says
    shifted = [r.replace(",a,", ",1,").replace(",b,", ",2,").replace(",c,", ",3,") for r in rows]
    (tmp_path / "from1.csv").write_text("f0,f1,kind,f2,f3,f4\n" + "\n".join(shifted) + "\n")
    proc = run("train", "--dataset", tmp_path / "from1.csv", "--label-column", "kind",
               "--epochs", "1", "-o", tmp_path / "from1", "-q")  # fmt: skip
    assert "note: no example of class 0 in" in proc.stderr
    assert "network: 5-64-4" in proc.stderr  # a unit for each class index, 0 to 3
    # binary labels with binary cross-entropy: one sigmoid output
    binary = [r.replace(",a,", ",0,").replace(",b,", ",1,").replace(",c,", ",1,") for r in rows]
    (tmp_path / "binary.csv").write_text("f0,f1,kind,f2,f3,f4\n" + "\n".join(binary) + "\n")
    proc = run("train", "--dataset", tmp_path / "binary.csv", "--label-column", "kind",
               "--loss", "binary_cross_entropy", "--epochs", "1", "-o", tmp_path / "bce",
               "-q")  # fmt: skip
    assert "network: 5-64-1 (relu, sigmoid)" in proc.stderr
    # predict on the one sigmoid output p: class 1 with p, class 0 with 1 - p
    import chainrule

    net = chainrule.load(tmp_path / "bce" / "model.npz")
    feats = np.array([[float(v) for v in r.split(",")[:2] + r.split(",")[3:]] for r in binary])
    np.save(tmp_path / "bce_rows.npy", feats[:12])
    answer = json.loads(run("predict", tmp_path / "bce" / "model.npz", tmp_path / "bce_rows.npy",
                            "--json").stdout)  # fmt: skip
    p = net.predict_proba(feats[:12])[:, 0]
    assert [a["prediction"] for a in answer] == net.predict(feats[:12]).tolist()
    for a, p1 in zip(answer, p):
        top = {t["class"]: t["probability"] for t in a["top"]}
        assert top[1] == pytest.approx(p1, abs=2e-6) and top[0] == pytest.approx(1 - p1, abs=2e-6)
    # the labels taken from a first column whose name is a feature's: a note names it
    plain = [",".join(r.split(",")[:2] + r.split(",")[3:]) for r in rows]
    (tmp_path / "feature_first.csv").write_text(
        "Glucose,f0,f1,f2,f3,f4\n" + "".join(f"{k},{p}\n" for k, p in zip(y, plain))
    )
    proc = run("train", "--dataset", tmp_path / "feature_first.csv", "--epochs", "1",
               "--layers", "5,8,3", "-o", tmp_path / "ff", "-q")  # fmt: skip
    assert "the labels are the first column of" in proc.stderr and "'Glucose'" in proc.stderr
    # a stray non-number further down a feature column: no word about the label column;
    # a label column's name with a space is quoted
    stray = (tmp_path / "middle.csv").read_text().splitlines()
    stray = [",".join(line.split(",")[2:3] + line.split(",")[:2] + line.split(",")[3:])
             for line in stray]  # fmt: skip
    stray[40] = stray[40].split(",")[0] + ",x," + ",".join(stray[40].split(",")[2:])
    (tmp_path / "stray.csv").write_text("\n".join(stray) + "\n")
    proc = run("train", "--dataset", tmp_path / "stray.csv", "-o", tmp_path / "no", check=False)
    assert_one_line_error(proc, "line 41, column 2 ('f0'): not a number: 'x' (features are")
    assert "--label-column" not in proc.stderr
    spaced = (tmp_path / "middle.csv").read_text().replace(",kind,", ",Iris kind,", 1)
    (tmp_path / "spaced.csv").write_text(spaced)
    proc = run("train", "--dataset", tmp_path / "spaced.csv", "-o", tmp_path / "no", check=False)
    assert_one_line_error(proc, "give --label-column 'Iris kind'")
    # an image set is not a file: MNIST's defaults stay, also for a small --subset
    proc = run("train", "--subset", "300", "--layers", "784,8,10", "--epochs", "1", "-o",
               tmp_path / "mnist", "-q")  # fmt: skip
    assert "batch 256, 1 epoch" in proc.stderr and "training examples: batches" not in proc.stderr
    # a model whose label column was given by index: a file with another column there has a
    # feature dropped unread, refused; so is a reordered file with --label-column named
    run("train", "--dataset", tmp_path / "middle.csv", "--label-column", "2", *BLOB_FLAGS,
        "--epochs", "2", "-o", tmp_path / "by_index", "-q")  # fmt: skip
    model = tmp_path / "by_index" / "model.npz"
    cells = [line.split(",") for line in (tmp_path / "middle.csv").read_text().splitlines()]
    moved = [",".join(c[:2] + [c[3], c[2]] + c[4:]) for c in cells]  # f2 before kind
    (tmp_path / "moved.csv").write_text("\n".join(moved) + "\n")
    for args in (["evaluate", model, "--dataset", tmp_path / "moved.csv"],
                 ["predict", model, tmp_path / "moved.csv"]):  # fmt: skip
        proc = run(*args, check=False)
        assert_one_line_error(proc, "its label column, which is not read, is headed 'f2'")
    named = run("predict", model, tmp_path / "moved.csv", "--label-column", "kind", "--json")
    assert len(json.loads(named.stdout)) == 300  # by name, the features are where they were
    # a header of numbers (years) above the class names, the label column given by index
    years = ["2019,2020,kind,2021,2022,2023"] + [",".join(c) for c in cells[1:]]
    (tmp_path / "years.csv").write_text("\n".join(years) + "\n")
    proc = run("train", "--dataset", tmp_path / "years.csv", "--label-column", "2", *BLOB_FLAGS,
               "-o", tmp_path / "no", check=False)  # fmt: skip
    assert_one_line_error(proc, "has 4 classes (a, b, c, kind); but the first line, read as "
                          "data, is the only example of 'kind'", "--label-column kind")  # fmt: skip
    proc = run("train", "--dataset", tmp_path / "years.csv", "--label-column", "2", "--layers",
               "5,8,4", "--epochs", "1", "-o", tmp_path / "years", "-q")  # fmt: skip
    assert "note: the first line of" in proc.stderr and "(--label-column kind)" in proc.stderr
    # a relative path in a TOML file is from the current directory: said, with the one beside
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "middle.csv").write_text((tmp_path / "middle.csv").read_text())
    toml = tmp_path / "conf" / "run.toml"
    toml.write_text('dataset = "middle.csv"\nlabel_column = "kind"\n')
    proc = run("train", "--config", toml, *BLOB_FLAGS, "-o", tmp_path / "no", check=False)
    assert_one_line_error(
        proc, "dataset file not found: middle.csv", "relative path is taken from the current",
        f"the file beside {toml} is {tmp_path / 'conf' / 'middle.csv'}",
    )  # fmt: skip


def test_a_csv_run_resumes_from_another_directory(blobs, tmp_path):
    """A relative --dataset is recorded as an absolute path, so --resume works from anywhere."""
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "data.csv").write_bytes((blobs / "blobs.csv").read_bytes())
    run("train", "--dataset", "data.csv", *BLOB_FLAGS, "--epochs", "2", "-o", "run", "-q",
        cwd=tmp_path / "work")  # fmt: skip
    recorded = json.loads((tmp_path / "work" / "run" / "config.json").read_text())["dataset"]
    assert recorded == str(tmp_path / "work" / "data.csv")
    proc = run("train", "--resume", "work/run", "--epochs", "3", "-q", cwd=tmp_path)
    assert "test accuracy" in proc.stdout
    epochs = (tmp_path / "work" / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in epochs] == [1, 2, 3]


def test_a_resumed_csv_run_takes_its_label_column_by_another_name(blobs, tmp_path):
    """--resume with --label-column naming the run's column another way (its header name, a
    negative index) goes on; another column is refused; the run keeps the recorded form."""
    run("train", "--dataset", blobs / "blobs.csv", *BLOB_FLAGS, "--epochs", "1", "-o",
        tmp_path / "run", "-q")  # fmt: skip
    for epochs, column in ((2, "label"), (3, "-6")):
        run("train", "--resume", tmp_path / "run", "--epochs", str(epochs), "--label-column",
            column, "-q")  # fmt: skip
    assert json.loads((tmp_path / "run" / "config.json").read_text())["label_column"] == 0
    proc = run("train", "--resume", tmp_path / "run", "--epochs", "4", "--label-column", "f0",
               check=False)  # fmt: skip
    assert_one_line_error(proc, "--label-column f0: the checkpoint", "labels in column 0")


def test_a_resumed_csv_run_without_header_compares_label_columns_by_position(blobs, tmp_path):
    """A file without a header row: --resume takes the run's label column given as another
    index (-1 for the last, 5) and refuses another column (two indices were once taken as
    the same column, and the run went on with its own)."""
    rows = (blobs / "blobs.csv").read_text().splitlines()[1:]
    bare = tmp_path / "bare.csv"  # the label last: f0, ..., f4, label
    bare.write_text("".join(",".join([*r.split(",")[1:], r.split(",")[0]]) + "\n" for r in rows))
    run("train", "--dataset", bare, "--label-column", "-1", *BLOB_FLAGS, "--epochs", "1", "-o",
        tmp_path / "run", "-q")  # fmt: skip
    run("train", "--resume", tmp_path / "run", "--epochs", "2", "--label-column", "5", "-q")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["label_column"] == -1
    for column in ("0", "-2"):
        proc = run("train", "--resume", tmp_path / "run", "--epochs", "3", "--label-column",
                   column, check=False)  # fmt: skip
        assert_one_line_error(proc, f"--label-column {column}: the checkpoint",
                              "was trained with the labels in column -1")  # fmt: skip
    epochs = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in epochs] == [1, 2]


def test_a_csv_run_resumes_with_its_data_file_moved(blobs, tmp_path):
    """A run whose data file has moved (copied to another machine) resumes with --dataset at
    its new place; fit checks that the file holds the data the checkpoint was trained on."""
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "data.csv").write_bytes((blobs / "blobs.csv").read_bytes())
    run("train", "--dataset", "old/data.csv", *BLOB_FLAGS, "--epochs", "2", "-o", "run", "-q",
        cwd=tmp_path)  # fmt: skip
    (tmp_path / "new").mkdir()
    os.replace(tmp_path / "old" / "data.csv", tmp_path / "new" / "data.csv")
    proc = run("train", "--resume", "run", "--epochs", "3", "-q", cwd=tmp_path, check=False)
    assert_one_line_error(proc, "old/data.csv, which no longer exists; if the file has moved, "
                          "give its new place with --dataset FILE")  # fmt: skip
    lines = (blobs / "blobs.csv").read_text().splitlines()
    (tmp_path / "other.csv").write_text("\n".join(lines[:1] + lines[:0:-1]) + "\n")  # reversed
    proc = run("train", "--resume", "run", "--dataset", "other.csv", "--epochs", "3", "-q",
               cwd=tmp_path, check=False)  # fmt: skip
    assert proc.returncode == 2 and "written while training on other data" in proc.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["dataset"] == str(tmp_path / "old" / "data.csv")  # as it was
    proc = run("train", "--resume", "run", "--dataset", "new/data.csv", "--epochs", "3", "-q",
               cwd=tmp_path)  # fmt: skip
    assert "test accuracy" in proc.stdout
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["dataset"]
    assert recorded == str(tmp_path / "new" / "data.csv")
    assert run("evaluate", "run/model.npz", cwd=tmp_path).stdout.startswith(
        f"data: {tmp_path / 'new' / 'data.csv'}, the 10% held out"
    )


RUN_TEXT_FILES = ("config.json", "metrics.jsonl")


def test_a_run_resumed_on_an_edited_data_file_is_refused(blobs, tmp_path):
    data = tmp_path / "data.csv"
    data.write_bytes((blobs / "blobs.csv").read_bytes())
    run("train", "--dataset", data, *BLOB_FLAGS, "--epochs", "2", "-o", "run", "-q", cwd=tmp_path)
    lines = data.read_text().splitlines()
    label, rest = lines[1].split(",", 1)
    lines[1] = f"{(int(label) + 1) % 3},{rest}"  # one label changed
    data.write_text("\n".join(lines) + "\n")
    before = {name: (tmp_path / "run" / name).read_bytes() for name in RUN_TEXT_FILES}
    proc = run("train", "--resume", "run/checkpoints/epoch-0001.npz", "--epochs", "3", "-q",
               cwd=tmp_path, check=False)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "chainrule: error: checkpoint run/checkpoints/epoch-0001.npz was written while "
            "training on other data"
        )
    ), proc.stderr
    # the refused run is left as it was: its settings, and the metrics of both its epochs
    assert {name: (tmp_path / "run" / name).read_bytes() for name in RUN_TEXT_FILES} == before
    data.write_bytes((blobs / "blobs.csv").read_bytes())  # the data it was trained on
    proc = run("train", "--resume", "run", "--epochs", "3", "-q", cwd=tmp_path)
    assert "test accuracy" in proc.stdout


def test_features_far_from_unit_scale_get_a_note_to_standardize(blobs, tmp_path):
    with np.load(blobs / "blobs.npz") as data:
        x, y = data["x"], data["y"]
    np.savez(tmp_path / "big.npz", x=x * 1000, y=y)
    args = ("--layers", "5,3", "--epochs", "1", "--overwrite")
    proc = run("train", "--dataset", "big.npz", *args, "-o", "big", cwd=tmp_path)
    assert "note: the features of big.npz reach |x| = " in proc.stderr
    assert "give --standardize (docs/data.md)" in proc.stderr
    proc = run("train", "--dataset", blobs / "blobs.npz", *args, "-o", "ok", cwd=tmp_path)
    assert "standardize" not in proc.stderr  # features of order 1-10: no note
    proc = run("train", "--dataset", "big.npz", *args, "-q", "-o", "big", cwd=tmp_path)
    assert "give --standardize" in proc.stderr  # -q hides the progress, not the warning


def test_evaluate_finds_the_held_out_test_set_of_a_moved_data_file(blobs, tmp_path):
    """A run's data file moved (or copied to another machine): evaluate says how to find its
    test set again, --dataset NEWPATH --split test does (checked to be the same data, with
    the accuracy train reported), and another file is refused rather than split."""
    data = tmp_path / "blobs.csv"
    data.write_text((blobs / "blobs.csv").read_text())
    trained = run("train", "--dataset", data, *BLOB_FLAGS, "--epochs", "2", "-o",
                  tmp_path / "run", "-q").stdout  # fmt: skip
    reported = trained.split("test accuracy: ")[1].split()[0]
    (tmp_path / "elsewhere").mkdir()
    moved = data.rename(tmp_path / "elsewhere" / "blobs.csv")
    model = tmp_path / "run" / "model.npz"
    proc = run("evaluate", model, check=False)
    assert_one_line_error(proc, "no longer exists", "--dataset NEWPATH --split test")
    text = run("evaluate", model, "--dataset", moved, "--split", "test").stdout
    assert text.splitlines()[0] == (
        f"data: {moved}, the 10% held out as test set at training (seed 0): 30 examples"
    )
    assert f"accuracy: {reported} on 30 examples" in text
    rest = run("evaluate", model, "--dataset", moved, "--split", "train").stdout
    assert "on 270 examples" in rest
    assert "on 300 examples" in run("evaluate", model, "--dataset", moved).stdout  # whole
    other = tmp_path / "other.csv"
    other.write_text("".join(moved.read_text().splitlines(keepends=True)[:101]))
    proc = run("evaluate", model, "--dataset", other, "--split", "test", check=False)
    assert_one_line_error(proc, "does not hold the data the model", str(data))
    # explain follows the same advice: its --split finds the moved file's test example 3
    proc = run("explain", "--model", model, check=False)
    assert_one_line_error(proc, "--dataset NEWPATH --split test")
    text = squeezed(run("explain", "--model", model, "--dataset", moved, "--split", "test",
                        "--index", "3").stdout)  # fmt: skip
    assert squeezed("test example 3 of the 30 in the 10% held out") in text


def test_model_commands_take_a_run_directory(blob_model, blobs, tmp_path):
    """`chainrule train` prints its run directory: info, evaluate, predict, explain and export
    take it for the model file in it."""
    run_dir = blob_model.parent
    for command in (["info"], ["evaluate"], ["evaluate", "--json"]):
        assert run(*command, run_dir).stdout == run(*command, blob_model).stdout
    with np.load(blobs / "blobs.npz") as data:
        np.save(tmp_path / "rows.npy", data["x"][:3])
    rows = tmp_path / "rows.npy"
    assert predictions(run_dir, rows) == predictions(blob_model, rows)
    text = run("explain", "--model", run_dir).stdout
    assert squeezed(str(blob_model)) in squeezed(text)
    (tmp_path / "empty").mkdir()
    proc = run("info", tmp_path / "empty", check=False)
    assert_one_line_error(proc, "empty is a directory without a model.npz")
    assert "--resume" not in proc.stderr  # no run there to continue
    (tmp_path / "cut" / "checkpoints").mkdir(parents=True)  # a run stopped before its model
    (tmp_path / "cut" / "config.json").write_text("{}")
    for command in (["info"], ["evaluate"], ["export", "-o", tmp_path / "m.onnx"]):
        proc = run(command[0], tmp_path / "cut", *command[1:], check=False)
        assert_one_line_error(proc, "cut is a directory without a model.npz (a run that has not "
                              "finished: continue it with chainrule train --resume")  # fmt: skip


# -- --standardize ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def far_csv(tmp_path_factory):
    """The blobs, in units 100 times smaller and 10,000 away from 0 (years, incomes): a CSV
    whose classes are as well separated as the blobs', but on which raw features train badly."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4, size=(3, 5))
    y = np.repeat(np.arange(3), 100)
    x = (centres[y] + rng.normal(size=(300, 5))) * 100 + 10_000
    path = tmp_path_factory.mktemp("far") / "far.csv"
    rows = [f"{label}," + ",".join(f"{v:.3f}" for v in row) for label, row in zip(y, x)]
    path.write_text("label," + ",".join(f"f{i}" for i in range(5)) + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def far_runs(far_csv):
    """far.csv trained the same way twice, as is and with --standardize: (folder, procs)."""
    folder = far_csv.parent
    procs = {
        name: run(
            "train", "--dataset", far_csv, *BLOB_FLAGS, "--epochs", "5", *extra, "-o", folder / name
        )  # fmt: skip
        for name, extra in (("raw", []), ("std", ["--standardize"]))
    }
    return folder, procs


def test_standardize_trains_where_raw_features_far_from_unit_scale_do_not(far_runs):
    import chainrule

    folder, procs = far_runs
    accuracy = {n: float(p.stdout.split("test accuracy:")[1].split()[0]) for n, p in procs.items()}
    assert accuracy["std"] >= 0.9 and accuracy["raw"] <= 0.7, accuracy
    # the note suggests the flag, and is not given to a run that has it
    assert "note: the features of" in procs["raw"].stderr
    assert "give --standardize (docs/data.md)" in procs["raw"].stderr
    assert "note:" not in procs["std"].stderr
    assert "network: 5-16-3 (relu, softmax) on standardized inputs, loss" in procs["std"].stderr
    assert "standardized" not in procs["raw"].stderr
    for name, flag in (("raw", False), ("std", True)):
        assert json.loads((folder / name / "config.json").read_text())["standardize"] is flag
        meta = chainrule.serialization.load_metadata(folder / name / "model.npz")
        assert meta["training_config"]["standardize"] is flag


def test_a_standardized_model_holds_the_training_parts_statistics(far_runs, far_csv):
    """mean and std of the 270 rows trained on (the 10% test hold-out left out), first."""
    import chainrule
    from chainrule import datasets

    folder, _ = far_runs
    net = chainrule.load(folder / "std" / "model.npz")
    layer = net.layers[0]
    assert isinstance(layer, chainrule.Standardize) and layer.dtype == np.float32
    assert [type(x).__name__ for x in net.layers[1:]] == ["Dense", "Dense"]
    x, y = datasets.load_csv(far_csv)
    x_train, _, _, _ = datasets.train_val_split(x, y, val_fraction=0.1, seed=0)
    assert len(x_train) == 270
    np.testing.assert_allclose(layer.mean, x_train.mean(axis=0, dtype=np.float64), rtol=1e-6)
    np.testing.assert_allclose(layer.std, x_train.std(axis=0, dtype=np.float64), rtol=1e-5)
    assert not np.allclose(layer.std, x.std(axis=0, dtype=np.float64), rtol=1e-4)  # not all 300
    raw = chainrule.load(folder / "raw" / "model.npz")
    assert isinstance(raw.layers[0], chainrule.Dense) and net.n_parameters == raw.n_parameters


def test_standardize_with_a_val_split_leaves_the_validation_part_out(far_csv, tmp_path):
    """--val-split's part is held out inside training: the statistics are those of the rows
    fit trains on (chainrule.training.validation_rows), not of the validation rows too."""
    import chainrule
    from chainrule import datasets
    from chainrule.training import validation_rows

    out = tmp_path / "std-val"
    flags = ["--epochs", "2", "--standardize", "--val-split", "0.2", "--seed", "3", "-o", out]
    run("train", "--dataset", far_csv, *BLOB_FLAGS, *flags)
    layer = chainrule.load(out / "model.npz").layers[0]
    x, y = datasets.load_csv(far_csv)
    x_train, _, _, _ = datasets.train_val_split(x, y, val_fraction=0.1, seed=3)
    rows, val = validation_rows(len(x_train), 0.2, seed=3)
    assert len(rows) == 216 and len(val) == 54
    fitted = x_train[rows]
    np.testing.assert_allclose(layer.mean, fitted.mean(axis=0, dtype=np.float64), rtol=1e-6)
    np.testing.assert_allclose(layer.std, fitted.std(axis=0, dtype=np.float64), rtol=1e-5)
    assert not np.allclose(layer.std, x_train.std(axis=0, dtype=np.float64), rtol=1e-4)


def test_evaluate_predict_and_info_on_a_standardized_model_take_raw_rows(far_runs, far_csv):
    import chainrule
    from chainrule import datasets

    folder, _ = far_runs
    model = folder / "std" / "model.npz"
    summary = json.loads(run("evaluate", model, "--dataset", far_csv, "--json").stdout)
    assert summary["n_examples"] == 300 and summary["accuracy"] >= 0.9
    x, y = datasets.load_csv(far_csv)
    rows = folder / "rows.npy"
    np.save(rows, x[::10])  # 30 raw rows, as the file has them
    assert x.min() > 5000  # nothing scaled on the way: the network standardizes them
    predicted = predictions(model, rows)
    assert predicted == chainrule.load(model).predict(x[::10]).tolist()
    assert np.mean(np.array(predicted) == y[::10]) >= 0.9
    text = run("info", model).stdout
    assert " 0  standardize  (x - mean) / std of 5 inputs, mean " in text
    assert " 1  dense        relu" in text and "standardize: True" in text
    layers = json.loads(run("info", model, "--json").stdout)["config"]["layers"]
    assert layers[0] == {"type": "standardize", "n_units": 5}


def test_resume_keeps_the_standardization(far_runs, far_csv, tmp_path):
    """The checkpoint's network holds the statistics; the switch comes from it (here: from a
    TOML file's standardize = true), and contradicting it is refused like another network."""
    import chainrule

    (tmp_path / "run.toml").write_text("standardize = true\n")
    run("train", "--config", tmp_path / "run.toml", "--dataset", far_csv, *BLOB_FLAGS,
        "--epochs", "2", "-o", tmp_path / "run", "-q")  # fmt: skip
    checkpoint = chainrule.serialization.load_checkpoint(
        tmp_path / "run/checkpoints/epoch-0002.npz"
    )
    before = checkpoint.net.layers[0]
    assert isinstance(before, chainrule.Standardize)
    run("train", "--resume", tmp_path / "run", "--standardize", "--epochs", "3", "-q")
    after = chainrule.load(tmp_path / "run" / "model.npz").layers[0]
    np.testing.assert_array_equal(after.mean, before.mean)
    np.testing.assert_array_equal(after.std, before.std)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["standardize"] is True
    # a run without it cannot be continued with it
    folder, _ = far_runs
    proc = run("train", "--resume", folder / "raw", "--standardize", "--epochs", "6",
               "-o", tmp_path / "other", check=False)  # fmt: skip
    assert_one_line_error(proc, "--standardize: a 5-16-3", "standardized inputs network",
                          "holds 5-16-3 (relu, softmax), loss cross_entropy, float32")  # fmt: skip
    assert not (tmp_path / "other").exists()


def test_standardize_on_images_takes_the_statistics_of_the_scaled_pixels(tmp_path):
    """MNIST stays uint8 and fit scales each batch by 1/255: the layer standardizes what the
    network sees, pixels in [0, 1]; a pixel that is always 0 gets std 1."""
    import chainrule
    from chainrule import datasets

    run("train", "--standardize", "--subset", "500", "--layers", "784,10", "--epochs", "1",
        "--batch-size", "50", "-o", tmp_path / "run", "-q")  # fmt: skip
    model = tmp_path / "run" / "model.npz"
    layer = chainrule.load(model).layers[0]
    x, _ = datasets.load_dataset("mnist", "train", dtype=np.uint8)
    pixels = x[:500].astype(np.float64) / 255
    std = pixels.std(axis=0)
    assert (std == 0).any() and pixels.max() == 1.0
    np.testing.assert_allclose(layer.mean, pixels.mean(axis=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(layer.std, np.where(std == 0, 1, std), rtol=1e-5)
    assert chainrule.serialization.load_metadata(model)["input_scale"] == pytest.approx(1 / 255)
    # predict scales uint8 pixels by 1/255 as before; the network then standardizes them
    test = x[:500:50]
    np.save(tmp_path / "pixels.npy", test)
    expected = chainrule.load(model).predict(test / 255).tolist()
    assert predictions(model, tmp_path / "pixels.npy") == expected


def test_the_standardize_statistics_are_those_of_the_scaled_inputs():
    """--standardize's layer for uint8 pixels that fit scales by 1/255: the statistics of
    x / 255, computed from x itself; a column that never varies gets std 1, not 1/255."""
    import chainrule
    from chainrule import cli

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(500, 30), dtype=np.uint8)
    x[:, 7] = 0  # never varies
    x[:, 8] = 200
    layer = cli._standardizer(x, 1 / 255, "float64")
    expected = chainrule.Standardize.from_data(x / 255, dtype=np.float64)
    np.testing.assert_allclose(layer.mean, expected.mean, rtol=1e-12)
    np.testing.assert_allclose(layer.std, expected.std, rtol=1e-12)
    assert layer.std[7] == layer.std[8] == 1 and layer.mean[8] == pytest.approx(200 / 255)
    assert cli._standardizer(x, None, "float32").mean[8] == 200


def test_a_dataset_file_too_small_for_a_test_split_is_one_line(blobs, tmp_path):
    lines = (blobs / "blobs.csv").read_text().splitlines()
    (tmp_path / "tiny.csv").write_text("\n".join(lines[:4]) + "\n")  # a header and 3 rows
    proc = run("train", "--dataset", "tiny.csv", "--layers", "5,3", "-o", "out", cwd=tmp_path,
               check=False)  # fmt: skip
    assert_one_line_error(proc, "tiny.csv has 3 examples", "at least 5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.csv"]


# -- class names as labels ---------------------------------------------------------------------

IRIS_NAMES = ["setosa", "versicolor", "virginica"]
IRIS_FLAGS = ["--label-column", "species", "--layers", "4,8,3", "--lr", "0.05", "--batch-size",
              "8", "--epochs", "2", "-q"]  # fmt: skip


def write_iris(path, names=IRIS_NAMES, n=60):
    """An iris-like CSV: 4 features, then the species by name; well-separated classes."""
    rng = np.random.default_rng(1)
    centres = rng.normal(scale=3, size=(len(names), 4))
    lines = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    for i in range(n):
        k = i % len(names)
        row = centres[k] + rng.normal(scale=0.3, size=4)
        lines.append(",".join(f"{v:.3f}" for v in row) + f",{names[k]}")
    path.write_text("\n".join(lines) + "\n")
    return centres.astype(np.float32)


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("iris")
    centres = write_iris(folder / "iris.csv")
    run("train", "--dataset", folder / "iris.csv", *IRIS_FLAGS, "-o", folder / "run")
    return folder, centres


def test_class_names_train_evaluate_predict_info_explain(iris_run):
    import chainrule

    folder, centres = iris_run
    run_dir, csv = folder / "run", folder / "iris.csv"
    model = run_dir / "model.npz"
    meta = chainrule.serialization.load_metadata(model)
    assert meta["classes"] == IRIS_NAMES  # what the web page and predict show
    assert json.loads((run_dir / "config.json").read_text())["classes"] == IRIS_NAMES
    assert json.loads((run_dir / "test_metrics.json").read_text())["classes"] == IRIS_NAMES
    text = run("evaluate", model, "--dataset", csv).stdout
    assert "on 60 examples" in text
    table = text.split("confusion matrix")[0].splitlines()[2:]
    assert [line.split()[0] for line in table] == IRIS_NAMES
    assert text.splitlines()[-4].split() == IRIS_NAMES  # the matrix's column heads
    summary = json.loads(run("evaluate", model, "--dataset", csv, "--json").stdout)
    assert summary["classes"] == IRIS_NAMES and summary["n_examples"] == 60
    rows = np.concatenate([centres, centres[::-1]])
    np.save(folder / "rows.npy", rows)
    expected = [IRIS_NAMES[k] for k in chainrule.load(model).predict(rows)]
    lines = run("predict", model, folder / "rows.npy").stdout.splitlines()
    assert [line.split()[1] for line in lines] == expected
    assert lines[0].startswith(f"{folder / 'rows.npy'}[0]: {expected[0]}   top: {expected[0]} (")
    result = json.loads(run("predict", model, folder / "rows.npy", "--json").stdout)
    assert [r["prediction_name"] for r in result] == expected
    assert [IRIS_NAMES[r["prediction"]] for r in result] == expected  # the index stays
    assert "classes: 0 setosa, 1 versicolor, 2 virginica" in run("info", model).stdout
    text = run("explain", "--model", model, "--dataset", csv, "--index", "2").stdout
    assert squeezed("iris.csv row 2 (label 2 virginica)") in squeezed(text)  # wrapped anywhere


def test_class_names_a_model_does_not_know_are_one_line(iris_run, blob_model, tmp_path):
    folder, _ = iris_run
    model = folder / "run" / "model.npz"
    text = (folder / "iris.csv").read_text().replace(",virginica\n", ",virginca\n", 1)
    (tmp_path / "typo.csv").write_text(text)
    proc = run("evaluate", model, "--dataset", tmp_path / "typo.csv", check=False)
    where, names = "typo.csv, line 4, column 5 ('species')", "'setosa', 'versicolor', 'virginica'"
    assert_one_line_error(proc, where, "unknown class 'virginca'", names)
    proc = run("explain", "--model", model, "--dataset", tmp_path / "typo.csv", check=False)
    assert_one_line_error(proc, "unknown class 'virginca'")
    # class names for a model trained on class indices
    (tmp_path / "named.csv").write_text("a,b,c,d,e,kind\n1,2,3,4,5,cat\n1,2,3,4,5,dog\n")
    proc = run("evaluate", blob_model, "--dataset", tmp_path / "named.csv", "--label-column",
               "kind", check=False)  # fmt: skip
    assert_one_line_error(
        proc, "named.csv: the labels are class names (cat, dog)", "no class names"
    )
    # and the other way round: class indices for a model of class names
    for k, name in enumerate(IRIS_NAMES):
        text = text.replace(f",{name}\n", f",{k}\n")
    (tmp_path / "indices.csv").write_text(text)
    proc = run("evaluate", model, "--dataset", tmp_path / "indices.csv", check=False)
    assert_one_line_error(proc, "indices.csv, line 2", "unknown class '0'", names)
    # too few outputs for the class names
    proc = run("train", "--dataset", folder / "iris.csv", *IRIS_FLAGS, "--layers", "4,8,2",
               "-o", tmp_path / "two", check=False)  # fmt: skip
    assert_one_line_error(proc, "ends with 2 outputs", "3 classes (setosa, versicolor, virginica)")
    assert not (tmp_path / "two").exists()


def test_a_run_on_class_names_resumes_with_the_same_classes(tmp_path):
    write_iris(tmp_path / "iris.csv")
    run("train", "--dataset", "iris.csv", *IRIS_FLAGS, "-o", "run", cwd=tmp_path)
    run("train", "--resume", "run", "--epochs", "3", "-q", cwd=tmp_path)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["classes"] == IRIS_NAMES and config["epochs"] == 3
    import chainrule

    assert chainrule.serialization.load_metadata(tmp_path / "run/model.npz")["classes"] == (
        IRIS_NAMES
    )
    # the run's classes number the labels: a new name is refused, not numbered anew
    text = (tmp_path / "iris.csv").read_text().replace(",setosa\n", ",arctica\n", 1)
    (tmp_path / "iris.csv").write_text(text)
    proc = run("train", "--resume", "run", "--epochs", "4", cwd=tmp_path, check=False)
    assert_one_line_error(proc, "iris.csv, line 2", "unknown class 'arctica'")


def test_a_model_whose_classes_are_numbers_reads_class_indices(blob_model, blobs, tmp_path):
    """Classes recorded as numbers (a scikit-learn classifier's classes_) are shown, but a
    file's labels stay class indices, as before."""
    import chainrule

    chainrule.save(chainrule.load(blob_model), tmp_path / "m.npz", metadata={"classes": [3, 5, 7]})
    summary = json.loads(run("evaluate", tmp_path / "m.npz", "--dataset", blobs / "blobs.npz",
                             "--json").stdout)  # fmt: skip
    assert summary["classes"] == ["3", "5", "7"] and summary["accuracy"] > 0.9
    assert "classes: 0 3, 1 5, 2 7" in run("info", tmp_path / "m.npz").stdout


# -- predict on CSV rows; evaluate and explain --model on the model's own held-out test set ---


def squeezed(text: str) -> str:
    """``text`` without whitespace: explain wraps its description, at spaces or hyphens."""
    return "".join(text.split())


def test_predict_reads_csv_feature_rows_with_or_without_a_header(iris_run, tmp_path):
    import chainrule
    from chainrule import datasets

    folder, centres = iris_run
    model = folder / "run" / "model.npz"
    rows = np.concatenate([centres, centres[::-1]])
    body = "\n".join(",".join(f"{v:.3f}" for v in row) for row in rows) + "\n"
    (tmp_path / "plain.csv").write_text(body)
    header = "sepal_length,sepal_width,petal_length,petal_width\n"
    (tmp_path / "headed.csv").write_text(header + "\n" + body)  # a blank line too
    x = datasets.load_csv_features(tmp_path / "plain.csv")
    expected = [IRIS_NAMES[k] for k in chainrule.load(model).predict(x)]
    assert len(set(expected)) == 3
    for name in ("plain.csv", "headed.csv"):
        lines = run("predict", model, tmp_path / name).stdout.splitlines()
        assert [line.split()[1] for line in lines] == expected
        assert lines[0].startswith(f"{tmp_path / name}[0]: {expected[0]}   top: {expected[0]} (")
    result = json.loads(run("predict", model, tmp_path / "headed.csv", "--json").stdout)
    assert [r["input"] for r in result] == [f"{tmp_path / 'headed.csv'}[{i}]" for i in range(6)]
    assert [r["prediction_name"] for r in result] == expected
    assert [IRIS_NAMES[r["prediction"]] for r in result] == expected  # the index stays
    # the values are used as they are: the same answers as for the same rows in a .npy file
    np.save(tmp_path / "rows.npy", x)
    as_npy = json.loads(run("predict", model, tmp_path / "rows.npy", "--json").stdout)
    assert [r["top"] for r in as_npy] == [r["top"] for r in result]
    # a file of one row is named as a .npy of one row is
    (tmp_path / "one.csv").write_text(body.splitlines()[0] + "\n")
    line = run("predict", model, tmp_path / "one.csv").stdout
    assert line.startswith(f"{tmp_path / 'one.csv'}: {expected[0]}   top:")
    # --json is a list however many rows there are: a script's loop needs no special case
    one = json.loads(run("predict", model, tmp_path / "one.csv", "--json").stdout)
    assert isinstance(one, list) and [r["prediction_name"] for r in one] == expected[:1]


def test_csv_feature_columns_are_checked_by_their_header_names(iris_run, tmp_path):
    """train records a CSV's feature names; a file whose header puts them in another order (or
    names others) is refused by evaluate, explain and predict instead of feeding each value to
    another feature's weights; a file without a header is used by position."""
    import chainrule

    folder, _ = iris_run
    model = folder / "run" / "model.npz"
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert chainrule.serialization.load_metadata(model)["feature_names"] == names
    assert f"features: {', '.join(names)}" in run("info", model).stdout
    lines = (folder / "iris.csv").read_text().splitlines()
    swapped = []  # the two sepal columns exchanged, in the header and in every row
    for line in lines:
        cells = line.split(",")
        swapped.append(",".join([cells[1], cells[0]] + cells[2:]))
    (tmp_path / "swapped.csv").write_text("\n".join(swapped) + "\n")
    order = "another order (sepal_width, sepal_length, petal_length, petal_width)"
    for args in (
        ["evaluate", model, "--dataset", tmp_path / "swapped.csv"],
        ["explain", "--model", model, "--dataset", tmp_path / "swapped.csv"],
        ["predict", model, tmp_path / "swapped.csv"],
        ["predict", model, tmp_path / "swapped.csv", "--label-column", "species"],
    ):
        proc = run(*args, check=False)
        assert_one_line_error(proc, "swapped.csv: its feature columns are in " + order, names[1])
    features = "\n".join(",".join(line.split(",")[:4]) for line in swapped) + "\n"
    (tmp_path / "rows.csv").write_text(features)  # predict's rows without the labels
    proc = run("predict", model, tmp_path / "rows.csv", check=False)
    assert_one_line_error(proc, "rows.csv: its feature columns are in " + order)
    # a name of the model's in another column, beside a name of the user's: refused too
    shifted = "\n".join(["x,sepal_length,y,z,species"] + lines[1:]) + "\n"
    (tmp_path / "shifted.csv").write_text(shifted)
    proc = run("evaluate", model, "--dataset", tmp_path / "shifted.csv", check=False)
    assert_one_line_error(
        proc, "shifted.csv: its feature columns (x, sepal_length, y, z) do not line up with",
        "sepal_length in another column",
    )  # fmt: skip
    # names of the user's own (none of the model's out of place) and no header at all: the
    # columns are read by position, as in the model's own file
    whole = json.loads(run("evaluate", model, "--dataset", folder / "iris.csv", "--json").stdout)
    own = "\n".join(["sepal_len" + lines[0][len("sepal_length") :]] + lines[1:]) + "\n"
    (tmp_path / "own.csv").write_text(own)
    proc = run("evaluate", model, "--dataset", tmp_path / "own.csv", "--json")
    assert json.loads(proc.stdout) == whole
    assert "note: " in proc.stderr and "they are read by position" in proc.stderr
    (tmp_path / "plain.csv").write_text("\n".join(lines[1:]) + "\n")
    proc = run("evaluate", model, "--dataset", tmp_path / "plain.csv", "--label-column", "4",
               "--json")  # fmt: skip
    assert json.loads(proc.stdout) == whole and proc.stderr == ""
    # names are compared as a spreadsheet user means them: case and spaces aside
    (tmp_path / "caps.csv").write_text(" Sepal_Length,SEPAL_WIDTH" + own[len("sepal_len") + 12 :])
    proc = run("evaluate", model, "--dataset", tmp_path / "caps.csv", "--json")
    assert json.loads(proc.stdout) == whole and proc.stderr == ""
    (tmp_path / "caps_swapped.csv").write_text("Sepal_Width,Sepal_Length" + swapped[0][24:] + "\n"
                                               + "\n".join(swapped[1:]) + "\n")  # fmt: skip
    proc = run("evaluate", model, "--dataset", tmp_path / "caps_swapped.csv", check=False)
    assert_one_line_error(proc, "caps_swapped.csv: its feature columns are in another order")


def test_predict_drops_a_csv_label_column(iris_run, blob_model, blobs, tmp_path):
    """A file of one column more than the model's inputs still holds its label column: the
    model's recorded one (by name or index, default the first) or --label-column's, dropped."""
    import chainrule
    from chainrule import datasets

    folder, _ = iris_run
    model, csv = folder / "run" / "model.npz", folder / "iris.csv"
    x, y, _ = datasets.load_csv(csv, label_column="species", return_classes=True)
    expected = chainrule.load(model).predict(x).tolist()
    assert np.mean(np.array(expected) == y) > 0.9
    # the training file itself: its column 'species', recorded by name, is dropped
    assert predictions(model, csv) == expected
    # the labels first, without a header: the recorded name cannot be found, --label-column can
    lines = [line.rsplit(",", 1) for line in csv.read_text().splitlines()[1:]]
    (tmp_path / "first.csv").write_text("".join(f"{label},{row}\n" for row, label in lines))
    assert predictions(model, tmp_path / "first.csv", "--label-column", "0") == expected
    proc = run("predict", model, tmp_path / "first.csv", check=False)
    assert_one_line_error(proc, "first.csv, line 1: missing label column", "'species' as in "
                          "training; name it with --label-column")  # fmt: skip
    # --label-column says the file has one: a file of the model's 4 inputs then has 3 features
    (tmp_path / "four.csv").write_text("".join(f"{row}\n" for row, _ in lines))
    proc = run("predict", model, tmp_path / "four.csv", "--label-column", "0", check=False)
    assert_one_line_error(proc, "takes 4 inputs but", "four.csv has 3 feature columns besides "
                          "its label column (--label-column 0)")  # fmt: skip
    # a model trained on class indices (blobs.npz, label column 0): blobs.csv's first column
    xb, yb = datasets.load_csv(blobs / "blobs.csv")
    predicted = predictions(blob_model, blobs / "blobs.csv")
    assert predicted == chainrule.load(blob_model).predict(xb).tolist()
    assert np.mean(np.array(predicted) == yb) > 0.9


def test_predict_a_single_csv_row_that_still_holds_its_class_name(iris_run, tmp_path):
    """One row of numbers and its class name is a row to classify, not a header above none."""
    folder, _ = iris_run
    model, csv = folder / "run" / "model.npz", folder / "iris.csv"
    row = csv.read_text().splitlines()[1]
    (tmp_path / "one.csv").write_text(row + "\r\n")
    (tmp_path / "two.csv").write_text(row + "\n" + row + "\n")
    (expected,) = predictions(model, tmp_path / "one.csv", "--label-column", "-1")
    assert predictions(model, tmp_path / "two.csv", "--label-column", "-1") == [expected] * 2


def test_predict_csv_mistakes_are_one_line(iris_run, tmp_path):
    folder, _ = iris_run
    model = folder / "run" / "model.npz"
    cases = {
        "three.csv": (
            "1,2,3\n4,5,6\n",
            "three.csv, line 1: 3 columns, expected 4 (the features) "
            "or 5 (the features and a label column)",
        ),  # fmt: skip
        "six.csv": ("1,2,3,4,5,6\n", "six.csv, line 1: 6 columns, expected 4"),
        "bad.csv": (
            "a,b,c,d\n1,2,3,4\n5,x,7,8\n",
            "bad.csv, line 3, column 2 ('b'): not a number: 'x'",
        ),  # fmt: skip
        "gap.csv": ("1,2,3,4\n5,,7,8\n", "gap.csv, line 2, column 2: empty cell"),
        "na.csv": (
            "a,b,c,d,species\n1,2,3,4,setosa\n5,6,NA,8,\n",
            "na.csv, line 3, column 3 ('c'): missing value 'NA'",
        ),  # fmt: skip
        "semi.csv": ("1;2;3;4\n", "1 column, expected 4", "separated by ';', not ','?"),
    }
    for name, (text, *fragments) in cases.items():
        (tmp_path / name).write_text(text)
        assert_one_line_error(run("predict", model, tmp_path / name, check=False), *fragments)
    # the label column's cells are not read: an empty one is fine
    (tmp_path / "unlabelled.csv").write_text("a,b,c,d,species\n1,2,3,4,setosa\n5,6,7,8,\n")
    assert len(predictions(model, tmp_path / "unlabelled.csv")) == 2
    np.save(tmp_path / "rows.npy", np.ones((2, 4), np.float32))
    proc = run("predict", model, tmp_path / "rows.npy", "--label-column", "1", check=False)
    assert_one_line_error(proc, "--label-column 1", "no input is a .csv file")


def test_evaluate_and_explain_default_to_the_models_held_out_test_set(iris_run, blob_model):
    """Without --dataset, a model trained on a file is evaluated on the 10% train held out:
    the same examples, so the same summary as the run's test_metrics.json."""
    from chainrule import datasets

    folder, _ = iris_run
    model, csv = folder / "run" / "model.npz", folder / "iris.csv"
    trained = json.loads((folder / "run" / "test_metrics.json").read_text())
    assert trained["n_examples"] == 6
    proc = run("evaluate", model, "--json")
    assert json.loads(proc.stdout) == trained  # accuracy, n_examples, confusion matrix, classes
    used = f"data: {csv}, the 10% held out as test set at training (seed 0): 6 examples"
    assert proc.stderr.strip() == used  # stdout is the JSON object alone
    text = run("evaluate", model).stdout.splitlines()
    assert text[0] == used and text[1] == f"accuracy: {trained['accuracy']:.4f} on 6 examples"
    rest = run("evaluate", model, "--split", "train")
    assert "the 90% not held out as test set at training (seed 0): 54 examples" in rest.stdout
    assert "on 54 examples" in rest.stdout
    whole = run("evaluate", model, "--dataset", csv)  # a file given is evaluated whole
    assert "on 60 examples" in whole.stdout and "data:" not in whole.stdout + whole.stderr
    # a model trained on an .npz file too
    blob_trained = json.loads((blob_model.parent / "test_metrics.json").read_text())
    assert blob_trained["n_examples"] == 30
    assert json.loads(run("evaluate", blob_model, "--json").stdout) == blob_trained
    # explain --model: --index counts the test examples, and the file's row is named
    _, y, _ = datasets.load_csv(csv, label_column="species", return_classes=True)
    _, _, test_rows, _ = datasets.train_val_split(np.arange(60), y, val_fraction=0.1, seed=0)
    r = int(test_rows[2])
    default = run("explain", "--model", model, "--index", "2").stdout
    assert squeezed(
        f"{csv} row {r} (label {y[r]} {IRIS_NAMES[y[r]]}), test example 2 of the 6 in the 10% "
        "held out as test set at training (seed 0)."
    ) in squeezed(default)
    by_row = run("explain", "--model", model, "--dataset", csv, "--index", r).stdout
    assert squeezed(f"iris.csv row {r} (label {y[r]}") in squeezed(by_row)
    after = "Layers are numbered"  # the same example: the same numbers
    assert default.split(after)[1] == by_row.split(after)[1]
    assert_one_line_error(run("explain", "--model", model, "--index", "6", check=False),
                          "--index must be in [0, 5], got 6")  # fmt: skip
    assert_one_line_error(run("explain", "--model", model, "--batch", "7", check=False),
                          f"--batch 7: {csv} has 6 test examples; give at most that")  # fmt: skip
    assert_one_line_error(
        run("explain", "--model", model, "--dataset", csv, "--batch", "61", check=False),
        "--batch 61: ", "iris.csv has 60 examples",
    )  # fmt: skip


def test_the_default_test_set_follows_the_seed_not_the_subset(tmp_path):
    from chainrule import datasets

    write_iris(tmp_path / "iris.csv")
    run("train", "--dataset", "iris.csv", *IRIS_FLAGS, "--seed", "3", "--subset", "20",
        "-o", "run", cwd=tmp_path)  # fmt: skip
    trained = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
    evaluated = run("evaluate", "run/model.npz", "--json", cwd=tmp_path)
    assert json.loads(evaluated.stdout) == trained and trained["n_examples"] == 6
    assert "(seed 3): 6 examples" in evaluated.stderr
    _, y, _ = datasets.load_csv(tmp_path / "iris.csv", label_column="species", return_classes=True)
    rows = {s: datasets.train_val_split(np.arange(60), y, 0.1, seed=s)[2] for s in (0, 3)}
    assert rows[0][0] != rows[3][0]
    text = run("explain", "--model", "run/model.npz", cwd=tmp_path).stdout
    assert squeezed(f"iris.csv row {rows[3][0]} (label") in squeezed(text)


def test_a_moved_or_changed_training_file_asks_for_dataset(tmp_path):
    """The test set is found again only from the same file: a file that is gone, or whose
    held-out rows are not those of training, is a one-line error asking for --dataset; an edit
    of a training row leaves the test set, and so the evaluation, the same."""
    import chainrule
    from chainrule import datasets

    csv = tmp_path / "iris.csv"
    write_iris(csv)
    run("train", "--dataset", csv, *IRIS_FLAGS, "-o", tmp_path / "run")
    model = tmp_path / "run" / "model.npz"
    trained = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
    original = csv.read_text()
    lines = original.splitlines()
    _, y, _ = datasets.load_csv(csv, label_column="species", return_classes=True)
    train_rows, _, test_rows, _ = datasets.train_val_split(np.arange(60), y, 0.1, seed=0)

    def edited(row: int) -> str:
        new = list(lines)
        new[1 + row] = "0.0," + new[1 + row].split(",", 1)[1]  # its first feature
        return "\n".join(new) + "\n"

    csv.write_text(edited(int(train_rows[0])))
    assert json.loads(run("evaluate", model, "--json").stdout) == trained
    changed = f"{csv} has changed since the model {model} was trained on it"
    ask = "give the data to evaluate with --dataset FILE"
    csv.write_text(edited(int(test_rows[0])))
    for command in (["evaluate", model], ["explain", "--model", model]):
        proc = run(*command, check=False)
        assert_one_line_error(
            proc, changed, "holds out as test set (seed 0) differ from those of training", ask
        )
    csv.write_text("\n".join(lines[:-1]) + "\n")  # a row fewer
    proc = run("evaluate", model, check=False)
    assert_one_line_error(proc, changed, "it has 59 examples, 60 at training", ask)
    csv.write_text(original.replace(",setosa\n", ",Setosa\n", 1))  # a class renamed
    proc = run("evaluate", model, check=False)
    assert_one_line_error(proc, changed, "unknown class 'Setosa'", ask)
    csv.write_text(original)
    csv.rename(tmp_path / "moved.csv")
    for command in (["evaluate", model], ["explain", "--model", model]):
        proc = run(*command, check=False)
        assert_one_line_error(proc, f"trained on {csv}, which no longer exists", ask)
    whole = run("evaluate", model, "--dataset", tmp_path / "moved.csv", "--json").stdout
    assert json.loads(whole)["n_examples"] == 60
    proc = run("evaluate", model, "--label-column", "species", check=False)
    assert_one_line_error(proc, "--label-column species: without --dataset", "--dataset FILE")
    # a model without the test set's digest (written before train recorded it) is checked less
    csv.write_text(original)
    meta = chainrule.serialization.load_metadata(model)
    assert meta["test_split"]["n_test"] == 6 and meta["test_split"]["seed"] == 0
    older = {key: meta[key] for key in ("training_config", "final_metrics", "classes")}
    chainrule.save(chainrule.load(model), tmp_path / "older.npz", metadata=older)
    proc = run("evaluate", tmp_path / "older.npz", "--json")
    assert json.loads(proc.stdout) == trained
    assert "note: the model records no digest of its test set" in proc.stderr


def test_models_trained_on_mnist_still_default_to_the_mnist_test_set(mnist_run):
    import chainrule

    out, _ = mnist_run
    model = out / "model.npz"
    assert "test_split" not in chainrule.serialization.load_metadata(model)
    proc = run("evaluate", model)
    assert proc.stdout.startswith("accuracy:") and "on 10000 examples" in proc.stdout
    assert "data:" not in proc.stderr
    proc = run("evaluate", model, "--label-column", "2", check=False)
    assert_one_line_error(proc, "--label-column 2", "mnist is not a .csv file")


# -- the cell separator of .csv files (--delimiter) ---------------------------------------------


def with_separator(source: Path, target: Path, sep: str) -> Path:
    """A copy of a comma-separated file (no quoted cells) with its cells separated by ``sep``."""
    target.write_text(source.read_text().replace(",", sep))
    return target


@pytest.fixture(scope="module")
def semicolon_run(blobs, tmp_path_factory):
    """The blobs as a ';'-separated file, and a model trained on it with --delimiter ';'."""
    folder = tmp_path_factory.mktemp("semicolon")
    csv = with_separator(blobs / "blobs.csv", folder / "semi.csv", ";")
    run("train", "--dataset", csv, "--delimiter", ";", *BLOB_FLAGS, "--epochs", "5",
        "--checkpoint-every", "1", "-o", folder / "run", "-q")  # fmt: skip
    return folder


def test_a_semicolon_model_reads_its_files_without_the_flag_again(semicolon_run, blobs):
    import chainrule

    folder = semicolon_run
    csv, model = folder / "semi.csv", folder / "run" / "model.npz"
    assert json.loads((folder / "run" / "config.json").read_text())["delimiter"] == ";"
    meta = chainrule.serialization.load_metadata(model)
    assert meta["training_config"]["delimiter"] == ";"
    trained = json.loads((folder / "run" / "test_metrics.json").read_text())
    assert json.loads(run("evaluate", model, "--json").stdout) == trained  # its own test set
    whole = json.loads(run("evaluate", model, "--dataset", csv, "--json").stdout)
    assert whole["n_examples"] == 300 and whole["accuracy"] > 0.9
    # another separator for another file, given with --delimiter
    by_comma = run("evaluate", model, "--dataset", blobs / "blobs.csv", "--delimiter", ",",
                   "--json").stdout  # fmt: skip
    assert json.loads(by_comma) == whole
    x = np.load(blobs / "blobs.npz")["x"][:4]
    rows = folder / "rows.csv"
    rows.write_text("\n".join(";".join(f"{v:.5f}" for v in row) for row in x) + "\n")
    expected = chainrule.load(model).predict(x).tolist()
    assert predictions(model, rows) == expected
    labelled = folder / "labelled.csv"  # one column more: the label column, dropped
    labelled.write_text("\n".join(";".join(["1"] + [f"{v:.5f}" for v in r]) for r in x) + "\n")
    assert predictions(model, labelled) == expected
    text = run("explain", "--model", model, "--index", "1").stdout
    assert "semi.csv" in text and squeezed("test example 1 of the 30") in squeezed(text)
    text = run("explain", "--model", model, "--dataset", csv, "--index", "3").stdout
    assert squeezed("semi.csv row 3 (label") in squeezed(text)


def test_tab_is_given_by_name_or_as_backslash_t(blobs, tmp_path):
    tsv = with_separator(blobs / "blobs.csv", tmp_path / "blobs.csv", "\t")
    for i, flag in enumerate(("tab", "\\t")):
        out = tmp_path / f"run{i}"
        proc = run("train", "--dataset", tsv, "--delimiter", flag, *BLOB_FLAGS, "--epochs", "5",
                   "-o", out, "-q")  # fmt: skip
        assert float(proc.stdout.split("test accuracy:")[1].split()[0]) > 0.9
        assert json.loads((out / "config.json").read_text())["delimiter"] == "\t"
    summary = json.loads(run("evaluate", out / "model.npz", "--dataset", tsv, "--json").stdout)
    assert summary["n_examples"] == 300 and summary["accuracy"] > 0.9


def test_a_file_read_with_the_wrong_separator_names_the_flag(semicolon_run, blobs, tmp_path):
    from chainrule import datasets

    model = semicolon_run / "run" / "model.npz"
    proc = run("train", "--dataset", semicolon_run / "semi.csv", *BLOB_FLAGS,
               "-o", tmp_path / "no", check=False)  # fmt: skip
    assert_one_line_error(proc, "separated by ';', not ','?", "give --delimiter ';'")
    proc = run("train", "--dataset", blobs / "blobs.csv", "--delimiter", ";", *BLOB_FLAGS,
               "-o", tmp_path / "no", check=False)  # fmt: skip
    assert_one_line_error(proc, "separated by ',', not ';'?", "give --delimiter ','")
    assert not (tmp_path / "no").exists()
    # the ';' model reads a comma-separated file with its ';' unless told otherwise
    proc = run("evaluate", model, "--dataset", blobs / "blobs.csv", check=False)
    assert_one_line_error(proc, "give --delimiter ','")
    rows = tmp_path / "rows.csv"
    rows.write_text("1.0,2.0,3.0,4.0,5.0\n")
    assert_one_line_error(run("predict", model, rows, check=False), "give --delimiter ','")
    tsv = with_separator(blobs / "blobs.csv", tmp_path / "tabs.csv", "\t")
    proc = run("train", "--dataset", tsv, *BLOB_FLAGS, "-o", tmp_path / "no", check=False)
    assert_one_line_error(proc, "give --delimiter tab")
    with pytest.raises(datasets.DatasetError) as info:  # the library's message stays its own
        datasets.load_csv(semicolon_run / "semi.csv")
    assert "separated by ';'" in str(info.value) and "--delimiter" not in str(info.value)


def test_delimiter_is_refused_where_it_means_nothing(blobs, blob_model, semicolon_run, tmp_path):
    for args, fragments in (
        (["train", "--dataset", blobs / "blobs.npz", "--delimiter", ";", "-o", tmp_path / "no"],
         ["--delimiter ';'", "blobs.npz is an .npz file"]),
        (["train", "--delimiter", "tab", "-o", tmp_path / "no"],
         ["--delimiter tab", "mnist is not a .csv file"]),
        (["evaluate", blob_model, "--dataset", blobs / "blobs.npz", "--delimiter", ";"],
         ["--delimiter ';'", "an .npz file"]),
        (["evaluate", blob_model, "--delimiter", ";"], ["--delimiter ';'", "an .npz file"]),
        (["explain", "--model", blob_model, "--delimiter", ";"], ["an .npz file"]),
        (["explain", "--delimiter", ";"], ["--delimiter goes with --model"]),
        (["predict", blob_model, blobs / "blobs.npz", "--delimiter", ";"], ["no input is a .csv"]),
        (["train", "--delimiter", ";;"], ["argument --delimiter", "got ';;'"]),
        (["train", "--delimiter", ""], ["argument --delimiter", "got ''"]),
        (["evaluate", blob_model, "--delimiter", '"'], ["argument --delimiter", "one character"]),
    ):  # fmt: skip
        assert_one_line_error(run(*args, check=False), *fragments)
    (tmp_path / "bad.toml").write_text('delimiter = ";;"\n')
    proc = run("train", "--config", tmp_path / "bad.toml", "-o", tmp_path / "no", check=False)
    assert_one_line_error(proc, "bad.toml: delimiter:", "got ';;'")
    assert not (tmp_path / "no").exists()


def test_the_toml_key_and_a_resumed_run_keep_the_delimiter(semicolon_run, tmp_path):
    csv = semicolon_run / "semi.csv"
    (tmp_path / "run.toml").write_text(f'dataset = "{csv}"\ndelimiter = ";"\n')
    proc = run("train", "--config", tmp_path / "run.toml", *BLOB_FLAGS, "--epochs", "5",
               "-o", tmp_path / "toml", "-q")  # fmt: skip
    assert float(proc.stdout.split("test accuracy:")[1].split()[0]) > 0.9
    assert json.loads((tmp_path / "toml" / "config.json").read_text())["delimiter"] == ";"
    ckpt = semicolon_run / "run" / "checkpoints" / "epoch-0003.npz"
    proc = run("train", "--resume", ckpt, "-o", tmp_path / "resumed", "-q")
    assert "test accuracy" in proc.stdout
    assert json.loads((tmp_path / "resumed" / "config.json").read_text())["delimiter"] == ";"
    a = np.load(semicolon_run / "run" / "model.npz")
    b = np.load(tmp_path / "resumed" / "model.npz")
    for key in a.files:  # the same data read the same way: the same weights
        if key != "__metadata__":
            np.testing.assert_array_equal(a[key], b[key])
    run("train", "--resume", ckpt, "--delimiter", ";", "-o", tmp_path / "same", "-q")
    proc = run("train", "--resume", ckpt, "--delimiter", ",", "-o", tmp_path / "c", check=False)
    assert_one_line_error(proc, "--delimiter ','", "cells separated by ';'", "keeps its data")
    assert not (tmp_path / "c").exists()


def test_a_model_without_data_of_its_own_asks_for_a_dataset_that_fits(tmp_path):
    import chainrule

    chainrule.save(chainrule.Network.from_sizes([2, 3, 2], seed=0), tmp_path / "n2.npz")
    for command in (["evaluate"], ["explain", "--model"], ["trace", "--model"]):
        assert_one_line_error(
            run(*command, tmp_path / "n2.npz", check=False),
            "the model takes 2 inputs but mnist has 784 features per example (the default: the "
            "model records no data file of its own); give --dataset FILE, data of 2 features",
        )
    proc = run("evaluate", tmp_path / "n2.npz", "--dataset", "mnist", check=False)
    assert_one_line_error(proc, "mnist has 784 features per example")
    assert "the default" not in proc.stderr  # given: nothing to say about a default


def test_predict_and_evaluate_note_a_row_index_read_as_a_feature(tmp_path):
    """A model trained on a file without a header records no names to check columns by: a
    row index that pandas wrote into the file to read is used as a feature, and said so."""
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(100, 3)).round(3)
    labels = (rows[:, 0] + rows[:, 1] > 0).astype(int)
    (tmp_path / "plain.csv").write_text(
        "".join(f"{k},{a},{b},{c}\n" for k, (a, b, c) in zip(labels, rows))
    )
    run("train", "--dataset", tmp_path / "plain.csv", "--epochs", "1", "-o", tmp_path / "m", "-q")
    (tmp_path / "rows.csv").write_text(
        ",a,b\n" + "".join(f"{i},{a},{b}\n" for i, (a, b, _) in enumerate(rows[:20]))
    )
    proc = run("predict", tmp_path / "m", tmp_path / "rows.csv")
    note = (
        "note: " + str(tmp_path / "rows.csv") + ": column 1 has no name in the header and holds "
        "20 different whole numbers (0, 1, 2, ...): a row index (pandas' to_csv writes one "
        "unless index=False), read as a feature"
    )
    assert note in proc.stderr and "Warning" not in proc.stderr
    (tmp_path / "labelled.csv").write_text(
        "label,,b,c\n"
        + "".join(f"{k},{i},{b},{c}\n" for i, (k, (_, b, c)) in enumerate(zip(labels, rows)))
    )
    proc = run("evaluate", tmp_path / "m", "--dataset", tmp_path / "labelled.csv")
    assert "holds 100 different whole numbers" in proc.stderr and "accuracy" in proc.stdout


def test_a_subset_larger_than_the_data_is_noted(blobs, tmp_path):
    proc = run("train", "--dataset", blobs / "blobs.npz", "--layers", "5,8,3", "--subset",
               "100000", "--epochs", "1", "-o", tmp_path / "run", "-q")  # fmt: skip
    assert "note: --subset 100000: " in proc.stderr and "all of them used" in proc.stderr
    proc = run("train", "--dataset", blobs / "blobs.npz", "--layers", "5,8,3", "--subset", "50",
               "--epochs", "1", "-o", tmp_path / "small", "-q")  # fmt: skip
    assert "--subset" not in proc.stderr


@pytest.fixture(scope="module")
def rare_class(tmp_path_factory):
    """A CSV of 600 examples where class 1 is 8.5% of them (a corner of the plane)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 3))
    y = (x[:, 0] + x[:, 1] > 1.8).astype(int)
    path = tmp_path_factory.mktemp("rare") / "rare.csv"
    rows = "".join(f"{label},{a:.6f},{b:.6f},{c:.6f}\n" for label, (a, b, c) in zip(y, x))
    path.write_text("label,a,b,c\n" + rows)
    return path


def test_class_weight_balanced_finds_the_rare_class(rare_class, tmp_path):
    """--class-weight balanced: the rare class's examples weigh as much in all as the common
    one's; its recall rises, the balanced accuracy is reported (train, evaluate, JSON), and
    the setting is recorded for evaluate and resume."""
    plain = run("train", "--dataset", rare_class, "-o", tmp_path / "plain", "-q")
    assert "balanced accuracy" not in plain.stdout
    assert "rare classes: --class-weight balanced?" in plain.stderr  # 0.9167 most common
    proc = run("train", "--dataset", rare_class, "-o", tmp_path / "weighted", "-q",
               "--class-weight", "balanced")  # fmt: skip
    line = next(x for x in proc.stdout.splitlines() if x.startswith("balanced accuracy: "))
    balanced = float(line.split()[2])
    recalls = {
        name: json.loads((tmp_path / name / "test_metrics.json").read_text())["recall"]
        for name in ("plain", "weighted")
    }
    assert recalls["weighted"][1] > recalls["plain"][1]  # the rare class: found more often
    weighted = json.loads((tmp_path / "weighted" / "test_metrics.json").read_text())
    assert weighted["balanced_accuracy"] == pytest.approx(np.mean(weighted["recall"]), abs=1e-6)
    assert balanced == pytest.approx(weighted["balanced_accuracy"], abs=1e-4)
    assert balanced > 0.8
    config = json.loads((tmp_path / "weighted" / "config.json").read_text())
    assert config["class_weight"] == "balanced"
    shown = run("evaluate", tmp_path / "weighted")
    assert f"balanced accuracy: {balanced:.4f} (the mean of the per-class recalls)" in shown.stdout
    as_json = json.loads(run("evaluate", tmp_path / "weighted", "--json").stdout)
    assert as_json["balanced_accuracy"] == pytest.approx(balanced, abs=1e-4)
    assert "balanced" not in run("evaluate", tmp_path / "plain").stdout
    # a resumed run keeps its weights: refused if asked otherwise, continued if not
    proc = run("train", "--resume", tmp_path / "weighted", "--class-weight", "none",
               "--epochs", "20", check=False)  # fmt: skip
    assert_one_line_error(proc, "--class-weight none: the checkpoint", "was trained with "
                          "--class-weight balanced (a resumed run keeps its weights)")  # fmt: skip
    epochs = config["epochs"]
    proc = run("train", "--resume", tmp_path / "weighted", "--epochs", epochs + 1, "-q")
    assert "balanced accuracy: " in proc.stdout


def test_class_weight_balanced_weights_and_bad_values(rare_class, tmp_path):
    from chainrule.cli import _balanced_accuracy, _balanced_weights

    y = np.array([0, 0, 0, 1, 2, 2])
    w = _balanced_weights(y, 4)  # class 3 absent: 3 classes present
    np.testing.assert_allclose(w, [2 / 3, 2 / 3, 2 / 3, 2, 1, 1])
    assert [w[y == k].sum() for k in range(3)] == pytest.approx([2, 2, 2])  # n / k each
    from chainrule import training
    from chainrule.cli import _split_balanced_weights

    labels = np.r_[np.ones(20, int), np.zeros(340, int)]  # 6% of class 1
    w = _split_balanced_weights(labels, 2, 0.2, 7)
    for part in training.validation_rows(360, 0.2, 7):  # as fit splits them
        totals = np.bincount(labels[part], weights=w[part])
        assert totals[0] == pytest.approx(totals[1]) and totals.sum() == pytest.approx(len(part))
    np.testing.assert_array_equal(_split_balanced_weights(labels, 2, 0.0, 7),
                                  _balanced_weights(labels, 2))  # fmt: skip
    assert _balanced_accuracy([[3, 1], [0, 0]]) == 0.75  # a class without examples: left out
    assert _balanced_accuracy([[3, 1], [1, 1]]) == pytest.approx((0.75 + 0.5) / 2)
    proc = run("train", "--dataset", rare_class, "--class-weight", "bogus", "-o", tmp_path / "x",
               check=False)  # fmt: skip
    assert "--class-weight: expected none or balanced, got 'bogus'" in proc.stderr
    (tmp_path / "bad.toml").write_text("class_weight = 1\n")
    proc = run("train", "--dataset", rare_class, "--config", tmp_path / "bad.toml", "-o",
               tmp_path / "x", check=False)  # fmt: skip
    assert_one_line_error(proc, "bad.toml: class_weight: expected a string, got 1")
    (tmp_path / "good.toml").write_text('class_weight = "balanced"\n')
    proc = run("train", "--dataset", rare_class, "--config", tmp_path / "good.toml", "-o",
               tmp_path / "toml", "-q")  # fmt: skip
    assert "balanced accuracy: " in proc.stdout


def test_class_weight_counts_at_batch_size_1_and_a_one_class_test_set_is_named(
    rare_class, tmp_path
):
    """--class-weight divides each batch by its size (fit's weight_normalization="dataset"):
    even one example per update is weighted (a batch's own total weight would cancel it).
    A test set of one class gets a note saying so, not 'no better than the most common'."""
    from chainrule import load

    runs = {}
    for weighting in ("none", "balanced"):
        run("train", "--dataset", rare_class, "--batch-size", 1, "--epochs", 1, "-q",
            "--class-weight", weighting, "-o", tmp_path / weighting)  # fmt: skip
        runs[weighting] = load(tmp_path / weighting / "model.npz").parameter_vector
    assert not np.array_equal(runs["none"], runs["balanced"])
    proc = run("train", "--dataset", rare_class, "--class-weight", "balanced", "-o",
               tmp_path / "noted", "-q")  # fmt: skip
    assert "note: --class-weight balanced: the loss and accuracy of the epoch table" in proc.stderr
    lines = rare_class.read_text().splitlines()
    rows = [line for line in lines[1:] if line.startswith("0,")][:400]
    few = [line for line in lines[1:] if line.startswith("1,")][:2]
    (tmp_path / "two.csv").write_text("\n".join([lines[0], *few, *rows]) + "\n")
    proc = run("train", "--dataset", tmp_path / "two.csv", "-o", tmp_path / "two", "-q")
    held_out = json.loads((tmp_path / "two" / "test_metrics.json").read_text())
    assert held_out["confusion_matrix"][1] == [0, 0]  # no example of class 1 held out
    assert "every example of the test set is of class 0: its accuracy says nothing" in proc.stderr
    assert "no better than always answering" not in proc.stderr


def test_class_weight_notes_for_a_network_that_answers_one_class(tmp_path):
    """Features that are all the same: the network answers one class for every row. With
    --class-weight balanced its balanced accuracy is exactly chance (1/2), which the note
    names; without, a most common class of exactly 75% of the test set gets the hint."""
    rows = [0] * 300 + [1] * 100
    np.random.default_rng(0).shuffle(rows)
    path = tmp_path / "constant.csv"
    path.write_text("label,a,b\n" + "".join(f"{label},1.0,2.0\n" for label in rows))
    proc = run("train", "--dataset", path, "--class-weight", "balanced", "--epochs", "2",
               "-o", tmp_path / "balanced", "-q")  # fmt: skip
    assert "balanced accuracy: 0.5000 (the mean of the per-class recalls)" in proc.stdout
    assert "note: that is no better than always answering one class (0.5000)" in proc.stderr
    proc = run("train", "--dataset", path, "--epochs", "2", "-o", tmp_path / "plain", "-q")
    assert "(0.7500 of the test examples)" in proc.stderr  # the test split keeps 3 to 1
    assert "rare classes: --class-weight balanced?" in proc.stderr


@pytest.fixture(scope="module")
def weighted_csv(tmp_path_factory):
    """400 rows of two classes (x_a > 0 is class 1) and a weight column between the
    features: class 0's rows weigh 0.5 to 2, class 1's rows weigh 0."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] > 0).astype(int)
    w = np.where(y == 1, 0.0, rng.uniform(0.5, 2, size=400))
    path = tmp_path_factory.mktemp("weighted") / "weighted.csv"
    rows = "".join(f"{c},{a:.5f},{v:.4f},{b:.5f}\n" for c, (a, b), v in zip(y, x, w))
    path.write_text("label,a,w,b\n" + rows)
    return path


@pytest.fixture(scope="module")
def weighted_runs(weighted_csv, tmp_path_factory):
    """Runs on ``weighted_csv``: its weights by name and by index, and none (w a feature)."""
    out = tmp_path_factory.mktemp("weighted_runs")
    procs = {}
    for name, extra in (("name", ["--weight-column", "w"]), ("index", ["--weight-column", "2"]),
                        ("plain", [])):  # fmt: skip
        procs[name] = run("train", "--dataset", weighted_csv, *extra, "-o", out / name, "-q")
    return out, procs


def test_weight_column_by_name_or_index_weighs_the_examples(weighted_runs):
    """--weight-column: the column is no feature; a class of weight 0 is ignored (its recall
    0, where the plain run finds it); by name or by index the same run; the weighted test
    accuracy is reported and recorded beside the plain one."""
    from chainrule.serialization import load_metadata

    out, procs = weighted_runs
    metrics = {k: json.loads((out / k / "test_metrics.json").read_text()) for k in procs}
    assert metrics["plain"]["recall"][1] > 0.9
    assert metrics["name"]["recall"] == [1.0, 0.0]  # class 1 weighs nothing: never answered
    assert metrics["name"]["weighted_accuracy"] == pytest.approx(1.0)
    assert "weighted_accuracy" not in metrics["plain"]
    a, b = np.load(out / "name/model.npz"), np.load(out / "index/model.npz")
    for key in a.files:
        if key != "__metadata__":
            np.testing.assert_array_equal(a[key], b[key])
    meta = load_metadata(out / "name/model.npz")
    assert meta["feature_names"] == ["a", "b"]
    assert meta["training_config"]["weight_column"] == "w"
    assert meta["final_metrics"]["weighted_test_accuracy"] == pytest.approx(1.0)
    assert json.loads((out / "index/config.json").read_text())["weight_column"] == 2
    assert json.loads((out / "plain/config.json").read_text())["weight_column"] is None
    assert "weighted test accuracy: 1.0000 (each example weighted by its weight in column " \
        "'w')" in procs["name"].stdout  # fmt: skip
    assert "note: --weight-column w: the loss and accuracy" in procs["name"].stderr
    assert "weighted test accuracy" not in procs["plain"].stdout
    help_text = squeezed(run("train", "--help").stdout)
    assert "--weight-columnCOLUMN" in help_text and "multiplied" in help_text


def test_weight_column_mistakes_are_one_line(weighted_csv, blobs, tmp_path):
    lines = weighted_csv.read_text().splitlines()

    def edited(name, line, value):
        cells = lines[line - 1].split(",")
        cells[2] = value
        path = tmp_path / name
        path.write_text("\n".join(lines[: line - 1] + [",".join(cells)] + lines[line:]) + "\n")
        return path

    zero = tmp_path / "zero.csv"
    zero.write_text("\n".join(lines[:1] + [",".join(r.split(",")[:2] + ["0"] + r.split(",")[3:])
                                           for r in lines[1:]]) + "\n")  # fmt: skip
    npz = tmp_path / "weights.npz"
    np.savez(npz, x=np.ones((10, 2)), y=np.arange(10) % 2, w=-np.ones(10))
    data = ["--dataset", weighted_csv]
    for args, fragments in (
        ([*data, "--weight-column", "weight"], ["--weight-column weight:", "no column named "
                                                "'weight'", "(columns: label, a, w, b)"]),
        ([*data, "--weight-column", "label"], ["that is the label column", "--label-column 0"]),
        ([*data, "--weight-column", "0"], ["--weight-column 0: that is the label column"]),
        ([*data, "--weight-column", "7"], ["--weight-column 7: out of range for the 4 columns"]),
        (["--dataset", edited("neg.csv", 6, "-1.5"), "--weight-column", "w"],
         ["neg.csv, line 6, column 3 ('w'): a weight must be >= 0, got -1.5"]),
        (["--dataset", edited("nan.csv", 8, "nan"), "--weight-column", "w"],
         ["nan.csv, line 8, column 3 ('w')", "--weight-column w: the weights must be numbers"]),
        (["--dataset", edited("text.csv", 2, "heavy"), "--weight-column", "w"],
         ["text.csv, line 2, column 3 ('w'): not a number: 'heavy'",
          "(--weight-column w: the weights must be numbers)"]),
        (["--dataset", zero, "--weight-column", "w"], ["the weight is zero for every example"]),
        (["--dataset", "mnist", "--weight-column", "w"], ["the dataset mnist has no weights"]),
        (["--dataset", npz, "--weight-column", "1"], ["an .npz file", "the array's name"]),
        (["--dataset", npz, "--weight-column", "v"], ["no array named 'v' (its arrays: x, y, w)"]),
        (["--dataset", npz, "--weight-column", "w"], ["weights.npz, array 'w', row 0: a weight "
                                                      "must be >= 0, got -1"]),
    ):  # fmt: skip
        proc = run("train", *args, "-o", tmp_path / "run", check=False)
        assert_one_line_error(proc, *fragments)
        assert not (tmp_path / "run").exists()


def test_npz_weight_column_is_not_the_labels_or_the_features(tmp_path):
    """An .npz file's 'y' (its labels) or 'x' (its features) as the weights is refused, as a
    .csv file's label column is (the labels 0 and 1 were taken as weights: class 0 left out)."""
    npz = tmp_path / "data.npz"
    np.savez(npz, x=np.ones((10, 2)), y=np.arange(10) % 2, w=np.ones(10))
    for name, what in (("y", "the labels"), ("x", "the features")):
        proc = run("train", "--dataset", npz, "--weight-column", name, "-o", tmp_path / "run",
                   check=False)  # fmt: skip
        assert_one_line_error(proc, f"--weight-column {name}: the array {name!r} of", what,
                              "the weights must be an array of their own")  # fmt: skip
        assert not (tmp_path / "run").exists()


def test_weight_column_and_class_weight_multiply_over_the_dataset(weighted_csv, monkeypatch,
                                                                   tmp_path):  # fmt: skip
    """What train hands fit: the column's weights (times --class-weight balanced's, when
    given), every row's (fit splits them with --val-split: the validation metrics are
    weighted), normalized over the dataset as --class-weight is."""
    import chainrule
    from chainrule import cli
    from chainrule.errors import TrainingInterrupted

    handed = {}

    def capture(net, x, y, **kwargs):
        handed.update(kwargs, x=x, y=y)
        raise TrainingInterrupted("interrupted", checkpoint_path=None)

    monkeypatch.setattr(chainrule, "fit", capture)
    table = np.loadtxt(weighted_csv, delimiter=",", skiprows=1)
    for weighting in ("none", "balanced"):
        argv = ["train", "--dataset", str(weighted_csv), "--weight-column", "w", "-q",
                "--val-split", "0.25", "--class-weight", weighting, "-o",
                str(tmp_path / weighting)]  # fmt: skip
        assert cli.main(argv) == 130
        x, y, w = handed["x"], handed["y"], handed["sample_weight"]
        assert x.shape == (360, 2) and handed["validation_split"] == 0.25
        assert handed["weight_normalization"] == "dataset"
        # each training row's weight is its file row's w (the features find the row)
        rows = [int(np.flatnonzero(np.isclose(table[:, 1], a, atol=1e-5))[0]) for a in x[:, 0]]
        column = table[rows, 2]
        if weighting == "none":
            np.testing.assert_allclose(w, column, rtol=1e-6)
        else:
            balanced = cli._split_balanced_weights(y, 2, 0.25, 0)
            np.testing.assert_allclose(w, balanced * column, rtol=1e-6)


def test_a_weighted_run_resumes_with_its_column_only(weighted_runs, weighted_csv, tmp_path):
    out, _ = weighted_runs
    epochs = json.loads((out / "name/config.json").read_text())["epochs"]
    proc = run("train", "--resume", out / "name", "--epochs", epochs + 1, "-o", tmp_path / "a",
               "-q")  # fmt: skip
    assert "weighted test accuracy: " in proc.stdout
    assert json.loads((tmp_path / "a/config.json").read_text())["weight_column"] == "w"
    # the same column by its index is the same column
    run("train", "--resume", out / "name", "--weight-column", "2", "--epochs", epochs + 1,
        "-o", tmp_path / "b", "-q")  # fmt: skip
    assert json.loads((tmp_path / "b/config.json").read_text())["weight_column"] == "w"
    proc = run("train", "--resume", out / "name", "--weight-column", "b", "--epochs",
               epochs + 1, "-o", tmp_path / "c", check=False)  # fmt: skip
    assert_one_line_error(proc, "--weight-column b: the checkpoint", "was trained with the "
                          "weights in column 'w' (a resumed run keeps its weights)")  # fmt: skip
    proc = run("train", "--resume", out / "plain", "--weight-column", "w", "--epochs",
               epochs + 1, "-o", tmp_path / "d", check=False)  # fmt: skip
    assert_one_line_error(proc, "--weight-column w: the checkpoint", "with no weight column")
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()
    # a file without a header: columns by index, -2 the same as 2, 3 another
    bare = tmp_path / "bare.csv"
    bare.write_text("".join(weighted_csv.read_text().splitlines(keepends=True)[1:]))
    run("train", "--dataset", bare, "--weight-column", "2", "--epochs", "1", "-o",
        tmp_path / "bare", "-q")  # fmt: skip
    proc = run("train", "--resume", tmp_path / "bare", "--weight-column", "3", "--epochs", "2",
               check=False)  # fmt: skip
    assert_one_line_error(proc, "--weight-column 3: the checkpoint", "in column 2")
    run("train", "--resume", tmp_path / "bare", "--weight-column", "-2", "--epochs", "2", "-q")


def test_changed_weights_refuse_a_distributed_resume_once(weighted_csv, tmp_path):
    """Under mpiexec the refusal is found on every rank at once (fit's check, in the
    command line's words): rank 0 says it, once, and no rank aborts the others."""
    mpiexec = _mpiexec()
    data = tmp_path / "data.csv"
    data.write_text(weighted_csv.read_text())
    command = [mpiexec, "-n", "2", sys.executable, "-m", "chainrule", "train", "--distributed"]
    proc = subprocess.run([*command, "--dataset", str(data), "--weight-column", "w", "--epochs",
                           "1", "-q", "-o", str(tmp_path / "run")], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = data.read_text().splitlines()
    cells = lines[1].split(",")
    cells[2] = "3.5"
    data.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    proc = subprocess.run([*command, "--resume", str(tmp_path / "run"), "--epochs", "2"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode != 0
    assert proc.stderr.count("chainrule: error: --weight-column w: the weights in ") == 1, (
        proc.stderr
    )
    assert proc.stderr.count("chainrule: error:") == 1 and "Abort" not in proc.stderr


def test_evaluate_predict_and_explain_drop_the_weight_column(weighted_runs, weighted_csv,
                                                             tmp_path):  # fmt: skip
    """A file with the weight column (the training file, or rows of it) is read without it:
    evaluate reports the weighted accuracy beside the plain one; a file without it, only the
    plain one; predict answers the same with or without the label and weight columns."""
    out, procs = weighted_runs
    for model in (out / "name", out / "index"):
        shown = run("evaluate", model).stdout  # the held-out test set, as train reported it
        assert "accuracy: 0.5500 on 40 examples" in shown  # class 1 never answered
        assert "weighted accuracy: 1.0000 (each example weighted by its weight in column" in shown
        whole = json.loads(run("evaluate", model, "--dataset", weighted_csv, "--json").stdout)
        assert whole["weighted_accuracy"] == pytest.approx(1.0)
        assert whole["n_examples"] == 400
    table = [line.split(",") for line in weighted_csv.read_text().splitlines()]
    without = tmp_path / "without.csv"  # label and features only
    without.write_text("".join(",".join(r[:2] + r[3:]) + "\n" for r in table))
    plain = run("evaluate", out / "name", "--dataset", without).stdout
    assert "weighted accuracy" not in plain and "on 400 examples" in plain
    assert run("evaluate", out / "name", "--dataset", without, "--json").stdout.count(
        "weighted_accuracy") == 0  # fmt: skip
    files = {
        "all": table[:6],  # label, a, w, b
        "features": [r[1:2] + r[3:] for r in table[:6]],  # a, b
        "no_label": [r[1:] for r in table[:6]],  # a, w, b: the weights found by name
    }
    answers = []
    for name, rows in files.items():
        path = tmp_path / f"{name}.csv"
        path.write_text("".join(",".join(r) + "\n" for r in rows))
        result = json.loads(run("predict", out / "name", path, "--json").stdout)
        answers.append([r["top"] for r in result])  # the probabilities: the inputs the same
    assert answers[0] == answers[1] == answers[2] and len(answers[0]) == 5
    shown = run("explain", "--model", out / "name").stdout
    assert "test example 0 of the 40" in shown


def test_a_model_weighted_by_a_csv_column_index_evaluates_an_npz(weighted_runs, weighted_csv,
                                                                tmp_path):  # fmt: skip
    """A model trained with --weight-column 2 (a .csv file's index) on an .npz file of its
    features: no weights to find there (an .npz file's are an array, by name), so evaluate
    and explain read the file as any other, not refuse it for want of an array's name."""
    out, _ = weighted_runs
    table = np.loadtxt(weighted_csv, delimiter=",", skiprows=1)
    npz = tmp_path / "features.npz"
    np.savez(npz, x=table[:, [1, 3]], y=table[:, 0].astype(int))
    shown = run("evaluate", out / "index", "--dataset", npz).stdout
    assert "on 400 examples" in shown and "weighted accuracy" not in shown
    same = run("evaluate", out / "index", "--dataset", weighted_csv).stdout
    assert shown.splitlines()[0] == same.splitlines()[0]  # the same accuracy, 400 examples
    assert "row 0" in run("explain", "--model", out / "index", "--dataset", npz).stdout


def test_predict_without_the_weight_column_keeps_a_last_label_column(tmp_path):
    """A model trained with its labels last (by name) and a weight column by name: a file of
    its features and labels but no weights has the label column dropped by name, not the first
    feature (which read the labels as a feature: the model's names gave an error about the
    label column, other names a prediction from the wrong columns)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    rows = [(a, 1.0 + (i % 3), b, int(a > 0)) for i, (a, b) in enumerate(x)]
    data = tmp_path / "data.csv"
    data.write_text("a,w,b,label\n" + "".join(f"{a:.4f},{w},{b:.4f},{c}\n" for a, w, b, c in rows))
    run("train", "--dataset", data, "--label-column", "label", "--weight-column", "w",
        "--epochs", "2", "-o", tmp_path / "run", "-q")  # fmt: skip
    files = {
        "features": "a,b\n" + "".join(f"{a:.4f},{b:.4f}\n" for a, _, b, _ in rows[:4]),
        "names": "a,b,label\n" + "".join(f"{a:.4f},{b:.4f},{c}\n" for a, _, b, c in rows[:4]),
        "others": "p,q,label\n" + "".join(f"{a:.4f},{b:.4f},{c}\n" for a, _, b, c in rows[:4]),
    }
    answers = []
    for name, text in files.items():
        path = tmp_path / f"{name}.csv"
        path.write_text(text)
        result = json.loads(run("predict", tmp_path / "run", path, "--json").stdout)
        answers.append([r["top"] for r in result])
    assert answers[0] == answers[1] == answers[2] and len(answers[0]) == 4


def test_evaluate_and_predict_help_name_the_weight_column():
    """evaluate and predict drop a model's weight column: their --help says so."""
    for command, fragment in (("evaluate", "weighted accuracy"), ("predict", "that column too")):
        text = " ".join(run(command, "--help").stdout.split())
        assert "--weight-column" in text and fragment in text


def test_weight_column_all_zero_in_a_part_is_one_line_in_the_flags_words(tmp_path):
    """Weights that are all 0 in the training examples left by --subset, or in the --val-split
    rows: refused before any run directory, naming the flags (not fit's sample_weight)."""
    from chainrule import datasets, training

    n = 60
    y = np.arange(n) % 2
    train_rows = datasets.train_val_split(np.arange(n), y, val_fraction=0.1, seed=0)[0]
    fit_rows = training.validation_rows(len(train_rows), 0.5, 0)[0]
    w = np.zeros(n)
    w[train_rows[fit_rows[-1]]] = 1.0  # one training row of the last, outside --subset 10
    path = tmp_path / "w.csv"
    path.write_text("label,a,w\n" + "".join(f"{c},{i / n:.3f},{v}\n" for i, (c, v) in
                                              enumerate(zip(y, w))))  # fmt: skip
    for extra, fragments in (
        (["--subset", "10"], ["--weight-column w: the weight is zero for each of the first 10 "
                              "training examples (--subset 10)"]),
        (["--val-split", "0.5"], ["--weight-column w: the weight is zero for every validation "
                                  "example of --val-split 0.5"]),
    ):  # fmt: skip
        proc = run("train", "--dataset", path, "--weight-column", "w", *extra, "-o",
                   tmp_path / "run", check=False)  # fmt: skip
        assert_one_line_error(proc, *fragments)
        assert not (tmp_path / "run").exists()


def test_weight_column_by_index_in_a_file_of_other_order_is_refused(weighted_runs, tmp_path):
    """A model trained with --weight-column 2 (a: feature, w: weights) and a file whose column
    2 is the feature a (w moved before it): evaluate, explain and predict refuse it, rather
    than weigh by a and read w as a feature (a note said "read by position")."""
    out, _ = weighted_runs
    path = tmp_path / "swapped.csv"
    path.write_text("label,w,a,b\n1,1.0,0.5,0.2\n0,2.0,0.3,0.1\n1,1.0,0.9,-0.2\n")  # a >= 0
    for args in (("evaluate", out / "index", "--dataset", path),
                 ("explain", "--model", out / "index", "--dataset", path),
                 ("predict", out / "index", path)):  # fmt: skip
        proc = run(*args, check=False)
        assert_one_line_error(proc, "swapped.csv: its column in the place of the model's weight "
                              "column", "is headed 'a', one of the features")  # fmt: skip


def test_a_weight_cell_that_is_no_number_is_named_as_a_weight(weighted_runs, weighted_csv,
                                                              tmp_path):  # fmt: skip
    """evaluate on a file whose weight column holds text: the error is about the model's
    weight column, not a feature to encode as categories (explain and predict, which do not
    use the weights, leave the column unread)."""
    out, _ = weighted_runs
    lines = weighted_csv.read_text().splitlines()
    cells = lines[3].split(",")
    cells[2] = "heavy"
    path = tmp_path / "text.csv"
    path.write_text("\n".join(lines[:3] + [",".join(cells)] + lines[4:]) + "\n")
    proc = run("evaluate", out / "name", "--dataset", path, check=False)
    assert_one_line_error(proc, "text.csv, line 4, column 3 ('w'): not a number: 'heavy' "
                          "(the model's weight column w: the weights must be")  # fmt: skip


@pytest.mark.parametrize("weight", ["-1.5", "nan", "heavy", ""])
def test_explain_and_predict_leave_the_weight_column_unread(weighted_runs, weighted_csv,
                                                            tmp_path, weight):  # fmt: skip
    """explain --model and predict never use the weights: a file whose weight column holds a
    negative, NaN, non-numeric or empty cell is read without it (the training file moved,
    --split test, too); evaluate, whose weighted accuracy uses them, refuses it."""
    out, _ = weighted_runs
    lines = weighted_csv.read_text().splitlines()
    for at in range(1, len(lines), 7):  # rows of the test set and of the rest
        cells = lines[at].split(",")
        cells[2] = weight
        lines[at] = ",".join(cells)
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    shown = run("explain", "--model", out / "name", "--dataset", path).stdout
    assert "bad.csv row 0 (label" in shown
    shown = run("explain", "--model", out / "name", "--dataset", path, "--split", "test").stdout
    assert "testexample0ofthe40" in squeezed(shown)
    assert len(json.loads(run("predict", out / "name", path, "--json").stdout)) == 400
    for split in ([], ["--split", "test"]):
        proc = run("evaluate", out / "name", "--dataset", path, *split, check=False)
        assert_one_line_error(proc, "bad.csv, line 2, column 3 ('w')", "the model's weight column")


def test_resume_with_edited_weights_says_so_in_the_flags_words(weighted_csv, tmp_path):
    """A weighted run resumed after a weight in its file changed: refused naming the weight
    column and the file (fit says 'sample_weight'), the run's files as they were."""
    data = tmp_path / "data.csv"
    data.write_text(weighted_csv.read_text())
    run("train", "--dataset", data, "--weight-column", "w", "--epochs", "2", "--batch-size",
        "64", "-o", tmp_path / "run", "-q")  # fmt: skip
    lines = data.read_text().splitlines()
    cells = lines[5].split(",")
    cells[2] = "7.5"
    data.write_text("\n".join(lines[:5] + [",".join(cells)] + lines[6:]) + "\n")
    proc = run("train", "--resume", tmp_path / "run", "--epochs", "3", "-q", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert f"--weight-column w: the weights in {data} differ from those the checkpoint" in last
    assert "sample_weight" not in proc.stderr
    assert len((tmp_path / "run/metrics.jsonl").read_text().splitlines()) == 2


def test_weight_column_from_a_toml_file(weighted_csv, tmp_path):
    (tmp_path / "w.toml").write_text('weight_column = "w"\n')
    proc = run("train", "--dataset", weighted_csv, "--config", tmp_path / "w.toml", "-q",
               "-o", tmp_path / "toml")  # fmt: skip
    assert "weighted test accuracy: 1.0000" in proc.stdout
    (tmp_path / "bad.toml").write_text("weight_column = true\n")
    proc = run("train", "--dataset", weighted_csv, "--config", tmp_path / "bad.toml",
               "-o", tmp_path / "bad", check=False)  # fmt: skip
    assert_one_line_error(proc, "bad.toml: weight_column: expected a column index or name")
    (tmp_path / "label.toml").write_text("weight_column = 0\n")
    proc = run("train", "--dataset", weighted_csv, "--config", tmp_path / "label.toml",
               "-o", tmp_path / "bad", check=False)  # fmt: skip
    assert_one_line_error(proc, f"{tmp_path / 'label.toml'}: weight_column 0: that is the label")


def test_weight_column_of_a_csv_is_read_in_float64(tmp_path):
    """--weight-column of a .csv file: the weights keep float64's digits and range (fit takes
    float64 weights), not the float32 of the features: 1.0000001 and 1e-30 survive exactly,
    1e39 is a weight like any other (it 'overflowed float32')."""
    from chainrule import cli

    rng = np.random.default_rng(0)
    weights = np.full(40, 1.0000001)
    weights[::3], weights[1::3] = 1e-30, 1e39
    path = tmp_path / "w.csv"
    a = rng.normal(size=40)
    rows = [f"{i % 2},{a[i]:.4f},{w!r}\n" for i, w in enumerate(weights.tolist())]
    path.write_text("label,a,w\n" + "".join(rows))
    config = cli.TrainConfig(dataset=str(path), weight_column="w")
    *_, w_train, w_test = cli.load_train_test(config)
    assert w_train.dtype == np.float64
    assert sorted(set(np.concatenate([w_train, w_test]).tolist())) == [1e-30, 1.0000001, 1e39]
    # refused before as 'overflows float32'
    run("train", "--dataset", path, "--weight-column", "w", "--epochs", "1", "-q",
        "-o", tmp_path / "run")  # fmt: skip


def test_evaluate_split_test_checks_the_weights_of_the_test_set(weighted_runs, weighted_csv,
                                                                tmp_path):  # fmt: skip
    """A weighted model records a digest of its test set's weights beside that of its
    examples: evaluate --split test of the file whose weights changed since is refused (its
    weighted accuracy would not be train's), explain (which does not use them) reads it; a
    model without that digest (before it was recorded) evaluates it, as it did."""
    from chainrule import serialization

    out, _ = weighted_runs
    model = out / "name/model.npz"
    record = serialization.load_metadata(model)["test_split"]
    assert len(record["weights_sha256"]) == 64 and len(record["sha256"]) == 64
    table = [line.split(",") for line in weighted_csv.read_text().splitlines()]
    for row in table[1:]:
        row[2] = "1.0"  # every example weighs the same now
    path = tmp_path / "reweighted.csv"
    path.write_text("".join(",".join(r) + "\n" for r in table))
    proc = run("evaluate", model, "--dataset", path, "--split", "test", check=False)
    assert_one_line_error(proc, "reweighted.csv does not hold the data the model",
                          ": the weights (the model's weight column w) of the examples it holds "
                          "out as test set (seed 0) differ from those of training")  # fmt: skip
    shown = run("explain", "--model", model, "--dataset", path, "--split", "test").stdout
    assert "testexample0ofthe40" in squeezed(shown)
    same = json.loads(run("evaluate", model, "--json").stdout)  # the file unchanged: train's
    assert same["weighted_accuracy"] == pytest.approx(1.0)
    net, meta = serialization.load(model, with_metadata=True)
    del meta["test_split"]["weights_sha256"]
    user = {k: v for k, v in meta.items() if k not in serialization._RESERVED}
    serialization.save(net, tmp_path / "old.npz", user)
    shown = json.loads(run("evaluate", tmp_path / "old.npz", "--dataset", path, "--split", "test",
                           "--json").stdout)  # fmt: skip
    assert shown["weighted_accuracy"] == pytest.approx(shown["accuracy"])  # the weights all 1


def test_standardize_help_says_the_statistics_are_unweighted():
    help_text = squeezed(run("train", "--help").stdout)
    assert "unweighted,whatever--weight-columnor--class-weight" in help_text


def test_info_of_a_data_file_says_it_reads_models(weighted_csv, tmp_path):
    """info (or another command's MODEL) given a .csv data file: a line that says the command
    reads model files and how to train on, or use a model on, the file; not 'not a readable
    .npz archive'."""
    proc = run("info", weighted_csv, check=False)
    assert_one_line_error(proc, f"{weighted_csv} is a .csv data file: chainrule info reads model "
                          "files (the .npz that chainrule train writes, or its run directory)",
                          f"chainrule train --dataset {weighted_csv};",
                          f"chainrule evaluate MODEL --dataset {weighted_csv}")  # fmt: skip
    assert "zip" not in proc.stderr
    proc = run("predict", weighted_csv, weighted_csv, check=False)
    assert_one_line_error(proc, "is a .csv data file: chainrule predict reads model files")
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    proc = run("info", text, check=False)
    assert_one_line_error(proc, f"{text} is not a model file: chainrule info reads model files")


def test_info_of_an_npz_dataset_says_it_reads_models(tmp_path):
    """info, predict, evaluate given an .npz dataset (arrays x and y) as MODEL: a line that
    says so and how to train on, or use a model on, the file; not 'no __metadata__ array'. An
    .npz of other arrays is still 'not a chainrule model file'."""
    data = tmp_path / "data.npz"
    np.savez(data, x=np.zeros((4, 2), np.float32), y=np.array([0, 1, 0, 1]))
    rows = tmp_path / "rows.csv"
    rows.write_text("1,2\n")
    proc = run("info", data, check=False)
    assert_one_line_error(proc, f"{data} is an .npz data file (arrays x and y, a dataset): "
                          "chainrule info reads model files", f"chainrule train --dataset {data};",
                          f"chainrule evaluate MODEL --dataset {data}")  # fmt: skip
    assert "__metadata__" not in proc.stderr
    for args in (["predict", data, rows], ["evaluate", data, "--dataset", data]):
        proc = run(*args, check=False)
        assert_one_line_error(proc, f"is an .npz data file (arrays x and y, a dataset): "
                              f"chainrule {args[0]} reads model files")  # fmt: skip
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    proc = run("info", other, check=False)
    assert_one_line_error(proc, "no __metadata__ array: not a chainrule model file")


def test_a_headerless_file_of_one_column_more_notes_which_column_is_the_label(
    weighted_runs, tmp_path
):
    """A model trained with a weight column (2 inputs) given a file without a header of 3
    columns: features and a label, or features and weights, look alike; predict, evaluate and
    explain say in one line which column they took as the label column, and how to make it
    unambiguous. No note for a file with a header, with --label-column, or for a model
    without a weight column."""
    out, _ = weighted_runs
    rows = tmp_path / "rows.csv"
    rows.write_text("0,0.5,1.2\n1,-0.3,0.1\n")
    note = (f"note: {rows} has no header row and 3 columns, the model's 2 features and one "
            "more: column 1 was taken as the label column, not as the model's weight column 2; "
            "to make it unambiguous, give the file a header row (the training file's column "
            "names), or the training file's layout (4 columns: ")  # fmt: skip
    for args in (["predict", out / "index", rows], ["evaluate", out / "index", "--dataset", rows],
                 ["explain", "--model", out / "index", "--dataset", rows]):  # fmt: skip
        notes = [line for line in run(*args).stderr.splitlines() if "no header row" in line]
        assert len(notes) == 1 and notes[0].startswith(note), (args, notes)
    headed = tmp_path / "headed.csv"
    headed.write_text("label,a,b\n0,0.5,1.2\n")
    wide = tmp_path / "wide.csv"  # the plain run's 3 inputs (w a feature) and a label
    wide.write_text("0,0.5,1.0,1.2\n")
    for args in (["predict", out / "index", headed], ["predict", out / "index", rows,
                 "--label-column", "0"], ["predict", out / "plain", wide]):  # fmt: skip
        proc = run(*args)
        assert "no header row" not in proc.stderr and proc.stdout, (args, proc.stderr)
