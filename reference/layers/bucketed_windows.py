"""A fast path to the convolution and pooling twins: many shapes, a few compiled programs.

jax.vjp compiles for every new shape, stride and padding (about 0.5 s each on CPU), so a
property drawing random images, kernels, strides and paddings would spend its time
compiling. This module embeds every case into one fixed *bucket* and compiles once per
static setting (the dilation pair for conv, the window size pair for pooling):

- padding: x is placed at offset (p_h, p_w) inside zeros, which is what zero padding is,
  and the bucket's conv runs with padding 0;
- sizes: N, C, F and the spatial sizes are zero-padded up to the bucket (zero channels,
  zero filters, zero kernel taps past HH×WW: they add 0 to every real output);
- stride: the bucket runs at stride 1 and the real outputs are every s-th one
  (out_s[i] = out_1[i·s]); the upstream gradient is spread to those positions with zeros
  elsewhere, which is the vjp of that selection;
- everything else receives a zero upstream gradient, so it contributes nothing to a real
  gradient, and the real entries are cut out at the end.

Kept apart from the plain twins (`reference.layers.conv`, `.pool`); tests/test_conv.py
proves the two equal. Limits of the bucket: N, C, F <= 3; the padded input at most
16×16; kernels at most 5×5 with dilation <= 2; pool windows at most 3×3 on inputs <= 12×12.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import numpy as np

from .. import _x64  # noqa: F401
from .conv import conv2d
from .pool import avgpool2d, maxpool2d

NB, CB, FB = 3, 3, 3  # batch, channels, filters
HB = 16  # padded input height and width
KB = 5  # kernel height and width
XB = HB + (KB - 1) * 2  # the bucket's input: room for a zero-padded kernel with dilation 2
PB = 12  # pooling input height and width


def fits_conv(x_shape, W_shape, padding, dilation) -> bool:
    (N, C, H, W), (F, _, HH, WW) = x_shape, W_shape
    return (N <= NB and C <= CB and F <= FB and HH <= KB and WW <= KB and max(dilation) <= 2
            and H + 2 * padding[0] <= HB and W + 2 * padding[1] <= HB)


def fits_pool(x_shape, size) -> bool:
    N, C, H, W = x_shape
    return N <= NB and C <= CB and H <= PB and W <= PB and max(size) <= 3


@lru_cache(maxsize=None)
def _conv_program(dilation, forward=False):
    """The bucket's conv at stride 1, padding 0: `(out,)` (forward) or `(out, dx, dW, db)` for g."""
    if forward:
        return jax.jit(lambda xb, Wb, bb: (conv2d(xb, Wb, bb, 1, 0, dilation),))

    def run(xb, Wb, bb, gb):
        out, vjp = jax.vjp(lambda x, W, b: conv2d(x, W, b, 1, 0, dilation), xb, Wb, bb)
        return (out,) + vjp(gb)

    return jax.jit(run)


@lru_cache(maxsize=None)
def _pool_program(kind, size, forward=False):
    """The bucket's pool at stride 1: `(out,)` (forward) or `(out, dx)` for g."""
    layer = maxpool2d if kind == "max" else avgpool2d
    if forward:
        return jax.jit(lambda xb: (layer(xb, size, 1),))

    def run(xb, gb):
        out, vjp = jax.vjp(lambda x: layer(x, size, 1), xb)
        return (out,) + vjp(gb)

    return jax.jit(run)


def _spread(dout, bucket_shape, stride):
    """dout (N, F, Ho, Wo) placed at rows 0, s_h, 2·s_h, ... of a zero (bucket_shape) array."""
    g = np.zeros(bucket_shape)
    N, F, Ho, Wo = dout.shape
    g[:N, :F, :(Ho - 1) * stride[0] + 1:stride[0], :(Wo - 1) * stride[1] + 1:stride[1]] = dout
    return g


def conv2d_vjp(x, W, b, dout, stride, padding, dilation):
    """(out, dx, dW, db) of `reference.layers.conv2d` at (x, W, b) for upstream gradient dout,
    all float64 NumPy arrays. stride, padding, dilation: (h, w) pairs. dout None: the forward
    program only, (out, None, None, None)."""
    (N, C, H, Wd), (F, _, HH, WW) = x.shape, W.shape
    (ph, pw), (sh, sw) = padding, stride
    Ho = (H + 2 * ph - dilation[0] * (HH - 1) - 1) // sh + 1
    Wo = (Wd + 2 * pw - dilation[1] * (WW - 1) - 1) // sw + 1
    assert fits_conv(x.shape, W.shape, padding, dilation), "case outside the bucket"
    xb = np.zeros((NB, CB, XB, XB))
    xb[:N, :C, ph:ph + H, pw:pw + Wd] = x
    Wb = np.zeros((FB, CB, KB, KB))
    Wb[:F, :C, :HH, :WW] = W
    bb = np.zeros(FB)
    bb[:F] = b
    if dout is None:
        (out,) = _conv_program(tuple(dilation), True)(xb, Wb, bb)
        return np.asarray(out)[:N, :F, ::sh, ::sw][:, :, :Ho, :Wo], None, None, None
    out_hw = (XB - (KB - 1) * dilation[0], XB - (KB - 1) * dilation[1])
    gb = _spread(dout, (NB, FB) + out_hw, stride)
    out, dxb, dWb, dbb = (np.asarray(a) for a in _conv_program(tuple(dilation))(xb, Wb, bb, gb))
    out = out[:N, :F, ::sh, ::sw][:, :, :Ho, :Wo]
    return out, dxb[:N, :C, ph:ph + H, pw:pw + Wd], dWb[:F, :C, :HH, :WW], dbb[:F]


def pool2d_vjp(kind, x, dout, size, stride):
    """(out, dx) of `reference.layers.maxpool2d` (kind "max") or `avgpool2d` ("avg"); dout None:
    the forward program only, (out, None)."""
    N, C, H, W = x.shape
    sh, sw = stride
    Ho, Wo = (H - size[0]) // sh + 1, (W - size[1]) // sw + 1
    assert fits_pool(x.shape, size), "case outside the bucket"
    xb = np.zeros((NB, CB, PB, PB))  # the fill is read by no real window
    xb[:N, :C, :H, :W] = x
    if dout is None:
        (out,) = _pool_program(kind, tuple(size), True)(xb)
        return np.asarray(out)[:N, :C, ::sh, ::sw][:, :, :Ho, :Wo], None
    gb = _spread(dout, (NB, CB, PB - size[0] + 1, PB - size[1] + 1), stride)
    out, dxb = (np.asarray(a) for a in _pool_program(kind, tuple(size))(xb, gb))
    return out[:N, :C, ::sh, ::sw][:, :, :Ho, :Wo], dxb[:N, :C, :H, :W]
