"""Figures of a training run, written as PNG files (``pip install chainrule[plot]``).

- ``curves.png``: loss and accuracy per epoch, train and validation;
- ``confusion.png``: the test confusion matrix;
- ``weights.png``: each first-layer unit's weights as a 28x28 image (for 784 inputs), the
  pattern the unit responds to.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["plot_curves", "plot_confusion", "plot_first_layer", "plot_run"]


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'chainrule[plot]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    from chainrule._atomic import atomic_writer

    with atomic_writer(path) as fh:
        fig.savefig(fh, format="png", dpi=110, bbox_inches="tight")
    return path


def plot_curves(records: list[dict], path: str | os.PathLike) -> Path:
    """Loss and accuracy curves from per-epoch records (keys ``epoch``, ``loss``,
    ``accuracy``, ``val_loss``, ``val_accuracy``; missing or None values are skipped)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    epochs = [r.get("epoch", i + 1) for i, r in enumerate(records)]
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            key = prefix + metric
            pairs = [(e, r.get(key)) for e, r in zip(epochs, records) if r.get(key) is not None]
            if pairs:
                ax.plot(*zip(*pairs), style, label="validation" if prefix else "train")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    fig.suptitle("training curves")
    try:
        return _save(fig, Path(path))
    finally:
        plt.close(fig)


def plot_confusion(cm: np.ndarray, path: str | os.PathLike, labels=None) -> Path:
    """The confusion matrix ``cm[true, predicted]`` as a heat map with counts."""
    plt = _pyplot()
    cm = np.asarray(cm)
    n = len(cm)
    labels = list(labels) if labels is not None else [str(i) for i in range(n)]
    fig, ax = plt.subplots(figsize=(0.6 * n + 2, 0.6 * n + 1.5))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(n), labels)
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = cm.max() if cm.size else 0
    for i in range(n):
        for j in range(n):
            colour = "white" if cm[i, j] > top / 2 else "black"
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7, color=colour)
    ax.set_title("confusion matrix")
    try:
        return _save(fig, Path(path))
    finally:
        plt.close(fig)


def plot_first_layer(weights: np.ndarray, path: str | os.PathLike, max_units: int = 64) -> Path:
    """The first layer's weights, one 28x28 tile per unit (inputs must be 784 = 28x28)."""
    plt = _pyplot()
    weights = np.asarray(weights)
    n_in, n_units = weights.shape
    side = int(round(np.sqrt(n_in)))
    if side * side != n_in:
        raise ValueError(f"first-layer weights need a square input size, got n_in={n_in}")
    shown = min(n_units, max_units)
    cols = int(np.ceil(np.sqrt(shown)))
    rows = int(np.ceil(shown / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.1), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k < shown:
            tile = weights[:, k].reshape(side, side)
            limit = np.abs(tile).max() or 1.0
            ax.imshow(tile, cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.suptitle(f"first-layer weights ({shown} of {n_units} units)")
    try:
        return _save(fig, Path(path))
    finally:
        plt.close(fig)


def plot_run(run_dir: str | os.PathLike, records, cm=None, first_weights=None) -> list[Path]:
    """Write every figure that the given data allows into ``run_dir/plots``; return the paths."""
    out = Path(run_dir) / "plots"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if records:
        written.append(plot_curves(records, out / "curves.png"))
    if cm is not None:
        written.append(plot_confusion(cm, out / "confusion.png"))
    if first_weights is not None and round(np.sqrt(first_weights.shape[0])) ** 2 == len(
        first_weights
    ):
        written.append(plot_first_layer(first_weights, out / "weights.png"))
    return written
