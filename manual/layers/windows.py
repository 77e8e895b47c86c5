"""Sliding windows: the index bookkeeping that convolution and pooling share.

Legend (CS231n's): N images, C channels, H×W each; F filters of HH×WW; output Ho×Wo.
Along one axis, with stride s, zero padding p and dilation d (d − 1 holes between taps):

    effective kernel   K = (k − 1)·d + 1
    output size        Ho = ⌊(H + 2p − K) / s⌋ + 1        (needs K ≤ H + 2p)
    output i reads     padded rows i·s + a·d,  a = 0 .. k − 1

Rows of the padded input past (Ho − 1)·s + K − 1 are read by no window (the floor drops
them): their gradient is 0. Everything here is bookkeeping, no math; NumPy only.
"""

from __future__ import annotations

import numbers
from typing import Tuple

import numpy as np

from . import checks

Pair = Tuple[int, int]


def pair(value, name: str, minimum: int) -> Pair:
    """An int or an (h, w) pair of ints, each >= minimum, as (h, w)."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    expected = f"an int >= {minimum} or an (h, w) pair of them"
    if isinstance(value, np.ndarray) or len(items) != 2:
        raise TypeError(f"{name} must be {expected}, got {value!r}")
    for v in items:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Integral, np.integer)):
            raise TypeError(f"{name} must be {expected}, got {type(v).__name__} {v!r}")
        if v < minimum:
            raise ValueError(f"{name} must be {expected}, got {value!r}")
    return int(items[0]), int(items[1])


def effective(kernel: Pair, dilation: Pair) -> Pair:
    """(K_h, K_w): the span of a dilated kernel, (k − 1)·d + 1 per axis."""
    return tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))


def output_hw(hw: Pair, kernel: Pair, stride: Pair, padding: Pair = (0, 0), dilation: Pair = (1, 1)) -> Pair:
    """(Ho, Wo) = ⌊(H + 2p − K) / s⌋ + 1 per axis."""
    spans = effective(kernel, dilation)
    return tuple((n + 2 * p - K) // s + 1 for n, p, K, s in zip(hw, padding, spans, stride))


def check_fits(hw: Pair, kernel: Pair, padding: Pair, dilation: Pair, what: str) -> None:
    """The (dilated) kernel fits inside the padded input on both axes, else a ValueError."""
    for axis, n, k, p, K in zip(("height", "width"), hw, kernel, padding, effective(kernel, dilation)):
        if K > n + 2 * p:
            dil = f" (dilated: {K})" if K != k else ""
            raise ValueError(f"{what} {axis} {k}{dil} is larger than the padded input {axis} {n} + 2·{p} = "
                             f"{n + 2 * p}; expected a {what} of at most the padded input's size")


def images(x, name: str = "x"):
    """x as a finite float array of shape (N, C, H, W) with N, C, H, W >= 1."""
    x = checks.float_array(x, name, 4, what="4-D shape (N, C, H, W)")
    if 0 in x.shape:
        raise ValueError(f"{name} must have shape (N, C, H, W) with every size >= 1, got shape {tuple(x.shape)}")
    return x


def check_conv(x, W, b, stride, padding, dilation):
    """The arguments as the layer uses them, or a ValueError/TypeError naming what was expected."""
    W = checks.float_array(W, "W", 4, what="4-D shape (F, C, HH, WW)")
    if 0 in W.shape:
        raise ValueError(f"W must have shape (F, C, HH, WW) with every size >= 1, got shape {tuple(W.shape)}")
    F, C, HH, WW = W.shape
    x = images(x)
    if x.shape[1] != C:
        raise ValueError(f"x must have C = {C} channels (W has shape {tuple(W.shape)} = (F, C, HH, WW)), "
                         f"got x of shape {tuple(x.shape)} with {x.shape[1]} channels")
    b = checks.float_array(b, "b", shape=(F,), what=f"shape ({F},) (F, one bias per filter of W)")
    stride = pair(stride, "stride", 1)
    padding = pair(padding, "padding", 0)
    dilation = pair(dilation, "dilation", 1)
    check_fits(x.shape[2:], (HH, WW), padding, dilation, "kernel")
    return x, W, b, stride, padding, dilation


def check_pool(x, size, stride):
    """The arguments as the layer uses them, or a ValueError/TypeError naming what was expected."""
    x = images(x)
    size = pair(size, "size", 1)
    stride = pair(stride, "stride", 1)
    check_fits(x.shape[2:], size, (0, 0), (1, 1), "pool size")
    return x, size, stride


def pad(x: np.ndarray, padding: Pair) -> np.ndarray:
    """x (N, C, H, W) -> (N, C, H + 2p_h, W + 2p_w) with zeros around; x itself when p = 0."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def windows(xp: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> np.ndarray:
    """A read-only view (N, C, Ho, Wo, k_h, k_w) of xp (N, C, Hp, Wp): [n, c, i, j, a, b] is
    xp[n, c, i·s_h + a·d_h, j·s_w + b·d_w]. No copy: the windows overlap in memory."""
    sN, sC, sH, sW = xp.strides
    (sh, sw), (dh, dw) = stride, dilation
    shape = (xp.shape[0], xp.shape[1], out_hw[0], out_hw[1], kernel[0], kernel[1])
    strides = (sN, sC, sh * sH, sw * sW, dh * sH, dw * sW)
    return np.lib.stride_tricks.as_strided(xp, shape=shape, strides=strides, writeable=False)


def tap_slices(a: int, b: int, stride: Pair, dilation: Pair, out_hw: Pair):
    """The rows and columns that tap (a, b) of every window reads: rows a·d_h, a·d_h + s_h, ...
    (Ho of them), as slices, so `xp[:, :, rows, cols]` is (N, C, Ho, Wo)."""
    (sh, sw), (dh, dw), (Ho, Wo) = stride, dilation, out_hw
    return (slice(a * dh, a * dh + sh * (Ho - 1) + 1, sh), slice(b * dw, b * dw + sw * (Wo - 1) + 1, sw))
