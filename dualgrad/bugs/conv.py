"""Classic convolution and pooling mistakes, each injected into `manual.layers`, each caught and shrunk.

The same machinery as `dualgrad.bugs` (a `Patch` replaces one function of a module, `injected`
puts it in and takes it out), hunted with the layer properties of `dualgrad.conv_properties`
(manual = jax.vjp, the adjoint identity, purity) over random cases of the layer the mutation
touches, then shrunk by hypothesis to the smallest image, kernel and stride that still fail.

    python -m dualgrad.conv_bugs         # the table: caught?, examples until caught, shrunk case
    python -m dualgrad.bugs              # the network catalog, the layers' (issue 12), then this one

Each wrong function below is the right one (manual/layers/conv.py, pool.py, flatten.py) with
one change, marked `# BUG`.
"""

from __future__ import annotations

import time
from typing import NamedTuple, Tuple

import numpy as np

from manual.layers import conv as CV
from manual.layers import flatten as FL
from manual.layers import pool as PL
from manual.layers import windows as WN

from ..engine import conv_properties as P
from . import patching
from .patching import Patch, Result, failure_of, family_main, hunt_with, injected, summary

LAYERS = {
    "conv2d": (P.conv_cases, P.conv_matches),
    "maxpool2d": (P.pool_cases, P.maxpool_matches),
    "avgpool2d": (P.pool_cases, P.avgpool_matches),
    "flatten": (P.flatten_cases, P.flatten_matches),
}


class Mutation(NamedTuple):
    name: str
    mistake: str  # the wrong line, in one line of math
    layer: str  # a key of LAYERS: the cases it is hunted on
    patches: Tuple[Patch, ...]


# ---------------------------------------------------------------- convolution


def _conv_parts(dout, cache):
    """What every fast conv backward starts from: (shapes, dout_mat (N·Ho·Wo, F), xp_shape, out_hw)."""
    x_shape, W, cols, stride, padding, dilation = cache
    N, C, H, Wd = x_shape
    F, _, HH, WW = W.shape
    Ho, Wo = dout.shape[2:]
    dout_mat = dout.transpose(0, 2, 3, 1).reshape(N * Ho * Wo, F)
    return dout_mat, (N, C, H + 2 * padding[0], Wd + 2 * padding[1]), (Ho, Wo)


def padding_not_cropped(original):
    def conv2d_backward(dout, cache):
        """dx = dxp: the gradient of the zero padding returned with the input's (the crop forgotten)"""
        _, W, cols, stride, padding, dilation = cache
        dout_mat, xp_shape, out_hw = _conv_parts(dout, cache)
        dcols = dout_mat @ W.reshape(W.shape[0], -1)
        dxp = CV.col2im(dcols, xp_shape, W.shape[2:], stride, dilation, out_hw)
        _, dW, db = original(dout, cache)
        return dxp, dW, db  # BUG: dxp[:, :, p_h:p_h + H, p_w:p_w + W] is dx

    return conv2d_backward


def stride_ignored_in_backward(original):
    def col2im(dcols, xp_shape, kernel, stride, dilation, out_hw):
        return original(dcols, xp_shape, kernel, (1, 1), dilation, out_hw)  # BUG: windows at i, not i·s

    return col2im


def dilation_ignored_in_backward(original):
    def col2im(dcols, xp_shape, kernel, stride, dilation, out_hw):
        return original(dcols, xp_shape, kernel, stride, (1, 1), out_hw)  # BUG: taps at a, not a·d

    return col2im


def kernel_not_flipped(original):
    def conv2d_backward(dout, cache):
        """dx by the full correlation with W itself, not W rotated by 180° (same as flipping twice)"""
        x_shape, W, _, stride, padding, dilation = cache
        _, dW, db = original(dout, cache)
        dx = CV._full_correlation(dout, W, x_shape, stride, padding, dilation)  # BUG: W[:, :, ::-1, ::-1]
        return dx, dW, db

    return conv2d_backward


def bias_over_wrong_axes(original):
    def conv2d_backward(dout, cache):
        dx, dW, _ = original(dout, cache)
        return dx, dW, dout.sum(axis=(0, 1, 2))  # BUG: channels-last habit (NHWC); right: axis=(0, 2, 3)

    return conv2d_backward


def im2col_column_order(original):
    def im2col(xp, kernel, stride, dilation, out_hw):
        """columns in (a, e, c) order, while W.reshape(F, −1) is in (c, a, e) order"""
        view = WN.windows(xp, kernel, stride, dilation, out_hw)  # (N, C, Ho, Wo, HH, WW)
        N, C, Ho, Wo, HH, WW = view.shape
        return view.transpose(0, 2, 3, 4, 5, 1).reshape(N * Ho * Wo, HH * WW * C)  # BUG: (0, 2, 3, 1, 4, 5)

    return im2col


# ---------------------------------------------------------------- pooling and flatten


def maxpool_to_whole_window(original):
    def maxpool2d_backward(dout, cache):
        x, (kh, kw), (sh, sw) = cache  # the naive forward's cache
        dx = np.zeros_like(x)
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                dx[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += dout[:, :, i, j, None, None]  # BUG: every entry
        return (dx,)

    return maxpool2d_backward


def maxpool_to_all_ties(original):
    def maxpool2d_backward(dout, cache):
        x, (kh, kw), (sh, sw) = cache
        dx = np.zeros_like(x)
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                window = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                mask = window == window.max(axis=(2, 3), keepdims=True)  # BUG: every tied maximum
                dx[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += mask * dout[:, :, i, j, None, None]
        return (dx,)

    return maxpool2d_backward


def maxpool_last_tie(original):
    def maxpool2d_forward(x, size, stride):
        out, cache = original(x, size, stride)
        kh, kw = WN.pair(size, "size", 1)
        sh, sw = WN.pair(stride, "stride", 1)
        N, C, H, W = x.shape
        Ho, Wo = out.shape[2:]
        flat = WN.windows(x, (kh, kw), (sh, sw), (1, 1), (Ho, Wo)).reshape(N, C, Ho, Wo, kh * kw)
        k = kh * kw - 1 - flat[..., ::-1].argmax(axis=-1)  # BUG: the last maximum, not the first
        a, e = np.divmod(k, kw)
        plane = (np.arange(N)[:, None] * C + np.arange(C)[None, :])[:, :, None, None]
        argmax = (plane * H + np.arange(Ho)[:, None] * sh + a) * W + np.arange(Wo)[None, :] * sw + e
        return out, PL.MaxPoolCache(cache.x_shape, argmax)

    return maxpool2d_forward


def maxpool_assigned_not_added(original):
    def maxpool2d_backward(dout, cache):
        dx = np.zeros(int(np.prod(cache.x_shape)))
        dx[cache.argmax.ravel()] = dout.ravel()  # BUG: a repeated index keeps one dout; np.add.at / bincount add
        return (dx.reshape(cache.x_shape),)

    return maxpool2d_backward


def avgpool_without_mean(original):
    def avgpool2d_backward(dout, cache):
        kh, kw = cache.size
        return (original(dout, cache)[0] * (kh * kw),)  # BUG: dout spread without the 1/(k_h·k_w)

    return avgpool2d_backward


def flatten_channels_last(original):
    def flatten_backward(dout, cache):
        N, C, *hw = cache.x_shape
        if not hw:
            return original(dout, cache)
        return (np.moveaxis(dout.reshape(N, *hw, C), -1, 1).copy(),)  # BUG: unflattened as (N, H, W, C)

    return flatten_backward


def _naive_max(_):
    return PL.maxpool2d_forward_naive


CATALOG: Tuple[Mutation, ...] = (
    Mutation("conv: padding not cropped from dx", "dx = dxp (N, C, H + 2p, W + 2p)", "conv2d",
             (Patch(CV, "conv2d_backward", padding_not_cropped),)),
    Mutation("conv: stride ignored in backward", "dxp[i + a] += ... (not i·s + a)", "conv2d",
             (Patch(CV, "col2im", stride_ignored_in_backward),)),
    Mutation("conv: dilation ignored in backward", "dxp[i·s + a] += ... (not i·s + a·d)", "conv2d",
             (Patch(CV, "col2im", dilation_ignored_in_backward),)),
    Mutation("conv: W not flipped in the dx correlation", "dx = dout ⋆ W (not rot180 W; or flipped twice)",
             "conv2d", (Patch(CV, "conv2d_backward", kernel_not_flipped),)),
    Mutation("conv: db summed over the wrong axes", "db = Σ_{n,f,i} dout (NHWC habit)", "conv2d",
             (Patch(CV, "conv2d_backward", bias_over_wrong_axes),)),
    Mutation("conv: im2col column order ≠ W's reshape", "cols in (a, e, c), W_mat in (c, a, e)", "conv2d",
             (Patch(CV, "im2col", im2col_column_order),)),
    Mutation("maxpool: gradient to every entry of the window", "dx[window] += dout", "maxpool2d",
             (Patch(PL, "maxpool2d_forward", _naive_max), Patch(PL, "maxpool2d_backward", maxpool_to_whole_window))),
    Mutation("maxpool: gradient to all tied maxima", "dx[window] += [x = max] · dout", "maxpool2d",
             (Patch(PL, "maxpool2d_forward", _naive_max), Patch(PL, "maxpool2d_backward", maxpool_to_all_ties))),
    Mutation("maxpool: ties to the last maximum", "argmax of the reversed window", "maxpool2d",
             (Patch(PL, "maxpool2d_forward", maxpool_last_tie),)),
    Mutation("maxpool: overlapping windows assigned, not added", "dx[argmax] = dout", "maxpool2d",
             (Patch(PL, "maxpool2d_backward", maxpool_assigned_not_added),)),
    Mutation("avgpool: missing 1/(k·k)", "dx[window] += dout", "avgpool2d",
             (Patch(PL, "avgpool2d_backward", avgpool_without_mean),)),
    Mutation("flatten: unflattened channels-last", "dx = dout.reshape(N, H, W, C) → NCHW", "flatten",
             (Patch(FL, "flatten_backward", flatten_channels_last),)),
)


def hunt(mutation: Mutation, max_examples: int = 300) -> Result:
    """Search the mutation's layer for a case on which the code as installed fails, and shrink it.
    Installs nothing itself: wrap it in `injected(mutation)` (or monkeypatch in a test)."""
    strategy, prop = LAYERS[mutation.layer]
    return hunt_with(mutation.name, mutation.layer, strategy(), lambda case: failure_of(prop, case), P.describe,
                     max_examples)


def run(mutation: Mutation, max_examples: int = 300) -> Result:
    with injected(mutation):
        return hunt(mutation, max_examples)


def table(results) -> str:
    mistakes = {m.name: m.mistake for m in CATALOG}
    return patching.table(results, "mistake", lambda r: mistakes.get(r.name, ""))


def run_all(max_examples: int = 300, messages: bool = False) -> tuple:
    """(the table and its summary line as text, every mutation caught?): for `python -m dualgrad.bugs`."""
    start = time.perf_counter()
    results = [run(m, max_examples) for m in CATALOG]
    return summary(table(results), results, "convolution/pooling mutations", messages, time.perf_counter() - start)


main = family_main(run_all, "Inject each conv/pool mistake and hunt it with the layer properties.")

if __name__ == "__main__":
    raise SystemExit(main())
