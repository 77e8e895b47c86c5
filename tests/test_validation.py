"""Bad input to forward / loss_and_grads: a ValueError or TypeError saying what was expected,
raised before anything is computed, on the manual side and on both references, with nothing modified."""

import copy

import numpy as np
import pytest

import manual
import reference
from manual.spec import NetworkSpec
from manual.validation import encode_targets
from reference import bucketed

LOSS_AND_GRADS = {"manual": manual.loss_and_grads, "reference": reference.loss_and_grads,
                  "bucketed": bucketed.loss_and_grads}
FORWARD = {"manual": manual.forward, "reference": reference.forward}

CE = NetworkSpec([3, 4, 3], "relu", "cross_entropy")
BCE = NetworkSpec([3, 4, 1], "tanh", "binary_cross_entropy")
MSE = NetworkSpec([3, 4, 2], "tanh", "mse")
SPECS = {"ce": CE, "bce": BCE, "mse": MSE}
N = 5


def good(spec):
    """Valid (params, X, y) for `spec`, N = 5."""
    rng = np.random.default_rng(0)
    params = manual.init_params(spec, seed=0)
    X = rng.standard_normal((N, 3))  # (N, 3)
    k = spec.sizes[-1]
    y = {"cross_entropy": np.arange(N) % k, "binary_cross_entropy": np.arange(N) % 2 * 1.0,
         "mse": rng.standard_normal((N, k))}[spec.loss]
    return params, X, y


def with_nan(a, value=np.nan):
    a = np.array(a, dtype=np.float64)
    a.flat[1] = value
    return a


BAD_X = [  # (name, X from a good X, error, message)
    ("1-D", lambda X: X[0], ValueError, r"X must be 2-D of shape \(N, 3\), got 1-D"),
    ("3-D", lambda X: X[None], ValueError, r"X must be 2-D of shape \(N, 3\), got 3-D"),
    ("wrong width", lambda X: X[:, :2], ValueError, r"X must have 3 columns \(sizes\[0\]\), got shape \(5, 2\)"),
    ("empty batch", lambda X: X[:0], ValueError, r"empty batch .* at least one row of width 3"),
    ("NaN", lambda X: with_nan(X), ValueError, r"X contains NaN or infinite values \(first at index \(0, 1\)\)"),
    ("inf", lambda X: with_nan(X, -np.inf), ValueError, r"X contains NaN or infinite"),
    ("string", lambda X: "abc", TypeError, r"X must be an array of numbers"),
    ("complex", lambda X: X + 1j, TypeError, r"X must hold real numbers, got an array of dtype complex128"),
    ("ragged", lambda X: [[1.0, 2.0, 3.0], [1.0]], ValueError, r"X could not be read as a rectangular array"),
]

BAD_Y = [  # (spec key, y, error, message)
    ("ce", np.arange(N - 1) % 3, ValueError, r"one label per row of X \(N = 5\), got shape \(4,\)"),
    ("ce", np.array([0, 1, 2, 3, 0]), ValueError, r"integers in \[0, 3\), got \[3\]"),
    ("ce", np.array([0, -1, 2, 1, 0]), ValueError, r"integers in \[0, 3\), got \[-1\]"),
    ("ce", np.array([0, 1.5, 2, 1, 0]), ValueError, r"integers in \[0, 3\), got \[1.5\]"),
    ("ce", np.zeros((N, 2)), ValueError, r"one-hot of shape \(5, 3\), got \(5, 2\)"),
    ("ce", np.ones((N, 3)), ValueError, r"exactly one 1 in each row"),
    ("ce", np.array(["a"] * N), TypeError, r"y must hold real numbers"),
    ("ce", 1, ValueError, r"one label per row of X \(N = 5\)"),
    ("bce", np.array([0, 1, 2, 1, 0]), ValueError, r"labels must be 0 or 1, got values \[2\]"),
    ("bce", np.zeros((N, 2)), ValueError, r"shape \(5,\) or \(5, 1\), got \(5, 2\)"),
    ("bce", with_nan(np.zeros(N)), ValueError, r"y contains NaN"),
    ("mse", np.zeros(N), ValueError, r"mse targets must have shape \(5, 2\), got \(5,\)"),
    ("mse", with_nan(np.zeros((N, 2)), np.inf), ValueError, r"y contains NaN or infinite"),
]


def bad_params(name):
    params, _, _ = good(CE)
    W1, b1 = params[0]
    return {
        "one layer missing": (params[:1], ValueError, r"params has 1 layer\(s\) but the spec \[3, 4, 3\] has 2"),
        "W transposed": ([(W1.T, b1), params[1]], ValueError, r"layer 1, W must have shape \(3, 4\), got \(4, 3\)"),
        "b as a column": ([(W1, b1[:, None]), params[1]], ValueError, r"layer 1, b must have shape \(4,\), got \(4, 1\)"),
        "W a list": ([(W1.tolist(), b1), params[1]], TypeError, r"layer 1, W must be a NumPy array, got list"),
        "int W": ([(W1.astype(int), b1), params[1]], TypeError, r"layer 1, W must be float32 or float64, got int64"),
        "mixed dtypes": ([(W1, b1), tuple(a.astype(np.float32) for a in params[1])], TypeError, r"params mix dtypes"),
        "NaN in W": ([(with_nan(W1), b1), params[1]], ValueError, r"layer 1, W contains NaN or infinite values"),
        "not a pair": ([(W1,), params[1]], TypeError, r"layer 1 of params must be a \(W, b\) pair"),
        "a dict": ({"W": W1}, TypeError, r"params must be a list of \(W, b\) pairs, got dict"),
    }[name]


def snapshot(*arrays):
    return copy.deepcopy(arrays)


def assert_same(before, after):
    """Everything the caller passed is as it was (np.array_equal, NaN-aware, per leaf)."""
    for b, a in zip(before, after):
        if isinstance(b, np.ndarray):
            assert np.array_equal(a, b, equal_nan=b.dtype.kind == "f") and a.dtype == b.dtype, "an input was modified"
        elif isinstance(b, (list, tuple)):
            assert_same(b, a)


@pytest.mark.parametrize("side", list(LOSS_AND_GRADS))
@pytest.mark.parametrize("name, make_X, error, message", BAD_X, ids=[case[0] for case in BAD_X])
def test_bad_X(side, name, make_X, error, message):
    params, X, y = good(CE)
    assert_refused_everywhere(side, params, make_X(X), y, error, message)


def assert_refused_everywhere(side, params, X, y, error, message):
    """loss_and_grads (and forward, where the side has one) of CE raise `error` matching `message`
    and leave params, X and y as they were."""
    before = snapshot(params, X, y)
    with pytest.raises(error, match=message):
        LOSS_AND_GRADS[side](CE, params, X, y)
    if side in FORWARD:
        with pytest.raises(error, match=message):
            FORWARD[side](CE, params, X)
    assert_same(before, (params, X, y))


@pytest.mark.parametrize("side", list(LOSS_AND_GRADS))
@pytest.mark.parametrize("key, y, error, message", BAD_Y)
def test_bad_labels(side, key, y, error, message):
    spec = SPECS[key]
    params, X, _ = good(spec)
    before = snapshot(params, X, y)
    with pytest.raises(error, match=message):
        LOSS_AND_GRADS[side](spec, params, X, y)
    assert_same(before, (params, X, y))


PARAM_CASES = ["one layer missing", "W transposed", "b as a column", "W a list", "int W", "mixed dtypes",
               "NaN in W", "not a pair", "a dict"]


@pytest.mark.parametrize("side", list(LOSS_AND_GRADS))
@pytest.mark.parametrize("name", PARAM_CASES)
def test_bad_params(side, name):
    params, error, message = bad_params(name)
    _, X, y = good(CE)
    assert_refused_everywhere(side, params, X, y, error, message)


@pytest.mark.parametrize("side", list(LOSS_AND_GRADS))
def test_spec_must_be_a_network_spec(side):
    params, X, y = good(CE)
    with pytest.raises(TypeError, match=r"spec must be a NetworkSpec, got dict"):
        LOSS_AND_GRADS[side](CE.to_dict(), params, X, y)


def test_good_inputs_pass_on_every_side():
    """The tables above fail for their stated reason, not because `good` is itself bad.
    (The plain reference runs the same checks as bucketed; it is left out as it compiles per shape.)"""
    for spec in SPECS.values():
        params, X, y = good(spec)
        manual.loss_and_grads(spec, params, X, y)
        manual.forward(spec, params, X)
        bucketed.loss_and_grads(spec, params, X, y)


ENCODINGS = [  # (spec, y, expected Y)
    (CE, [2, 0, 1], [[0, 0, 1], [1, 0, 0], [0, 1, 0]]),
    (CE, np.array([2.0, 0.0, 1.0]), [[0, 0, 1], [1, 0, 0], [0, 1, 0]]),
    (CE, np.eye(3)[[1, 1, 0]], [[0, 1, 0], [0, 1, 0], [1, 0, 0]]),
    (BCE, [1, 0, True], [[1], [0], [1]]),
    (BCE, [[1], [0], [1]], [[1], [0], [1]]),
    (NetworkSpec([3, 1], loss="mse"), [0.5, -2.0, 3.0], [[0.5], [-2.0], [3.0]]),
]


@pytest.mark.parametrize("spec, y, expected", ENCODINGS)
def test_encode_targets(spec, y, expected):
    Y = encode_targets(spec, y, 3)
    assert Y.dtype == np.float64 and Y.shape == (3, spec.sizes[-1])
    np.testing.assert_array_equal(Y, expected)
    assert encode_targets(spec, y, 3, dtype=np.float32).dtype == np.float32


# ---------------------------------------------------------------- all_finite

from hypothesis import given, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from manual.validation import all_finite  # noqa: E402


@st.composite
def any_float_arrays(draw):
    """Float arrays of any values (NaN, ±inf, huge, subnormal) and any layout: C, Fortran,
    strided or reversed views."""
    dtype = draw(st.sampled_from([np.float64, np.float32, np.float16]))
    width = {np.float64: 64, np.float32: 32, np.float16: 16}[dtype]
    arr = draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, max_side=40),
                          elements=st.floats(allow_nan=True, allow_infinity=True, width=width)))
    layout = draw(st.sampled_from(["C", "F", "strided", "reversed"]))
    if layout == "F":
        return np.asfortranarray(arr)
    if arr.ndim and layout == "strided":
        return arr[..., ::2]
    if arr.ndim and layout == "reversed":
        return arr[::-1]
    return arr


@given(any_float_arrays())
def test_all_finite_is_isfinite_all(arr):
    """all_finite(x) == np.isfinite(x).all() for any values, huge finite ones (x·x overflows) included,
    with no warning or error even when NumPy is set to raise on every floating-point event."""
    with np.errstate(all="raise"):
        assert all_finite(arr) == bool(np.isfinite(arr).all())
        assert all_finite(arr, np.zeros(3)) == all_finite(np.zeros(3), arr) == bool(np.isfinite(arr).all())


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix
def test_all_finite_reads_a_matrix_and_copies_nothing():
    assert all_finite(np.matrix([[1.0, 2.0]])) and not all_finite(np.matrix([[1.0, np.nan]]))
    import tracemalloc

    W = np.asfortranarray(np.random.default_rng(0).standard_normal((784, 256)))  # 1.6 MB
    for arr in (W, W.T, W[:, ::2]):
        all_finite(arr)  # warm
        tracemalloc.start()
        try:
            all_finite(arr)
            assert tracemalloc.get_traced_memory()[1] < 64 * 1024, "all_finite copied its argument"
        finally:
            tracemalloc.stop()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_all_finite_finds_one_bad_entry_in_a_large_array(dtype, value):
    arr = np.random.default_rng(0).standard_normal(200_000).astype(dtype)  # BLAS splits this over threads
    assert all_finite(arr)
    for where in (0, 99_999, 100_000, 199_999):
        bad = arr.copy()
        bad[where] = value
        assert not all_finite(bad)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_all_finite_is_not_fooled_by_an_overflowing_dot(dtype):
    huge = np.full(1000, np.finfo(dtype).max / 2, dtype)  # x·x = inf, every entry finite
    assert all_finite(huge)
    huge[7] = np.inf
    assert not all_finite(huge)


def test_all_finite_keeps_each_dot_on_one_blas_thread(monkeypatch):
    """OpenBLAS splits a dot product of more than 10,000 entries over threads, which cost 2 ms a
    call on a busy machine for X of 426 × 30 (checked every epoch): all_finite hands it chunks
    of at most 10,000, and still finds a bad entry on either side of a chunk's edge."""
    import manual.validation as validation

    sizes = []
    real_dot = np.dot

    def spy(a, b, *rest):
        sizes.append(np.size(a))
        return real_dot(a, b, *rest)

    monkeypatch.setattr(validation.np, "dot", spy)
    chunk = validation._DOT_CHUNK
    for dtype in (np.float64, np.float32):
        arr = np.random.default_rng(1).standard_normal((426, 30)).astype(dtype)
        assert all_finite(arr) and all_finite(np.asfortranarray(arr))
        for where in (0, chunk - 1, chunk, arr.size - 1):
            for value in (np.nan, np.inf, np.finfo(dtype).max):
                bad = arr.copy()
                bad.flat[where] = value
                assert all_finite(bad) == np.isfinite(value), (dtype, where, value)
    assert sizes and max(sizes) <= min(chunk, 10_000)
