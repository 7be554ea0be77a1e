"""chainrule: neural networks from scratch on NumPy, every gradient derived by the chain rule.

>>> import chainrule
>>> net = chainrule.Network.from_sizes([784, 100, 10], hidden="relu", loss="cross_entropy")
"""

import importlib as _importlib

from chainrule import backend, datasets, optimizers, schedules, serialization, training
from chainrule.activations import ACTIVATIONS, Activation, get_activation
from chainrule.backend import DeviceError
from chainrule.datasets import DatasetError
from chainrule.errors import (
    DivergenceError,
    ModelFileError,
    TrainingInterrupted,
    TrainingWarning,
)
from chainrule.gradcheck import GradcheckResult, gradcheck
from chainrule.layers import Dense, Dropout, Layer, Standardize
from chainrule.losses import LOSSES, Loss, get_loss
from chainrule.network import Network
from chainrule.serialization import load, save
from chainrule.training import History, fit

__version__ = "0.1.0"

# Modules imported on first use, so that `import chainrule` stays quick: `chainrule.metrics`
# works without `import chainrule.metrics` (PEP 562).
_LAZY_MODULES = frozenset({"explain", "export", "initializers", "metrics", "preprocess"})


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        return _importlib.import_module(f"chainrule.{name}")
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


__all__ = [
    "ACTIVATIONS",
    "DatasetError",
    "DeviceError",
    "DivergenceError",
    "History",
    "ModelFileError",
    "TrainingInterrupted",
    "TrainingWarning",
    "backend",
    "datasets",
    "fit",
    "load",
    "optimizers",
    "save",
    "schedules",
    "serialization",
    "training",
    "LOSSES",
    "Activation",
    "Dense",
    "Dropout",
    "GradcheckResult",
    "Layer",
    "Loss",
    "Network",
    "Standardize",
    "__version__",
    "get_activation",
    "get_loss",
    "gradcheck",
]
