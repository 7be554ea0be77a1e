"""The user's own data: CSV and ``.npz`` files, and a seeded, stratified train/validation split.

Every loader returns ``(x, y)``: features ``x`` of shape (N, D), float32 by default, and integer
labels ``y`` of shape (N,), int64, the form the rest of chainrule takes. Malformed files raise a
:class:`~chainrule.datasets.DatasetError` naming the file and, for CSV, the line (1-based).
"""

from __future__ import annotations

import csv
import io
import os
import zipfile

import numpy as np
from numpy.typing import DTypeLike

from chainrule.datasets.errors import DatasetError

__all__ = ["load_csv", "load_npz", "train_val_split"]

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first entry, or an empty zip
_NPY_MAGIC = b"\x93NUMPY"  # a single .npy array (refused below, with its own message)


def load_csv(
    path: str | os.PathLike[str],
    label_column: int | str = 0,
    header: bool | None = None,
    dtype: DTypeLike = np.float32,
    delimiter: str = ",",
) -> tuple[np.ndarray, np.ndarray]:
    """Load a CSV file of numbers: one label column, the other columns features.

    Parameters
    ----------
    path : a UTF-8 text file (a byte-order mark is allowed). Blank lines (empty, or whitespace
        without a separator) are skipped; a line of empty cells (``,,`` or ``"",""``) is a row
        of missing values, an error. Quoting follows the ``csv`` module.
    label_column : index of the label column, an ``int`` (negative counts from the end: ``-1``
        is the last column), or its name in the header row.
    header : whether the first non-blank row is a header; ``None`` (default) decides by looking:
        it is a header if one of its cells is neither empty nor a number (an empty cell is a
        missing value, not a name).
    dtype : float dtype of the features.
    delimiter : the field separator.

    Returns
    -------
    x : ndarray of shape (N, D), ``dtype``: every column but the label column, in file order.
    y : ndarray of shape (N,), int64: the label column (values such as ``3`` or ``3.0``).

    Raises
    ------
    DatasetError
        Naming the file and the line: empty file, a NUL byte (a binary file), rows with
        different numbers of cells, an empty cell (a missing value), a cell that is not a
        number, NaN or infinite values, a label that is not an integer, a label column that is
        not there.
    TypeError
        If ``label_column`` is neither an ``int`` nor a ``str`` (a float or a bool is refused).
    """
    name = os.fspath(path)
    out_dtype = np.dtype(dtype)
    if out_dtype.kind != "f":
        raise ValueError(f"dtype must be a float dtype, got dtype={out_dtype}")
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '\r\n"':
        raise ValueError(
            f"delimiter must be one character (not a quote or newline), got {delimiter!r}"
        )
    if isinstance(label_column, bool) or not isinstance(label_column, (int, np.integer, str)):
        raise TypeError(
            "label_column must be a column index (an int) or a column name (a str), got "
            f"label_column={label_column!r}"
        )
    with open(name, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DatasetError(f"{name}, line {line}: not UTF-8 text ({e.reason})") from None
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        raise DatasetError(f"{name}, line {line}: a NUL byte: a binary file, not CSV text")

    columns: list[str] | None = None
    rows: list[list[float]] = []
    lines: list[int] = []
    first_line = ncols = 0
    lines_read = _Lines(text)
    reader = csv.reader(lines_read, delimiter=delimiter, strict=True)
    try:
        for row in reader:
            line = reader.line_num
            if _is_blank(lines_read.last, delimiter):
                continue  # ",," or '"",""' is not blank: a row of empty cells, refused below
            if not ncols:
                ncols, first_line = len(row), line
                is_header = header if header is not None else _looks_like_names(row)
                if is_header:
                    columns = [cell.strip() for cell in row]
                    continue
            if len(row) != ncols:
                raise DatasetError(
                    f"{name}, line {line}: ragged row: {len(row)} cells, expected {ncols} "
                    f"(as on line {first_line})"
                )
            try:
                values = list(map(float, row))
            except ValueError:
                col = next(i for i, cell in enumerate(row) if not _is_number(cell))
                cell = row[col]
                if not cell.strip():
                    problem = "empty cell (a missing value)"
                elif _is_missing(cell):
                    problem = f"missing value {cell!r}"
                else:
                    problem = f"not a number: {cell!r}" + _hint(
                        row, col, label_column, columns, delimiter
                    )
                raise DatasetError(
                    f"{name}, line {line}, column {_describe(col, columns)}: {problem}"
                ) from None
            rows.append(values)
            lines.append(line)
    except csv.Error as e:
        raise DatasetError(f"{name}, line {reader.line_num}: malformed CSV: {e}") from None
    if not rows:
        where = f"line {reader.line_num + 1}" if ncols else "line 1"
        what = "no data rows after the header" if columns is not None else "empty file"
        raise DatasetError(f"{name}, {where}: {what}")
    if ncols < 2:
        raise DatasetError(
            f"{name}, line {first_line}: one column only; need a label column and at least one "
            "feature column"
        )
    label = _label_index(name, label_column, columns, ncols, first_line)

    table = np.array(rows, dtype=np.float64)
    _check_finite(name, table, lines, columns)
    with np.errstate(over="ignore"):  # overflow to inf is reported below, with its line
        x = np.delete(table, label, axis=1).astype(out_dtype)
    if not np.isfinite(x).all():
        r, c = np.argwhere(~np.isfinite(x))[0]
        col = c + (c >= label)
        value = float(table[r, col])
        raise DatasetError(
            f"{name}, line {lines[r]}, column {_describe(col, columns)}: value {value!r} "
            f"overflows {out_dtype}"
        )
    y = table[:, label]
    bad = np.flatnonzero((y != np.round(y)) | (np.abs(y) >= 2.0**63) | (y < 0))
    if bad.size:
        r = bad[0]
        value = float(y[r])
        if value.is_integer() and abs(value) < 2.0**63:  # a negative class index
            value, problem = int(value), "is negative"
        else:
            problem = "is not an integer"
        raise DatasetError(
            f"{name}, line {lines[r]}, column {_describe(label, columns)}: label {value!r} "
            f"{problem} (labels are class indices 0, 1, 2, ...)"
        )
    return x, y.astype(np.int64)


def load_npz(
    path: str | os.PathLike[str], dtype: DTypeLike = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """Load ``x`` and ``y`` from an ``.npz`` archive (``np.savez(path, x=x, y=y)``).

    Read with ``allow_pickle=False``: object arrays are refused, nothing is unpickled.

    Returns
    -------
    x : ndarray of shape (N, D), ``dtype`` (a float dtype, default float32), all finite.
    y : ndarray of shape (N,), int64 (stored as integers, or as integer-valued floats).

    Raises
    ------
    DatasetError
        Naming the file and the problem: not an ``.npz``, ``x`` or ``y`` missing, object or
        non-numeric arrays, wrong shapes, NaN or infinite values, non-integer labels.
    """
    name = os.fspath(path)
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
    if y.dtype.kind not in "iuf" or y.shape != (x.shape[0],):
        raise DatasetError(
            f"{name}: 'y' must be numeric labels of shape ({x.shape[0]},) to match 'x', got "
            f"{y.dtype} of shape {y.shape}"
        )
    if x.shape[0] == 0:
        raise DatasetError(f"{name}: no examples (x has shape {x.shape})")
    with np.errstate(over="ignore"):  # overflow to inf is reported just below
        xf = x.astype(out_dtype)
    if not np.isfinite(xf).all():
        r, c = np.argwhere(~np.isfinite(xf))[0]
        raise DatasetError(
            f"{name}: x[{r}, {c}] = {x[r, c].item()!r} is NaN, infinite or too large"
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
    return xf, y.astype(np.int64)


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
    y : ndarray of shape (N,), the labels (any values ``np.unique`` can sort).
    val_fraction : the validation share, ``0 < val_fraction < 1``.
    seed : an integer >= 0 (a NumPy integer too, not a bool), a ``np.random.Generator``
        (consumed), or None (not reproducible); anything else raises ``ValueError``.
    stratify : keep the class proportions; if False, a plain random subset.

    Returns
    -------
    x_train, y_train, x_val, y_val : ndarrays of shapes (N - n_val, ...), (N - n_val,),
    (n_val, ...), (n_val,), the dtypes of ``x`` and ``y``.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if y.ndim != 1 or x.ndim < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must have the same length N, y of shape (N,); got x of shape {x.shape} "
            f"and y of shape {y.shape}"
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


class _Lines:
    """The lines of ``text`` for ``csv.reader``, remembering the last one read: a record that
    ends on a blank line is a blank line (a quoted field spanning lines ends with a quote)."""

    def __init__(self, text: str):
        self._lines = io.StringIO(text, newline="")
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


def _looks_like_names(row: list[str]) -> bool:
    """Whether a first row is a header: one of its cells is neither empty, nor a number, nor a
    mark of a missing value (``NA``, ``?``, ...). (A data row may have missing values; they
    are reported as such, not taken for names.)"""
    return any(cell.strip() and not _is_number(cell) and not _is_missing(cell) for cell in row)


def _hint(
    row: list[str], col: int, label_column: int | str, columns: list[str] | None, delimiter: str
) -> str:
    """Why a cell may not be a number: a file with another separator (every line one cell),
    or a label given as a class name."""
    if len(row) == 1:
        for sep in (";", "\t", ",", "|"):
            if sep != delimiter and sep in row[0]:
                return (
                    f" (one cell per line: are the cells separated by {sep!r}, not {delimiter!r}?)"
                )
    if isinstance(label_column, str):
        is_label = columns is not None and columns[col] == label_column
    else:
        is_label = -len(row) <= label_column < len(row) and col == label_column % len(row)
    if not is_label:
        return ""
    return " (labels must be class indices 0, 1, 2, ...: replace class names by numbers)"


def _describe(col: int, columns: list[str] | None) -> str:
    """``3`` or ``3 ('petal_width')``: a 1-based column number and its header name."""
    if columns is None or not columns[col]:
        return str(col + 1)
    return f"{col + 1} ({columns[col]!r})"


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
            raise DatasetError(
                f"{name}, line {line}: missing label column: {problem} named {label_column!r} "
                f"in the header (columns: {', '.join(columns)})"
            )
        return found[0]
    label_column = int(label_column)  # a NumPy integer too (load_csv refused other types)
    if not -ncols <= label_column < ncols:
        raise DatasetError(
            f"{name}, line {line}: missing label column: index {label_column} is out of range "
            f"for {ncols} columns"
        )
    return label_column % ncols


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
