"""The dense (affine) layer: out = x W + b.

Shapes: x (N, D), W (D, M), b (M,), out (N, M).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import checks


class DenseCache(NamedTuple):
    x: np.ndarray  # (N, D)  for dW = xᵀ dout
    W: np.ndarray  # (D, M)  for dx = dout Wᵀ


def dense_forward(x, W, b):
    """out = x W + b;  x (N, D), W (D, M), b (M,) -> out (N, M)."""
    W = checks.float_array(W, "W", 2, what="2-D shape (D, M)")
    x = checks.float_array(x, "x", 2, what=f"2-D shape (N, {W.shape[0]})")
    b = checks.float_array(b, "b", shape=(W.shape[1],), what=f"shape ({W.shape[1]},) (M, the columns of W)")
    if x.shape[1] != W.shape[0]:
        raise ValueError(f"x must have shape (N, {W.shape[0]}) to match W {W.shape}, got {x.shape}")
    out = x @ W + b  # (N, D) @ (D, M) + (M,) -> (N, M)
    return out, DenseCache(x, W)


def dense_backward(dout, cache):
    """out = x W + b  ⇒  dx = dout Wᵀ,  dW = xᵀ dout,  db = Σₙ dout."""
    x, W = checks.cache_of(cache, DenseCache, "dense")  # x (N, D), W (D, M)
    dout = checks.same_shape(dout, (x.shape[0], W.shape[1]))  # (N, M)
    dx = dout @ W.T  # (N, M) @ (M, D) -> (N, D)
    dW = x.T @ dout  # (D, N) @ (N, M) -> (D, M)
    db = dout.sum(axis=0)  # (M,)
    return dx, dW, db
