"""Initial parameters: random weights to break symmetry, zero biases.

If every weight started equal, every unit of a layer would compute the same
output, receive the same gradient and stay equal forever; random weights break
that symmetry. The scale keeps the variance of activations steady with depth:

    he:      W ~ N(0, 2 / fan_in)              (for relu-like layers)
    xavier:  W ~ N(0, 2 / (fan_in + fan_out))  (Glorot, for tanh/sigmoid layers)
    b = 0
"""

from __future__ import annotations

import numpy as np

from . import arguments
from .spec import NetworkSpec
from .validation import check_spec

INITS = ("he", "xavier")


def init_params(spec: NetworkSpec, seed=0, init: str = "he", dtype=np.float64) -> list:
    """[(W, b), ...] for `spec`, drawn from np.random.default_rng(seed) (no global state)."""
    check_spec(spec)
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; valid names: {', '.join(INITS)}")
    dtype = arguments.float_dtype(dtype)
    seed = arguments.seed(seed)
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(spec.sizes[:-1], spec.sizes[1:]):
        var = 2.0 / fan_in if init == "he" else 2.0 / (fan_in + fan_out)
        W = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(var)).astype(dtype)  # (fan_in, fan_out)
        b = np.zeros(fan_out, dtype=dtype)  # (fan_out,)
        params.append((W, b))
    return params
