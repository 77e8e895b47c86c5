"""Inverted dropout: drop each unit with probability p, scale the kept ones by 1/(1 − p).

    m = [uᵢ ≥ p], u ~ uniform(0, 1) from default_rng(seed)    (the mask, x's shape)
    out = x ⊙ m / (1 − p)

so E[out] = x and evaluation needs no rescaling (evaluation mode is the identity, p = 0).
The mask comes from `seed` (`checks.dropout_mask`, shared with the reference so both sides
drop the same units); p = 0 keeps every unit and is the identity. x may have any shape.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import checks


class DropoutCache(NamedTuple):
    scale: np.ndarray  # (x's shape) m / (1 − p): 0 for a dropped unit, 1/(1 − p) for a kept one


def dropout_forward(x, p, seed):
    """out = x ⊙ m / (1 − p), m the mask drawn from `seed` (p in [0, 1), seed an int >= 0)."""
    x = checks.float_array(x, "x")
    p = checks.probability(p)
    seed = checks.seed(seed)
    mask = checks.dropout_mask(x.shape, p, seed)  # (x's shape) bool
    scale = mask.astype(x.dtype) / x.dtype.type(1.0 - p)  # (x's shape)
    out = x * scale  # (x's shape)
    return out, DropoutCache(scale)


def dropout_backward(dout, cache):
    """out = x ⊙ m/(1 − p)  ⇒  dx = dout ⊙ m/(1 − p): the same mask, the same scale."""
    (scale,) = checks.cache_of(cache, DropoutCache, "dropout")
    dout = checks.same_shape(dout, scale.shape)
    dx = dout * scale  # (x's shape)
    return (dx,)
