"""RNN, LSTM, temporal affine, temporal softmax loss and GELU (issue 20) against jax.vjp of their twins.

The property (dualgrad.engine.sequence_properties.matches) runs every forward and backward with a random
upstream gradient for every output, over drawn N, T (1 included), D, H, in float64 (EXAMPLES:
1,000 per function in the ci profile) and float32; the step and whole-sequence functions
separately. Then the derivations case by case: the whole sequence is the loop of steps, the loss
is divided by N only, the two GELU forms, the bad inputs.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
from hypothesis import given, settings

import manual.layers as M
import reference.layers as R
from dualgrad import check_layer
from dualgrad.engine import sequence_properties as P
from manual import activations as A
from sequence_helpers import EXAMPLES, FLOAT32_EXAMPLES, run_property

SEQUENCE_LAYERS = ["rnn_step", "rnn", "lstm_step", "lstm", "temporal_affine", "temporal_softmax_loss", "gelu"]


@pytest.mark.parametrize("layer", SEQUENCE_LAYERS)
def test_layer_matches_jax_vjp_float64(layer):
    assert run_property(layer, "float64", EXAMPLES) >= EXAMPLES


@pytest.mark.parametrize("layer", SEQUENCE_LAYERS)
def test_layer_matches_jax_vjp_float32(layer):
    assert run_property(layer, "float32", FLOAT32_EXAMPLES) >= FLOAT32_EXAMPLES


@pytest.mark.parametrize("layer", sorted(P.LAYERS))
def test_padded_reference_equals_the_plain_twin(layer):
    """The fast path (zero padding to one bucket shape, cropped back) = the twin on the case's own arrays."""

    @settings(max_examples=6, derandomize=True, database=None)  # the plain twin compiles per shape
    @given(P.cases(layer))
    def prop(case):
        fast, plain = P.reference(case), P.reference(case, padded=False)
        for a, b in zip(fast[0] + fast[1], plain[0] + plain[1]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13 * max(1.0, float(np.max(np.abs(b), initial=0))))

    prop()


# ---------------------------------------------------------------- the engine, where it fits (one input)


def test_temporal_affine_through_check_layer():
    result = check_layer(M.temporal_affine_forward, M.temporal_affine_backward, R.temporal_affine,
                         shapes={"x": ("N", "T", "D")}, params={"w": ("D", "M"), "b": ("M",)},
                         dims={"N": (1, 3), "T": [1, 2, 4], "D": (1, 3), "M": (1, 4)},
                         bucket={"N": 3, "T": 4, "D": 3, "M": 4}, examples=EXAMPLES, seed=0)
    assert result.passed, result.message
    assert result.examples == EXAMPLES


def test_gelu_both_forms_through_check_layer():
    result = check_layer(M.gelu_forward, M.gelu_backward, R.gelu, shapes={"x": ("N", "D")},
                         dims={"N": (1, 6), "D": (1, 6)}, hyper={"approximate": ["none", "tanh"]},
                         bucket={"N": 6, "D": 6}, scale=(-1.0, 1.3), examples=EXAMPLES, seed=0)
    assert result.passed, result.message
    assert result.examples == EXAMPLES


# ---------------------------------------------------------------- BPTT is the loop of steps


def _rnn_params(rng, N, T, D, H, gates=1):
    return (rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((D, gates * H)) / 2,
            rng.standard_normal((H, gates * H)) / 2, rng.standard_normal(gates * H))


@pytest.mark.parametrize("N, T, D, H", [(1, 1, 1, 1), (2, 5, 3, 4), (3, 2, 1, 2)])
def test_rnn_forward_and_backward_are_the_loop_of_steps(N, T, D, H):
    rng = np.random.default_rng(T)
    x, h0, Wx, Wh, b = _rnn_params(rng, N, T, D, H)
    h, cache = M.rnn_forward(x, h0, Wx, Wh, b)
    dh = rng.standard_normal(h.shape)
    prev, caches = h0, []
    for t in range(T):
        prev, c = M.rnn_step_forward(x[:, t], prev, Wx, Wh, b)
        np.testing.assert_array_equal(h[:, t], prev)
        caches.append(c)
    dx, dh0, dWx, dWh, db = M.rnn_backward(dh, cache)
    carry, sums = np.zeros((N, H)), [0.0, 0.0, 0.0]
    for t in reversed(range(T)):
        dx_t, carry, *dparams = M.rnn_step_backward(dh[:, t] + carry, caches[t])
        np.testing.assert_allclose(dx[:, t], dx_t, rtol=1e-13, atol=1e-14)
        sums = [s + d for s, d in zip(sums, dparams)]
    np.testing.assert_allclose(dh0, carry, rtol=1e-13, atol=1e-14)
    for got, want in zip((dWx, dWh, db), sums):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("N, T, D, H", [(1, 1, 1, 1), (2, 5, 3, 4), (3, 2, 1, 2)])
def test_lstm_forward_and_backward_are_the_loop_of_steps(N, T, D, H):
    rng = np.random.default_rng(T + 10)
    x, h0, Wx, Wh, b = _rnn_params(rng, N, T, D, H, gates=4)
    h, cache = M.lstm_forward(x, h0, Wx, Wh, b)
    dh = rng.standard_normal(h.shape)
    prev_h, prev_c, caches = h0, np.zeros((N, H)), []  # c0 = 0
    for t in range(T):
        prev_h, prev_c, c = M.lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        np.testing.assert_array_equal(h[:, t], prev_h)
        caches.append(c)
    dx, dh0, dWx, dWh, db = M.lstm_backward(dh, cache)
    carry_h, carry_c, sums = np.zeros((N, H)), np.zeros((N, H)), [0.0, 0.0, 0.0]
    for t in reversed(range(T)):
        dx_t, carry_h, carry_c, *dparams = M.lstm_step_backward(dh[:, t] + carry_h, carry_c, caches[t])
        np.testing.assert_allclose(dx[:, t], dx_t, rtol=1e-13, atol=1e-14)
        sums = [s + d for s, d in zip(sums, dparams)]
    np.testing.assert_allclose(dh0, carry_h, rtol=1e-13, atol=1e-14)
    for got, want in zip((dWx, dWh, db), sums):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_lstm_gates_are_in_the_order_i_f_o_g():
    """Only the forget gate open (a_f = +40, the rest −40 / 0): c stays prev_c, h = σ(−40) tanh(c) ≈ 0."""
    H = 2
    b = np.concatenate([np.full(H, -40.0), np.full(H, 40.0), np.full(H, -40.0), np.zeros(H)])  # i, f, o, g
    prev_c = np.array([[0.5, -1.5]])
    h, c, _ = M.lstm_step_forward(np.zeros((1, 1)), np.zeros((1, H)), prev_c, np.zeros((1, 4 * H)),
                                  np.zeros((H, 4 * H)), b)
    np.testing.assert_allclose(c, prev_c, rtol=1e-15)
    assert np.all(np.abs(h) < 1e-17)


# ---------------------------------------------------------------- the temporal loss: / N only


def test_temporal_softmax_loss_sums_over_steps_and_divides_by_n_only():
    rng = np.random.default_rng(3)
    N, T, V = 2, 4, 5
    x, y = rng.standard_normal((N, T, V)), rng.integers(0, V, size=(N, T))
    mask = np.array([[True, True, True, False], [True, False, False, False]])
    loss, dx = M.temporal_softmax_loss(x, y, mask)
    log_p = x - np.log(np.exp(x).sum(axis=2, keepdims=True))
    per_step = -np.take_along_axis(log_p, y[:, :, None], axis=2)[:, :, 0]  # (N, T)
    assert loss == pytest.approx(per_step[mask].sum() / N, rel=1e-14)  # 4 steps counted, divided by N = 2
    token_mean = per_step[mask].mean()  # PyTorch's mean over tokens: / Σ mask = 4
    assert loss == pytest.approx(token_mean * mask.sum() / N, rel=1e-14)
    np.testing.assert_array_equal(dx[~mask], 0.0)
    np.testing.assert_allclose(dx.sum(axis=2), 0.0, atol=1e-15)  # softmax − one-hot sums to 0 per step


def test_temporal_softmax_loss_with_nothing_counted_is_zero():
    x = np.ones((2, 3, 4), np.float32)
    loss, dx = M.temporal_softmax_loss(x, np.zeros((2, 3), np.int64), np.zeros((2, 3), bool))
    assert loss == 0.0 and dx.dtype == np.float32 and not dx.any()
    assert float(R.temporal_softmax_loss(x.astype(np.float64), np.zeros((2, 3), np.int64), np.zeros((2, 3), bool))) == 0.0


def test_embedding_accepts_ids_of_shape_n_t():
    E = np.arange(12.0).reshape(4, 3)
    ids = np.array([[0, 3, 3], [1, 0, 2]])
    out, cache = M.embedding_forward(ids, E)
    np.testing.assert_array_equal(out, E[ids])
    dE = M.embedding_backward(np.ones((2, 3, 3)), cache)
    np.testing.assert_array_equal(dE[:, 0], [2, 1, 1, 2])  # id 0 and id 3 read twice


# ---------------------------------------------------------------- GELU: two forms, the named activation unchanged


def test_gelu_default_is_the_exact_erf_form():
    x = np.array([-3.0, -1.0, 0.0, 1.0, 2.5])
    exact = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2.0)) for v in x])
    out, cache = M.gelu_forward(x)
    np.testing.assert_allclose(out, exact, rtol=1e-14)
    assert out[3] == pytest.approx(0.8413447460685429, rel=1e-15)  # Φ(1)
    dx, = M.gelu_backward(np.ones_like(x), cache)
    assert dx[2] == 0.5  # Φ(0) + 0·φ(0)
    np.testing.assert_allclose(np.asarray(jax.nn.gelu(x, approximate=False)), out, rtol=1e-14, atol=1e-300)


def test_the_named_activation_gelu_keeps_the_tanh_form():
    x = np.linspace(-4, 4, 41)
    tanh_form, _ = M.gelu_forward(x, approximate="tanh")
    np.testing.assert_array_equal(tanh_form, A.gelu(x))  # manual.activations' "gelu", used by NetworkSpec/MLP
    named_forward, named_backward = M.ACTIVATION_LAYERS["gelu"]
    out, cache = named_forward(x)
    np.testing.assert_array_equal(out, A.gelu(x))
    np.testing.assert_array_equal(named_backward(np.ones_like(x), cache)[0], A.gelu_derivative(x, out))
    np.testing.assert_array_equal(np.asarray(R.ACTIVATION_LAYERS["gelu"](x)), np.asarray(jax.nn.gelu(x, approximate=True)))
    assert np.max(np.abs(M.gelu_forward(x)[0] - tanh_form)) > 1e-4  # the two forms are different functions


# ---------------------------------------------------------------- bad input: named, before anything changes


def _f(*shape, dtype=np.float64):
    return np.zeros(shape, dtype)


BAD = [
    ("rnn_step x D", lambda: M.rnn_step_forward(_f(2, 3), _f(2, 4), _f(5, 4), _f(4, 4), _f(4)), ValueError, "(N, 5)"),
    ("rnn_step prev_h", lambda: M.rnn_step_forward(_f(2, 3), _f(3, 4), _f(3, 4), _f(4, 4), _f(4)), ValueError, "prev_h"),
    ("rnn Wh", lambda: M.rnn_forward(_f(2, 3, 3), _f(2, 4), _f(3, 4), _f(4, 3), _f(4)), ValueError, "Wh must have shape (4, 4)"),
    ("rnn x 2-D", lambda: M.rnn_forward(_f(2, 3), _f(2, 4), _f(3, 4), _f(4, 4), _f(4)), ValueError, "(N, T, 3)"),
    ("rnn T = 0", lambda: M.rnn_forward(_f(2, 0, 3), _f(2, 4), _f(3, 4), _f(4, 4), _f(4)), ValueError, "T >= 1"),
    ("rnn dh", lambda: M.rnn_backward(_f(2, 3, 5), M.rnn_forward(_f(2, 3, 3), _f(2, 4), _f(3, 4), _f(4, 4), _f(4))[1]),
     ValueError, "(2, 3, 4)"),
    ("lstm Wx not 4H", lambda: M.lstm_forward(_f(2, 3, 3), _f(2, 1), _f(3, 5), _f(1, 4), _f(4)), ValueError, "4H"),
    ("lstm b", lambda: M.lstm_step_forward(_f(2, 3), _f(2, 1), _f(2, 1), _f(3, 4), _f(1, 4), _f(3)), ValueError, "b must have shape (4,)"),
    ("lstm ints", lambda: M.lstm_forward(np.zeros((2, 3, 3), int), _f(2, 1), _f(3, 4), _f(1, 4), _f(4)), TypeError, "float"),
    ("temporal_affine", lambda: M.temporal_affine_forward(_f(2, 3, 4), _f(3, 5), _f(5)), ValueError, "(N, T, 3)"),
    ("loss y shape", lambda: M.temporal_softmax_loss(_f(2, 3, 4), np.zeros((2, 2), int), np.ones((2, 3), bool)),
     ValueError, "y must have shape (2, 3)"),
    ("loss y range", lambda: M.temporal_softmax_loss(_f(2, 3, 4), np.full((2, 3), 4), np.ones((2, 3), bool)),
     ValueError, "0 .. 3"),
    ("loss mask dtype", lambda: M.temporal_softmax_loss(_f(2, 3, 4), np.zeros((2, 3), int), np.ones((2, 3))),
     TypeError, "mask must be a bool array"),
    ("loss mask shape", lambda: M.temporal_softmax_loss(_f(2, 3, 4), np.zeros((2, 3), int), np.ones((3, 2), bool)),
     ValueError, "mask must have shape (2, 3)"),
    ("gelu approximate", lambda: M.gelu_forward(_f(2), approximate="erf"), ValueError, "'none' or 'tanh'"),
    ("gelu approximate bool", lambda: M.gelu_forward(_f(2), approximate=True), TypeError, "'none' or 'tanh'"),
    ("gelu nan", lambda: M.gelu_forward(np.array([np.nan])), ValueError, "NaN"),
    ("rnn cache", lambda: M.rnn_backward(_f(1, 1, 1), object()), TypeError, "rnn_forward"),
]


@pytest.mark.parametrize("name, call, kind, words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_with_a_clear_message(name, call, kind, words):
    with pytest.raises(kind) as err:
        call()
    assert words in str(err.value), str(err.value)
