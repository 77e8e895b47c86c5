"""2-D max and average pooling, NCHW, no padding.

Shapes: x (N, C, H, W), a window of k_h×k_w moved by s_h, s_w, out (N, C, Ho, Wo),
Ho = ⌊(H − k_h) / s_h⌋ + 1 (see `windows`). Window (i, j) covers rows i·s_h .. i·s_h + k_h − 1
and columns j·s_w .. j·s_w + k_w − 1; with s < k windows overlap, with s > k rows are skipped.

Max:   out[n, c, i, j] = max_{a,e} x[n, c, i·s_h + a, j·s_w + e]
       dx[n, c, r, q]  = Σ_{i, j : (r, q) is the chosen maximum of window (i, j)} dout[n, c, i, j]
Avg:   out[n, c, i, j] = 1/(k_h·k_w) Σ_{a,e} x[n, c, i·s_h + a, j·s_w + e]
       dx[n, c, r, q]  = 1/(k_h·k_w) Σ_{i, j : (r, q) in window (i, j)} dout[n, c, i, j]

Overlapping windows add their gradients (an entry chosen by two windows gets both douts).
Like every layer without parameters, each backward returns the tuple (dx,):
`dx, *dparams = <name>_backward(dout, cache)` holds for every layer of `manual.layers`.

NOTE (ties): when a window's maximum is reached more than once, max is not differentiable
there; the whole dout[n, c, i, j] goes to ONE of the tied entries, the FIRST in row-major
order of the window (smallest a, then smallest e). That is where jax.grad of the reference
(`jax.lax.reduce_window` with `lax.max`, whose transpose is XLA's select-and-scatter with ≥)
sends it, and where np.argmax points. PyTorch's max_pool2d also picks one entry; splitting
dout among the ties (jnp.max's gradient) is another convention, not ours.

Two forms each, proven equal in tests/test_conv.py: `*_naive` (loops over the output
positions, next to the sums above) and the fast form (a strided view of the windows, one
argmax or sum, and a scatter by np.bincount or by slices).

NumPy only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import checks, windows
from .windows import Pair


class MaxPoolCache(NamedTuple):
    x_shape: tuple  # (N, C, H, W)
    argmax: np.ndarray  # (N, C, Ho, Wo) int: the flat index into x of each window's chosen maximum


class AvgPoolCache(NamedTuple):
    x_shape: tuple  # (N, C, H, W)
    size: Pair
    stride: Pair


class PoolNaiveCache(NamedTuple):
    x: np.ndarray  # (N, C, H, W)
    size: Pair
    stride: Pair


def _shapes(x_shape, size, stride):
    N, C, H, W = x_shape
    return N, C, H, W, windows.output_hw((H, W), size, stride)


# ---------------------------------------------------------------- max: the naive loops


def maxpool2d_forward_naive(x, size, stride):
    """out[n, c, i, j] = max of window (i, j); one loop per output position."""
    x, size, stride = windows.check_pool(x, size, stride)
    N, C, H, W, (Ho, Wo) = _shapes(x.shape, size, stride)
    (kh, kw), (sh, sw) = size, stride
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].max(axis=(2, 3))  # (N, C)
    return out, PoolNaiveCache(x, size, stride)


def maxpool2d_backward_naive(dout, cache):
    """dx[window (i, j)'s first maximum] += dout[n, c, i, j], for every n, c, i, j."""
    x, size, stride = checks.cache_of(cache, PoolNaiveCache, "maxpool2d")
    N, C, H, W, (Ho, Wo) = _shapes(x.shape, size, stride)
    dout = checks.same_shape(dout, (N, C, Ho, Wo))
    (kh, kw), (sh, sw) = size, stride
    dx = np.zeros(x.shape, dtype=np.result_type(x, dout))  # (N, C, H, W)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = x[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]  # (kh, kw)
                    a, e = np.unravel_index(np.argmax(window), window.shape)  # the first maximum (NOTE: ties)
                    dx[n, c, i * sh + a, j * sw + e] += dout[n, c, i, j]  # += : overlapping windows add
    return (dx,)


# ---------------------------------------------------------------- max: the fast form


def maxpool2d_forward(x, size, stride):
    """out = max over the last axis of the windows (N, C, Ho, Wo, kh·kw); x (N, C, H, W)."""
    x, size, stride = windows.check_pool(x, size, stride)
    N, C, H, W, (Ho, Wo) = _shapes(x.shape, size, stride)
    (kh, kw), (sh, sw) = size, stride
    view = windows.windows(x, size, stride, (1, 1), (Ho, Wo)).reshape(N, C, Ho, Wo, kh * kw)  # copies
    k = view.argmax(axis=-1)  # (N, C, Ho, Wo): the first maximum of each window (NOTE: ties)
    out = np.take_along_axis(view, k[..., None], axis=-1)[..., 0]  # (N, C, Ho, Wo)
    # the flat index into x of each chosen entry: row i·s_h + a, column j·s_w + e
    a, e = np.divmod(k, kw)  # (N, C, Ho, Wo) each
    rows = np.arange(Ho)[:, None] * sh + a  # (N, C, Ho, Wo)
    cols = np.arange(Wo)[None, :] * sw + e  # (N, C, Ho, Wo)
    plane = (np.arange(N)[:, None] * C + np.arange(C)[None, :])[:, :, None, None]  # (N, C, 1, 1): n·C + c
    argmax = (plane * H + rows) * W + cols  # (N, C, Ho, Wo)
    return out, MaxPoolCache(x.shape, argmax)


def maxpool2d_backward(dout, cache):
    """dx = Σ of dout over the windows that chose each entry: one np.bincount over argmax."""
    x_shape, argmax = checks.cache_of(cache, MaxPoolCache, "maxpool2d")
    dout = checks.same_shape(dout, argmax.shape)  # (N, C, Ho, Wo)
    size = int(np.prod(x_shape))
    dx = np.bincount(argmax.ravel(), weights=dout.ravel(), minlength=size)  # (N·C·H·W,) float64; adds repeats
    return (dx.astype(dout.dtype, copy=False).reshape(x_shape),)  # (N, C, H, W)


# ---------------------------------------------------------------- average: the naive loops


def avgpool2d_forward_naive(x, size, stride):
    """out[n, c, i, j] = mean of window (i, j) = 1/(k_h·k_w) Σ_{a,e} x[..., i·s_h + a, j·s_w + e]."""
    x, size, stride = windows.check_pool(x, size, stride)
    N, C, H, W, (Ho, Wo) = _shapes(x.shape, size, stride)
    (kh, kw), (sh, sw) = size, stride
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].sum(axis=(2, 3)) / (kh * kw)
    return out, PoolNaiveCache(x, size, stride)


def avgpool2d_backward_naive(dout, cache):
    """dx[window (i, j)] += dout[n, c, i, j] / (k_h·k_w), for every i, j."""
    x, size, stride = checks.cache_of(cache, PoolNaiveCache, "avgpool2d")
    N, C, H, W, (Ho, Wo) = _shapes(x.shape, size, stride)
    dout = checks.same_shape(dout, (N, C, Ho, Wo))
    (kh, kw), (sh, sw) = size, stride
    dx = np.zeros(x.shape, dtype=np.result_type(x, dout))  # (N, C, H, W)
    for i in range(Ho):
        for j in range(Wo):
            dx[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += (dout[:, :, i, j] / (kh * kw))[:, :, None, None]
    return (dx,)


# ---------------------------------------------------------------- average: the fast form


def avgpool2d_forward(x, size, stride):
    """out = Σ over the window taps of the strided view, / (k_h·k_w); x (N, C, H, W)."""
    x, size, stride = windows.check_pool(x, size, stride)
    N, C, H, W, (Ho, Wo) = _shapes(x.shape, size, stride)
    (kh, kw) = size
    out = windows.windows(x, size, stride, (1, 1), (Ho, Wo)).sum(axis=(4, 5)) / (kh * kw)  # (N, C, Ho, Wo)
    return out, AvgPoolCache(x.shape, size, stride)


def avgpool2d_backward(dout, cache):
    """dx = Σ over the k_h·k_w taps (a, e) of dout / (k_h·k_w) added at rows a + i·s_h, columns e + j·s_w."""
    x_shape, size, stride = checks.cache_of(cache, AvgPoolCache, "avgpool2d")
    N, C, H, W, (Ho, Wo) = _shapes(x_shape, size, stride)
    dout = checks.same_shape(dout, (N, C, Ho, Wo))
    (kh, kw) = size
    g = dout / (kh * kw)  # (N, C, Ho, Wo): each tap's share
    dx = np.zeros(x_shape, dtype=g.dtype)  # (N, C, H, W)
    for a in range(kh):
        for e in range(kw):
            rows, cols = windows.tap_slices(a, e, stride, (1, 1), (Ho, Wo))
            dx[:, :, rows, cols] += g
    return (dx,)
