"""Datasets: the IDX format, bundled MNIST, Fashion-MNIST, downloads, and the user's own files.

Every loader returns ``(x, y)``: features of shape (N, D) (float32 by default) and int64 labels
of shape (N,). Every problem with a file is a :class:`DatasetError` (a ``ValueError``) that names
the file and the problem. Nothing here prints.
"""

from chainrule.datasets._files import cache_dir
from chainrule.datasets.download import download
from chainrule.datasets.errors import DatasetError, DatasetWarning, DownloadError
from chainrule.datasets.idx import read_idx, write_idx
from chainrule.datasets.mnist import (
    DATASETS,
    DatasetSpec,
    IdxFile,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
)
from chainrule.datasets.tabular import (
    csv_feature_names,
    load_csv,
    load_csv_features,
    load_npz,
    train_val_split,
)

__all__ = [
    "DATASETS",
    "DatasetError",
    "DatasetSpec",
    "DatasetWarning",
    "DownloadError",
    "IdxFile",
    "cache_dir",
    "csv_feature_names",
    "download",
    "load_csv",
    "load_csv_features",
    "load_dataset",
    "load_fashion_mnist",
    "load_mnist",
    "load_npz",
    "read_idx",
    "train_val_split",
    "write_idx",
]
