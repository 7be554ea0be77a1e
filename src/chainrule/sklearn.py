"""scikit-learn estimators on chainrule networks: :class:`MLPClassifier` and :class:`MLPRegressor`.

They take the parameters scikit-learn's ``sklearn.neural_network`` estimators use for the same
concepts (``hidden_layer_sizes``, ``activation``, ``alpha``, ``batch_size``,
``learning_rate_init``, ``max_iter``, ``random_state``, ``early_stopping``,
``validation_fraction``, ``n_iter_no_change``, ``tol``, ``verbose``, ``warm_start``,
``shuffle``) plus chainrule's own (per-layer ``activation``, ``loss`` including ``"sse"``,
``optimizer``, ``dropout``, ``dtype``), and train with :func:`chainrule.fit`, so they work in a
``Pipeline``, ``GridSearchCV``, ``clone`` and the rest of scikit-learn::

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from chainrule.sklearn import MLPClassifier

    model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(64,)))
    model.fit(X_train, y_train).score(X_test, y_test)

``alpha`` is scikit-learn's L2 penalty. scikit-learn's gradient for a batch of ``b`` examples is
``(sum_i dE_i/dW + alpha * W) / b`` (``_backprop`` divides the penalty by the batch's size), i.e.
the batch-mean gradient plus ``(alpha / b) * W``; chainrule's coupled ``weight_decay`` adds
``weight_decay * W`` to the batch-mean gradient, so ``weight_decay = alpha / batch_size``
(exact for every full batch; the last, smaller batch of an epoch gets ``alpha / batch_size``
where scikit-learn gives it ``alpha / b_last``). Weight matrices only, never biases, in both.

The classifier takes one label per example, ``y`` of shape (n_samples,), or several: a
multilabel indicator matrix ``y`` of shape (n_samples, n_labels) of 0/1 (what scikit-learn's
``type_of_target`` calls ``"multilabel-indicator"``), learned as scikit-learn's MLPClassifier
does, with one sigmoid output per label; ``predict`` then returns an indicator matrix.

``X`` may be a scipy.sparse matrix or array (CSR, CSC, COO, ...). chainrule trains on dense
arrays: training densifies the whole of ``X``, and refuses with a ``ValueError`` when it would
take more than :data:`MAX_DENSE_BYTES`; prediction densifies ``X`` a few rows at a time
(:data:`SPARSE_CHUNK_BYTES` at most), so a large sparse ``X`` is never dense whole.

Needs scikit-learn >= 1.6 (``pip install 'chainrule[sklearn]'``); docs/sklearn.md has the
details.
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "chainrule.sklearn needs scikit-learn >= 1.6: pip install 'chainrule[sklearn]'"
    ) from exc
from scipy import sparse  # a dependency of scikit-learn
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from chainrule.activations import get_activation
from chainrule.initializers import _ALIASES as _INIT_ALIASES
from chainrule.initializers import init_weights
from chainrule.layers import Dropout
from chainrule.network import Network, check_sample_weight
from chainrule.optimizers import Optimizer, get_optimizer
from chainrule.training import Callback, StopTraining, _no_training_warning
from chainrule.training import fit as chainrule_fit

__all__ = ["MLPClassifier", "MLPRegressor"]

_ACTIVATION_ALIASES = {"logistic": "sigmoid"}
"""scikit-learn's activation names that chainrule spells differently."""

_HIDDEN_ACTIVATIONS = ("relu", "tanh", "sigmoid", "identity", "leaky_relu")
_AUTO_BATCH = 200  # scikit-learn's batch_size="auto" is min(200, n_samples)
_DEFAULT_LEARNING_RATE = 1e-3  # learning_rate_init's default: defers to an optimizer's own
_SEED_MAX = np.iinfo(np.int32).max

MAX_DENSE_BYTES = 2 * 2**30
"""The largest sparse ``X`` (or multilabel ``y``) ``fit`` and ``partial_fit`` densify, in bytes
as a dense array of the estimator's dtype (2 GiB); a larger one is refused with a
``ValueError`` saying how to reduce it."""

SPARSE_CHUNK_BYTES = 64 * 2**20
"""Prediction densifies a sparse ``X`` in chunks of rows of at most this many bytes (64 MiB),
at least one row per chunk."""


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: checks, the network, the training loop.

    A subclass sets :attr:`_losses` (its loss names -> chainrule's) and writes
    :meth:`_prepare_targets`, :meth:`_output` and :meth:`_validation_score`.
    """

    _losses: dict[str, str] = {}

    # -- parameters ------------------------------------------------------------------------

    def _check_params(self) -> dict:
        """The parameters, checked, in the form the network and fit take."""
        sizes = _hidden_sizes(self.hidden_layer_sizes)
        if isinstance(self.activation, str):
            names = [self.activation] * len(sizes)
        else:
            try:
                names = list(self.activation)
            except TypeError:
                names = None
            if names is None or len(names) != len(sizes):
                raise ValueError(
                    f"activation must be a name or one name per hidden layer "
                    f"({len(sizes)} here), got activation={self.activation!r}"
                )
        activations = []
        # with no hidden layer a name is still checked (it decides init="glorot"'s bound)
        named = names or ([self.activation] if isinstance(self.activation, str) else [])
        for name in named:
            if not isinstance(name, str):
                raise ValueError(f"activation names must be strings, got {name!r}")
            name = _ACTIVATION_ALIASES.get(name, name)
            # an unknown name raises, listing the valid ones
            if get_activation(name).name not in _HIDDEN_ACTIVATIONS:
                raise ValueError(
                    f"activation {name!r} is not for hidden layers; valid names: relu, tanh, "
                    "logistic (= sigmoid), identity, leaky_relu"
                )
            activations.append(name)
        for flag in ("shuffle", "warm_start", "early_stopping"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise ValueError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        verbose = self.verbose
        if not isinstance(verbose, (bool, np.bool_, numbers.Integral)) or verbose < 0:
            raise ValueError(f"verbose must be True, False or an int >= 0, got {verbose!r}")
        if self.init is not None:
            init_weights(self.init, 1, 1, np.random.default_rng(0))  # an unknown name raises
        if self.loss not in self._losses:
            raise ValueError(
                f"unknown loss {self.loss!r} for {type(self).__name__}; "
                f"valid names: {', '.join(self._losses)}"
            )
        _check_number("alpha", self.alpha, low=0.0)
        _check_number("learning_rate_init", self.learning_rate_init, low=0.0, low_open=True)
        _check_number("tol", self.tol, low=0.0)
        _check_number("validation_fraction", self.validation_fraction, 0.0, 1.0, True, True)
        _check_number("dropout", self.dropout, 0.0, 1.0, high_open=True)
        _check_int("max_iter", self.max_iter)
        _check_int("n_iter_no_change", self.n_iter_no_change)
        if self.batch_size != "auto":
            _check_int("batch_size", self.batch_size)
        try:
            dtype = None if self.dtype is None else np.dtype(self.dtype)
        except TypeError:
            dtype = None
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be 'float32' or 'float64', got dtype={self.dtype!r}")
        if not isinstance(self.optimizer, (str, dict, Optimizer)):
            raise ValueError(
                "optimizer must be a name (e.g. 'adam', 'sgd', 'momentum'), a config dict or "
                f"a chainrule.optimizers.Optimizer, got optimizer={self.optimizer!r}"
            )
        if isinstance(self.optimizer, dict) and "name" not in self.optimizer:
            raise ValueError(
                "an optimizer config dict needs a 'name' key (e.g. {'name': 'sgd', "
                f"'learning_rate': 0.1}}), got optimizer={self.optimizer!r}"
            )
        return {
            "sizes": sizes,
            "activations": activations[: len(sizes)],
            "named": activations,  # the same, and the one name given for no hidden layer
            "loss": self._losses[self.loss],
            "dtype": dtype,
            "optimizer": self._make_optimizer(),  # built here so that a bad one changes nothing
        }

    def _make_optimizer(self) -> Optimizer:
        """A fresh optimizer. Its learning rate is ``learning_rate_init`` for a name or a config
        dict without ``"learning_rate"``; a dict's or an instance's own otherwise, and then
        ``learning_rate_init`` must be left at its default or agree with it."""
        spec = self.optimizer
        instance = isinstance(spec, Optimizer)
        settings = spec if isinstance(spec, dict) else {}
        own_rate = instance or "learning_rate" in settings  # kept, not learning_rate_init
        if instance:
            optimizer = copy.deepcopy(spec)  # never train the parameter itself
            optimizer.reset()
        elif own_rate:
            optimizer = get_optimizer(spec)
        else:
            optimizer = get_optimizer(spec, learning_rate=self.learning_rate_init)
        # a decay set by hand (an instance's or a dict's own, not its class's default)
        own_decay = (instance or "weight_decay" in settings) and (
            optimizer.weight_decay != _default_decay(optimizer)
        )
        if own_decay and optimizer.weight_decay and self.alpha:
            raise ValueError(
                f"alpha={self.alpha!r} and the optimizer's own weight_decay="
                f"{optimizer.weight_decay!r} both set the weight decay; set it in one place "
                "(alpha=0 keeps the optimizer's)"
            )
        if not own_rate:
            return optimizer
        rate = self.learning_rate_init
        if rate != _DEFAULT_LEARNING_RATE and rate != optimizer.learning_rate:
            raise ValueError(
                f"learning_rate_init={rate!r} conflicts with the optimizer's own "
                f"learning_rate={optimizer.learning_rate!r}; set the learning rate in one place "
                f"(leave learning_rate_init at its default, {_DEFAULT_LEARNING_RATE}, or give "
                "the optimizer by name)"
            )
        return optimizer

    # -- training --------------------------------------------------------------------------

    def _fit(self, X, y, incremental: bool, classes=None, sample_weight=None):
        """``fit`` (``max_iter`` epochs, a fresh optimizer) or ``partial_fit`` (one epoch,
        the optimizer kept); both start from new weights on the first call."""
        settings = self._check_params()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True; use fit")
        first = not hasattr(self, "network_") or not (incremental or self.warm_start)
        X, y = validate_data(
            self,
            X,
            y,
            reset=first,
            dtype=settings["dtype"],
            accept_sparse=("csr", "csc"),  # other formats become CSR, checked finite
            **self._validate_y_options,
        )
        X = _densified(X, "X")
        weights = None
        if sample_weight is not None:  # checked, then as given (alpha's scale depends on it)
            if isinstance(sample_weight, numbers.Real):  # one number for all, as scikit-learn
                sample_weight = np.full(len(X), float(sample_weight))
            check_sample_weight(sample_weight, len(X))
            weights = np.asarray(sample_weight, dtype=np.float64)
        target = self._prepare_targets(y, first, classes, incremental)
        n_out, output, loss = self._output(settings["loss"], target)
        if not first:
            self._check_same_network(settings, n_out, loss)
        rng = check_random_state(self.random_state)
        init_seed, split_seed, shuffle_seed = (int(s) for s in rng.randint(_SEED_MAX, size=3))
        if first:
            self._initialize(settings, X.shape[1], n_out, output, loss, init_seed)
            self._partial_seed = shuffle_seed
        x_val = t_val = w_val = None
        if incremental:
            if not hasattr(self, "_optimizer"):
                self._optimizer = settings["optimizer"]
            # a different shuffle for every call, reproducible from random_state
            seq = np.random.SeedSequence([self._partial_seed, self.t_])
            shuffle_seed = int(seq.generate_state(1)[0])
            if getattr(self, "best_loss_", None) is None:
                self.best_loss_ = math.inf
        else:
            self._optimizer = settings["optimizer"]
            self.n_iter_ = 0
            self.best_loss_ = None if self.early_stopping else math.inf
            self.validation_scores_ = [] if self.early_stopping else None
            self.best_validation_score_ = -math.inf if self.early_stopping else None
            if self.early_stopping:
                X, x_val, target, t_val, weights, w_val = self._split(
                    X, target, split_seed, weights
                )
        self._train(X, target, x_val, t_val, incremental, shuffle_seed, weights, w_val)
        return self

    def _check_same_network(self, settings: dict, n_out: int, loss: str) -> None:
        """Training goes on with the fitted network (``warm_start`` or ``partial_fit``): every
        setting built into it must still describe it, or this names the first that does not."""
        net = self.network_
        dense = net.dense_layers
        dropout = [layer.rate for layer in net.layers if isinstance(layer, Dropout)]
        fitted = {
            "hidden_layer_sizes": (tuple(net.sizes[1:-1]), tuple(settings["sizes"])),
            "activation": (
                [layer.activation.name for layer in dense[:-1]],
                [get_activation(name).name for name in settings["activations"]],
            ),
            "loss": (net.loss_function.name, loss),
            "dtype": (str(net.dtype), str(settings["dtype"])),
            "dropout": (dropout[0] if dropout else 0.0, float(self.dropout)),
        }
        for name, (was, now) in fitted.items():
            if was != now:
                raise ValueError(
                    f"{name}={getattr(self, name)!r} does not match the fitted network "
                    f"({name} {was!r}), which warm_start and partial_fit train on; set "
                    "warm_start=False and call fit to start afresh"
                )
        if net.n_out != n_out:
            raise ValueError(
                f"the network has {net.n_out} outputs, the targets need {n_out}; "
                "set warm_start=False and call fit to start afresh"
            )

    def _initialize(self, settings: dict, n_features: int, n_out, output, loss, seed) -> None:
        """A new network (and fresh fitted attributes)."""
        self.network_ = Network.from_sizes(
            [n_features, *settings["sizes"], n_out],
            hidden=settings["activations"],
            output=output,
            loss=loss,
            seed=seed,
            dtype=settings["dtype"],
            dropout=self.dropout,
            init=self.init,
        )
        init = None if self.init is None else str(self.init).lower()
        if init is not None and _INIT_ALIASES.get(init, init) == "glorot":
            # scikit-learn's bound for logistic units, sqrt(2 / (n_in + n_out)): 1/sqrt(3) of
            # Glorot's, for each logistic hidden layer and, when all are, the output layer
            # (with no hidden layer, scikit-learn goes by the activation named)
            logistic = [get_activation(name).name == "sigmoid" for name in settings["named"]]
            narrowed = [*logistic[: len(settings["sizes"])], bool(logistic) and all(logistic)]
            for layer, narrow in zip(self.network_.dense_layers, narrowed):
                if narrow:
                    layer.weights *= np.sqrt(1 / 3)
        self.n_outputs_ = n_out
        self.out_activation_ = "logistic" if output == "sigmoid" else output  # sklearn's names
        self.n_layers_ = len(settings["sizes"]) + 2
        self.loss_curve_ = []
        self.n_iter_ = 0
        self.t_ = 0
        self.__dict__.pop("_optimizer", None)

    def _train(
        self, x, target, x_val, t_val, incremental: bool, seed: int, weights=None, w_val=None
    ) -> None:
        """Run :func:`chainrule.fit` with scikit-learn's bookkeeping and stopping rule;
        ``weights`` and ``w_val`` are the sample weights of the training and validation
        rows (or None)."""
        n_train = len(x)
        batch = min(_AUTO_BATCH if self.batch_size == "auto" else self.batch_size, n_train)
        # scikit-learn divides alpha by each batch's total weight; one weight decay for the
        # fit: alpha over b times the mean weight (the same with one batch per epoch)
        mean_weight = 1.0 if weights is None else _mean(weights)
        tracker = _EpochTracker(self, x_val, t_val, n_train, batch, incremental, w_val)
        tracker.mean_weight = mean_weight
        # no TrainingWarning for one epoch of a stream (at chance on the first calls, by
        # nature) nor for regression
        # nor for multilabel targets (no one most common class to compare with)
        quiet = incremental or not isinstance(self, ClassifierMixin) or target.ndim == 2
        with _no_training_warning() if quiet else contextlib.nullcontext():
            chainrule_fit(
                self.network_,
                x,
                target,
                epochs=1 if incremental else self.max_iter,
                batch_size=batch,
                optimizer=self._optimizer,
                # alpha/b: see the module docstring; alpha=0 keeps the optimizer's own decay
                weight_decay=self.alpha / (batch * mean_weight) if self.alpha else None,
                seed=seed,
                callbacks=[tracker],
                shuffle=self.shuffle,
                handle_sigint=False,
                sample_weight=weights,
            )
        if tracker.best_params is not None:  # early stopping keeps the best epoch's weights
            np.copyto(self.network_.parameter_vector, tracker.best_params)
        if not incremental and not tracker.stopped:
            warnings.warn(
                f"chainrule optimizer: maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _split(self, X, target, seed, weights=None):
        """``(x_train, x_val, t_train, t_val, w_train, w_val)`` for early stopping (the
        weights None without sample weights)."""
        # class indices only: multilabel rows are not stratified (nor by scikit-learn)
        stratify = target if getattr(self, "_stratify", False) and target.ndim == 1 else None
        if stratify is not None:  # stratified where every class can be on both sides
            counts = np.bincount(target)
            n_val = math.ceil(self.validation_fraction * len(target))
            n_classes = np.count_nonzero(counts)
            if counts[counts > 0].min() < 2 or not n_classes <= n_val <= len(target) - n_classes:
                stratify = None
        arrays = (X, target) if weights is None else (X, target, weights)
        x_train, x_val, t_train, t_val, *w = train_test_split(
            *arrays, test_size=self.validation_fraction, random_state=seed, stratify=stratify
        )
        w_train, w_val = w if w else (None, None)
        if len(x_val) < 2:
            raise ValueError(
                f"the validation set has {len(x_val)} example(s); increase validation_fraction "
                f"(now {self.validation_fraction}) or the size of the data set"
            )
        if w_train is not None and not (w_train.any() and w_val.any()):
            part = "training" if w_val.any() else "validation"
            raise ValueError(
                f"sample_weight is zero for every {part} example of the early-stopping split "
                f"(validation_fraction={self.validation_fraction})"
            )
        return x_train, x_val, t_train, t_val, w_train, w_val

    def _outputs(self, X) -> np.ndarray:
        """The network's outputs for checked ``X``, shape (n_samples, n_outputs); a sparse
        ``X`` is densified a chunk of rows at a time (:data:`SPARSE_CHUNK_BYTES`)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=self.network_.dtype, accept_sparse="csr")
        if not sparse.issparse(X):
            return self.network_.predict_proba(X)
        rows = max(1, SPARSE_CHUNK_BYTES // (X.shape[1] * X.dtype.itemsize))
        return np.concatenate(
            [
                self.network_.predict_proba(X[start : start + rows].toarray())
                for start in range(0, X.shape[0], rows)
            ]
        )

    # -- what the subclasses write ---------------------------------------------------------

    _validate_y_options: dict = {}

    def _prepare_targets(self, y, first: bool, classes, incremental: bool) -> np.ndarray:
        raise NotImplementedError

    def _output(self, loss: str, target: np.ndarray) -> tuple[int, str, str]:
        """``(n_outputs, output activation, chainrule loss name)`` for these targets."""
        raise NotImplementedError

    def _validation_score(self, x_val: np.ndarray, t_val: np.ndarray, w_val=None) -> float:
        """The score early stopping watches, weighted by ``w_val`` if given."""
        raise NotImplementedError

    # -- fitted attributes in scikit-learn's form ------------------------------------------

    @property
    def coefs_(self) -> list[np.ndarray]:
        """The weight matrices, ``coefs_[i]`` of shape (n_in, n_out) of layer ``i`` (views)."""
        check_is_fitted(self)
        return [layer.weights for layer in self.network_.dense_layers]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """The bias vectors, ``intercepts_[i]`` of shape (n_out,) of layer ``i`` (views)."""
        check_is_fitted(self)
        return [layer.biases for layer in self.network_.dense_layers]

    # -- pickling ----------------------------------------------------------------------------

    def __getstate__(self):
        state = dict(super().__getstate__())  # may be self.__dict__ itself: never edit that
        net = state.get("network_")
        if net is not None:  # a fresh copy: no cached batch arrays or references to inputs
            state["network_"] = net.copy()
        opt = state.get("_optimizer")
        if opt is not None:
            opt = copy.copy(opt)
            opt._bound = None  # the old parameter list: not worth pickling
            state["_optimizer"] = opt
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        net = self.__dict__.get("network_")
        if net is not None:
            # Pickle stores each layer's arrays apart from the one parameter vector they were
            # views of; a copy packs them into one vector again (what the optimizer updates).
            self.network_ = net.copy()


class _EpochTracker(Callback):
    """The per-epoch bookkeeping of scikit-learn's MLP: ``loss_curve_``, ``n_iter_``, ``t_``,
    the ``tol``/``n_iter_no_change`` stopping rule, the validation score and best weights."""

    def __init__(
        self, est: _BaseMLP, x_val, t_val, n_train: int, batch: int, incremental: bool, w_val=None
    ):
        self.est = est
        self.x_val, self.t_val, self.w_val = x_val, t_val, w_val
        self.mean_weight = 1.0  # of the training rows' sample weights
        self.n_train = n_train
        self.n_batches = -(-n_train // batch)
        self.incremental = incremental
        self.no_improvement = 0
        self.stopped = False
        self.best_params: np.ndarray | None = None

    def on_epoch_end(self, epoch: int, record: dict) -> None:
        est, net = self.est, self.est.network_
        # scikit-learn's epoch loss: mean batch loss plus, per batch, alpha/2 |W|^2 / b
        squares = sum(float(np.vdot(layer.weights, layer.weights)) for layer in net.dense_layers)
        penalty = 0.5 * est.alpha * squares * self.n_batches / (self.n_train * self.mean_weight)
        loss = record["loss"] + penalty
        est.loss_curve_.append(loss)
        est.loss_ = loss
        est.n_iter_ += 1
        est.t_ += self.n_train
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {loss:.8f}")
        if self.x_val is not None:
            score = est._validation_score(self.x_val, self.t_val, self.w_val)
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:.6f}")
            worse = score < est.best_validation_score_ + est.tol
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                if self.best_params is None:
                    self.best_params = net.parameter_vector.copy()
                else:
                    np.copyto(self.best_params, net.parameter_vector)
        else:
            worse = loss > est.best_loss_ - est.tol
            est.best_loss_ = min(est.best_loss_, loss)
        if self.incremental:
            return
        self.no_improvement = self.no_improvement + 1 if worse else 0
        if self.no_improvement > est.n_iter_no_change:
            self.stopped = True
            if est.verbose:
                what = "Validation score" if self.x_val is not None else "Training loss"
                print(
                    f"{what} did not improve more than tol={est.tol:f} for "
                    f"{est.n_iter_no_change} consecutive epochs. Stopping."
                )
            raise StopTraining


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multi-layer perceptron classifier trained by :func:`chainrule.fit`.

    ``y`` is one label per example, shape (n_samples,), or a multilabel indicator matrix of 0/1,
    shape (n_samples, n_labels): then one sigmoid output per label (binary cross-entropy with
    ``"log_loss"``), ``classes_`` is ``np.arange(n_labels)``, ``predict`` returns the indicator
    matrix of the labels with probability >= 0.5 and ``score`` is the subset accuracy (every
    label of a row right), as in scikit-learn. ``X`` may be sparse (densified: see the module
    docstring).

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Widths of the hidden layers; ``()`` for none (a linear model).
    activation : str or sequence of str, default="relu"
        Activation of the hidden layers, one name for all or one per hidden layer:
        ``"relu"``, ``"tanh"``, ``"logistic"`` (= ``"sigmoid"``), ``"identity"``,
        ``"leaky_relu"``.
    loss : {"log_loss", "cross_entropy", "sse", "mse"}, default="log_loss"
        ``"log_loss"`` = ``"cross_entropy"``: softmax outputs with cross-entropy, or for two
        classes one sigmoid output with binary cross-entropy (as scikit-learn). ``"sse"``
        (the notes' ``1/2 sum (label - out)**2``) and ``"mse"`` on one-hot targets, through a
        softmax output (one sigmoid output for two classes), so ``predict_proba`` rows sum to 1.
        Multilabel targets: one sigmoid output per label, with binary cross-entropy for
        ``"log_loss"``, else with ``"sse"`` or ``"mse"`` on the 0/1 targets.
    optimizer : str, dict or Optimizer, default="adam"
        A :mod:`chainrule.optimizers` name (``"adam"``, ``"sgd"``, ``"momentum"``,
        ``"nesterov"``, ``"adamw"``, ``"rmsprop"``), with learning rate
        ``learning_rate_init``; a config dict (``{"name": "sgd", "momentum": 0.9}``, or
        ``Optimizer.config()``); or an :class:`~chainrule.optimizers.Optimizer`, of which each
        ``fit`` trains a fresh copy. A dict's ``"learning_rate"`` and an instance's own are
        kept: ``learning_rate_init`` must then be left at its default or equal it (else
        ``ValueError``); a dict without ``"learning_rate"`` takes ``learning_rate_init``.
    alpha : float, default=1e-4
        scikit-learn's L2 penalty: ``weight_decay = alpha / batch_size`` (see the module
        docstring). 0 keeps the optimizer's own ``weight_decay``; an optimizer instance or dict
        that sets a non-zero one needs ``alpha=0`` (else ``ValueError``).
    batch_size : int or "auto", default="auto"
        Examples per update; ``"auto"`` is ``min(200, n_samples)``; clipped to ``n_samples``.
    learning_rate_init : float, default=1e-3
        The learning rate of an optimizer given by name (see ``optimizer``).
    max_iter : int, default=200
        Epochs at most, per ``fit``.
    shuffle : bool, default=True
        Shuffle the training set every epoch.
    random_state : int, RandomState or None, default=None
        Seeds the initial weights, dropout masks, the validation split and the shuffles.
    tol : float, default=1e-4
    n_iter_no_change : int, default=10
        Training stops when the loss (or, with ``early_stopping``, the validation score) has
        not improved by ``tol`` for more than ``n_iter_no_change`` consecutive epochs.
    verbose : bool, default=False
        Print the loss (and validation score) after every epoch.
    warm_start : bool, default=False
        ``fit`` continues from the weights of the previous fit (with a fresh optimizer). The
        settings built into the network (``hidden_layer_sizes``, ``activation``, ``loss``,
        ``dropout``, ``dtype``) and, for the classifier, the classes (the number of labels of a
        multilabel ``y``) must not change (else ``ValueError``; the same holds for
        ``partial_fit``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (stratified where every class can be on
        both sides; not for multilabel targets), stop on the validation accuracy (subset
        accuracy for multilabel targets) and keep the weights of the best epoch.
    validation_fraction : float, default=0.1
    dropout : float, default=0.0
        Dropout rate after each hidden layer, in training only.
    dtype : {"float32", "float64"}, default="float32"
        The network's dtype; inputs are converted to it.
    init : str or None, default="glorot"
        The initial weights: ``"glorot"`` (uniform on ``±sqrt(6 / (n_in + n_out))``, and on
        ``±sqrt(2 / (n_in + n_out))`` for logistic layers, scikit-learn's scheme), another
        :mod:`chainrule.initializers` name, or None for
        chainrule's default (He for ReLU layers, Glorot for the others).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (sorted), mapped to outputs ``0 .. n_classes - 1``; for multilabel
        targets ``np.arange(n_labels)``, the label columns.
    network_ : chainrule.Network
        The trained network.
    loss_curve_ : list of float
        The loss of each epoch: the mean of the batch losses plus the L2 penalty, as
        scikit-learn reports it.
    loss_ : float
        The last entry of ``loss_curve_``.
    n_iter_ : int
        Epochs run by the last ``fit`` (``partial_fit`` adds one per call).
    t_ : int
        Training examples seen over all epochs.
    best_loss_ : float or None
        The smallest training loss (None with ``early_stopping``).
    validation_scores_, best_validation_score_ : list of float, float
        With ``early_stopping``: the validation accuracy per epoch, and the best.
    coefs_, intercepts_ : lists of ndarray
        Views of the network's weight matrices and bias vectors, as in scikit-learn.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        When ``X`` has feature names.
    n_outputs_, n_layers_, out_activation_ : int, int, str

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from chainrule.sklearn import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=300,
    ...                     random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    _losses = {
        "log_loss": "cross_entropy",
        "cross_entropy": "cross_entropy",
        "sse": "sse",
        "mse": "mse",
    }
    _stratify = True
    # a multilabel indicator y is 2-D; a column of labels is raveled in _prepare_targets
    _validate_y_options = {"multi_output": True}

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        loss="log_loss",
        optimizer="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate_init=_DEFAULT_LEARNING_RATE,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        dropout=0.0,
        dtype="float32",
        init="glorot",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.optimizer = optimizer
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.dropout = dropout
        self.dtype = dtype
        self.init = init

    def fit(self, X, y, sample_weight=None):
        """Train on ``X`` (n_samples, n_features), dense or sparse, and labels ``y``
        (n_samples,) or a multilabel indicator matrix (n_samples, n_labels) of 0/1, with
        optional ``sample_weight`` (n_samples,) of numbers >= 0; returns self."""
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over ``(X, y)``, continuing from the current weights and optimizer state.

        ``classes`` (every label that will ever occur) is required on the first call; for a
        multilabel ``y`` (n_samples, n_labels) it is the label columns, ``np.arange(n_labels)``,
        which become ``classes_`` (as in scikit-learn).
        """
        return self._fit(X, y, incremental=True, classes=classes, sample_weight=sample_weight)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order;
        for multilabel targets, each label's probability, shape (n_samples, n_labels) (the
        rows need not sum to 1)."""
        out = self._outputs(X)
        if out.shape[1] == 1:  # two classes, one sigmoid output p = P(classes_[1])
            return np.concatenate([1 - out, out], axis=1)
        return out

    def predict_log_proba(self, X) -> np.ndarray:
        """``log(predict_proba(X))``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row, shape (n_samples,), labels from ``classes_``;
        for multilabel targets, the indicator matrix (n_samples, n_labels) of the labels with
        probability >= 0.5, in the dtype of the ``y`` fitted on."""
        proba = self.predict_proba(X)  # checks that the model is fitted
        if self._multilabel:  # p >= 0.5 is on, as for two classes
            return (proba >= 0.5).astype(self._indicator_dtype)
        if proba.shape[1] == 2:  # p >= 0.5 is class 1, as Network.predict (and a tie too)
            return self.classes_[(proba[:, 1] >= 0.5).astype(np.intp)]
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True  # a multilabel indicator y, as scikit-learn's
        tags.input_tags.sparse = True  # densified: MAX_DENSE_BYTES, SPARSE_CHUNK_BYTES
        return tags

    @property
    def _multilabel(self) -> bool:
        """Whether the fitted targets were a multilabel indicator matrix."""
        return getattr(self, "_indicator_dtype", None) is not None

    def _prepare_targets(self, y, first, classes, incremental):
        if sparse.issparse(y) and type_of_target(y) != "multilabel-indicator":
            raise TypeError(
                "Sparse data was passed for y, but dense data is required. Use '.toarray()' "
                "to convert to a dense numpy array."
            )
        if y.ndim == 2 and y.shape[1] == 1:  # a column of labels: (n_samples,), with a warning
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        kind = type_of_target(y) if y.ndim == 2 else None
        if kind not in (None, "multilabel-indicator"):
            raise ValueError(
                f"y of shape {y.shape} is {kind!r}, not a multilabel indicator matrix: "
                f"{type(self).__name__} takes one label per example, y of shape (n_samples,), "
                "or an indicator matrix (n_samples, n_labels) of 0/1; for columns of more "
                "than two classes, fit one classifier per column (e.g. "
                "sklearn.multioutput.MultiOutputClassifier)"
            )
        if not first and self._multilabel != (y.ndim == 2):
            was = (
                f"a multilabel y of {len(self.classes_)} labels"
                if self._multilabel
                else "a y of one label per example"
            )
            now = "a multilabel y" if y.ndim == 2 else "a y of one label per example"
            raise ValueError(
                f"the network was fitted on {was}, this is {now}; set warm_start=False and "
                "call fit to start afresh"
            )
        if y.ndim == 2:
            return self._prepare_indicator(y, first, classes, incremental)
        if not first and not incremental:  # warm_start: scikit-learn's rule
            labels = np.unique(y)
            if not np.array_equal(labels, self.classes_):
                raise ValueError(
                    "warm_start can only be used where y has the same classes as in the "
                    f"previous call to fit: previously {self.classes_.tolist()!r}, y has "
                    f"{labels.tolist()!r}; set warm_start=False to start afresh"
                )
        if incremental:
            if first and classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            if classes is not None and not first:
                self._check_same_classes(classes)
        if first:
            labels = np.unique(y if classes is None else np.asarray(classes))
            if len(labels) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 classes, got 1 class: "
                    f"{labels.tolist()!r}"
                )
            self.classes_ = labels
            self._indicator_dtype = None
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(
                f"y has labels not in classes_ {self.classes_.tolist()!r}: {unknown.tolist()!r}"
            )
        return np.searchsorted(self.classes_, y).astype(np.int64)

    def _prepare_indicator(self, y, first, classes, incremental):
        """A multilabel indicator ``y`` (n_samples, n_labels), checked, as the network's
        targets: ``classes_`` is ``np.arange(n_labels)``, as scikit-learn's."""
        y = _densified(y, "y")
        values = np.unique(y)
        if not np.isin(values, (0, 1)).all():
            raise ValueError(
                "a multilabel indicator y must hold 0 and 1 only (1: the example has the "
                f"column's label), got the values {values.tolist()!r}"
            )
        n_labels = y.shape[1]
        if incremental and first:
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit; for a multilabel "
                    f"y, the label columns: classes=np.arange({n_labels})"
                )
            if not np.array_equal(np.unique(classes), np.arange(n_labels)):
                raise ValueError(
                    f"classes={np.asarray(classes).tolist()!r} does not match the multilabel y "
                    f"of {n_labels} columns; classes are the label columns: "
                    f"classes=np.arange({n_labels})"
                )
        elif incremental and classes is not None:
            self._check_same_classes(classes)
        if not first and n_labels != len(self.classes_):
            call = "partial_fit" if incremental else "fit (warm_start)"
            raise ValueError(
                f"y has {n_labels} label columns, the network was fitted on "
                f"{len(self.classes_)}: {call} goes on with the same labels; set "
                "warm_start=False and call fit to start afresh"
            )
        if first:
            self.classes_ = np.arange(n_labels)
            self._indicator_dtype = y.dtype
        return y.astype(self.dtype)

    def _check_same_classes(self, classes) -> None:
        if not np.array_equal(self.classes_, np.unique(classes)):
            raise ValueError(
                f"classes={np.asarray(classes).tolist()!r} is not the same as on the first call "
                f"to partial_fit, {self.classes_.tolist()!r}"
            )

    def _output(self, loss, target):
        if target.ndim == 2:  # multilabel: one sigmoid output per label, as scikit-learn
            return target.shape[1], "sigmoid", self._sigmoid_loss(loss)
        n_classes = len(self.classes_)
        if n_classes == 2:
            return 1, "sigmoid", self._sigmoid_loss(loss)
        return n_classes, "softmax", loss

    @staticmethod
    def _sigmoid_loss(loss: str) -> str:
        """The loss for sigmoid outputs: binary cross-entropy for cross-entropy."""
        return "binary_cross_entropy" if loss == "cross_entropy" else loss

    def _validation_score(self, x_val, t_val, w_val=None):
        out = self.network_.predict_proba(x_val)
        if t_val.ndim == 2:  # subset accuracy: every label of the row right
            right = np.all((out >= 0.5) == (t_val == 1), axis=1)
        else:
            pred = (out[:, 0] >= 0.5) if out.shape[1] == 1 else out.argmax(axis=1)
            right = pred == t_val
        return float(np.average(right, weights=w_val))


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multi-layer perceptron regressor trained by :func:`chainrule.fit`.

    Identity outputs, one per target column. The parameters and attributes are those of
    :class:`MLPClassifier` except:

    Parameters
    ----------
    loss : {"squared_error", "sse", "mse"}, default="squared_error"
        ``"squared_error"`` = ``"sse"``: ``1/2 sum_k (y_k - out_k)**2`` per example, the batch
        mean (scikit-learn's "half squared error", the same gradient); ``"mse"`` divides by the
        number of outputs instead of 2.

    Attributes
    ----------
    validation_scores_, best_validation_score_
        With ``early_stopping``: the validation R^2 per epoch, and the best.

    ``predict`` returns shape (n_samples,) when ``y`` had one column, else (n_samples,
    n_outputs). Targets are not scaled: scale them yourself (e.g. with
    ``sklearn.compose.TransformedTargetRegressor``) if they are large.
    """

    _losses = {"squared_error": "sse", "sse": "sse", "mse": "mse"}
    _validate_y_options = {"multi_output": True, "y_numeric": True}

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        loss="squared_error",
        optimizer="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate_init=_DEFAULT_LEARNING_RATE,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        dropout=0.0,
        dtype="float32",
        init="glorot",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.optimizer = optimizer
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.dropout = dropout
        self.dtype = dtype
        self.init = init

    def fit(self, X, y, sample_weight=None):
        """Train on ``X`` (n_samples, n_features), dense or sparse, and ``y`` (n_samples,)
        or (n_samples, n_outputs), with optional ``sample_weight`` (n_samples,) of numbers
        >= 0; returns self."""
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``, continuing from the current weights and optimizer state."""
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def predict(self, X) -> np.ndarray:
        """Predictions, float64 of shape (n_samples,) for one target column, else
        (n_samples, n_outputs)."""
        out = self._outputs(X).astype(np.float64)  # float64, as scikit-learn's regressors
        return out.ravel() if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (n_samples, n_outputs)
        tags.input_tags.sparse = True  # densified: MAX_DENSE_BYTES, SPARSE_CHUNK_BYTES
        return tags

    def _prepare_targets(self, y, first, classes, incremental):
        if sparse.issparse(y):  # validate_data lets a sparse y through
            raise TypeError(
                "Sparse data was passed for y, but dense data is required. Use '.toarray()' "
                "to convert to a dense numpy array."
            )
        dtype = np.dtype(self.dtype)
        with np.errstate(over="ignore"):
            target = np.asarray(y, dtype=dtype)
        if not np.isfinite(target).all():  # validate_data checked y finite in float64
            raise ValueError(
                f"y has values too large for {dtype} (the network's dtype), largest "
                f"|y| = {np.max(np.abs(y)):g}; scale the targets (e.g. "
                "sklearn.compose.TransformedTargetRegressor) or use dtype='float64'"
            )
        return target.reshape(-1, 1) if target.ndim == 1 else target

    def _output(self, loss, target):
        return target.shape[1], "identity", loss

    def _validation_score(self, x_val, t_val, w_val=None):
        return float(r2_score(t_val, self.network_.predict_proba(x_val), sample_weight=w_val))


# -- checks ----------------------------------------------------------------------------------


def _mean(weights: np.ndarray) -> float:
    """The mean of weights >= 0 (not all 0) without overflow (1e308 each): as fractions of the
    largest, times the largest."""
    largest = float(weights.max())
    return float(np.mean(weights / largest)) * largest


def _densified(a, name: str):
    """``a`` as a dense array if it is sparse (else as it is), or a ValueError when the dense
    array would take more than :data:`MAX_DENSE_BYTES`."""
    if not sparse.issparse(a):
        return a
    n_bytes = a.shape[0] * a.shape[1] * a.dtype.itemsize
    if n_bytes > MAX_DENSE_BYTES:
        raise ValueError(
            f"sparse {name} of shape {a.shape} would take {n_bytes / 2**30:.1f} GiB as a dense "
            f"{a.dtype} array, more than chainrule.sklearn.MAX_DENSE_BYTES "
            f"({MAX_DENSE_BYTES / 2**30:g} GiB): chainrule trains on dense arrays. "
            + (
                "Reduce the features first (e.g. sklearn.decomposition.TruncatedSVD or "
                "sklearn.feature_selection.SelectKBest in the pipeline), or train"
                if name == "X"
                else "Train"
            )
            + " with partial_fit on a slice of rows at a time"
        )
    return a.toarray()


def _hidden_sizes(value) -> list[int]:
    if isinstance(value, numbers.Integral):
        sizes = [value]
    else:
        try:
            sizes = list(value)
        except TypeError:
            sizes = None
    if sizes is None or any(
        isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in sizes
    ):
        raise ValueError(
            f"hidden_layer_sizes must be positive integers, got hidden_layer_sizes={value!r}"
        )
    return [int(s) for s in sizes]


def _default_decay(optimizer: Optimizer) -> float | None:
    """The weight decay of a default instance of ``optimizer``'s class (AdamW's 0.004), or
    None if the class needs arguments."""
    try:
        return type(optimizer)().weight_decay
    except TypeError:
        return None


def _check_int(label: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{label} must be a positive integer, got {label}={value!r}")


def _check_number(
    label: str,
    value,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{label} must be a number in {left}{low}, {high}{right}, got {value!r}")
