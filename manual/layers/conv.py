"""2-D convolution (cross-correlation, as in every deep-learning library), NCHW.

Shapes (CS231n's legend): x (N, C, H, W), W (F, C, HH, WW), b (F,), out (N, F, Ho, Wo),
Ho = ⌊(H + 2p_h − K_h) / s_h⌋ + 1 with K_h = (HH − 1)·d_h + 1 (see `windows`), same for Wo.
xp is x zero-padded by p on each side, (N, C, H + 2p_h, W + 2p_w).

Forward, for every n, f, i, j:

    out[n, f, i, j] = b[f] + Σ_{c, a, e} W[f, c, a, e] · xp[n, c, i·s_h + a·d_h, j·s_w + e·d_w]

Backward: out is linear in each of b, W, xp, so each gradient collects dout over the terms
where its entry appears:

    db[f]          = Σ_{n, i, j} dout[n, f, i, j]
    dW[f, c, a, e] = Σ_{n, i, j} dout[n, f, i, j] · xp[n, c, i·s_h + a·d_h, j·s_w + e·d_w]
    dxp[n, c, r, q] = Σ_{f, i, j, a, e : i·s_h + a·d_h = r, j·s_w + e·d_w = q} dout[n, f, i, j] · W[f, c, a, e]
    dx = dxp without its padding: dxp[:, :, p_h : p_h + H, p_w : p_w + W]

Three forms, proven equal by properties in tests/test_conv.py:
- `conv2d_forward_naive` / `conv2d_backward_naive`: the sums above as loops over (i, j), the
  form to read next to the derivation (CS231n's conv_forward_naive);
- `conv2d_dx_by_correlation`: dx as the textbook identity (a full correlation of the
  stride-spread dout with the kernel rotated by 180°);
- `conv2d_forward` / `conv2d_backward`: im2col and two matrix products (the fast form; the
  names other code calls).

NumPy only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import checks, windows
from .windows import Pair


class ConvCache(NamedTuple):
    x_shape: tuple  # (N, C, H, W)
    W: np.ndarray  # (F, C, HH, WW)  for dcols = dout_mat · W_mat
    cols: np.ndarray  # (N·Ho·Wo, C·HH·WW)  im2col of xp, for dW = dout_matᵀ · cols
    stride: Pair
    padding: Pair
    dilation: Pair


class ConvNaiveCache(NamedTuple):
    xp: np.ndarray  # (N, C, Hp, Wp)  the padded input
    W: np.ndarray  # (F, C, HH, WW)
    x_shape: tuple  # (N, C, H, W)
    stride: Pair
    padding: Pair
    dilation: Pair


# ---------------------------------------------------------------- the naive loops


def conv2d_forward_naive(x, W, b, stride=1, padding=0, dilation=1):
    """out[n, f, i, j] = b[f] + Σ_{c,a,e} W[f, c, a, e] · xp[n, c, i·s_h + a·d_h, j·s_w + e·d_w].

    One loop per output position (i, j); the sum over (c, a, e) for every n and f at once.
    """
    x, W, b, stride, padding, dilation = windows.check_conv(x, W, b, stride, padding, dilation)
    N, C, H, Wd = x.shape
    F, _, HH, WW = W.shape
    Ho, Wo = windows.output_hw((H, Wd), (HH, WW), stride, padding, dilation)
    (sh, sw), (dh, dw) = stride, dilation
    xp = windows.pad(x, padding)  # (N, C, Hp, Wp)
    out = np.empty((N, F, Ho, Wo), dtype=np.result_type(x, W, b))
    for i in range(Ho):
        rows = slice(i * sh, i * sh + (HH - 1) * dh + 1, dh)  # HH rows: i·s_h + a·d_h
        for j in range(Wo):
            cols = slice(j * sw, j * sw + (WW - 1) * dw + 1, dw)  # WW columns: j·s_w + e·d_w
            window = xp[:, None, :, rows, cols]  # (N, 1, C, HH, WW)
            out[:, :, i, j] = (window * W[None]).sum(axis=(2, 3, 4)) + b  # Σ_{c,a,e} -> (N, F)
    return out, ConvNaiveCache(xp, W, x.shape, stride, padding, dilation)


def conv2d_backward_naive(dout, cache):
    """db = Σ_{n,i,j} dout;  dW[f] = Σ_{n,i,j} dout[n, f, i, j] · window(n, i, j);
    dxp[n, :, window(i, j)] += Σ_f dout[n, f, i, j] · W[f];  dx = dxp cropped by the padding."""
    xp, W, x_shape, stride, padding, dilation = checks.cache_of(cache, ConvNaiveCache, "conv2d")
    N, C, H, Wd = x_shape
    F, _, HH, WW = W.shape
    Ho, Wo = windows.output_hw((H, Wd), (HH, WW), stride, padding, dilation)
    dout = checks.same_shape(dout, (N, F, Ho, Wo))  # (N, F, Ho, Wo)
    (sh, sw), (dh, dw), (ph, pw) = stride, dilation, padding
    dxp = np.zeros(xp.shape, dtype=np.result_type(xp, W, dout))  # (N, C, Hp, Wp)
    dW = np.zeros(W.shape, dtype=dxp.dtype)  # (F, C, HH, WW)
    db = dout.sum(axis=(0, 2, 3))  # (F,): Σ over n, i, j
    for i in range(Ho):
        rows = slice(i * sh, i * sh + (HH - 1) * dh + 1, dh)
        for j in range(Wo):
            cols = slice(j * sw, j * sw + (WW - 1) * dw + 1, dw)
            g = dout[:, :, i, j]  # (N, F): ∂L/∂out[n, f, i, j]
            dW += np.tensordot(g, xp[:, :, rows, cols], axes=([0], [0]))  # Σₙ g[n, f] · window[n] -> (F, C, HH, WW)
            dxp[:, :, rows, cols] += np.tensordot(g, W, axes=([1], [0]))  # Σ_f g[n, f] · W[f] -> (N, C, HH, WW)
    dx = dxp[:, :, ph:ph + H, pw:pw + Wd].copy()  # (N, C, H, W): the padding is no input, its gradient goes
    return dx, dW, db


def conv2d_dx_by_correlation(dout, W, x_shape, stride=1, padding=0, dilation=1):
    """dx as the textbook identity: "the backward of a convolution is a convolution".

    Spread dout by the stride (s − 1 zeros between entries: dz), pad it by K − 1 on each side
    (a full correlation), and correlate it with W rotated by 180° and its channels swapped:

        dxp[n, c, r, q] = Σ_{f, a, e} dz_full[n, f, r + a·d_h, q + e·d_w] · W[f, c, HH−1−a, WW−1−e]

    which is the sum for dxp in the module docstring with i = (r − a'·d_h)/s_h, a' = HH−1−a.
    Rows past (Ho − 1)·s_h + K_h − 1 of the padded input get no gradient (zeros appended).
    """
    rotated = W[:, :, ::-1, ::-1]  # rot180 of each kernel: W[f, c, HH−1−a, WW−1−e]
    return _full_correlation(dout, rotated, x_shape, stride, padding, dilation)


def _full_correlation(dout, K, x_shape, stride, padding, dilation):
    """Σ_{f,a,e} dz_full[n, f, r + a·d_h, q + e·d_w] · K[f, c, a, e], cropped to x's (H, W)."""
    stride, padding, dilation = (windows.pair(v, n, m) for v, n, m in
                                 ((stride, "stride", 1), (padding, "padding", 0), (dilation, "dilation", 1)))
    N, C, H, Wd = x_shape
    F, _, HH, WW = K.shape
    Ho, Wo = windows.output_hw((H, Wd), (HH, WW), stride, padding, dilation)
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    Kh, Kw = windows.effective((HH, WW), dilation)
    Hp, Wp = H + 2 * ph, Wd + 2 * pw
    # dz_full: dout spread by the stride, K − 1 zeros before, and after it enough to reach Hp + K − 1 rows
    dz = np.zeros((N, F, Hp + Kh - 1, Wp + Kw - 1), dtype=np.result_type(dout, K))
    dz[:, :, Kh - 1:Kh - 1 + sh * (Ho - 1) + 1:sh, Kw - 1:Kw - 1 + sw * (Wo - 1) + 1:sw] = dout
    dxp = np.zeros((N, C, Hp, Wp), dtype=dz.dtype)
    for a in range(HH):
        for e in range(WW):
            shifted = dz[:, :, a * dh:a * dh + Hp, e * dw:e * dw + Wp]  # (N, F, Hp, Wp)
            dxp += np.einsum("nfrq,fc->ncrq", shifted, K[:, :, a, e])  # Σ_f
    return dxp[:, :, ph:ph + H, pw:pw + Wd].copy()  # (N, C, H, W)


# ---------------------------------------------------------------- the fast form: im2col


def im2col(xp, kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> np.ndarray:
    """xp (N, C, Hp, Wp) -> cols (N·Ho·Wo, C·HH·WW): row (n, i, j) holds window (n, i, j),
    its columns in (c, a, e) order, the order of W.reshape(F, C·HH·WW)'s columns."""
    view = windows.windows(xp, kernel, stride, dilation, out_hw)  # (N, C, Ho, Wo, HH, WW), no copy
    N, C, Ho, Wo, HH, WW = view.shape
    return view.transpose(0, 2, 3, 1, 4, 5).reshape(N * Ho * Wo, C * HH * WW)  # copies: windows overlap


def col2im(dcols, xp_shape, kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> np.ndarray:
    """The adjoint of im2col: dcols (N·Ho·Wo, C·HH·WW) -> dxp (N, C, Hp, Wp), each column entry
    added back to the input entry it was copied from (overlapping windows accumulate)."""
    N, C = xp_shape[:2]
    (HH, WW), (Ho, Wo) = kernel, out_hw
    d = dcols.reshape(N, Ho, Wo, C, HH, WW)
    dxp = np.zeros(xp_shape, dtype=dcols.dtype)  # (N, C, Hp, Wp)
    for a in range(HH):
        for e in range(WW):
            rows, cols = windows.tap_slices(a, e, stride, dilation, out_hw)
            dxp[:, :, rows, cols] += d[:, :, :, :, a, e].transpose(0, 3, 1, 2)  # (N, C, Ho, Wo)
    return dxp


def conv2d_forward(x, W, b, stride=1, padding=0, dilation=1):
    """out = im2col(xp) · W_matᵀ + b, W_mat = W.reshape(F, C·HH·WW); x (N, C, H, W) -> (N, F, Ho, Wo)."""
    x, W, b, stride, padding, dilation = windows.check_conv(x, W, b, stride, padding, dilation)
    N, C, H, Wd = x.shape
    F, _, HH, WW = W.shape
    Ho, Wo = windows.output_hw((H, Wd), (HH, WW), stride, padding, dilation)
    cols = im2col(windows.pad(x, padding), (HH, WW), stride, dilation, (Ho, Wo))  # (N·Ho·Wo, C·HH·WW)
    out = cols @ W.reshape(F, -1).T + b  # (N·Ho·Wo, C·HH·WW) @ (C·HH·WW, F) + (F,) -> (N·Ho·Wo, F)
    out = np.ascontiguousarray(out.reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2))  # (N, F, Ho, Wo)
    return out, ConvCache(x.shape, W, cols, stride, padding, dilation)


def conv2d_backward(dout, cache):
    """With dout_mat (N·Ho·Wo, F):  db = 1ᵀ dout_mat,  dW_mat = dout_matᵀ · cols,
    dcols = dout_mat · W_mat,  dxp = col2im(dcols),  dx = dxp cropped by the padding."""
    x_shape, W, cols, stride, padding, dilation = checks.cache_of(cache, ConvCache, "conv2d")
    N, C, H, Wd = x_shape
    F, _, HH, WW = W.shape
    Ho, Wo = windows.output_hw((H, Wd), (HH, WW), stride, padding, dilation)
    dout = checks.same_shape(dout, (N, F, Ho, Wo))  # (N, F, Ho, Wo)
    (ph, pw) = padding
    dout_mat = dout.transpose(0, 2, 3, 1).reshape(N * Ho * Wo, F)  # row (n, i, j), like cols
    db = dout_mat.sum(axis=0)  # (F,): Σ over n, i, j
    dW = (dout_mat.T @ cols).reshape(W.shape)  # (F, N·Ho·Wo) @ (N·Ho·Wo, C·HH·WW) -> (F, C, HH, WW)
    dcols = dout_mat @ W.reshape(F, -1)  # (N·Ho·Wo, F) @ (F, C·HH·WW) -> (N·Ho·Wo, C·HH·WW)
    xp_shape = (N, C, H + 2 * ph, Wd + 2 * pw)
    dxp = col2im(dcols, xp_shape, (HH, WW), stride, dilation, (Ho, Wo))  # (N, C, Hp, Wp)
    dx = np.ascontiguousarray(dxp[:, :, ph:ph + H, pw:pw + Wd])  # (N, C, H, W): the padding's gradient goes
    return dx, dW, db
