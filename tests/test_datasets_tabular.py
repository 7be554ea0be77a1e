"""CSV and .npz loading, with errors that name the file and the line; the train/val split."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.datasets import (
    DatasetError,
    DatasetWarning,
    csv_feature_names,
    load_csv,
    load_csv_features,
    load_npz,
    train_val_split,
)

# --- CSV: happy paths


def write(tmp_path, text: str | bytes, name: str = "data.csv"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_header_label_by_name(tmp_path):
    path = write(tmp_path, "a,label,b\n0.5,1,2\n-1e3,0,3.25\n")
    x, y = load_csv(path, label_column="label")
    assert x.dtype == np.float32 and x.shape == (2, 2)
    assert y.dtype == np.int64 and y.shape == (2,)
    np.testing.assert_array_equal(x, np.array([[0.5, 2], [-1000, 3.25]], np.float32))
    np.testing.assert_array_equal(y, [1, 0])


def test_csv_without_header_label_first_by_default(tmp_path):
    path = write(tmp_path, "3,0.1,0.2\n\n7,0.3,0.4\r\n  \n1.0,0.5,0.6")  # blank lines, CRLF
    x, y = load_csv(path)
    np.testing.assert_array_equal(y, [3, 7, 1])
    np.testing.assert_array_equal(x, np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], np.float32))


def test_csv_blank_lines_of_whitespace_are_skipped_in_a_tab_separated_file(tmp_path):
    path = write(tmp_path, "3\t0.5\n \n\r\n7\t1.5\n  \n")
    x, y = load_csv(path, delimiter="\t")
    np.testing.assert_array_equal(y, [3, 7])
    np.testing.assert_array_equal(x, [[0.5], [1.5]])


def test_csv_label_last_by_negative_index_float64_and_quotes(tmp_path):
    path = write(tmp_path, '\ufefff1;f2;y\n"1.5";2;4\n3;" 4 ";5\n', "semicolon.csv")
    x, y = load_csv(path, label_column=-1, dtype=np.float64, delimiter=";")
    assert x.dtype == np.float64
    np.testing.assert_array_equal(x, [[1.5, 2], [3, 4]])
    np.testing.assert_array_equal(y, [4, 5])


def test_csv_header_forced_off_and_on(tmp_path):
    path = write(tmp_path, "1,2\n3,4\n")
    x, y = load_csv(path, header=True)  # the first row is taken as names
    np.testing.assert_array_equal(y, [3])
    np.testing.assert_array_equal(x, [[4]])
    with pytest.raises(DatasetError, match=r"line 1, column 2: not a number: 'x'"):
        load_csv(write(tmp_path, "name,x\n1,2\n", "h.csv"), header=False)


# --- CSV: every malformed case names the file and the line

MALFORMED = {
    "ragged": ("y,a,b\n1,2,3\n1,2\n", {}, 3, "ragged row: 2 cells, expected 3 (as on line 1)"),
    "too-many": ("1,2,3\n4,5,6\n7,8,9,10\n", {}, 3, "ragged row: 4 cells"),
    "non-numeric": ("y,a,b\n1,2,3\n\n0,2,abc\n", {}, 4, "column 3 ('b'): not a number: 'abc'"),
    "empty-cell": ("1,2,3\n0,,3\n", {}, 2, "column 2: empty cell (a missing value)"),
    # an empty cell in the first row is a missing value too, not a sign of a header row
    "empty-cell-row-1": ("1,,3\n0,4,5\n", {}, 1, "column 2: empty cell (a missing value)"),
    "blank-cell-row-1": ("1, ,3\n0,4,5\n", {}, 1, "column 2: empty cell (a missing value)"),
    "nul-row-1": ("1,\x00,3\n0,4,5\n", {}, 1, "a NUL byte: a binary file"),
    "nul-row-3": ("1,2\n3,4\n\x005,6\n", {}, 3, "a NUL byte: a binary file"),
    "nan": ("y,a\n1,2\n0,nan\n", {}, 3, "column 2 ('a'): value nan is NaN or infinite"),
    "inf": ("1,2\n0,-inf\n", {}, 2, "value -inf is NaN or infinite"),
    "nan-label": ("1,2\nNaN,3\n", {}, 2, "column 1: value nan is NaN or infinite"),
    "float32-overflow": ("1,2\n0,1e39\n", {}, 2, "value 1e+39 overflows float32"),
    "fractional-label": (
        "1,2\n0.5,3\n",
        {},
        2,
        "label 0.5 is not an integer (labels are class indices 0, 1, 2, ...); the loaders are "
        "for classification: for a regression target",
    ),
    "missing-label-name": ("a,b\n1,2\n", {"label_column": "y"}, 1, "no column named 'y'"),
    "label-name-no-header": ("1,2\n", {"label_column": "y"}, 1, "the file has no header row"),
    "label-index": ("1,2\n3,4\n", {"label_column": 2}, 1, "index 2 is out of range for 2"),
    "duplicate-label": ("y,y\n1,2\n", {"label_column": "y"}, 1, "2 columns named 'y'"),
    "one-column": ("1\n2\n", {}, 1, "one column only"),
    "empty": ("", {}, 1, "empty file"),
    "blank-only": ("\n\n  \n", {}, 1, "empty file"),
    # a line of separators or empty quoted cells is a row of missing values, not a blank line
    "empty-row": ("y,a,b\n1,2,3\n,,\n4,5,6\n", {}, 3, "column 1 ('y'): empty cell"),
    "spaces-row": ("1,2,3\n , , \n4,5,6\n", {}, 2, "column 1: empty cell (a missing value)"),
    "quoted-row": ('1,2,3\n"","",""\n4,5,6\n', {}, 2, "column 1: empty cell"),
    "quoted-cell-line": ('1,2,3\n""\n4,5,6\n', {}, 2, "ragged row: 1 cells, expected 3"),
    "empty-row-1": (",,\n1,2,3\n", {}, 1, "column 1: empty cell (a missing value)"),
    "tabs-row": ("1\t2\n\t\n3\t4\n", {"delimiter": "\t"}, 2, "column 1: empty cell"),
    "header-only": ("y,a,b\n", {}, 2, "no data rows after the header"),
    "bad-quote": ('1,2\n3,"4\n', {}, 2, "malformed CSV"),
    "not-utf8": (b"1,2\n3,4\n5,\xff\n", {}, 3, "not UTF-8 text (invalid start byte); save the"),
    # a missing-value mark in the first row is a missing value, not a sign of a header row
    "na-row-1": ("1,NA,3\n0,4,5\n", {}, 1, "column 2: missing value 'NA'"),
    "question-mark-row-1": ("1,2,?\n0,4,5\n", {}, 1, "column 3: missing value '?'"),
    "negative-label": ("1,2\n-1,3\n", {}, 2, "label -1 is negative (labels are class indices"),
    # class names need return_classes=True or classes=[...]: y alone would lose their names
    "class-name-label": (
        "a,species\n1.5,setosa\n",
        {"label_column": "species"},
        2,
        "column 2 ('species'): the labels are class names ('setosa'): pass return_classes=True",
    ),
    "other-separator": ("1;2;3\n0;4;5\n", {"header": False}, 1, "separated by ';', not ','?"),
    # a ';' file with decimal commas: its header is one cell, its rows split at the commas
    "other-separator-ragged": (
        "y;a;b\n1;2,5;3\n",
        {},
        2,
        "ragged row: 2 cells, expected 1 (as on line 1) (one cell per line: are the cells "
        "separated by ';', not ','?)",
    ),
    # what to do about categories, percentages and missing values
    "category": (
        "y,a,city\n1,2,Paris\n",
        {},
        2,
        "not a number: 'Paris' (features are "
        "numbers: encode a column of categories, e.g. with pandas.get_dummies",
    ),  # fmt: skip
    "percentage": ("y,a\n1,45%\n", {}, 2, "not a number: '45%' (a percentage? write it"),
    "thousands": (
        "y;a\n1;1.234,5\n",
        {"delimiter": ";"},
        2,
        "not a number: '1.234,5' (a thousands mark? write numbers without it)",
    ),  # fmt: skip
    "missing-fill": ("y,a\n1,NA\n", {}, 2, "missing value 'NA'; drop or fill such rows first"),
    "trailing-separator": (
        "y,a\n1,2,\n",
        {},
        2,
        "ragged row: 3 cells, expected 2 (as on line 1) (a ',' at the end of the line?)",
    ),  # fmt: skip
    "trailing-separators": (
        "y,a,\n1,2,\n",
        {},
        2,
        "empty cell (a missing value) (or a ',' at the end of every line?)",
    ),  # fmt: skip
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_csv(tmp_path, case):
    text, kwargs, line, problem = MALFORMED[case]
    path = write(tmp_path, text)
    with pytest.raises(DatasetError) as info:
        load_csv(path, **kwargs)
    message = str(info.value)
    assert message.startswith(f"{path}, line {line}")
    assert problem in message


@pytest.mark.parametrize("delimiter", [";;", "", '"', "\n"])
def test_a_delimiter_that_is_not_one_plain_character_is_refused(tmp_path, delimiter):
    path = write(tmp_path, "1,2\n")
    with pytest.raises(ValueError, match=r"delimiter must be one character"):
        load_csv(path, delimiter=delimiter)


def test_header_row_with_an_empty_name_is_still_a_header(tmp_path):
    path = write(tmp_path, "y,,b\n1,2,3\n")
    x, y = load_csv(path)
    np.testing.assert_array_equal(x, [[2, 3]])
    np.testing.assert_array_equal(y, [1])


@pytest.mark.parametrize("label_column", [1.0, True, False, None, [0]])
def test_label_column_of_the_wrong_type_is_refused(tmp_path, label_column):
    path = write(tmp_path, "1,2,3\n0,4,5\n")
    with pytest.raises(TypeError, match=r"label_column must be .*an int.*a str"):
        load_csv(path, label_column=label_column)


def test_label_column_may_be_a_numpy_integer(tmp_path):
    path = write(tmp_path, "1,2,3\n0,4,5\n")
    x, y = load_csv(path, label_column=np.int64(-1))
    np.testing.assert_array_equal(y, [3, 5])
    np.testing.assert_array_equal(x, [[1, 2], [0, 4]])


def test_missing_csv_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_csv(tmp_path / "nope.csv")


# --- CSV: class names as labels

IRIS = (
    "sepal_length,sepal_width,species\n"
    "5.1,3.5,setosa\n"
    "6.3,3.3, virginica \n"  # names are stripped
    "5.8,2.7,versicolor\n"
    "4.9,3.0,setosa\n"
)


def test_csv_class_names_are_numbered_in_sorted_order(tmp_path):
    path = write(tmp_path, IRIS)
    x, y, classes = load_csv(path, label_column="species", return_classes=True)
    assert classes == ["setosa", "versicolor", "virginica"]
    assert all(type(c) is str for c in classes)
    assert y.dtype == np.int64 and y.tolist() == [0, 2, 1, 0]
    np.testing.assert_array_equal(x, np.array([[5.1, 3.5], [6.3, 3.3], [5.8, 2.7], [4.9, 3]], "f4"))
    # sorted as strings, by code point: uppercase first, "10" before "9"
    path = write(tmp_path, "1,b\n2,B\n3,a\n4,c10\n5,c9\n", "case.csv")
    _, y, classes = load_csv(path, label_column=-1, return_classes=True)
    assert classes == ["B", "a", "b", "c10", "c9"] and y.tolist() == [2, 0, 1, 3, 4]


def test_csv_class_names_without_a_header(tmp_path):
    """A first row whose only name is its label is data when the next label is a name too,
    and a header when the next label is a number (as before class names were read)."""
    path = write(tmp_path, "5.1,3.5,setosa\n6.3,3.3,virginica\n4.9,3.0,setosa\n")
    x, y, classes = load_csv(path, label_column=-1, return_classes=True)
    assert classes == ["setosa", "virginica"] and y.tolist() == [0, 1, 0]
    assert x.shape == (3, 2)
    path = write(tmp_path, "1,2,label\n3,4,0\n5,6,1\n", "numeric.csv")
    x, y, classes = load_csv(path, label_column=-1, return_classes=True)
    assert classes is None and y.tolist() == [0, 1] and x.tolist() == [[3, 4], [5, 6]]
    # numbers as column names above class names: say header=True
    path = write(tmp_path, "1,2,kind\n3,4,cat\n5,6,dog\n", "numbered.csv")
    assert load_csv(path, label_column=-1, return_classes=True)[2] == ["cat", "dog", "kind"]
    assert load_csv(path, label_column=-1, header=True, return_classes=True)[2] == ["cat", "dog"]


def test_a_single_row_of_numbers_and_a_class_name_is_data(tmp_path):
    """With no next row to look at, a row whose only name is its label is a data row (one
    row to predict, its label still there), not a header above no data."""
    path = write(tmp_path, "5.5,3.5,setosa\r\n\r\n", "one.csv")
    x, y, classes = load_csv(path, label_column=-1, return_classes=True)
    assert x.tolist() == [[5.5, 3.5]] and y.tolist() == [0] and classes == ["setosa"]
    np.testing.assert_array_equal(load_csv_features(path, label_column=-1), x)
    np.testing.assert_array_equal(load_csv_features(path, n_features=2, label_column=-1), x)
    # a header of names above nothing is still a header
    with pytest.raises(DatasetError, match="no data rows after the header"):
        load_csv_features(write(tmp_path, "a,b,species\n", "header.csv"), label_column=-1)


def test_csv_class_names_need_return_classes_or_classes(tmp_path):
    path = write(tmp_path, IRIS)
    with pytest.raises(DatasetError) as info:
        load_csv(path, label_column=-1)  # (x, y) alone would lose which number is which name
    message = str(info.value)
    assert message.startswith(f"{path}, line 2, column 3 ('species'): the labels are class names")
    assert "'setosa', 'versicolor', 'virginica'" in message
    assert "return_classes=True" in message and "classes=[...]" in message
    x, y = load_csv(path, label_column=-1, classes=["virginica", "versicolor", "setosa"])
    assert y.tolist() == [2, 0, 1, 2] and x.shape == (4, 2)


def test_csv_given_classes_number_the_labels_and_refuse_unknown_names(tmp_path):
    path = write(tmp_path, IRIS)
    order = ("virginica", "setosa", "versicolor", "unseen")  # a class need not occur
    x, y, classes = load_csv(path, label_column=-1, classes=order, return_classes=True)
    assert classes == list(order) and y.tolist() == [1, 0, 2, 1]
    with pytest.raises(DatasetError) as info:
        load_csv(path, label_column=-1, classes=["setosa", "versicolor"])
    assert str(info.value) == (
        f"{path}, line 3, column 3 ('species'): unknown class 'virginica' "
        "(the classes: 'setosa', 'versicolor')"
    )


def test_csv_return_classes_is_none_for_class_indices(tmp_path):
    path = write(tmp_path, "y,a\n2,0.5\n0,1.5\n")
    x, y, classes = load_csv(path, return_classes=True)
    assert classes is None and y.tolist() == [2, 0] and x.tolist() == [[0.5], [1.5]]
    assert len(load_csv(path)) == 2


def test_csv_a_column_mixing_names_and_numbers(tmp_path):
    """Refused by default (pointing at the rarer kind); with classes=, every label is a name,
    so "1" and "one" are two classes, and "1.0" is not "1"."""
    path = write(tmp_path, "a,y\n0.5,1\n1.5,2\n2.5,one\n3.5,1\n")
    with pytest.raises(DatasetError) as info:
        load_csv(path, label_column="y", return_classes=True)
    message = str(info.value)
    assert message.startswith(f"{path}, line 4, column 2 ('y'): label 'one' is a class name")
    assert "other labels are numbers, like '1'" in message and "classes=[...]" in message
    path = write(tmp_path, "a,y\n0.5,cat\n1.5,2\n2.5,dog\n", "numbers-rarer.csv")
    with pytest.raises(DatasetError, match=r"line 3, column 2 \('y'\): label '2' is a number"):
        load_csv(path, label_column="y", return_classes=True)
    path = write(tmp_path, "a,y\n0.5,1\n1.5,one\n2.5,1.0\n", "given.csv")
    _, y = load_csv(path, label_column="y", classes=["one", "1", "1.0"])
    assert y.tolist() == [1, 0, 2]
    with pytest.raises(DatasetError, match=r"line 2, column 2 \('y'\): unknown class '1'"):
        load_csv(path, label_column="y", classes=["one", "1.0"])


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("a,y\n1,cat\n2,\n", 3, "column 2 ('y'): empty cell (a missing value)"),
        ("a,y\n1,cat\n2,NA\n", 3, "column 2 ('y'): missing value 'NA'"),
        ("a,y\n1,cat\n2, \n", 3, "column 2 ('y'): empty cell"),
        ("a,y\n1,cat\nabc,dog\n", 3, "column 1 ('a'): not a number: 'abc'"),
        ("a,y\n1,cat\nnan,dog\n", 3, "column 1 ('a'): value nan is NaN or infinite"),
        ("a,y,y\n1,cat,2\n", 1, "missing label column: 2 columns named 'y' in the header"),
    ],
)
def test_csv_class_names_keep_the_errors_of_missing_labels_and_bad_features(
    tmp_path, text, line, problem
):
    path = write(tmp_path, text)
    with pytest.raises(DatasetError) as info:
        load_csv(path, label_column="y", return_classes=True)
    assert str(info.value).startswith(f"{path}, line {line}")
    assert problem in str(info.value)


@pytest.mark.parametrize(
    ("label_column", "problem"),
    [
        ("kind", "missing label column: no column named 'kind'"),
        (5, "missing label column: index 5 is out of range for 2 columns"),
    ],
)
def test_a_missing_label_column_is_named_before_the_class_names_it_would_hold(
    tmp_path, label_column, problem
):
    """Not 'not a number: cat', the name in the real label column, read as a feature."""
    path = write(tmp_path, "a,species\n1,cat\n2,dog\n")
    with pytest.raises(DatasetError, match=f"line 1: {problem}"):
        load_csv(path, label_column=label_column, return_classes=True)


@pytest.mark.parametrize(
    ("classes", "error", "problem"),
    [
        ("setosa", TypeError, "a list of class names"),
        ([0, 1], TypeError, "a list of class names"),
        ([], ValueError, "at least one class"),
        (["a", "a", "b"], ValueError, "'a' given more than once"),
        (["a", " b"], ValueError, "' b' can match no label"),
        (["a", ""], ValueError, "'' can match no label"),
    ],
)
def test_classes_argument_is_checked(tmp_path, classes, error, problem):
    path = write(tmp_path, IRIS)
    with pytest.raises(error, match=problem):
        load_csv(path, label_column=-1, classes=classes)
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 1)), y=np.array(["a", "b"]))
    with pytest.raises(error, match=problem):
        load_npz(tmp_path / "d.npz", classes=classes)


# --- npz


def test_npz_round_trip(tmp_path):
    x = np.arange(12, dtype=np.int32).reshape(4, 3)
    y = np.array([0, 2, 1, 2], dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=y, extra=np.zeros(2))
    xl, yl = load_npz(tmp_path / "d.npz")
    assert xl.dtype == np.float32 and yl.dtype == np.int64
    np.testing.assert_array_equal(xl, x)
    np.testing.assert_array_equal(yl, y)
    np.savez_compressed(tmp_path / "c.npz", x=x / 2, y=y.astype(np.float64))
    xl, yl = load_npz(tmp_path / "c.npz", dtype=np.float64)
    np.testing.assert_array_equal(xl, x / 2)
    np.testing.assert_array_equal(yl, y)


def _save(path, **arrays):
    np.savez(path, **arrays)


NPZ_CASES = {
    "missing-y": (lambda p: _save(p, x=np.zeros((2, 2))), "missing array 'y'"),
    "missing-both": (lambda p: _save(p, a=np.zeros(2)), "missing array 'x' and 'y'"),
    "object-array": (
        lambda p: _save(p, x=np.array([[1, "a"]], dtype=object), y=np.zeros(1)),
        "cannot read arrays",
    ),
    "x-1d": (lambda p: _save(p, x=np.zeros(3), y=np.zeros(3)), "shape (N, D), got float64"),
    "x-strings": (lambda p: _save(p, x=np.array([["a"]]), y=np.zeros(1)), "numeric array"),
    "length-mismatch": (lambda p: _save(p, x=np.zeros((3, 2)), y=np.zeros(2)), "shape (3,)"),
    "complex-y": (
        lambda p: _save(p, x=np.zeros((2, 2)), y=np.zeros(2, complex)),
        "'y' must hold numbers or class names (strings), got complex128",
    ),
    "nan": (
        lambda p: _save(p, x=np.array([[0.0, 1], [2, np.nan]]), y=np.zeros(2)),
        "x[1, 1] = ",
    ),
    "x-overflows-float32": (
        lambda p: _save(p, x=np.array([[1e300]]), y=np.zeros(1)),
        "x[0, 0] = 1e+300 is NaN, infinite or too large",
    ),
    "fractional-y": (
        lambda p: _save(p, x=np.zeros((2, 1)), y=np.array([1.0, 2.5])),
        "y[1] = 2.5 is not an integer",
    ),
    "empty": (lambda p: _save(p, x=np.zeros((0, 3)), y=np.zeros(0)), "no examples"),
    "negative-y": (
        lambda p: _save(p, x=np.zeros((3, 1)), y=np.array([1, -1, 0])),
        "y[1] = -1 is negative",
    ),
    "npy": (
        lambda p: (
            np.save(p.with_suffix(".npy"), np.zeros(3))
            or p.write_bytes(p.with_suffix(".npy").read_bytes())
        ),
        "not an .npz archive",
    ),
    "text": (lambda p: p.write_text("x,y\n1,2\n"), "not a valid .npz archive: it is not a zip"),
    "zero-bytes": (lambda p: p.write_bytes(b""), "not a valid .npz archive: the file is empty"),
    "truncated-zip": (
        lambda p: (
            _save(p, x=np.zeros((2, 2)), y=np.zeros(2)),
            p.write_bytes(p.read_bytes()[:200]),
        ),
        "npz",
    ),
}


@pytest.mark.parametrize("case", list(NPZ_CASES), ids=list(NPZ_CASES))
def test_malformed_npz(tmp_path, case):
    make, problem = NPZ_CASES[case]
    path = tmp_path / "d.npz"
    make(path)
    with pytest.raises(DatasetError) as info:
        load_npz(path)
    assert str(path) in str(info.value)
    assert problem in str(info.value)
    if case != "object-array":  # only that file holds pickled data
        assert "pickle" not in str(info.value)


def test_npz_bool_labels_are_classes_0_and_1(tmp_path):
    _save(tmp_path / "b.npz", x=np.zeros((3, 2)), y=np.array([True, False, True]))
    x, y = load_npz(tmp_path / "b.npz")
    assert y.tolist() == [1, 0, 1] and y.dtype == np.int64


def test_npz_string_labels_are_class_names(tmp_path):
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    np.savez(tmp_path / "d.npz", x=x, y=np.array(["spam", " ham", "spam", "ham "]))
    xl, y, classes = load_npz(tmp_path / "d.npz", return_classes=True)
    assert classes == ["ham", "spam"] and y.dtype == np.int64 and y.tolist() == [1, 0, 1, 0]
    np.testing.assert_array_equal(xl, x)
    with pytest.raises(DatasetError, match=r"d.npz: y\[0\]: the labels are class names"):
        load_npz(tmp_path / "d.npz")
    _, y = load_npz(tmp_path / "d.npz", classes=["spam", "ham"])
    assert y.tolist() == [0, 1, 0, 1]
    with pytest.raises(
        DatasetError, match=r"d.npz: y\[1\]: unknown class 'ham' \(the classes: 'spam'"
    ):
        load_npz(tmp_path / "d.npz", classes=["spam"])
    # numbers written as text are class indices, as in a CSV; numbers are not names
    np.savez(tmp_path / "n.npz", x=x, y=np.array(["1", "0", "2.0", "1"]))
    _, y, classes = load_npz(tmp_path / "n.npz", return_classes=True)
    assert classes is None and y.tolist() == [1, 0, 2, 1]
    np.savez(tmp_path / "i.npz", x=x, y=np.array([1, 0, 2, 1]))
    assert load_npz(tmp_path / "i.npz", return_classes=True)[2] is None
    with pytest.raises(DatasetError, match=r"i.npz: 'y' holds numbers \(int64\), not class names"):
        load_npz(tmp_path / "i.npz", classes=["a", "b", "c"])


@pytest.mark.parametrize(
    ("y", "problem"),
    [
        (["a", "", "b"], "y[1] is empty"),
        (["a", "NA", "b"], "y[1] is 'NA', a missing value"),
        (["a", "1", "b"], "y[1]: label '1' is a number, but other labels are class names"),
        (["0", "1", "-1"], "y[2] = -1.0 is negative"),
    ],
)
def test_npz_bad_string_labels(tmp_path, y, problem):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 1)), y=np.array(y))
    with pytest.raises(DatasetError) as info:
        load_npz(tmp_path / "d.npz", return_classes=True)
    assert problem in str(info.value)


# --- train_val_split


def labelled(counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    y = np.repeat(np.arange(len(counts)), counts)
    x = np.arange(len(y), dtype=np.float32)[:, None] * [1, -1]  # row i is (i, -i): traceable
    return x, y


def test_split_is_stratified(tmp_path):
    x, y = labelled([500, 300, 200])
    x_train, y_train, x_val, y_val = train_val_split(x, y, val_fraction=0.1, seed=0)
    assert np.bincount(y_val).tolist() == [50, 30, 20]
    assert np.bincount(y_train).tolist() == [450, 270, 180]
    assert x_train.shape == (900, 2) and x_val.shape == (100, 2)
    rows = np.concatenate([x_train[:, 0], x_val[:, 0]]).astype(int)
    assert sorted(rows) == list(range(1000))  # a partition: nothing lost, nothing twice
    np.testing.assert_array_equal(y[x_val[:, 0].astype(int)], y_val)  # pairs kept together
    assert (np.diff(x_val[:, 0]) > 0).all() and (np.diff(x_train[:, 0]) > 0).all()  # order kept


def test_split_shares_add_up_by_largest_remainder():
    x, y = labelled([7, 7, 6])
    y_val = train_val_split(x, y, val_fraction=0.25, seed=1)[3]
    assert np.bincount(y_val, minlength=3).tolist() == [2, 2, 1]  # 1.75, 1.75, 1.5 -> 5 in all


@pytest.mark.parametrize(("n", "n_val"), [(15, 2), (25, 3), (14, 1)])
def test_split_rounds_the_validation_count(n, n_val):
    """round(N * val_fraction) rows for validation: 1.5 -> 2, 2.5 -> 3 (half up), 1.4 -> 1."""
    x, y = np.arange(n * 2.0).reshape(n, 2), np.zeros(n, int)
    _, _, x_val, _ = train_val_split(x, y, val_fraction=0.1, seed=0, stratify=False)
    assert len(x_val) == n_val


def test_split_is_reproducible_by_seed():
    x, y = labelled([40, 30, 30])
    a = train_val_split(x, y, seed=5)
    b = train_val_split(x, y, seed=5)
    c = train_val_split(x, y, seed=6)
    for part_a, part_b in zip(a, b):
        np.testing.assert_array_equal(part_a, part_b)
    assert not np.array_equal(a[2], c[2])
    d = train_val_split(x, y, seed=np.random.default_rng(5))
    np.testing.assert_array_equal(a[2], d[2])


def test_unstratified_split():
    x, y = labelled([90, 10])
    splits = [train_val_split(x, y, 0.2, seed=s, stratify=False)[3] for s in range(20)]
    assert all(len(v) == 20 for v in splits)
    assert len({np.bincount(v, minlength=2)[1] for v in splits}) > 1  # proportions vary
    stratified = [train_val_split(x, y, 0.2, seed=s)[3] for s in range(5)]
    assert all(np.bincount(v).tolist() == [18, 2] for v in stratified)


def test_unstratified_split_takes_regression_targets_of_any_shape():
    x = np.arange(40.0).reshape(20, 2)
    y = x @ np.array([[1.0, 0.5, -1.0], [2.0, 0.0, 3.0]])  # (20, 3) float targets
    x_train, y_train, x_val, y_val = train_val_split(x, y, 0.25, seed=3, stratify=False)
    assert y_train.shape == (15, 3) and y_val.shape == (5, 3)
    for xs, ys in ((x_train, y_train), (x_val, y_val)):  # rows stay paired
        np.testing.assert_array_equal(ys, xs @ np.array([[1.0, 0.5, -1.0], [2.0, 0.0, 3.0]]))
    assert sorted(x_train[:, 0].tolist() + x_val[:, 0].tolist()) == x[:, 0].tolist()


@pytest.mark.parametrize(
    ("x", "y", "fraction", "problem"),
    [
        (np.zeros((5, 2)), np.zeros(4), 0.2, "same length"),
        (np.zeros((5, 2)), np.zeros((5, 1)), 0.2, r"class labels of shape \(N,\).*stratify=False"),
        (np.zeros((5, 2)), np.zeros(()), 0.2, "same length"),
        (np.zeros((5, 2)), np.zeros(5), 0.0, "between 0 and 1"),
        (np.zeros((5, 2)), np.zeros(5), 1.0, "between 0 and 1"),
        (np.zeros((5, 2)), np.zeros(5), 0.05, "leaves an empty part"),
        # stratifying regression targets or IDs would put the smallest values in validation
        (np.zeros((50, 2)), np.linspace(-3, 3, 50), 0.2, r"not whole \(regression targets\?\)"),
        (np.zeros((50, 2)), np.arange(50), 0.2, "every one of the 50 values of y is different"),
        (np.zeros((5, 2)), np.array([0, 1, np.nan, 0, 1]), 0.2, r"y\[2\] is NaN: a missing"),
    ],
)
def test_split_bad_arguments(x, y, fraction, problem):
    with pytest.raises(ValueError, match=problem):
        train_val_split(x, y, val_fraction=fraction)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True, False, np.float64(2), [1, 2], np.int64(-3)])
def test_split_seed_must_be_an_integer_at_least_0(seed):
    x, y = labelled([5, 5])
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0, .* got seed="):
        train_val_split(x, y, seed=seed)


def test_split_seed_may_be_a_numpy_integer_or_none():
    x, y = labelled([5, 5])
    a = train_val_split(x, y, seed=np.int64(3))
    np.testing.assert_array_equal(a[3], train_val_split(x, y, seed=3)[3])
    assert len(train_val_split(x, y, seed=None)[3]) == 1


# --- the header names of the feature columns: csv_feature_names


def test_csv_feature_names_leave_out_the_label_column_as_the_loaders_do(tmp_path):
    path = write(tmp_path, '\ufeffx1, species ,"x2"\n1.5,setosa,2\n3,versicolor,4\n')
    for column in (1, -2, "species"):
        assert csv_feature_names(path, column) == ["x1", "x2"]
    assert csv_feature_names(path, None) == ["x1", "species", "x2"]
    # n_features decides, as load_csv_features does, whether a label column is there at all
    assert csv_feature_names(path, "species", n_features=2) == ["x1", "x2"]
    assert csv_feature_names(path, 0, n_features=3) == ["x1", "species", "x2"]
    features = write(tmp_path, "b;a\n1;2\n", "rows.csv")
    assert csv_feature_names(features, "label", ";", n_features=2) == ["b", "a"]
    # a first row of data is no header; nor is an empty file
    assert csv_feature_names(write(tmp_path, "1,2,0\n3,4,1\n", "plain.csv"), -1) is None
    assert csv_feature_names(write(tmp_path, "", "empty.csv")) is None
    assert csv_feature_names(path) == ["x1", "species", "x2"]  # no label column by default
    # a class name alone in the first row is data when the next label is a name too
    named = write(tmp_path, "1,2,cat\n3,4,dog\n", "named.csv")
    assert csv_feature_names(named, -1) is None
    with pytest.raises(DatasetError, match="no column named 'kind'"):
        csv_feature_names(path, "kind")


def test_a_header_of_numbers_above_class_names_needs_header_or_the_label_by_name(tmp_path):
    """Years as column names: the header's only name is the label column's, like a first row
    of numbers and a class name. That stays data (a rare class may come first), unless the
    label column is named (a name needs a header) or header=True says so."""
    body = "".join(f"{i}.5,{i},{'abc'[i % 3]},1\n" for i in range(12))
    path = write(tmp_path, "2019,2020,segment,2021\n" + body)
    assert load_csv(path, label_column=2, return_classes=True)[2] == ["a", "b", "c", "segment"]
    assert csv_feature_names(path, 2) is None
    for kwargs in ({"label_column": "segment"}, {"label_column": 2, "header": True}):
        x, y, classes = load_csv(path, return_classes=True, **kwargs)
        assert x.shape == (12, 3) and classes == ["a", "b", "c"]
        np.testing.assert_array_equal(y, [0, 1, 2] * 4)
    assert csv_feature_names(path, "segment") == ["2019", "2020", "2021"]
    # a class whose only example is the first row stays a row of data
    rare = write(tmp_path, "0.1,0.2,neg\n0.4,0.5,pos\n0.7,0.8,pos\n", "rare.csv")
    x, y, classes = load_csv(rare, label_column=-1, return_classes=True)
    assert len(x) == 3 and classes == ["neg", "pos"]
    assert csv_feature_names(rare, -1) is None
    assert len(load_csv_features(rare, label_column=-1)) == 3


def test_row_index_column_of_pandas(tmp_path):
    """df.to_csv() writes the row index first, in a column without a name: as the labels
    (the default first column) an error, as a feature a warning; never silently."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(30, 2)).round(3)
    body = "".join(f"{i},{a},{b},{i % 3}\n" for i, (a, b) in enumerate(features))
    path = write(tmp_path, ",a,b,target\n" + body, "indexed.csv")
    with pytest.raises(
        DatasetError,
        match=r"indexed.csv: column 1 has no name in the header and holds 30 different whole "
        r"numbers \(0, 1, 2, \.\.\.\): a row index \(pandas' to_csv writes one unless "
        r"index=False\), not class labels: are the labels in another column\?",
    ):
        load_csv(path)
    with pytest.warns(DatasetWarning, match="column 1 has no name .* read as a feature: save "
                      "the file with index=False, or drop that column"):  # fmt: skip
        x, y = load_csv(path, label_column="target")
    np.testing.assert_array_equal(x[:, 0], np.arange(30))  # read, as asked
    np.testing.assert_array_equal(y, np.arange(30) % 3)
    with pytest.warns(DatasetWarning, match="column 1 has no name"):
        assert load_csv_features(path, label_column=-1).shape == (30, 3)
    names = write(tmp_path, ",a,b,target\n" + body.replace(",0\n", ",x\n").replace(
        ",1\n", ",y\n").replace(",2\n", ",z\n"), "names.csv")  # fmt: skip
    with pytest.warns(DatasetWarning, match="column 1 has no name"):
        assert load_csv(names, label_column=-1, return_classes=True)[2] == ["x", "y", "z"]
    # not an index: a named ID column, an unnamed column of repeated numbers (labels without
    # a name), a short file, a file without a header
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ids = write(tmp_path, "id,a,b,target\n" + body, "ids.csv")
        assert load_csv(ids, label_column="target")[0].shape == (30, 3)
        classes = "".join(f"{i % 3},{a},{b},{i}\n" for i, (a, b) in enumerate(features))
        unnamed = write(tmp_path, ",a,b,row\n" + classes, "unnamed.csv")
        np.testing.assert_array_equal(load_csv(unnamed)[1], np.arange(30) % 3)
        short = write(tmp_path, ",a,b,target\n" + "".join(body.splitlines(True)[:10]))
        assert load_csv(short, label_column=-1)[0].shape == (10, 3)
        headless = write(tmp_path, body, "headless.csv")
        assert load_csv(headless, label_column=-1)[0].shape == (30, 3)
        negative = "".join(f"{-7 * i},{a},{b},{i % 3}\n" for i, (a, b) in enumerate(features))
        assert load_csv(write(tmp_path, ",a,b,t\n" + negative), label_column=-1)[0][1, 0] == -7
    # read as they are in the file (float64), not after float32 rounds them together
    large = "".join(f"{2**24 + i},{a},{b},{i % 3}\n" for i, (a, b) in enumerate(features))
    with pytest.warns(DatasetWarning, match="holds 30 different whole numbers"):
        load_csv(write(tmp_path, ",a,b,t\n" + large), label_column=-1)
    # named explicitly, the column is still refused, with the way out
    with pytest.raises(DatasetError, match="if this column does hold the labels, give it a name"):
        load_csv(path, label_column=0)


def test_whole_number_regression_targets_are_not_taken_for_classes_silently(tmp_path):
    """diabetes' target: 214 different whole numbers over 442 rows; read as labels, with a
    DatasetWarning. Many classes of a few rows each are classes (no warning)."""
    rng = np.random.default_rng(0)
    target = rng.integers(25, 347, 442)
    path = write(tmp_path, "a,target\n" + "".join(f"{v / 100},{v}\n" for v in target))
    with pytest.warns(DatasetWarning, match=r"the labels, column 2 \('target'\), are \d+ "
                      r"different whole numbers over 442 rows, most of them on two rows or "
                      r"fewer: regression targets, not classes; the loaders are for "
                      r"classification"):  # fmt: skip
        x, y = load_csv(path, label_column="target")
    np.testing.assert_array_equal(y, target)
    _save(tmp_path / "t.npz", x=np.zeros((442, 1)), y=target)
    with pytest.warns(DatasetWarning, match="the labels 'y' are .* regression targets"):
        load_npz(tmp_path / "t.npz")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        classes = np.repeat(np.arange(100), 3)  # 100 classes of 3 rows: classes
        load_csv(write(tmp_path, "a,c\n" + "".join(f"0.5,{c}\n" for c in classes), "c.csv"), 1)
        pairs = np.repeat(np.arange(30), 2)  # 30 classes of 2 rows, indices 0..29: classes
        load_csv(write(tmp_path, "a,c\n" + "".join(f"0.5,{c}\n" for c in pairs), "p.csv"), 1)


def test_pandas_header_of_unnamed_columns_is_a_header(tmp_path):
    """pd.DataFrame(array).to_csv(index=False) writes the column numbers 0, 1, 2, ... as the
    header: a header, with or without a named label column beside them."""
    plain = write(tmp_path, "0,1,2\n5,0.5,1.5\n2,2.5,3.5\n", "plain.csv")
    x, y = load_csv(plain, label_column=0)
    np.testing.assert_array_equal(y, [5, 2])
    assert csv_feature_names(plain, 0) == ["1", "2"]
    rows = write(tmp_path, "0,1,2\n7,8,9\n", "rows.csv")
    assert load_csv_features(rows).tolist() == [[7, 8, 9]]
    named = write(tmp_path, "0,1,2,species\n0.5,1.5,0,cat\n2.5,3.5,1,dog\n", "named.csv")
    assert load_csv(named, label_column=-1, return_classes=True)[2] == ["cat", "dog"]
    # with pandas' index, ",0,1,2": an empty cell, never dropped, whose error says why
    indexed = write(tmp_path, ",0,1,2\n0,5,0.5,1.5\n1,2,2.5,3.5\n", "indexed.csv")
    with pytest.raises(
        DatasetError,
        match="line 1, column 1: empty cell .*pandas writes for "
        "unnamed columns with its row index: write the file with index=False",
    ):
        load_csv(indexed, label_column=1)  # fmt: skip
    # short or incomplete numberings are data: "0,1" (a binary row), "0,1,NA"
    binary = write(tmp_path, "0,1\n1,0\n0,1\n1,1\n", "binary.csv")
    assert len(load_csv(binary)[0]) == 4
    with pytest.raises(DatasetError, match="line 1, column 3: missing value 'NA'"):
        load_csv(write(tmp_path, "0,1,NA\n1,0,1\n", "gap.csv"))
    # a first row of other integers is data, as before; so is a class name before 1, 2
    # "+" and "-" are class names (UCI's credit approval data), not missing values
    signs = write(tmp_path, "class,a\n-,0.5\n+,1.5\n-,2\n", "signs.csv")
    assert load_csv(signs, return_classes=True)[2] == ["+", "-"]
    data = write(tmp_path, "1,2,3\n4,5,6\n", "data.csv")
    assert len(load_csv(data)[0]) == 2
    names = write(tmp_path, "setosa,1,2\nvirginica,3,4\n", "names.csv")
    assert len(load_csv_features(names, 0)) == 2


# --- CSV feature rows without labels (a trained network's inputs): load_csv_features


def test_csv_features_with_and_without_a_header(tmp_path):
    rows = np.array([[0.5, 2, -1e3], [1, 3.25, 7]], np.float32)
    plain = write(tmp_path, "0.5,2,-1e3\n\n1,3.25,7\r\n", "plain.csv")
    headed = write(tmp_path, '\ufeffa,b,"c"\n0.5,2,-1e3\n1," 3.25 ",7\n', "headed.csv")
    for path in (plain, headed):
        x = load_csv_features(path)
        assert x.dtype == np.float32 and x.shape == (2, 3)
        np.testing.assert_array_equal(x, rows)
    x = load_csv_features(write(tmp_path, "1;2\n3;4\n", "semi.csv"), delimiter=";", dtype="f8")
    assert x.dtype == np.float64
    np.testing.assert_array_equal(x, [[1, 2], [3, 4]])
    # header=False takes a first row of names for data, and says which cell is not a number
    with pytest.raises(DatasetError, match=r"headed.csv, line 1, column 1: not a number: 'a'"):
        load_csv_features(headed, header=False)


def test_csv_features_drop_the_label_column_unread(tmp_path):
    """The label column is dropped by index or by name; its cells are never read: class
    names, class indices or empty cells all do. The rest are exactly load_csv's features."""
    text = "x1,species,x2\n1.5,setosa,2\n3,,4\n5,2,6\n"
    path = write(tmp_path, text)
    for column in (1, -2, "species"):
        np.testing.assert_array_equal(
            load_csv_features(path, label_column=column), [[1.5, 2], [3, 4], [5, 6]]
        )
    numeric = write(tmp_path, "kind,a,b\n0,0.25,1\n2,3,4e2\n", "numeric.csv")
    np.testing.assert_array_equal(load_csv_features(numeric, 0), load_csv(numeric)[0])
    # a headerless file of class names: its first row is data, as load_csv decides
    names = write(tmp_path, "setosa,1,2\nvirginica,3,4\n", "names.csv")
    np.testing.assert_array_equal(load_csv_features(names, 0), [[1, 2], [3, 4]])
    x, _, _ = load_csv(names, return_classes=True)
    np.testing.assert_array_equal(load_csv_features(names, 0), x)


def test_csv_features_n_features_decides_whether_there_is_a_label_column(tmp_path):
    four = write(tmp_path, "1,2,3,4\n5,6,7,8\n", "four.csv")
    labelled = write(tmp_path, "a,b,c,d,kind\n1,2,3,4,cat\n5,6,7,8,dog\n", "labelled.csv")
    expected = [[1, 2, 3, 4], [5, 6, 7, 8]]
    # as many columns as features: all features, label_column unused
    np.testing.assert_array_equal(load_csv_features(four, "kind", n_features=4), expected)
    np.testing.assert_array_equal(load_csv_features(four, n_features=4), expected)
    # one more: the label column is dropped (the first by default)
    np.testing.assert_array_equal(load_csv_features(labelled, "kind", n_features=4), expected)
    np.testing.assert_array_equal(load_csv_features(labelled, -1, n_features=4), expected)
    first = write(tmp_path, "2,1,2,3,4\n1,5,6,7,8\n", "first.csv")
    np.testing.assert_array_equal(load_csv_features(first, n_features=4), expected)
    # any other number of columns names both numbers
    for n in (2, 5):
        with pytest.raises(DatasetError) as info:
            load_csv_features(four, n_features=n)
        assert str(info.value) == (
            f"{four}, line 1: 4 columns, expected {n} (the features) or {n + 1} (the features "
            "and a label column)"
        )
    semi = write(tmp_path, "1;2;3;4\n", "semi.csv")
    with pytest.raises(DatasetError, match=r"line 1: 1 column, expected 4 .*separated by ';'"):
        load_csv_features(semi, n_features=4)
    with pytest.raises(DatasetError, match=r"line 1: missing label column: no column named 'y'"):
        load_csv_features(labelled, "y", n_features=4)


def test_decimal_commas_are_read_in_a_semicolon_file_and_named_in_the_error_elsewhere(tmp_path):
    """';' separates cells where ',' is the decimal mark: 43,5 is 43.5 there (what a European
    spreadsheet writes); in a tab-separated file it is an error that names the decimal comma
    (it could be a thousands separator there: 1,234)."""
    path = write(tmp_path, "a;b;kind\n43,5;-2,25e1;x,y\n1;2;z\n", "eu.csv")
    x, y, classes = load_csv(path, "kind", delimiter=";", return_classes=True)
    np.testing.assert_array_equal(x, [[43.5, -22.5], [1, 2]])
    assert classes == ["x,y", "z"]  # a name with a comma stays a name
    numbers = write(tmp_path, "label;a;b\n1;43,5;2\n0;1;2\n", "eu_numbers.csv")
    x, y = load_csv(numbers, delimiter=";")
    np.testing.assert_array_equal(x, [[43.5, 2], [1, 2]])
    assert csv_feature_names(numbers, 0, ";") == ["a", "b"]
    quoted = write(tmp_path, 'a;b;kind\n43,5;1,5;"cat\nx"\n2,5;3,5;dog\n', "multiline.csv")
    x, _, classes = load_csv(quoted, -1, delimiter=";", return_classes=True)  # a record of
    np.testing.assert_array_equal(x, [[43.5, 1.5], [2.5, 3.5]])  # two lines is one row
    thousands = write(tmp_path, "label;a\n1;1.234,5\n", "thousands_eu.csv")  # not guessed
    with pytest.raises(DatasetError, match=r"not a number: '1.234,5'"):
        load_csv(thousands, delimiter=";")
    tabs = write(tmp_path, "label\ta\n1\t43,5\n", "eu.tsv.csv")
    with pytest.raises(DatasetError, match=r"not a number: '43,5' \(a decimal comma\? .*: 43\.5\)"):
        load_csv(tabs, delimiter="\t")
    comma = write(tmp_path, 'label,a\n1,"1,000"\n', "thousands.csv")  # a comma file: no guess
    with pytest.raises(DatasetError, match="not a number") as caught:
        load_csv(comma)
    assert "decimal comma" not in str(caught.value)
    quoted_comma = write(tmp_path, 'label,a\n1,"43,5"\n', "decimal_quoted.csv")  # 1 decimal
    with pytest.raises(DatasetError, match=r"'43,5' \(a decimal comma\? .*: 43\.5\)"):
        load_csv(quoted_comma)


def test_a_named_label_column_in_a_file_without_header_says_the_line_is_data(tmp_path):
    """A file saved without its header, read by the label column's name (as the model was
    trained): the first line is data, and the error says to give the column by index."""
    path = write(tmp_path, "28.6,52923.0,maybe\n41.0,61000.5,yes\n", "nohdr.csv")
    hint = "that line looks like data, not a header: give the label column by its index"
    for load in (load_csv, load_csv_features):
        with pytest.raises(DatasetError, match="no column named 'approved'.*" + hint):
            load(path, "approved")
    x, y, classes = load_csv(path, -1, return_classes=True)  # what the hint says: it works
    assert x.shape == (2, 2) and classes == ["maybe", "yes"]
    named = write(tmp_path, "age,income,approved\n28.6,52923.0,maybe\n", "named.csv")
    with pytest.raises(DatasetError, match="no column named 'label'") as caught:
        load_csv(named, "label", return_classes=True)  # a real header: no such hint
    assert "looks like data" not in str(caught.value)


FEATURES_MALFORMED = {
    "not-a-number": ("a,b\n1,2\n3,x\n", {}, 3, "column 2 ('b'): not a number: 'x'"),
    # columns are numbered in the file, the label column counted
    "after-label": ("y,a,b\n0,1,2\n1,3,abc\n", {"label_column": "y"}, 3, "column 3 ('b')"),
    "empty-cell": ("1,2\n3,\n", {}, 2, "column 2: empty cell (a missing value)"),
    "na": ("1,2\nNA,4\n", {}, 2, "column 1: missing value 'NA'"),
    "nan": ("1,2\n3,nan\n", {"label_column": 0}, 2, "column 2: value nan is NaN or infinite"),
    "overflow": ("1,2\n3,1e39\n", {}, 2, "column 2: value 1e+39 overflows float32"),
    "ragged": ("1,2\n3,4,5\n", {}, 2, "ragged row: 3 cells, expected 2 (as on line 1)"),
    "empty": ("\n\n", {}, 1, "empty file"),
    "header-only": ("a,b\n", {}, 2, "no data rows after the header"),
    "label-only": ("1\n2\n", {"label_column": 0}, 1, "one column only, the label column"),
    "label-out-of-range": ("1,2\n", {"label_column": 2}, 1, "index 2 is out of range for 2"),
    "label-name-no-header": ("1,2\n", {"label_column": "y"}, 1, "the file has no header row"),
    "nul": ("1,2\n\x003,4\n", {}, 2, "a NUL byte: a binary file"),
}


@pytest.mark.parametrize("case", list(FEATURES_MALFORMED), ids=list(FEATURES_MALFORMED))
def test_malformed_csv_features(tmp_path, case):
    text, kwargs, line, problem = FEATURES_MALFORMED[case]
    path = write(tmp_path, text)
    with pytest.raises(DatasetError) as info:
        load_csv_features(path, **kwargs)
    message = str(info.value)
    assert message.startswith(f"{path}, line {line}")
    assert problem in message


@pytest.mark.parametrize(
    ("kwargs", "error", "problem"),
    [
        ({"n_features": 0}, ValueError, "n_features must be a positive integer"),
        ({"n_features": True}, ValueError, "n_features must be a positive integer"),
        ({"n_features": 2.0}, ValueError, "n_features must be a positive integer"),
        ({"label_column": 1.0}, TypeError, "label_column must be"),
        ({"dtype": np.int32}, ValueError, "dtype must be a float dtype"),
        ({"delimiter": ";;"}, ValueError, "delimiter must be one character"),
    ],
)
def test_csv_features_arguments_are_checked(tmp_path, kwargs, error, problem):
    path = write(tmp_path, "1,2\n")
    with pytest.raises(error, match=problem):
        load_csv_features(path, **kwargs)


def test_a_weight_column_is_read_as_float64_apart_from_the_features(tmp_path):
    """weight_column: that column is no feature, and its numbers keep float64's digits and
    range (1.0000001, 1e-30, 1e39: float32 would round, or overflow), quoted or with a decimal
    comma as the features'; read_weights=False leaves it out unread (any cell)."""
    path = tmp_path / "w.csv"
    path.write_text('label;a;w;b\n0;1,5;"1,0000001";2\n1;3;1e-30;4\n0;5;1e39;6\n')
    x, y, w = load_csv(path, delimiter=";", weight_column=2)
    np.testing.assert_array_equal(x, np.array([[1.5, 2], [3, 4], [5, 6]], np.float32))
    assert x.dtype == np.float32 and w.dtype == np.float64
    assert w.tolist() == [1.0000001, 1e-30, 1e39]
    x2, w2 = load_csv_features(path, "label", delimiter=";", weight_column=-2)
    np.testing.assert_array_equal(x2, x)
    assert w2.tolist() == [1.0000001, 1e-30, 1e39]
    path.write_text("label,a,w,b\n0,1,heavy,2\n1,3,,4\n")
    x3, y3, classes, w3 = load_csv(path, weight_column=2, read_weights=False, return_classes=True)
    assert w3 is None and x3.tolist() == [[1, 2], [3, 4]] and y3.tolist() == [0, 1]
    with pytest.raises(DatasetError, match=r"line 2, column 3 \('w'\): not a number: 'heavy'"):
        load_csv(path, weight_column=2)
    with pytest.raises(ValueError, match="weight_column 0 is the label column"):
        load_csv(path, weight_column=0)


@pytest.mark.parametrize(
    "label_column, weight_column, x_rows, w",
    [
        (2, 0, [[0.5, 2], [2, 4]], [1, 3]),  # the weights before the label column
        (2, 1, [[1, 2], [3, 4]], [0.5, 2]),
        (2, 3, [[1, 0.5], [3, 2]], [2, 4]),  # after it
        (2, -1, [[1, 0.5], [3, 2]], [2, 4]),  # negative: from the end
        (-2, -4, [[0.5, 2], [2, 4]], [1, 3]),
        ("label", 1, [[1, 2], [3, 4]], [0.5, 2]),
    ],
)
def test_a_weight_column_anywhere_leaves_the_other_columns_features(
    tmp_path, label_column, weight_column, x_rows, w
):
    """The weight column before, after or (counted from the end) around the label column:
    the features are the other columns in file order, in load_csv and load_csv_features."""
    path = write(tmp_path, "a,w,label,b\n1,0.5,0,2\n3,2,1,4\n")
    x, y, weights = load_csv(path, label_column, weight_column=weight_column)
    assert x.tolist() == x_rows and y.tolist() == [0, 1] and weights.tolist() == w
    x2, w2 = load_csv_features(path, label_column, weight_column=weight_column)
    assert x2.tolist() == x_rows and w2.tolist() == w


def test_a_weight_column_that_is_not_there_is_refused_naming_the_file(tmp_path):
    """weight_column out of range, or the label column: a DatasetError naming the file, as
    for the label column; a weight_column that is no int is refused before the file is read."""
    path = write(tmp_path, "label,w,a\n0,1,2\n1,3,4\n")
    for weight_column in (3, -4):
        with pytest.raises(DatasetError, match=rf"data.csv, line 1: weight_column {weight_column} "
                           "is out of range for 3 columns"):  # fmt: skip
            load_csv(path, weight_column=weight_column)
        with pytest.raises(DatasetError, match="out of range for 3 columns"):
            load_csv_features(path, "label", weight_column=weight_column)
    with pytest.raises(DatasetError, match=r"weight_column -3 is the label column, column 1 "
                       r"\('label'\)"):  # fmt: skip
        load_csv(path, weight_column=-3)
    with pytest.raises(TypeError, match="weight_column must be an int or None, got 'w'"):
        load_csv(tmp_path / "missing.csv", weight_column="w")
    with pytest.raises(TypeError, match="weight_column must be an int or None, got 1.0"):
        load_csv_features(tmp_path / "missing.csv", weight_column=1.0)


def test_a_file_of_a_label_and_a_weight_column_has_no_features(tmp_path):
    """Once the label and weight columns are taken, no column is left: refused, not an x of
    shape (N, 0)."""
    path = write(tmp_path, "label,w\n0,1\n1,2\n")
    message = "line 1: no feature columns: the file's two columns are the label column and the"
    with pytest.raises(DatasetError, match=message):
        load_csv(path, weight_column=1)
    with pytest.raises(DatasetError, match=message):
        load_csv_features(path, 0, weight_column=1)
    with pytest.raises(
        DatasetError, match="no feature columns: the file's only column is the weight"
    ):
        load_csv_features(write(tmp_path, "w\n1\n2\n"), weight_column=0)


def test_a_weight_cell_that_is_no_number_is_named_as_a_weight(tmp_path):
    """A weight that is a word: the error names its column and says weights are numbers, not
    that features are (to encode as categories); a feature's cell keeps that hint."""
    path = write(tmp_path, "a,w,label\n1,2,0\n3,heavy,1\n")
    message = r"line 3, column 2 \('w'\): not a number: 'heavy' \(the weight column: the weights"
    for load in (load_csv, load_csv_features):
        with pytest.raises(DatasetError, match=message) as info:
            load(path, 2, weight_column=1)
        assert "get_dummies" not in str(info.value)
    with pytest.raises(DatasetError, match="column 1 \\('a'\\): not a number: 'x' \\(features"):
        load_csv(write(tmp_path, "a,w,label\nx,2,0\n"), 2, weight_column=1)


def test_the_features_are_cast_without_a_float64_copy_of_the_table():
    """The features taken out of the table read (float64), without the label and weight
    columns, and cast to float32: no second float64 copy of the table on the way (a 60000 x
    785 file: 360 MB), only the float32 result (half of it); the same numbers as a copy."""
    import tracemalloc

    from chainrule.datasets.tabular import _columns

    table = np.random.default_rng(0).normal(size=(100000, 50)) * 1e3
    at = [i for i in range(50) if i not in (0, 7)]
    tracemalloc.start()
    try:
        x = _columns(table, at, np.dtype(np.float32))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(x, table[:, at].astype(np.float32))
    assert peak < 0.75 * table.nbytes, peak / table.nbytes


def test_the_weight_column_example_of_docs_data_md_runs_as_written(tmp_path, monkeypatch, capsys):
    """docs/data.md, "A weight column": the code as printed, and what it says it prints."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "data.md").read_text()
    code = text.split("**A weight column**")[1].split("```python")[1].split("```")[0]
    monkeypatch.chdir(tmp_path)  # it writes weighted.csv in the working directory
    exec(compile(code, "docs/data.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    promised = [line.split("# ")[1] for line in code.splitlines() if line.startswith("print(")]
    assert printed == promised == ["[[0.5, 1.0], [1.5, 0.25]] [0, 1] [2.5, 1.0]", "(2, 2) None"]


def test_n_features_counts_the_weight_column_apart(tmp_path):
    """load_csv_features(n_features=D, weight_column=...): the weight column is no feature, so
    D + 1 columns are the features and the weights, D + 2 a label column too; x has D columns
    (not D - 1, one feature taken as a label column)."""
    path = write(tmp_path, "1,2,0.5\n3,4,0.25\n")
    x, w = load_csv_features(path, n_features=2, weight_column=-1)
    np.testing.assert_array_equal(x, np.array([[1, 2], [3, 4]], np.float32))
    assert w.tolist() == [0.5, 0.25]
    labelled = tmp_path / "labelled.csv"
    labelled.write_text("0,1,2,0.5\n1,3,4,0.25\n")
    x, w = load_csv_features(labelled, n_features=2, weight_column=-1)
    np.testing.assert_array_equal(x, np.array([[1, 2], [3, 4]], np.float32))
    assert w.tolist() == [0.5, 0.25]
    with pytest.raises(DatasetError, match=r"2 columns, expected 3 \(the features and the "):
        load_csv_features(write(tmp_path, "1,2\n", "two.csv"), n_features=2, weight_column=-1)
