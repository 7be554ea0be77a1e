"""chainrule.sklearn: scikit-learn's estimator checks, use in Pipeline and GridSearchCV, the
alpha -> weight_decay mapping against scikit-learn's own SGD steps, labels, multilabel targets,
sparse inputs, partial_fit, warm_start, early stopping, pickling and parameter checks."""

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn", minversion="1.6")

from scipy import sparse  # noqa: E402
from sklearn import neural_network  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import (  # noqa: E402
    load_iris,
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402
from sklearn.utils.multiclass import type_of_target  # noqa: E402

import chainrule.sklearn  # noqa: E402
from chainrule.optimizers import SGD, Adam, AdamW  # noqa: E402
from chainrule.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# Small max_iter settings trip scikit-learn's ConvergenceWarning on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# Small settings keep each of the checks' fits to a few milliseconds.
SMALL = dict(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=100)

FLOAT32_ONE_ROW = (
    "float32 products: a prediction for one row (a matrix-vector product in BLAS) and for "
    "many rows (matrix-matrix) may differ in the last bit, about 1e-7 relative; the check's "
    "tolerance is rtol=1e-7, below float32's resolution (eps 1.2e-7). Passes with "
    "dtype='float64' (the float64 instances below)."
)


FLOAT32_WEIGHTS = (
    "float32 sums: the weighted fit and the fit on repeated rows (one batch each, the check's "
    "data being small) agree to about 3e-6 relative, float32's rounding over 100 epochs, not "
    "to the check's rtol=1e-7. Passes with dtype='float64' (the float64 instances below)."
)


def expected_failed_checks(estimator):
    if estimator.dtype == "float32":
        return {
            "check_methods_subset_invariance": FLOAT32_ONE_ROW,
            "check_sample_weight_equivalence_on_dense_data": FLOAT32_WEIGHTS,
            "check_sample_weight_equivalence_on_sparse_data": FLOAT32_WEIGHTS,
        }
    return {}


@parametrize_with_checks(
    [
        MLPClassifier(**SMALL),
        MLPRegressor(**SMALL),
        MLPClassifier(**SMALL, dtype="float64"),
        MLPRegressor(**SMALL, dtype="float64"),
    ],
    expected_failed_checks=expected_failed_checks,
    xfail_strict=False,  # the float32 mismatch depends on the data and the BLAS
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# -- data --------------------------------------------------------------------------------------


def iris():
    return load_iris(return_X_y=True)


def regression(n=120, n_targets=1, seed=0):
    X, y = make_regression(n, 6, n_informative=4, n_targets=n_targets, noise=5, random_state=seed)
    return X, y / y.std(axis=0)


def classification(n=150, n_classes=3, seed=0):
    return make_classification(
        n, 6, n_informative=4, n_classes=n_classes, n_clusters_per_class=1, random_state=seed
    )


# -- use inside scikit-learn -------------------------------------------------------------------


def test_classifier_in_pipeline_and_grid_search():
    X, y = iris()
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=150, random_state=0))
    grid = GridSearchCV(
        pipe,
        {
            "mlpclassifier__hidden_layer_sizes": [(4,), (16,)],
            "mlpclassifier__learning_rate_init": [1e-3, 1e-2],
        },
        cv=3,
    ).fit(X, y)
    scores = grid.cv_results_["mean_test_score"]
    assert len(scores) == 4 and grid.best_score_ > 0.9
    assert grid.best_params_["mlpclassifier__learning_rate_init"] == 1e-2  # 150 slow epochs
    assert scores.min() < grid.best_score_ - 0.05  # are too few at 1e-3: the search can tell
    assert grid.score(X, y) > 0.95
    best = grid.best_estimator_[-1]
    assert best.n_features_in_ == 4 and list(best.classes_) == [0, 1, 2]


def test_regressor_in_pipeline_and_grid_search():
    X, y = regression()
    pipe = make_pipeline(StandardScaler(), MLPRegressor(max_iter=150, random_state=0))
    grid = GridSearchCV(
        pipe,
        {"mlpregressor__alpha": [1e-4, 1e-1], "mlpregressor__activation": ["relu", ["tanh"]]},
        cv=3,
    ).fit(X, y)
    assert grid.best_score_ > 0.8  # R^2
    assert grid.predict(X[:5]).shape == (5,)


def test_get_params_set_params_and_clone():
    opt = SGD(learning_rate=0.05, momentum=0.9)
    est = MLPClassifier(hidden_layer_sizes=(5, 3), activation=["tanh", "relu"], optimizer=opt)
    params = est.get_params()
    assert params["hidden_layer_sizes"] == (5, 3) and params["optimizer"] is opt
    assert params["dtype"] == "float32" and params["loss"] == "log_loss"
    copy = clone(est.set_params(alpha=0.5, dropout=0.1))
    assert copy.alpha == 0.5 and copy.dropout == 0.1
    assert copy.optimizer is not opt and copy.optimizer.config() == opt.config()


# -- alpha: exactly scikit-learn's L2 penalty --------------------------------------------------


def copy_weights(ours, theirs):
    for mine, w in zip(ours.coefs_, theirs.coefs_):
        mine[...] = w
    for mine, b in zip(ours.intercepts_, theirs.intercepts_):
        mine[...] = b


@pytest.mark.parametrize(
    "kind, n", [("regressor", 1), ("regressor", 2), ("classifier", 2), ("classifier", 3)]
)
def test_alpha_matches_sklearn_sgd_steps(kind, n):
    """An epoch of plain SGD in 3 full batches, from the same weights, in float64: the
    weights agree with scikit-learn's to rounding, so weight_decay = alpha / batch_size is
    scikit-learn's penalty (alpha / n_samples would not be)."""
    common = dict(
        hidden_layer_sizes=(7, 5),
        activation="tanh",
        alpha=0.3,
        batch_size=20,
        learning_rate_init=0.1,
        shuffle=False,
    )
    sk_common = dict(common, solver="sgd", momentum=0.0, random_state=0)
    if kind == "regressor":
        X, y = regression(60, n_targets=n)
        ours = MLPRegressor(**common, optimizer="sgd", dtype="float64")
        theirs = neural_network.MLPRegressor(**sk_common)
        fit_args = {}
    else:
        X, y = classification(60, n)
        ours = MLPClassifier(**common, optimizer="sgd", dtype="float64")
        theirs = neural_network.MLPClassifier(**sk_common)
        fit_args = {"classes": np.unique(y)}
    ours.partial_fit(X, y, **fit_args)  # builds both networks
    theirs.partial_fit(X, y, **fit_args)
    copy_weights(ours, theirs)
    start = [a.copy() for a in theirs.coefs_ + theirs.intercepts_]
    ours.partial_fit(X, y)
    theirs.partial_fit(X, y)
    for mine, w in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(mine, w, rtol=1e-10, atol=1e-12)
    # loss_curve_ adds alpha/2 |W|^2 per batch as scikit-learn does (with end-of-epoch weights).
    # scikit-learn reports half the squared error averaged over the outputs too, though its
    # gradient is that of the sum over outputs (ours, "sse"): compare one output only.
    if kind == "classifier" or n == 1:
        np.testing.assert_allclose(ours.loss_curve_[-1], theirs.loss_curve_[-1], rtol=0.02)
    # weight_decay = alpha / n_samples (a penalty on the whole data set's mean) is not it
    for mine, a in zip(ours.coefs_ + ours.intercepts_, start):
        mine[...] = a
    ours.set_params(alpha=0.3 * 20 / 60).partial_fit(X, y)
    assert not np.allclose(ours.coefs_[0], theirs.coefs_[0], rtol=1e-4, atol=1e-6)


# -- labels --------------------------------------------------------------------------------------


def test_string_labels_binary_one_sigmoid_output():
    X, y01 = classification(100, 2)
    y = np.where(y01 == 1, "spam", "ham")
    clf = MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.02, max_iter=200)
    clf.set_params(random_state=0, n_iter_no_change=200).fit(X, y)
    assert list(clf.classes_) == ["ham", "spam"]
    assert clf.network_.n_out == 1 and clf.out_activation_ == "logistic"
    assert clf.network_.loss_function.name == "binary_cross_entropy"
    proba = clf.predict_proba(X)
    assert proba.shape == (100, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(proba[:, 1], clf.network_.predict_proba(X)[:, 0], rtol=1e-6)
    assert set(clf.predict(X)) == {"ham", "spam"}
    assert clf.score(X, y) > 0.9
    # at p = 0.5 exactly (every parameter zero) the class is the one Network.predict names
    clf.network_.parameter_vector[:] = 0
    assert clf.network_.predict(X[:3]).tolist() == [1, 1, 1]
    assert clf.predict(X[:3]).tolist() == ["spam", "spam", "spam"]


def test_non_contiguous_integer_labels():
    X, y = classification(150, 3)
    labels = np.array([-5, 10, 42])[y]
    clf = MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.02, max_iter=200)
    clf.set_params(random_state=0).fit(X, labels)
    assert list(clf.classes_) == [-5, 10, 42]
    assert clf.network_.n_out == 3 and clf.out_activation_ == "softmax"
    assert clf.predict(X).dtype == labels.dtype
    assert clf.score(X, labels) > 0.85


@pytest.mark.parametrize("loss", ["sse", "mse"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_squared_losses_give_probabilities(loss, n_classes):
    X, y = classification(120, n_classes)
    clf = MLPClassifier(hidden_layer_sizes=(8,), loss=loss, learning_rate_init=0.02, max_iter=150)
    clf.set_params(random_state=0, n_iter_no_change=150).fit(X, y)
    assert clf.network_.loss_function.name == loss
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1, rtol=1e-5)
    assert clf.score(X, y) > 0.8


def test_one_class_and_unknown_labels_are_refused():
    X, y = classification(40, 2)
    with pytest.raises(ValueError, match="at least 2 classes, got 1 class"):
        MLPClassifier().fit(X, np.zeros(40, int))
    clf = MLPClassifier(**SMALL).partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match=r"labels not in classes_ \[0, 1\]: \[7\]"):
        clf.partial_fit(X, np.where(y == 1, 7, 0))
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        MLPClassifier().partial_fit(X, y)


# -- partial_fit, warm_start, early stopping, stopping rule -------------------------------------


def test_partial_fit_continues_exactly_like_fit():
    """Three partial_fit calls (no shuffling) give fit's weights bit for bit: same initial
    weights, the optimizer's state kept between calls."""
    X, y = classification(90, 3)
    settings = dict(hidden_layer_sizes=(8,), batch_size=32, shuffle=False, random_state=3)
    fitted = MLPClassifier(**settings, max_iter=3, n_iter_no_change=10)
    with pytest.warns(ConvergenceWarning):
        fitted.fit(X, y)
    partial = MLPClassifier(**settings)
    for _ in range(3):
        partial.partial_fit(X, y, classes=[0, 1, 2])
    assert partial._optimizer.iterations == 9
    assert partial.n_iter_ == 3 and partial.t_ == 270
    for a, b in zip(fitted.coefs_ + fitted.intercepts_, partial.coefs_ + partial.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert partial.loss_curve_ == fitted.loss_curve_


def test_pickle_keeps_training_state():
    """A pickled model predicts the same and goes on training exactly as the original (Adam's
    moments included; the layers' arrays are views of one parameter vector again)."""
    X, y = regression(80)
    model = MLPRegressor(hidden_layer_sizes=(6,), random_state=0).partial_fit(X, y)
    net, optimizer = model.network_, model._optimizer
    restored = pickle.loads(pickle.dumps(model))
    assert model.network_ is net and model._optimizer is optimizer  # pickling changes nothing
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    net = restored.network_
    assert all(np.shares_memory(w, net.parameter_vector) for w in restored.coefs_)
    model.partial_fit(X, y)
    restored.partial_fit(X, y)
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_network_file_with_classes_predicts_like_the_classifier(tmp_path, n_classes):
    """docs/sklearn.md's pickle-free route: the network in a chainrule model file, classes_ in
    its metadata, and the classifier's decision rule on the outputs."""
    import chainrule

    X, y = classification(90, n_classes)
    labels = np.array(["ham", "spam", "eggs"])[y]
    clf = MLPClassifier((6,), max_iter=20, random_state=0).fit(X, labels)
    path = tmp_path / "clf.npz"
    chainrule.save(clf.network_, path, metadata={"classes": clf.classes_.tolist()})

    net, meta = chainrule.load(path, with_metadata=True)
    classes = np.array(meta["classes"])
    out = net.predict_proba(X)  # (n, 1) sigmoid for two classes, else softmax
    pred = classes[(out[:, 0] > 0.5).astype(int) if out.shape[1] == 1 else out.argmax(axis=1)]
    np.testing.assert_array_equal(pred, clf.predict(X))
    np.testing.assert_array_equal(out, clf.network_.predict_proba(X))


def test_warm_start_continues_from_the_weights():
    X, y = regression(100)
    model = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, warm_start=True, random_state=0)
    model.fit(X, y)
    net, first = model.network_, list(model.loss_curve_)
    model.fit(X, y)
    assert model.network_ is net and model.n_iter_ == 5
    assert model.loss_curve_[:5] == first and len(model.loss_curve_) == 10
    assert model.loss_curve_[-1] < first[-1]
    cold = clone(model).set_params(warm_start=False).fit(X, y)
    assert cold.loss_curve_ == first


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"hidden_layer_sizes": (9, 9)},
            r"hidden_layer_sizes=\(9, 9\) .* \(hidden_layer_sizes \(4,\)\)",
        ),
        ({"activation": "tanh"}, r"activation='tanh' .* \(activation \['relu'\]\)"),
        ({"dropout": 0.5}, r"dropout=0.5 .* \(dropout 0.0\)"),
        ({"dtype": "float64"}, r"dtype='float64' .* \(dtype 'float32'\)"),
        ({"loss": "sse"}, r"loss='sse' .* \(loss 'cross_entropy'\)"),
    ],
)
def test_continuing_refuses_a_changed_architecture(change, message):
    """warm_start and partial_fit train the fitted network: a setting built into it that no
    longer describes it is an error, not silently ignored; fit with warm_start=False starts
    afresh."""
    X, y = iris()
    clf = MLPClassifier((4,), warm_start=True, max_iter=3, random_state=0).fit(X, y)
    net, weights = clf.network_, clf.network_.parameter_vector.copy()
    clf.set_params(**change)
    with pytest.raises(ValueError, match=message + ".*set warm_start=False"):
        clf.fit(X, y)
    with pytest.raises(ValueError, match=message):
        clf.partial_fit(X, y)
    assert clf.network_ is net
    np.testing.assert_array_equal(net.parameter_vector, weights)
    fresh = clf.set_params(warm_start=False).fit(X, y).network_
    assert fresh is not net and fresh.config() != net.config()


def test_continuing_accepts_other_spellings_and_training_settings():
    X, y = iris()
    clf = MLPClassifier((4,), activation="logistic", warm_start=True, max_iter=2).fit(X, y)
    net = clf.network_
    clf.set_params(hidden_layer_sizes=4, activation=["sigmoid"], loss="cross_entropy")
    clf.set_params(alpha=0.1, learning_rate_init=0.01, batch_size=16, optimizer="sgd")
    assert clf.fit(X, y).network_ is net and clf.partial_fit(X, y).network_ is net
    X, Y = regression(60, n_targets=2)
    reg = MLPRegressor((4,), warm_start=True, max_iter=2).fit(X, Y)
    with pytest.raises(ValueError, match="loss='mse' does not match"):
        reg.set_params(loss="mse").fit(X, Y)
    with pytest.raises(ValueError, match="the network has 2 outputs, the targets need 1"):
        reg.set_params(loss="squared_error").fit(X, Y[:, 0])


def test_warm_start_needs_the_same_classes_as_sklearn():
    """As scikit-learn's MLPClassifier: a warm-started fit on y with other classes is refused;
    partial_fit still takes a batch with some of the classes."""
    X, y = iris()
    ours = MLPClassifier((4,), warm_start=True, max_iter=2).fit(X, y)
    theirs = neural_network.MLPClassifier((4,), warm_start=True, max_iter=2).fit(X, y)
    for est in (ours, theirs):
        with pytest.raises(
            ValueError, match="warm_start can only be used where .?y.? has the same"
        ):
            est.fit(X[y < 2], y[y < 2])
    with pytest.raises(ValueError, match=r"previously \[0, 1, 2\], y has \[0, 1, 5\]"):
        ours.fit(X, np.where(y == 2, 5, y))
    assert ours.partial_fit(X[y < 2], y[y < 2]).n_iter_ == 3
    assert ours.set_params(warm_start=False).fit(X[y < 2], y[y < 2]).classes_.tolist() == [0, 1]


class RecordsValidationSet(MLPClassifier):
    def _split(self, X, target, seed, weights=None):
        parts = super()._split(X, target, seed, weights)
        self.validation_set = parts[1], parts[3]
        self._split_weights = parts[5]  # the validation rows' weights (None without)
        return parts


def test_early_stopping_keeps_the_best_epoch():
    X, y = classification(300, 3, seed=1)
    clf = RecordsValidationSet(
        hidden_layer_sizes=(16,),
        learning_rate_init=0.05,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=5,
        max_iter=300,
        random_state=3,  # a run whose last epoch is worse than its best
    ).fit(X, y)
    scores = clf.validation_scores_
    assert clf.n_iter_ == len(scores) < 300 and clf.best_loss_ is None
    assert clf.best_validation_score_ == max(scores)
    best = int(np.argmax(scores))
    assert len(scores) - 1 - best > clf.n_iter_no_change  # stopped after no improvement
    x_val, t_val = clf.validation_set  # 60 examples, stratified
    assert len(t_val) == 60 and np.bincount(t_val).tolist() == [20, 20, 20]
    assert scores[-1] < clf.best_validation_score_  # so the last epoch's weights were replaced
    assert np.mean(clf.network_.predict(x_val) == t_val) == clf.best_validation_score_


def test_early_stopping_on_classes_too_small_to_stratify():
    """scikit-learn fits these (it stratifies binary problems only): a class of one example,
    and a validation set smaller than the number of classes; the split is then not
    stratified, where a stratified one could not be made."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 5))
    y = rng.integers(0, 3, 500)
    y[0] = 3
    clf = MLPClassifier(hidden_layer_sizes=(4,), early_stopping=True, max_iter=3,
                        random_state=0).fit(X, y)  # fmt: skip
    assert clf.classes_.tolist() == [0, 1, 2, 3] and len(clf.validation_scores_) == 3
    small = MLPClassifier(hidden_layer_sizes=(4,), early_stopping=True, max_iter=3,
                          random_state=0)  # fmt: skip
    small.fit(rng.normal(size=(25, 5)), np.arange(25) % 5)  # 3 for validation, 5 classes
    assert len(small.validation_scores_) == 3


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_initial_weights_are_sklearns_glorot_uniform_unless_asked():
    X, y = regression(200)
    limit = np.sqrt(6 / (6 + 100))  # scikit-learn's bound for a 6 -> 100 layer

    def first_weights(**params):  # a learning rate that leaves the initial weights
        model = MLPRegressor(learning_rate_init=1e-12, max_iter=1, random_state=0, **params)
        return model.fit(X, y).coefs_[0]

    w = first_weights()
    assert np.abs(w).max() <= limit and np.std(w) == pytest.approx(limit / np.sqrt(3), rel=0.1)
    assert np.std(first_weights(init="he")) == pytest.approx(np.sqrt(2 / 6), rel=0.1)
    relu_default = first_weights(init=None)  # chainrule's own default: He for ReLU
    np.testing.assert_array_equal(relu_default, first_weights(init="he"))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_glorot_narrows_to_sklearns_bound_for_logistic_layers():
    """scikit-learn draws every layer of a logistic network on ±sqrt(2 / (n_in + n_out));
    with one activation per hidden layer, each logistic layer (and the output layer when all
    are) is narrowed."""
    X, y = regression(200)

    def weights(**params):  # a learning rate that leaves the initial weights
        model = MLPRegressor(hidden_layer_sizes=(100, 50), learning_rate_init=1e-12, max_iter=1,
                             random_state=0, **params)  # fmt: skip
        return model.fit(X, y).coefs_

    sizes = [6, 100, 50, 1]
    for activation, narrowed in (
        ("logistic", [True, True, True]),
        ("relu", [False, False, False]),
        (["relu", "logistic"], [False, True, False]),
    ):
        for w, n_in, n_out, narrow in zip(
            weights(activation=activation), sizes, sizes[1:], narrowed
        ):
            bound = np.sqrt((2 if narrow else 6) / (n_in + n_out))
            assert np.abs(w).max() <= bound * (1 + 1e-6)
            assert np.abs(w).max() > bound * 0.7  # the whole range used, not a narrower one
    logistic_default = weights(activation="logistic", init=None)[0]  # chainrule's own Glorot
    assert np.abs(logistic_default).max() > np.sqrt(2 / 106) * 1.2
    spelled = weights(activation="logistic", init="Glorot")[0]  # names in any case
    np.testing.assert_array_equal(spelled, weights(activation="logistic")[0])

    def no_hidden(activation):  # scikit-learn goes by the activation named
        model = MLPRegressor(hidden_layer_sizes=(), activation=activation, max_iter=1,
                             learning_rate_init=1e-12, random_state=0)  # fmt: skip
        return np.abs(model.fit(X, y).coefs_[0]).max()

    assert no_hidden("relu") <= np.sqrt(6 / 7)  # the same draw, only the logistic narrowed
    assert no_hidden("relu") / no_hidden("logistic") == pytest.approx(np.sqrt(3), rel=1e-5)
    with pytest.raises(ValueError, match="unknown activation 'Logistic'"):
        no_hidden("Logistic")  # checked without hidden layers too, as with them


def test_partial_fit_streams_without_training_warnings():
    import warnings

    from chainrule.errors import TrainingWarning

    X, y = classification(60, 2)
    clf = MLPClassifier(hidden_layer_sizes=(4,), learning_rate_init=1e-9, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingWarning)
        clf.partial_fit(X * 0, y, classes=[0, 1])  # one epoch of a stream, at chance
        MLPRegressor(hidden_layer_sizes=(4,), max_iter=2).fit(X * 0, y)  # 0/1: regression
    with pytest.warns(TrainingWarning, match="no better than always answering"):
        clf.set_params(max_iter=2).fit(X * 0, y)  # inputs that say nothing: fit says so


def test_tol_stopping_rule_matches_sklearn():
    """With a huge tol no epoch counts as an improvement: both libraries stop after the same
    number of epochs, n_iter_no_change + 2."""
    X, y = classification(60, 2)
    settings = dict(hidden_layer_sizes=(4,), tol=1e9, n_iter_no_change=3, random_state=0)
    ours = MLPClassifier(**settings).fit(X, y)
    theirs = neural_network.MLPClassifier(**settings).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 5


def test_convergence_warning_when_max_iter_is_reached():
    X, y = regression(50)
    with pytest.warns(ConvergenceWarning, match=r"maximum iterations \(3\)"):
        MLPRegressor(hidden_layer_sizes=(4,), max_iter=3).fit(X, y)


# -- chainrule's own parameters ------------------------------------------------------------------


def test_chainrule_parameters_reach_the_network():
    X, y = classification(80, 3)
    opt = Adam(learning_rate=0.01)
    clf = MLPClassifier(
        hidden_layer_sizes=(6, 5),
        activation=["tanh", "logistic"],
        optimizer=opt,
        dropout=0.25,
        dtype="float64",
        max_iter=5,
        random_state=0,
    ).fit(X, y)
    net = clf.network_
    assert [layer.activation.name for layer in net.dense_layers] == ["tanh", "sigmoid", "softmax"]
    assert sum(type(layer).__name__ == "Dropout" for layer in net.layers) == 2
    assert net.dtype == np.float64 and clf.predict_proba(X).dtype == np.float64
    assert clf.n_layers_ == 4 and [w.shape for w in clf.coefs_] == [(6, 6), (6, 5), (5, 3)]
    assert opt.iterations == 0  # the parameter is never trained, a copy is
    assert clf._optimizer is not opt and clf._optimizer.iterations == 5


def test_optimizer_learning_rate_from_one_place():
    """learning_rate_init is the rate of an optimizer given by name (or by a config dict
    without one); a dict's or an instance's own rate is kept, and learning_rate_init must then
    be left at its default or agree with it."""
    X, y = classification(60, 3)

    def rate(optimizer, **params):
        clf = MLPClassifier((4,), optimizer=optimizer, max_iter=1, **params).fit(X, y)
        return clf._optimizer.learning_rate

    for own in (SGD(learning_rate=0.5), SGD(learning_rate=0.5).config()):
        assert rate(own) == 0.5
        assert rate(own, learning_rate_init=0.5) == 0.5
        with pytest.raises(ValueError, match=r"learning_rate_init=0.01 conflicts with the "):
            rate(own, learning_rate_init=0.01)
    assert rate({"name": "sgd", "learning_rate": 0.5}) == 0.5
    assert rate({"name": "momentum"}, learning_rate_init=0.02) == 0.02
    assert rate("sgd", learning_rate_init=0.02) == 0.02
    assert rate("sgd") == 1e-3
    clf = MLPClassifier((4,), optimizer={"name": "sgd", "learning_rate": 0.5})
    clf.set_params(learning_rate_init=0.1)
    with pytest.raises(ValueError, match=r"learning_rate=0.5; set the learning rate in one"):
        clf.fit(X, y)
    assert not hasattr(clf, "network_")  # refused before anything was built


def test_alpha_or_the_optimizers_weight_decay_never_both():
    X, y = classification(60, 2)
    decoupled = AdamW(weight_decay=0.01)
    clf = MLPClassifier(hidden_layer_sizes=(4,), optimizer=decoupled, max_iter=2, alpha=0)
    assert clf.fit(X, y)._optimizer.weight_decay == 0.01
    for optimizer in (decoupled, decoupled.config()):  # the default alpha too: one place
        with pytest.raises(ValueError, match=r"alpha=0\.0001 and the optimizer's own "
                           r"weight_decay=0\.01 both set the weight decay; set it in one "
                           r"place \(alpha=0 keeps the optimizer's\)"):  # fmt: skip
            clf.set_params(alpha=1e-4, optimizer=optimizer).fit(X, y)
    clf.set_params(alpha=0.3, batch_size=20, optimizer=AdamW(weight_decay=0.0))
    assert clf.fit(X, y)._optimizer.weight_decay == 0.015  # alpha / batch_size
    # by name, in a dict without the key or as a default instance, the optimizer's default
    # decay (AdamW's 0.004) gives way to alpha, as documented
    for optimizer in ("adamw", {"name": "adamw"}, {"name": "adamw", "learning_rate": 1e-3},
                      AdamW(), AdamW().config()):  # fmt: skip
        assert clf.set_params(optimizer=optimizer).fit(X, y)._optimizer.weight_decay == 0.015
    assert decoupled.weight_decay == 0.01


def test_regressor_multioutput_and_no_hidden_layer():
    X, Y = regression(100, n_targets=3)
    reg = MLPRegressor(hidden_layer_sizes=(), learning_rate_init=0.05, max_iter=300)
    reg.set_params(random_state=0, loss="mse").fit(X, Y)
    assert reg.network_.sizes == [6, 3] and reg.n_outputs_ == 3
    pred = reg.predict(X)
    assert pred.shape == (100, 3) and pred.dtype == np.float64
    assert reg.score(X, Y) > 0.9


def test_verbose_prints_only_when_asked(capsys):
    X, y = regression(40)
    MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, tol=1e9, n_iter_no_change=1).fit(X, y)
    assert capsys.readouterr().out == ""
    model = MLPRegressor(
        hidden_layer_sizes=(4,), max_iter=5, tol=1e9, n_iter_no_change=1, verbose=True
    ).fit(X, y)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"Iteration 1, loss = {model.loss_curve_[0]:.8f}"
    assert out[-1].startswith("Training loss did not improve more than tol=")


# -- multilabel ----------------------------------------------------------------------------------


def multilabel(n=600, n_labels=4, seed=0):
    X, Y = make_multilabel_classification(n, 8, n_classes=n_labels, n_labels=2, random_state=seed)
    return StandardScaler().fit_transform(X), Y


def test_multilabel_learns_every_label_as_sklearn_does():
    X, Y = multilabel()
    X_train, X_test, Y_train, Y_test = X[:300], X[300:], Y[:300], Y[300:]
    settings = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=100)
    clf = MLPClassifier(**settings, random_state=0).fit(X_train, Y_train)
    assert clf.classes_.tolist() == [0, 1, 2, 3] and clf.n_outputs_ == 4
    assert clf.network_.n_out == 4 and clf.out_activation_ == "logistic"
    assert clf.network_.loss_function.name == "binary_cross_entropy"

    pred, proba = clf.predict(X_test), clf.predict_proba(X_test)
    assert pred.shape == proba.shape == (300, 4)
    assert pred.dtype == Y.dtype and type_of_target(pred) == "multilabel-indicator"
    assert proba.dtype == np.float32 and ((proba > 0) & (proba < 1)).all()
    assert not np.allclose(proba.sum(axis=1), 1)  # one probability per label, not a softmax
    np.testing.assert_array_equal(pred, proba >= 0.5)
    np.testing.assert_array_equal(np.log(proba), clf.predict_log_proba(X_test))

    # subset accuracy: every label of a row right
    subset = np.mean(np.all(pred == Y_test, axis=1))
    assert clf.score(X_test, Y_test) == subset < np.mean(pred == Y_test)
    rows, counts = np.unique(Y_train, axis=0, return_counts=True)
    always_the_commonest_row = np.mean(np.all(Y_test == rows[counts.argmax()], axis=1))
    assert subset > 2 * always_the_commonest_row  # 0.42 against 0.14
    majority = np.maximum(Y_test.mean(axis=0), 1 - Y_test.mean(axis=0))
    assert (np.mean(pred == Y_test, axis=0) > majority + 0.1).all()  # each label learned
    theirs = neural_network.MLPClassifier(**settings, random_state=0).fit(X_train, Y_train)
    assert subset > theirs.score(X_test, Y_test) - 0.05  # 0.42 and 0.41


def test_multilabel_indicator_dtypes_and_the_tie():
    X, Y = multilabel(60, 3)
    for dtype in (bool, np.float64, np.int32):
        clf = MLPClassifier(**SMALL, random_state=0).fit(X, Y.astype(dtype))
        assert clf.predict(X).dtype == dtype
    # p = 0.5 exactly (every parameter zero) is on, as for two classes
    clf.network_.parameter_vector[:] = 0
    assert clf.predict(X[:2]).tolist() == [[1, 1, 1], [1, 1, 1]]


@pytest.mark.parametrize("loss", ["sse", "mse"])
def test_multilabel_squared_losses_on_sigmoid_outputs(loss):
    X, Y = multilabel(300)
    clf = MLPClassifier((16,), loss=loss, learning_rate_init=0.01, max_iter=100, random_state=0)
    clf.fit(X, Y)
    assert clf.network_.loss_function.name == loss and clf.out_activation_ == "logistic"
    majority = np.maximum(Y.mean(axis=0), 1 - Y.mean(axis=0))
    assert (np.mean(clf.predict(X) == Y, axis=0) > majority + 0.1).all()


def test_multilabel_partial_fit_continues_exactly_like_fit():
    X, Y = multilabel(90, 3)
    settings = dict(hidden_layer_sizes=(8,), batch_size=32, shuffle=False, random_state=3)
    fitted = MLPClassifier(**settings, max_iter=3)
    with pytest.warns(ConvergenceWarning):
        fitted.fit(X, Y)
    partial = MLPClassifier(**settings)
    for _ in range(3):  # the label columns as classes, on every call as sklearn's test does
        partial.partial_fit(X, Y, classes=[0, 1, 2])
    assert partial.classes_.tolist() == [0, 1, 2] and partial.n_iter_ == 3
    for a, b in zip(fitted.coefs_ + fitted.intercepts_, partial.coefs_ + partial.intercepts_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(partial.predict(X), fitted.predict(X))
    partial.partial_fit(X[:10], Y[:10])  # classes only on the first call


def test_multilabel_partial_fit_refuses_other_labels():
    X, Y = multilabel(60, 3)
    with pytest.raises(ValueError, match=r"first call to partial_fit; .*np\.arange\(3\)"):
        MLPClassifier(**SMALL).partial_fit(X, Y)
    with pytest.raises(ValueError, match=r"classes=\[0, 1\] does not match the multilabel y "
                       r"of 3 columns; .*classes=np\.arange\(3\)"):  # fmt: skip
        MLPClassifier(**SMALL).partial_fit(X, Y, classes=[0, 1])
    clf = MLPClassifier(**SMALL).partial_fit(X, Y, classes=np.arange(3))
    weights = clf.network_.parameter_vector.copy()
    with pytest.raises(ValueError, match="y has 2 label columns, the network was fitted on 3"):
        clf.partial_fit(X, Y[:, :2])
    with pytest.raises(ValueError, match=r"classes=\[0, 1, 2, 3\] is not the same"):
        clf.partial_fit(X, Y, classes=np.arange(4))  # named as a list, not np.int64(0), ...
    with pytest.raises(ValueError, match="fitted on a multilabel y of 3 labels, this is a y of "
                       "one label per example"):  # fmt: skip
        clf.partial_fit(X, Y[:, 0] + Y[:, 1])
    np.testing.assert_array_equal(clf.network_.parameter_vector, weights)


def test_multilabel_warm_start_refuses_another_number_of_labels():
    X, Y = multilabel(60, 3)
    clf = MLPClassifier(**SMALL, warm_start=True, random_state=0).fit(X, Y)
    net, weights = clf.network_, clf.network_.parameter_vector.copy()
    with pytest.raises(ValueError, match=r"y has 4 label columns, the network was fitted on 3: "
                       r"fit \(warm_start\) .*set warm_start=False"):  # fmt: skip
        clf.fit(X, np.c_[Y, Y[:, 0]])
    with pytest.raises(ValueError, match="fitted on a multilabel y of 3 labels"):
        clf.fit(X, Y[:, 0])
    assert clf.network_ is net
    np.testing.assert_array_equal(net.parameter_vector, weights)
    assert clf.fit(X, 1 - Y).network_ is net  # the same labels, other values: goes on
    assert clf.set_params(warm_start=False).fit(X, Y[:, :2]).classes_.tolist() == [0, 1]
    binary = MLPClassifier(**SMALL, warm_start=True).fit(X, Y[:, 0])
    with pytest.raises(ValueError, match="fitted on a y of one label per example, this is a "
                       "multilabel y"):  # fmt: skip
        binary.fit(X, Y[:, :2])


def test_multilabel_early_stopping_scores_subset_accuracy():
    X, Y = multilabel(300)
    clf = RecordsValidationSet(
        hidden_layer_sizes=(16,), learning_rate_init=0.05, batch_size=32, early_stopping=True,
        validation_fraction=0.2, n_iter_no_change=5, random_state=0,
    ).fit(X, Y)  # fmt: skip
    x_val, t_val = clf.validation_set
    assert t_val.shape == (60, 4)  # not stratified: the rows are not classes
    scores = clf.validation_scores_
    assert clf.best_validation_score_ == max(scores) > 0.25  # 0.4; the commonest row: 0.14
    assert scores[-1] < clf.best_validation_score_  # so the last epoch's weights were replaced
    # by the best epoch's, whose score is subset accuracy
    assert clf.score(x_val, t_val) == clf.best_validation_score_


def test_multilabel_in_pipeline_and_cross_val_score():
    X, Y = multilabel(300)
    pipe = make_pipeline(
        StandardScaler(), MLPClassifier((16,), learning_rate_init=0.01, max_iter=100,
                                        random_state=0)
    )  # fmt: skip
    scores = cross_val_score(pipe, X * 10 + 3, Y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.3  # always the commonest row: 0.14


def test_multilabel_targets_that_are_not_indicators_are_refused():
    X, Y = multilabel(60, 3)
    clf = MLPClassifier(**SMALL)
    with pytest.raises(ValueError, match=r"hold 0 and 1 only .*got the values \[-1, 1\]"):
        clf.fit(X, 2 * Y - 1)  # scikit-learn trains on y.astype(bool): -1 is 1
    with pytest.raises(ValueError, match=r"y of shape \(60, 2\) is 'multiclass-multioutput', "
                       "not a multilabel indicator matrix.*MultiOutputClassifier"):  # fmt: skip
        clf.fit(X, np.c_[Y[:, 0], Y[:, 1] + Y[:, 2]])
    with pytest.raises(ValueError, match="Unknown label type: continuous-multioutput"):
        clf.fit(X, Y + 0.5)
    with pytest.warns(DataConversionWarning, match="column-vector y"):  # as before: binary
        assert clf.fit(X, Y[:, :1]).classes_.tolist() == [0, 1] and clf.network_.n_out == 1


def test_multilabel_sparse_y_is_the_dense_y():
    X, Y = multilabel(60, 3)
    dense = MLPClassifier(**SMALL, random_state=0).fit(X, Y)
    ours = MLPClassifier(**SMALL, random_state=0).fit(X, sparse.csr_matrix(Y))
    np.testing.assert_array_equal(ours.network_.parameter_vector, dense.network_.parameter_vector)
    with pytest.raises(TypeError, match="Sparse data was passed for y"):  # labels: still dense
        MLPClassifier(**SMALL).fit(X, sparse.csr_matrix(Y[:, :1]))


# -- sparse X ------------------------------------------------------------------------------------


def sparse_data(n=120, kind="classifier", seed=0):
    X, y = classification(n, 3, seed) if kind == "classifier" else regression(n, seed=seed)
    X[np.abs(X) < 1] = 0  # about two thirds zeros
    return X, y


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize(
    "container", [sparse.csr_matrix, sparse.csc_matrix, sparse.coo_matrix, sparse.csr_array]
)
def test_sparse_X_trains_and_predicts_as_the_dense_X(kind, container):
    """The same network, bit for bit, from a sparse X as from the same X dense (X is
    densified, in the estimator's dtype); prediction on sparse X gives the dense answers."""
    X, y = sparse_data(kind=kind)
    Est = MLPClassifier if kind == "classifier" else MLPRegressor
    dense = Est(**SMALL, random_state=0).fit(X, y)
    ours = Est(**SMALL, random_state=0).fit(container(X), y)
    assert ours.n_iter_ == dense.n_iter_ and ours.loss_curve_ == dense.loss_curve_
    np.testing.assert_array_equal(ours.network_.parameter_vector, dense.network_.parameter_vector)
    np.testing.assert_array_equal(ours.predict(container(X)), dense.predict(X))
    assert ours.score(container(X), y) == dense.score(X, y)
    if kind == "classifier":
        np.testing.assert_array_equal(ours.predict_proba(container(X)), dense.predict_proba(X))
    ours.partial_fit(container(X), y)
    dense.partial_fit(X, y)
    np.testing.assert_array_equal(ours.network_.parameter_vector, dense.network_.parameter_vector)


def test_sparse_X_is_predicted_in_chunks_of_rows(monkeypatch):
    X, y = sparse_data(100)
    clf = MLPClassifier(**SMALL, dtype="float64", random_state=0).fit(X, y)
    expected = clf.predict_proba(X)
    seen = []
    predict_proba = clf.network_.predict_proba

    def recording(x, *args, **kwargs):
        seen.append((type(x), x.shape))
        return predict_proba(x, *args, **kwargs)

    monkeypatch.setattr(clf.network_, "predict_proba", recording)
    monkeypatch.setattr(chainrule.sklearn, "SPARSE_CHUNK_BYTES", 7 * 6 * 8 + 5)  # 7 rows
    proba = clf.predict_proba(sparse.csc_matrix(X))  # made CSR once, then sliced
    assert seen == [(np.ndarray, (7, 6))] * 14 + [(np.ndarray, (2, 6))]
    np.testing.assert_allclose(proba, expected, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(clf.predict(sparse.csr_array(X)), clf.predict(X))
    monkeypatch.setattr(chainrule.sklearn, "SPARSE_CHUNK_BYTES", 1)  # one row at a time
    seen.clear()
    np.testing.assert_allclose(clf.predict_proba(sparse.csr_matrix(X)), expected, rtol=1e-12)
    assert len(seen) == 100


def test_sparse_X_too_large_to_densify_is_refused(monkeypatch):
    X, y = sparse_data(100)
    clf = MLPClassifier(**SMALL, random_state=0).fit(X, y)
    weights = clf.network_.parameter_vector.copy()
    monkeypatch.setattr(chainrule.sklearn, "MAX_DENSE_BYTES", 100 * 6 * 4 - 1)  # float32
    message = (
        r"sparse X of shape \(100, 6\) would take 0\.0 GiB as a dense float32 array, more than "
        r"chainrule\.sklearn\.MAX_DENSE_BYTES \(2\.2\d*e-06 GiB\).*TruncatedSVD.*SelectKBest"
        r".*partial_fit on a slice of rows"
    )
    for train in (clf.fit, lambda X, y: clf.partial_fit(X, y)):
        with pytest.raises(ValueError, match=message):
            train(sparse.csr_matrix(X), y)
    np.testing.assert_array_equal(clf.network_.parameter_vector, weights)
    clf.partial_fit(sparse.csr_matrix(X[:50]), y[:50])  # a slice of rows fits
    assert clf.predict(sparse.csr_matrix(X)).shape == (100,)  # prediction: in chunks, no limit
    monkeypatch.setattr(chainrule.sklearn, "MAX_DENSE_BYTES", 100 * 6 * 8 - 1)
    with pytest.raises(ValueError, match=r"as a dense float64 array"):
        MLPRegressor(dtype="float64").fit(sparse.csr_matrix(X), y * 1.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_sparse_X_with_nan_or_inf_is_refused(bad):
    X, y = sparse_data(60)
    clf = MLPClassifier(**SMALL).fit(X, y)
    rows, cols = np.nonzero(X)
    X[rows[3], cols[3]] = bad
    message = "Input X contains NaN" if np.isnan(bad) else "Input X contains infinity"
    for container in (sparse.csr_matrix, sparse.dok_matrix, sparse.coo_array):
        with pytest.raises(ValueError, match=message):
            clf.fit(container(X), y)
        with pytest.raises(ValueError, match=message):
            clf.predict(container(X))
    with pytest.raises(ValueError, match=message):
        MLPRegressor(**SMALL).fit(sparse.csr_matrix(X), y * 1.0)


def test_sparse_one_hot_features_in_a_pipeline():
    """A categorical feature one-hot encoded as scikit-learn does it: into a sparse matrix."""
    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "green", "blue", "grey"], size=(200, 1))
    y = np.isin(colour[:, 0], ["red", "blue"])
    pipe = make_pipeline(OneHotEncoder(), MLPClassifier((4,), learning_rate_init=0.05,
                                                        max_iter=100, random_state=0))  # fmt: skip
    assert sparse.issparse(pipe[:-1].fit_transform(colour))
    assert pipe.fit(colour, y).score(colour, y) == 1.0


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, message",
    [
        ({"hidden_layer_sizes": (8, 0)}, r"hidden_layer_sizes=\(8, 0\)"),
        ({"activation": ["relu", "tanh"]}, "one name per hidden layer"),
        ({"activation": "swish"}, "unknown activation 'swish'"),
        ({"loss": "hinge"}, "unknown loss 'hinge'.*log_loss"),
        ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"),
        ({"optimizer": {"nam": "sgd"}}, r"config dict needs a 'name' key .*\{'nam': 'sgd'\}"),
        ({"optimizer": {"name": "sgd", "learning_rate": -1}}, "learning_rate must be"),
        ({"alpha": -1.0}, "alpha must be"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"max_iter": 2.5}, "max_iter=2.5"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"dropout": 1.0}, "dropout"),
        ({"dtype": "float16"}, "dtype='float16'"),
        ({"activation": "softmax"}, "activation 'softmax' is not for hidden layers"),
        ({"shuffle": "no"}, "shuffle must be True or False, got 'no'"),
        ({"early_stopping": "yes"}, "early_stopping must be True or False, got 'yes'"),
        ({"warm_start": 1}, "warm_start must be True or False, got 1"),
        ({"verbose": -1}, "verbose must be True, False or an int >= 0, got -1"),
        ({"init": "orthogonal"}, "unknown init 'orthogonal'; valid names: glorot"),
        ({"optimizer": {"name": "sgd", "bogus": 1}}, "optimizer 'sgd' has no setting 'bogus'"),
    ],
)
def test_bad_parameters_raise_naming_the_value(params, message):
    X, y = classification(30, 2)
    with pytest.raises(ValueError, match=message):
        MLPClassifier(**params).fit(X, y)


def test_bad_inputs_are_refused_with_clear_messages():
    X, y = classification(30, 2)
    clf = MLPClassifier(**SMALL)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.fit(bad, y)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        clf.fit(X[:, 0], y)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1])


def test_regressor_targets_the_network_cannot_hold_are_refused():
    X, y = regression(30, n_targets=2)
    reg = MLPRegressor(**SMALL)
    with pytest.raises(TypeError, match="Sparse data was passed for y"):
        reg.fit(X, sparse.csr_matrix(y))  # not NumPy's "setting an array element with a ..."
    big = y[:, 0] * 1e39  # finite in float64, inf in the network's float32
    with pytest.raises(ValueError, match=r"y has values too large for float32.*\d\.\d+e\+39"):
        reg.fit(X, big)  # not fit's "targets contain NaN or inf": y has neither
    assert MLPRegressor(**SMALL, dtype="float64").fit(X, big / 1e30).n_iter_ > 0


def test_importing_does_not_shadow_sklearn():
    import sklearn

    import chainrule.sklearn

    assert sklearn.__name__ == "sklearn" and chainrule.sklearn.__name__ == "chainrule.sklearn"
    assert "chainrule" not in sklearn.__file__


# -- sample weights ----------------------------------------------------------------------------


def test_sample_weight_trains_as_chainrule_fit_and_weighs_the_score():
    """The wrapper passes the weights to chainrule.fit: a weight of 0 is the row's absence
    (one batch), and early stopping's validation score is weighted."""
    X, y = classification(200, 3, seed=2)
    w = np.random.default_rng(0).integers(0, 3, len(y)).astype(float)
    kwargs = dict(hidden_layer_sizes=(8,), batch_size=500, max_iter=20, dtype="float64",
                  random_state=0, learning_rate_init=0.01, alpha=0.0)  # fmt: skip
    weighted = MLPClassifier(**kwargs).fit(X, y, sample_weight=w)
    assert np.count_nonzero(w == 0) > 0 and np.count_nonzero(w == 2) > 0
    repeated = np.repeat(np.arange(len(y)), w.astype(int))  # 0: left out, 2: twice
    copies = MLPClassifier(**kwargs).fit(X[repeated], y[repeated])
    for a, b in zip(weighted.coefs_, copies.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert weighted.loss_curve_ == pytest.approx(copies.loss_curve_, rel=1e-9)
    # early stopping: the split carries the weights; its scores are weighted accuracies
    clf = RecordsValidationSet(hidden_layer_sizes=(8,), early_stopping=True, max_iter=5,
                               random_state=0, n_iter_no_change=100)  # fmt: skip
    clf.fit(X, y, sample_weight=w)
    x_val, t_val = clf.validation_set
    assert len(clf.validation_scores_) == 5
    # the best epoch's weights are kept: its score is the weighted accuracy of the final model
    w_val = clf._split_weights
    right = clf.network_.predict(x_val) == t_val
    assert clf.best_validation_score_ == pytest.approx(np.average(right, weights=w_val))
    assert clf.best_validation_score_ != pytest.approx(np.mean(right))


def test_sample_weight_in_partial_fit_pipeline_and_regressor():
    X, y = classification(150, 3, seed=3)
    w = np.where(y == 2, 5.0, 1.0)
    clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2], sample_weight=w)
    clf.partial_fit(X, y, sample_weight=w)
    assert clf.n_iter_ == 2
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=30,
                                                         random_state=0))  # fmt: skip
    pipe.fit(X, y, mlpclassifier__sample_weight=w)
    plain = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=30,
                                                          random_state=0)).fit(X, y)  # fmt: skip
    recall = [np.mean(model.predict(X[y == 2]) == 2) for model in (pipe, plain)]
    assert recall[0] >= recall[1]  # the heavy class is found at least as often
    Xr, yr = regression()
    wr = np.linspace(0.1, 2, len(yr))
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    reg.fit(Xr, yr, sample_weight=wr).partial_fit(Xr, yr, sample_weight=wr)
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(120,\)"):
        reg.fit(Xr, yr, sample_weight=wr[:-1])
    with pytest.raises(ValueError, match="zero for every example"):
        MLPClassifier().fit(X, y, sample_weight=np.zeros(len(y)))
    # one number for every example, as scikit-learn takes it (with alpha it scales the data
    # term against the penalty, as in scikit-learn)
    kwargs = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    one = MLPClassifier(**kwargs).fit(X, y, sample_weight=3.0)
    each = MLPClassifier(**kwargs).fit(X, y, sample_weight=np.full(len(y), 3.0))
    for a, b in zip(one.coefs_, each.coefs_):
        np.testing.assert_array_equal(a, b)


def test_sample_weight_with_alpha_counts_an_example_that_many_times():
    """alpha is divided by the batch's total weight (as scikit-learn): with alpha > 0 too, a
    weight of k trains as k copies of the row (one batch), loss_curve_'s penalty included."""
    X, y = classification(200, 3, seed=2)
    w = np.random.default_rng(0).integers(0, 3, len(y)).astype(float)
    kwargs = dict(hidden_layer_sizes=(8,), batch_size=500, max_iter=10, dtype="float64",
                  random_state=0, learning_rate_init=0.01, alpha=0.5)  # fmt: skip
    weighted = MLPClassifier(**kwargs).fit(X, y, sample_weight=w)
    repeated = np.repeat(np.arange(len(y)), w.astype(int))
    copies = MLPClassifier(**kwargs).fit(X[repeated], y[repeated])
    for a, b in zip(weighted.coefs_, copies.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert weighted.loss_curve_ == pytest.approx(copies.loss_curve_, rel=1e-9)


def test_sparse_X_of_exactly_max_dense_bytes_is_taken(monkeypatch):
    """MAX_DENSE_BYTES is the largest size densified: 'more than' it is refused, not it."""
    X, y = sparse_data(100)
    monkeypatch.setattr(chainrule.sklearn, "MAX_DENSE_BYTES", 100 * 6 * 4)  # float32
    clf = MLPClassifier(**SMALL, random_state=0).fit(sparse.csr_matrix(X), y)
    assert clf.predict(sparse.csr_matrix(X)).shape == (100,)


def test_multilabel_targets_give_no_training_warning():
    """chainrule.fit's 'learned nothing' and 'one class' warnings are about one label per
    row: multilabel targets whose rows hold one label each, or always the same label, are not
    classes (nothing learned here, at a learning rate of 1e-9, yet no such warning)."""
    import warnings

    from chainrule.errors import TrainingWarning

    X, _ = classification(100, 3)
    labels = np.random.default_rng(0).integers(0, 3, 100)
    for Y in (np.eye(3, dtype=int)[labels], np.tile([1, 0], (100, 1))):
        with warnings.catch_warnings():
            warnings.simplefilter("error", TrainingWarning)
            warnings.simplefilter("ignore", ConvergenceWarning)
            MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, learning_rate_init=1e-9,
                          random_state=0).fit(X, Y)  # fmt: skip


def test_early_stopping_split_with_zero_weights_on_one_side_is_named():
    """One row of weight above 0: the early-stopping split leaves one side weighing nothing,
    which is named (not a division by zero in the weighted score, nor chainrule.fit's 'every
    example' message)."""
    X, y = classification(100, 3)
    for row in range(0, 100, 7):
        w = np.zeros(100)
        w[row] = 1.0
        clf = MLPClassifier(hidden_layer_sizes=(4,), early_stopping=True, max_iter=2,
                            random_state=0)  # fmt: skip
        with pytest.raises(ValueError, match=r"sample_weight is zero for every (training|"
                           r"validation) example of the early-stopping split "
                           r"\(validation_fraction=0\.1\)"):  # fmt: skip
            clf.fit(X, y, sample_weight=w)


def test_sparse_y_that_is_not_an_indicator_matrix_is_a_type_error():
    """As scikit-learn: a sparse y is taken only as a multilabel indicator matrix."""
    X, y = classification(100, 3)
    with pytest.raises(TypeError, match="Sparse data was passed for y, but dense data"):
        MLPClassifier(**SMALL).fit(X, sparse.csr_matrix(np.c_[y, y]))


def test_fit_on_one_label_per_row_after_a_multilabel_fit():
    """A new fit starts afresh: after a multilabel y, a y of one label per example gives
    class labels again (not an indicator matrix)."""
    X, Y = multilabel(200)
    y = Y.argmax(axis=1) + 10
    clf = MLPClassifier(**SMALL, random_state=0).fit(X, Y)
    assert clf.predict(X).shape == (200, 4)
    clf.fit(X, y)
    pred = clf.predict(X)
    assert pred.shape == (200,) and set(pred) <= set(clf.classes_) == set(y)
    assert clf.score(X, y) == np.mean(pred == y)


def test_partial_fit_with_sample_weight_counts_an_example_that_many_times():
    """partial_fit passes the weights on too (classifier and regressor): one epoch of one
    batch with weights 0-2 is one epoch on the rows repeated that many times."""
    X, y = classification(120, 3, seed=4)
    w = np.random.default_rng(1).integers(0, 3, len(y)).astype(float)
    repeated = np.repeat(np.arange(len(y)), w.astype(int))
    Xr, yr = regression(120)
    kwargs = dict(hidden_layer_sizes=(8,), batch_size=500, dtype="float64", random_state=0,
                  learning_rate_init=0.05, alpha=0.0)  # fmt: skip
    for est, data, target in (
        (MLPClassifier, X, y),
        (MLPRegressor, Xr, yr),
    ):
        extra = dict(classes=[0, 1, 2]) if est is MLPClassifier else {}
        weighted, copies = est(**kwargs), est(**kwargs)
        for _ in range(3):
            weighted.partial_fit(data, target, sample_weight=w, **extra)
            copies.partial_fit(data[repeated], target[repeated], **extra)
        for a, b in zip(weighted.coefs_, copies.coefs_):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


class RegressorRecordsValidationSet(MLPRegressor):
    def _split(self, X, target, seed, weights=None):
        parts = super()._split(X, target, seed, weights)
        self.validation_set = parts[1], parts[3], parts[5]
        return parts


def test_regressor_early_stopping_scores_the_weighted_r2():
    """The regressor's early-stopping score is r2_score with the validation rows' weights."""
    from sklearn.metrics import r2_score

    X, y = regression(200)
    w = np.random.default_rng(0).random(len(y)) * np.where(y > 0, 5.0, 0.2)
    reg = RegressorRecordsValidationSet(hidden_layer_sizes=(8,), early_stopping=True,
                                        max_iter=5, random_state=0, n_iter_no_change=100,
                                        dtype="float64")  # fmt: skip
    reg.fit(X, y, sample_weight=w)
    x_val, t_val, w_val = reg.validation_set
    out = reg.network_.predict_proba(x_val)  # the best epoch's weights: its score
    assert reg.best_validation_score_ == pytest.approx(r2_score(t_val, out, sample_weight=w_val))
    assert reg.best_validation_score_ != pytest.approx(r2_score(t_val, out), rel=1e-6)


def test_tags_say_multilabel_and_sparse_inputs_are_taken():
    from sklearn.utils import get_tags

    tags = get_tags(MLPClassifier())
    assert tags.classifier_tags.multi_label and tags.input_tags.sparse
    assert get_tags(MLPRegressor()).input_tags.sparse
