"""check_layer with several inputs, several outputs and non-differentiated data (issue 19, item 1).

NumPy pairs in the generalised CS231n protocol, against JAX references:
`out_1, ..., out_k, cache = forward(*inputs, *params, **hyper)`,
`d_input_1, ..., d_input_m, *dparams = backward(dout_1, ..., dout_k, cache)`.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from dualgrad import check_layer

ATTN = dict(shapes={"q": ("N", "T", "D"), "k": ("N", "S", "D"), "v": ("N", "S", "E")},
            dims={"N": [1, 2], "T": [1, 3], "S": [1, 2, 3], "D": [1, 3], "E": [1, 2]})


def _softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def attention_forward(q, k, v):
    """out = softmax(q kᵀ / √D) v, per batch entry."""
    scale = 1.0 / np.sqrt(q.shape[-1])
    p = _softmax(np.einsum("ntd,nsd->nts", q, k) * scale)  # (N, T, S)
    return p @ v, (q, k, v, p, scale)


def attention_backward(dout, cache, transpose_dk=False):
    q, k, v, p, scale = cache
    dv = np.einsum("nts,nte->nse", p, dout)  # (N, S, E)
    dp = np.einsum("nte,nse->nts", dout, v)  # (N, T, S)
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True)) * scale
    dq = ds @ k  # (N, T, D)
    dk = np.einsum("nts,ntd->nsd", ds, q)  # (N, S, D)
    if transpose_dk:  # a realistic slip: dsᵀ forgotten, only shape-correct when T == S
        dk = np.einsum("nts,nsd->ntd", ds, q) if ds.shape[1] == ds.shape[2] else dk
    return dq, dk, dv


def attention_jax(q, k, v):
    s = jnp.einsum("ntd,nsd->nts", q, k) / jnp.sqrt(q.shape[-1])
    return jax_softmax(s) @ v


def jax_softmax(s):
    e = jnp.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_three_inputs_pass():
    r = check_layer(attention_forward, attention_backward, attention_jax, examples=60, seed=0, **ATTN)
    assert r.passed, r.message
    assert r.examples == 60


def test_transposed_dk_is_caught_named_and_shrunk():
    r = check_layer(attention_forward, lambda d, c: attention_backward(d, c, transpose_dk=True), attention_jax,
                    examples=200, seed=0, **ATTN)
    assert not r.passed
    first = r.message.splitlines()[0]
    assert first.startswith("dk: ") and "at index" in first
    dims = r.counterexample.dims
    assert dims["T"] == dims["S"] > 1  # only where the shapes let the slip through
    assert r.message.splitlines()[-1].startswith("case: N=1 T=")


# ---- two outputs: CS231n's lstm_step_forward protocol ------------------------------------------


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """next_h, next_c, cache (CS231n's order: i, f, o, g)."""
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b  # (N, 4H)
    i, f, o, g = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), _sigmoid(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def lstm_step_backward(dnext_h, dnext_c, cache, forget_dc_path=False):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    t = np.tanh(next_c)
    dc = dnext_h * o * (1 - t * t) + (0.0 if forget_dc_path else dnext_c)
    da = np.concatenate([dc * g * i * (1 - i), dc * prev_c * f * (1 - f), dnext_h * t * o * (1 - o),
                         dc * i * (1 - g * g)], axis=1)
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_step_jax(x, prev_h, prev_c, Wx, Wh, b):
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    sig = lambda z: 1 / (1 + jnp.exp(-z))  # noqa: E731
    i, f, o, g = sig(a[:, :H]), sig(a[:, H:2 * H]), sig(a[:, 2 * H:3 * H]), jnp.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    return o * jnp.tanh(next_c), next_c


LSTM = dict(shapes={"x": ("N", "D"), "prev_h": ("N", "H"), "prev_c": ("N", "H")},
            params={"Wx": ("D", "H4"), "Wh": ("H", "H4"), "b": ("H4",)},
            dims={"N": [1, 2, 3], "D": [1, 3], "H": [1, 2]}, valid=lambda d, h: d["H4"] == 4 * d["H"])


def test_two_outputs_pass_with_an_independent_upstream_gradient_each():
    r = check_layer(lstm_step_forward, lstm_step_backward, reference=lstm_step_jax, examples=40, seed=0,
                    **{**LSTM, "dims": {**LSTM["dims"], "H4": [4, 8]}})
    assert r.passed, r.message


def test_a_forgotten_upstream_gradient_of_the_second_output_is_caught():
    r = check_layer(lstm_step_forward, lambda dh, dc, c: lstm_step_backward(dh, dc, c, forget_dc_path=True),
                    lstm_step_jax, examples=40, seed=0, **{**LSTM, "dims": {**LSTM["dims"], "H4": [4, 8]}})
    assert not r.passed
    assert r.message.splitlines()[0].split(":")[0] in {"dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"}
    assert "case: N=1" in r.message


def test_wrong_number_of_outputs_is_reported():
    r = check_layer(lambda x: (x * 2.0, x * 3.0, None), lambda d, c: (2 * d,), lambda x: x * 2.0,
                    shapes=("N",), examples=5)
    assert not r.passed and r.message.startswith("forward must return out, cache (2 values")


# ---- data: inputs that are not differentiated -------------------------------------------------


def _mask(dims, rng):
    m = rng.random((dims["N"], dims["S"])) < 0.7
    m[:, 0] = True  # at least one key per row
    return m


def masked_softmax_forward(s, mask):
    p = _softmax(np.where(mask, s, -np.inf))
    return p, p


def masked_softmax_backward(dout, p, bug=False):
    ds = p * (dout - (dout * p).sum(axis=-1, keepdims=True))
    if bug:  # the masked entries get dout instead of 0
        ds = ds + np.where(p == 0, dout, 0.0)
    return (ds,)


def masked_softmax_jax(s, mask):
    return jax_softmax(jnp.where(mask, s, -jnp.inf))


MASKED = dict(shapes={"s": ("N", "S"), "mask": ("N", "S")}, data={"mask": _mask},
              dims={"N": [1, 2, 3], "S": [1, 2, 4]})


def test_data_inputs_are_passed_in_order_and_not_differentiated():
    r = check_layer(masked_softmax_forward, masked_softmax_backward, masked_softmax_jax, examples=60, **MASKED)
    assert r.passed, r.message
    bad = check_layer(masked_softmax_forward, lambda d, p: masked_softmax_backward(d, p, bug=True),
                      masked_softmax_jax, examples=100, **MASKED)
    assert not bad.passed and bad.message.startswith("ds: ")
    assert "mask" in repr(bad.counterexample)


def test_old_keyword_jax_fn_still_works_and_cannot_be_given_twice():
    f = lambda x: (2.0 * x, None)  # noqa: E731
    b = lambda d, c: (2.0 * d,)  # noqa: E731
    assert check_layer(f, b, jax_fn=lambda x: 2.0 * x, shapes=("N",), examples=5).passed
    with pytest.raises(TypeError, match="once"):
        check_layer(f, b, lambda x: 2 * x, shapes=("N",), jax_fn=lambda x: 2 * x)


@pytest.mark.parametrize("kwargs, error", [
    (dict(data={"nope": _mask}), ValueError),
    (dict(data={"mask": 3}), TypeError),
    (dict(data=[1]), TypeError),
    (dict(dtype="float16"), ValueError),
    (dict(factor=0.5), ValueError),
    (dict(floor=-1.0), ValueError),
    (dict(reference_framework="numpy"), ValueError),
])
def test_bad_new_arguments(kwargs, error):
    with pytest.raises(error):
        check_layer(masked_softmax_forward, masked_softmax_backward, masked_softmax_jax,
                    **{**MASKED, **kwargs})
