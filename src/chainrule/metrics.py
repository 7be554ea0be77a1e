"""Classification metrics: accuracy, the confusion matrix, per-class precision and recall."""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "confusion_matrix", "precision_recall", "classification_summary"]


def accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """The fraction of ``predicted`` equal to ``labels`` (both int arrays of shape (n,))."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    if labels.shape != predicted.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predicted.shape} differ")
    return float(np.mean(labels == predicted)) if labels.size else float("nan")


def confusion_matrix(labels, predicted, n_classes: int | None = None) -> np.ndarray:
    """``cm[i, j]`` = how many examples of true class ``i`` were predicted as ``j``.

    Returns an int64 array of shape (n_classes, n_classes).
    """
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    if n_classes is None:
        n_classes = int(max(labels.max(initial=0), predicted.max(initial=0))) + 1
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (labels, predicted), 1)
    return cm


def precision_recall(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision ``cm[i, i] / sum_k cm[k, i]`` and recall ``cm[i, i] / sum_k cm[i, k]``.

    A class never predicted (or never present) gets 0 rather than a division by zero.
    """
    diag = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0)
    actual = cm.sum(axis=1)
    precision = np.divide(diag, predicted, out=np.zeros_like(diag), where=predicted > 0)
    recall = np.divide(diag, actual, out=np.zeros_like(diag), where=actual > 0)
    return precision, recall


def classification_summary(labels, predicted, n_classes: int) -> dict:
    """Accuracy, per-class precision/recall and the confusion matrix, as a JSON-able dict."""
    cm = confusion_matrix(labels, predicted, n_classes)
    precision, recall = precision_recall(cm)
    return {
        "accuracy": accuracy(labels, predicted),
        "n_examples": int(len(np.asarray(labels))),
        "precision": [round(float(p), 6) for p in precision],
        "recall": [round(float(r), 6) for r in recall],
        "confusion_matrix": cm.tolist(),
    }
