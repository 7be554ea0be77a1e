"""Classification metrics: accuracy, the confusion matrix, per-class precision and recall."""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "confusion_matrix", "precision_recall", "classification_summary"]

MAX_INFERRED_CLASSES = 1000
"""The most classes :func:`confusion_matrix` infers from the labels (``n_classes`` not given)."""


def accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """The fraction of ``predicted`` equal to ``labels`` (both int arrays of shape (n,))."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    if labels.shape != predicted.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predicted.shape} differ")
    return float(np.mean(labels == predicted)) if labels.size else float("nan")


def confusion_matrix(labels, predicted, n_classes: int | None = None) -> np.ndarray:
    """``cm[i, j]`` = how many examples of true class ``i`` were predicted as ``j``.

    ``labels`` and ``predicted`` are class indices of the same shape (n,): integers, or floats
    with integer values (``3.0``), each in ``[0, n_classes)``. ``n_classes`` defaults to the
    largest class seen plus one, up to :data:`MAX_INFERRED_CLASSES` (1000, an 8 MB matrix):
    beyond that it must be passed, so that a stray label such as ``10**9`` is an error rather
    than a request for an exabyte matrix. Anything else (a negative or too large class, a
    fractional or NaN value, a length mismatch) raises ``ValueError`` naming it: nothing is
    wrapped around or truncated.

    Returns an int64 array of shape (n_classes, n_classes).
    """
    labels = _class_indices("labels", labels)
    predicted = _class_indices("predictions", predicted)
    if labels.shape != predicted.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predicted.shape} differ")
    if n_classes is None:
        n_classes = int(max(labels.max(initial=0), predicted.max(initial=0))) + 1
        if n_classes > MAX_INFERRED_CLASSES:
            what, values = ("labels", labels)
            if predicted.max() > labels.max():  # both non-empty: n_classes > 1
                what, values = ("predictions", predicted)
            i = int(np.argmax(values))
            raise ValueError(
                f"{what}[{i}] = {values[i].item()!r} would make {n_classes} classes, more than "
                f"the {MAX_INFERRED_CLASSES} inferred without n_classes (an n_classes x "
                "n_classes matrix); pass n_classes if that many classes is meant"
            )
    elif not isinstance(n_classes, (int, np.integer)) or isinstance(n_classes, bool):
        raise ValueError(f"n_classes must be an integer, got n_classes={n_classes!r}")
    elif n_classes < 1:
        raise ValueError(f"n_classes must be >= 1, got n_classes={n_classes}")
    for what, values in (("labels", labels), ("predictions", predicted)):
        outside = np.flatnonzero((values < 0) | (values >= n_classes))
        if outside.size:
            i = outside[0]
            raise ValueError(
                f"{what}[{i}] = {values[i].item()!r} is not a class in [0, {n_classes}) "
                f"(n_classes={n_classes})"
            )
    cm = np.zeros((n_classes, n_classes), np.int64)
    # every index is now in range: np.add.at would wrap a negative one around
    np.add.at(cm, (labels.astype(np.int64), predicted.astype(np.int64)), 1)
    return cm


def _class_indices(what: str, values) -> np.ndarray:
    """``values`` as a 1-D array (its dtype kept), or ``ValueError`` unless every value is an
    integer: integer dtypes, or floats with integer values; not bools, strings or objects."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{what} must have shape (n,), got shape {values.shape}")
    if values.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
        if bad.size:
            i = bad[0]
            raise ValueError(f"{what}[{i}] = {values[i].item()!r} is not an integer class index")
    elif values.dtype.kind not in "iu":
        raise ValueError(f"{what} must be integer class indices, got dtype {values.dtype}")
    return values


def precision_recall(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision ``cm[i, i] / sum_k cm[k, i]`` and recall ``cm[i, i] / sum_k cm[i, k]``.

    ``cm`` is a square confusion matrix of non-negative counts (:func:`confusion_matrix`).
    A class never predicted (or never present) gets 0 rather than a division by zero.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix must be square, got shape {cm.shape}")
    if cm.dtype.kind not in "iuf" or (cm < 0).any():
        raise ValueError("a confusion matrix must hold counts >= 0")
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
