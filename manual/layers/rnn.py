"""The vanilla (Elman) RNN, one step and through time (CS231n assignment 3, `rnn_layers.py`).

One step, tanh:

    zₜ = xₜ Wx + hₜ₋₁ Wh + b,   hₜ = tanh(zₜ)

Shapes: x (N, T, D) (one step: xₜ (N, D)), h0 and every hₜ (N, H), Wx (D, H), Wh (H, H),
b (H,), h (N, T, H): the hidden state of every step (h0 not included). Weights in our in_out
layout, `x @ W + b`.

Backprop through time. hₜ is read twice: by the loss (dh[:, t], given by the caller) and by the
next step (through zₜ₊₁ = ... + hₜ Wh). So the total gradient of hₜ is

    dhₜ(total) = dh[:, t] + dprev_h from step t + 1,    dprev_h of the last step's successor = 0

and `rnn_backward` walks t = T − 1, ..., 0, calling the step backward on that total and
carrying the dprev_h it returns. The weights are shared by every step, so their gradients are
the sums of the per-step ones; dh0 is the last carry.
"""

from __future__ import annotations

from typing import List, NamedTuple

import numpy as np

from . import checks


class RNNStepCache(NamedTuple):
    x: np.ndarray  # (N, D)  for dWx = xᵀ dz
    prev_h: np.ndarray  # (N, H)  for dWh = hₜ₋₁ᵀ dz
    Wx: np.ndarray  # (D, H)  for dx = dz Wxᵀ
    Wh: np.ndarray  # (H, H)  for dprev_h = dz Whᵀ
    next_h: np.ndarray  # (N, H)  tanh' = 1 − hₜ², written in the output


class RNNCache(NamedTuple):
    steps: List[RNNStepCache]  # T step caches, in time order


def _weights(Wx, Wh, b):
    Wx = checks.float_array(Wx, "Wx", 2, what="2-D shape (D, H)")
    H = Wx.shape[1]
    Wh = checks.float_array(Wh, "Wh", shape=(H, H), what=f"shape ({H}, {H}) (H, H; H = Wx.shape[1])")
    b = checks.float_array(b, "b", shape=(H,), what=f"shape ({H},) (H = Wx.shape[1])")
    return Wx, Wh, b


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """next_h = tanh(x Wx + prev_h Wh + b);  x (N, D), prev_h (N, H), Wx (D, H), Wh (H, H), b (H,)
    -> next_h (N, H), cache."""
    Wx, Wh, b = _weights(Wx, Wh, b)
    D, H = Wx.shape
    x = checks.float_array(x, "x", shape=None, ndim=2, what=f"2-D shape (N, {D}) (D = Wx.shape[0])")
    if x.shape[1] != D:
        raise ValueError(f"x must have shape (N, {D}) to match Wx {Wx.shape}, got {x.shape}")
    prev_h = checks.float_array(prev_h, "prev_h", shape=(x.shape[0], H),
                                what=f"shape ({x.shape[0]}, {H}) (N = x.shape[0], H = Wx.shape[1])")
    z = x @ Wx + prev_h @ Wh + b  # (N, D) @ (D, H) + (N, H) @ (H, H) + (H,) -> (N, H)
    next_h = np.tanh(z)  # (N, H)
    return next_h, RNNStepCache(x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    """next_h = tanh(z), z = x Wx + prev_h Wh + b  ⇒
    dz = dnext_h ⊙ (1 − next_h²),  dx = dz Wxᵀ,  dprev_h = dz Whᵀ,  dWx = xᵀ dz,  dWh = prev_hᵀ dz,
    db = Σₙ dz.  Returns dx, dprev_h, dWx, dWh, db."""
    x, prev_h, Wx, Wh, next_h = checks.cache_of(cache, RNNStepCache, "rnn_step")
    dnext_h = checks.same_shape(dnext_h, next_h.shape, "dnext_h")  # (N, H)
    dz = dnext_h * (1.0 - next_h * next_h)  # (N, H)  tanh'(z) = 1 − tanh²(z)
    dx = dz @ Wx.T  # (N, H) @ (H, D) -> (N, D)
    dprev_h = dz @ Wh.T  # (N, H) @ (H, H) -> (N, H)
    dWx = x.T @ dz  # (D, N) @ (N, H) -> (D, H)
    dWh = prev_h.T @ dz  # (H, N) @ (N, H) -> (H, H)
    db = dz.sum(axis=0)  # (H,)
    return dx, dprev_h, dWx, dWh, db


def rnn_forward(x, h0, Wx, Wh, b):
    """h[:, t] = tanh(x[:, t] Wx + h[:, t − 1] Wh + b), h[:, −1] = h0;  x (N, T, D), h0 (N, H)
    -> h (N, T, H) (every hidden state, h0 excluded), cache."""
    Wx, Wh, b = _weights(Wx, Wh, b)
    D, H = Wx.shape
    x = checks.float_array(x, "x", 3, what=f"3-D shape (N, T, {D}) (D = Wx.shape[0])")
    N, T, _ = x.shape
    if x.shape[2] != D or N < 1 or T < 1:
        raise ValueError(f"x must have shape (N, T, {D}) with N >= 1, T >= 1 to match Wx {Wx.shape}, got {x.shape}")
    h0 = checks.float_array(h0, "h0", shape=(N, H), what=f"shape ({N}, {H}) (N = x.shape[0], H = Wx.shape[1])")
    h = np.empty((N, T, H), dtype=np.result_type(x, h0, Wx, Wh, b))  # (N, T, H)
    steps = []
    prev_h = h0  # (N, H)
    for t in range(T):
        prev_h, step = rnn_step_forward(x[:, t], prev_h, Wx, Wh, b)  # (N, H)
        h[:, t] = prev_h
        steps.append(step)
    return h, RNNCache(steps)


def rnn_backward(dh, cache):
    """BPTT: for t = T − 1, ..., 0:  dx[:, t], dprev_h, dWxₜ, dWhₜ, dbₜ = step_backward(dh[:, t] + dprev_h),
    starting from dprev_h = 0;  dWx = Σₜ dWxₜ (and dWh, db alike: shared weights);  dh0 = the last
    dprev_h.  dh (N, T, H) is the upstream gradient of every hidden state.
    Returns dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,)."""
    (steps,) = checks.cache_of(cache, RNNCache, "rnn")
    T = len(steps)
    N, D = steps[0].x.shape
    H = steps[0].next_h.shape[1]
    dh = checks.same_shape(dh, (N, T, H), "dh")  # (N, T, H)
    dx = np.empty((N, T, D), dtype=np.result_type(dh, steps[0].x))  # (N, T, D)
    dprev_h = np.zeros((N, H), dtype=dh.dtype)  # (N, H) nothing comes from after the last step
    dWx, dWh, db = 0.0, 0.0, 0.0
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dprev_h, steps[t])  # the carry
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t  # (D, H), (H, H), (H,)
    return dx, dprev_h, dWx, dWh, db
