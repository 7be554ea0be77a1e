"""The user's own data: CSV and ``.npz`` files, and a seeded, stratified train/validation split.

Every loader returns ``(x, y)``: features ``x`` of shape (N, D), float32 by default, and integer
labels ``y`` of shape (N,), int64, the form the rest of chainrule takes; class names in a file
are numbered, and ``return_classes=True`` adds the list of names, ``(x, y, classes)``.
``load_csv_features`` reads a CSV file of feature rows without labels (a trained network's
inputs): ``x`` only.
Malformed files raise a :class:`~chainrule.datasets.DatasetError` naming the file and, for CSV,
the line (1-based).
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from numpy.typing import DTypeLike

from chainrule.datasets.errors import DatasetError, DatasetWarning

__all__ = ["csv_feature_names", "load_csv", "load_csv_features", "load_npz", "train_val_split"]

_WEIGHTS_ARE_NUMBERS = "the weight column: the weights must be numbers"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first entry, or an empty zip
_NPY_MAGIC = b"\x93NUMPY"  # a single .npy array (refused below, with its own message)


def load_csv(
    path: str | os.PathLike[str],
    label_column: int | str = 0,
    header: bool | None = None,
    dtype: DTypeLike = np.float32,
    delimiter: str = ",",
    *,
    classes: Sequence[str] | None = None,
    return_classes: bool = False,
    weight_column: int | None = None,
    read_weights: bool = True,
) -> tuple:
    """Load a CSV file of numbers: one label column, the other columns features.

    Labels are class indices (``0, 1, 2, ...``) or class names (``setosa``, ``spam``), which
    are numbered: by default in sorted order (as Python sorts strings: by code point, so
    uppercase before lowercase), or in the order of ``classes``.

    Parameters
    ----------
    path : a UTF-8 text file (a byte-order mark is allowed). Blank lines (empty, or whitespace
        without a separator) are skipped; a line of empty cells (``,,`` or ``"",""``) is a row
        of missing values, an error. Quoting follows the ``csv`` module.
    label_column : index of the label column, an ``int`` (negative counts from the end: ``-1``
        is the last column), or its name in the header row.
    header : whether the first non-blank row is a header; ``None`` (default) decides by looking:
        it is a header if one of its cells is neither empty nor a number (an empty cell is a
        missing value, not a name). A first row whose only such cell is the label cell is a
        header above numeric labels, but the first data row of a file of class names when the
        next row's label is not a number either, or when there is no next row (a header of
        numbers above class names, such as years: give ``header=True``, or the label column
        by its name). A first row whose numbers are their own positions, ``0,1,2,3`` (what
        pandas writes for unnamed columns), is a header.
    dtype : float dtype of the features.
    delimiter : the field separator.
    classes : the class names, in the order that numbers them (``classes[k]`` is class
        ``k``). Given, every label is read as a name (stripped of surrounding whitespace) and
        looked up in it, numbers too (``"1"`` and ``"1.0"`` are then two different names); a
        name not in it is an error. The classes need not all occur in the file.
    return_classes : also return the class names.
    weight_column : the index (counting from 0; negative from the end) of a column of
        per-example weights, or None (default). Given, that column is no feature: its cells
        are read as the features' are (the same errors), but as float64 whatever ``dtype``
        (all their digits, and numbers beyond float32's range), and returned last, ``w``.
    read_weights : with ``weight_column``: False leaves that column out unread (its cells may
        be anything), and ``w`` is None.

    Which labels are names: a label column holds class names when one of its cells is not a
    number. Without ``classes``, a column that mixes names and numbers is refused (``1`` and
    ``one`` are more likely a mistake than two classes), and class names need
    ``return_classes=True``: ``y`` alone would lose which number is which name. Empty cells
    and missing-value marks (``NA``, ``?``, ...) are errors in the label column too.

    Returns
    -------
    x : ndarray of shape (N, D), ``dtype``: every column but the label column, in file order.
    y : ndarray of shape (N,), int64: the label column (values such as ``3`` or ``3.0``), or
        the class names' indices in ``classes``.
    classes : only with ``return_classes=True``: the list of class names (``str``), ``y[i]``
        the index of example ``i``'s, or ``None`` for labels that are class indices.
    w : only with ``weight_column``: ndarray of shape (N,), float64, that column's numbers
        (not checked to be >= 0), or None with ``read_weights=False``.

    Raises
    ------
    DatasetError
        Naming the file and the line: empty file, a NUL byte (a binary file), rows with
        different numbers of cells, an empty cell (a missing value), a cell that is not a
        number, NaN or infinite values, a label that is not an integer, a label column that is
        not there; a column that mixes class names and numbers, a name not in ``classes``,
        class names without ``classes`` or ``return_classes=True``; a label column that is a
        row index (no name in the header, over more than 10 different whole numbers >= 0: what
        pandas' ``to_csv`` writes first unless ``index=False``); a ``weight_column`` out of
        range or that is the label column, a file with no feature column besides them.
    TypeError
        If ``label_column`` is neither an ``int`` nor a ``str`` (a float or a bool is refused),
        ``weight_column`` neither an ``int`` nor None, or ``classes`` is not a sequence of
        ``str``.
    ValueError
        If ``classes`` is empty, or has a repeated, empty or padded name.

    Warns
    -----
    DatasetWarning
        For a feature column that is a row index (read all the same); for labels that look
        like a regression target (more than 20 different whole numbers, most on two rows or
        fewer, other than the class indices 0 to K-1 all present).
    """
    name = os.fspath(path)
    out_dtype = _float_dtype(dtype)
    _check_delimiter(delimiter)
    _check_label_column(label_column)
    _check_weight_column(weight_column)
    given = _checked_classes(classes)
    text = _read_text(name)

    columns: list[str] | None = None
    rows: list[list[float]] = []
    lines: list[int] = []
    labels: list[str] = []  # the label cells, stripped: read as names if one is not a number
    named = False  # whether a label cell is a class name
    first_line = ncols = 0
    reader, records = _csv_records(text, delimiter)
    try:
        first = next(records, None)
        if first is not None:
            first_line, ncols = first[0], len(first[1])
            columns, records = _split_header(first, records, header, label_column)
        # where class names may be (None for one column only, reported below); a label column
        # that is not there is reported before any cell, whose error would be beside the point
        label_at = (
            _label_index(name, label_column, columns, ncols, first_line) if ncols > 1 else None
        )
        weights_at = _weight_index(name, weight_column, columns, ncols, label_at, first_line)
        unread = weights_at if not read_weights else None
        for line, row in records:
            _check_width(name, line, row, ncols, first_line, delimiter)
            if unread is not None:
                row[unread] = "0"  # left out below, unread
            try:
                values = list(map(float, row))
            except ValueError:
                bad = [i for i, cell in enumerate(row) if not _is_number(cell)]
                if bad == [label_at] and _is_name(row[label_at]):
                    named = True  # a class name: numbered from `labels` below
                    values = [0.0 if i == label_at else float(c) for i, c in enumerate(row)]
                else:
                    col = next(i for i in bad if i != label_at or not _is_name(row[i]))
                    error = _cell_error(name, line, row, col, columns, delimiter, weights_at)
                    raise error from None
            rows.append(values)
            lines.append(line)
            labels.append(row[label_at].strip() if label_at is not None else "")
    except csv.Error as e:
        raise DatasetError(f"{name}, line {reader.line_num}: malformed CSV: {e}") from None
    _check_not_empty(name, rows, reader.line_num, ncols, columns)
    if ncols < 2:
        raise DatasetError(
            f"{name}, line {first_line}: one column only; need a label column and at least one "
            "feature column"
        )
    label = label_at

    table = np.array(rows, dtype=np.float64)
    by_name = named or given is not None
    if by_name:
        table[:, label] = 0.0  # the labels are read from their text, below
    _check_finite(name, table, lines, columns)
    at = [i for i in range(ncols) if i not in (label, weights_at)]  # the features' columns
    if not at:
        raise DatasetError(
            f"{name}, line {first_line}: no feature columns: the file's two columns are the "
            "label column and the weight column"
        )
    with np.errstate(over="ignore"):  # overflow to inf is reported below, with its line
        x = _columns(table, at, out_dtype)
    if not np.isfinite(x).all():
        r, c = np.argwhere(~np.isfinite(x))[0]
        col = at[c]
        value = float(table[r, col])
        raise DatasetError(
            f"{name}, line {lines[r]}, column {_describe(col, columns)}: value {value!r} "
            f"overflows {out_dtype}"
        )
    weights = () if weights_at is None else (table[:, weights_at] if read_weights else None,)
    if by_name:
        _warn_row_index(name, columns, table, range(ncols), skip=(label, weights_at))

        def where(r: int) -> str:
            return f"{name}, line {lines[r]}, column {_describe(label, columns)}"

        y, found = _class_indices(labels, given, return_classes, where)
        return (x, y, found, *weights) if return_classes else (x, y, *weights)
    y = table[:, label]
    bad = np.flatnonzero((y != np.round(y)) | (np.abs(y) >= 2.0**63) | (y < 0))
    if bad.size:
        r = bad[0]
        value = float(y[r])
        regression = ""
        if value.is_integer() and abs(value) < 2.0**63:  # a negative class index
            value, problem = int(value), "is negative"
        else:
            problem = "is not an integer"
            regression = _REGRESSION
        raise DatasetError(
            f"{name}, line {lines[r]}, column {_describe(label, columns)}: label {value!r} "
            f"{problem} (labels are class indices 0, 1, 2, ...){regression}"
        )
    if _row_index(columns, label, y):
        raise DatasetError(
            f"{_row_index_text(name, label, y)}, not class labels: are the labels in another "
            "column? (label_column names it: an index, or a name in the header; if this "
            "column does hold the labels, give it a name in the header)"
        )
    _warn_row_index(name, columns, table, range(ncols), skip=(label, weights_at))
    y = y.astype(np.int64)
    if _regression_like(y):
        warnings.warn(
            f"{name}: the labels, column {_describe(label, columns)}, are "
            f"{len(np.unique(y))} different whole numbers over {len(y)} rows, most of them "
            f"on two rows or fewer: regression targets, not classes{_REGRESSION}",
            DatasetWarning,
            stacklevel=2,
        )
    return (x, y, None, *weights) if return_classes else (x, y, *weights)


def load_csv_features(
    path: str | os.PathLike[str],
    label_column: int | str | None = None,
    header: bool | None = None,
    dtype: DTypeLike = np.float32,
    delimiter: str = ",",
    *,
    n_features: int | None = None,
    weight_column: int | None = None,
    read_weights: bool = True,
) -> np.ndarray | tuple[np.ndarray, np.ndarray | None]:
    """Load a CSV file of feature rows without labels, such as the inputs of a trained network.

    The file is read as ``load_csv`` reads it (UTF-8, quoting, blank lines, separators, header
    detection, numbers, missing values, and the errors naming the line and column), but every
    column is a feature, or every column but ``label_column``, which is dropped unread: its
    cells may be class indices, class names, or empty.

    Parameters
    ----------
    path, header, dtype, delimiter : as for ``load_csv``. ``header=None`` decides by looking:
        the first row is a header if one of its cells (but the label column's) is a name;
        for the label cell, as ``load_csv`` decides.
    label_column : the column to drop, an index (negative counts from the end) or its name in
        the header row; None (default): no label column.
    n_features : the number of features of a row, or None (any). Given, the number of columns
        of the file decides whether it has a label column: a file of ``n_features`` columns is
        all features (``label_column`` is not used); a file of ``n_features + 1`` columns holds
        a label column too, ``label_column`` (the first column if None), which is dropped; any
        other number of columns is an error naming both numbers.
    weight_column, read_weights : a column of per-example weights, no feature, as for
        ``load_csv``; given, the result is ``(x, w)``, and ``n_features`` counts it apart
        (``n_features + 1`` columns: the features and the weights; ``n_features + 2``: a
        label column too).

    Returns
    -------
    x : ndarray of shape (N, D), ``dtype``: the feature columns, in file order.
    w : only with ``weight_column``: as ``load_csv``'s.

    Raises
    ------
    DatasetError
        As ``load_csv`` for the features (naming the file, the line and the column); a file of
        the wrong number of columns for ``n_features``; a label column that is not there; a
        file whose only column is the label column; a ``weight_column`` as for ``load_csv``.
    TypeError
        If ``label_column`` is neither None, an ``int`` nor a ``str``, or ``weight_column``
        neither an ``int`` nor None.
    ValueError
        If ``n_features`` is not a positive integer, ``dtype`` is not a float dtype, or
        ``delimiter`` is not one character.

    Warns
    -----
    DatasetWarning
        For a column that is a row index, as :func:`load_csv` (read all the same).
    """
    name = os.fspath(path)
    out_dtype = _float_dtype(dtype)
    _check_delimiter(delimiter)
    if label_column is not None:
        _check_label_column(label_column)
    if n_features is not None and (
        isinstance(n_features, bool)
        or not isinstance(n_features, (int, np.integer))
        or n_features < 1
    ):
        raise ValueError(f"n_features must be a positive integer, got n_features={n_features!r}")
    _check_weight_column(weight_column)
    text = _read_text(name)

    columns: list[str] | None = None
    rows: list[list[float]] = []
    lines: list[int] = []
    first_line = ncols = 0
    label_at: int | None = None
    reader, records = _csv_records(text, delimiter)
    try:
        first = next(records, None)
        if first is not None:
            first_line, ncols = first[0], len(first[1])
            if n_features is not None:
                extra = int(weight_column is not None)  # the weight column, no feature
                weights = also = ""
                if extra:
                    weights, also = " and the weight column", ", the weight column"
                if ncols == n_features + extra:
                    label_column = None
                elif ncols == n_features + extra + 1:
                    label_column = 0 if label_column is None else label_column
                else:
                    raise DatasetError(
                        f"{name}, line {first_line}: {ncols} column{'s' * (ncols != 1)}, "
                        f"expected {n_features + extra} (the features{weights}) or "
                        f"{n_features + extra + 1} (the features{also} and a label column)"
                        + _hint(first[1], delimiter)
                    )
            columns, records = _split_header(first, records, header, label_column)
            if label_column is not None:
                label_at = _label_index(name, label_column, columns, ncols, first_line)
        weights_at = _weight_index(name, weight_column, columns, ncols, label_at, first_line)
        unread = weights_at if not read_weights else None
        for line, row in records:
            _check_width(name, line, row, ncols, first_line, delimiter)
            if unread is not None:
                row[unread] = "0"  # left out below, unread
            cells = row if label_at is None else row[:label_at] + row[label_at + 1 :]
            try:
                values = list(map(float, cells))
            except ValueError:
                col = next(i for i, c in enumerate(row) if i != label_at and not _is_number(c))
                raise _cell_error(name, line, row, col, columns, delimiter, weights_at) from None
            rows.append(values)
            lines.append(line)
    except csv.Error as e:
        raise DatasetError(f"{name}, line {reader.line_num}: malformed CSV: {e}") from None
    _check_not_empty(name, rows, reader.line_num, ncols, columns)
    if label_at is not None and ncols < 2:
        raise DatasetError(
            f"{name}, line {first_line}: one column only, the label column; no feature columns"
        )
    at = [i for i in range(ncols) if i != label_at]  # the file column of each feature
    table = np.array(rows, dtype=np.float64).reshape(len(rows), len(at))
    bad = ~np.isfinite(table)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DatasetError(
            f"{name}, line {lines[r]}, column {_describe(at[c], columns)}: value "
            f"{float(table[r, c])!r} is NaN or infinite"
        )
    features = [k for k, col in enumerate(at) if col != weights_at]
    if not features:
        raise DatasetError(
            f"{name}, line {first_line}: no feature columns: "
            + (
                "the file's only column is the weight column"
                if label_at is None
                else "the file's two columns are the label column and the weight column"
            )
        )
    with np.errstate(over="ignore"):  # overflow to inf is reported just below, with its line
        x = table.astype(out_dtype) if weights_at is None else _columns(table, features, out_dtype)
    if not np.isfinite(x).all():
        r, c = np.argwhere(~np.isfinite(x))[0]
        raise DatasetError(
            f"{name}, line {lines[r]}, column {_describe(at[features[c]], columns)}: value "
            f"{float(table[r, features[c]])!r} overflows {out_dtype}"
        )
    _warn_row_index(name, columns, table, at, skip=(weights_at,))
    if weights_at is None:
        return x
    return x, table[:, at.index(weights_at)] if read_weights else None


def csv_feature_names(
    path: str | os.PathLike[str],
    label_column: int | str | None = None,
    delimiter: str = ",",
    *,
    n_features: int | None = None,
) -> list[str] | None:
    """The header names of a CSV file's feature columns, in file order; None if its first
    row is data, not a header.

    The file's first rows are read as :func:`load_csv` (``n_features`` None) or
    :func:`load_csv_features` (``n_features`` given) read them: the same header detection,
    and the label column, ``label_column``, left out (None, the default: no label column;
    with ``n_features``, as ``load_csv_features`` decides). A trained model records
    these names, and a file whose columns are in another order is refused rather than fed to
    the wrong weights.

    Raises
    ------
    DatasetError
        As the loaders do for a missing file, a label column that is not there, or a
        malformed first row.
    """
    _check_delimiter(delimiter)
    if label_column is not None:
        _check_label_column(label_column)
    columns, label_at = _csv_header(os.fspath(path), label_column, delimiter, n_features)
    if columns is None:
        return None
    return [c for i, c in enumerate(columns) if i != label_at]


def _csv_header(
    name: str, label_column: int | str | None, delimiter: str, n_features: int | None = None
) -> tuple[list[str] | None, int | None]:
    """``(columns, label_at)``: a CSV file's header names (None without a header) and the
    index of its label column (None: none), decided from its first rows only, as the loaders
    decide (see :func:`csv_feature_names`)."""
    head = _head_records(name, delimiter, 2)  # (header detection looks at one row more)
    if not head:
        return None, None
    first = head[0]
    ncols = len(first[1])
    if n_features is not None and ncols == n_features:
        label_column = None  # all features, as load_csv_features reads such a file
    elif n_features is not None and label_column is None:
        label_column = 0
    if ncols < 2 and n_features is None:
        label_column = None
    columns, _ = _split_header(first, iter(head[1:]), None, label_column)
    if columns is None or label_column is None:
        return columns, None
    return columns, _label_index(name, label_column, columns, ncols, first[0])


def load_npz(
    path: str | os.PathLike[str],
    dtype: DTypeLike = np.float32,
    *,
    classes: Sequence[str] | None = None,
    return_classes: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, list[str] | None]:
    """Load ``x`` and ``y`` from an ``.npz`` archive (``np.savez(path, x=x, y=y)``).

    Read with ``allow_pickle=False``: object arrays are refused, nothing is unpickled. Labels
    stored as strings (``y`` of a NumPy ``str`` dtype, such as ``np.array(["cat", "dog"])``)
    are read as the text of a CSV's label column is (see ``load_csv``): stripped; numbers are
    class indices, names are class names, numbered in sorted order or by ``classes``, and
    need ``classes`` or ``return_classes=True``; names mixed with numbers, empty strings and
    missing-value marks are refused.

    Parameters
    ----------
    classes, return_classes : as for ``load_csv``. ``classes`` is for labels stored as strings
        (numbers are refused with it).

    Returns
    -------
    x : ndarray of shape (N, D), ``dtype`` (a float dtype, default float32), all finite.
    y : ndarray of shape (N,), int64 (stored as integers, or as integer-valued floats), or the
        class names' indices.
    classes : only with ``return_classes=True``: the list of class names, or ``None`` for
        labels that are class indices.

    Raises
    ------
    DatasetError
        Naming the file and the problem: not an ``.npz``, ``x`` or ``y`` missing, object or
        non-numeric arrays, wrong shapes, NaN or infinite values, non-integer labels; for
        string labels, as ``load_csv`` for class names.
    """
    name = os.fspath(path)
    given = _checked_classes(classes)
    out_dtype = np.dtype(dtype)
    if out_dtype.kind != "f":
        raise ValueError(f"dtype must be a float dtype, got dtype={out_dtype}")
    with open(name, "rb") as f:
        magic = f.read(len(_NPY_MAGIC))
    # np.load takes any other file for a pickle, and with allow_pickle=False says "This file
    # contains pickled (object) data" of a text file: a misleading message, so check first.
    if not magic.startswith(_ZIP_MAGICS + (_NPY_MAGIC,)):
        problem = (
            f"it is not a zip file (it starts with {magic!r}, not the zip signature 'PK')"
            if magic
            else "the file is empty"
        )
        raise DatasetError(f"{name}: not a valid .npz archive: {problem}")
    try:
        archive = np.load(name, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DatasetError(f"{name}: not a readable .npz archive: {e}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetError(f"{name}: an .npy array, not an .npz archive with arrays 'x' and 'y'")
    with archive:
        missing = [key for key in ("x", "y") if key not in archive.files]
        if missing:
            raise DatasetError(
                f"{name}: missing array {' and '.join(map(repr, missing))}; "
                f"found {sorted(archive.files)}"
            )
        try:
            x, y = archive["x"], archive["y"]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise DatasetError(f"{name}: cannot read arrays: {e}") from None
    if x.dtype.kind not in "iuf" or x.ndim != 2:
        raise DatasetError(
            f"{name}: 'x' must be a numeric array of shape (N, D), got {x.dtype} of shape {x.shape}"
        )
    if y.dtype.kind == "b":  # False/True: classes 0 and 1, as fit takes them
        y = y.astype(np.int64)
    if y.shape != (x.shape[0],):
        raise DatasetError(
            f"{name}: 'y' must be labels of shape ({x.shape[0]},) to match 'x', got shape {y.shape}"
        )
    if y.dtype.kind not in "iufU":
        raise DatasetError(f"{name}: 'y' must hold numbers or class names (strings), got {y.dtype}")
    if x.shape[0] == 0:
        raise DatasetError(f"{name}: no examples (x has shape {x.shape})")
    with np.errstate(over="ignore"):  # overflow to inf is reported just below
        xf = x.astype(out_dtype)
    if not np.isfinite(xf).all():
        r, c = np.argwhere(~np.isfinite(xf))[0]
        raise DatasetError(
            f"{name}: x[{r}, {c}] = {x[r, c].item()!r} is NaN, infinite or too large"
        )
    found = None
    if y.dtype.kind == "U":
        labels = [str(label).strip() for label in y]
        for i, label in enumerate(labels):
            if not label or _is_missing(label):
                what = "empty" if not label else f"{label!r}, a missing value"
                raise DatasetError(f"{name}: y[{i}] is {what} (every example needs its label)")
        if given is not None or not all(map(_is_number, labels)):
            y, found = _class_indices(labels, given, return_classes, lambda r: f"{name}: y[{r}]")
        else:  # numbers written as text: as if stored as numbers
            y = np.array(labels, dtype=np.float64)
    elif given is not None:
        raise DatasetError(
            f"{name}: 'y' holds numbers ({y.dtype}), not class names: classes=[...] is for "
            "labels stored as strings"
        )
    if y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)) | (np.abs(y) >= 2.0**63))
        if bad.size:
            raise DatasetError(
                f"{name}: y[{bad[0]}] = {y[bad[0]].item()!r} is not an integer label"
            )
    elif y.dtype == np.uint64 and (y >= 2**63).any():
        raise DatasetError(f"{name}: labels in 'y' do not fit in int64")
    if y.size and y.min() < 0:
        i = int(np.argmax(y < 0))
        raise DatasetError(
            f"{name}: y[{i}] = {y[i].item()!r} is negative (labels are class indices 0, 1, 2, ...)"
        )
    y = y.astype(np.int64)
    if found is None and _regression_like(y):
        warnings.warn(
            f"{name}: the labels 'y' are {len(np.unique(y))} different whole numbers over "
            f"{len(y)} examples, most of them on two or fewer: regression targets, not "
            f"classes{_REGRESSION}",
            DatasetWarning,
            stacklevel=2,
        )
    return (xf, y, found) if return_classes else (xf, y)


def train_val_split(
    x: np.ndarray,
    y: np.ndarray,
    val_fraction: float = 0.1,
    seed: int | np.random.Generator | None = 0,
    stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split ``(x, y)`` into training and validation sets, seeded and (by default) stratified.

    ``round(N * val_fraction)`` examples go to validation. Stratified: each class gets its
    share of them, ``count_c * n_val / N`` rounded so the shares add up (largest remainders),
    so the class proportions of both parts match those of ``y``. The examples of each class
    are drawn with ``np.random.default_rng(seed)``: the same seed gives the same split. Both
    parts keep the original order of the examples.

    Parameters
    ----------
    x : ndarray of shape (N, ...), the features.
    y : ndarray of shape (N,), the labels (any values ``np.unique`` can sort); with
        ``stratify=False`` also targets of shape (N, ...), e.g. regression targets (N, n_out).
    val_fraction : the validation share, ``0 < val_fraction < 1``.
    seed : an integer >= 0 (a NumPy integer too, not a bool), a ``np.random.Generator``
        (consumed), or None (not reproducible); anything else raises ``ValueError``.
    stratify : keep the class proportions; if False, a plain random subset. Stratifying
        refuses (``ValueError``) a ``y`` of numbers that are not whole, and one whose values
        are all different (more than 10 of them): regression targets or IDs, not classes.

    Returns
    -------
    x_train, y_train, x_val, y_val : ndarrays of shapes (N - n_val, ...), (N - n_val, ...),
    (n_val, ...), (n_val, ...), the dtypes of ``x`` and ``y``.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if y.ndim < 1 or x.ndim < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must have the same length N; got x of shape {x.shape} and y of shape "
            f"{y.shape}"
        )
    if stratify and y.ndim != 1:
        raise ValueError(
            f"stratify keeps the proportions of class labels of shape (N,), got y of shape "
            f"{y.shape}; for targets such as (N, n_out) regression values give stratify=False"
        )
    if stratify and y.dtype.kind == "f" and np.isnan(y).any():
        raise ValueError(
            f"y[{int(np.argmax(np.isnan(y)))}] is NaN: a missing label? drop the rows without "
            "one (or give stratify=False for regression targets)"
        )
    if stratify and y.dtype.kind == "f" and not np.all(y == np.round(y)):
        raise ValueError(
            "stratify keeps the proportions of class labels, and y holds numbers that are not "
            "whole (regression targets?); give stratify=False for a random split"
        )
    if stratify and y.shape[0] > 10 and len(np.unique(y)) == y.shape[0]:
        raise ValueError(
            f"stratify keeps the proportions of class labels, and every one of the "
            f"{y.shape[0]} values of y is different (IDs, or regression targets?): a class "
            "each, nothing to keep; give stratify=False for a random split"
        )
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got val_fraction={val_fraction}")
    n = y.shape[0]
    n_val = int(np.floor(n * val_fraction + 0.5))
    if not 0 < n_val < n:
        raise ValueError(
            f"val_fraction={val_fraction} of {n} examples leaves an empty part ({n_val} for "
            "validation)"
        )
    if not (
        seed is None
        or isinstance(seed, np.random.Generator)
        or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0)
    ):
        raise ValueError(
            f"seed must be an integer >= 0, a numpy Generator or None, got seed={seed!r}"
        )
    rng = np.random.default_rng(seed)
    val = np.zeros(n, dtype=bool)
    if stratify:
        _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(-1)
        for k, quota in enumerate(_shares(counts, n_val)):
            members = np.flatnonzero(inverse == k)
            val[rng.permutation(members)[:quota]] = True
    else:
        val[rng.permutation(n)[:n_val]] = True
    train_idx, val_idx = np.flatnonzero(~val), np.flatnonzero(val)
    return x[train_idx], y[train_idx], x[val_idx], y[val_idx]


def _shares(counts: np.ndarray, total: int) -> np.ndarray:
    """Integers proportional to ``counts`` that add up to ``total`` (largest remainders)."""
    n = int(counts.sum())
    exact = counts.astype(np.int64) * total
    shares, remainders = exact // n, exact % n
    left = total - int(shares.sum())
    order = np.argsort(-remainders, kind="stable")
    shares[order[:left]] += 1
    return shares


def _float_dtype(dtype: DTypeLike) -> np.dtype:
    out_dtype = np.dtype(dtype)
    if out_dtype.kind != "f":
        raise ValueError(f"dtype must be a float dtype, got dtype={out_dtype}")
    return out_dtype


def _check_delimiter(delimiter: str) -> None:
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '\r\n"':
        raise ValueError(
            f"delimiter must be one character (not a quote or newline), got {delimiter!r}"
        )


def _check_label_column(label_column) -> None:
    if isinstance(label_column, bool) or not isinstance(label_column, (int, np.integer, str)):
        raise TypeError(
            "label_column must be a column index (an int) or a column name (a str), got "
            f"label_column={label_column!r}"
        )


def _read_text(name: str) -> str:
    """The text of a CSV file: UTF-8 (a byte-order mark is dropped), without NUL bytes."""
    with open(name, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DatasetError(
            f"{name}, line {line}: not UTF-8 text ({e.reason}); save the file as UTF-8 (in a "
            "spreadsheet: 'CSV UTF-8')"
        ) from None
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        raise DatasetError(f"{name}, line {line}: a NUL byte: a binary file, not CSV text")
    return text


class _Lines:
    """The lines of ``text`` (or of an open text file) for ``csv.reader``, remembering the
    last one read: a record that ends on a blank line is a blank line (a quoted field spanning
    lines ends with a quote)."""

    def __init__(self, text):
        # (a file opened with newline="" gives its lines the same way, read as needed)
        self._lines = io.StringIO(text, newline="") if isinstance(text, str) else text
        self.last = ""

    def __iter__(self):
        return self

    def __next__(self) -> str:
        self.last = next(self._lines)
        return self.last


def _is_blank(line: str, delimiter: str) -> bool:
    """Whether a line is blank: empty or whitespace only, and no separator (a tab-separated
    line of tabs is a row of empty cells)."""
    line = line.rstrip("\r\n")
    return not line.strip() and delimiter not in line


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


# the usual marks of a missing value (compared lower-case, stripped): not column names
_MISSING = frozenset({"na", "n/a", "#n/a", "null", "none", "?"})


def _is_missing(cell: str) -> bool:
    return cell.strip().lower() in _MISSING


def _is_name(cell: str) -> bool:
    """Whether a cell is a name: neither empty, nor a number, nor a mark of a missing value."""
    return bool(cell.strip()) and not _is_number(cell) and not _is_missing(cell)


def _looks_like_names(row: list[str], skip: int | None = None) -> bool:
    """Whether a first row is a header: one of its cells (but the cell ``skip``) is a name.
    (A data row may have missing values; they are reported as such, not taken for names.)"""
    return any(_is_name(cell) for i, cell in enumerate(row) if i != skip)


def _csv_records(text: str, delimiter: str):
    """``(reader, records)``: the CSV reader of ``text`` (its ``line_num`` for errors) and
    its non-blank rows as ``(line number, cells)``."""
    lines_read = _Lines(text)
    reader = csv.reader(lines_read, delimiter=delimiter, strict=True)
    return reader, _records(reader, lines_read, delimiter)


def _check_not_empty(name: str, rows: list, line_num: int, ncols: int, columns) -> None:
    """A DatasetError for a file with no data rows (empty, or a header only)."""
    if not rows:
        where = f"line {line_num + 1}" if ncols else "line 1"
        what = "no data rows after the header" if columns is not None else "empty file"
        raise DatasetError(f"{name}, {where}: {what}")


def _check_width(
    name: str, line: int, row: list[str], ncols: int, first_line: int, delimiter: str = ","
) -> None:
    """A DatasetError for a row whose number of cells differs from the first row's."""
    if len(row) != ncols:
        hint = ""
        if ncols == 1:  # a header of one cell: another separator (and decimal commas)?
            hint = _hint([delimiter.join(row)], delimiter)
        elif len(row) == ncols + 1 and not row[-1].strip():
            hint = f" (a {delimiter!r} at the end of the line?)"
        raise DatasetError(
            f"{name}, line {line}: ragged row: {len(row)} cells, expected {ncols} "
            f"(as on line {first_line}){hint}"
        )


def _records(reader, lines_read: _Lines, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """``(line, row)`` for each row of ``reader`` but blank lines (``,,`` is not blank: a row
    of empty cells, refused by the caller). In a file separated by ``;`` (the custom where
    ``,`` is the decimal mark), a cell such as ``43,5`` is given as ``43.5``."""
    for row in reader:
        if not _is_blank(lines_read.last, delimiter):
            if delimiter == ";" and any("," in cell for cell in row):
                row = [_decimal_point(cell) for cell in row]
            yield reader.line_num, row


def _decimal_point(cell: str) -> str:
    """``43,5`` as ``43.5``; any other cell as it is (``1.234,5``, a name with a comma)."""
    if "," not in cell:
        return cell
    point = cell.replace(",", ".", 1)
    return point if _is_number(point) else cell


def _split_header(
    first: tuple[int, list[str]],
    records: Iterator[tuple[int, list[str]]],
    header: bool | None,
    label_column: int | str | None,
) -> tuple[list[str] | None, Iterator[tuple[int, list[str]]]]:
    """The header's names (None if there is none) and the data records, the first row among
    them if it is data. ``header=None``: by looking (see ``load_csv``); ``label_column``
    None: a file without a label column."""
    row = first[1]
    if header is None:
        # (one cell per row is no label and features: a file read with the wrong separator)
        at = (
            _label_position(label_column, None, len(row))
            if len(row) > 1 and label_column is not None
            else None
        )
        header = _looks_like_names(row, skip=at) or _numbered_columns(row)
        if not header and at is not None and _is_name(row[at]):
            # only the label cell is a name: a header above numeric labels, or the first row
            # of a file of class names, whose next label is not a number either (or the only
            # row: a row of numbers and a class name is data, such as one row to predict)
            following = next(records, None)
            header = following is not None and (
                len(following[1]) == len(row) and _is_number(following[1][at])
            )
            if following is not None:
                records = itertools.chain([following], records)

    if header:
        return [cell.strip() for cell in row], records
    return None, itertools.chain([first], records)


def _numbered_columns(row: list[str]) -> bool:
    """Whether ``row`` is pandas' header for unnamed columns: three or more cells that are
    their own positions, ``0,1,2,...``, then at most one name (a label column): ``0,1,2,3``,
    ``0,1,2,3,label``. As data, such a row is too unlikely to matter (a short one, ``0,1``,
    is not taken). With pandas' index, ``,0,1,2``, the empty cell is a missing value, whose
    error says what the row looks like."""
    cells = [cell.strip() for cell in row]
    count = 0
    while count < len(cells) and cells[count] == str(count):
        count += 1
    rest = cells[count:]
    return count >= 3 and len(rest) <= 1 and all(_is_name(cell) for cell in rest)


def _label_position(label_column: int | str, columns: list[str] | None, ncols: int) -> int | None:
    """The index of the label column, or None where ``_label_index`` will report a problem."""
    if isinstance(label_column, str):
        found = [i for i, c in enumerate(columns or []) if c == label_column]
        return found[0] if len(found) == 1 else None
    return int(label_column) % ncols if -ncols <= label_column < ncols else None


def _cell_error(
    name: str,
    line: int,
    row: list[str],
    col: int,
    columns: list[str] | None,
    delimiter: str,
    weights_at: int | None = None,
) -> DatasetError:
    """The error for a cell that is not a number (of the weight column, ``weights_at``, a
    weight: no feature to encode)."""
    cell = row[col]
    fill = "; drop or fill such rows first (pandas: dropna, fillna)"
    if not cell.strip():
        problem = "empty cell (a missing value)"
        if col == len(row) - 1 and len(row) > 1:
            problem += f" (or a {delimiter!r} at the end of every line?)"
        if col == 0 and _numbered_columns(row[1:]):  # ",0,1,2": pandas' header and index
            problem += (
                "; this line looks like the header pandas writes for unnamed columns with its "
                "row index: write the file with index=False"
            )
        else:
            problem += fill
    elif _is_missing(cell):
        problem = f"missing value {cell!r}{fill}"
    else:
        hint = _hint(row, delimiter, cell)
        if not hint and _is_number(cell.strip().removesuffix("%")):
            hint = " (a percentage? write it as a number)"
        elif not hint and re.fullmatch(r"[+-]?\d{1,3}([.,' ]\d{3})+([.,]\d+)?", cell.strip()):
            hint = " (a thousands mark? write numbers without it)"
        elif not hint and col == weights_at:
            hint = f" ({_WEIGHTS_ARE_NUMBERS})"
        elif not hint and _is_name(cell):  # a category?
            hint = (
                " (features are numbers: encode a column of categories, e.g. with "
                "pandas.get_dummies, or drop it)"
            )
        problem = f"not a number: {cell!r}{hint}"
    return DatasetError(f"{name}, line {line}, column {_describe(col, columns)}: {problem}")


def _hint(row: list[str], delimiter: str, cell: str = "") -> str:
    """Why a cell may not be a number: a file with another separator (every line one cell),
    or a decimal comma (``43,5`` in a file separated by ``;``, or quoted in one separated by
    ``,``, where ``1,234`` is rather a thousands mark)."""
    if len(row) == 1:
        for sep in (";", "\t", ",", "|"):
            if sep != delimiter and sep in row[0]:
                return (
                    f" (one cell per line: are the cells separated by {sep!r}, not {delimiter!r}?)"
                )
    thousands = delimiter == "," and re.fullmatch(r"[+-]?\d{1,3},\d{3}", cell.strip())
    if not thousands and _is_number(cell.replace(",", ".", 1)) and cell.count(",") == 1:
        point = cell.strip().replace(",", ".")
        return f" (a decimal comma? numbers are read with a decimal point: {point})"
    return ""


def _checked_classes(classes: Sequence[str] | None) -> list[str] | None:
    """``classes`` as a list of names, checked; None stays None."""
    if classes is None:
        return None
    names = None if isinstance(classes, (str, bytes)) else list(classes)
    if names is None or not all(isinstance(c, str) for c in names):
        raise TypeError(f"classes must be a list of class names (str), got classes={classes!r}")
    classes = names
    if not classes:
        raise ValueError("classes must name at least one class, got classes=[]")
    for c in classes:
        if not c or c != c.strip():
            raise ValueError(
                f"classes: {c!r} can match no label (labels are stripped of surrounding "
                "whitespace, and an empty one is a missing value)"
            )
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    if repeated:
        raise ValueError(f"classes: {', '.join(map(repr, repeated))} given more than once")
    return [str(c) for c in classes]


def _class_indices(
    labels: list[str],
    given: list[str] | None,
    return_classes: bool,
    where: Callable[[int], str],
) -> tuple[np.ndarray, list[str]]:
    """Labels that are class names (stripped text; empty and missing ones already refused) as
    int64 indices into ``given``, or into their sorted unique names; and the names.
    ``where(r)`` begins the message for the label of example ``r``."""
    if given is None:
        numbers = [r for r, label in enumerate(labels) if _is_number(label)]
        if numbers:  # names and numbers: point at the first of the fewer
            names = [r for r, label in enumerate(labels) if not _is_number(label)]
            odd, usual = (numbers, names) if len(numbers) <= len(names) else (names, numbers)
            kinds = ("a number", "class names") if odd is numbers else ("a class name", "numbers")
            raise DatasetError(
                f"{where(odd[0])}: label {labels[odd[0]]!r} is {kinds[0]}, but other labels are "
                f"{kinds[1]}, like {labels[usual[0]]!r} (fix the file, or pass classes=[...] to "
                "read every label as a name)"
            )
    classes = given if given is not None else sorted(set(labels))
    if given is None and not return_classes:
        raise DatasetError(
            f"{where(0)}: the labels are class names ({_list_names(classes)}): pass "
            "return_classes=True to get (x, y, classes), the classes numbered in sorted order, "
            "or classes=[...] to number them in that order"
        )
    index = {c: k for k, c in enumerate(classes)}
    y = np.array([index.get(label, -1) for label in labels], dtype=np.int64)
    if (y < 0).any():
        r = int(np.argmax(y < 0))
        raise DatasetError(
            f"{where(r)}: unknown class {labels[r]!r} (the classes: {_list_names(classes)})"
        )
    return y, list(classes)


def _list_names(names: list[str], limit: int = 20) -> str:
    """``'a', 'b', 'c'``; the first ``limit`` of a longer list, and how many in all."""
    shown = ", ".join(map(repr, names[:limit]))
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"


_REGRESSION = (
    "; the loaders are for classification: for a regression target, read the file with "
    "numpy.loadtxt and give fit float targets (docs/data.md)"
)
SPARSE_CLASSES = 20  # more classes than this, most of them on 2 rows or fewer: regression?


def _regression_like(y: np.ndarray) -> bool:
    """Whether integer labels ``y`` look like a regression target rather than classes: more
    than SPARSE_CLASSES different values, most of them on two rows or fewer, and not the
    class indices 0, 1, ..., K-1 all present (diabetes' disease progression, 25 to 346: 214
    values over 442 rows)."""
    values, counts = np.unique(y, return_counts=True)
    if len(values) <= SPARSE_CLASSES or float(np.median(counts)) > 2:
        return False
    return not (values[0] == 0 and values[-1] == len(values) - 1)  # 0..K-1: classes


ROW_INDEX_ROWS = 10  # an unnamed column of different whole numbers over more rows: an index


def _row_index(columns: list[str] | None, col: int, values: np.ndarray) -> bool:
    """Whether file column ``col``, whose cells are ``values``, looks like a row index (what
    pandas' ``to_csv`` writes first unless ``index=False``): no name in a header that names
    other columns, and more than ``ROW_INDEX_ROWS`` whole numbers, each a different one."""
    if columns is None or columns[col].strip() or not any(c.strip() for c in columns):
        return False
    return (
        len(values) > ROW_INDEX_ROWS
        and bool(np.all((values == np.round(values)) & (values >= 0)))
        and len(np.unique(values)) == len(values)
    )


def _row_index_text(name: str, col: int, values: np.ndarray) -> str:
    shown = ", ".join(str(int(v)) for v in values[:3])
    return (
        f"{name}: column {col + 1} has no name in the header and holds {len(values)} different "
        f"whole numbers ({shown}, ...): a row index (pandas' to_csv writes one unless "
        "index=False)"
    )


def _warn_row_index(
    name: str, columns: list[str] | None, table: np.ndarray, at, skip: tuple = ()
) -> None:
    """A DatasetWarning for the first feature column that looks like a row index:
    ``table[:, k]`` (float64, as read) holds file column ``at[k]``; the columns in ``skip``
    (the labels, the weights) are none."""
    if columns is None:
        return
    for k, col in enumerate(at):
        if col not in skip and _row_index(columns, col, table[:, k]):
            warnings.warn(
                f"{_row_index_text(name, col, table[:, k])}, read as a feature: save the file "
                "with index=False, or drop that column",
                DatasetWarning,
                stacklevel=3,
            )
            return


def _describe(col: int, columns: list[str] | None) -> str:
    """``3`` or ``3 ('petal_width')``: a 1-based column number and its header name."""
    if columns is None or not columns[col]:
        return str(col + 1)
    return f"{col + 1} ({columns[col]!r})"


def _head_records(name: str, delimiter: str, n: int) -> list[tuple[int, list[str]]]:
    """The first ``n`` records of a CSV file, ``(line, cells)`` as the loaders see them (blank
    lines skipped), reading no further; DatasetError for a malformed or non-UTF-8 start."""
    try:
        with open(name, encoding="utf-8-sig", newline="") as f:
            lines = _Lines(f)
            reader = csv.reader(lines, delimiter=delimiter, strict=True)
            return list(itertools.islice(_records(reader, lines, delimiter), n))
    except csv.Error as e:
        raise DatasetError(f"{name}, line {reader.line_num}: malformed CSV: {e}") from None
    except UnicodeDecodeError as e:
        raise DatasetError(f"{name}: not UTF-8 text ({e.reason})") from None


def _label_index(
    name: str, label_column: int | str, columns: list[str] | None, ncols: int, line: int
) -> int:
    if isinstance(label_column, str):
        if columns is None:
            raise DatasetError(
                f"{name}, line {line}: label column {label_column!r} given by name, but the "
                "file has no header row"
            )
        found = [i for i, c in enumerate(columns) if c == label_column]
        if len(found) != 1:
            problem = "no column" if not found else f"{len(found)} columns"
            numbers = sum(_is_number(c) for c in columns)
            hint = (
                "; that line looks like data, not a header: give the label column by its "
                "index (counted from 0; -1 for the last)"
                if not found and numbers >= len(columns) - 1
                else ""
            )
            raise DatasetError(
                f"{name}, line {line}: missing label column: {problem} named {label_column!r} "
                f"in the header (columns: {', '.join(columns)}){hint}"
            )
        return found[0]
    label_column = int(label_column)  # a NumPy integer too (load_csv refused other types)
    if not -ncols <= label_column < ncols:
        raise DatasetError(
            f"{name}, line {line}: missing label column: index {label_column} is out of range "
            f"for {ncols} columns"
        )
    return label_column % ncols


def _check_weight_column(weight_column) -> None:
    """A TypeError for a ``weight_column`` that is neither an ``int`` nor None."""
    if weight_column is not None and (
        isinstance(weight_column, bool) or not isinstance(weight_column, (int, np.integer))
    ):
        raise TypeError(f"weight_column must be an int or None, got {weight_column!r}")


def _weight_index(
    name: str,
    weight_column: int | None,
    columns: list[str] | None,
    ncols: int,
    label_at: int | None,
    line: int,
) -> int | None:
    """The index in a row of the weight column ``weight_column`` (negative: from the end), or
    None; a DatasetError (naming the file, as for the label column) where it is out of range
    or the label column."""
    if weight_column is None or not ncols:  # (an empty file is reported as such)
        return None
    weight_column = int(weight_column)
    if not -ncols <= weight_column < ncols:
        raise DatasetError(
            f"{name}, line {line}: weight_column {weight_column} is out of range for {ncols} "
            "columns"
        )
    if weight_column % ncols == label_at:
        raise DatasetError(
            f"{name}, line {line}: weight_column {weight_column} is the label column, "
            f"column {_describe(label_at, columns)}"
        )
    return weight_column % ncols


def _columns(table: np.ndarray, at: list[int], dtype: np.dtype) -> np.ndarray:
    """``table[:, at].astype(dtype)``, a block of rows at a time: no float64 copy of the
    whole table on the way (overflow gives inf, as ``astype``)."""
    x = np.empty((len(table), len(at)), dtype)
    step = max(1, 2**18 // max(1, len(at)))  # about 2 MB of float64 a block
    for i in range(0, len(table), step):
        x[i : i + step] = table[i : i + step, at]
    return x


def _check_finite(
    name: str, table: np.ndarray, lines: list[int], columns: list[str] | None
) -> None:
    bad = ~np.isfinite(table)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DatasetError(
            f"{name}, line {lines[r]}, column {_describe(c, columns)}: value "
            f"{float(table[r, c])!r} is NaN or infinite"
        )
