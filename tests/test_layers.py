"""Dense: the forward formula, backward against finite differences, parameters, init, checks;
Standardize: its formula, its input gradient against finite differences, its statistics."""

import warnings

import numpy as np
import pytest

from chainrule.layers import Dense, Standardize


def test_forward_is_activation_of_x_dot_w_plus_b():
    layer = Dense(3, 2, activation="sigmoid", rng=0, dtype=np.float64)
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 0.5]])
    expected = 1 / (1 + np.exp(-(x @ layer.weights + layer.biases)))
    np.testing.assert_allclose(layer.forward(x), expected)
    assert layer.x is x  # the input is kept by reference, not copied
    np.testing.assert_allclose(layer.net, x @ layer.weights + layer.biases)


def test_forward_converts_inputs_of_another_dtype_once():
    """The products write into the layer's buffers (np.dot needs the layer's dtype there):
    float64 from np.random, integers and lists are converted first, to the same numbers."""
    layer = Dense(4, 3, "sigmoid", rng=0)
    x = np.random.default_rng(1).random((2, 4))  # float64
    expected = np.array(layer.forward(x.astype(np.float32)))
    for given in (x, x.tolist(), x.astype(">f4"), np.asfortranarray(x)):
        out = layer.forward(given)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, expected)
        assert layer.x.dtype == np.float32  # what backward multiplies by
    ones = np.array(layer.forward(np.ones((2, 4), np.uint8)))  # a copy: buffers are reused
    np.testing.assert_array_equal(ones, layer.forward(np.ones((2, 4))))


def test_direct_use_mistakes_get_clear_errors():
    """A learner driving a layer by hand: one example without its batch axis, backward before
    any forward (both used to fail deep in NumPy or with an AttributeError)."""
    layer = Dense(4, 3, "sigmoid", rng=0)
    with pytest.raises(ValueError, match=r"shape \(batch, 4\), got shape \(4,\).*x\[None, :\]"):
        layer.forward(np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"shape \(batch, 4\), got shape \(2, 5\)"):
        layer.forward(np.ones((2, 5)))
    fresh = Dense(4, 3, "sigmoid", rng=0)
    for call in (fresh.backward, fresh.backward_delta):
        with pytest.raises(RuntimeError, match="backward needs a forward pass first"):
            call(np.ones((2, 3), np.float32))
    assert layer.forward(np.ones((1, 4), np.float32)).shape == (1, 3)  # and then it works
    assert layer.backward(np.ones((1, 3), np.float32)).shape == (1, 4)
    # a Standardize layer by hand: the same errors, and lists or integers are converted
    standardize = Standardize(np.zeros(4), np.full(4, 2.0))
    for x, shape in (
        (np.ones(4), r"\(4,\).*x\[None, :\]"),
        (5.0, r"\(\)"),
        (np.ones((2, 5)), r"\(2, 5\)"),
    ):
        with pytest.raises(ValueError, match=r"shape \(batch, 4\), got shape " + shape):
            standardize.forward(x)
    with pytest.raises(RuntimeError, match="backward needs a forward pass first"):
        standardize.backward(np.ones((2, 4), np.float32))
    import pandas as pd

    for x in ([[2, 4, 6, 8]], np.array([[2, 4, 6, 8]]), pd.DataFrame([[2, 4, 6, 8]])):
        out = standardize.forward(x)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, [[1, 2, 3, 4]])


LAYER_ACTIVATIONS = [
    "identity",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    {"name": "leaky_relu", "slope": 0.3},  # its own slope, not the default 0.01
    "softmax",  # through its Jacobian, as under a plain loss (sse, mse)
]


@pytest.mark.parametrize(
    "activation", LAYER_ACTIVATIONS, ids=lambda a: a if isinstance(a, str) else "leaky_relu-0.3"
)
def test_backward_matches_finite_differences(activation):
    """E = sum(g * out): dE/dw, dE/db, dE/dx from backward against central differences."""
    rng = np.random.default_rng(3)
    layer = Dense(4, 3, activation=activation, rng=1, dtype=np.float64)
    layer.biases = rng.normal(size=3)
    x = rng.normal(size=(5, 4))
    g = rng.normal(size=(5, 3))

    def energy():
        return float(np.sum(g * layer.forward(x)))

    layer.forward(x)
    dx = layer.backward(g).copy()
    dw, db = layer.dweights.copy(), layer.dbiases.copy()
    for analytic, param in ((dw, layer.weights), (db, layer.biases), (dx, x)):
        numeric = np.zeros_like(param)
        for idx in np.ndindex(param.shape):
            saved = param[idx]
            param[idx] = saved + 1e-6
            plus = energy()
            param[idx] = saved - 1e-6
            minus = energy()
            param[idx] = saved
            numeric[idx] = (plus - minus) / 2e-6
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_no_input_gradient_when_not_asked():
    layer = Dense(4, 2, activation="relu", rng=0)
    layer.forward(np.ones((3, 4), np.float32))
    assert layer.backward(np.ones((3, 2), np.float32), input_grad=False) is None
    assert layer.dweights.shape == (4, 2) and layer.dbiases.shape == (2,)


def test_buffers_are_reused_between_steps_of_one_batch_size():
    layer = Dense(4, 2, activation="tanh", rng=0)
    first = layer.forward(np.ones((3, 4), np.float32))
    second = layer.forward(np.zeros((3, 4), np.float32))
    assert first is second
    other = layer.forward(np.zeros((5, 4), np.float32))
    assert other.shape == (5, 2)


def test_weights_assignment_checks_shape_and_keeps_the_array():
    layer = Dense(3, 2, rng=0)
    array = layer.weights
    layer.weights = np.ones((3, 2))
    assert layer.weights is array and layer.weights.dtype == np.float32
    np.testing.assert_array_equal(array, 1)
    with pytest.raises(ValueError, match=r"weights must have shape \(3, 2\), got \(2, 3\)"):
        layer.weights = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"biases must have shape \(2,\)"):
        layer.biases = np.ones(3)


def test_same_seed_same_weights_and_dtype():
    a = Dense(20, 10, activation="relu", rng=42)
    b = Dense(20, 10, activation="relu", rng=42)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert a.weights.dtype == np.float32
    assert Dense(2, 2, dtype="float64").weights.dtype == np.float64
    assert not np.array_equal(a.weights, Dense(20, 10, activation="relu", rng=43).weights)


@pytest.mark.parametrize(
    ("activation", "init", "variance"),
    [
        ("relu", None, 2 / 400),  # He
        ("leaky_relu", None, 2 / 400),  # He too
        ("sigmoid", None, 2 / (400 + 300)),  # Glorot
        ("tanh", "lecun", 1 / 400),
        ("relu", "he_uniform", 2 / 400),  # uniform on ±sqrt(6 / n_in)
        ("tanh", "glorot_normal", 2 / (400 + 300)),
    ],
)
def test_init_variance(activation, init, variance):
    layer = Dense(400, 300, activation=activation, init=init, rng=0, dtype=np.float64)
    assert layer.init == (init or ("he" if "relu" in activation else "glorot"))
    assert layer.weights.var() == pytest.approx(variance, rel=0.03)
    assert abs(layer.weights.mean()) < 0.01 * np.sqrt(variance) * 10
    np.testing.assert_array_equal(layer.biases, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_in": 0, "n_out": 2}, "n_in must be a positive integer, got n_in=0"),
        ({"n_in": 2, "n_out": 2.5}, "n_out must be a positive integer"),
        ({"n_in": 2, "n_out": 2, "dtype": "int32"}, "dtype must be float32 or float64"),
        ({"n_in": 2, "n_out": 2, "init": "magic"}, "unknown init 'magic'; valid names:"),
        ({"n_in": 2, "n_out": 2, "activation": "gelu"}, "unknown activation 'gelu'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Dense(**kwargs)


def test_an_activation_that_returns_a_new_array_is_used():
    """A custom forward that ignores ``out`` (returns a new array) still sets the output."""
    from chainrule.activations import Activation

    class NewArraySoftplus(Activation):
        name = "softplus"

        def forward(self, net, out=None):
            return np.logaddexp(0, net)  # a new array, out ignored

        def derivative(self, out):
            return 1 - np.exp(-out)

    layer = Dense(3, 2, NewArraySoftplus(), rng=0)
    x = np.array([[0.5, -1.0, 2.0]], np.float32)
    expected = np.logaddexp(0, x @ layer.weights + layer.biases)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-6)


def test_standardize_forward_is_x_minus_mean_over_std():
    mean, std = np.array([1000.0, -2.0, 0.5]), np.array([300.0, 0.25, 1.0])
    layer = Standardize(mean, std, dtype=np.float64)
    x = np.array([[1300.0, -2.5, 0.5], [400.0, 0.0, -1.5]])
    np.testing.assert_allclose(layer.forward(x), (x - mean) / std, rtol=1e-15)
    assert layer.n_in == layer.n_out == 3
    assert layer.parameters() == [] and layer.gradients() == []
    assert layer.config() == {"type": "standardize", "n_units": 3}


def test_standardize_input_gradient_matches_finite_differences():
    """E = sum(g * standardize(x)): dE/dx = g / std from backward, against central
    differences, float64."""
    rng = np.random.default_rng(4)
    layer = Standardize(rng.normal(50, 20, size=4), rng.uniform(0.1, 30, size=4), np.float64)
    x = rng.normal(50, 20, size=(5, 4))
    g = rng.normal(size=(5, 4))

    def energy(inputs):
        return float(np.sum(g * layer.forward(inputs)))

    energy(x)
    analytic = layer.backward(g).copy()
    numeric = np.zeros_like(x)
    eps = 1e-5
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += eps
        minus[i] -= eps
        numeric[i] = (energy(plus) - energy(minus)) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(analytic, g / layer.std, rtol=1e-15)
    assert layer.backward(g, input_grad=False) is None


def test_standardize_from_data_gives_mean_0_std_1_and_centres_constant_columns():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(1e4, 3e3, 200), np.full(200, 7.0), rng.integers(0, 9, 200)])
    layer = Standardize.from_data(x, dtype=np.float64)
    out = layer.forward(x)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), [1, 0, 1], rtol=1e-12)
    assert layer.std[1] == 1.0 and layer.mean[1] == 7.0  # a constant column: only centred
    f32 = Standardize.from_data(x.astype(np.uint16))  # integers; float32 by default
    assert f32.mean.dtype == f32.std.dtype == np.float32
    np.testing.assert_allclose(f32.mean, x.astype(np.uint16).mean(axis=0), rtol=1e-6)


def test_standardize_statistics_are_fixed_and_buffers_reused():
    layer = Standardize([1.0, 2.0], [2.0, 4.0])
    with pytest.raises(ValueError, match="read-only"):
        layer.mean[0] = 5.0
    with pytest.raises(ValueError, match="read-only"):
        layer.std[0] = 5.0
    first = layer.forward(np.ones((3, 2), np.float32))
    second = layer.forward(np.zeros((3, 2), np.float32))
    assert first is second and second.dtype == np.float32
    np.testing.assert_array_equal(second, [[-0.5, -0.5]] * 3)


@pytest.mark.parametrize(
    "args, message",
    [
        (([0.0, 1.0], [1.0]), "one shape"),
        (([[0.0]], [[1.0]]), "one shape"),
        (([], []), "one shape"),
        (([0.0, np.nan], [1.0, 1.0]), "finite"),
        (([0.0, 0.0], [1.0, np.inf]), "finite"),
        (([0.0, 0.0], [1.0, 0.0]), "std must be > 0, got 0 for feature 1"),
        (([0.0], [-2.0]), "std must be > 0"),
        (([1e39], [1.0]), "too large for float32"),
        (([0.0], [1e-46]), "too large for float32"),  # 1 / std overflows
        ((["a"], ["b"]), "mean must be real numbers, got dtype <U1"),
        (([0.0, 1.0], [1.0, 1j]), "std must be real numbers, got dtype complex128"),  # not cut
        (({"a": 1.0}, {"a": 1.0}), "mean must be real numbers, got dtype object"),
        (([[0.0, 1.0], [2.0]], [1.0]), "mean must be real numbers, got list that is not"),
    ],
)
def test_standardize_bad_statistics(args, message):
    with pytest.raises(ValueError, match=message):
        Standardize(*args)


@pytest.mark.parametrize(
    "x, message",
    [
        (np.ones(3), "shape"),
        (np.ones((0, 3)), "shape"),
        (np.array([["a", "b"]]), "numbers"),
        (np.array([[1.0, np.nan]]), "NaN"),
        ([[1.0, 2.0], [3.0]], "needs a numeric array, got list"),  # rows of different lengths
        (np.array([[1.0, 1e200], [2.0, -1e200]]), "spread of column 1 is too large"),
    ],
)
def test_standardize_from_bad_data(x, message):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow is the error, not a RuntimeWarning
        with pytest.raises(ValueError, match=message):
            Standardize.from_data(x, dtype=np.float64)


def test_standardize_statistics_come_in_blocks_of_rows_without_a_copy_of_the_data():
    """The squared deviations are summed a block of rows at a time: the peak memory is one
    float64 block, not a float64 copy of x; a last block of another size; a float64 column
    that never varies has std exactly 0 although its mean carries a rounding error."""
    import tracemalloc

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(20_000, 300), dtype=np.uint8)
    tracemalloc.start()
    try:
        mean, std = Standardize.statistics(x, rows=4096)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4096 * 300 * 8 * 1.25  # one block; x as float64 would be 48 MB
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(std, x.std(axis=0), rtol=1e-12)
    rows = rng.normal(loc=3, size=(100, 4))
    rows[:, 2] = 0.1  # not a binary fraction: the mean is off by a rounding error
    assert rows[:, 2].std() > 0
    mean, std = Standardize.statistics(rows, rows=7)  # blocks of 7, the last of 2
    np.testing.assert_allclose(std[[0, 1, 3]], rows[:, [0, 1, 3]].std(axis=0), rtol=1e-12)
    assert std[2] == 0 and mean[2] == pytest.approx(0.1)
    assert Standardize.from_data(rows).std[2] == 1


def test_standardize_statistics_of_a_subset_of_rows_without_gathering_them():
    """``subset=`` gives the statistics of ``x[subset]`` (fit's training part), taken a block
    of rows at a time: no copy of ``x[subset]``; row numbers out of range are refused."""
    import tracemalloc

    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(20_000, 300), dtype=np.uint8)
    subset = np.sort(rng.permutation(20_000)[:15_000])
    tracemalloc.start()
    try:
        mean, std = Standardize.statistics(x, rows=4096, subset=subset)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4096 * 300 * 9 * 1.25  # a float64 block and its uint8 rows; x[subset]: 4.5 MB
    np.testing.assert_allclose(mean, x[subset].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(std, x[subset].std(axis=0), rtol=1e-12)
    assert not np.allclose(mean, x.mean(axis=0), rtol=1e-6)  # not all the rows
    layer = Standardize.from_data(x, subset=subset)
    np.testing.assert_allclose(layer.mean, mean, rtol=1e-6)
    small = rng.normal(size=(50, 3))
    for bad, message in (([50], "beyond the 50 rows"), ([[1, 2]], "row numbers"), ([], "row")):
        with pytest.raises(ValueError, match=message):
            Standardize.statistics(small, subset=np.array(bad, dtype=int))
    with pytest.raises(ValueError, match="row numbers, got float64"):
        Standardize.statistics(small, subset=np.array([0.0, 1.0]))


def test_a_layer_too_large_for_memory_is_named():
    """NumPy's MemoryError names an array shape; the layer's says which layer, how much."""
    with pytest.raises(MemoryError, match=r"Dense\(10000000, 10000000\) has 100,000,000,000,000 "
                       r"weights: 363\.8 TiB as float32, .* use fewer units"):  # fmt: skip
        Dense(10**7, 10**7)
    with pytest.raises(MemoryError, match=r"Dense\(2147483648, 2147483648\) has "
                       r"4,611,686,018,427,387,904 weights"):  # fmt: skip
        Dense(2**31, 2**31)  # beyond any address space: NumPy would not even try


@pytest.mark.parametrize(
    "n_bytes, text",
    [(0, "0 bytes"), (1023, "1023 bytes"), (1024, "1.0 KiB"), (5 * 2**20, "5.0 MiB"),
     (3 * 2**30 // 2, "1.5 GiB"), (7.3 * 2**40, "7.3 TiB"), (2**50, "1024.0 TiB")],
)  # fmt: skip
def test_memory_size_reads_as_a_person_would(n_bytes, text):
    from chainrule.layers import memory_size

    assert memory_size(n_bytes) == text
