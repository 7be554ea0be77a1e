"""Model and checkpoint files: named arrays in an ``.npz`` plus versioned JSON metadata.

A file is an uncompressed ``.npz`` (a zip of ``.npy`` arrays) holding:

- ``layers.<i>.weights`` (n_in, n_out) and ``layers.<i>.biases`` (n_out,) for each Dense layer
  ``i`` (its index in ``net.layers``), in the network's dtype; ``layers.<i>.mean`` and
  ``layers.<i>.std`` (n_units,) for a Standardize layer;
- ``__metadata__``: a 1-D uint8 array, the UTF-8 bytes of a JSON object with ``format``
  (``"chainrule-model"``), ``format_version``, ``kind`` (``"model"`` or ``"checkpoint"``),
  ``chainrule_version``, the architecture ``config`` (:meth:`Network.config`: layers, loss,
  dtype), ``sizes``, ``activations``, ``loss``, ``dtype``, ``arrays`` (name -> shape of every
  other array) and the caller's metadata (e.g. ``training_config``, ``final_metrics``);
- checkpoints add the optimizer's state arrays ``optimizer.<slot>.<i>`` (their shapes listed in
  the metadata; for each slot they hold one number per parameter: one array per parameter
  array, or one for the whole-network vector :func:`chainrule.fit` updates), per-parameter
  groups such as early stopping's ``early_stopping.best.<j>`` (shaped like parameter ``j`` of
  ``net.parameters()``), and in the JSON the optimizer's config and step count, each Dropout
  layer's RNG state and the training loop's state (epoch, step, shuffle RNG, history).

Reading never unpickles anything: every member's ``.npy`` header is read first and an object
array is refused before a byte of it is interpreted; the data is then read with
``allow_pickle=False``. Nothing is allocated from a header alone: the shape and dtype a header
claims must account for exactly the bytes its zip member holds. A truncated or tampered file,
an unknown format version, an array the format does not define, a missing array, or a shape or
dtype that disagrees with the metadata raises :class:`~chainrule.errors.ModelFileError` (a
``ValueError``) naming the file and the problem. Writes are atomic (a temporary file in the same
directory, fsync, rename): a failed save leaves the previous file as it was.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import zipfile

import numpy as np

from chainrule._atomic import atomic_writer
from chainrule.activations import ACTIVATIONS
from chainrule.backend import to_numpy
from chainrule.errors import ModelFileError
from chainrule.initializers import INITIALIZERS
from chainrule.layers import Dense, Dropout, Layer, Standardize
from chainrule.losses import LOSSES
from chainrule.network import Network
from chainrule.optimizers import Optimizer, get_optimizer

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "save",
    "load",
    "load_metadata",
    "save_checkpoint",
    "load_checkpoint",
    "LoadedCheckpoint",
    "ModelFileError",
]

FORMAT = "chainrule-model"
FORMAT_VERSION = 1
METADATA_KEY = "__metadata__"

_RESERVED = frozenset(
    {
        "format",
        "format_version",
        "kind",
        "chainrule_version",
        "config",
        "sizes",
        "activations",
        "loss",
        "dtype",
        "arrays",
        "groups",
        "optimizer",
        "dropout_rng",
        "training",
    }
)
_KINDS = ("model", "checkpoint")
_DTYPES = ("float32", "float64")
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


# -- writing ---------------------------------------------------------------------------------


def save(net: Network, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Write ``net`` to ``path`` (used as given; ``.npz`` is the usual suffix), atomically.

    Parameters
    ----------
    net : Network
    path : str or path-like
    metadata : dict, optional
        JSON-able extras stored at the top level of the metadata (e.g. ``training_config``,
        ``final_metrics``); NumPy scalars and arrays are converted. Keys the format uses
        (``format``, ``config``, ...) are refused.

    Raises ``ValueError`` (and writes nothing) if a parameter is NaN or infinite, or if an
    activation or the loss is not one of chainrule's own classes (:data:`ACTIVATIONS`,
    :data:`LOSSES`): the file names them, and :func:`load` rebuilds them from those names.
    """
    _check_arguments(net, metadata, path, "save(net, path)")
    if os.fspath(path).lower().endswith(".onnx"):
        raise ValueError(
            f"save writes chainrule's own .npz format, not ONNX; for an ONNX file use "
            f"chainrule.export.export_onnx(net, {os.fspath(path)!r}), or give save a .npz path"
        )
    _write(path, net, "model", metadata or {}, {}, {}, {})


def save_checkpoint(
    path: str | os.PathLike,
    net: Network,
    optimizer: Optimizer | None = None,
    state: dict | None = None,
    groups: dict[str, list[np.ndarray]] | None = None,
    metadata: dict | None = None,
) -> None:
    """Write a training checkpoint to ``path`` atomically.

    Parameters
    ----------
    net : Network
        Its parameters and each Dropout layer's ``rng`` state are saved.
    optimizer : Optimizer, optional
        Its config, step count and state arrays are saved.
    state : dict, optional
        JSON-able training-loop state (epoch, step, shuffle RNG state, history, ...), returned
        as :attr:`LoadedCheckpoint.state`.
    groups : dict of str to list of ndarray, optional
        Extra arrays, one per parameter and shaped like it (e.g. early stopping's best
        weights), returned in :attr:`LoadedCheckpoint.groups`.
    metadata : dict, optional
        As for :func:`save`.
    """
    _check_arguments(net, metadata, path, "save_checkpoint(path, net, ...)")
    extra: dict = {"training": state or {}}
    named: dict[str, np.ndarray] = {}
    if optimizer is not None:
        slots = optimizer.state_arrays()
        extra["optimizer"] = {
            "config": optimizer.config(),
            "iterations": optimizer.iterations,
            "slots": list(optimizer.slots),
            "arrays": {name: list(a.shape) for name, a in slots.items()},
        }
        named = {f"optimizer.{name}": a for name, a in slots.items()}
    all_groups: dict[str, list[np.ndarray]] = {}
    for name, arrays in (groups or {}).items():
        if not name or name.startswith("optimizer") or "/" in name:
            raise ValueError(f"bad checkpoint group name {name!r}")
        all_groups[name] = list(arrays)
    extra["dropout_rng"] = {
        str(i): layer.rng.bit_generator.state
        for i, layer in enumerate(net.layers)
        if isinstance(layer, Dropout)
    }
    _write(path, net, "checkpoint", metadata or {}, extra, all_groups, named)


def _check_arguments(net, metadata, path, order: str) -> None:
    if not isinstance(net, Network):
        swapped = f" (the arguments are {order})" if isinstance(path, Network) else ""
        raise TypeError(f"net must be a chainrule Network, got {type(net).__name__}{swapped}")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict or None, got {type(metadata).__name__}")


def _write(
    path, net: Network, kind: str, user: dict, extra: dict, groups: dict, named: dict
) -> None:
    import chainrule

    clash = _RESERVED.intersection(user)
    if clash:
        raise ValueError(f"metadata keys {sorted(clash)} are reserved by the file format")
    _check_rebuildable(path, net)
    arrays = _parameter_arrays(net)
    for name, param in arrays.items():
        if not np.isfinite(param).all():
            raise ValueError(f"{name} contains NaN or inf; not saving {os.fspath(path)}")
    params = net.parameters()
    for group, values in groups.items():
        if len(values) != len(params):
            raise ValueError(f"group {group!r} has {len(values)} arrays for {len(params)} params")
        for j, (value, param) in enumerate(zip(values, params)):
            if value.shape != param.shape:
                raise ValueError(f"{group}.{j} has shape {value.shape}, expected {param.shape}")
            arrays[f"{group}.{j}"] = np.ascontiguousarray(value, dtype=net.dtype)
    for name, value in named.items():
        arrays[name] = np.ascontiguousarray(value, dtype=net.dtype)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "chainrule_version": chainrule.__version__,
        "config": net.config(),
        "sizes": net.sizes,
        "activations": [layer.activation.name for layer in net.dense_layers],
        "loss": net.loss_function.name,
        "dtype": str(net.dtype),
        "groups": sorted(groups),
        "arrays": {name: list(a.shape) for name, a in arrays.items()},
        **extra,
        **user,
    }
    try:
        text = json.dumps(meta, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata is not JSON-able: {exc}") from exc
    arrays[METADATA_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    with atomic_writer(path) as fh:
        np.savez(fh, **arrays)


def _check_rebuildable(path, net: Network) -> None:
    """Refuse an activation or a loss that :func:`load` would not rebuild as the same class.

    The file holds only names (and settings such as LeakyReLU's slope); loading looks each
    name up in :data:`ACTIVATIONS` or :data:`LOSSES`. A custom class under a new name would
    not load at all, and a subclass keeping a built-in name would come back as the built-in.
    """
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Dense):
            where = f"layer {i} ({layer!r}) has activation"
            _check_named(path, where, layer.activation, ACTIVATIONS, "activations")
    _check_named(path, "the loss is", net.loss_function, LOSSES, "losses")


def _check_named(path, where: str, obj, table: dict, what: str) -> None:
    cls, name = type(obj), obj.name
    built_in = table.get(name) if isinstance(name, str) else None
    if built_in is cls:
        return
    outcome = (
        f"loading would give the plain {built_in.__name__}"
        if built_in is not None
        else "loading would fail"
    )
    raise ValueError(
        f"{where} {cls.__qualname__} (name {name!r}), not one of chainrule's own: a model file "
        f"can only hold the built-in {what} ({', '.join(sorted(table))}), which it stores by "
        f"name, so {outcome} (to keep the weights: np.savez(path, *net.parameters())); "
        f"not saving {os.fspath(path)}"
    )


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def _parameter_arrays(net: Network) -> dict[str, np.ndarray]:
    arrays = {}
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Dense):
            arrays[f"layers.{i}.weights"] = to_numpy(layer.weights)  # from any device
            arrays[f"layers.{i}.biases"] = to_numpy(layer.biases)
        elif isinstance(layer, Standardize):  # fixed statistics, not parameters
            arrays[f"layers.{i}.mean"] = layer.mean
            arrays[f"layers.{i}.std"] = layer.std
    return arrays


# -- reading ---------------------------------------------------------------------------------


@dataclasses.dataclass
class LoadedCheckpoint:
    """What :func:`load_checkpoint` returns.

    Attributes
    ----------
    net : Network
        With the saved weights, and each Dropout layer's RNG in its saved state.
    optimizer : Optimizer or None
        Rebuilt from its config, holding the saved state and step count.
    state : dict
        The training loop's state as saved (epoch, step, history, RNG states, ...).
    groups : dict of str to list of ndarray
        Extra per-parameter arrays (e.g. ``"early_stopping.best"``).
    metadata : dict
        The whole JSON metadata.
    path : str
    """

    net: Network
    optimizer: Optimizer | None
    state: dict
    groups: dict[str, list[np.ndarray]]
    metadata: dict
    path: str

    @property
    def epoch(self) -> int:
        """Epochs completed when the checkpoint was written."""
        return int(self.state.get("epoch", 0))


def load(path: str | os.PathLike, with_metadata: bool = False):
    """Read a model (or the network of a checkpoint) written by :func:`save`.

    Returns the :class:`Network`, or ``(network, metadata)`` with ``with_metadata=True``.
    Raises :class:`ModelFileError` naming the file and the problem; nothing is unpickled.
    """
    meta, arrays = _read(path)
    net = _build_network(path, meta, arrays)
    return (net, meta) if with_metadata else net


def class_names(meta: dict, net: Network, names_only: bool = False) -> list[str] | None:
    """The class names a model's metadata records, as strings, or None.

    ``meta["classes"]`` (as ``chainrule train`` writes it for a file of class names, or as
    docs/sklearn.md saves a classifier's ``classes_``) counts when it is a list of one distinct,
    non-empty name per class (two for one sigmoid output), each a string or a number (not a
    bool). With ``names_only``, numbers don't count: a data file's labels are then class
    indices. The command line and the web page both read a model's classes through this.
    """
    classes = meta.get("classes")
    n_classes = 2 if net.n_out == 1 else net.n_out
    if not (isinstance(classes, list) and len(classes) == n_classes):
        return None
    kinds = (str,) if names_only else (str, int, float)
    if not all(isinstance(c, kinds) and not isinstance(c, bool) for c in classes):
        return None
    names = [str(c) for c in classes]
    return names if are_class_names(names) else None


def are_class_names(value) -> bool:
    """Whether ``value`` is a list of distinct, non-empty strings."""
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(isinstance(c, str) and c for c in value)
        and len(set(value)) == len(value)
    )


def load_metadata(path: str | os.PathLike) -> dict:
    """The JSON metadata of a model or checkpoint file, as a dict (the arrays are not read)."""
    with _OpenZip(path) as (zf, members):
        return _read_metadata(path, zf, members)


def load_checkpoint(path: str | os.PathLike) -> LoadedCheckpoint:
    """Read a checkpoint written by :func:`save_checkpoint`. Raises :class:`ModelFileError`."""
    meta, arrays = _read(path)
    if meta.get("kind") != "checkpoint":
        _fail(path, f"is a {meta.get('kind')!r} file, not a checkpoint")
    net = _build_network(path, meta, arrays)
    try:
        for key, state in meta.get("dropout_rng", {}).items():
            layer = net.layers[int(key)]
            if not isinstance(layer, Dropout):
                raise ValueError(f"layer {key} is not a Dropout layer")
            layer.rng = _generator_from_state(state)
        optimizer = None
        n = len(net.parameters())
        if "optimizer" in meta:
            info = meta["optimizer"]
            optimizer = get_optimizer(info["config"])
            if list(optimizer.slots) != list(info["slots"]):
                raise ValueError(f"optimizer slots {info['slots']} do not match {optimizer!r}")
            slots = {name: arrays[f"optimizer.{name}"] for name in info["arrays"]}
            optimizer.load_state(slots, info["iterations"])
        groups = {
            g: [arrays[f"{g}.{j}"] for j in range(n)]
            for g in meta["groups"]
            if not g.startswith("optimizer.")
        }
        state = meta.get("training", {})
        if not isinstance(state, dict):
            raise ValueError("the training state is not a JSON object")
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        _fail(path, f"the checkpoint state is invalid: {exc}")
    return LoadedCheckpoint(net, optimizer, state, groups, meta, os.fspath(path))


def _generator_from_state(state: dict) -> np.random.Generator:
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in _BIT_GENERATORS:
        raise ValueError(f"unknown bit generator {name!r}")
    bit_generator = getattr(np.random, name)()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def _fail(path, problem: str):
    raise ModelFileError(f"{os.fspath(path)}: {problem}")


class _OpenZip:
    """``with _OpenZip(path) as (zipfile, {array name: member name})``, errors named."""

    def __init__(self, path):
        self.path = path
        self.zf: zipfile.ZipFile | None = None

    def __enter__(self):
        path = self.path
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        try:
            self.zf = zipfile.ZipFile(os.fspath(path))
        except FileNotFoundError:
            raise
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            _fail(path, f"not a readable .npz archive (truncated or not a model file): {exc}")
        names = self.zf.namelist()
        if len(set(names)) != len(names):
            _fail(path, "the archive has duplicate members")
        members = {}
        for name in names:
            if not name.endswith(".npy"):
                _fail(path, f"member {name!r} is not an array; the format does not define it")
            members[name[: -len(".npy")]] = name
        return self.zf, members

    def __exit__(self, *exc):
        if self.zf is not None:
            self.zf.close()
        return False


def _read_header(path, zf: zipfile.ZipFile, member: str, name: str):
    """Shape and dtype of one ``.npy`` member, read from its header alone.

    The header must describe exactly the bytes the member holds: ``header length + product of
    the shape * itemsize`` equals the member's uncompressed size in the zip directory. So a
    tampered header cannot make :func:`_read_array` allocate memory the file does not back.
    """
    try:
        with zf.open(member) as fp:
            version = np.lib.format.read_magic(fp)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
            else:
                raise ValueError(f"unsupported .npy version {version}")
            header_size = fp.tell()  # the data starts right after the header
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, SyntaxError, TypeError) as exc:
        _fail(path, f"array {name!r} is unreadable (truncated or tampered): {exc}")
    if dtype.hasobject:
        _fail(
            path,
            f"array {name!r} holds Python objects (pickled data); refused, nothing was unpickled",
        )
    data_size = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    member_size = zf.getinfo(member).file_size
    if header_size + data_size != member_size:
        _fail(
            path,
            f"array {name!r} is tampered or truncated: its header says shape {tuple(shape)} of "
            f"{dtype} ({data_size} bytes of data), but member {member!r} holds "
            f"{member_size - header_size} bytes of data",
        )
    return tuple(shape), dtype


def _read_array(path, zf: zipfile.ZipFile, member: str, name: str) -> np.ndarray:
    """The data of one ``.npy`` member (its header already checked by :func:`_read_header`)."""
    try:
        with zf.open(member) as fp:
            return np.lib.format.read_array(fp, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        _fail(path, f"array {name!r} is unreadable (truncated or tampered): {exc}")
    except MemoryError:
        _fail(path, f"array {name!r} is too large to load into memory")


def _read_metadata(path, zf, members) -> dict:
    if METADATA_KEY not in members:
        _fail(path, f"no {METADATA_KEY} array: not a chainrule model file")
    shape, dtype = _read_header(path, zf, members[METADATA_KEY], METADATA_KEY)
    if dtype != np.uint8 or len(shape) != 1:
        _fail(path, f"{METADATA_KEY} must be a 1-D uint8 array, got {dtype} of shape {shape}")
    raw = _read_array(path, zf, members[METADATA_KEY], METADATA_KEY)
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(path, f"the metadata is not valid UTF-8 JSON (tampered?): {exc}")
    except RecursionError:
        _fail(path, "the metadata's JSON is nested too deeply to read (tampered?)")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        _fail(path, f"the metadata does not describe a {FORMAT} file")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        _fail(path, f"the format version is {version!r}, not an integer (tampered?)")
    if version != FORMAT_VERSION:
        _fail(
            path,
            f"unknown format version {version!r}; this chainrule reads version {FORMAT_VERSION}"
            " (a newer chainrule may have written it)",
        )
    for key, allowed in (("kind", _KINDS), ("dtype", _DTYPES)):
        if meta.get(key) not in allowed:
            _fail(path, f"the metadata's {key} is {meta.get(key)!r}, not one of {allowed}")
    if not isinstance(meta.get("chainrule_version"), str):
        _fail(path, f"the chainrule version is {meta.get('chainrule_version')!r}, not a string")
    return meta


def _expected_arrays(path, meta: dict) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Every array the metadata's architecture implies, with its shape and dtype."""
    try:
        config = meta["config"]
        dtype = np.dtype(config["dtype"])
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype {dtype} is not float32 or float64")
        if meta["dtype"] != dtype.name:
            raise ValueError(f"dtype {meta['dtype']!r} disagrees with the config's {dtype.name!r}")
        params: list[tuple[int, ...]] = []
        expected = {}
        for i, layer in enumerate(config["layers"]):
            if layer["type"] == "dense":
                n_in, n_out = int(layer["n_in"]), int(layer["n_out"])
                expected[f"layers.{i}.weights"] = ((n_in, n_out), dtype)
                expected[f"layers.{i}.biases"] = ((n_out,), dtype)
                params += [(n_in, n_out), (n_out,)]
            elif layer["type"] == "standardize":
                n_units = _shape("n_units", [layer["n_units"]])
                expected[f"layers.{i}.mean"] = (n_units, dtype)
                expected[f"layers.{i}.std"] = (n_units, dtype)
        groups = meta.get("groups", [])
        if not isinstance(groups, list):
            raise ValueError("groups is not a list")
        for group in groups:
            for j, shape in enumerate(params):
                expected[f"{group}.{j}"] = (shape, dtype)
        if "optimizer" in meta:
            expected.update(_optimizer_arrays(meta["optimizer"], params, dtype))
        listed = {name: _shape(name, shape) for name, shape in meta["arrays"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        _fail(path, f"the metadata is invalid (tampered?): {exc!r}")
    implied = {name: shape for name, (shape, _) in expected.items()}
    if listed != implied:
        bad = sorted(set(listed.items()) ^ set(implied.items()))
        _fail(
            path,
            f"the metadata's array list disagrees with its architecture (tampered?): {bad[:4]}",
        )
    return expected


def _shape(name, shape) -> tuple[int, ...]:
    """A shape listed in the metadata, as a tuple; ``ValueError`` unless it is a list of
    non-negative integers."""
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise ValueError(f"the shape of {name!r} is {shape!r}, not a list of integers >= 0")
    return tuple(shape)


def _optimizer_arrays(info: dict, params: list[tuple[int, ...]], dtype) -> dict:
    """The optimizer's state arrays ``optimizer.<slot>.<i>``: for each slot, arrays whose sizes
    add up to the number of parameters (one per parameter, or one for the whole vector)."""
    slots = list(info["slots"])
    listed = {name: _shape(name, shape) for name, shape in info["arrays"].items()}
    n_parameters = sum(int(np.prod(shape)) for shape in params)
    for slot in slots:
        names = [name for name in listed if name.rsplit(".", 1)[0] == slot]
        total = sum(int(np.prod(listed[name])) for name in names)
        if names and total != n_parameters:
            raise ValueError(f"optimizer slot {slot!r} holds {total} numbers, not {n_parameters}")
    strays = [name for name in listed if name.rsplit(".", 1)[0] not in slots]
    if strays:
        raise ValueError(f"optimizer arrays {strays} belong to no slot of {slots}")
    return {f"optimizer.{name}": (shape, dtype) for name, shape in listed.items()}


def _read(path) -> tuple[dict, dict[str, np.ndarray]]:
    with _OpenZip(path) as (zf, members):
        meta = _read_metadata(path, zf, members)
        headers = {
            name: _read_header(path, zf, member, name)
            for name, member in members.items()
            if name != METADATA_KEY
        }
        expected = _expected_arrays(path, meta)
        extra = sorted(set(headers) - set(expected))
        if extra:
            _fail(path, f"array {extra[0]!r} is not part of the format")
        missing = sorted(set(expected) - set(headers))
        if missing:
            _fail(path, f"array {missing[0]!r} is missing (truncated or tampered)")
        for name, (shape, dtype) in expected.items():
            got_shape, got_dtype = headers[name]
            if got_shape != shape:
                _fail(path, f"array {name!r} has shape {got_shape}, the metadata says {shape}")
            if got_dtype != dtype:
                _fail(path, f"array {name!r} has dtype {got_dtype}, the metadata says {dtype}")
        arrays = {name: _read_array(path, zf, members[name], name) for name in expected}
    return meta, arrays


def _build_network(path, meta: dict, arrays: dict[str, np.ndarray]) -> Network:
    try:
        config = meta["config"]
        dtype = np.dtype(config["dtype"])
        layers: list[Layer] = []
        for i, lc in enumerate(config["layers"]):
            if lc["type"] == "dense":
                layer = Dense(lc["n_in"], lc["n_out"], lc["activation"], init="zeros", dtype=dtype)
                init = lc.get("init", layer.init)
                if not isinstance(init, str) or init.lower() not in INITIALIZERS:
                    raise ValueError(f"layer {i} has an unknown init {init!r}")
                layer.init = init
                layer.weights = arrays[f"layers.{i}.weights"]
                layer.biases = arrays[f"layers.{i}.biases"]
            elif lc["type"] == "dropout":
                layer = Dropout(lc["rate"], lc.get("n_units"), rng=0, dtype=dtype)
            elif lc["type"] == "standardize":
                mean, std = arrays[f"layers.{i}.mean"], arrays[f"layers.{i}.std"]
                layer = Standardize(mean, std, dtype=dtype)
            else:
                raise ValueError(f"unknown layer type {lc['type']!r}")
            layers.append(layer)
        net = Network(layers, loss=config["loss"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        _fail(path, f"cannot rebuild the network: {exc}")
    described = {  # what the file says at its top level, for readers of the metadata alone
        "sizes": list(net.sizes),
        "activations": [layer.activation.name for layer in net.dense_layers],
        "loss": net.loss_function.name,
    }  # (the dtype is checked with the arrays)
    for key, value in described.items():
        if key in meta and meta[key] != value:
            _fail(path, f"its {key!r} ({meta[key]!r}) contradicts its config ({value!r})")
    return net
