"""Scaled dot-product and multi-head attention in JAX; gradients from jax.vjp.

NOTE: masked scores are set to −∞ before jax.nn.softmax, as manual's: their weights are exactly 0.
"""

import math

import jax
import jax.numpy as jnp

from manual.layers import checks


def causal_mask(T, S=None):
    """(T, S) bool, True where key s <= query t (top-left diagonal, as np.tril)."""
    return jnp.tril(jnp.ones((T, T if S is None else S), dtype=bool))


def attention(q, k, v, mask=None):
    """softmax(q kᵀ/√D, masked) v;  q (N, T, D), k (N, S, D), v (N, S, E), mask (T, S) bool or None."""
    checks.float_array(q, "q", 3, what="3-D shape (N, T, D)")
    checks.attention_mask(mask, q.shape[1], k.shape[1])
    s = q @ jnp.swapaxes(k, 1, 2) / math.sqrt(q.shape[2])
    if mask is not None:
        s = jnp.where(mask, s, -jnp.inf)
    return jax.nn.softmax(s, axis=2) @ v


def _heads(X, h):
    N, L, E = X.shape
    return jnp.swapaxes(X.reshape(N, L, h, E // h), 1, 2)  # (N, h, L, E/h)


def multihead_attention(query, key, value, Wq, bq, Wk, bk, Wv, bv, Wo, bo, num_heads, mask=None):
    """[attention(Qⱼ, Kⱼ, Vⱼ, mask)]ⱼ Wo + bo, Q = query Wq + bq, ...; heads split along E."""
    checks.float_array(query, "query", 3, what="3-D shape (N, T, E)")
    N, T, E = query.shape
    if E % num_heads:
        raise ValueError(f"num_heads must divide E = {E}, got {num_heads}")
    Q, K, V = (_heads(x @ W + b, num_heads) for x, W, b in ((query, Wq, bq), (key, Wk, bk), (value, Wv, bv)))
    Dh = E // num_heads
    A = attention(Q.reshape(-1, T, Dh), K.reshape(-1, K.shape[2], Dh), V.reshape(-1, V.shape[2], Dh), mask)
    Y = jnp.swapaxes(A.reshape(N, num_heads, T, Dh), 1, 2).reshape(N, T, E)
    return Y @ Wo + bo
