"""Model files and checkpoints: round trips, atomic writes, and refusal (ModelFileError naming
the file) of pickled payloads, truncated or tampered files, unknown versions, extra arrays and
wrong shapes."""

import contextlib
import io
import json
import os
import zipfile

import numpy as np
import pytest

import chainrule
import chainrule.cli
from chainrule import Network, serialization
from chainrule.errors import ModelFileError
from chainrule.optimizers import Adam
from chainrule.serialization import load, load_checkpoint, load_metadata, save, save_checkpoint


def make_net(dtype=np.float32, dropout=0.25):
    return Network.from_sizes(
        [4, 6, 3], hidden="leaky_relu", loss="cross_entropy", dropout=dropout, seed=1, dtype=dtype
    )


def read_npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def rewrite(path, arrays):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def set_metadata(arrays, meta):
    arrays["__metadata__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)


def get_metadata(arrays):
    return json.loads(arrays["__metadata__"].tobytes().decode())


@contextlib.contextmanager
def edited_metadata(path):
    """``with edited_metadata(path) as meta:`` changes a saved file's metadata in place."""
    arrays = read_npz(path)
    meta = get_metadata(arrays)
    yield meta
    set_metadata(arrays, meta)
    rewrite(path, arrays)


@pytest.fixture
def saved(tmp_path):
    net = make_net()
    path = tmp_path / "model.npz"
    save(net, path, metadata={"final_metrics": {"accuracy": np.float32(0.5)}})
    return net, path


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip(tmp_path, dtype):
    net = make_net(dtype)
    path = tmp_path / "m.npz"
    save(net, path, metadata={"training_config": {"epochs": 3}})
    loaded, meta = load(path, with_metadata=True)
    assert loaded.config() == net.config()
    assert loaded.dtype == dtype
    for a, b in zip(loaded.parameters(), net.parameters()):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    x = np.random.default_rng(0).normal(size=(5, 4))
    assert np.array_equal(loaded.predict_proba(x), net.predict_proba(x))
    assert meta["format_version"] == serialization.FORMAT_VERSION
    assert meta["chainrule_version"] == chainrule.__version__
    assert meta["activations"] == ["leaky_relu", "softmax"]
    assert meta["loss"] == "cross_entropy" and meta["dtype"] == np.dtype(dtype).name
    assert meta["training_config"] == {"epochs": 3}
    assert load_metadata(path) == meta


def test_square_layers_and_an_activations_settings_round_trip(tmp_path):
    """A square weight matrix must not come back transposed, and a leaky ReLU's own slope
    (not the default) must come back: the loaded network answers exactly as the saved one."""
    from chainrule.activations import LeakyReLU
    from chainrule.layers import Dense

    layers = [
        Dense(5, 5, activation=LeakyReLU(0.3), rng=1, dtype=np.float64),
        Dense(5, 5, activation="tanh", rng=2, dtype=np.float64),
        Dense(5, 3, activation="softmax", rng=3, dtype=np.float64),
    ]
    net = Network(layers, loss="cross_entropy")
    for layer in net.dense_layers:
        layer.biases[...] = np.linspace(-1, 1, layer.n_out)
    path = tmp_path / "square.npz"
    save(net, path)
    loaded = load(path)
    for a, b in zip(loaded.dense_layers, net.dense_layers):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.biases, b.biases)
    assert loaded.dense_layers[0].activation.slope == 0.3
    x = np.random.default_rng(0).normal(size=(20, 5)) * 3  # negative nets: the slope shows
    np.testing.assert_array_equal(loaded.predict_proba(x), net.predict_proba(x))


def test_metadata_is_a_uint8_json_array_and_nothing_is_pickled(saved):
    _, path = saved
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == sorted(
            ["__metadata__.npy", "layers.0.weights.npy", "layers.0.biases.npy"]
            + ["layers.2.weights.npy", "layers.2.biases.npy"]
        )
    arrays = read_npz(path)  # allow_pickle=False would fail on any object array
    assert arrays["__metadata__"].dtype == np.uint8
    assert get_metadata(arrays)["final_metrics"] == {"accuracy": 0.5}


def test_reserved_metadata_keys_and_non_finite_weights_are_refused(tmp_path):
    net = make_net()
    with pytest.raises(ValueError, match="reserved"):
        save(net, tmp_path / "a.npz", metadata={"format_version": 2})
    net.dense_layers[0].weights[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        save(net, tmp_path / "b.npz")
    assert not (tmp_path / "b.npz").exists()


class Cube(chainrule.Activation):
    """A custom activation under a name the file format does not know."""

    name = "cube"

    def forward(self, net, out=None):
        return np.power(net, 3, out=out)

    def derivative(self, out):
        return 3 * np.cbrt(out) ** 2


class SteepSigmoid(chainrule.activations.Sigmoid):
    """Keeps the built-in's name, but not its math: it would load back as the plain Sigmoid."""

    def forward(self, net, out=None):
        return super().forward(2 * net, out)


class HalfMSE(chainrule.losses.MeanSquaredError):
    def value(self, out, target, probs=None):
        return super().value(out, target) / 2


def custom_net(activation=None, loss="mse"):
    layers = [chainrule.layers.Dense(3, 2, activation or "tanh", rng=0)]
    return Network(layers, loss=loss)


ACTIVATION_NAMES = "activations (identity, leaky_relu, relu, sigmoid, softmax, tanh)"
LOSS_NAMES = "losses (binary_cross_entropy, cross_entropy, mse, sse)"


@pytest.mark.parametrize(
    ("net", "problem", "names"),
    [
        (
            custom_net(Cube()),
            r"layer 0 .* activation Cube \(name 'cube'\).*loading would fail",
            ACTIVATION_NAMES,
        ),
        (
            custom_net(SteepSigmoid()),
            r"layer 0 .* SteepSigmoid \(name 'sigmoid'\).*would give the plain Sigmoid",
            ACTIVATION_NAMES,
        ),
        (
            custom_net(loss=HalfMSE()),
            r"the loss is HalfMSE \(name 'mse'\).*would give the plain MeanSquaredError",
            LOSS_NAMES,
        ),
    ],
    ids=["new-name", "built-in-name", "loss"],
)
def test_custom_activations_and_losses_are_refused_and_nothing_is_written(
    saved, net, problem, names
):
    _, path = saved
    before = path.read_bytes()
    for writer in (save, lambda net, p: save_checkpoint(p, net, Adam())):
        for target in (path, path.parent / "new.npz"):
            with pytest.raises(ValueError, match=problem) as info:
                writer(net, target)
            assert f"can only hold the built-in {names}" in str(info.value)
            assert str(info.value).endswith(f"not saving {target}")
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.npz"]  # no temp file left


def test_checkpoint_round_trip(tmp_path):
    net = make_net()
    opt = Adam(learning_rate=0.01)
    rng = np.random.default_rng(0)
    for _ in range(3):
        opt.step(
            net.parameters(), [rng.normal(size=p.shape).astype(p.dtype) for p in net.parameters()]
        )
    drop = net.layers[1]
    drop.rng.random(5)
    best = [p + 1 for p in net.parameters()]
    path = tmp_path / "c.npz"
    save_checkpoint(path, net, opt, state={"epoch": 2, "note": "x"}, groups={"best": best})
    ck = load_checkpoint(path)
    assert ck.epoch == 2 and ck.state["note"] == "x"
    assert ck.optimizer.config() == opt.config() and ck.optimizer.iterations == 3
    for name, value in opt.state_arrays().items():
        assert np.array_equal(ck.optimizer.state_arrays()[name], value)
    assert ck.net.layers[1].rng.bit_generator.state == drop.rng.bit_generator.state
    assert all(np.array_equal(a, b) for a, b in zip(ck.groups["best"], best))
    assert load(path).config() == net.config()  # a checkpoint is also a model file
    save(net, tmp_path / "m.npz")
    with pytest.raises(ModelFileError, match="not a checkpoint"):
        load_checkpoint(tmp_path / "m.npz")


# -- atomic writes ---------------------------------------------------------------------------


def test_failed_save_leaves_the_previous_file(saved, monkeypatch):
    net, path = saved
    before = path.read_bytes()

    def half_then_fail(fh, **arrays):
        fh.write(b"PK\x03\x04 partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", half_then_fail)
    other = make_net(dropout=0.0)
    with pytest.raises(OSError, match="disk full"):
        save(other, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load(path).config() == net.config()
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.npz"]  # no temp file left


def test_save_into_a_missing_directory_names_the_directory(tmp_path):
    path = tmp_path / "no-such-dir" / "m.npz"
    with pytest.raises(FileNotFoundError, match="no directory .*no-such-dir"):
        save(make_net(), path)
    assert not (tmp_path / "no-such-dir").exists()


def test_save_under_an_onnx_name_says_to_export(tmp_path):
    with pytest.raises(ValueError, match=r"not ONNX; for an ONNX file use chainrule\.export\."
                       r"export_onnx\(net, '.*m\.ONNX'\)"):  # fmt: skip
        save(make_net(), tmp_path / "m.ONNX")
    assert not list(tmp_path.iterdir())


# -- refusals --------------------------------------------------------------------------------


class Payload:
    """Unpickling this creates a directory: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("name", ["layers.0.weights", "__metadata__", "extra"])
def test_pickled_object_array_is_refused_without_running(saved, tmp_path, name):
    _, path = saved
    arrays = read_npz(path)
    marker = tmp_path / "payload-ran"
    arrays[name] = np.array([Payload(marker)], dtype=object)
    rewrite(path, arrays)
    # the payload is live: loading with pickles allowed would run it (checked on a twin)
    twin_marker = tmp_path / "twin-ran"
    twin = tmp_path / "twin.npz"
    arrays[name] = np.array([Payload(twin_marker)], dtype=object)
    rewrite(twin, arrays)
    with np.load(twin, allow_pickle=True) as data:
        data[name]
    assert twin_marker.exists()

    for reader in (load, load_checkpoint, load_metadata):
        if reader is load_metadata and name != "__metadata__":
            continue
        with pytest.raises(ModelFileError, match=f"{path}.*(objects|pickl)") as info:
            reader(path)
        assert isinstance(info.value, ValueError)
    assert not marker.exists()


@pytest.mark.parametrize("keep", [0, 10, 100, 0.5, 0.9])
def test_truncated_file(saved, keep):
    _, path = saved
    data = path.read_bytes()
    size = int(len(data) * keep) if isinstance(keep, float) else keep
    path.write_bytes(data[:size])
    with pytest.raises(ModelFileError, match=str(path)):
        load(path)


def test_flipped_bytes_in_an_array_fail_the_checksum(saved):
    _, path = saved
    data = bytearray(path.read_bytes())
    start = data.index(b"layers.0.weights.npy") + 200  # inside that member's data
    data[start] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=f"{path}.*layers.0.weights"):
        load(path)


def test_metadata_that_is_not_json(saved):
    _, path = saved
    arrays = read_npz(path)
    arrays["__metadata__"] = np.frombuffer(b"{not json", np.uint8)
    rewrite(path, arrays)
    with pytest.raises(ModelFileError, match=f"{path}.*JSON"):
        load(path)


def test_metadata_nested_too_deeply(saved, capsys):
    _, path = saved
    arrays = read_npz(path)
    arrays["__metadata__"] = np.frombuffer(b"[" * 100_000, np.uint8)
    rewrite(path, arrays)
    for reader in (load, load_metadata, load_checkpoint):
        with pytest.raises(ModelFileError, match=f"{path}.*nested too deeply"):
            reader(path)
    assert chainrule.cli.main(["info", str(path)]) == 2
    assert "nested too deeply" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("format_version", True, "format version is True, not an integer"),
        ("format_version", 1.0, "format version is 1.0, not an integer"),
        ("format_version", "1", "format version is '1', not an integer"),
        ("kind", 5, "kind is 5, not one of"),
        ("kind", "weights", "kind is 'weights', not one of"),
        ("kind", None, "kind is None, not one of"),
        ("dtype", 3, "dtype is 3, not one of"),
        ("dtype", ["float32"], r"dtype is \['float32'\], not one of"),
        ("dtype", "float64", "dtype 'float64' disagrees with the config's 'float32'"),
        ("chainrule_version", 0.1, "chainrule version is 0.1, not a string"),
    ],
)
def test_top_level_metadata_fields_of_the_wrong_type(saved, key, value, problem):
    _, path = saved
    arrays = read_npz(path)
    meta = get_metadata(arrays)
    if value is None:
        del meta[key]
    else:
        meta[key] = value
    set_metadata(arrays, meta)
    rewrite(path, arrays)
    readers = [load] if "disagrees" in problem else [load, load_metadata]
    for reader in readers:
        with pytest.raises(ModelFileError, match=f"{path}.*{problem}"):
            reader(path)


def test_metadata_whose_architecture_was_edited(saved):
    _, path = saved
    arrays = read_npz(path)
    meta = get_metadata(arrays)
    meta["config"]["layers"][0]["n_out"] = 7  # the arrays list still says 6
    set_metadata(arrays, meta)
    rewrite(path, arrays)
    with pytest.raises(ModelFileError, match=f"{path}.*disagrees"):
        load(path)


@pytest.mark.parametrize(
    "key, value",
    [
        ("sizes", [4, 6, 2]),
        ("activations", ["relu", "identity"]),
        ("loss", "sse"),
    ],
)
def test_top_level_fields_that_contradict_the_config_are_refused(saved, key, value):
    _, path = saved
    with edited_metadata(path) as meta:
        meta[key] = value  # what a reader of the metadata alone (load_metadata) would believe
    with pytest.raises(ModelFileError, match=f"{path}.*'{key}'.*contradicts its config"):
        load(path)


@pytest.mark.parametrize("init", ["magic", 3])
def test_metadata_with_an_unknown_init(saved, init):
    _, path = saved
    with edited_metadata(path) as meta:
        meta["config"]["layers"][0]["init"] = init
    with pytest.raises(ModelFileError, match=f"{path}.*unknown init {init!r}"):
        load(path)


def test_a_path_of_bytes_gets_a_type_error_naming_it(saved):
    _, path = saved
    for reader in (load, load_metadata):
        with pytest.raises(TypeError, match="path must be a str or os.PathLike, got bytes"):
            reader(bytes(path))


def test_metadata_with_a_bad_activation(saved):
    _, path = saved
    with edited_metadata(path) as meta:
        meta["config"]["layers"][0]["activation"] = {"name": "swish"}
    with pytest.raises(ModelFileError, match=f"{path}.*swish"):
        load(path)


def test_unknown_format_version(saved):
    _, path = saved
    with edited_metadata(path) as meta:
        meta["format_version"] = 99
    for reader in (load, load_metadata):
        with pytest.raises(ModelFileError, match=f"{path}.*format version 99"):
            reader(path)


def test_extra_array(saved):
    _, path = saved
    arrays = read_npz(path)
    arrays["layers.5.weights"] = np.zeros((2, 2), np.float32)
    rewrite(path, arrays)
    with pytest.raises(ModelFileError, match=f"{path}.*'layers.5.weights' is not part"):
        load(path)


def test_missing_array(saved):
    _, path = saved
    arrays = read_npz(path)
    del arrays["layers.2.biases"]
    rewrite(path, arrays)
    with pytest.raises(ModelFileError, match=f"{path}.*'layers.2.biases' is missing"):
        load(path)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros((6, 4), np.float32), "shape"),
        (np.zeros((4, 6), np.float64), "dtype"),
        (np.full((4, 6), np.nan, np.float32), "NaN"),
    ],
)
def test_array_disagreeing_with_the_metadata(saved, value, message):
    _, path = saved
    arrays = read_npz(path)
    arrays["layers.0.weights"] = value
    rewrite(path, arrays)
    with pytest.raises(ModelFileError, match=f"{path}.*{message}"):
        load(path)


def test_other_files(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(3))
    with pytest.raises(ModelFileError, match=f"{plain}.*not a chainrule model"):
        load(plain)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match=str(text)):
        load(text)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.npz")


def adam_checkpoint(tmp_path):
    """A checkpoint with Adam's state after one step: its path and its arrays."""
    net = make_net()
    opt = Adam()
    opt.step(net.parameters(), [np.ones_like(p) for p in net.parameters()])
    path = tmp_path / "c.npz"
    save_checkpoint(path, net, opt)
    return path, read_npz(path)


def test_checkpoint_optimizer_arrays_are_checked(tmp_path):
    path, arrays = adam_checkpoint(tmp_path)
    arrays["optimizer.m_sum.0"] = np.zeros((4, 5), np.float32)  # the metadata says (4, 6)
    rewrite(path, arrays)
    with pytest.raises(ModelFileError, match=f"{path}.*optimizer.m_sum.0.*shape"):
        load_checkpoint(path)
    meta = get_metadata(arrays)
    meta["optimizer"]["arrays"]["m_sum.0"] = [4, 5]
    meta["arrays"]["optimizer.m_sum.0"] = [4, 5]
    set_metadata(arrays, meta)
    rewrite(path, arrays)
    with pytest.raises(ModelFileError, match=f"{path}.*m_sum.*numbers"):
        load_checkpoint(path)


def npy_header(shape, descr="<f4"):
    """The bytes of a ``.npy`` header alone (magic, version, dict, padding)."""
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def write_members(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(f"{name}.npy", data)


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("shape", "data"),
    [
        ((4_000_000_000, 6), 96),  # claims 96 GB: loading would try to allocate it
        ((4, 6), 95),  # one byte short
        ((4, 6), 97),  # one byte of trailing garbage
    ],
)
def test_array_header_must_match_the_bytes_of_its_member(saved, shape, data):
    _, path = saved
    arrays = read_npz(path)
    meta = get_metadata(arrays)
    meta["config"]["layers"][0]["n_in"] = shape[0]  # the metadata agrees with the header
    meta["arrays"]["layers.0.weights"] = list(shape)
    set_metadata(arrays, meta)
    members = {name: npy_bytes(value) for name, value in arrays.items()}
    members["layers.0.weights"] = npy_header(shape) + b"\0" * data
    write_members(path, members)
    with pytest.raises(ModelFileError, match=rf"{path}.*'layers.0.weights'.*header says shape"):
        load(path)


def test_running_out_of_memory_while_reading_is_a_model_file_error(saved, monkeypatch):
    _, path = saved

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate")

    monkeypatch.setattr(np.lib.format, "read_array", no_memory)
    with pytest.raises(ModelFileError, match=f"{path}.*__metadata__.*too large"):
        load(path)


@pytest.mark.parametrize("shape", ["ab", [[5], 4], [-1, 6], [4.0, 6], [True, 6], None, {"4": 6}])
def test_metadata_array_shapes_of_the_wrong_type(saved, shape):
    _, path = saved
    arrays = read_npz(path)
    meta = get_metadata(arrays)
    meta["arrays"]["layers.0.weights"] = shape
    set_metadata(arrays, meta)
    rewrite(path, arrays)
    with pytest.raises(ModelFileError, match=f"{path}.*shape of 'layers.0.weights'.*integers"):
        load(path)


def test_checkpoint_optimizer_shapes_of_the_wrong_type(tmp_path):
    path, arrays = adam_checkpoint(tmp_path)
    meta = get_metadata(arrays)
    meta["optimizer"]["arrays"]["m_sum.0"] = [4.5, 6]  # int() would have made it (4, 6)
    set_metadata(arrays, meta)
    rewrite(path, arrays)
    with pytest.raises(ModelFileError, match=f"{path}.*shape of 'm_sum.0'.*integers"):
        load_checkpoint(path)


def test_a_full_disk_names_the_file_and_leaves_the_old_one(tmp_path, monkeypatch):
    import errno

    from chainrule import _atomic

    path = tmp_path / "model.npz"
    save(make_net(), path)
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_atomic.os, "fsync", full)
    with pytest.raises(OSError, match=f"cannot write {path}: No space left on device") as info:
        save(make_net(), path)
    assert info.value.errno == errno.ENOSPC and ".tmp" not in str(info.value)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]  # no temporary file left


def test_save_refuses_what_is_not_a_network_or_a_metadata_dict(tmp_path):
    path = tmp_path / "model.npz"
    net = make_net()
    with pytest.raises(TypeError, match=r"got str \(the arguments are save\(net, path\)\)"):
        save(str(path), net)  # not AttributeError: 'str' object has no attribute 'layers'
    with pytest.raises(TypeError, match=r"the arguments are save_checkpoint\(path, net"):
        save_checkpoint(net, str(path))
    for metadata in ("notes", [("a", 1)]):  # not "'str' object is not a mapping"
        with pytest.raises(TypeError, match="metadata must be a dict or None, got"):
            save(net, path, metadata=metadata)
    assert not os.listdir(tmp_path)


def test_a_path_naming_a_directory_is_refused_not_written_as_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for path in (f"{tmp_path}/new/", "new/", "", ".", "..", "sub/.."):
        with pytest.raises(IsADirectoryError, match="names a directory, not a file"):
            save(make_net(), path)  # "new/" was written as a file named "new"
    assert not os.listdir(tmp_path)


# -- ONNX export ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_onnx_export_of_every_activation_runs_in_onnxruntime(tmp_path, dtype):
    """Every activation, in both dtypes, in onnxruntime (a float64 LeakyRelu node has no
    onnxruntime kernel at opset 13: the export writes max(net, slope * net) instead)."""
    import onnxruntime

    from chainrule.export import export_onnx

    x = np.random.default_rng(0).normal(size=(5, 4)).astype(dtype)
    activations = ["identity", "sigmoid", "tanh", "relu", {"name": "leaky_relu", "slope": 0.2}]
    for activation in [*activations, "softmax"]:
        net = Network(
            [
                chainrule.Dense(4, 6, activation, dtype=dtype, rng=1),
                chainrule.Dense(6, 3, activation, dtype=dtype, rng=2),
            ],
            loss="mse",
        )
        path = tmp_path / "model.onnx"
        export_onnx(net, path)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (out,) = session.run(None, {"input": x})
        assert out.dtype == dtype
        np.testing.assert_allclose(out, net.forward(x), rtol=1e-6, atol=1e-6, err_msg=activation)


def test_onnx_export_of_square_layers_and_several_metadata_entries(tmp_path):
    """Square weight matrices (a transposed Gemm would pass the checker and answer wrongly)
    and every metadata entry, not only the first."""
    import onnx
    import onnxruntime

    from chainrule.export import export_onnx

    net = Network.from_sizes([4, 4, 4, 3], hidden="tanh", seed=2)
    path = tmp_path / "square.onnx"
    export_onnx(net, path, metadata={"input_scale": "1", "classes": "a,b,c"})
    x = np.random.default_rng(1).normal(size=(7, 4)).astype(np.float32)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"input": x})
    np.testing.assert_allclose(out, net.forward(x), rtol=1e-5, atol=1e-6)
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props == {"input_scale": "1", "classes": "a,b,c"}


# -- a Standardize layer ------------------------------------------------------------------------


def standardized_net(dtype=np.float32):
    x = np.random.default_rng(3).normal([1e4, -50.0, 0.0, 3.0], [2e3, 5.0, 1.0, 0.0], (30, 4))
    return Network.from_sizes([4, 6, 3], standardize=x, seed=1, dtype=dtype, dropout=0.1), x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_standardize_round_trip_is_exact(tmp_path, dtype):
    net, x = standardized_net(dtype)
    path = tmp_path / "m.npz"
    save(net, path)
    loaded, meta = load(path, with_metadata=True)
    first = loaded.layers[0]
    assert isinstance(first, chainrule.Standardize) and first.dtype == dtype
    assert np.array_equal(first.mean, net.layers[0].mean)
    assert np.array_equal(first.std, net.layers[0].std) and first.std[3] == 1.0
    assert np.array_equal(loaded.predict_proba(x), net.predict_proba(x))  # bit for bit
    assert meta["config"]["layers"][0] == {"type": "standardize", "n_units": 4}
    assert meta["arrays"]["layers.0.mean"] == [4] and meta["sizes"] == [4, 6, 3]
    assert len(loaded.parameters()) == 4  # the statistics are not parameters


def test_standardize_in_a_checkpoint_resumes_with_the_same_statistics(tmp_path):
    net, x = standardized_net()
    y = np.arange(30) % 3
    checkpoint = chainrule.training.Checkpoint(tmp_path / "ck")
    history = chainrule.fit(net, x, y, epochs=2, batch_size=8, seed=0, checkpoint=checkpoint)
    ck = load_checkpoint(history.checkpoint_path)
    assert np.array_equal(ck.net.layers[0].mean, net.layers[0].mean)
    again = Network.from_sizes([4, 6, 3], standardize=x, seed=1, dropout=0.1)
    chainrule.fit(again, x, y, epochs=3, batch_size=8, seed=0)
    resumed = load(history.checkpoint_path)
    chainrule.fit(resumed, x, y, epochs=3, batch_size=8, seed=0, resume=history.checkpoint_path)
    np.testing.assert_array_equal(resumed.parameter_vector, again.parameter_vector)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda a: a.__setitem__("layers.0.std", -a["layers.0.std"]), "std must be > 0"),
        (lambda a: a.__setitem__("layers.0.mean", a["layers.0.mean"][:3]), "shape"),
        (lambda a: a.pop("layers.0.std"), "'layers.0.std' is missing"),
        (lambda a: a.__setitem__("layers.0.mean", a["layers.0.mean"] * np.nan), "NaN"),
    ],
)
def test_tampered_standardize_arrays_are_refused(tmp_path, edit, message):
    net, _ = standardized_net()
    path = tmp_path / "m.npz"
    save(net, path)
    arrays = read_npz(path)
    edit(arrays)
    rewrite(path, arrays)
    with pytest.raises(ModelFileError, match=f"{path}.*{message}"):
        load(path)


def test_standardize_width_in_the_metadata_is_checked(tmp_path):
    net, _ = standardized_net()
    path = tmp_path / "m.npz"
    save(net, path)
    with edited_metadata(path) as meta:
        meta["config"]["layers"][0]["n_units"] = "4"
    with pytest.raises(ModelFileError, match="not a list of integers"):
        load(path)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_onnx_export_of_a_standardized_network_takes_the_raw_inputs(tmp_path, dtype):
    """A Standardize first layer becomes Sub(input, mean) and Mul(., 1 / std) before the first
    Gemm, in the network's dtype: onnxruntime gives predict_proba's numbers on raw inputs far
    from 0, also for the model saved and loaded again."""
    import onnxruntime
    from onnx import numpy_helper

    from chainrule.export import export_onnx, to_onnx

    rng = np.random.default_rng(0)
    data = rng.normal(1000, 300, size=(50, 4))
    net = Network.from_sizes(
        [4, 6, 3],
        hidden="sigmoid",
        loss="cross_entropy",
        standardize=data,
        dropout=0.2,
        seed=0,
        dtype=dtype,
    )
    x = data[:7].astype(dtype)
    graph = to_onnx(net).graph
    assert [node.op_type for node in graph.node][:3] == ["Sub", "Mul", "Gemm"]
    assert graph.node[0].input[0] == "input" and graph.node[2].input[0] == graph.node[1].output[0]
    statistics = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    assert statistics["standardize.mean"].dtype == statistics["standardize.inv_std"].dtype == dtype
    np.testing.assert_array_equal(statistics["standardize.mean"], net.layers[0].mean)
    np.testing.assert_allclose(statistics["standardize.inv_std"], 1 / net.layers[0].std, rtol=1e-6)
    save(net, tmp_path / "model.npz")
    for model in (net, load(tmp_path / "model.npz")):
        path = tmp_path / "model.onnx"
        export_onnx(model, path)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (out,) = session.run(None, {"input": x})
        assert out.dtype == dtype
        np.testing.assert_allclose(out, net.predict_proba(x), rtol=1e-6, atol=1e-6)
        assert (out.argmax(1) == net.predict(x)).all()
