"""Accuracy, confusion matrix, precision and recall against hand-counted examples."""

import subprocess
import sys

import numpy as np
import pytest

from chainrule.metrics import (
    MAX_INFERRED_CLASSES,
    accuracy,
    classification_summary,
    confusion_matrix,
    precision_recall,
)


def test_hand_counted_confusion_precision_recall():
    labels = np.array([0, 0, 1, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 0, 1])
    cm = confusion_matrix(labels, predicted, 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [1, 2, 0], [0, 1, 0]])
    precision, recall = precision_recall(cm)
    # class 0: predicted twice, right once; present twice, found once
    # class 1: predicted 4 times, right twice; present 3 times, found twice
    # class 2: never predicted -> precision 0; present once, never found -> recall 0
    np.testing.assert_allclose(precision, [1 / 2, 2 / 4, 0])
    np.testing.assert_allclose(recall, [1 / 2, 2 / 3, 0])
    assert accuracy(labels, predicted) == pytest.approx(3 / 6)
    summary = classification_summary(labels, predicted, 3)
    assert summary["accuracy"] == pytest.approx(0.5)
    assert summary["confusion_matrix"] == cm.tolist()


def test_accuracy_of_nothing_is_nan_not_zero():
    """No examples: no accuracy (NaN), not a perfect failure."""
    assert np.isnan(accuracy(np.array([], int), np.array([], int)))
    assert accuracy(np.array([1, 2]), np.array([1, 0])) == 0.5


def test_summary_by_hand_with_a_class_never_present_and_thirds():
    """Labels 0,0,1,1,1 predicted 0,2,1,1,0: class 2 is predicted once and never present
    (precision 0, recall 0, not 1); class 1's recall is 2/3 to 6 digits."""
    summary = classification_summary([0, 0, 1, 1, 1], [0, 2, 1, 1, 0], 3)
    assert summary == {
        "accuracy": 0.6,
        "n_examples": 5,
        "precision": [0.5, 1.0, 0.0],
        "recall": [0.5, 0.666667, 0.0],
        "confusion_matrix": [[1, 0, 1], [1, 2, 0], [0, 0, 0]],
    }
    _, recall = precision_recall(confusion_matrix([0, 0, 1], [0, 2, 1], 3))
    assert recall.tolist() == [0.5, 1.0, 0.0]  # class 2 never present: 0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ"):
        accuracy(np.array([1, 2]), np.array([1]))


def test_integer_valued_floats_are_class_indices():
    cm = confusion_matrix(np.array([0.0, 1.0, 1.0]), np.array([1, 1, 0], np.uint8), 2)
    np.testing.assert_array_equal(cm, [[0, 1], [1, 1]])
    assert cm.dtype == np.int64
    # n_classes defaults to the largest class seen plus one
    np.testing.assert_array_equal(confusion_matrix([2], [0]), [[0, 0, 0], [0, 0, 0], [1, 0, 0]])


@pytest.mark.parametrize(
    ("labels", "predicted", "n_classes", "problem"),
    [
        ([0, 1, -1], [0, 1, 1], 2, r"labels\[2\] = -1 is not a class in \[0, 2\)"),
        ([0, 1, 1], [0, 1, -1], None, r"predictions\[2\] = -1 is not a class"),
        ([0, 2], [0, 1], 2, r"labels\[1\] = 2 is not a class in \[0, 2\)"),
        ([0, 1], [0, 5], 2, r"predictions\[1\] = 5 is not a class"),
        ([0, 1.7], [0, 1], 2, r"labels\[1\] = 1.7 is not an integer class index"),
        ([0, np.nan], [0, 1], 2, r"labels\[1\] = nan is not an integer"),
        ([0, 1e20], [0, 1], 2, r"labels\[1\] = 1e\+20 is not a class"),
        ([0, 1, 1], [0, 1], 2, r"labels \(3,\) and predictions \(2,\) differ"),
        ([[0, 1]], [[0, 1]], 2, r"labels must have shape \(n,\)"),
        ([True, False], [1, 0], 2, "labels must be integer class indices, got dtype bool"),
        (["0", "1"], [0, 1], 2, "labels must be integer class indices"),
        ([0, 1], [0, 1], 0, "n_classes must be >= 1"),
        ([0, 1], [0, 1], 2.0, "n_classes must be an integer"),
        ([0, 1], [0, 1], True, "n_classes must be an integer"),
    ],
)
def test_bad_labels_are_named_not_wrapped_or_truncated(labels, predicted, n_classes, problem):
    with pytest.raises(ValueError, match=problem):
        confusion_matrix(labels, predicted, n_classes)
    if n_classes == 2:  # the summary checks the same way
        with pytest.raises(ValueError, match=problem):
            classification_summary(labels, predicted, n_classes)


@pytest.mark.parametrize(
    ("labels", "predicted", "problem"),
    [
        ([0, 10**9], [0, 1], r"labels\[1\] = 1000000000 would make 1000000001 classes"),
        ([0, 1], [0, 1000], r"predictions\[1\] = 1000 would make 1001 classes, more than the 1000"),
        ([0.0, 1e20], [0, 1], r"labels\[1\] = 1e\+20 would make"),
    ],
)
def test_a_huge_class_is_not_inferred(labels, predicted, problem):
    with pytest.raises(ValueError, match=problem + ".*pass n_classes"):
        confusion_matrix(labels, predicted)


def test_classes_up_to_the_limit_are_inferred_and_more_may_be_passed():
    assert MAX_INFERRED_CLASSES == 1000
    assert confusion_matrix([0, 999], [0, 1]).shape == (1000, 1000)
    cm = confusion_matrix([0, 1500], [0, 1500], n_classes=1501)
    assert cm.shape == (1501, 1501) and cm[1500, 1500] == 1


@pytest.mark.parametrize(
    ("cm", "problem"),
    [
        ([[1, 2, 3]], r"square, got shape \(1, 3\)"),
        ([1, 2], r"square, got shape \(2,\)"),
        ([[1, -1], [0, 2]], "counts >= 0"),
    ],
)
def test_precision_recall_needs_a_confusion_matrix(cm, problem):
    with pytest.raises(ValueError, match=problem):
        precision_recall(cm)


def test_the_helper_modules_are_attributes_of_the_package_after_import_chainrule():
    code = (
        "import sys, chainrule\n"
        "assert 'chainrule.metrics' not in sys.modules  # imported on first use\n"
        "for name in ('explain', 'export', 'initializers', 'metrics', 'preprocess'):\n"
        "    assert getattr(chainrule, name).__name__ == 'chainrule.' + name\n"
        "print(chainrule.metrics.confusion_matrix([0, 1], [0, 1]).tolist())\n"
        "try:\n"
        "    chainrule.no_such_thing\n"
        "except AttributeError as exc:\n"
        "    print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "[[1, 0], [0, 1]]",
        "module 'chainrule' has no attribute 'no_such_thing'",
    ]
