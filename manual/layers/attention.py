"""Scaled dot-product attention and multi-head attention, forward and backward by hand.

Shape legend: N batch, T queries, S keys, D the query/key width, E the value width (in
multi-head attention E is also the model width, h = num_heads heads of width Dₕ = E/h).

Scaled dot-product attention, for each n (c = 1/√D):

    s = c q kᵀ                         (T, S) scores
    s̃ = s where mask, −∞ elsewhere     (T, S) mask (T, S) bool, False = not attended
    P = softmax over S of s̃            (T, S) each row sums to 1, P = 0 exactly where masked
    out = P v                          (T, E)

Multi-head attention (weights in our in_out layout, x @ W + b):

    Q = query Wq + bq,  K = key Wk + bk,  V = value Wv + bv       (N, T, E), (N, S, E), (N, S, E)
    head j: columns j·Dₕ .. (j + 1)·Dₕ − 1 of Q, K, V;  Aⱼ = attention(Qⱼ, Kⱼ, Vⱼ, mask)  (N, T, Dₕ)
    Y = [A₀ | A₁ | ... | Aₕ₋₁]  (N, T, E),   out = Y Wo + bo  (N, T, E)

The scale of each head is 1/√Dₕ (its own key width), as PyTorch's nn.MultiheadAttention.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from . import checks


def causal_mask(T, S=None):
    """The (T, S) bool mask of causal attention: query t attends keys 0 .. t (S = T by default).

    For S ≠ T the diagonal starts at the top left (np.tril of a (T, S) block of ones), as
    PyTorch's scaled_dot_product_attention(is_causal=True); every row attends key 0 at least.
    """
    T = _count(T, "T")
    S = T if S is None else _count(S, "S")
    return np.tril(np.ones((T, S), dtype=bool))  # (T, S): True on and below the diagonal


def _count(value, name):
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an int >= 1, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


class AttentionCache(NamedTuple):
    q: np.ndarray  # (N, T, D)  for dk = c dsᵀ q
    k: np.ndarray  # (N, S, D)  for dq = c ds k
    v: np.ndarray  # (N, S, E)  for dP = dout vᵀ
    P: np.ndarray  # (N, T, S)  the attention weights, 0 where masked
    scale: float  # c = 1/√D


def attention_forward(q, k, v, mask=None):
    """out = softmax(q kᵀ/√D, masked) v;  q (N, T, D), k (N, S, D), v (N, S, E), mask None or (T, S)
    bool (False = not attended; every row must attend a key) -> out (N, T, E), cache."""
    q = checks.float_array(q, "q", 3, what="3-D shape (N, T, D)")
    N, T, D = q.shape
    if N < 1 or T < 1 or D < 1:
        raise ValueError(f"q must have shape (N, T, D) with N, T, D >= 1, got {q.shape}")
    k = checks.float_array(k, "k", 3, what=f"3-D shape ({N}, S, {D}) (N and D of q)")
    if k.shape[0] != N or k.shape[2] != D or k.shape[1] < 1:
        raise ValueError(f"k must have shape ({N}, S, {D}) with S >= 1 (N and D of q {q.shape}), got {k.shape}")
    S = k.shape[1]
    v = checks.float_array(v, "v", 3, what=f"3-D shape ({N}, {S}, E) (N of q, S of k)")
    if v.shape[:2] != (N, S) or v.shape[2] < 1:
        raise ValueError(f"v must have shape ({N}, {S}, E) with E >= 1 (N of q, S of k {k.shape}), got {v.shape}")
    mask = checks.attention_mask(mask, T, S)
    scale = 1.0 / math.sqrt(D)  # a Python float: float32 stays float32
    s = scale * (q @ k.transpose(0, 2, 1))  # (N, T, D) @ (N, D, S) -> (N, T, S)
    if mask is not None:
        s = np.where(mask, s, -np.inf)  # (N, T, S): masked scores −∞, so exp gives exactly 0
    s = s - s.max(axis=2, keepdims=True)  # (N, T, S) finite max: every row attends a key
    e = np.exp(s)  # (N, T, S)
    P = e / e.sum(axis=2, keepdims=True)  # (N, T, S) rows sum to 1
    out = P @ v  # (N, T, S) @ (N, S, E) -> (N, T, E)
    return out, AttentionCache(q, k, v, P, scale)


def attention_backward(dout, cache):
    """dv = Pᵀ dout,  dP = dout vᵀ,  ds = P ⊙ (dP − Σₛ dP ⊙ P),  dq = c ds k,  dk = c dsᵀ q.

    Derivation, per n and per query row t (c = 1/√D):

    - out = P v  ⇒  dP = dout vᵀ (T, S),  dv = Pᵀ dout (S, E).
    - Softmax Jacobian: Pₜₛ = e^{s̃ₜₛ} / Σᵣ e^{s̃ₜᵣ}  ⇒  ∂Pₜₛ/∂s̃ₜᵣ = Pₜₛ (δₛᵣ − Pₜᵣ), so
      ds̃ₜᵣ = Σₛ dPₜₛ Pₜₛ (δₛᵣ − Pₜᵣ) = Pₜᵣ (dPₜᵣ − Σₛ dPₜₛ Pₜₛ): the row's weighted mean of dP
      subtracted, then weighted by P (rows never mix: the softmax is over S only).
    - The mask: s̃ₜᵣ = sₜᵣ where attended, the constant −∞ elsewhere, so dsₜᵣ = ds̃ₜᵣ where attended
      and 0 elsewhere. The formula above already gives 0 there, because Pₜᵣ = 0 exactly (e^{−∞}):
      the masked keys receive no gradient and no masking step is needed in the backward.
    - The scale: s = c q kᵀ  ⇒  dq = c ds k (T, D),  dk = c dsᵀ q (S, D); the same c as the forward.
    Returns dq (N, T, D), dk (N, S, D), dv (N, S, E).
    """
    q, k, v, P, scale = checks.cache_of(cache, AttentionCache, "attention")
    dout = checks.same_shape(dout, P.shape[:2] + v.shape[2:])  # (N, T, E)
    dv = P.transpose(0, 2, 1) @ dout  # (N, S, T) @ (N, T, E) -> (N, S, E)
    dP = dout @ v.transpose(0, 2, 1)  # (N, T, E) @ (N, E, S) -> (N, T, S)
    ds = P * (dP - (dP * P).sum(axis=2, keepdims=True))  # (N, T, S) the softmax Jacobian, 0 where masked
    dq = scale * (ds @ k)  # (N, T, S) @ (N, S, D) -> (N, T, D)
    dk = scale * (ds.transpose(0, 2, 1) @ q)  # (N, S, T) @ (N, T, D) -> (N, S, D)
    return dq, dk, dv


class MultiheadAttentionCache(NamedTuple):
    query: np.ndarray  # (N, T, E)  for dWq = Σ queryᵀ dQ
    key: np.ndarray  # (N, S, E)
    value: np.ndarray  # (N, S, E)
    Wq: np.ndarray  # (E, E)
    Wk: np.ndarray  # (E, E)
    Wv: np.ndarray  # (E, E)
    Wo: np.ndarray  # (E, E)
    Y: np.ndarray  # (N, T, E) the heads' outputs side by side, for dWo = Σ Yᵀ dout
    heads: AttentionCache  # the per-head attention, batched over (N·h)
    num_heads: int


def _split_heads(X, h):
    """(N, L, E) -> (N·h, L, E/h): head j is columns j·Dₕ .. (j + 1)·Dₕ − 1."""
    N, L, E = X.shape
    return X.reshape(N, L, h, E // h).transpose(0, 2, 1, 3).reshape(N * h, L, E // h)


def _merge_heads(X, h):
    """(N·h, L, Dₕ) -> (N, L, h·Dₕ): the inverse of _split_heads."""
    Nh, L, Dh = X.shape
    return X.reshape(Nh // h, h, L, Dh).transpose(0, 2, 1, 3).reshape(Nh // h, L, h * Dh)


def _projection_checks(query, key, value, Wq, bq, Wk, bk, Wv, bv, Wo, bo, num_heads):
    query = checks.float_array(query, "query", 3, what="3-D shape (N, T, E)")
    N, T, E = query.shape
    if N < 1 or T < 1 or E < 1:
        raise ValueError(f"query must have shape (N, T, E) with N, T, E >= 1, got {query.shape}")
    key = checks.float_array(key, "key", 3, what=f"3-D shape ({N}, S, {E}) (N and E of query)")
    if key.shape[0] != N or key.shape[2] != E or key.shape[1] < 1:
        raise ValueError(f"key must have shape ({N}, S, {E}) with S >= 1 (N and E of query {query.shape}), "
                         f"got {key.shape}")
    value = checks.float_array(value, "value", shape=key.shape, what=f"shape {key.shape} (that of key)")
    for name, W in (("Wq", Wq), ("Wk", Wk), ("Wv", Wv), ("Wo", Wo)):
        checks.float_array(W, name, shape=(E, E), what=f"shape ({E}, {E}) (E = query.shape[2], in_out layout)")
    for name, b in (("bq", bq), ("bk", bk), ("bv", bv), ("bo", bo)):
        checks.float_array(b, name, shape=(E,), what=f"shape ({E},) (E = query.shape[2])")
    if isinstance(num_heads, bool) or not isinstance(num_heads, (numbers.Integral, np.integer)):
        raise TypeError(f"num_heads must be an int >= 1 dividing E = {E}, got {type(num_heads).__name__} {num_heads!r}")
    if num_heads < 1 or E % num_heads:
        raise ValueError(f"num_heads must be an int >= 1 dividing E = {E} (query {query.shape}), got {num_heads}")
    return query, key, value, int(num_heads)


def multihead_attention_forward(query, key, value, Wq, bq, Wk, bk, Wv, bv, Wo, bo, num_heads, mask=None):
    """out = [attention(Qⱼ, Kⱼ, Vⱼ, mask)]ⱼ Wo + bo with Q = query Wq + bq, K = key Wk + bk, V = value Wv + bv.

    query (N, T, E), key and value (N, S, E), each W (E, E), each b (E,), num_heads h dividing E,
    mask None or (T, S) bool (shared by every head) -> out (N, T, E), cache."""
    query, key, value, h = _projection_checks(query, key, value, Wq, bq, Wk, bk, Wv, bv, Wo, bo, num_heads)
    Q = query @ Wq + bq  # (N, T, E) @ (E, E) + (E,) -> (N, T, E)
    K = key @ Wk + bk  # (N, S, E)
    V = value @ Wv + bv  # (N, S, E)
    A, heads = attention_forward(_split_heads(Q, h), _split_heads(K, h), _split_heads(V, h), mask)  # (N·h, T, Dₕ)
    Y = _merge_heads(A, h)  # (N, T, E) the heads side by side
    out = Y @ Wo + bo  # (N, T, E) @ (E, E) + (E,) -> (N, T, E)
    return out, MultiheadAttentionCache(query, key, value, Wq, Wk, Wv, Wo, Y, heads, h)


def _affine_grads(x, dz, W):
    """z = x W + b over (N, L) rows  ⇒  dx = dz Wᵀ, dW = Σₙₗ xᵀ dz, db = Σₙₗ dz."""
    E_in, E_out = W.shape
    dx = dz @ W.T  # (N, L, E_out) @ (E_out, E_in) -> (N, L, E_in)
    dW = x.reshape(-1, E_in).T @ dz.reshape(-1, E_out)  # (E_in, N·L) @ (N·L, E_out) -> (E_in, E_out)
    db = dz.sum(axis=(0, 1))  # (E_out,)
    return dx, dW, db


def multihead_attention_backward(dout, cache):
    """Backward through the output projection, the heads and the three input projections:

        dY = dout Woᵀ,  dWo = Σₙₜ Yᵀ dout,  dbo = Σₙₜ dout                       (out = Y Wo + bo)
        dAⱼ = the columns of head j of dY;  dQⱼ, dKⱼ, dVⱼ = attention_backward(dAⱼ)  (per head)
        dQ, dK, dV = the heads side by side again                                (N, T, E), (N, S, E)
        dquery = dQ Wqᵀ,  dWq = Σ queryᵀ dQ,  dbq = Σ dQ   (and key/K, value/V alike)

    Self-attention calls the forward with query = key = value = x: x reaches the output along
    three paths, so dx = dquery + dkey + dvalue (the multivariable chain rule).
    Returns dquery, dkey, dvalue, dWq, dbq, dWk, dbk, dWv, dbv, dWo, dbo."""
    query, key, value, Wq, Wk, Wv, Wo, Y, heads, h = checks.cache_of(
        cache, MultiheadAttentionCache, "multihead_attention")
    dout = checks.same_shape(dout, Y.shape)  # (N, T, E)
    dY, dWo, dbo = _affine_grads(Y, dout, Wo)  # (N, T, E), (E, E), (E,)
    dQh, dKh, dVh = attention_backward(_split_heads(dY, h), heads)  # (N·h, T, Dₕ), (N·h, S, Dₕ), (N·h, S, Dₕ)
    dquery, dWq, dbq = _affine_grads(query, _merge_heads(dQh, h), Wq)  # (N, T, E), (E, E), (E,)
    dkey, dWk, dbk = _affine_grads(key, _merge_heads(dKh, h), Wk)  # (N, S, E), (E, E), (E,)
    dvalue, dWv, dbv = _affine_grads(value, _merge_heads(dVh, h), Wv)  # (N, S, E), (E, E), (E,)
    return dquery, dkey, dvalue, dWq, dbq, dWk, dbk, dWv, dbv, dWo, dbo
