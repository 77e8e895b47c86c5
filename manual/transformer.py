"""A one-block transformer language model by hand (GPT-style, pre-norm), every gradient from
`manual.layers`' hand-written backwards.

Shape legend (nanoGPT's): N sequences, T time steps (T ≤ T_max, the positions learned), C the
model width, h heads of width C/h, V characters in the vocabulary.

Forward, for ids x (N, T) and targets y (N, T):

    x₀ = E[x] + P[:T]                          (N, T, C)   token embedding + learned positions
    a  = layernorm₁(x₀)                        (N, T, C)
    x₁ = x₀ + MHA(a, a, a, causal mask)        (N, T, C)   self-attention with a residual
    m  = layernorm₂(x₁)                        (N, T, C)
    x₂ = x₁ + GELU(m W₁ + b₁) W₂ + b₂          (N, T, C)   the MLP (width 4C, erf GELU) with a residual
    f  = layernorm_f(x₂)                       (N, T, C)   final layernorm (GPT-2's ln_f)
    s  = f Wy + by                             (N, T, V)
    L  = −(1/N) Σₙₜ log softmax(sₙₜ)[yₙₜ]      temporal_softmax_loss, every step counted

Backward, right to left. Two rules beyond each layer's own backward:

- A residual x₁ = x₀ + F(x₀) sends dx₁ down both branches: dx₀ = dx₁ + (the backward of F)(dx₁).
- Self-attention reads a three times (query, key and value): da = dquery + dkey + dvalue.

The positions are shared by the N sequences: dP[:T] = Σₙ dx₀[n], dP[T:] = 0 (unused rows).

Parameters: a dict (`init_params`); `PAIRS` is the (W, b) layout `manual.optimizers` updates
(each γ as a (1, C) row with its β; E and P with a zero stand-in bias, see `char_model.as_pairs`).
NumPy only: never imports jax or `reference`. The twin is `reference.transformer`.
"""

from __future__ import annotations

import math

import numpy as np

from . import layers as L
from .char_model import _count, decode, encode

NAMES = ("E", "P", "ln1_g", "ln1_b", "Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo",
         "ln2_g", "ln2_b", "W1", "b1", "W2", "b2", "lnf_g", "lnf_b", "Wy", "by")

PAIRS = (("E", None), ("P", None), ("ln1_g", "ln1_b"), ("Wq", "bq"), ("Wk", "bk"), ("Wv", "bv"),
         ("Wo", "bo"), ("ln2_g", "ln2_b"), ("W1", "b1"), ("W2", "b2"), ("lnf_g", "lnf_b"), ("Wy", "by"))


def init_params(V, C, T_max, num_heads=2, seed=0, dtype=np.float64):
    """Seeded parameters: E, P ~ 0.1·N(0, 1); every W ~ N(0, 1/fan_in), except W₂ and Wo scaled by
    a further 1/√2 (two residual branches, GPT-2's rule); biases 0; γ = 1, β = 0. C % num_heads == 0."""
    V, C, T_max, num_heads = _count(V, "V"), _count(C, "C"), _count(T_max, "T_max"), _count(num_heads, "num_heads")
    if C % num_heads:
        raise ValueError(f"num_heads must divide C = {C}, got {num_heads}")
    rng = np.random.default_rng(seed)
    W = lambda m, n, gain=1.0: gain * rng.standard_normal((m, n)) / math.sqrt(m)  # noqa: E731
    params = {
        "E": 0.1 * rng.standard_normal((V, C)),  # (V, C)
        "P": 0.1 * rng.standard_normal((T_max, C)),  # (T_max, C)
        "ln1_g": np.ones(C), "ln1_b": np.zeros(C),  # (C,)
        "Wq": W(C, C), "bq": np.zeros(C), "Wk": W(C, C), "bk": np.zeros(C),
        "Wv": W(C, C), "bv": np.zeros(C), "Wo": W(C, C, 1 / math.sqrt(2)), "bo": np.zeros(C),
        "ln2_g": np.ones(C), "ln2_b": np.zeros(C),
        "W1": W(C, 4 * C), "b1": np.zeros(4 * C),  # (C, 4C), (4C,)
        "W2": W(4 * C, C, 1 / math.sqrt(2)), "b2": np.zeros(C),  # (4C, C), (C,)
        "lnf_g": np.ones(C), "lnf_b": np.zeros(C),
        "Wy": W(C, V), "by": np.zeros(V),  # (C, V), (V,)
    }
    return {k: params[k].astype(dtype) for k in NAMES}


def forward(params, x, num_heads=2):
    """The scores s (N, T, V) for ids x (N, T), T ≤ T_max, and the caches of every layer."""
    p = params
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] > p["P"].shape[0]:
        raise ValueError(f"x must be ids of shape (N, T) with T <= T_max = {p['P'].shape[0]}, got shape {x.shape}")
    T = x.shape[1]
    mask = L.causal_mask(T)  # (T, T) query t attends keys 0 .. t
    tok, c_emb = L.embedding_forward(x, p["E"])  # (N, T, C)
    x0 = tok + p["P"][:T]  # (N, T, C)
    a, c_ln1 = L.layernorm_forward(x0, p["ln1_g"], p["ln1_b"])  # (N, T, C)
    att, c_att = L.multihead_attention_forward(a, a, a, p["Wq"], p["bq"], p["Wk"], p["bk"], p["Wv"], p["bv"],
                                               p["Wo"], p["bo"], num_heads, mask)  # (N, T, C)
    x1 = x0 + att  # (N, T, C)
    m, c_ln2 = L.layernorm_forward(x1, p["ln2_g"], p["ln2_b"])  # (N, T, C)
    u, c_fc1 = L.temporal_affine_forward(m, p["W1"], p["b1"])  # (N, T, 4C)
    g, c_gelu = L.gelu_forward(u)  # (N, T, 4C), erf form
    v, c_fc2 = L.temporal_affine_forward(g, p["W2"], p["b2"])  # (N, T, C)
    x2 = x1 + v  # (N, T, C)
    f, c_lnf = L.layernorm_forward(x2, p["lnf_g"], p["lnf_b"])  # (N, T, C)
    s, c_out = L.temporal_affine_forward(f, p["Wy"], p["by"])  # (N, T, V)
    return s, (c_emb, c_ln1, c_att, c_ln2, c_fc1, c_gelu, c_fc2, c_lnf, c_out)


def loss_and_grads(params, x, y, num_heads=2):
    """(L, grads) for ids x (N, T) and targets y (N, T), T ≤ T_max; grads a dict like params."""
    s, (c_emb, c_ln1, c_att, c_ln2, c_fc1, c_gelu, c_fc2, c_lnf, c_out) = forward(params, x, num_heads)
    N, T, _ = s.shape
    loss, ds = L.temporal_softmax_loss(s, y, np.ones((N, T), dtype=bool))  # ds (N, T, V)
    d = {}
    df, d["Wy"], d["by"] = L.temporal_affine_backward(ds, c_out)  # (N, T, C), (C, V), (V,)
    dx2, d["lnf_g"], d["lnf_b"] = L.layernorm_backward(df, c_lnf)  # (N, T, C)
    dg, d["W2"], d["b2"] = L.temporal_affine_backward(dx2, c_fc2)  # the MLP branch: (N, T, 4C)
    (du,) = L.gelu_backward(dg, c_gelu)  # (N, T, 4C)
    dm, d["W1"], d["b1"] = L.temporal_affine_backward(du, c_fc1)  # (N, T, C)
    dm_x1, d["ln2_g"], d["ln2_b"] = L.layernorm_backward(dm, c_ln2)  # (N, T, C)
    dx1 = dx2 + dm_x1  # (N, T, C) the residual: the skip path plus the MLP path
    (dq, dk, dv, d["Wq"], d["bq"], d["Wk"], d["bk"], d["Wv"], d["bv"], d["Wo"], d["bo"]) = \
        L.multihead_attention_backward(dx1, c_att)  # the attention branch
    da = dq + dk + dv  # (N, T, C) a was the query, the key and the value
    da_x0, d["ln1_g"], d["ln1_b"] = L.layernorm_backward(da, c_ln1)  # (N, T, C)
    dx0 = dx1 + da_x0  # (N, T, C) the residual again
    d["E"] = L.embedding_backward(dx0, c_emb)  # (V, C)
    dP = np.zeros_like(params["P"])  # (T_max, C)
    dP[:T] = dx0.sum(axis=0)  # (T, C) every sequence uses the same positions
    d["P"] = dP
    return loss, {k: d[k] for k in NAMES}


def sample(params, start, n, chars, num_heads=2, seed=0, temperature=1.0):
    """`start` (a str) followed by n characters, each drawn from softmax(s / temperature) at the last
    position, the model reading (at most) the last T_max characters."""
    n = _count(n, "n", 0)
    temperature = float(temperature)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    ids = list(encode(start, chars))
    if not ids:
        raise ValueError("start must hold at least one character")
    T_max = params["P"].shape[0]
    rng = np.random.default_rng(seed)
    for _ in range(n):
        s, _ = forward(params, np.array([ids[-T_max:]]), num_heads)  # (1, T, V)
        z = s[0, -1] / temperature  # (V,)
        p = np.exp(z - z.max())
        ids.append(int(rng.choice(len(p), p=p / p.sum())))
    return decode(ids, chars)
