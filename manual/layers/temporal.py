"""The affine layer at every time step, and the masked softmax loss over a sequence (CS231n).

temporal_affine: x (N, T, D), w (D, M), b (M,) -> out (N, T, M), out[:, t] = x[:, t] w + b;
the same w and b at every step, so their gradients sum over N and T.

temporal_softmax_loss: x (N, T, V) scores, y (N, T) ids in 0 .. V − 1, mask (N, T) bool:

    L = −(1/N) Σₙ Σₜ maskₙₜ log softmax(xₙₜ)[yₙₜ]
    dxₙₜ = maskₙₜ (softmax(xₙₜ) − onehot(yₙₜ)) / N

NOTE: summed over the time steps and the masked-in positions and divided by N only, as CS231n's
`temporal_softmax_loss` (a caption of 16 words weighs 16 times a caption of 1). A mean over the
tokens (PyTorch's `cross_entropy(..., ignore_index=...)` with reduction='mean') divides by
Σ mask instead: the loss and every gradient are then smaller by the factor Σ mask / N (the mean
number of counted steps per sequence), and that factor changes from batch to batch with the
lengths. Steps with mask False contribute nothing, to the loss or to dx (their dx is 0).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import checks


class TemporalAffineCache(NamedTuple):
    x: np.ndarray  # (N, T, D)  for dw = Σₙₜ xₙₜᵀ doutₙₜ
    w: np.ndarray  # (D, M)  for dx = dout wᵀ


def temporal_affine_forward(x, w, b):
    """out = x w + b at every step;  x (N, T, D), w (D, M), b (M,) -> out (N, T, M), cache."""
    w = checks.float_array(w, "w", 2, what="2-D shape (D, M)")
    D, M = w.shape
    x = checks.float_array(x, "x", 3, what=f"3-D shape (N, T, {D}) (D = w.shape[0])")
    if x.shape[2] != D:
        raise ValueError(f"x must have shape (N, T, {D}) to match w {w.shape}, got {x.shape}")
    b = checks.float_array(b, "b", shape=(M,), what=f"shape ({M},) (M, the columns of w)")
    N, T, _ = x.shape
    # NOTE: one 2-D product over the N·T rows: NumPy's (N, T, D) @ (D, M) multiplies the N blocks
    # one by one (numpy/numpy#8957): 3.8 ms against 2.0 ms at N, T, D, M = 16, 64, 64, 256 with one
    # BLAS thread, 240 ms against 23 ms with two threads on the loaded 2-core machine
    out = (x.reshape(N * T, D) @ w).reshape(N, T, M) + b  # (N·T, D) @ (D, M) -> (N, T, M), + (M,)
    return out, TemporalAffineCache(x, w)


def temporal_affine_backward(dout, cache):
    """out = x w + b at every step  ⇒  dx = dout wᵀ,  dw = Σₙₜ xₙₜᵀ doutₙₜ,  db = Σₙₜ doutₙₜ.
    Returns dx (N, T, D), dw (D, M), db (M,)."""
    x, w = checks.cache_of(cache, TemporalAffineCache, "temporal_affine")
    N, T, D = x.shape
    M = w.shape[1]
    dout = checks.same_shape(dout, (N, T, M))  # (N, T, M)
    dx = (dout.reshape(N * T, M) @ w.T).reshape(N, T, D)  # (N·T, M) @ (M, D) -> (N, T, D), one BLAS call
    dw = x.reshape(N * T, D).T @ dout.reshape(N * T, M)  # (D, N·T) @ (N·T, M) -> (D, M)
    db = dout.sum(axis=(0, 1))  # (M,)
    return dx, dw, db


def temporal_softmax_loss(x, y, mask):
    """L = −(1/N) Σₙₜ maskₙₜ log softmax(xₙₜ)[yₙₜ],  dx = mask ⊙ (softmax(x) − onehot(y)) / N.

    x (N, T, V) float scores, y (N, T) int ids in 0 .. V − 1, mask (N, T) bool -> (loss, dx):
    loss a float, dx (N, T, V). Divided by N only (CS231n), not by the count of tokens."""
    x = checks.float_array(x, "x", 3, what="3-D shape (N, T, V) (scores)")
    N, T, V = x.shape
    if N < 1 or T < 1 or V < 1:
        raise ValueError(f"x must have shape (N, T, V) with N, T, V >= 1, got {x.shape}")
    if not hasattr(y, "shape") or not hasattr(y, "dtype") or np.dtype(y.dtype).kind not in "iu":
        raise TypeError(f"y must be an integer array of shape ({N}, {T}) with ids in 0 .. {V - 1}, "
                        f"got {type(y).__name__} {getattr(y, 'dtype', '')}".rstrip())
    if tuple(y.shape) != (N, T):
        raise ValueError(f"y must have shape ({N}, {T}) (one id per step of x), got {tuple(y.shape)}")
    y = np.asarray(y)
    if y.min() < 0 or y.max() >= V:
        raise ValueError(f"y must hold ids in 0 .. {V - 1} (V = {V} scores), got {y[(y < 0) | (y >= V)][0]}")
    mask = checks.bool_array(mask, "mask", (N, T), f"shape ({N}, {T}) (True = the step is counted)")
    t = x - x.max(axis=2, keepdims=True)  # (N, T, V), every entry ≤ 0
    log_p = t - np.log(np.exp(t).sum(axis=2, keepdims=True))  # (N, T, V) log softmax
    picked = np.take_along_axis(log_p, y[:, :, None], axis=2)[:, :, 0]  # (N, T) log p of the right id
    loss = -np.where(mask, picked, 0.0).sum() / N  # a scalar: Σ over steps and masked-in positions, / N
    dx = np.exp(log_p)  # (N, T, V) softmax
    np.put_along_axis(dx, y[:, :, None], np.take_along_axis(dx, y[:, :, None], axis=2) - 1.0, axis=2)  # − onehot
    dx = np.where(mask[:, :, None], dx, 0.0) / N  # (N, T, V): 0 where mask is False
    return float(loss), dx
