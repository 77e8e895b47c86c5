"""Flatten: the bridge from convolution to a dense layer.

    out = x.reshape(N, C·H·W)          x (N, C, H, W), out (N, D) with D = C·H·W, row-major:
                                        out[n, (c·H + r)·W + q] = x[n, c, r, q]
    dx  = dout.reshape(N, C, H, W)     a reshape is a permutation of entries; its adjoint is the
                                        inverse permutation, the reshape back in the same order

Any rank ≥ 2 works (everything after the batch axis is flattened). NumPy only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import checks


class FlattenCache(NamedTuple):
    x_shape: tuple  # (N, C, H, W) or any (N, ...)


def flatten_forward(x):
    """out = x.reshape(N, −1), a copy (no view of x); x (N, ...) -> (N, D)."""
    x = checks.float_array(x, "x", (2, 3, 4, 5), what="shape (N, ...) of rank 2 to 5")
    out = np.array(x.reshape(x.shape[0], -1), copy=True)  # (N, D)
    return out, FlattenCache(tuple(x.shape))


def flatten_backward(dout, cache):
    """(dx,) with dx = dout.reshape(x's shape), a copy."""
    (x_shape,) = checks.cache_of(cache, FlattenCache, "flatten")
    d = int(np.prod(x_shape[1:]))
    dout = checks.same_shape(dout, (x_shape[0], d))  # (N, D)
    return (np.array(dout.reshape(x_shape), copy=True),)  # (N, C, H, W), as a 1-tuple like every paramless layer
