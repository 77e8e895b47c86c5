"""Scaled dot-product and multi-head attention (issue 20) against jax.vjp of their twins.

The property (dualgrad.engine.sequence_properties.matches) over drawn N, T, S ≠ T, D, E, heads and masks
(none, all-True, causal, random with every row attending a key), float64 (1,000 cases per function
in the ci profile) and float32; then the mask, the causal helper, self-attention's dx = the sum of
three paths, and the bad inputs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sequence_helpers import EXAMPLES, FLOAT32_EXAMPLES, run_property

import manual.layers as M
import reference.layers as R

ATTENTION_LAYERS = ["attention", "multihead_attention"]


@pytest.mark.parametrize("layer", ATTENTION_LAYERS)
def test_layer_matches_jax_vjp_float64(layer):
    assert run_property(layer, "float64", EXAMPLES) >= EXAMPLES


@pytest.mark.parametrize("layer", ATTENTION_LAYERS)
def test_layer_matches_jax_vjp_float32(layer):
    assert run_property(layer, "float32", FLOAT32_EXAMPLES) >= FLOAT32_EXAMPLES


def _qkv(rng, N=2, T=3, S=4, D=5, E=2):
    return rng.standard_normal((N, T, D)), rng.standard_normal((N, S, D)), rng.standard_normal((N, S, E))


def test_causal_mask_is_tril_on_both_sides():
    np.testing.assert_array_equal(M.causal_mask(3), [[1, 0, 0], [1, 1, 0], [1, 1, 1]])
    np.testing.assert_array_equal(M.causal_mask(2, 4), [[1, 0, 0, 0], [1, 1, 0, 0]])  # top-left, as PyTorch
    np.testing.assert_array_equal(M.causal_mask(4, 2), [[1, 0], [1, 1], [1, 1], [1, 1]])
    for T, S in [(1, 1), (3, 5), (5, 3)]:
        np.testing.assert_array_equal(M.causal_mask(T, S), np.asarray(R.causal_mask(T, S)))
    with pytest.raises(ValueError, match="T must be an int >= 1"):
        M.causal_mask(0)
    with pytest.raises(TypeError, match="S must be an int"):
        M.causal_mask(2, 2.0)


def test_no_mask_equals_the_all_true_mask():
    q, k, v = _qkv(np.random.default_rng(0))
    out, cache = M.attention_forward(q, k, v)
    out_all, cache_all = M.attention_forward(q, k, v, np.ones((3, 4), bool))
    np.testing.assert_array_equal(out, out_all)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    for a, b in zip(M.attention_backward(dout, cache), M.attention_backward(dout, cache_all)):
        np.testing.assert_array_equal(a, b)


def test_masked_keys_get_exactly_zero_weight_and_gradient():
    """Key 3 masked for every query: its P column is exactly 0, so dk[:, 3] = dv[:, 3] = 0 exactly,
    and out is the attention over keys 0..2 alone (the mask before the softmax renormalises)."""
    q, k, v = _qkv(np.random.default_rng(2))
    mask = np.ones((3, 4), bool)
    mask[:, 3] = False
    out, cache = M.attention_forward(q, k, v, mask)
    assert not cache.P[:, :, 3].any()
    np.testing.assert_allclose(cache.P.sum(axis=2), 1.0, rtol=1e-15)
    np.testing.assert_allclose(out, M.attention_forward(q, k[:, :3], v[:, :3])[0], rtol=1e-14)
    dq, dk, dv = M.attention_backward(np.ones_like(out) + np.arange(out.size).reshape(out.shape), cache)
    assert not dk[:, 3].any() and not dv[:, 3].any()


def test_a_row_attending_nothing_is_refused_on_both_sides():
    q, k, v = _qkv(np.random.default_rng(3))
    mask = M.causal_mask(3, 4)
    mask[1] = False
    with pytest.raises(ValueError, match="mask row 1 attends no key"):
        M.attention_forward(q, k, v, mask)
    with pytest.raises(ValueError, match="mask row 1 attends no key"):
        R.attention(q, k, v, mask)


def test_self_attention_dx_is_the_sum_of_three_paths():
    rng = np.random.default_rng(4)
    N, T, E, h = 2, 4, 6, 3
    x = rng.standard_normal((N, T, E))
    params = [rng.standard_normal((E, E)) / 3 if i % 2 == 0 else rng.standard_normal(E) for i in range(8)]
    mask = M.causal_mask(T)
    out, cache = M.multihead_attention_forward(x, x, x, *params, h, mask)
    dout = rng.standard_normal(out.shape)
    dquery, dkey, dvalue, *_ = M.multihead_attention_backward(dout, cache)

    def self_attention(x):
        return jnp.vdot(R.multihead_attention(x, x, x, *params, h, mask), dout)

    np.testing.assert_allclose(dquery + dkey + dvalue, jax.grad(self_attention)(x), rtol=1e-10, atol=1e-12)
    assert np.max(np.abs(dkey)) > 1e-3 and np.max(np.abs(dvalue)) > 1e-3  # the three paths are all real


def test_one_head_is_attention_of_the_projections():
    rng = np.random.default_rng(5)
    N, T, S, E = 2, 3, 5, 4
    query, key, value = rng.standard_normal((N, T, E)), rng.standard_normal((N, S, E)), rng.standard_normal((N, S, E))
    Wq, bq, Wk, bk, Wv, bv = (rng.standard_normal((E, E)) if i % 2 == 0 else rng.standard_normal(E) for i in range(6))
    Wo, bo = np.eye(E), np.zeros(E)
    out, _ = M.multihead_attention_forward(query, key, value, Wq, bq, Wk, bk, Wv, bv, Wo, bo, 1)
    want, _ = M.attention_forward(query @ Wq + bq, key @ Wk + bk, value @ Wv + bv)
    np.testing.assert_allclose(out, want, rtol=1e-13, atol=1e-14)


def _mha_args(E=4, heads=2, dtype=np.float64):
    z = lambda *s: np.zeros(s, dtype)  # noqa: E731
    return [z(1, 2, E), z(1, 3, E), z(1, 3, E), z(E, E), z(E), z(E, E), z(E), z(E, E), z(E), z(E, E), z(E), heads]


def _f(*shape):
    return np.zeros(shape)


BAD = [
    ("k width", lambda: M.attention_forward(_f(2, 3, 4), _f(2, 5, 3), _f(2, 5, 2)), ValueError, "k must have shape (2, S, 4)"),
    ("v keys", lambda: M.attention_forward(_f(2, 3, 4), _f(2, 5, 4), _f(2, 4, 2)), ValueError, "v must have shape (2, 5, E)"),
    ("q 2-D", lambda: M.attention_forward(_f(3, 4), _f(2, 5, 4), _f(2, 5, 2)), ValueError, "3-D shape (N, T, D)"),
    ("mask shape", lambda: M.attention_forward(_f(2, 3, 4), _f(2, 5, 4), _f(2, 5, 2), np.ones((5, 3), bool)),
     ValueError, "mask must have shape (3, 5)"),
    ("mask dtype", lambda: M.attention_forward(_f(2, 3, 4), _f(2, 5, 4), _f(2, 5, 2), np.ones((3, 5))),
     TypeError, "mask must be a bool array"),
    ("heads divide E", lambda: M.multihead_attention_forward(*_mha_args(E=4, heads=3)), ValueError, "dividing E = 4"),
    ("heads type", lambda: M.multihead_attention_forward(*_mha_args(E=4, heads=2.0)), TypeError, "num_heads must be an int"),
    ("Wo shape", lambda: M.multihead_attention_forward(*(_mha_args()[:9] + [_f(4, 3), _f(4), 2])), ValueError,
     "Wo must have shape (4, 4)"),
    ("value shape", lambda: M.multihead_attention_forward(*([_f(1, 2, 4), _f(1, 3, 4), _f(1, 2, 4)] + _mha_args()[3:])),
     ValueError, "value must have shape (1, 3, 4)"),
    ("attention cache", lambda: M.attention_backward(_f(1, 1, 1), None), TypeError, "attention_forward"),
]


@pytest.mark.parametrize("name, call, kind, words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_with_a_clear_message(name, call, kind, words):
    with pytest.raises(kind) as err:
        call()
    assert words in str(err.value), str(err.value)


def test_float32_in_float32_out():
    out, cache = M.multihead_attention_forward(*_mha_args(dtype=np.float32), mask=M.causal_mask(2, 3))
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in M.multihead_attention_backward(np.ones_like(out), cache))
