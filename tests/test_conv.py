"""Convolution, pooling and flatten (issue 13): manual = jax.vjp, naive = fast, ties, edges, bad input.

The properties live in dualgrad.conv_properties (the bug catalog runs the same ones). The ci
profile runs 500 examples of each (max(100, profile // 4)); JAX goes through
reference.layers.bucketed_windows (a few compiled programs), proven equal to the plain twins here.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

import reference  # noqa: F401  (float64)
from dualgrad import conv_properties as P
from manual.layers import conv as CV
from manual.layers import flatten as FL
from manual.layers import pool as PL
from reference.layers import bucketed_windows as BW
from reference.layers.conv import conv2d
from reference.layers.pool import avgpool2d, maxpool2d

EXAMPLES = max(100, settings().max_examples // 4)  # ci: 500


@settings(max_examples=EXAMPLES)
@given(P.conv_cases())
def test_conv2d_matches_jax_vjp(case):
    P.conv_matches(case)


@settings(max_examples=EXAMPLES)
@given(P.pool_cases())
def test_maxpool2d_matches_jax_vjp(case):
    P.maxpool_matches(case)


@settings(max_examples=EXAMPLES)
@given(P.pool_cases())
def test_avgpool2d_matches_jax_vjp(case):
    P.avgpool_matches(case)


@settings(max_examples=EXAMPLES)
@given(P.flatten_cases())
def test_flatten_matches_jax_vjp(case):
    P.flatten_matches(case)


@settings(max_examples=EXAMPLES)
@given(P.conv_cases())
def test_conv2d_naive_equals_fast(case):
    P.conv_naive_equals_fast(case)


@settings(max_examples=EXAMPLES)
@given(P.pool_cases())
def test_pool_naive_equals_fast(case):
    P.pool_naive_equals_fast(case)


# ---------------------------------------------------------------- the bucketed path = the plain twins


def _plain_conv(case):
    x, W, b, stride, padding, dilation, dout, _ = case

    @jax.jit  # one program for the whole vjp (eagerly, each primitive compiles on its own: 4x slower)
    def run(x, W, b, dout):
        out, vjp = jax.vjp(lambda x, W, b: conv2d(x, W, b, stride, padding, dilation), x, W, b)
        return (out,) + vjp(dout)

    return run(x, W, b, dout)


@settings(max_examples=8, suppress_health_check=list(HealthCheck))  # a compile per case: few
@given(P.conv_cases())
def test_bucketed_conv_equals_the_plain_twin(case):
    bucketed = BW.conv2d_vjp(case.x, case.W, case.b, case.dout, case.stride, case.padding, case.dilation)
    for name, got, want in zip(("out", "dx", "dW", "db"), bucketed, _plain_conv(case)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=name)
    forward = BW.conv2d_vjp(case.x, case.W, case.b, None, case.stride, case.padding, case.dilation)
    assert forward[1:] == (None, None, None)  # dout None: the forward program, out only
    np.testing.assert_allclose(forward[0], bucketed[0], rtol=1e-13, atol=1e-15, err_msg="forward-only out")


@settings(max_examples=8, suppress_health_check=list(HealthCheck))
@given(P.pool_cases(), st.sampled_from(["max", "avg"]))
def test_bucketed_pool_equals_the_plain_twin(case, kind):
    layer = maxpool2d if kind == "max" else avgpool2d

    @jax.jit
    def run(x, dout):
        out, vjp = jax.vjp(lambda x: layer(x, case.size, case.stride), x)
        return out, vjp(dout)[0]

    got = BW.pool2d_vjp(kind, case.x, case.dout, case.size, case.stride)
    for name, g, w in zip(("out", "dx"), got, run(case.x, case.dout)):
        np.testing.assert_array_equal(g, w, err_msg=f"{kind} {name}") if kind == "max" else \
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14, err_msg=f"{kind} {name}")
    out, dx = BW.pool2d_vjp(kind, case.x, None, case.size, case.stride)  # dout None: the forward program
    assert dx is None
    np.testing.assert_allclose(out, got[0], rtol=1e-13, atol=1e-15, err_msg=f"{kind} forward-only out")


# ---------------------------------------------------------------- the edge cases are drawn, not filtered


EDGES = {
    "kernel = input size": lambda c: c.W.shape[2] == c.x.shape[2] and c.padding[0] == 0 and c.W.shape[2] > 1,
    "1x1 kernel": lambda c: c.W.shape[2:] == (1, 1),
    "stride > kernel": lambda c: c.stride[0] > c.W.shape[2],
    "H != W": lambda c: c.x.shape[2] != c.x.shape[3],
    "padding >= kernel - 1": lambda c: c.padding[0] >= c.W.shape[2] - 1 and c.padding[0] > 0,
    "dilation 2": lambda c: c.dilation[0] == 2,
    "dilated kernel spans more than the input": lambda c: (c.W.shape[2] - 1) * c.dilation[0] + 1 > c.x.shape[2],
    "rows no window reads": lambda c: (c.x.shape[2] + 2 * c.padding[0] - ((c.W.shape[2] - 1) * c.dilation[0] + 1))
                                     % c.stride[0] != 0,
}


@pytest.mark.parametrize("edge", sorted(EDGES))
def test_every_edge_case_is_drawn_and_passes(edge):
    case = find(P.conv_cases(), EDGES[edge], settings=settings(max_examples=2000, database=None, derandomize=True))
    P.conv_matches(case)
    P.conv_naive_equals_fast(case)


# ---------------------------------------------------------------- max pooling's ties, on purpose


def _maxpool_dx(x, size, stride, dout):
    out, cache = PL.maxpool2d_forward(x, size, stride)
    return PL.maxpool2d_backward(dout, cache)[0]


def test_a_tied_window_sends_its_gradient_to_its_first_maximum_like_jax():
    x = np.array([[[[1.0, 2.0, 2.0], [2.0, 0.0, 1.0], [2.0, 2.0, 2.0]]]])  # max 2 five times
    dx = _maxpool_dx(x, 3, 1, np.array([[[[5.0]]]]))
    expected = np.zeros_like(x)
    expected[0, 0, 0, 1] = 5.0  # the first 2 in row-major order
    np.testing.assert_array_equal(dx, expected)
    np.testing.assert_array_equal(jax.vjp(lambda x: maxpool2d(x, 3, 1), x)[1](np.array([[[[5.0]]]]))[0], expected)


def test_overlapping_windows_add_at_a_shared_maximum():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0  # the maximum of all four 2x2 windows (stride 1)
    dout = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    dx = _maxpool_dx(x, 2, 1, dout)
    assert dx[0, 0, 1, 1] == 1111.0 and np.count_nonzero(dx) == 1


def test_all_zero_windows_each_choose_their_own_top_left():
    x = np.zeros((1, 1, 3, 3))
    dout = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, :2, :2] = dout[0, 0]
    np.testing.assert_array_equal(_maxpool_dx(x, 2, 1, dout), expected)
    np.testing.assert_array_equal(jax.vjp(lambda x: maxpool2d(x, 2, 1), x)[1](dout)[0], expected)


def _tied_windows(case):
    windows = CV.windows.windows(case.x, case.size, case.stride, (1, 1), case.dout.shape[2:])
    flat = windows.reshape(*windows.shape[:4], -1)  # (N, C, Ho, Wo, kh·kw)
    return int(((flat == flat.max(axis=-1, keepdims=True)).sum(axis=-1) > 1).sum())


@pytest.mark.parametrize("overlapping", [False, True])
def test_ties_are_drawn_and_follow_jax(overlapping):
    """The strategy draws windows with tied maxima (small-integer images) on its own, with and
    without overlapping windows, and the property passes on them."""
    def wanted(c):
        return _tied_windows(c) >= 3 and (c.stride[0] < c.size[0]) == overlapping

    case = find(P.pool_cases(), wanted, settings=settings(max_examples=2000, database=None, derandomize=True))
    P.maxpool_matches(case)
    P.pool_naive_equals_fast(case)


# ---------------------------------------------------------------- dtypes and shapes of the contract


def test_contract_names_and_shapes():
    from manual import layers as ML
    from reference import layers as RL

    x, W, b = np.ones((2, 3, 5, 4)), np.ones((4, 3, 3, 2)), np.zeros(4)
    out, cache = ML.conv2d_forward(x, W, b, stride=(2, 1), padding=1)
    assert out.shape == (2, 4, 3, 5)
    assert [g.shape for g in ML.conv2d_backward(np.ones_like(out), cache)] == [x.shape, W.shape, b.shape]
    assert ML.maxpool2d_forward(x, 2, 2)[0].shape == ML.avgpool2d_forward(x, (2, 1), 1)[0].shape[:2] + (2, 2)
    assert ML.flatten_forward(x)[0].shape == (2, 60)
    assert RL.conv2d(x, W, b, stride=(2, 1), padding=1).shape == (2, 4, 3, 5)
    assert RL.flatten(x).shape == (2, 60) and RL.maxpool2d(x, 2, 2).shape == (2, 3, 2, 2)
    assert RL.avgpool2d(x, 2, 2).shape == (2, 3, 2, 2)


def test_float32_stays_float32():
    rng = np.random.default_rng(0)
    x, W, b = (rng.standard_normal(s).astype(np.float32) for s in ((2, 2, 5, 5), (3, 2, 3, 3), (3,)))
    out, cache = CV.conv2d_forward(x, W, b, 1, 1)
    grads = CV.conv2d_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    o, c = PL.maxpool2d_forward(x, 2, 2)
    assert o.dtype == np.float32 and PL.maxpool2d_backward(o, c)[0].dtype == np.float32
    o, c = PL.avgpool2d_forward(x, 2, 2)
    assert o.dtype == np.float32 and PL.avgpool2d_backward(o, c)[0].dtype == np.float32


# ---------------------------------------------------------------- bad input


_X, _W, _B = np.zeros((1, 2, 4, 4)), np.zeros((3, 2, 3, 3)), np.zeros(3)
BAD_CALLS = [
    ("kernel larger than the padded input", lambda: CV.conv2d_forward(np.zeros((1, 2, 2, 2)), _W, _B),
     ValueError, r"kernel height 3 is larger than the padded input height 2 \+ 2·0 = 2"),
    ("dilated kernel larger", lambda: CV.conv2d_forward(_X, _W, _B, dilation=2), ValueError, r"\(dilated: 5\)"),
    ("stride 0", lambda: CV.conv2d_forward(_X, _W, _B, stride=0), ValueError, r"stride must be an int >= 1"),
    ("stride a float", lambda: CV.conv2d_forward(_X, _W, _B, stride=1.5), TypeError, r"stride must be an int >= 1"),
    ("stride of three", lambda: CV.conv2d_forward(_X, _W, _B, stride=(1, 1, 1)), TypeError, r"\(h, w\) pair"),
    ("negative padding", lambda: CV.conv2d_forward(_X, _W, _B, padding=-1), ValueError, r"padding must be an int >= 0"),
    ("channel mismatch", lambda: CV.conv2d_forward(np.zeros((1, 3, 4, 4)), _W, _B), ValueError,
     r"x must have C = 2 channels"),
    ("x 3-D", lambda: CV.conv2d_forward(np.zeros((2, 4, 4)), _W, _B), ValueError, r"x must be 4-D shape \(N, C, H, W\)"),
    ("W 3-D", lambda: CV.conv2d_forward(_X, np.zeros((3, 3, 3)), _B), ValueError, r"W must be 4-D shape \(F, C, HH, WW\)"),
    ("b of the wrong length", lambda: CV.conv2d_forward(_X, _W, np.zeros(2)), ValueError, r"b must have shape \(3,\)"),
    ("x a list", lambda: CV.conv2d_forward(_X.tolist(), _W, _B), TypeError, r"x must be a float array"),
    ("x of ints", lambda: CV.conv2d_forward(_X.astype(int), _W, _B), TypeError, r"float32 or float64"),
    ("pool larger than the input", lambda: PL.maxpool2d_forward(_X, 5, 1), ValueError,
     r"pool size height 5 is larger than the padded input height 4"),
    ("pool stride 0", lambda: PL.avgpool2d_forward(_X, 2, 0), ValueError, r"stride must be an int >= 1"),
    ("pool x 2-D", lambda: PL.maxpool2d_forward(np.zeros((4, 4)), 2, 2), ValueError, r"4-D shape \(N, C, H, W\)"),
    ("pool size 0", lambda: PL.maxpool2d_forward(_X, 0, 1), ValueError, r"size must be an int >= 1"),
    ("flatten 1-D", lambda: FL.flatten_forward(np.zeros(4)), ValueError, r"rank 2 to 5"),
    ("dout of the wrong shape", lambda: CV.conv2d_backward(np.zeros((1, 3, 3, 3)), CV.conv2d_forward(_X, _W, _B)[1]),
     ValueError, r"dout must have shape \(1, 3, 2, 2\)"),
    ("a cache of another layer", lambda: PL.maxpool2d_backward(np.zeros((1, 2, 2, 2)), PL.avgpool2d_forward(_X, 2, 2)[1]),
     TypeError, r"cache must be the cache returned by maxpool2d_forward"),
]


@pytest.mark.parametrize("what, call, error, message", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_input_names_what_was_expected(what, call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("what, call, error, message", BAD_CALLS[:8], ids=[c[0] for c in BAD_CALLS[:8]])
def test_the_reference_refuses_the_same(what, call, error, message):
    import inspect

    src = inspect.getsource(call)
    if "conv2d_forward" not in src:
        pytest.skip("pool/flatten cases: checked by the shared checks")
    args = {"kernel larger than the padded input": ((np.zeros((1, 2, 2, 2)), _W, _B), {}),
            "dilated kernel larger": ((_X, _W, _B), dict(dilation=2)),
            "stride 0": ((_X, _W, _B), dict(stride=0)), "stride a float": ((_X, _W, _B), dict(stride=1.5)),
            "stride of three": ((_X, _W, _B), dict(stride=(1, 1, 1))),
            "negative padding": ((_X, _W, _B), dict(padding=-1)),
            "channel mismatch": ((np.zeros((1, 3, 4, 4)), _W, _B), {}),
            "x 3-D": ((np.zeros((2, 4, 4)), _W, _B), {})}[what]
    with pytest.raises(error, match=message):
        conv2d(*args[0], **args[1])


# ---------------------------------------------------------------- the users' check on these layers


def test_check_layer_passes_conv2d_and_catches_a_conv_mistake():
    """dualgrad.check_layer (issue 12) on the conv layer, as a user would call it: a small fixed set
    of shapes (it compiles per shape), strides and paddings as static hyperparameters."""
    from dualgrad import check_layer
    from dualgrad.bugs.conv import bias_over_wrong_axes
    from manual import layers as ML
    from reference import layers as RL

    description = dict(shapes={"x": ("N", "C", "H", "W")}, params={"W": ("F", "C", "HH", "WW"), "b": ("F",)},
                       dims={"N": 1, "C": [1, 2], "H": [4], "W": [5], "F": [2], "HH": [3], "WW": [2]},
                       hyper={"stride": [1, (2, 1)], "padding": [0, (1, 2)]})
    good = check_layer(ML.conv2d_forward, ML.conv2d_backward, RL.conv2d, examples=12, **description)
    assert good.passed, good.message
    bad = check_layer(ML.conv2d_forward, bias_over_wrong_axes(ML.conv2d_backward), RL.conv2d, examples=12,
                      **description)
    assert not bad.passed and "db" in bad.message, bad.message


def test_check_layer_passes_maxpool2d_with_ties():
    from dualgrad import check_layer
    from manual import layers as ML
    from reference import layers as RL

    result = check_layer(ML.maxpool2d_forward, ML.maxpool2d_backward, RL.maxpool2d,
                         shapes={"x": ("N", "C", "H", "W")}, dims={"N": 1, "C": [1, 2], "H": [4], "W": [5]},
                         hyper={"size": [2, (2, 3)], "stride": [1, 2]}, examples=12)
    assert result.passed, result.message


@pytest.mark.parametrize("layout", ["strided", "fortran", "transposed"])
def test_any_memory_layout_gives_the_same_result(layout):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 10, 9))
    view = {"strided": x[:, :, ::2], "fortran": np.asfortranarray(x), "transposed": x.transpose(0, 1, 3, 2)}[layout]
    W, b = np.asfortranarray(rng.standard_normal((4, 3, 3, 2))), rng.standard_normal(4)
    contiguous = np.ascontiguousarray(view)
    for forward, backward, args in ((CV.conv2d_forward, CV.conv2d_backward, (W, b, 2, 1)),
                                    (PL.maxpool2d_forward, PL.maxpool2d_backward, (2, 1)),
                                    (PL.avgpool2d_forward, PL.avgpool2d_backward, (3, 2))):
        out, cache = forward(view, *args)
        out_c, cache_c = forward(contiguous, *args)
        np.testing.assert_allclose(out, out_c, rtol=1e-13, atol=1e-15)  # sums may run in another order
        dout = rng.standard_normal(out.shape)
        for g, g_c in zip(backward(dout, cache), backward(dout, cache_c)):
            np.testing.assert_allclose(g, g_c, rtol=1e-13, atol=1e-15)
