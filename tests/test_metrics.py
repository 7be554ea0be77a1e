"""Accuracy, confusion matrix, precision and recall against hand-counted examples."""

import numpy as np
import pytest

from chainrule.metrics import accuracy, classification_summary, confusion_matrix, precision_recall


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


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ"):
        accuracy(np.array([1, 2]), np.array([1]))
