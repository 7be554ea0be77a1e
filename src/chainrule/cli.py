"""The ``chainrule`` command: the only place that parses arguments and prints.

Results go to stdout; progress and logs go to stderr (the progress bar only when stderr is a
terminal and ``--quiet`` is not given). A user mistake prints one line, ``chainrule: error:
...``, and exits with status 2 (1 for other failures); ``--debug`` shows the traceback. An
interrupted ``train`` exits with 130 after Ctrl-C (SIGINT), 143 after SIGTERM.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import json
import os
import re
import shlex
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np

from chainrule.datasets.errors import DatasetWarning
from chainrule.errors import TrainingWarning

try:
    import fcntl
except ImportError:  # Windows: no flock, so a run directory there is not locked (see _RunLock)
    fcntl = None

__all__ = ["main", "TrainConfig"]

EXIT_USAGE = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM


class CLIError(Exception):
    """A user mistake: printed as one line, exit status 2."""


# -- configuration -------------------------------------------------------------------------

# --class-weight: every example 1, or each class's examples n / (n_classes * its count)
CLASS_WEIGHTS = ("none", "balanced")


@dataclasses.dataclass
class TrainConfig:
    """Everything ``chainrule train`` needs; TOML keys and flags share these names."""

    dataset: str = "mnist"
    label_column: int | str = 0
    delimiter: str = ","
    layers: list[int] = dataclasses.field(default_factory=lambda: [784, 400, 400, 10])
    activation: list[str] = dataclasses.field(default_factory=lambda: ["relu"])
    loss: str = "cross_entropy"
    optimizer: str = "adam"
    lr: float | None = 3e-3
    schedule: str = "one_cycle"
    batch_size: int = 256
    epochs: int = 4
    seed: int = 0
    dtype: str = "float32"
    weight_decay: float | None = None
    dropout: float = 0.0
    val_split: float = 0.0
    early_stopping: int = 0
    checkpoint_every: int = 1
    subset: int | None = None
    standardize: bool = False
    class_weight: str = "none"
    weight_column: int | str | None = None  # a .csv column (or .npz array) of example weights

    def hidden_and_output(self) -> tuple[list[str], str | None]:
        n_dense = len(self.layers) - 1
        acts = list(self.activation)
        if len(acts) == 1:
            return acts * (n_dense - 1), None
        if len(acts) == n_dense:
            return acts[:-1], acts[-1]
        if len(acts) == n_dense - 1:
            return acts, None
        raise CLIError(
            f"--activation takes one name or one per layer ({n_dense - 1} hidden, or "
            f"{n_dense} with the output), got {len(acts)}: {','.join(acts)}"
        )


PRESETS = {
    # The network of the notes: 784-30-10 sigmoid, sum of squared errors, plain SGD.
    "seed": {
        "layers": [784, 30, 10],
        "activation": ["sigmoid"],
        "loss": "sse",
        "optimizer": "sgd",
        "lr": 3.0,
        "schedule": "constant",
        "batch_size": 10,
        "epochs": 30,
    },
}


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in str(text).replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if len(values) < 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected at least two positive sizes such as 784,100,10, got {text!r}"
        )
    return values


def _name_list(text: str) -> list[str]:
    values = [v for v in str(text).replace(" ", "").split(",") if v]
    if not values:
        raise argparse.ArgumentTypeError(
            f"expected one or more comma-separated names, got {text!r}"
        )
    return values


def _checked(convert, ok, expected: str):
    """An argparse type: ``convert`` the text, then require ``ok(value)``."""

    def parse(text: str):
        try:
            value = convert(text)
        except (ValueError, OverflowError):
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.expected = expected
    return parse


_positive_int = _checked(int, lambda v: v >= 1, "a positive integer")
_nonnegative_int = _checked(int, lambda v: v >= 0, "an integer >= 0")
_fraction = _checked(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
_nonnegative_float = _checked(float, lambda v: np.isfinite(v) and v >= 0, "a finite number >= 0")
_positive_float = _checked(float, lambda v: np.isfinite(v) and v > 0, "a finite number > 0")
_text = _checked(str, lambda v: v.strip() != "", "a non-empty string")
_dtype_name = _checked(str, lambda v: v in ("float32", "float64"), "float32 or float64")
_class_weight = _checked(str, lambda v: v in CLASS_WEIGHTS, "none or balanced")


def _label_column(text: str) -> int | str:
    """A CSV label column: an index (``-1`` is the last column) or a name from the header."""
    text = str(text).strip()
    if not text:
        raise argparse.ArgumentTypeError("expected a column index or name, got ''")
    try:
        return int(text)
    except ValueError:
        return text


_label_column.expected = "a column index or name"


def _delimiter(text: str) -> str:
    """A CSV cell separator: one character, or ``tab`` (also ``\\t``) for a tab."""
    text = str(text)
    if text.lower() == "tab" or text == "\\t":
        return "\t"
    if len(text) != 1 or text in '\r\n"':
        raise argparse.ArgumentTypeError(
            f"expected one character (not a quote or newline) or 'tab', got {text!r}"
        )
    return text


_delimiter.expected = "one character or 'tab'"


def _show_delimiter(delimiter: str) -> str:
    """A delimiter as the user gives it on the command line: ``tab`` or ``';'``."""
    return "tab" if delimiter == "\t" else repr(delimiter)


# how a value of the TOML file (or of a run's config.json) is checked: as the flag's text is
_CONVERTERS = {
    "dataset": _text,
    "label_column": _label_column,
    "delimiter": _delimiter,
    "layers": _int_list,
    "activation": _name_list,
    "loss": _text,
    "optimizer": _text,
    "lr": _positive_float,
    "schedule": _text,
    "batch_size": _positive_int,
    "epochs": _positive_int,
    "seed": _nonnegative_int,
    "dtype": _dtype_name,
    "class_weight": _class_weight,
    "weight_column": _label_column,
    "weight_decay": _nonnegative_float,
    "dropout": _fraction,
    "val_split": _fraction,
    "early_stopping": _nonnegative_int,
    "checkpoint_every": _nonnegative_int,
    "subset": _positive_int,
    "preset": _text,
    "output": _text,
}
_TEXT_KEYS = (
    "dataset",
    "delimiter",
    "loss",
    "optimizer",
    "schedule",
    "dtype",
    "class_weight",
    "preset",
    "output",
)
_BOOL_KEYS = ("plot", "standardize")  # switches: true or false in a settings file


def _file_value(key: str, value, where: str):
    """A value of a settings file, checked by the rules of its flag; CLIError naming it."""
    if key in _BOOL_KEYS:
        if not isinstance(value, bool):
            raise CLIError(f"{where}: {key}: expected true or false, got {value!r}")
        return value
    convert = _CONVERTERS[key]
    if key in ("layers", "activation") and isinstance(value, list):
        kind, kinds = (str, "names") if key == "activation" else (int, "integers")
        if not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
            raise CLIError(f"{where}: {key}: expected a list of {kinds}, got {value!r}")
        value = ",".join(map(str, value))
    elif key in _TEXT_KEYS or key == "activation":
        if not isinstance(value, str):
            raise CLIError(f"{where}: {key}: expected a string, got {value!r}")
    elif isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise CLIError(f"{where}: {key}: expected {convert.expected}, got {value!r}")
    try:
        return convert(str(value))
    except argparse.ArgumentTypeError as exc:
        raise CLIError(f"{where}: {key}: {exc}")


def _load_toml(path: str) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise CLIError(f"config file not found: {path}")
    except IsADirectoryError:
        raise CLIError(f"config file is a directory: {path}")
    except tomllib.TOMLDecodeError as exc:
        raise CLIError(f"{path}: not valid TOML ({exc})")
    data = data.get("train", data)
    if not isinstance(data, dict):
        raise CLIError(f"{path}: [train] must be a table of settings")
    known = {f.name for f in dataclasses.fields(TrainConfig)} | {"preset", "output", "plot"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise CLIError(
            f"{path}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}"
        )
    return {key: _file_value(key, value, path) for key, value in data.items()}


def _user_settings(args: argparse.Namespace) -> tuple[dict, dict, dict]:
    """What the user asked for: ``(values, sources, extras)`` from the preset, the TOML file
    and the flags (later ones win); ``sources`` names where each value came from."""
    values: dict = {}
    sources: dict = {}
    file_values = _load_toml(args.config) if args.config else {}
    extras = {key: file_values.pop(key) for key in ("output", "plot") if key in file_values}
    preset = args.preset or file_values.pop("preset", None)
    file_values.pop("preset", None)
    if preset:
        if preset not in PRESETS:
            raise CLIError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
        values.update(PRESETS[preset])
        sources.update(dict.fromkeys(PRESETS[preset], f"--preset {preset}"))
    values.update(file_values)
    sources.update({key: f"{args.config}: {key}" for key in file_values})
    for field in dataclasses.fields(TrainConfig):
        flag = getattr(args, field.name, None)
        if flag is not None:
            values[field.name] = flag
            sources[field.name] = "--" + field.name.replace("_", "-")
    return values, sources, extras


def resolve_train_config(
    args: argparse.Namespace, base: dict | None = None
) -> tuple[TrainConfig, dict]:
    """Defaults (or ``base``), then the preset, then the TOML file, then flags: later ones win."""
    values, _, extras = _user_settings(args)
    return TrainConfig(**{**(base or {}), **values}), extras


# -- data ------------------------------------------------------------------------------------


def _is_data_file(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in (".csv", ".npz")


def _check_dataset_name(name: str) -> None:
    """CLIError for a dataset that is neither a ``.csv``/``.npz`` file nor a registered name
    but looks like a file (it exists, or has an extension: ``data.tsv``, ``data.txt``): what
    the command line reads, and what to do; other names get the list of valid ones later."""
    from chainrule import datasets

    if name in datasets.DATASETS or not (os.path.exists(name) or os.path.splitext(name)[1]):
        return
    raise CLIError(
        f"the dataset {name} is not a file chainrule reads: data files end in .csv (a label "
        "column and features as text, the cells separated by ',' or by --delimiter, e.g. "
        "--delimiter tab for tab-separated values) or .npz (arrays x and y); rename the file, "
        f"or give a dataset name: {', '.join(sorted(datasets.DATASETS))}"
    )


def _regular_file(path: str, what: str) -> None:
    """CLIError unless ``path`` is a regular file (a FIFO or device could block forever)."""
    if not os.path.exists(path):
        raise CLIError(f"{what} not found: {path}")
    if not os.path.isfile(path):
        raise CLIError(f"{what} is not a regular file: {path}")


def load_dataset_file(
    name: str,
    label_column: int | str = 0,
    classes: list[str] | None = None,
    delimiter: str = ",",
    weights_at: int | None = None,
    read_weights: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[str] | None, np.ndarray | None]:
    """``(x, y, classes, weights)`` of a ``.csv``/``.npz`` dataset file (a CSV's labels in
    ``label_column``, its cells separated by ``delimiter``): ``classes`` the class names of
    labels that are names (numbered in sorted order, or by the ``classes`` given), None for
    class indices. ``weights_at``: a .csv file's weight column (its index in a row, from
    :func:`_weight_position`), no feature: ``weights`` its numbers in float64 (unchecked), or
    None (no such column, or not ``read_weights``: left out unread)."""
    from chainrule import datasets

    _regular_file(name, "dataset file")
    if name.lower().endswith(".npz"):
        if label_column != 0:
            raise CLIError(
                f"--label-column {label_column}: {name} is an .npz file, whose labels are its "
                "array 'y'; the option is for .csv files"
            )
        if delimiter != ",":
            raise CLIError(
                f"--delimiter {_show_delimiter(delimiter)}: {name} is an .npz file, which has no "
                "cells to separate; the option is for .csv files"
            )
        return (*datasets.load_npz(name, classes=classes, return_classes=True), None)
    loaded = datasets.load_csv(
        name,
        label_column=label_column,
        classes=classes,
        return_classes=True,
        delimiter=delimiter,
        weight_column=weights_at,
        read_weights=read_weights,
    )
    return loaded if weights_at is not None else (*loaded, None)


FEW_UPDATES = 25  # fewer optimizer steps than this in a whole run: train says so,
SOME_UPDATES = 500  # and suggests a run of about this many; a file's run of fewer than
AUTO_UPDATES = 100  # this, with neither batch size nor epochs given, is sized for SOME_UPDATES
TEST_FRACTION = 0.1  # the share of a data file that train holds out as its test set
# what to do with a run that has nothing to resume: its directory is refused as "already holds
# a run" without --overwrite
TRAIN_AGAIN = "train it again (with --overwrite to replace this run, or another --output)"


def _sized_run(n_fit: int, batch_size: int, epochs: int) -> tuple[int, int]:
    """``(batch, epochs)`` for about SOME_UPDATES updates on ``n_fit`` training examples:
    batches of at most 16, and at least ``epochs`` epochs."""
    batch = min(batch_size, 16)
    return batch, max(epochs, -(-SOME_UPDATES // -(-n_fit // batch)))


def load_train_test(config: TrainConfig, classes: list[str] | None = None, sources=None):
    """``(x_train, y_train, x_test, y_test, input_scale, classes, test_split, w_train,
    w_test)`` for the configured dataset.

    MNIST-like image sets keep their training images as uint8 (a quarter of the memory;
    ``fit`` scales each batch by ``input_scale = 1/255``); test images come as float32 in
    [0, 1], as ``evaluate`` and ``predict`` give them to the network. Files: float32, no scale;
    ``classes``: a file's class names (numbered by the ``classes`` given: a resumed run's),
    None for class indices and for the image sets. ``test_split``: for a file, how its test
    set was held out (:func:`_test_split_record`, kept in the model so that ``evaluate``
    finds the same examples again); None for the image sets. ``w_train``, ``w_test``: the
    weights of ``config.weight_column`` (:func:`_split_off_weights`, taken out of the
    features), else None; ``sources`` names the settings in error messages.
    """
    from chainrule import datasets

    name = config.dataset
    w_train = w_test = None
    flag = (sources or {}).get("weight_column", "--weight-column")
    if _is_data_file(name):
        position = None
        if config.weight_column is not None and name.lower().endswith(".csv"):
            found = _weight_position(
                name, config.weight_column, config.label_column, config.delimiter, flag
            )
            if found is None:  # the loader says what is wrong with the file
                datasets.load_csv(name, config.label_column, delimiter=config.delimiter)
                raise CLIError(f"{flag} {config.weight_column}: cannot read the columns of {name}")
            position = found[0]
        x, y, classes, weights = load_dataset_file(
            name, config.label_column, classes, config.delimiter, position
        )
        x, weights = _split_off_weights(
            name,
            x,
            weights,
            config.label_column,
            config.weight_column,
            config.delimiter,
            flag,
            position,
        )
        if classes is None and len(y) > 10 and len(np.unique(y)) == len(y):  # each label once
            raise CLIError(
                f"every label of {name} (--label-column {config.label_column!r}) is another "
                f"number ({len(y)} labels for {len(y)} examples): a row number or an ID, not "
                "classes (pandas' to_csv writes its index unless index=False); name the label "
                "column with --label-column"
            )
        if len(x) < 5:  # 10% of fewer rounds to no test example at all
            raise CLIError(
                f"the dataset {name} has {len(x)} example{'s' * (len(x) != 1)}: too few to hold "
                "out 10% of them as the test set (at least 5 are needed)"
            )
        # a held-out test split (10%, stratified, seeded) for the reported test accuracy; the
        # split comes before --subset, so the test set does not depend on it
        try:
            x_train, y_train, x_test, y_test = datasets.train_val_split(
                x, y, val_fraction=TEST_FRACTION, seed=config.seed
            )
        except ValueError as exc:  # in the words of the command line, not of the function
            if "every one of the" not in str(exc):
                raise
            raise CLIError(
                f"every one of the {len(y)} labels of {name} (--label-column "
                f"{config.label_column!r}) is different (IDs, or a number per row?): a class "
                "each, nothing to learn; if another column holds the labels, name it with "
                "--label-column"
            ) from None
        input_scale = None
        if weights is not None:  # split as the rows were (the split goes by the labels only)
            train_rows, _, test_rows, _ = datasets.train_val_split(
                np.arange(len(x)), y, val_fraction=TEST_FRACTION, seed=config.seed
            )
            w_train, w_test = weights[train_rows], weights[test_rows]
        test_split = _test_split_record(len(x), x_test, y_test, config.seed, w_test)
    else:
        _check_dataset_name(name)
        if config.weight_column is not None:
            raise CLIError(
                f"{flag} {config.weight_column}: the dataset {name} has no weights; the option "
                "is for .csv files (a column) and .npz files (an array)"
            )
        if config.label_column != 0:
            raise CLIError(
                f"--label-column {config.label_column}: the dataset {name} is not a .csv file"
            )
        if config.delimiter != ",":
            raise CLIError(
                f"--delimiter {_show_delimiter(config.delimiter)}: the dataset {name} is not a "
                ".csv file"
            )
        x_train, y_train = datasets.load_dataset(name, "train", dtype=np.uint8)
        x_test, y_test = datasets.load_dataset(name, "test")
        input_scale, classes, test_split = IMAGE_INPUT_SCALE, None, None
    if config.subset:
        x_train, y_train = x_train[: config.subset], y_train[: config.subset]
        w_train = None if w_train is None else w_train[: config.subset]
    return x_train, y_train, x_test, y_test, input_scale, classes, test_split, w_train, w_test


def _weight_position(
    path: str, weight_column, label_column, delimiter: str, flag: str, n_columns=None
) -> tuple[int, int] | None:
    """``(weights_at, label_at)``: the indices, in a .csv file's rows, of its weight column
    ``weight_column`` (a name in the header, or an index: -1 the last) and of its label
    column ``label_column``; a CLIError naming ``flag`` where the file has no
    such column, or where it is the label column. ``n_columns`` (evaluate, predict: files
    that may or may not hold the column): None, not an error, where the file has another
    number of columns than ``n_columns`` or, the column given by name, no such name."""
    from chainrule.datasets import DatasetError
    from chainrule.datasets.tabular import _csv_header, _head_records

    try:
        columns, label_at = _csv_header(path, label_column, delimiter)
        head = _head_records(path, delimiter, 1)
    except (DatasetError, OSError):
        return None  # the loader says what is wrong with the file, in its own words
    ncols = len(head[0][1]) if head else 0
    if n_columns is not None and ncols != n_columns:
        return None
    if label_at is None and isinstance(label_column, int) and ncols:  # a file without header
        label_at = label_column % ncols
    if isinstance(weight_column, str):
        found = [i for i, c in enumerate(columns or []) if c == weight_column]
        if len(found) != 1:
            if n_columns is not None:
                return None
            if columns is None:
                raise CLIError(
                    f"{flag} {weight_column}: the column is given by name, but {path} has no "
                    "header row; give its index (counting from 0; -1 for the last)"
                )
            problem = "no column" if not found else f"{len(found)} columns"
            raise CLIError(
                f"{flag} {weight_column}: {path} has {problem} named {weight_column!r} in its "
                f"header (columns: {', '.join(columns)})"
            )
        position = found[0]
    else:
        if not -ncols <= weight_column < ncols:
            raise CLIError(
                f"{flag} {weight_column}: out of range for the {ncols} columns of {path}"
            )
        position = weight_column % ncols
    if position == label_at:
        raise CLIError(
            f"{flag} {weight_column}: that is the label column of {path} (--label-column "
            f"{label_column!r}); the weights must be a column of their own"
        )
    return position, label_at


def _split_off_weights(
    path: str,
    x,
    weights,
    label_column,
    weight_column,
    delimiter: str,
    flag: str,
    position: int | None = None,
    required: bool = True,
    check: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(x, weights)``: the features ``x`` and weights of a .csv/.npz file as
    :func:`load_dataset_file` read them (a .csv file's weight column ``weight_column``, at
    ``position`` in its rows, read apart from the features), the weights checked as ``fit``
    checks ``sample_weight`` (finite, >= 0, not all zero: a CLIError naming the line and
    column). A .npz file's weights are its array named ``weight_column`` (not ``required``,
    evaluate and explain: None where it has none). ``check`` False (commands that do not use
    the weights): ``(x, None)``, the weights neither read nor checked."""
    if weight_column is None or not check:
        return x, None
    if path.lower().endswith(".npz"):
        return x, _npz_weights(path, weight_column, len(x), flag, required=required)
    if weights is None:
        return x, None
    columns = (_read_header(path, label_column, delimiter) or (None,))[0]

    def place(row: int) -> str:
        return _csv_place(path, row, delimiter, position, columns)

    _check_weights(weights, flag, weight_column, place)
    return x, weights


def _weight_cell_error(exc: Exception, weights_at: int | None, what: str) -> CLIError | None:
    """The loader's error ``exc`` about a cell of a .csv file's weight column (``weights_at``,
    0-based in the row), in words for weights rather than features (``what`` names the
    column); None for an error about another cell."""
    text = str(exc)
    number = re.search(r", line \d+, column (\d+)", text)
    if weights_at is None or not number or int(number[1]) != weights_at + 1:
        return None
    return CLIError(f"{_without_cell_hint(text)} ({what}: the weights must be numbers)")


def _without_cell_hint(text: str) -> str:
    """The loader's error about a cell without its hint about features (or, given the weight
    column, about weights), which the caller replaces by its own words for the weights."""
    return text.split(" (features")[0].split(" (the weight column: ")[0]


def _feature_index(column: int, label_at: int | None) -> int:
    """The index among a .csv row's features of its column ``column`` (not the label
    column): one less past the label column ``label_at`` (None: the row has none)."""
    return column - (label_at is not None and column > label_at)


def _npz_weights(path: str, name, n: int, flag: str, required: bool = True):
    """The array ``name`` of the .npz file ``path``: one weight per example (checked). Not
    ``required`` (evaluate, explain): None where the file has no such array, or ``name`` is
    a .csv file's column index (a model trained on a .csv file)."""
    if not isinstance(name, str):
        if not required:
            return None
        raise CLIError(
            f"{flag} {name}: {path} is an .npz file, whose weights are an array of it: give "
            "the array's name"
        )
    if name in ("x", "y"):  # the arrays the loader reads (as a .csv file's label column)
        what = "the features" if name == "x" else "the labels"
        raise CLIError(
            f"{flag} {name}: the array {name!r} of {path} holds {what}; the weights must be an "
            "array of their own"
        )
    with np.load(path, allow_pickle=False) as data:
        if name not in data.files:
            if not required:
                return None
            raise CLIError(
                f"{flag} {name}: {path} has no array named {name!r} (its arrays: "
                f"{', '.join(data.files)})"
            )
        weights = data[name]
    if weights.shape != (n,) or weights.dtype.kind not in "biuf":
        raise CLIError(
            f"{flag} {name}: the array {name!r} of {path} must hold one number per example "
            f"({n}), got shape {weights.shape} of {weights.dtype}"
        )
    weights = weights.astype(np.float64)
    _check_weights(weights, flag, name, lambda row: f"{path}, array {name!r}, row {row}")
    return weights


def _check_weights(weights: np.ndarray, flag: str, column, place) -> None:
    """CLIError unless ``weights`` are what ``fit`` takes as ``sample_weight`` (its own check,
    in the command line's words); ``place(row)``: where in the file row ``row`` is."""
    from chainrule.network import check_sample_weight

    try:
        check_sample_weight(weights, len(weights))
    except ValueError as exc:
        text = str(exc).replace("sample_weight must", "a weight must")
        text = text.replace("sample_weight is", "the weight is")
        row = re.search(r" at row (\d+)$", text)
        where = ""
        if row:
            text, where = text[: row.start()], f"{place(int(row[1]))}: "
        raise CLIError(
            f"{where}{text} ({flag} {column}: one weight per example, a finite number >= 0)"
        ) from None


def _csv_place(path: str, row: int, delimiter: str, column: int, columns) -> str:
    """``path, line L, column C ('name')``: where data row ``row`` (0-based) of a .csv file
    has its cell of ``column``, as the loaders name a cell."""
    from chainrule.datasets.tabular import _describe, _head_records

    records = _head_records(path, delimiter, row + 1 + (columns is not None))
    line = records[-1][0] if records else "?"
    return f"{path}, line {line}, column {_describe(column, columns)}"


def _test_digest(x_test: np.ndarray, y_test: np.ndarray) -> str:
    """The SHA-256 of a test set as loaded (float32 features and int64 labels, with shapes)."""
    import hashlib

    digest = hashlib.sha256()
    x = np.ascontiguousarray(x_test, dtype=np.float32)
    y = np.ascontiguousarray(y_test, dtype=np.int64)
    digest.update(f"{x.shape} {y.shape}".encode())
    digest.update(x.tobytes())
    digest.update(y.tobytes())
    return digest.hexdigest()


def _weights_digest(weights: np.ndarray) -> str:
    """The SHA-256 of a test set's weights (float64, as ``train`` reads them)."""
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(weights, dtype=np.float64).tobytes()).hexdigest()


def _test_split_record(n_examples: int, x_test, y_test, seed: int, w_test=None) -> dict:
    """The model's metadata ``test_split``: how ``train`` held out a data file's test set,
    and a digest of that test set (to tell whether the file still gives the same one). With
    the weights ``w_test`` (--weight-column), their digest too, ``weights_sha256``, apart from
    the examples' ``sha256`` (which ``explain``, that does not read the weights, checks alone):
    ``evaluate`` reports the weighted accuracy of the test set, which must be ``train``'s."""
    record = {
        "val_fraction": TEST_FRACTION,
        "seed": int(seed),
        "n_examples": int(n_examples),
        "n_test": int(len(y_test)),
        "sha256": _test_digest(x_test, y_test),
    }
    if w_test is not None:
        record["weights_sha256"] = _weights_digest(w_test)
    return record


MAX_CLASSES = 1000  # class indices beyond this are refused: not a classifier's labels
LARGE_FEATURE = 100.0  # |x| above which `train` suggests --standardize for a file's features
RARE_CLASSES = 0.75  # a most common class this share of the test set: --class-weight suggested
IMAGE_INPUT_SCALE = 1 / 255  # uint8 pixels -> [0, 1], recorded in the model as input_scale


_LABEL_NAMES = frozenset(
    "label labels class classes target targets y species category outcome kind type".split()
)


def _read_header(path: str, label_column, delimiter: str, n_features=None) -> tuple | None:
    """``(columns, label_at)`` of a .csv file's first rows, as the loaders read them
    (``chainrule.datasets.tabular._csv_header``), or None where they cannot be read (the
    loader reports that, in its own words)."""
    from chainrule.datasets import DatasetError
    from chainrule.datasets.tabular import _csv_header

    if not (isinstance(path, str) and path.lower().endswith(".csv")):
        return None
    try:
        return _csv_header(path, label_column, delimiter, n_features)
    except (DatasetError, OSError):
        return None


def _defaulted_label_name(config: TrainConfig) -> str | None:
    """How to name a .csv dataset's first column, taken for the labels by default, when that
    is worth a note: its header name (``'Pregnancies'``) when it does not look like a label
    column's (``label``, ``target``, ``0`` from pandas), ``""`` for a file without a header;
    else None."""
    header = _read_header(config.dataset, 0, config.delimiter)
    if header is None:
        return None
    if header[0] is None:  # no header: say which column the labels come from all the same
        return ""
    name = header[0][0].strip()
    numbered = name.isdigit()  # pandas' name for an unnamed column: nothing to go by
    return repr(name) if name and not numbered and name.casefold() not in _LABEL_NAMES else None


def _header_names(config: TrainConfig) -> list[str]:
    """The header names of a .csv dataset read without a label column ([] without one)."""
    header = _read_header(config.dataset, None, config.delimiter)
    return (header and header[0]) or []


def _label_like_column(config: TrainConfig) -> str | None:
    """The header name of a .csv dataset's column that looks like the labels' (``target``,
    ``species``, ...) other than the first, or None."""
    found = [c for c in _header_names(config)[1:] if c.strip().casefold() in _LABEL_NAMES]
    return found[0] if len(found) == 1 else None


def _header_of_names(config: TrainConfig) -> bool:
    """Whether the .csv dataset's header has two names or more (a first row of numbers and
    one name may be data: a class name, not a column's)."""
    from chainrule.datasets.tabular import _is_name

    return sum(_is_name(c) for c in _header_names(config)) >= 2


def _head(config: TrainConfig, n: int) -> list[tuple[int, list[str]]]:
    """The first ``n`` records ``(line, cells)`` of a .csv dataset ([] if unreadable)."""
    from chainrule.datasets import DatasetError
    from chainrule.datasets.tabular import _head_records

    try:
        return _head_records(config.dataset, config.delimiter, n)
    except (DatasetError, OSError):
        return []


def _first_data_line(config: TrainConfig) -> int | None:
    """The line number of a .csv dataset's first row of data (after its header, if the
    loaders find one with the default label column), or None."""
    header = _read_header(config.dataset, 0, config.delimiter)
    if header is None:
        return None
    at = int(header[0] is not None)
    head = _head(config, 2)
    return head[at][0] if len(head) > at else None


def _same_column(path: str, a: int | str, b: int | str, delimiter: str) -> bool:
    """Whether ``a`` and ``b`` name the same column of the .csv file ``path`` (an index, a
    negative index, a header name): compared by the column's position in the file."""
    first, second = _column_position(path, a, delimiter), _column_position(path, b, delimiter)
    return first is not None and first == second


def _column_position(path: str, column: int | str, delimiter: str) -> int | None:
    """The index, in the rows of the .csv file ``path``, of its column ``column`` (a header
    name, or an index: -1 the last), or None where it has no such column or cannot be read."""
    from chainrule.datasets import DatasetError
    from chainrule.datasets.tabular import _head_records

    header = _read_header(path, column, delimiter)
    if header is None:
        return None
    if header[1] is not None:
        return header[1]
    if not isinstance(column, int):  # a name, and no header to find it in
        return None
    try:  # a file without a header: the index itself, counted in its first row
        head = _head_records(path, delimiter, 1)
    except (DatasetError, OSError):
        return None
    ncols = len(head[0][1]) if head else 0
    return column % ncols if -ncols <= column < ncols else None


def _lonely_first_label(config: TrainConfig, classes: list[str], labels: np.ndarray):
    """The class name in the first line of a .csv dataset read without a header (its label
    column given by index) when that line is the class's only example: perhaps a header of
    numbers above the label column's name (years, say); else None."""
    column = config.label_column
    if not config.dataset.lower().endswith(".csv") or not isinstance(column, int):
        return None
    head = _head(config, 1)
    if not head or not -len(head[0][1]) <= column < len(head[0][1]):
        return None
    label = head[0][1][column].strip()
    if label in classes and np.count_nonzero(labels == classes.index(label)) == 1:
        return label
    return None


def _standardizer(x: np.ndarray, input_scale: float | None, dtype, rows=None):
    """The :class:`~chainrule.layers.Standardize` layer of ``--standardize``: the mean and
    standard deviation of each column of ``x[rows] * input_scale`` (what the network trains
    on: ``rows`` leaves out the ``--val-split`` part; ``x`` itself when there is no scale); a
    column that never varies gets std 1. The statistics come from ``x`` itself (60,000 uint8
    images are never copied whole) and grow linearly with the scale."""
    from chainrule.layers import Standardize

    mean, std = Standardize.statistics(x, subset=rows)
    if input_scale is not None:
        mean *= input_scale
        std *= input_scale
    std[std == 0] = 1.0
    try:
        return Standardize(mean, std, dtype=dtype)
    except ValueError as exc:
        raise CLIError(f"--standardize: {exc}") from None


# -- output helpers ----------------------------------------------------------------------------


def _log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


def _to_devnull(stream) -> None:
    """Point ``stream``'s file descriptor at /dev/null (its reader is gone: a broken pipe), so
    that later writes, and the flush at exit, succeed quietly (as the Python docs advise)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


class _PipeSafe:
    """A text stream that drops what is written once its reader has gone (a broken pipe):
    ``chainrule train ... | head`` goes on training and writing its files, just silently."""

    def __init__(self, stream):
        self._stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self.broken = True
                _to_devnull(self._stream)
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self.broken = True
                _to_devnull(self._stream)

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def _pipe_safe_output():
    """stdout and stderr as :class:`_PipeSafe` streams for the duration."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _PipeSafe(sys.stdout), _PipeSafe(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def _fmt(value, spec: str) -> str:
    width = int("".join(c for c in spec.split(".")[0] if c.isdigit()) or 0)
    return f"{'-':>{width}}" if value is None else format(value, spec)


class _EpochTable:
    """Per-epoch lines on stderr; a tqdm bar per epoch when stderr is a terminal."""

    header = (
        f"{'epoch':>5}  {'loss':>8}  {'acc':>7}  {'val_loss':>8}  {'val_acc':>7}  "
        f"{'lr':>9}  {'sec':>6}"
    )

    def __init__(self, show_bar: bool, quiet: bool):
        self.show_bar = show_bar and not quiet
        self.quiet = quiet
        self.bar = None
        self.running = None

    def on_train_begin(self, info=None):
        self.running = (info or {}).get("running_metrics")
        if not self.quiet:
            _log(self.header)

    def on_epoch_begin(self, epoch, n_batches):
        if self.show_bar:
            try:
                from tqdm import tqdm
            except ImportError:  # the bar is optional: pip install 'chainrule[cli]'
                self.show_bar = False
                return
            self.bar = tqdm(
                total=n_batches,
                desc=f"epoch {epoch}",
                unit="batch",
                leave=False,
                file=sys.stderr,
                mininterval=0.25,
            )

    def on_batch_end(self, epoch, batch_index, n_batches, loss):
        if self.bar is not None:
            self.bar.update(1)
            if batch_index % 50 == 0 and self.running is not None:
                metrics = self.running()
                postfix = {"loss": f"{metrics['loss']:.4f}"}
                if metrics.get("accuracy") is not None:
                    postfix["acc"] = f"{metrics['accuracy']:.4f}"
                self.bar.set_postfix(postfix, refresh=False)

    def on_epoch_end(self, epoch, record):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if not self.quiet:
            _log(
                f"{epoch:>5}  {_fmt(record.get('loss'), '8.4f')}  "
                f"{_fmt(record.get('accuracy'), '7.4f')}  {_fmt(record.get('val_loss'), '8.4f')}  "
                f"{_fmt(record.get('val_accuracy'), '7.4f')}  "
                f"{_fmt(record.get('learning_rate'), '9.3g')}  "
                f"{_fmt(record.get('seconds'), '6.2f')}"
            )

    def on_train_end(self, history=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _latest_pointer() -> Path:
    from chainrule.datasets import cache_dir

    return Path(cache_dir()) / "latest-model.txt"


def _remember_latest(model_path: Path) -> None:
    from chainrule._atomic import atomic_write_bytes

    try:
        pointer = _latest_pointer()
        pointer.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(pointer, str(model_path.resolve()).encode())
    except OSError:
        pass  # remembering the latest model is a convenience, never a failure


def latest_model() -> Path | None:
    """The model written by the most recent ``chainrule train``, if it still exists."""
    try:
        path = Path(_latest_pointer().read_text().strip())
    except OSError:
        return None
    return path if path.is_file() else None


def _write_json(path: Path, data) -> None:
    from chainrule._atomic import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())


def _load_model(path: str, command: str):
    """The network of the model file ``path`` (for ``chainrule command``: its messages name
    it); a CLIError for a run directory without a model, or a data file given instead."""
    import chainrule

    if os.path.isdir(path) and not os.path.exists(os.path.join(path, "model.npz")):
        ran = any(os.path.exists(os.path.join(path, m)) for m in _RUN_MARKERS)
        hint = (
            f" (a run that has not finished: continue it with chainrule train --resume "
            f"{shlex.quote(path)})"
            if ran and os.path.isdir(os.path.join(path, "checkpoints"))
            else ""
        )
        raise CLIError(f"{path} is a directory without a model.npz{hint}")
    _regular_file(path, "model file")
    reads = (
        f"chainrule {command} reads model files (the .npz that chainrule train writes, or its "
        "run directory)"
    )
    given = shlex.quote(path)
    to_train = f"to train a model on this file: chainrule train --dataset {given}"
    to_use = f"to use a model on it: chainrule evaluate MODEL --dataset {given}"
    if path.lower().endswith(".csv"):  # a data file where a model goes: say what goes there
        raise CLIError(
            f"{path} is a .csv data file: {reads}; {to_train}; {to_use}, or chainrule predict "
            f"MODEL {given}"
        )
    import zipfile

    if command == "info" and not zipfile.is_zipfile(path):
        raise CLIError(f"{path} is not a model file: {reads}")
    if _is_npz_dataset(path):  # a dataset where a model goes, as a .csv file above
        raise CLIError(
            f"{path} is an .npz data file (arrays x and y, a dataset): {reads}; {to_train}; "
            f"{to_use}"
        )
    return chainrule.load(path)


def _is_npz_dataset(path: str) -> bool:
    """Whether ``path`` is an .npz archive of a dataset (arrays ``x`` and ``y``), not a model
    file (no ``__metadata__`` array); its arrays' names only are read."""
    import zipfile

    from chainrule.serialization import METADATA_KEY

    try:
        with zipfile.ZipFile(path) as archive:
            names = {n.removesuffix(".npy") for n in archive.namelist()}
    except (OSError, zipfile.BadZipFile):
        return False  # (chainrule.load says what is wrong with it)
    return METADATA_KEY not in names and {"x", "y"} <= names


def _model_path(path: str) -> str:
    """A MODEL argument: a model file, or a run directory of ``chainrule train`` (what it
    prints as 'run directory'), for its ``model.npz``."""
    model = os.path.join(path, "model.npz")
    return model if os.path.isdir(path) and os.path.isfile(model) else path


def _check_fits(net, x, what: str, defaulted: bool = False) -> None:
    """CLIError unless ``x`` has the model's number of inputs; ``defaulted``: ``what`` is the
    dataset used for want of a --dataset (the model records no data file of its own)."""
    if x.shape[1] != net.n_in:
        hint = (
            f" (the default: the model records no data file of its own); give --dataset FILE, "
            f"data of {net.n_in} features"
            if defaulted
            else ""
        )
        raise CLIError(
            f"the model takes {net.n_in} inputs but {what} has {x.shape[1]} features per "
            f"example{hint}"
        )


def _check_labels(net, y, what: str, first: int = 0) -> None:
    """CLIError unless every label in ``y`` (examples ``first``, ``first + 1``, ... of
    ``what``) is one of the model's classes."""
    n_classes = max(net.n_out, 2)
    if y.size and y.max() >= n_classes:
        i = int(np.argmax(y >= n_classes))
        raise CLIError(
            f"{what}: example {first + i} has label {int(y[i])}, but the model tells "
            f"{n_classes} classes apart (labels 0 to {n_classes - 1})"
        )


# -- commands --------------------------------------------------------------------------------

_RUN_MARKERS = ("model.npz", "config.json", "metrics.jsonl", "checkpoints")
_RUN_FILES = _RUN_MARKERS + ("test_metrics.json", "plots")
_LOCK_NAME = ".lock"  # RUN/.lock: see _RunLock
_NETWORK_KEYS = ("layers", "activation", "loss", "dtype", "dropout", "standardize")


@dataclasses.dataclass
class _Resume:
    """A checkpoint to resume: its file, its contents (``load_checkpoint``), the run directory
    it belongs to (``RUN/checkpoints/FILE`` beside ``RUN/config.json``; else None), and the
    run's settings: the run's config.json, overridden by what the checkpoint itself holds."""

    path: Path
    loaded: object
    run_dir: Path | None
    settings: dict
    classes: list[str] | None = None  # the class names the run's config.json records


def _load_resume(text: str) -> _Resume:
    from chainrule import serialization, training

    path = Path(text)
    if path.is_dir():  # a run directory or its checkpoints/: the newest checkpoint
        latest = training.latest_checkpoint(path) or training.latest_checkpoint(
            path / "checkpoints"
        )
        if latest is None:
            _refuse_a_run_without_checkpoints(path)
            raise CLIError(f"no checkpoint in {path}")
        run, path = path, latest
    else:
        if not path.exists():  # RUN/checkpoints or a file in it, of a run that wrote none
            _refuse_a_run_without_checkpoints(path)
            _refuse_a_run_without_checkpoints(path.parent)
        _regular_file(text, "checkpoint")
        run = None
    loaded = serialization.load_checkpoint(path)
    if run is not None:
        _refuse_a_run_without_checkpoints(run, path, loaded.epoch)
    run_dir = path.parent.parent
    settings, classes = {}, None
    if path.parent.name == "checkpoints" and (run_dir / "config.json").is_file():
        run_config, classes = _read_run_config(run_dir / "config.json")
        settings.update(run_config)
    else:
        run_dir = None
    settings.update(_network_settings(loaded.net))
    if loaded.optimizer is not None:
        settings.setdefault("optimizer", loaded.optimizer.name)
        settings["lr"] = loaded.optimizer.learning_rate
        settings.setdefault("weight_decay", loaded.optimizer.weight_decay or None)
    state = loaded.state
    spec = state.get("schedule_spec")
    if isinstance(spec, dict) and isinstance(spec.get("name"), str):
        settings["schedule"] = spec["name"]
    for key in ("epochs", "batch_size", "seed"):
        if isinstance(state.get(key), int):
            settings[key] = state[key]
    return _Resume(path, loaded, run_dir, settings, classes)


def _refuse_a_run_without_checkpoints(
    path: Path, newest: Path | None = None, epoch: int = 0
) -> None:
    """CLIError if ``path`` (or the run above it, for its checkpoints/) is the directory of a
    run of ``chainrule train --checkpoint-every 0``, as its config.json records. ``newest``:
    the newest checkpoint of such a run (``epoch`` epochs done), written before a resume with
    --checkpoint-every 0: where the run's metrics.jsonl holds more epochs, it has trained on
    since, which resuming the run would silently go back on, so only that file itself, named,
    is resumed."""
    for folder in (path, path.parent) if path.name == "checkpoints" else (path,):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            if json.loads((folder / "config.json").read_text()).get("checkpoint_every") == 0:
                if newest is not None:
                    lines = (folder / "metrics.jsonl").read_text().splitlines()
                    done = sum(1 for line in lines if line.strip())
                    if done <= epoch:
                        return  # nothing trained since the checkpoint
                    raise CLIError(
                        f"{folder}: the run trained on to epoch {done} with --checkpoint-every "
                        f"0 after its newest checkpoint, {newest} (epoch {epoch}), so it cannot "
                        f"be resumed from where it is; to train again from that checkpoint, "
                        f"name it: --resume {newest}"
                    )
                raise CLIError(
                    f"{folder}: the run wrote no checkpoints (it was trained with "
                    f"--checkpoint-every 0), so it cannot be resumed; {TRAIN_AGAIN}"
                )


def _read_run_config(path: Path) -> tuple[dict, list[str] | None]:
    """The settings in a run's config.json (as ``chainrule train`` wrote it), checked, and
    the class names of its data (its key ``classes``; None for class indices)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CLIError(f"{path}: not a readable run config ({exc})")
    if not isinstance(data, dict):
        raise CLIError(f"{path}: not a run config (expected a JSON object)")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    settings = {
        k: _file_value(k, v, str(path)) for k, v in data.items() if k in known and v is not None
    }
    from chainrule.serialization import are_class_names

    classes = data.get("classes")
    if classes is not None and not are_class_names(classes):
        raise CLIError(f"{path}: classes: expected a list of class names, got {classes!r}")
    return settings, classes


def _file_feature_names(name: str, label_column: int | str, delimiter: str) -> list[str] | None:
    """The header names of a .csv dataset's feature columns (None: no header, or not a
    .csv file), recorded in the model as ``feature_names``."""
    from chainrule import datasets

    if not name.lower().endswith(".csv"):
        return None
    return datasets.csv_feature_names(name, label_column, delimiter)


def _check_file_columns(
    model: str,
    path: str,
    label_column: int | str | None,
    delimiter: str,
    n_features=None,
    weights_at: int | None = None,
) -> str | None:
    """:func:`_check_feature_names` for the .csv file ``path``, read as the loaders read it
    (its label column ``label_column``, or as ``n_features`` decides: see
    ``load_csv_features``); before the loader, whose errors about cells would be beside the
    point when the columns are not the model's. Returns the note to print once the file has
    loaded, if any. ``weights_at``: the file's weight column, left out like the labels'."""
    from chainrule.serialization import load_metadata

    if not path.lower().endswith(".csv"):
        return None
    recorded = load_metadata(model).get("feature_names")
    header = _read_header(path, label_column, delimiter, n_features)
    if header is None:
        # reported by the loader in its own words, unless an index column is the reason
        header = _read_header(path, None, delimiter)
        columns = header and header[0]
        if not (columns and not columns[0].strip() and isinstance(recorded, list)):
            return None
    columns, label_at = header
    if columns is None:
        return None
    # an unnamed first column (kept as a feature, or taken for the labels) in a file for a
    # model trained on named columns, none of them unnamed
    kept = label_at != 0  # (an unnamed label column is no index: the model may know it)
    if kept and not columns[0].strip() and isinstance(recorded, list) and "" not in recorded:
        raise CLIError(
            f"{path}: its first column has no name in the header: a row index that pandas' "
            "to_csv wrote? Save the file with index=False (or drop that column); the model "
            f"{model} was not trained on one"
        )
    names = [c for i, c in enumerate(columns) if i not in (label_at, weights_at)]
    dropped = None if label_at is None else columns[label_at]
    weighing = None if weights_at is None else columns[weights_at]
    return _check_feature_names(model, recorded, path, names, dropped, weighing)


def _check_feature_names(
    model: str,
    recorded,
    path: str,
    names: list[str],
    dropped: str | None = None,
    weighing: str | None = None,
) -> str | None:
    """Compare the header names of ``path``'s feature columns, ``names``, with the ones
    ``model`` was trained on, ignoring case and surrounding spaces. A name of the model's in
    another column (or in the label column, ``dropped``, which is not read) means the columns
    are not where the weights expect them: a CLIError; so is one in the model's weight
    column, ``weighing`` (its header), which is not a feature either. Other names (a header of
    the user's own words) are read by position: returns the note that says so. A model that
    records no names (``recorded``, its metadata's ``feature_names``) reads every file by
    position."""
    valid = isinstance(recorded, list) and all(isinstance(n, str) for n in recorded)
    if not valid or names == recorded or len(names) != len(recorded):
        return None  # (the loader reports a wrong number of columns)
    shown, trained = ", ".join(names), ", ".join(recorded)
    # names compared as a spreadsheet's user means them: "Age " is the model's "age"
    mine, theirs = [n.strip().casefold() for n in names], [n.strip().casefold() for n in recorded]
    if mine == theirs:
        return None
    moved = [n for n, key, at in zip(names, mine, theirs) if key in theirs and key != at]
    if dropped is not None and dropped.strip().casefold() in theirs:
        raise CLIError(
            f"{path}: its label column, which is not read, is headed {dropped!r}, one of the "
            f"features the model {model} was trained on ({trained}); its feature columns are "
            f"{shown}: put the columns in the model's order, or name the label column with "
            "--label-column"
        )
    if weighing is not None and weighing.strip().casefold() in theirs:
        raise CLIError(
            f"{path}: its column in the place of the model's weight column, which is not a "
            f"feature, is headed {weighing!r}, one of the features the model {model} was "
            f"trained on ({trained}); its feature columns are {shown}: put the columns in the "
            "order of the model's training data"
        )
    if moved:
        if sorted(mine) == sorted(theirs):
            what = f"are in another order ({shown}) than the model {model} was trained on"
        else:
            what = f"({shown}) do not line up with those the model {model} was trained on"
        raise CLIError(
            f"{path}: its feature columns {what} ({trained}): {', '.join(moved)} in another "
            "column; put them in the model's order, else each value would meet another "
            "feature's weights"
        )
    return (
        f"note: {path} names its feature columns {shown}, the model {model} {trained}; "
        "they are read by position"
    )


def _model_classes(model: str, net, names_only: bool = False) -> list[str] | None:
    """The class names ``model``'s metadata records (:func:`chainrule.serialization.class_names`),
    or None."""
    from chainrule.serialization import class_names, load_metadata

    return class_names(load_metadata(model), net, names_only)


def _network_settings(net) -> dict:
    """The settings of ``TrainConfig`` that describe ``net``."""
    from chainrule.layers import Dropout, Standardize

    rates = [layer.rate for layer in net.layers if isinstance(layer, Dropout)]
    return {
        "layers": list(net.sizes),
        "activation": [layer.activation.name for layer in net.dense_layers],
        "loss": net.loss_function.name,
        "dtype": str(net.dtype),
        "dropout": float(max(rates, default=0.0)),
        "standardize": isinstance(net.layers[0], Standardize),
    }


def _describe(s: dict) -> str:
    """A network's ``_network_settings`` in words: ``5-16-3 (relu, softmax), loss ...``."""
    text = f"{'-'.join(map(str, s['layers']))} ({', '.join(s['activation'])}), loss {s['loss']}"
    text += f", {s['dtype']}" + (f", dropout {s['dropout']}" if s["dropout"] else "")
    return text + (", standardized inputs" if s["standardize"] else "")


def _build_network(config: TrainConfig, seed: int = 0, standardize=None):
    """The network ``config`` describes (weights drawn from ``seed``), or a CLIError; with
    ``standardize``, a :class:`~chainrule.layers.Standardize` layer (see :func:`_standardizer`)
    first, the Dense layers' weights the same."""
    import chainrule

    hidden, output = config.hidden_and_output()
    try:
        return chainrule.Network.from_sizes(
            config.layers,
            hidden=hidden,
            output=output,
            loss=config.loss,
            seed=seed,
            dtype=config.dtype,
            dropout=config.dropout,
            standardize=standardize,
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _same_data(given: str, trained_on: str) -> bool:
    """Whether two --dataset values name the same data: the same file, or the same name."""
    a, b = Path(given), Path(trained_on)
    if a.is_file() and b.is_file():
        return a.resolve() == b.resolve()
    return given.lower() == str(trained_on).lower()


def _check_resume_depth(resume: _Resume, config: TrainConfig, sources: dict) -> None:
    """CLIError if --layers, given with --resume (and no --activation), has another depth
    than the checkpoint's network: said of the layers, before the checkpoint's activations,
    one per layer of its depth, are found not to fit them."""
    held = resume.loaded.net.sizes
    if len(config.layers) != len(held):
        raise CLIError(
            f"{sources['layers']}: a {'-'.join(map(str, config.layers))} network, but the "
            f"checkpoint {resume.path} holds {'-'.join(map(str, held))}"
        )


def _check_resume(resume: _Resume, config: TrainConfig, user: dict, sources: dict) -> None:
    """CLIError if a setting the user gave contradicts the checkpoint to resume."""

    loaded, state = resume.loaded, resume.loaded.state
    given = [key for key in _NETWORK_KEYS if key in user]
    if given:  # (the statistics of --standardize need the data: only the switch is compared)
        held = _describe(_network_settings(loaded.net))
        asked = {**_network_settings(_build_network(config)), "standardize": config.standardize}
        if _describe(asked) != held:
            raise CLIError(
                f"{', '.join(sources[k] for k in given)}: a {_describe(asked)} network, but "
                f"the checkpoint {resume.path} holds {held}"
            )
    trained_on = resume.settings.get("dataset")
    # a data file that has moved (a run copied to another machine): --dataset gives its new
    # place, and fit checks that it holds the data the checkpoint was trained on
    moved = trained_on is not None and _is_data_file(trained_on) and not os.path.exists(trained_on)
    if moved and "dataset" not in user:
        raise CLIError(
            f"the checkpoint {resume.path} was trained on {trained_on}, which no longer exists; "
            "if the file has moved, give its new place with --dataset FILE"
        )
    if (
        "dataset" in user
        and trained_on is not None
        and not _same_data(user["dataset"], trained_on)
        and not (moved and _is_data_file(user["dataset"]))
    ):
        raise CLIError(
            f"{sources['dataset']} {user['dataset']}: the checkpoint {resume.path} was trained "
            f"on {trained_on} (a resumed run keeps its data)"
        )
    label_column = resume.settings.get("label_column", 0)
    if "label_column" in user and user["label_column"] != label_column:
        if not _same_column(config.dataset, user["label_column"], label_column, config.delimiter):
            raise CLIError(
                f"{sources['label_column']} {user['label_column']}: the checkpoint "
                f"{resume.path} was trained with the labels in column {label_column!r} (a "
                "resumed run keeps its data)"
            )
        config.label_column = label_column  # the same column, as the run recorded it
    delimiter = resume.settings.get("delimiter", ",")
    if "delimiter" in user and user["delimiter"] != delimiter:
        raise CLIError(
            f"{sources['delimiter']} {_show_delimiter(user['delimiter'])}: the checkpoint "
            f"{resume.path} was trained on cells separated by {_show_delimiter(delimiter)} "
            "(a resumed run keeps its data)"
        )
    column = resume.settings.get("weight_column")
    asked = user.get("weight_column", column)
    if asked != column:
        same = column is not None and asked is not None  # (an .npz file's: names differ)
        if not (same and _same_column(config.dataset, asked, column, config.delimiter)):
            held = "no weight column" if column is None else f"the weights in column {column!r}"
            raise CLIError(
                f"{sources['weight_column']} {asked}: the checkpoint {resume.path} was trained "
                f"with {held} (a resumed run keeps its weights)"
            )
        config.weight_column = column  # the same column, as the run recorded it
    weighting = resume.settings.get("class_weight", "none")
    if "class_weight" in user and user["class_weight"] != weighting:
        raise CLIError(
            f"{sources['class_weight']} {user['class_weight']}: the checkpoint {resume.path} "
            f"was trained with --class-weight {weighting} (a resumed run keeps its weights)"
        )
    if "seed" in user and user["seed"] != state.get("seed"):
        raise CLIError(
            f"{sources['seed']} {user['seed']} disagrees with the seed {state.get('seed')} of "
            f"the checkpoint {resume.path} (a resumed run keeps its seed)"
        )
    if config.epochs < loaded.epoch:  # all done: finished if the final save is missing
        raise CLIError(_nothing_to_train(resume, config))
    if state.get("batch") and config.batch_size != state.get("batch_size"):
        raise CLIError(
            f"the checkpoint {resume.path} stopped inside an epoch in batches of "
            f"{state.get('batch_size')}; {sources.get('batch_size', '--batch-size')} "
            f"{config.batch_size} cannot continue it"
        )
    if any(key in user for key in ("optimizer", "lr", "weight_decay")) and loaded.optimizer:
        mine = _make_optimizer(config)
        if type(mine) is not type(loaded.optimizer) or mine.slots != loaded.optimizer.slots:
            raise CLIError(
                f"the checkpoint {resume.path} was trained with {loaded.optimizer!r}; "
                f"cannot resume it with {mine!r}"
            )


def _nothing_to_train(resume: _Resume, config: TrainConfig) -> str:
    done = resume.loaded.epoch
    return (
        f"the checkpoint {resume.path} has {done} epochs done and the run is of "
        f"{config.epochs}; give --epochs N with N > {done} to train more"
    )


def _finished(run_dir: Path) -> bool:
    """Whether the run in ``run_dir`` saved its model and test metrics at its end."""
    return all((run_dir / name).exists() for name in ("model.npz", "test_metrics.json"))


def _check_run_dir(run_dir: Path) -> None:
    """CLIError unless ``run_dir`` is, or can be created as, a writable directory."""
    for parent in [run_dir, *run_dir.parents]:
        if os.path.lexists(parent):
            if not parent.is_dir():
                where = "is" if parent == run_dir else f"is under {parent}, which is"
                raise CLIError(f"--output {run_dir} {where} a file, not a directory")
            break
    if run_dir.is_dir() and not os.access(run_dir, os.W_OK | os.X_OK):
        raise CLIError(f"--output {run_dir}: the directory is not writable")


def _check_run_contents(run_dir: Path, overwrite: bool, continuing: bool) -> None:
    """CLIError if ``run_dir`` already holds a run, unless ``overwrite`` is given or this run
    continues it (``--resume`` of one of its checkpoints). Called with the directory locked."""
    held = [name for name in _RUN_MARKERS if os.path.lexists(run_dir / name)]
    if held and not (overwrite or continuing):
        raise CLIError(
            f"{run_dir} already holds a run ({', '.join(held)}); give another --output, "
            "or --overwrite to replace it"
        )


def _make_run_dir(run_dir: Path) -> bool:
    """Create ``run_dir`` (and its parents) if missing; True if this call created it."""
    created = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create the run directory {run_dir}: {exc.strerror}")
    return created


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class _RunLock:
    """``RUN/.lock``, locked with ``flock`` by the one ``chainrule train`` that writes RUN: taken
    before it looks at what RUN holds and held until the command ends, so that checking the
    directory and writing to it are one step for other chainrule processes. The OS lets go of it
    when the process dies, so a lock is never stale. The file holds the pid (for the message of
    a second process) and is removed on release. Without fcntl (Windows) nothing is locked."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.path = run_dir / _LOCK_NAME
        self.fd: int | None = None

    def __enter__(self) -> _RunLock:
        if fcntl is None:
            return self
        while self.fd is None:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise CLIError(f"cannot lock the run directory {self.run_dir}: {exc.strerror}")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _pid_in(fd)
                os.close(fd)
                if isinstance(exc, BlockingIOError):
                    raise CLIError(f"another chainrule train is writing {self.run_dir}{holder}")
                raise CLIError(f"cannot lock {self.path}: {exc.strerror}")
            if _same_file(fd, self.path):
                self.fd = fd
            else:  # its last holder removed it as we opened it: lock the file there now
                os.close(fd)
        with contextlib.suppress(OSError):  # the pid is only for a message
            os.ftruncate(self.fd, 0)
            os.write(self.fd, f"{os.getpid()}\n".encode())
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()

    def release(self) -> None:
        if self.fd is None:
            return
        if _same_file(self.fd, self.path):  # remove it while it is still locked (and ours)
            with contextlib.suppress(OSError):
                self.path.unlink()
        os.close(self.fd)
        self.fd = None


def _pid_in(fd: int) -> str:
    """`` (pid N)`` as the lock file ``fd`` records it, or "" (not written yet)."""
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (pid {text})" if text.isdigit() else ""


# what ``chainrule._atomic.atomic_writer`` names its temporary files: .NAME.<12 hex digits>.tmp
_TEMPORARY = re.compile(r"\..+\.[0-9a-f]{12}\.tmp")


def _remove_temporaries(run_dir: Path) -> None:
    """Delete the temporary files that killed writes left in ``run_dir`` and its checkpoints/.
    Called with the run directory locked: no chainrule process can be writing them."""
    for folder in (run_dir, run_dir / "checkpoints"):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if _TEMPORARY.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _clear_run(run_dir: Path) -> None:
    """Delete the files of an earlier run in ``run_dir`` (``--overwrite``): all are first
    moved into one hidden directory, so a failure leaves the old run whole, never a mix."""
    import secrets
    import shutil

    present = [name for name in _RUN_FILES if os.path.lexists(run_dir / name)]
    if not present:
        return
    trash = run_dir / f".overwritten-{secrets.token_hex(4)}"
    trash.mkdir()
    moved: list[str] = []
    try:
        for name in present:
            os.replace(run_dir / name, trash / name)
            moved.append(name)
    except OSError as exc:
        for name in moved:
            os.replace(trash / name, run_dir / name)
        trash.rmdir()
        raise CLIError(f"cannot clear the earlier run in {run_dir}: {exc}")
    shutil.rmtree(trash, ignore_errors=True)


def _prepare_run_dir(
    run_dir: Path, config: TrainConfig, overwrite: bool, history: list, classes: list[str] | None
) -> None:
    """Clear (or continue) the run directory and write its config.json (with the data's class
    names, if they are names, so that a resumed run numbers them the same) and, for a resumed
    run, the epochs so far to metrics.jsonl."""
    if overwrite:
        _clear_run(run_dir)
    if config.checkpoint_every:  # 0: the run writes no checkpoints
        (run_dir / "checkpoints").mkdir(exist_ok=True)
    recorded = dataclasses.asdict(config)
    if classes is not None:
        recorded["classes"] = classes
    _write_json(run_dir / "config.json", recorded)
    if history or (run_dir / "metrics.jsonl").exists():
        from chainrule._atomic import atomic_write_bytes

        lines = "".join(json.dumps(record) + "\n" for record in history)
        atomic_write_bytes(run_dir / "metrics.jsonl", lines.encode())


def _undo_run_dir(run_dir: Path, created: bool, lock: _RunLock) -> None:
    """Remove what ``_prepare_run_dir`` wrote for a run that failed before its first batch, and
    the run directory itself if ``created`` (after letting go of its lock)."""
    for path in (run_dir / "metrics.jsonl", run_dir / "config.json"):
        with contextlib.suppress(OSError):
            path.unlink()
    with contextlib.suppress(OSError):
        (run_dir / "checkpoints").rmdir()  # only if empty
    lock.release()
    if created:
        with contextlib.suppress(OSError):
            run_dir.rmdir()


def _run_files(run_dir: Path) -> dict:
    """The bytes of the files ``_prepare_run_dir`` rewrites (None for one that is missing)."""
    saved = {}
    for name in ("config.json", "metrics.jsonl"):
        try:
            saved[name] = (run_dir / name).read_bytes()
        except OSError:
            saved[name] = None
    return saved


def _restore_run_files(run_dir: Path, saved: dict) -> None:
    """Put back the files :func:`_run_files` read, for a resumed run refused before training."""
    from chainrule._atomic import atomic_write_bytes

    for name, data in saved.items():
        with contextlib.suppress(OSError):
            if data is None:
                (run_dir / name).unlink()
            else:
                atomic_write_bytes(run_dir / name, data)


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _agreed(comm):
    """A context in which every rank of ``comm`` (--distributed) runs the same checks and then
    learns whether any rank failed them (training._all_or_none): an error raised on every rank
    is said once, by rank 0 (main reads its mark, ``on_every_rank``), and one raised on some
    ranks only (a file that one of them cannot read) is raised on every rank too, in the
    failing rank's words; no rank aborts the others, none waits for ever. Without ``comm``,
    nothing but the body."""
    from chainrule import training

    return contextlib.nullcontext() if comm is None else training._all_or_none(comm, typed=False)


def cmd_train(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as until_done:  # holds the run directory's lock
        return _train(args, until_done)


def _train(args: argparse.Namespace, until_done: contextlib.ExitStack) -> int:
    import chainrule
    from chainrule import training
    from chainrule.datasets.tabular import _regression_like
    from chainrule.metrics import classification_summary

    comm = None
    if args.distributed:
        try:
            from mpi4py import MPI
        except ImportError:
            raise CLIError("--distributed needs mpi4py: pip install 'chainrule[mpi]'")
        comm = MPI.COMM_WORLD
    rank = 0 if comm is None else comm.Get_rank()
    log = _log if rank == 0 else (lambda *parts: None)
    # every setting is checked before anything is written or printed; with --distributed on
    # every rank, and agreed on (_agreed): an error is said once, and no rank aborts the others
    with _agreed(comm):
        resume = _load_resume(args.resume) if args.resume else None
        user, sources, extras = _user_settings(args)
        config = TrainConfig(**{**(resume.settings if resume else {}), **user})
        if resume is not None and "layers" in user and "activation" not in user:
            _check_resume_depth(resume, config, sources)  # the checkpoint's activations may not fit
        config.hidden_and_output()  # a CLIError now if --activation does not fit --layers
        for name in config.activation:  # also where no layer would use it (no hidden layer)
            try:
                chainrule.activations.get_activation(name)
            except ValueError as exc:
                raise CLIError(f"--activation: {exc}") from None
        if args.plot or extras.get("plot"):  # the plots come after training: their library now
            from chainrule import plots

            try:
                plots._pyplot()
            except ImportError as exc:
                raise CLIError(f"--plot: {exc}") from None
        if resume is not None:
            _check_resume(resume, config, user, sources)
        _check_config_path(args.config, sources.get("dataset"), config.dataset)
        notes = []  # warnings, shown (with -q too) once every setting has been checked
        try:
            x_train, y_train, x_test, y_test, input_scale, classes, test_split, w_train, w_test = (
                load_train_test(config, resume.classes if resume is not None else None, sources)
            )
        except chainrule.datasets.DatasetError as exc:
            text = str(exc)
            if config.weight_column is not None and config.dataset.lower().endswith(".csv"):
                flag = sources.get("weight_column", "--weight-column")
                found = _weight_position(
                    config.dataset,
                    config.weight_column,
                    config.label_column,
                    config.delimiter,
                    flag,
                )
                what = f"{flag} {config.weight_column}"
                about_weights = _weight_cell_error(exc, found and found[0], what)
                if about_weights is not None:
                    raise about_weights from None
            defaulted = (
                resume is None
                and "label_column" not in user
                and config.dataset.lower().endswith(".csv")
            )
            about_labels = re.search(r"label \S+ is (not an integer|negative)", text)
            if "a row index" in text and "not class labels" in text:  # pandas' index
                if not defaulted:
                    raise CLIError(text.replace("(label_column", "(--label-column")) from None
                text, about_labels = text.split(": are the labels in another")[0], True
            category = re.match(
                r"(.*, line (\d+), column (\d+)(?: \('([^']*)'\))?: not a number: '[^']*') "
                r"\(features",
                text,
            )
            if defaulted and category and int(category[2]) == _first_data_line(config):
                # names from the first row on in a feature column: the labels, most likely
                where, _, number, header = category.groups()
                by_name = header and _header_of_names(config)
                flag = f"--label-column {shlex.quote(header)}" if by_name else (
                    f"--label-column {int(number) - 1} (indices count from 0)"
                )  # fmt: skip
                raise CLIError(
                    f"{where}; the labels are read from the first column unless --label-column "
                    f"names another: if column {number} holds the labels, give {flag} (if it is a "
                    "feature, encode it as numbers)"
                ) from None
            if defaulted and about_labels:
                likely = _label_like_column(config)
                flag = (
                    f"give --label-column {shlex.quote(likely)}"
                    if likely
                    else "name it with --label-column (an index, or a name in the header)"
                )
                raise CLIError(
                    f"{text} [the labels were read from the first column, the default: if they are "
                    f"in another, {flag}]"
                ) from None
            raise
        if resume is None and config.subset and config.subset > len(x_train):
            notes.append(
                f"note: --subset {config.subset}: {config.dataset} has {len(x_train)} training "
                "examples, all of them used"
            )
        if _is_data_file(config.dataset):  # recorded so that --resume finds it from anywhere
            largest = max(-float(x_train.min()), float(x_train.max())) if x_train.size else 0.0
            if largest > LARGE_FEATURE and not config.standardize:
                notes.append(
                    f"note: the features of {config.dataset} reach |x| = {largest:.3g}; networks "
                    "train best on inputs of order 1: give --standardize (docs/data.md)"
                )
            config.dataset = os.path.abspath(config.dataset)
        feature_names = _file_feature_names(config.dataset, config.label_column, config.delimiter)
        if feature_names is not None and w_train is not None:  # the weights are no feature
            at, label_at = _weight_position(
                config.dataset, config.weight_column, config.label_column, config.delimiter, ""
            )
            del feature_names[_feature_index(at, label_at)]
        # a feature without a name in the header (1-based), which a new run notes, else 0
        unnamed = 0
        if feature_names is not None and "" in feature_names and resume is None:
            unnamed = feature_names.index("") + 1
            notes.append(
                f"note: feature {unnamed} of {config.dataset} has no name in the header (a row "
                "index that pandas' to_csv wrote? save with index=False); it is used as a feature"
            )
        labels_from = _defaulted_label_name(config) if "label_column" not in user else None
        if resume is None and labels_from:
            notes.append(
                f"note: the labels are the first column of {config.dataset}, {labels_from} (the "
                "default); if they are in another, name it with --label-column"
            )
        elif resume is None and labels_from == "":
            notes.append(
                f"note: {config.dataset} has no header: the labels are its first column (the "
                "default); if they are in another, give its index with --label-column (counting "
                "from 0; -1 for the last)"
            )
        every = np.concatenate([y_train, y_test])  # every label of the file
        first = None
        if resume is None and classes is not None:
            first = _lonely_first_label(config, classes, every)
            if first is not None:
                notes.append(
                    f"note: the first line of {config.dataset} was read as data, and its label "
                    f"{first!r} is the only example of that class: if that line is a header, give "
                    f"the label column by its name (--label-column {first})"
                )
        layers_from = sources.get("layers") or (
            "the checkpoint's network" if resume else "--layers"
        )
        if resume is None and len(every) and np.all(every == every[0]):
            only = classes[int(every[0])] if classes is not None else int(every[0])
            raise CLIError(
                f"every label of {config.dataset} (--label-column {config.label_column!r}) is "
                f"{only!r}: one class, nothing to tell apart; name the label column with "
                "--label-column"
            )
        if classes is not None:
            n_classes = len(classes)
            which = f"({', '.join(classes)})" if n_classes <= 20 else "(class names)"
        else:
            n_classes = int(every.max()) + 1
            which = f"(labels are class indices: its largest label is {n_classes - 1})"
            if resume is None and n_classes > MAX_CLASSES:  # a network of a million outputs
                raise CLIError(
                    f"the labels of {config.dataset} (--label-column {config.label_column!r}) are "
                    f"class indices, the largest {n_classes - 1}: a network of {n_classes} outputs "
                    f"for {len(np.unique(every))} different labels (IDs, or a stray value?); train "
                    f"takes at most {MAX_CLASSES} classes, numbered from 0; if another column "
                    "holds the labels, name it with --label-column"
                )
        if resume is None and classes is None and _regression_like(every):
            notes.append(
                f"note: the labels of {config.dataset} (--label-column {config.label_column!r}) "
                f"are {len(np.unique(every))} different whole numbers over {len(every)} "
                "examples, most of them on two examples or fewer: a regression target, not "
                "classes? train classifies; for regression use the Python API (docs/training.md, "
                "Regression); if another column holds the labels, name it with --label-column"
            )
        if resume is None and classes is None and _is_data_file(config.dataset):
            counts = np.bincount(every, minlength=n_classes)
            empty = [str(k) for k in np.flatnonzero(counts == 0)]
            if empty:
                notes.append(
                    f"note: no example of class{'es' * (len(empty) > 1)} {', '.join(empty[:10])}"
                    f"{', ...' if len(empty) > 10 else ''} in {config.dataset}: class indices "
                    "count from 0 (labels 1, 2, 3 make 4 classes, the first empty); the output "
                    "layer has a unit for each"
                )
        # the widths the file asks for, with the hidden layers asked for (or one of 64 for each
        # hidden activation given, at least one)
        if "layers" in sources or resume:
            hidden = config.layers[1:-1]
        else:
            hidden = [64] * max(1, len(config.activation) - 1)
        binary = n_classes == 2 and config.loss == "binary_cross_entropy"  # one sigmoid unit
        fitting = ",".join(map(str, [x_train.shape[1], *hidden, 1 if binary else n_classes]))
        suggest = "" if resume else f"; give e.g. --layers {fitting}"
        if resume is None and "layers" not in sources and _is_data_file(config.dataset):
            # a file's own widths: its features in, one output per class (the defaults are MNIST's)
            config.layers = [int(w) for w in fitting.split(",")]
        if unnamed:
            suggest = (
                f"; its feature {unnamed} has no name in the header: a row index that pandas' "
                "to_csv wrote? Save the file with index=False"
            )
        if config.layers[0] != x_train.shape[1]:
            raise CLIError(
                f"{layers_from} starts with {config.layers[0]} inputs but the dataset "
                f"{config.dataset} has {x_train.shape[1]} features{suggest}"
            )
        if config.layers[-1] != n_classes and not (config.layers[-1] == 1 and n_classes == 2):
            if first is not None:  # not a width to suggest: the header's name counted as a class
                suggest = (
                    f"; but the first line, read as data, is the only example of {first!r}: if "
                    f"it is a header, give the label column by its name (--label-column {first})"
                )
            elif "label_column" not in user and resume is None and _is_data_file(config.dataset):
                suggest += (
                    " (or name the label column with --label-column: the first is the default)"
                )
            raise CLIError(
                f"{layers_from} ends with {config.layers[-1]} outputs but the dataset "
                f"{config.dataset} has {n_classes} classes {which}{suggest}"
            )
        n_val = int(len(x_train) * config.val_split)
        if config.val_split and not 0 < n_val < len(x_train):
            raise CLIError(
                f"--val-split {config.val_split} of {len(x_train)} training examples leaves "
                f"{n_val} for validation and {len(x_train) - n_val} for training"
            )
        n_fit = len(x_train) - n_val
        updates = config.epochs * -(-n_fit // config.batch_size)
        chosen = "batch_size" in sources or "epochs" in sources
        auto = resume is None and not chosen and _is_data_file(config.dataset)
        if auto and updates < AUTO_UPDATES:
            # the defaults (MNIST's) on a small training set: sized for about SOME_UPDATES instead
            batch, epochs = _sized_run(n_fit, config.batch_size, config.epochs)
            notes.append(
                f"note: {n_fit} training examples: batches of {batch} for {epochs} epochs (the "
                f"defaults, {config.batch_size} for {config.epochs}, would make {updates} "
                f"update{'s' * (updates != 1)} of the weights); give --batch-size and --epochs to "
                "choose"
            )
            config.batch_size, config.epochs = batch, epochs
            updates = config.epochs * -(-n_fit // config.batch_size)
        if resume is None and updates < FEW_UPDATES:
            batch, epochs = _sized_run(n_fit, config.batch_size, config.epochs)
            advice = f"more --epochs (e.g. --epochs {epochs})"
            if batch < config.batch_size:
                advice = f"a smaller --batch-size and more --epochs (e.g. --batch-size {batch} "
                advice += f"--epochs {epochs})"
            notes.append(
                f"note: {config.epochs} epoch{'s' * (config.epochs != 1)} of {n_fit} examples "
                f"in batches of {config.batch_size} make{'s' * (config.epochs == 1)} only "
                f"{updates} update{'s' * (updates != 1)} of the weights: for a small training "
                f"set give {advice}"
            )
        if resume is not None:
            state = resume.loaded.state
            if (state.get("n_train"), state.get("n_val")) != (len(x_train) - n_val, n_val):
                raise CLIError(
                    f"the checkpoint {resume.path} was trained on {state.get('n_train')} examples "
                    f"with {state.get('n_val')} for validation; the dataset {config.dataset} "
                    f"(subset {config.subset}, val_split {config.val_split}) gives "
                    f"{len(x_train) - n_val} and {n_val}"
                )
            net = resume.loaded.net
        else:
            layer = None
            if config.standardize:  # from the inputs trained on, as the network will see them
                rows = None  # fit's validation part left out
                if n_val:
                    rows, _ = training.validation_rows(len(x_train), config.val_split, config.seed)
                layer = _standardizer(x_train, input_scale, config.dtype, rows)
            net = _build_network(config, seed=config.seed, standardize=layer)
        if args.device != "cpu":
            try:
                net.to(args.device)
            except chainrule.backend.DeviceError as exc:
                raise CLIError(str(exc))
        # a resumed run keeps the checkpoint's optimizer and schedule unless they are given again
        optimizer = schedule = None
        if resume is None or any(key in user for key in ("optimizer", "lr", "weight_decay")):
            optimizer = _make_optimizer(config)
        if resume is None or "schedule" in user:
            try:
                schedule = chainrule.schedules.get_schedule(config.schedule)
            except ValueError as exc:
                raise CLIError(str(exc))
        early = (
            training.EarlyStopping(monitor="val_loss", patience=config.early_stopping)
            if config.early_stopping
            else None
        )
        if early is not None and not config.val_split:
            raise CLIError("--early-stopping needs a validation set: give --val-split too")
        # with --distributed every rank computes the same weights from the same rows (fit
        # computes each global batch's factors from them, and compares their checksums)
        sample_weight = None
        if config.class_weight == "balanced":
            sample_weight = _split_balanced_weights(
                y_train, n_classes, config.val_split, config.seed
            )
            notes.append(
                "note: --class-weight balanced: the loss and accuracy of the epoch table (and "
                "metrics.jsonl) are weighted means, each class counting alike; the test accuracy "
                "is not, the balanced accuracy beside it is"
            )
        if w_train is not None:  # with --class-weight balanced: the product, as scikit-learn's
            sample_weight = w_train if sample_weight is None else sample_weight * w_train
            setting = f"{sources.get('weight_column', '--weight-column')} {config.weight_column}"
            notes.append(
                f"note: {setting}: the loss and accuracy of the epoch table (and metrics.jsonl), "
                "validation too, are weighted means; the test accuracy is not, the weighted test "
                "accuracy beside it is"
            )
            _check_split_weights(w_train, config, sources)
        default_dir = resume.run_dir if resume is not None and resume.run_dir else None
        run_dir = Path(args.output or extras.get("output") or default_dir or _default_run_dir())
        continuing = resume is not None and resume.run_dir is not None
        continuing = continuing and _same_dir(run_dir, resume.run_dir)
        if continuing and args.overwrite:
            raise CLIError(
                f"--overwrite would delete the checkpoint being resumed ({resume.path}); "
                "give another --output"
            )
        # a run with all its epochs done whose model was not saved (a full disk, killed) is
        # finished: no training, the usual model, test metrics and output
        finishing = resume is not None and resume.loaded.epoch == config.epochs
        if finishing and not continuing:
            raise CLIError(_nothing_to_train(resume, config))
    # every rank uses rank 0's run directory (a collective call: after the agreed checks, which
    # a rank that failed them would leave before reaching it)
    if comm is not None:
        run_dir = Path(comm.bcast(str(run_dir), root=0))
    checkpoint = None  # --checkpoint-every 0: none written, no checkpoints/ made
    if config.checkpoint_every:
        checkpoint = training.Checkpoint(run_dir / "checkpoints", every=config.checkpoint_every)
    created = False
    lock = _RunLock(run_dir)
    # only rank 0 writes; its refusal (a run already in --output, ...) is agreed on too
    with _agreed(comm):
        if rank == 0:  # the only rank that writes
            _check_run_dir(run_dir)
            created = _make_run_dir(run_dir)
            # locked before looking inside: no other chainrule train writes between check and use
            until_done.enter_context(lock)
            _check_run_contents(run_dir, args.overwrite, continuing)
            if finishing and _finished(run_dir):
                raise CLIError(_nothing_to_train(resume, config))
            _remove_temporaries(run_dir)
            history = resume.loaded.state.get("history", {}).get("epochs", []) if resume else []
            before = _run_files(run_dir) if continuing else {}
            _prepare_run_dir(run_dir, config, args.overwrite, history, classes)

    for note in notes:
        log(note)
    log(f"run directory: {run_dir}")
    if finishing:
        log(f"finishing {resume.path}: all {config.epochs} epochs done; saving the model")
    elif resume is not None:
        log(f"resuming {resume.path} ({resume.loaded.epoch} of {config.epochs} epochs done)")
    log(
        f"network: {'-'.join(map(str, net.sizes))} "
        f"({', '.join(layer.activation.name for layer in net.dense_layers)})"
        f"{' on standardized inputs' if _network_settings(net)['standardize'] else ''}, "
        f"loss {config.loss}, {config.optimizer} lr={config.lr} {config.schedule}, "
        f"batch {config.batch_size}, {config.epochs} epoch{'s' * (config.epochs != 1)}, "
        f"{net.n_parameters:,} parameters" + ("" if net.device == "cpu" else f", on {net.device}")
    )
    table = _EpochTable(show_bar=sys.stderr.isatty() and rank == 0, quiet=args.quiet or rank > 0)
    metrics_log = _MetricsLog(run_dir / "metrics.jsonl")
    callbacks = [table, metrics_log] if rank == 0 and not finishing else []
    started = time.perf_counter()
    try:
        history = chainrule.fit(
            net,
            x_train,
            y_train,
            epochs=config.epochs,
            batch_size=config.batch_size,
            optimizer=optimizer,
            schedule=schedule,
            weight_decay=config.weight_decay if optimizer is not None else None,
            validation_split=config.val_split,
            seed=config.seed,
            callbacks=callbacks,
            comm=comm,
            checkpoint=checkpoint,
            early_stopping=early,
            resume=None if resume is None else resume.path,
            input_scale=input_scale,
            sample_weight=sample_weight,
            # each batch over its size (not its own total weight): a rare class gets its
            # share of every update on average, even in small batches
            weight_normalization="dataset",
        )
    except training.TrainingInterrupted as exc:
        by_sigterm = getattr(exc, "signal_name", "SIGINT") == "SIGTERM"
        status = EXIT_TERMINATED if by_sigterm else EXIT_INTERRUPTED
        if rank:
            return status
        table.on_train_end()
        interrupted = "interrupted by SIGTERM" if by_sigterm else "interrupted"
        if exc.checkpoint_path:
            again = " --device gpu" if args.device != "cpu" else ""
            again += " --distributed" if comm is not None else ""
            log(f"{interrupted}: checkpoint saved to {exc.checkpoint_path}")
            launch = "" if comm is None else f"mpiexec -n {comm.Get_size()} "
            log(f"resume with: {launch}chainrule train --resume {exc.checkpoint_path}{again}")
        elif checkpoint is None:
            log(
                f"{interrupted}: the run writes no checkpoints (checkpoint_every 0): nothing "
                f"to resume (in {run_dir}); {TRAIN_AGAIN}"
            )
        else:
            log(
                f"{interrupted} before the first checkpoint: nothing to resume (in {run_dir}); "
                f"{TRAIN_AGAIN}"
            )
        return status
    except (ValueError, CLIError) as exc:
        if rank == 0 and not metrics_log.began:  # refused before training began
            if continuing:  # the run as it was: its settings and all its epochs' metrics
                _restore_run_files(run_dir, before)
            else:  # leave nothing
                _undo_run_dir(run_dir, created, lock)
        if resume is not None and w_train is not None and "other sample weights" in str(exc):
            refusal = CLIError(  # fit's words are sample_weight's
                f"{sources.get('weight_column', '--weight-column')} {config.weight_column}: "
                f"the weights in {config.dataset} differ from those the checkpoint "
                f"{resume.path} was trained with (the rest of the data is the same): resume it "
                "with the file as it was, or train a new run"
            )
            # fit's refusal, found on every rank at once: rank 0 says it, none aborts
            refusal.on_every_rank = getattr(exc, "on_every_rank", False)
            raise refusal from None
        raise
    seconds = time.perf_counter() - started
    if rank:
        return 0  # only rank 0 evaluates, saves the model, writes metrics and prints
    predicted = net.predict(x_test)
    summary = classification_summary(y_test, predicted, max(net.n_out, 2))
    if w_test is not None:
        summary["weighted_accuracy"] = _weighted_accuracy(y_test, predicted, w_test)
    final = {
        "test_accuracy": summary["accuracy"],
        "train_seconds": round(seconds, 2),
        "epochs": len(history.epochs),
    }
    if w_test is not None:
        final["weighted_test_accuracy"] = summary["weighted_accuracy"]
    if history.epochs:
        last = history.epochs[-1]
        final.update({k: last.get(k) for k in ("loss", "accuracy", "val_loss", "val_accuracy")})
    model_path = run_dir / "model.npz"
    metadata = {"training_config": dataclasses.asdict(config), "final_metrics": final}
    if input_scale is not None:
        metadata["input_scale"] = input_scale
    if test_split is not None:  # evaluate and explain --model find this test set again
        metadata["test_split"] = test_split
    if classes is not None:  # output k is classes[k] (the web page and predict show them)
        metadata["classes"] = classes
        summary["classes"] = classes
    if feature_names is not None:  # other files' columns are checked against these
        metadata["feature_names"] = feature_names
    chainrule.save(net, model_path, metadata=metadata)
    _write_json(run_dir / "test_metrics.json", summary)
    _remember_latest(model_path)
    if args.plot or extras.get("plot"):
        _plot_run(run_dir, net, history.epochs, summary["confusion_matrix"])
    print(f"test accuracy: {summary['accuracy']:.4f} ({len(y_test)} examples)")
    if w_test is not None:
        column = config.weight_column
        print(_weighted_line("weighted test accuracy", summary, column, config.dataset))
    counts = np.bincount(np.asarray(y_test, np.int64)) if len(y_test) else np.zeros(1, np.int64)
    common = counts.max() / max(len(y_test), 1)
    present = np.flatnonzero(counts)
    if config.class_weight == "balanced":  # what the weighted training aimed at
        balanced = summary["balanced_accuracy"] = _balanced_accuracy(summary["confusion_matrix"])
        print(f"balanced accuracy: {balanced:.4f} (the mean of the per-class recalls)")
        _write_json(run_dir / "test_metrics.json", summary)
    if len(present) == 1 and n_classes > 1:  # no baseline to beat: say what is missing
        only = classes[int(present[0])] if classes is not None else int(present[0])
        log(
            f"note: every example of the test set is of class {only!r}: its accuracy says "
            "nothing about the other classes (too few examples of them for the 10% held "
            "out; a larger file, or more examples of the rare classes)"
        )
    elif config.class_weight == "balanced":
        chance = 1 / max(len(present), 1)  # any constant answer's balanced accuracy
        if len(y_test) >= 10 and balanced <= chance:
            log(
                f"note: that is no better than always answering one class ({chance:.4f}): "
                "the network learned nothing useful (the labels from the right column? "
                "features of order 1, --standardize? enough epochs?)"
            )
    elif len(y_test) >= 10 and summary["accuracy"] <= common and w_test is None:  # -q too
        rare = " rare classes: --class-weight balanced?" if common >= RARE_CLASSES else ""
        log(
            f"note: that is no better than always answering the most common class "
            f"({common:.4f} of the test examples): the network learned nothing useful (the "
            "labels from the right column? features of order 1, --standardize? enough "
            f"epochs?{rare})"
        )
    print(f"training time: {seconds:.1f} s")
    print(f"model: {model_path}")
    print(f"run directory: {run_dir}")
    return 0


def _check_split_weights(weights: np.ndarray, config: TrainConfig, sources: dict) -> None:
    """CLIError where the weights of the training examples (the file less its test set, and
    --subset's first N), or of the --val-split rows or of the others, are all 0: refused in
    the command line's words (``fit`` would say ``sample_weight``)."""
    from chainrule import training

    column = f"{sources.get('weight_column', '--weight-column')} {config.weight_column}"
    if not weights.any():
        which = f"every training example (those of {config.dataset} not held out as its test set)"
        if config.subset:
            which = f"each of the first {len(weights)} training examples "
            which += f"({sources.get('subset', '--subset')} {config.subset})"
        raise CLIError(f"{column}: the weight is zero for {which}")
    if config.val_split:
        train_rows, val_rows = training.validation_rows(len(weights), config.val_split, config.seed)
        for part, rows in (("validation", val_rows), ("training", train_rows)):
            if len(rows) and not weights[rows].any():
                raise CLIError(
                    f"{column}: the weight is zero for every {part} example of "
                    f"{sources.get('val_split', '--val-split')} {config.val_split}"
                )


def _weighted_line(what: str, summary: dict, column, dataset: str) -> str:
    """The line that reports ``summary``'s weighted accuracy, saying by which weights (the
    column of the .csv file ``dataset``, or its array, for an .npz file)."""
    value = summary["weighted_accuracy"]
    kind = "array" if dataset.lower().endswith(".npz") else "column"
    if value is None:
        return f"{what}: - (every example weighs 0 in {kind} {column!r})"
    return f"{what}: {value:.4f} (each example weighted by its weight in {kind} {column!r})"


def _weighted_accuracy(y, predicted, weights) -> float | None:
    """The share of the total weight of the examples ``predicted`` right (None for none)."""
    total = float(np.sum(weights))
    right = float(np.sum(weights * (np.asarray(predicted) == np.asarray(y))))
    return right / total if total > 0 else None


def _balanced_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """--class-weight balanced: example n weighs ``n / (k * count[label_n])``, k the number
    of classes present (scikit-learn's ``class_weight="balanced"``): every class's examples
    weigh n / k in all, and the mean weight is 1."""
    labels = np.asarray(labels, np.int64)
    counts = np.bincount(labels, minlength=n_classes)
    present = np.count_nonzero(counts)
    return len(labels) / (present * counts[labels])


def _split_balanced_weights(labels, n_classes: int, val_split: float, seed: int) -> np.ndarray:
    """:func:`_balanced_weights` of the rows fit trains on and, apart, of the rows it holds
    out for validation with ``val_split`` (fit splits the weights with the rows): each part
    balanced on its own, so the validation metrics count each class alike too."""
    weights = _balanced_weights(labels, n_classes)
    if int(len(labels) * val_split):
        from chainrule import training

        for part in training.validation_rows(len(labels), val_split, seed):
            weights[part] = _balanced_weights(labels[part], n_classes)
    return weights


def _balanced_accuracy(confusion) -> float:
    """The mean over the classes present of each one's recall (right / examples of it)."""
    from chainrule.metrics import precision_recall

    cm = np.asarray(confusion)
    _, recall = precision_recall(cm)
    present = cm.sum(axis=1) > 0
    return float(np.mean(recall[present])) if present.any() else 0.0


def _check_config_path(config_file, source: str | None, name: str) -> None:
    """A CLIError for a relative data file path from a TOML file that is not there: it is
    taken from the current directory, not the TOML file's (whose folder may hold it)."""
    from_file = config_file is not None and (source or "").startswith(f"{config_file}:")
    if not from_file or not _is_data_file(name) or os.path.isabs(name) or os.path.exists(name):
        return
    beside = Path(config_file).parent / name
    hint = f"; the file beside {config_file} is {beside}" if beside.exists() else ""
    raise CLIError(
        f"dataset file not found: {name} ({source}: a relative path is taken from the current "
        f"directory, {os.getcwd()}, not from the TOML file's{hint})"
    )


def _default_run_dir() -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / stamp
    n = 1
    while path.exists():
        n += 1
        path = Path("runs") / f"{stamp}-{n}"
    return str(path)


def _make_optimizer(config: TrainConfig):
    from chainrule import optimizers

    try:
        return optimizers.get_optimizer(config.optimizer, learning_rate=config.lr)
    except ValueError as exc:
        raise CLIError(str(exc))


class _MetricsLog:
    """Appends one JSON line per epoch to ``metrics.jsonl``, whole or not at all: a write that
    fails (a full disk) is cut off again, so the file never ends in half a line."""

    def __init__(self, path: Path):
        self.path = path
        self.began = False

    def on_train_begin(self, info=None):
        self.began = True

    def on_epoch_begin(self, epoch, n_batches):
        pass

    def on_batch_end(self, *args, **kwargs):
        pass

    def on_epoch_end(self, epoch, record):
        line = memoryview((json.dumps(record) + "\n").encode())
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            size = os.fstat(fd).st_size
            try:
                while line:
                    line = line[os.write(fd, line) :]
                os.fsync(fd)  # once an epoch: cheap
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                raise type(exc)(exc.errno, f"cannot write {self.path}: {exc.strerror}") from None
        finally:
            os.close(fd)

    def on_train_end(self, history=None):
        pass


def _read_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        raise CLIError(f"{run_dir} has no metrics.jsonl: is it a run directory of chainrule train?")
    _regular_file(str(path), "metrics file")
    records = []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"cannot read {path}: {exc}")
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise CLIError(f"{path}: line {number} is not valid JSON")
            if not isinstance(record, dict) or not isinstance(record.get("epoch"), int):
                raise CLIError(f"{path}: line {number} is not an epoch record: {line.strip()}")
            records.append(record)
    if not records:
        raise CLIError(f"{path} records no epochs: nothing to plot")
    return records


def _plot_run(run_dir: Path, net, records, cm) -> None:
    from chainrule import plots

    try:
        written = plots.plot_run(
            run_dir,
            records,
            cm=np.asarray(cm) if cm is not None else None,
            first_weights=net.dense_layers[0].weights,
        )
    except ImportError as exc:
        raise CLIError(str(exc))
    for path in written:
        print(f"wrote {path}")


def _evaluation_data(
    name: str,
    split: str,
    model: str,
    label_column: int | str | None = None,
    classes: list[str] | None = None,
    delimiter: str | None = None,
    n_in: int | None = None,
    use_weights: bool = True,
):
    """``(x, y, weights)`` of a named dataset's split (images as float32 in [0, 1]), or of a whole
    ``.csv``/``.npz`` file, as the network takes them. A CSV's labels are in ``label_column``,
    by default the column ``chainrule train`` took them from for ``model``, and its cells are
    separated by ``delimiter``, by default the one recorded for ``model``; class names are
    numbered by the model's ``classes`` (a label not among them is refused), and refused for
    a model without class names. ``weights``: for a file that holds the weight column the
    model was trained with (``n_in`` the model's inputs: the file has ``n_in + 2`` columns),
    its numbers, taken out of the features (unread and unchecked, and None, without
    ``use_weights``: a command that does not use them); else None."""
    from chainrule import datasets
    from chainrule.serialization import load_metadata

    if _is_data_file(name):
        label_given = label_column is not None
        if label_column is None:
            trained = (load_metadata(model).get("training_config") or {}).get("label_column", 0)
            ok = isinstance(trained, (int, str)) and not isinstance(trained, bool)
            label_column = trained if ok and name.lower().endswith(".csv") else 0
        if delimiter is None:
            recorded = _recorded_delimiter(_training_config(model))
            delimiter = recorded if name.lower().endswith(".csv") else ","
        weight_column = _recorded_weight_column(model)
        flag = "the model's weight column"
        weights_at = None
        if weight_column is not None and name.lower().endswith(".csv") and n_in is not None:
            found = _weight_position(name, weight_column, label_column, delimiter, flag, n_in + 2)
            weights_at = found and found[0]
        note = _check_file_columns(model, name, label_column, delimiter, weights_at=weights_at)
        if weights_at is None and not label_given and name.lower().endswith(".csv") and n_in:
            ambiguous = _headerless_weights_note(model, name, n_in, label_column, delimiter)
            note = "\n".join(filter(None, [note, ambiguous]))
        try:
            x, y, found, weights = load_dataset_file(
                name, label_column, classes, delimiter, weights_at, use_weights
            )
        except datasets.DatasetError as exc:
            about_weights = _weight_cell_error(exc, weights_at, f"{flag} {weight_column}")
            if about_weights is not None:
                raise about_weights from None
            if "given by name, but the file has no header row" not in str(exc):
                raise
            raise CLIError(
                f"{exc}: give the label column by its index with --label-column (counting "
                "from 0; -1 for the last)"
            ) from None
        if note:
            print(note, file=sys.stderr)
        if classes is None and found is not None:
            raise CLIError(
                f"{name}: the labels are class names ({', '.join(found[:10])}"
                f"{', ...' if len(found) > 10 else ''}), but the model {model} has no class "
                "names (it was trained on class indices 0, 1, 2, ...)"
            )
        if n_in is not None:
            x, weights = _split_off_weights(
                name, x, weights, label_column, weight_column, delimiter, flag, weights_at,
                required=False, check=use_weights,
            )  # fmt: skip
        return x, y, weights
    _check_dataset_name(name)
    if label_column is not None:
        raise CLIError(f"--label-column {label_column}: the dataset {name} is not a .csv file")
    if delimiter is not None:
        raise CLIError(
            f"--delimiter {_show_delimiter(delimiter)}: the dataset {name} is not a .csv file"
        )
    return (*datasets.load_dataset(name, split), None)


def _headerless_weights_note(
    model: str, path: str, n_in: int, label_column, delimiter: str
) -> str | None:
    """A note for a .csv file ``path`` without a header row, of ``n_in + 1`` columns, given to
    a model trained with a weight column (``n_in`` inputs): read as the features and the label
    column ``label_column``, but it may be the features and the weights (without a header the
    two layouts look alike); None for any other file or model."""
    from chainrule.datasets import DatasetError
    from chainrule.datasets.tabular import _csv_header, _head_records

    weight_column = _recorded_weight_column(model)
    if weight_column is None or not isinstance(label_column, int) or isinstance(label_column, bool):
        return None  # (a label column given by name needs a header: refused as such)
    try:
        columns, _ = _csv_header(path, label_column, delimiter, n_in)
        head = _head_records(path, delimiter, 1)
    except (DatasetError, OSError):
        return None  # the loader says what is wrong with the file
    if columns is not None or not head or len(head[0][1]) != n_in + 1:
        return None
    label = label_column % (n_in + 1) + 1 if -n_in - 1 <= label_column <= n_in else None
    if label is None:
        return None  # (the loader refuses it)
    from chainrule.serialization import load_metadata

    named = isinstance(load_metadata(model).get("feature_names"), list)
    return (
        f"note: {path} has no header row and {n_in + 1} columns, the model's {n_in} features "
        f"and one more: column {label} was taken as the label column, not as the model's "
        f"weight column {weight_column}; to make it unambiguous, give the file "
        + ("a header row (the training file's column names), or " if named else "")
        + f"the training file's layout ({n_in + 2} columns: the features, the label column "
        f"and the weight column), or the features alone ({n_in} columns)"
    )


def _recorded_weight_column(model: str) -> int | str | None:
    """The weight column ``chainrule train --weight-column`` recorded for ``model``, or None."""
    column = _training_config(model).get("weight_column")
    return column if isinstance(column, (int, str)) and not isinstance(column, bool) else None


def _training_config(model: str) -> dict:
    """The ``training_config`` that ``chainrule train`` recorded in ``model`` ({} if none)."""
    from chainrule.serialization import load_metadata

    config = load_metadata(model).get("training_config")
    return config if isinstance(config, dict) else {}


def _recorded_delimiter(config: dict) -> str:
    """The CSV delimiter a model's ``training_config`` records (``,`` if it records none)."""
    delimiter = config.get("delimiter", ",")
    return delimiter if isinstance(delimiter, str) else ","


def _own_data_file(model: str) -> str | None:
    """The ``.csv``/``.npz`` file ``model`` was trained on, as recorded; None for a model
    trained on an image set (or one that records no dataset)."""
    dataset = _training_config(model).get("dataset")
    return dataset if isinstance(dataset, str) and _is_data_file(dataset) else None


def _default_image_set(model: str) -> str:
    """The image set ``model`` was trained on (``fashion-mnist``), else ``mnist``."""
    from chainrule import datasets

    dataset = _training_config(model).get("dataset")
    return dataset if isinstance(dataset, str) and dataset in datasets.DATASETS else "mnist"


@dataclasses.dataclass
class _OwnData:
    """A part of a model's own data file, as :func:`_own_data` found it again."""

    path: str
    x: np.ndarray
    y: np.ndarray
    rows: np.ndarray  # the examples' rows in the file (0-based, counting data rows only)
    part: str  # in words: "the 10% held out as test set at training (seed 0)"
    n_test: int  # the size of the held-out test set
    seed: int
    verified: bool  # whether the test set was checked against the digest the model records
    weights: np.ndarray | None = None  # the examples' weights (the model's weight column)


def _own_data(
    model: str,
    net,
    split: str,
    classes: list[str] | None,
    delimiter: str | None = None,
    path: str | None = None,
    use_weights: bool = True,
) -> _OwnData:
    """Part ``split`` of the data file ``model`` was trained on (:func:`_own_data_file`):
    ``"test"``, the test set ``chainrule train`` held out (the same examples, so the same
    accuracy as it reported), or ``"train"``, the rest. The file is read again with the
    recorded label column and delimiter (or ``delimiter``, where given) and the model's class
    names, and split again as ``train`` split
    it, with the recorded seed; a CLIError if the file is gone, or has changed so that the
    test set is not the same (checked against the digest of the model's ``test_split``:
    ``train`` records it; a model without it is checked by its number of features only).
    ``path``: where the file is now, if it has moved (checked the same way). Without
    ``use_weights`` (a command that does not use them), the weight column is left out unread."""
    from chainrule import datasets
    from chainrule.serialization import load_metadata

    meta = load_metadata(model)
    config = meta.get("training_config") if isinstance(meta.get("training_config"), dict) else {}
    record = meta.get("test_split") if isinstance(meta.get("test_split"), dict) else {}
    trained_on, path = config["dataset"], config["dataset"] if path is None else path
    seed = record.get("seed", config.get("seed"))
    fraction = record.get("val_fraction", TEST_FRACTION)
    label_column = config.get("label_column", 0)
    ask = (
        "give the data to evaluate with --dataset FILE (used whole), or, if the file has "
        "moved, --dataset NEWPATH --split test for the test set held out of it"
    )
    valid = (
        isinstance(seed, int)
        and not isinstance(seed, bool)
        and seed >= 0
        and isinstance(fraction, float)
        and 0 < fraction < 1
        and isinstance(label_column, (int, str))
        and not isinstance(label_column, bool)
    )
    if not valid:
        raise CLIError(
            f"the model {model} does not record how its test set was held out from {path} "
            f"(seed {seed!r}, label column {label_column!r}); {ask}"
        )
    if not os.path.exists(path):
        raise CLIError(
            f"the model {model} was trained on {path}, which no longer exists, so its test set "
            f"cannot be found again; {ask}"
        )
    given_delimiter = delimiter is not None
    changed = f"{path} has changed since the model {model} was trained on it"
    if path != trained_on:
        changed = f"{path} does not hold the data the model {model} was trained on ({trained_on})"
    lost = f"its test set cannot be found again; {ask}"
    delimiter = delimiter or _recorded_delimiter(config)
    weight_column, flag = _recorded_weight_column(model), f"the model's weight column (in {path})"
    position = None
    if weight_column is not None and path.lower().endswith(".csv"):
        at = _weight_position(path, weight_column, label_column, delimiter, flag)
        position = at and at[0]
    try:
        x, y, found, weights = load_dataset_file(
            path, label_column, classes, delimiter, position, use_weights
        )
    except datasets.DatasetError as exc:
        what = f"the model's weight column {weight_column}"
        about_weights = _weight_cell_error(exc, position, what)
        if about_weights is not None:  # the examples may be the same: say what is wrong
            raise about_weights from None
        if given_delimiter:  # read with the user's delimiter: their mistake, not a change
            raise
        raise CLIError(f"{changed} ({exc}), so {lost}") from None
    x, weights = _split_off_weights(
        path, x, weights, label_column, weight_column, delimiter, flag, position,
        check=use_weights,
    )  # fmt: skip
    if classes is None and found is not None:
        raise CLIError(
            f"{changed}: its labels are class names ({', '.join(found[:10])}) and the model "
            f"was trained on class indices, so {lost}"
        )
    n = record.get("n_examples")
    if isinstance(n, int) and not isinstance(n, bool) and n != len(x):
        raise CLIError(f"{changed}: it has {len(x)} examples, {n} at training, so {lost}")
    if x.shape[1] != net.n_in:
        raise CLIError(
            f"{changed}: it has {x.shape[1]} features per example and the model takes "
            f"{net.n_in}, so {lost}"
        )
    try:
        train_rows, _, test_rows, _ = datasets.train_val_split(
            np.arange(len(x)), y, val_fraction=fraction, seed=seed
        )
    except ValueError as exc:  # too few examples left for a test set
        raise CLIError(f"{changed} ({exc}), so {lost}") from None
    digest = record.get("sha256")
    if digest is not None and _test_digest(x[test_rows], y[test_rows]) != digest:
        raise CLIError(
            f"{changed}: the examples it now holds out as test set (seed {seed}) differ from "
            f"those of training, so {lost}"
        )
    weights_digest = record.get("weights_sha256")  # models weighted by a column (not older)
    if split == "test" and weights is not None and weights_digest is not None:
        if _weights_digest(weights[test_rows]) != weights_digest:
            raise CLIError(
                f"{changed}: the weights (the model's weight column {weight_column}) of the "
                f"examples it holds out as test set (seed {seed}) differ from those of "
                "training, so its weighted accuracy would not be the one train reported; give "
                "--dataset FILE to evaluate the whole file with the weights it holds now"
            )
    if split == "test":
        rows, part = test_rows, f"the {fraction:.0%} held out as test set at training"
    else:
        rows, part = train_rows, f"the {1 - fraction:.0%} not held out as test set at training"
    return _OwnData(
        path,
        x[rows],
        y[rows],
        rows,
        f"{part} (seed {seed})",
        len(test_rows),
        seed,
        digest is not None,
        None if weights is None else weights[rows],
    )


def _unverified_note(data: _OwnData) -> str:
    return (
        f"note: the model records no digest of its test set, so whether {data.path} still "
        "holds the data it was trained on is not checked"
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    from chainrule.metrics import classification_summary

    net = _load_model(args.model, "evaluate")
    classes = _model_classes(args.model, net)
    by_name = _model_classes(args.model, net, names_only=True)
    own = _own_data_file(args.model) if args.dataset is None else None
    # --dataset FILE --split: the model's own data file, moved to FILE (checked the same way)
    moved = args.dataset is not None and args.split is not None and _is_data_file(args.dataset)
    used = None  # the line that names the data, when it is the model's own file
    if moved and (_own_data_file(args.model) is None or args.label_column is not None):
        raise CLIError(
            "--split picks a split of mnist or fashion-mnist, or of the data file the model "
            f"was trained on (read as in training, where it is now); {args.dataset} is "
            "evaluated whole without --split"
        )
    if own is not None and args.label_column is not None:
        recorded = _training_config(args.model).get("label_column", 0)
        raise CLIError(
            f"--label-column {args.label_column}: without --dataset, the model's own data "
            f"{own} is read as in training (labels in column {recorded!r}); give "
            "--dataset FILE to read a file's labels from another column"
        )
    if own is not None or moved:  # the test set train held out of the model's own file
        name = own or args.dataset
        split = args.split or "test"
        data = _own_data(args.model, net, split, by_name, args.delimiter, path=args.dataset)
        if not data.verified:
            _log(_unverified_note(data))
        x, y, weights = data.x, data.y, data.weights
        used = f"data: {name}, {data.part}: {len(y)} examples"
    else:
        name = args.dataset or _default_image_set(args.model)
        trained = _training_config(args.model).get("dataset")
        images = isinstance(trained, str) and not _is_data_file(trained)
        if images and args.dataset and not _is_data_file(name) and name.lower() != trained:
            _log(f"note: the model was trained on {trained}; {name} is other images")
        x, y, weights = _evaluation_data(
            name,
            args.split or "test",
            args.model,
            args.label_column,
            by_name,
            args.delimiter,
            net.n_in,
        )
    _check_fits(net, x, name, defaulted=args.dataset is None and own is None)
    _check_labels(net, y, name)
    n_classes = max(net.n_out, 2)
    predicted = net.predict(x)
    summary = classification_summary(y, predicted, n_classes)
    if weights is not None:  # the file holds the weights trained with: weighted as train does
        summary["weighted_accuracy"] = _weighted_accuracy(y, predicted, weights)
    weighted = _training_config(args.model).get("class_weight") == "balanced"
    if weighted:  # trained for it: shown as train showed it
        summary["balanced_accuracy"] = _balanced_accuracy(summary["confusion_matrix"])
    if classes is not None:
        summary["classes"] = classes
    if args.json:
        if used is not None:  # stdout holds the JSON object only
            _log(used)
        print(json.dumps(summary))
        return 0
    if used is not None:
        print(used)
    print(f"accuracy: {summary['accuracy']:.4f} on {summary['n_examples']} examples")
    if weights is not None:
        column = _recorded_weight_column(args.model)
        print(_weighted_line("weighted accuracy", summary, column, name))
    if weighted:
        balanced = summary["balanced_accuracy"]
        print(f"balanced accuracy: {balanced:.4f} (the mean of the per-class recalls)")
    names = classes or [str(k) for k in range(n_classes)]
    left = max(5, *map(len, names))
    print(f"{'class':>{left}}  {'precision':>9}  {'recall':>7}")
    for name, p, r in zip(names, summary["precision"], summary["recall"]):
        print(f"{name:>{left}}  {p:9.4f}  {r:7.4f}")
    cm = summary["confusion_matrix"]
    print("confusion matrix (rows: true class, columns: predicted):")
    width = max(len(str(v)) for row in cm for v in row)
    widths = [max(width, len(name)) if classes else width for name in names]
    print(" " * (left + 1) + " ".join(f"{n:>{w}}" for n, w in zip(names, widths)))
    for name, row in zip(names, cm):
        print(f"{name:>{left}} " + " ".join(f"{v:>{w}}" for v, w in zip(row, widths)))
    return 0


def _pixel_scale(model: str) -> float | None:
    """The scale ``chainrule train`` applied to uint8 pixels for this model, or None.

    Recorded as the model's ``input_scale``; models written before that was recorded: 1/255
    when ``training_config.dataset`` names an image set (not a .csv/.npz file)."""
    from chainrule.serialization import load_metadata

    meta = load_metadata(model)
    scale = meta.get("input_scale")
    if isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale > 0:
        return float(scale)
    dataset = (meta.get("training_config") or {}).get("dataset")
    if isinstance(dataset, str) and not _is_data_file(dataset):
        return IMAGE_INPUT_SCALE
    return None


def _read_npy(net, path: str, pixel_scale: float | None) -> np.ndarray:
    """The rows of a .npy file: numbers used as they are, except uint8 pixels (0-255) for a
    model trained on uint8 images, scaled as in training."""
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise CLIError(f"{path}: not a plain .npy array ({exc})")
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        what = getattr(array, "dtype", type(array).__name__)
        raise CLIError(f"{path}: holds {what} values; expected real numbers")
    raw_pixels = array.dtype == np.uint8 and pixel_scale is not None
    array = array.astype(np.float32)
    if array.ndim == 1 or (array.shape == (28, 28) and net.n_in == 784):
        array = array.reshape(1, -1)
    elif array.ndim == 3:
        array = array.reshape(len(array), -1)
    if array.ndim != 2 or array.shape[1] != net.n_in:
        raise CLIError(f"{path}: expected arrays of {net.n_in} values, got shape {array.shape}")
    if len(array) == 0:
        raise CLIError(f"{path}: no rows to predict (shape {array.shape})")
    if not np.isfinite(array).all():
        raise CLIError(f"{path}: holds NaN or infinite values")
    if raw_pixels:
        array *= np.float32(pixel_scale)
    elif pixel_scale is not None and array.max() > 1:  # 0-255 pixels stored as other numbers
        _log(
            f"note: {path} holds values up to {array.max():g}, used as they are, but the model "
            f"was trained on pixels scaled to [0, 1] (uint8 arrays are scaled for you): save "
            f"0-255 pixels as uint8, or multiply them by {pixel_scale:.6g}"
        )
    return array


def _read_csv_rows(
    net,
    path: str,
    label_column: int | str,
    given: bool,
    delimiter: str = ",",
    model: str | None = None,
) -> np.ndarray:
    """The feature rows of a CSV file (:func:`chainrule.datasets.load_csv_features`), numbers
    used as they are. A file of ``net.n_in`` columns is all features; one of ``net.n_in + 1``
    holds a label column too, ``label_column``, which is dropped. ``given``: the user named the
    label column (``--label-column``): the file has one, whatever its number of columns.
    ``delimiter``: the cells' separator. ``model``: the model file, whose recorded feature
    names a header must match (:func:`_check_feature_names`)."""
    from chainrule import datasets

    weight_column = None if model is None else _recorded_weight_column(model)
    if weight_column is not None:  # a file of the training data's columns: both left out
        flag = "the model's weight column"
        found = _weight_position(path, weight_column, label_column, delimiter, flag, net.n_in + 2)
        if found is None and isinstance(weight_column, str) and not given:  # no label column
            found = _weight_position(path, weight_column, None, delimiter, flag, net.n_in + 1)
            if found is not None:
                label_column = None
        if found is not None:
            weights_at = found[0]
            note = _check_file_columns(model, path, label_column, delimiter, None, weights_at)
            x, _ = datasets.load_csv_features(  # the weights are not used: left out unread
                path,
                label_column,
                delimiter=delimiter,
                weight_column=weights_at,
                read_weights=False,
            )
            if note:
                print(note, file=sys.stderr)
            return x
    note = None
    if model is not None:
        n_features = None if given else net.n_in
        note = _check_file_columns(model, path, label_column, delimiter, n_features)
        if not given:
            ambiguous = _headerless_weights_note(model, path, net.n_in, label_column, delimiter)
            note = "\n".join(filter(None, [note, ambiguous]))
    if not given:
        try:
            x = datasets.load_csv_features(
                path, label_column, n_features=net.n_in, delimiter=delimiter
            )
        except datasets.DatasetError as exc:
            if "missing label column" not in str(exc) and "given by name" not in str(exc):
                raise
            raise CLIError(
                f"{exc} ({path} has one column more than the model's {net.n_in} inputs: a "
                f"label column, {label_column!r} as in training; name it with --label-column)"
            ) from None
    else:
        x = datasets.load_csv_features(path, label_column, delimiter=delimiter)
        if x.shape[1] != net.n_in:
            raise CLIError(
                f"the model takes {net.n_in} inputs but {path} has {x.shape[1]} feature columns "
                f"besides its label column (--label-column {label_column})"
            )
    if note:
        print(note, file=sys.stderr)
    return x


def _predict_label_column(model: str) -> int | str:
    """The label column ``predict`` drops from a CSV file with one column more than the model
    has inputs: the one the model was trained with (a CSV's), else the first."""
    config = _training_config(model)
    column = config.get("label_column", 0)
    trained_on = config.get("dataset")
    ok = isinstance(column, (int, str)) and not isinstance(column, bool)
    from_csv = isinstance(trained_on, str) and trained_on.lower().endswith(".csv")
    return column if ok and from_csv else 0


def _read_inputs(
    net,
    paths: list[str],
    pixel_scale: float | None,
    label_column: int | str = 0,
    label_given: bool = False,
    delimiter: str = ",",
    model: str | None = None,
) -> tuple[list[str], np.ndarray]:
    from chainrule.preprocess import BlankImageError, mnist_image

    names, rows = [], []
    for path in paths:
        _regular_file(path, "input file")
        extension = os.path.splitext(path)[1].lower()
        if extension in (".npy", ".csv"):
            if extension == ".npy":
                array = _read_npy(net, path, pixel_scale)
            else:
                array = _read_csv_rows(net, path, label_column, label_given, delimiter, model)
            names += [path] if len(array) == 1 else [f"{path}[{i}]" for i in range(len(array))]
            rows.append(array)
        elif extension in (".npz", ".txt", ".tsv"):
            raise CLIError(
                f"{path}: predict reads images (PNG, JPEG, ...), .npy arrays and .csv files of "
                "feature rows; save the rows as a .csv file (comma-separated) or with numpy.save"
            )
        else:
            try:
                rows.append(mnist_image(path)[None, :])
            except ImportError as exc:
                raise CLIError(str(exc))
            except BlankImageError as exc:  # which of the images, and that the others wait
                raise CLIError(f"{path}: {exc}; leave it out to predict the others") from None
            names.append(path)
    x = np.concatenate(rows)
    _check_fits(net, x, "the input")
    return names, x


def cmd_predict(args: argparse.Namespace) -> int:
    net = _load_model(args.model, "predict")
    given = args.label_column is not None
    if given and not any(path.lower().endswith(".csv") for path in args.inputs):
        raise CLIError(
            f"--label-column {args.label_column}: the label column of a .csv input; no input "
            "is a .csv file"
        )
    if args.delimiter is not None and not any(p.lower().endswith(".csv") for p in args.inputs):
        raise CLIError(
            f"--delimiter {_show_delimiter(args.delimiter)}: the cell separator of a .csv input; "
            "no input is a .csv file"
        )
    label_column = args.label_column if given else _predict_label_column(args.model)
    delimiter = args.delimiter or _recorded_delimiter(_training_config(args.model))
    names, x = _read_inputs(
        net, args.inputs, _pixel_scale(args.model), label_column, given, delimiter, args.model
    )
    classes = _model_classes(args.model, net)
    probs = net.predict_proba(x)
    if net.n_out == 1:
        probs = np.concatenate([1 - probs, probs], axis=1)
    results = []
    for name, p in zip(names, probs):
        order = np.argsort(-p)[: args.top]
        result = {"input": name, "prediction": int(order[0])}
        top = [{"class": int(k), "probability": round(float(p[k]), 6)} for k in order]
        if classes is not None:  # the indices stay, the names are added
            result["prediction_name"] = classes[order[0]]
            top = [{"class": t["class"], "name": classes[t["class"]], **t} for t in top]
        results.append({**result, "top": top})
    if args.json:
        print(json.dumps(results))  # a list, one object an input row, however many
        return 0
    for r in results:
        tops = ", ".join(f"{t.get('name', t['class'])} ({t['probability']:.3f})" for t in r["top"])
        print(f"{r['input']}: {r.get('prediction_name', r['prediction'])}   top: {tops}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from chainrule.serialization import load_metadata

    net = _load_model(args.model, "info")
    meta = load_metadata(args.model)
    if args.json:
        print(
            json.dumps({"config": net.config(), "n_parameters": net.n_parameters, "metadata": meta})
        )
        return 0
    print(f"model: {args.model}")
    print(f"loss: {net.loss_function.name}   dtype: {net.dtype}   parameters: {net.n_parameters:,}")
    print(
        f"{'#':>2}  {'layer':<11}  {'activation':<11}  {'weights':>12}  {'biases':>7}  "
        f"{'params':>9}"
    )
    for i, layer in enumerate(net.layers):
        print(f"{i:>2}  {_layer_line(layer)}")
    classes = _model_classes(args.model, net)
    if classes is not None:
        print(f"classes: {', '.join(f'{k} {name}' for k, name in enumerate(classes))}")
    names = meta.get("feature_names")
    if isinstance(names, list) and names:
        shown = [str(name) if str(name).strip() else "(no name)" for name in names]
        print(f"features: {', '.join(shown)}")
    for key in ("training_config", "final_metrics"):
        value = meta.get(key) or meta.get("metadata", {}).get(key)
        if value:
            print(f"{key.replace('_', ' ')}:")
            for k, v in value.items():
                print(f"  {k}: {v}")
    print(
        f"chainrule version: {meta.get('chainrule_version', '?')}   "
        f"format: {meta.get('format_version', '?')}"
    )
    return 0


def _layer_line(layer) -> str:
    """A row of ``info``'s layer table (after the index)."""
    from chainrule.layers import Dense, Dropout, Standardize

    name = type(layer).__name__.lower()
    if isinstance(layer, Dense):
        shape_w = "x".join(map(str, layer.weights.shape))
        n = layer.weights.size + layer.biases.size
        return (
            f"{name:<11}  {layer.activation.name:<11}  {shape_w:>12}  "
            f"{layer.biases.shape[0]:>7}  {n:>9,}"
        )
    if isinstance(layer, Standardize):  # fixed statistics of the training inputs
        mean, std = layer.mean, layer.std
        return (
            f"{name:<11}  (x - mean) / std of {layer.n_in} inputs, mean {mean.min():.4g} to "
            f"{mean.max():.4g}, std {std.min():.4g} to {std.max():.4g} (fixed, no parameters)"
        )
    if isinstance(layer, Dropout):
        return f"{name:<11}  rate={layer.rate}"
    return name


def cmd_plot(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise CLIError(f"run directory not found: {run_dir}")
    records = _read_metrics(run_dir)
    cm = None
    metrics_file = run_dir / "test_metrics.json"
    if metrics_file.exists():
        try:
            cm = json.loads(metrics_file.read_text()).get("confusion_matrix")
        except json.JSONDecodeError:
            raise CLIError(f"{metrics_file}: not valid JSON")
    model_file = run_dir / "model.npz"
    net = _load_model(str(model_file), "plot") if model_file.exists() else None
    if net is None:
        from chainrule import plots

        written = plots.plot_run(run_dir, records, cm=np.asarray(cm) if cm else None)
        for path in written:
            print(f"wrote {path}")
        return 0
    _plot_run(run_dir, net, records, cm)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from chainrule.export import export_onnx

    _check_output_file(args.output, "--output")
    net = _load_model(args.model, "export")
    scale = _pixel_scale(args.model)  # pixels the graph takes already scaled, as in training
    metadata = {} if scale is None else {"input_scale": repr(scale)}
    try:
        export_onnx(net, args.output, metadata=metadata)
    except ImportError as exc:
        raise CLIError(str(exc))
    if scale is not None:
        _log(
            f"note: the model was trained on inputs scaled by {scale:.6g} (uint8 pixels to "
            f"[0, 1]); the ONNX graph takes them scaled: multiply pixels by {scale:.6g} first "
            "(recorded in the file's metadata_props as input_scale)"
        )
    print(f"wrote {args.output}")
    return 0


def _check_output_file(path: str, flag: str) -> None:
    """CLIError unless ``path`` names a file that can be written (in an existing directory)."""
    target = Path(path)
    if not path or target.name in ("", ".", ".."):
        raise CLIError(f"{flag}: expected a file name, got {path!r}")
    if target.is_dir():
        raise CLIError(f"{flag} {path} is a directory; give a file name such as model.onnx")
    if not target.parent.is_dir():
        what = "is not a directory" if target.parent.exists() else "does not exist"
        raise CLIError(f"{flag} {path}: {target.parent} {what}")


def cmd_download(args: argparse.Namespace) -> int:
    from chainrule import datasets

    if args.data_dir is not None:
        for parent in [Path(args.data_dir), *Path(args.data_dir).parents]:
            if os.path.lexists(parent):
                if not parent.is_dir():
                    raise CLIError(f"--data-dir {args.data_dir}: {parent} is not a directory")
                break

    bars: dict = {}

    def progress(filename, done, total):
        if args.quiet or not sys.stderr.isatty():
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return

        bar = bars.get(filename)
        if bar is None:
            bar = bars[filename] = tqdm(
                total=total, desc=filename, unit="B", unit_scale=True, file=sys.stderr, leave=False
            )
        bar.update(done - bar.n)

    try:
        paths = datasets.download(
            args.name, data_dir=args.data_dir, progress=progress, timeout=args.timeout
        )
    finally:
        for bar in bars.values():
            bar.close()
    for path in paths if isinstance(paths, (list, tuple)) else [paths]:
        print(path)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from chainrule import explain

    kwargs = dict(
        sizes=args.sizes,
        activation=args.activation,
        loss=args.loss,
        seed=args.seed,
        batch=args.batch,
        shapes=args.shapes or args.command == "trace",
        format=args.format,
        color=args.format == "text" and sys.stdout.isatty() and not args.no_color,
    )
    if not args.model:
        given = [
            flag
            for flag in ("dataset", "index", "delimiter", "split")
            if getattr(args, flag) is not None
        ]
        if given:
            raise CLIError(f"--{given[0]} goes with --model (the random network has its own)")
    else:
        args.index = args.index or 0
        given = [flag for flag in ("sizes", "activation", "loss") if getattr(args, flag)]
        if given:
            raise CLIError(
                f"--{given[0]} cannot be combined with --model: the model's network is explained"
            )
        net = _load_model(args.model, "explain")
        classes = _model_classes(args.model, net)
        by_name = _model_classes(args.model, net, names_only=True)
        own = _own_data_file(args.model) if args.dataset is None else None
        # --dataset FILE --split: the model's own data file, moved to FILE (as for evaluate)
        moved = args.dataset is not None and args.split is not None and _is_data_file(args.dataset)
        if moved and _own_data_file(args.model) is None:
            raise CLIError(
                "--split picks a split of mnist or fashion-mnist, or of the data file the model "
                f"was trained on (where it is now); {args.dataset} is read whole without --split"
            )
        if own is not None or moved:  # the test set train held out of the model's own file
            path = args.dataset if moved else None
            data = _own_data(  # the weights are not used: left out unread
                args.model, net, args.split or "test", by_name, args.delimiter, path, False
            )
            if not data.verified:
                _log(_unverified_note(data))
            x_test, y_test, name = data.x, data.y, own or args.dataset
        else:
            name = args.dataset or _default_image_set(args.model)
            x_test, y_test, _ = _evaluation_data(
                name,
                args.split or "test",
                args.model,
                classes=by_name,
                delimiter=args.delimiter,
                n_in=net.n_in,
                use_weights=False,
            )
        _check_fits(net, x_test, name, defaulted=args.dataset is None and own is None)
        i, n = args.index, args.batch or 1
        if n > len(x_test):
            which = "test examples" if own is not None or moved else "examples"
            raise CLIError(f"--batch {n}: {name} has {len(x_test)} {which}; give at most that")
        if not 0 <= i <= len(x_test) - n:
            raise CLIError(f"--index must be in [0, {len(x_test) - n}], got {i}")
        _check_labels(net, y_test[i : i + n], name, first=i)
        rows = "rows" if _is_data_file(name) else "test images"
        if own is not None or moved:  # --index counts test examples; the file's row is named
            held_out = f"of the {len(y_test)} in {data.part}"
        if args.batch:
            kwargs.update(net=net, x=x_test[i : i + n], label=y_test[i : i + n])
            what = f"{name} {rows} {i}..{i + n - 1}"
            if own is not None or moved:
                what = f"{name}, test examples {i}..{i + n - 1} {held_out}"
        else:
            label = int(y_test[i])
            kwargs.update(net=net, x=x_test[i], label=label)
            named = f" {classes[label]}" if classes is not None else ""
            what = f"{name} {rows[:-1]} {i} (label {label}{named})"
            if own is not None or moved:
                what = (
                    f"{name} row {int(data.rows[i])} (label {label}{named}), test example {i} "
                    f"{held_out}"
                )
        kwargs["description"] = f"Model {args.model}, {what}."
    try:
        text = explain.explain_command(**kwargs)
    except ValueError as exc:
        raise CLIError(str(exc))
    print(text)
    return 0


def _check_bind(host: str, port: int) -> None:
    """CLIError unless a server could listen on ``host``:``port`` now (bound, then let go)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise CLIError(f"--host {host}: not an address of this machine ({exc})")
    family, kind, proto, _, address = infos[0]
    try:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            sock.bind(address)
    except OSError as exc:
        shown = f"[{host}]" if ":" in host else host
        raise CLIError(f"cannot listen on {shown}:{port}: {exc.strerror or exc}")


class _Stopped(KeyboardInterrupt):
    """A SIGTERM to ``chainrule serve``: a Ctrl-C, which uvicorn.run takes after its shutdown,
    and which ``cmd_serve`` takes if it comes before."""


def _stop_on_sigterm(signum, frame):
    raise _Stopped


def cmd_serve(args: argparse.Namespace) -> int:
    model = args.model or latest_model()
    if model is None:
        raise CLIError(
            "no model to serve yet: train one with `chainrule train` (about a minute), "
            "or pass a model file: chainrule serve MODEL"
        )
    net = _load_model(str(model), "serve")
    try:
        from chainrule import web
    except ImportError as exc:
        raise CLIError(f"{exc} (the web page needs: pip install 'chainrule[web]')")
    try:
        web.create_app(net)  # a network the page cannot serve is refused before the URL
    except ValueError as exc:
        raise CLIError(f"cannot serve {model}: {exc}")
    host = args.host
    if host.startswith("[") and host.endswith("]"):  # an IPv6 address as URLs write it
        host = host[1:-1]
    _check_bind(host, args.port)
    url_host = f"[{host}]" if ":" in host else host
    # uvicorn shuts down on SIGTERM, then sends it again to the handler it found: this one,
    # so that a SIGTERM ends the command as Ctrl-C does instead of killing it (handlers are
    # the main thread's: serve run from another thread keeps uvicorn's own ways)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm) if main_thread else None
    try:
        print(f"serving {model} at http://{url_host}:{args.port}/  (Ctrl-C to stop)", flush=True)
        web.serve(str(model), host=host, port=args.port, log_level="warning")
    except ImportError as exc:
        raise CLIError(f"{exc} (the web page needs: pip install 'chainrule[web]')")
    except SystemExit as exc:  # uvicorn exits when it cannot start, after logging why
        if exc.code:
            raise CLIError(f"the web server could not start on {url_host}:{args.port}")
        raise
    except _Stopped:  # a SIGTERM before uvicorn took the signals
        pass
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    print("chainrule serve: stopped", file=sys.stderr)  # by Ctrl-C or SIGTERM
    return 0


# -- the parser ------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (with a pointer to --help), exit status 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from chainrule import __version__

    parser = _Parser(
        prog="chainrule",
        description="Neural networks from scratch on NumPy, every gradient by the chain rule.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    common = _Parser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add = sub.add_parser

    def add_parser(name, **kwargs):
        return _add(name, parents=[common], **kwargs)

    sub.add_parser = add_parser
    sub.required = True

    train = sub.add_parser(
        "train",
        help="train a network (default: MNIST) and report test accuracy",
        description="Train a network. With no flags: the default network on the bundled MNIST.",
    )
    train.add_argument(
        "--config",
        metavar="FILE.toml",
        help="TOML file with the same keys as the flags (flags win)",
    )
    train.add_argument(
        "--preset",
        help=f"a named configuration: {', '.join(PRESETS)} (the notes' 784-30-10 sigmoid network)",
    )
    train.add_argument(
        "--dataset", help="mnist, fashion-mnist, or a .csv/.npz file (default mnist)"
    )
    train.add_argument(
        "--label-column",
        dest="label_column",
        type=_label_column,
        metavar="COLUMN",
        help="the label column of a .csv dataset: an index (0, the default, is the first; -1 "
        "the last) or its name in the header row",
    )
    train.add_argument(
        "--delimiter",
        type=_delimiter,
        metavar="CHAR",
        help="the cell separator of a .csv dataset: one character, or tab (default ',')",
    )
    train.add_argument("--layers", type=_int_list, help="layer sizes, e.g. 784,256,10")
    train.add_argument(
        "--activation",
        type=_name_list,
        help="one activation for the hidden layers, or one per layer (comma-separated)",
    )
    train.add_argument("--loss", help="sse, mse, cross_entropy, binary_cross_entropy")
    train.add_argument("--optimizer", help="sgd, momentum, nesterov, adam, adamw, rmsprop")
    train.add_argument("--lr", type=_positive_float, help="learning rate (a finite number > 0)")
    train.add_argument("--schedule", help="constant, step, cosine, inverse_time, one_cycle")
    train.add_argument("--batch-size", dest="batch_size", type=_positive_int)
    train.add_argument("--epochs", type=_positive_int)
    train.add_argument("--seed", type=_nonnegative_int, help="an integer >= 0 (default 0)")
    train.add_argument("--dtype", choices=["float32", "float64"])
    train.add_argument(
        "--device",
        choices=["cpu", "gpu"],
        default="cpu",
        help="where to train: cpu (NumPy, default) or gpu (CuPy: pip install 'chainrule[gpu]')",
    )
    train.add_argument("--weight-decay", dest="weight_decay", type=_nonnegative_float)
    train.add_argument("--dropout", type=_fraction, help="dropout rate after each hidden layer")
    train.add_argument(
        "--val-split", dest="val_split", type=_fraction, help="fraction held out for validation"
    )
    train.add_argument(
        "--early-stopping",
        dest="early_stopping",
        type=_nonnegative_int,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without a better validation loss; keep the best "
        "weights (0: off, the default)",
    )
    train.add_argument(
        "--checkpoint-every",
        dest="checkpoint_every",
        type=_nonnegative_int,
        metavar="N",
        help="write a checkpoint to RUN/checkpoints/ every N epochs, at the end and on "
        "interruption (default 1); 0: no checkpoints at all (the model and metrics are saved "
        "as usual, but the run cannot be resumed)",
    )
    train.add_argument(
        "--subset",
        type=_positive_int,
        metavar="N",
        help="train on the first N examples only (quick tries)",
    )
    train.add_argument(
        "--standardize",
        action="store_true",
        default=None,
        help="put a layer first that standardizes each input feature, (x - mean) / std, with "
        "the mean and std of the training data (not of the --val-split part; unweighted, "
        "whatever --weight-column or --class-weight, as scikit-learn's StandardScaler); the "
        "model keeps it, so evaluate and predict take raw features",
    )
    train.add_argument(
        "--class-weight",
        dest="class_weight",
        type=_class_weight,
        metavar="{none,balanced}",
        help="balanced: weigh each class's examples in the loss by n / (classes x the class's "
        "count), so that a rare class counts as much as a common one in every update on "
        "average (sample weights over the batch size, docs/training.md), and report the "
        "balanced accuracy too; none: every example 1 (default)",
    )
    train.add_argument(
        "--weight-column",
        dest="weight_column",
        type=_label_column,
        metavar="COLUMN",
        help="a column of per-example weights in a .csv dataset (an index or its header name; "
        "for an .npz file the name of an array), taken out of the features: finite numbers >= "
        "0 that weigh each example's loss (sample weights over the batch size, as with "
        "--class-weight; with --class-weight balanced the two are multiplied); the validation "
        "metrics are weighted, and a weighted test accuracy is reported too; evaluate and "
        "predict drop the column from files that hold it",
    )
    train.add_argument(
        "--output",
        "-o",
        metavar="DIR",
        help="the run directory (default runs/DATE-TIME; with --resume, the checkpoint's run); "
        "one that already holds a run is refused unless --overwrite is given",
    )
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in --output DIR (its model, checkpoints, metrics, plots)",
    )
    train.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        help="continue a run from a checkpoint file, or a run directory's newest checkpoint: "
        "the run's settings and network come from it and its run's config.json",
    )
    train.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel over MPI: mpiexec -n N chainrule train --distributed ...; the "
        "model of one process (to float rounding), --class-weight and --weight-column too",
    )
    train.add_argument(
        "--plot", action="store_true", help="write PNG figures at the end (needs matplotlib)"
    )
    train.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bar or epoch table (notes still)"
    )
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser(
        "evaluate",
        help="accuracy, per-class precision/recall, confusion matrix",
        description="Evaluate a model. Without --dataset: for a model trained on a .csv/.npz "
        "file, the 10% of that file that chainrule train held out as its test set (the same "
        "examples, read again and split again with the recorded seed: the same accuracy as "
        "train reported); for one trained on images, the test split of its image set. A "
        "model trained with --weight-column reads a file that holds that column without it, "
        "and reports the weighted accuracy beside the plain one.",
    )
    evaluate.add_argument(
        "model", type=_model_path, help="a model file written by chainrule train, or its run dir"
    )
    evaluate.add_argument(
        "--dataset",
        help="mnist, fashion-mnist or a .csv/.npz file, used whole (default: the model's own "
        "data, its held-out test set)",
    )
    evaluate.add_argument(
        "--label-column",
        dest="label_column",
        type=_label_column,
        metavar="COLUMN",
        help="the label column of a --dataset .csv file, an index or a name (default: the one the "
        "model was trained with)",
    )
    evaluate.add_argument(
        "--delimiter",
        type=_delimiter,
        metavar="CHAR",
        help="the cell separator of the .csv data, one character or tab (default: the one the "
        "model was trained with)",
    )
    evaluate.add_argument(
        "--split",
        choices=["train", "test"],
        help="the split of mnist or fashion-mnist, or of the model's own data file (test: the "
        "held-out 10%%, the default; train: the other 90%%; with --dataset: where that file "
        "is now); a --dataset .csv/.npz file without --split is used whole",
    )
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(func=cmd_evaluate)

    predict = sub.add_parser(
        "predict",
        help="classify images of digits (PNG/JPEG), .npy arrays or .csv rows",
        description="Classify inputs: PNG/JPEG pictures of one digit (MNIST-style "
        "preprocessing; pictures need Pillow: pip install 'chainrule[images]'), .npy arrays "
        "of real numbers, one row per example (a 1-D array is "
        "one row; 28x28 images are flattened), or .csv files of feature rows, one example a "
        "row, read as chainrule train reads a .csv (a header row is optional). Array values "
        "are used as they are, except uint8 arrays for a model trained on uint8 images "
        "(chainrule train on mnist or fashion-mnist): those are pixels 0-255, scaled by the "
        "model's recorded input scale (1/255) as in training. Give float images already in "
        "[0, 1]. A .csv file's values are used as they are; a file with one column more than "
        "the model has inputs still holds its label column, which is dropped: the column "
        "the model was trained with (the first by default), or --label-column. A model "
        "trained with --weight-column drops that column too from a file that holds it (by "
        "its header name, or its index in a file of the training data's columns).",
    )
    predict.add_argument("model", type=_model_path)
    predict.add_argument("inputs", nargs="+", metavar="INPUT", help="image, .npy or .csv files")
    predict.add_argument(
        "--label-column",
        dest="label_column",
        type=_label_column,
        metavar="COLUMN",
        help="the label column of the .csv inputs, dropped: an index or a name (default: with "
        "one column more than the model's inputs, the column it was trained with)",
    )
    predict.add_argument(
        "--delimiter",
        type=_delimiter,
        metavar="CHAR",
        help="the cell separator of the .csv inputs, one character or tab (default: the one the "
        "model was trained with)",
    )
    predict.add_argument("--top", type=_positive_int, default=3, help="how many classes to show")
    predict.add_argument(
        "--json", action="store_true", help="print a JSON list, an object for each input row"
    )
    predict.set_defaults(func=cmd_predict)

    info = sub.add_parser("info", help="architecture, training config and final metrics of a model")
    info.add_argument("model", type=_model_path)
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_info)

    plot = sub.add_parser(
        "plot",
        help="PNG figures of a run: curves, confusion matrix, weights",
        description="PNG figures of a run: curves, confusion matrix, weights. Needs "
        "matplotlib: pip install 'chainrule[plot]'.",
    )
    plot.add_argument("run_dir", metavar="RUN_DIR")
    plot.set_defaults(func=cmd_plot)

    export = sub.add_parser(
        "export",
        help="export a model (ONNX)",
        description="Export a model as an ONNX graph. Needs onnx: pip install 'chainrule[onnx]'.",
    )
    export.add_argument("model", type=_model_path)
    export.add_argument("--format", choices=["onnx"], default="onnx")
    export.add_argument("--output", "-o", required=True, metavar="FILE.onnx")
    export.set_defaults(func=cmd_export)

    download = sub.add_parser(
        "download", help="download a dataset from its public mirrors, verified"
    )
    download.add_argument("name", choices=["mnist", "fashion-mnist"])
    download.add_argument(
        "--data-dir", metavar="DIR", help="where to put the files (default: the user cache)"
    )
    download.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    download.add_argument("--quiet", "-q", action="store_true")
    download.set_defaults(func=cmd_download)

    serve = sub.add_parser(
        "serve",
        help="a local web page: draw a digit, watch the network answer",
        description="A local web page: draw a digit, watch the network answer. Needs FastAPI, "
        "uvicorn and Pillow: pip install 'chainrule[web]'.",
    )
    serve.add_argument(
        "model",
        nargs="?",
        type=_model_path,
        help="model file or run directory (default: the latest chainrule train)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--port",
        type=_checked(int, lambda v: 1 <= v <= 65535, "a port number in 1..65535"),
        default=8000,
        help="port to listen on, 1..65535 (default 8000)",
    )
    serve.set_defaults(func=cmd_serve)

    for name, helptext in (
        ("explain", "show the chain rule at work, layer by layer, with numbers"),
        ("trace", "the shape of every array in the forward and backward pass"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--sizes", type=_int_list, help="layer sizes, e.g. 8,2 or 784,30,10")
        p.add_argument(
            "--activation",
            help="one activation for every layer, like the notes' s (a fused loss fixes the "
            "output's), or comma-separated, one per layer or per hidden layer (default sigmoid)",
        )
        p.add_argument("--loss", help="sse, mse, cross_entropy, binary_cross_entropy")
        p.add_argument("--seed", type=_nonnegative_int, default=0)
        p.add_argument(
            "--batch",
            type=_positive_int,
            metavar="N",
            help="compare per-example gradients, their mean and the averaged-inputs shortcut",
        )
        p.add_argument("--shapes", action="store_true", help="only the shapes of every array")
        p.add_argument(
            "--model",
            metavar="FILE",
            type=_model_path,
            help="explain a trained model (a model file or run directory) on one test example",
        )
        p.add_argument(
            "--dataset",
            help="with --model: mnist, fashion-mnist or a .csv/.npz file (default: the model's "
            "own test set: for a model trained on a .csv/.npz file, the 10%% train held out)",
        )
        p.add_argument(
            "--delimiter",
            type=_delimiter,
            metavar="CHAR",
            help="with --model: the cell separator of the .csv data, one character or tab "
            "(default: the one the model was trained with)",
        )
        p.add_argument(
            "--index",
            type=int,
            help="which test example or row, counting from 0 (with --model; default 0)",
        )
        p.add_argument(
            "--split",
            choices=["train", "test"],
            help="with --model: the split of mnist or fashion-mnist, or of the model's own data "
            "file (default test; with --dataset: where that file is now)",
        )
        p.add_argument("--format", choices=["text", "markdown"], default="text")
        p.add_argument("--no-color", action="store_true")
        p.set_defaults(func=cmd_explain)
    return parser


def _mpi_rank(args) -> int:
    """This process's MPI rank with --distributed (0 without it, or without mpi4py)."""
    if not getattr(args, "distributed", False):
        return 0
    try:
        from mpi4py import MPI
    except ImportError:
        return 0
    return MPI.COMM_WORLD.Get_rank()


# the library's guess at a file's separator (chainrule.datasets.tabular._hint)
_SEPARATOR_HINT = re.compile(r"are the cells separated by ('[^']+'), not '[^']+'\?\)")


def _delimiter_hint(message: str) -> str:
    """``message``, with the flag to give where the library guesses another separator."""
    found = _SEPARATOR_HINT.search(message)
    if found is None:
        return message
    return f"{message}; give --delimiter {_show_delimiter(ast.literal_eval(found.group(1)))}"


def _warnings_as_notes(show):
    """A ``warnings.showwarning`` that prints a DatasetWarning as the CLI's notes are
    (``note: ...`` on stderr) and hands the others to ``show``, the one it replaces."""

    def showwarning(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, DatasetWarning):
            _log(f"note: {message}")
        else:
            show(message, category, filename, lineno, file, line)

    return showwarning


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a mistake in the flags (argparse said which), or --help
        if exc.code not in (0, None) and "--distributed" in (
            sys.argv[1:] if argv is None else argv
        ):
            _abort_other_ranks(EXIT_USAGE)  # the other ranks parsed theirs and wait for this one
        raise
    try:
        with warnings.catch_warnings():
            # train says these in its own notes, in the CLI's words; the other commands show a
            # row index read as a feature (DatasetWarning) as a note
            warnings.filterwarnings("ignore", category=TrainingWarning)  # chance accuracy
            if args.command == "train":
                warnings.filterwarnings("ignore", category=DatasetWarning)
            else:
                warnings.showwarning = _warnings_as_notes(warnings.showwarning)
            if args.command == "train":  # losing stdout or stderr must not stop a training run
                with _pipe_safe_output():
                    status = args.func(args)
            else:
                status = args.func(args)
        sys.stdout.flush()  # a broken pipe shows here, not in the interpreter's exit
        return status
    except BrokenPipeError:  # the reader of our output has gone (`... | head`): stop quietly
        _to_devnull(sys.stdout)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # every failure is one line unless --debug
        if args.debug:
            raise
        usage = isinstance(exc, (CLIError, ValueError, FileNotFoundError, ImportError))
        message = str(exc) or type(exc).__name__
        if hasattr(args, "delimiter"):  # the commands that read .csv files
            message = _delimiter_hint(message)
        from chainrule.errors import DivergenceError

        # a divergence, or fit's refusal to start, is found on every rank at once: rank 0
        # reports it, none need abort
        collective = isinstance(exc, DivergenceError) or getattr(exc, "on_every_rank", False)
        if not (collective and _mpi_rank(args)):
            print(f"chainrule: error: {message}", file=sys.stderr)
        if getattr(args, "distributed", False) and not collective:  # don't leave ranks waiting
            _abort_other_ranks(EXIT_USAGE if usage else EXIT_FAILURE)
        return EXIT_USAGE if usage else EXIT_FAILURE


def _abort_other_ranks(status: int) -> None:
    """With other MPI ranks (under mpiexec), end them all with ``status``: a rank that fails
    alone would leave the others waiting in a collective call for ever."""
    try:
        from mpi4py import MPI
    except ImportError:  # no MPI: no other ranks
        return
    if MPI.COMM_WORLD.Get_size() > 1:
        MPI.COMM_WORLD.Abort(status)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
