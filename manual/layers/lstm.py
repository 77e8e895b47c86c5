"""The LSTM, one step and through time (CS231n assignment 3, `rnn_layers.py`).

One step: the four gates from one affine map, in the order i, f, o, g:

    a = xₜ Wx + hₜ₋₁ Wh + b                     (N, 4H), a = [a_i | a_f | a_o | a_g]
    i = σ(a_i),  f = σ(a_f),  o = σ(a_o),  g = tanh(a_g)          (N, H) each
    cₜ = f ⊙ cₜ₋₁ + i ⊙ g,    hₜ = o ⊙ tanh(cₜ)

Shapes: x (N, T, D) (one step (N, D)), h and c (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,),
h (N, T, H): every hidden state, h0 excluded. The whole-sequence forward starts from the given
h0 and c0 = 0 (CS231n's convention); the cell states are internal, so only dh comes from above.

Backprop through time carries two gradients: dprev_h (hₜ feeds the loss and the next step) and
dprev_c (cₜ feeds cₜ₊₁ = fₜ₊₁ ⊙ cₜ + ...). At step t the cell receives both its own path
through hₜ = o ⊙ tanh(cₜ) and the carried dc:

    dcₜ(total) = dnext_c + dnext_h ⊙ o ⊙ (1 − tanh²(cₜ))       tanh' at this step's cₜ
"""

from __future__ import annotations

from typing import List, NamedTuple

import numpy as np

from .. import activations as _acts
from . import checks


class LSTMStepCache(NamedTuple):
    x: np.ndarray  # (N, D)
    prev_h: np.ndarray  # (N, H)
    prev_c: np.ndarray  # (N, H)  for df = dc ⊙ cₜ₋₁
    Wx: np.ndarray  # (D, 4H)
    Wh: np.ndarray  # (H, 4H)
    i: np.ndarray  # (N, H) σ(a_i)
    f: np.ndarray  # (N, H) σ(a_f)
    o: np.ndarray  # (N, H) σ(a_o)
    g: np.ndarray  # (N, H) tanh(a_g)
    tanh_c: np.ndarray  # (N, H) tanh(cₜ) of this step


class LSTMCache(NamedTuple):
    steps: List[LSTMStepCache]  # T step caches, in time order


def _weights(Wx, Wh, b):
    Wx = checks.float_array(Wx, "Wx", 2, what="2-D shape (D, 4H)")
    if Wx.shape[1] % 4 or Wx.shape[1] == 0:
        raise ValueError(f"Wx must have shape (D, 4H) (the gates i, f, o, g side by side), got {Wx.shape}")
    H = Wx.shape[1] // 4
    Wh = checks.float_array(Wh, "Wh", shape=(H, 4 * H), what=f"shape ({H}, {4 * H}) (H, 4H; 4H = Wx.shape[1])")
    b = checks.float_array(b, "b", shape=(4 * H,), what=f"shape ({4 * H},) (4H = Wx.shape[1])")
    return Wx, Wh, b, H


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """a = x Wx + prev_h Wh + b = [a_i|a_f|a_o|a_g];  i, f, o = σ(a_i), σ(a_f), σ(a_o), g = tanh(a_g);
    next_c = f ⊙ prev_c + i ⊙ g,  next_h = o ⊙ tanh(next_c).
    x (N, D), prev_h and prev_c (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,) -> next_h, next_c (N, H), cache."""
    Wx, Wh, b, H = _weights(Wx, Wh, b)
    D = Wx.shape[0]
    x = checks.float_array(x, "x", 2, what=f"2-D shape (N, {D}) (D = Wx.shape[0])")
    if x.shape[1] != D:
        raise ValueError(f"x must have shape (N, {D}) to match Wx {Wx.shape}, got {x.shape}")
    N = x.shape[0]
    what = f"shape ({N}, {H}) (N = x.shape[0], H = Wx.shape[1] / 4)"
    prev_h = checks.float_array(prev_h, "prev_h", shape=(N, H), what=what)
    prev_c = checks.float_array(prev_c, "prev_c", shape=(N, H), what=what)
    a = x @ Wx + prev_h @ Wh + b  # (N, D) @ (D, 4H) + (N, H) @ (H, 4H) + (4H,) -> (N, 4H)
    i = _acts.sigmoid(a[:, :H])  # (N, H) input gate
    f = _acts.sigmoid(a[:, H:2 * H])  # (N, H) forget gate
    o = _acts.sigmoid(a[:, 2 * H:3 * H])  # (N, H) output gate
    g = np.tanh(a[:, 3 * H:])  # (N, H) candidate
    next_c = f * prev_c + i * g  # (N, H)
    tanh_c = np.tanh(next_c)  # (N, H)
    next_h = o * tanh_c  # (N, H)
    return next_h, next_c, LSTMStepCache(x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c)


def lstm_step_backward(dnext_h, dnext_c, cache):
    """Backward of one step, node by node in reverse:

        do = dnext_h ⊙ tanh(cₜ)
        dc = dnext_c + dnext_h ⊙ o ⊙ (1 − tanh²(cₜ))          both paths into cₜ
        df = dc ⊙ cₜ₋₁,   di = dc ⊙ g,   dg = dc ⊙ i,   dprev_c = dc ⊙ f
        da = [di ⊙ i(1 − i) | df ⊙ f(1 − f) | do ⊙ o(1 − o) | dg ⊙ (1 − g²)]   σ' = σ(1 − σ), tanh' = 1 − tanh²
        dx = da Wxᵀ,  dprev_h = da Whᵀ,  dWx = xᵀ da,  dWh = prev_hᵀ da,  db = Σₙ da

    Returns dx, dprev_h, dprev_c, dWx, dWh, db."""
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c = checks.cache_of(cache, LSTMStepCache, "lstm_step")
    dnext_h = checks.same_shape(dnext_h, i.shape, "dnext_h")  # (N, H)
    dnext_c = checks.same_shape(dnext_c, i.shape, "dnext_c")  # (N, H)
    do = dnext_h * tanh_c  # (N, H)
    dc = dnext_c + dnext_h * o * (1.0 - tanh_c * tanh_c)  # (N, H) the carry plus the path through hₜ
    df = dc * prev_c  # (N, H)
    di = dc * g  # (N, H)
    dg = dc * i  # (N, H)
    dprev_c = dc * f  # (N, H)
    da = np.concatenate([di * i * (1.0 - i), df * f * (1.0 - f), do * o * (1.0 - o),
                         dg * (1.0 - g * g)], axis=1)  # (N, 4H) in the gate order i, f, o, g
    dx = da @ Wx.T  # (N, 4H) @ (4H, D) -> (N, D)
    dprev_h = da @ Wh.T  # (N, 4H) @ (4H, H) -> (N, H)
    dWx = x.T @ da  # (D, N) @ (N, 4H) -> (D, 4H)
    dWh = prev_h.T @ da  # (H, N) @ (N, 4H) -> (H, 4H)
    db = da.sum(axis=0)  # (4H,)
    return dx, dprev_h, dprev_c, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    """The step above for t = 0, ..., T − 1 from h0 and c0 = 0;  x (N, T, D), h0 (N, H)
    -> h (N, T, H) (every hidden state, h0 excluded), cache."""
    Wx, Wh, b, H = _weights(Wx, Wh, b)
    D = Wx.shape[0]
    x = checks.float_array(x, "x", 3, what=f"3-D shape (N, T, {D}) (D = Wx.shape[0])")
    N, T, _ = x.shape
    if x.shape[2] != D or N < 1 or T < 1:
        raise ValueError(f"x must have shape (N, T, {D}) with N >= 1, T >= 1 to match Wx {Wx.shape}, got {x.shape}")
    h0 = checks.float_array(h0, "h0", shape=(N, H), what=f"shape ({N}, {H}) (N = x.shape[0], H = Wx.shape[1] / 4)")
    dtype = np.result_type(x, h0, Wx, Wh, b)
    h = np.empty((N, T, H), dtype=dtype)  # (N, T, H)
    steps = []
    prev_h, prev_c = h0, np.zeros((N, H), dtype=dtype)  # (N, H), (N, H): c0 = 0
    for t in range(T):
        prev_h, prev_c, step = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)  # (N, H), (N, H)
        h[:, t] = prev_h
        steps.append(step)
    return h, LSTMCache(steps)


def lstm_backward(dh, cache):
    """BPTT with two carries: for t = T − 1, ..., 0,
    dx[:, t], dprev_h, dprev_c, dWxₜ, dWhₜ, dbₜ = step_backward(dh[:, t] + dprev_h, dprev_c),
    starting from dprev_h = dprev_c = 0;  dWx = Σₜ dWxₜ (and dWh, db alike);  dh0 = the last dprev_h
    (dc0 is dropped: c0 = 0 is a constant).  dh (N, T, H).
    Returns dx (N, T, D), dh0 (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,)."""
    (steps,) = checks.cache_of(cache, LSTMCache, "lstm")
    T = len(steps)
    N, D = steps[0].x.shape
    H = steps[0].i.shape[1]
    dh = checks.same_shape(dh, (N, T, H), "dh")  # (N, T, H)
    dx = np.empty((N, T, D), dtype=np.result_type(dh, steps[0].x))  # (N, T, D)
    dprev_h = np.zeros((N, H), dtype=dh.dtype)  # (N, H)
    dprev_c = np.zeros((N, H), dtype=dh.dtype)  # (N, H)
    dWx, dWh, db = 0.0, 0.0, 0.0
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(dh[:, t] + dprev_h, dprev_c, steps[t])
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t  # (D, 4H), (H, 4H), (4H,)
    return dx, dprev_h, dWx, dWh, db
