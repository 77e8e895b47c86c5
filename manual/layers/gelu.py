"""GELU as a layer, both forms, each with its own exact derivative (PyTorch's `approximate`).

    "none" (the default, PyTorch's):  out = x Φ(x),  Φ(x) = ½ erfc(−x/√2) the normal CDF
                                       dx = dout ⊙ (Φ(x) + x φ(x)),  φ(x) = e^{−x²/2}/√(2π)
    "tanh":                            out = ½ x (1 + tanh u),  u = √(2/π)(x + 0.044715 x³)
                                       dx = dout ⊙ (½(1 + tanh u) + ½ x (1 − tanh² u) √(2/π)(1 + 3·0.044715 x²))

The tanh form's derivative is the derivative of the tanh form, not Φ + xφ: the two forms
differ by up to 4.7e-4 (forward) and their derivatives by up to 8.7e-4, far above rounding.
The tanh form is `manual.activations`' "gelu"; the activation named "gelu" in network
descriptions (NetworkSpec, MLP, stacks, `ACTIVATION_LAYERS["gelu"]`) is the tanh form, as before.

Φ is written with erfc, not 1 + erf: for x ≪ 0, 1 + erf(x/√2) cancels to 0 while erfc keeps
the tail (jax.nn.gelu uses 1 + erf, so the two agree to absolute rounding there, not relative).
NumPy has no erf, so math.erfc is applied entrywise, in float64; out and dx are cast back to
x's dtype (float32 in, float32 out).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import activations as _acts
from . import checks

APPROXIMATIONS = ("none", "tanh")
_erfc = np.frompyfunc(math.erfc, 1, 1)
_SQRT_HALF = math.sqrt(0.5)  # 1/√2
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)  # 1/√(2π)


class GeluCache(NamedTuple):
    x: np.ndarray  # any shape
    approximate: str  # "none" or "tanh"


def _approximate(approximate):
    if not isinstance(approximate, str):
        raise TypeError(f"approximate must be 'none' or 'tanh', got {type(approximate).__name__} {approximate!r}")
    if approximate not in APPROXIMATIONS:
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return approximate


def _cdf(x):
    """Φ(x) = ½ erfc(−x/√2), in float64 (same shape as x)."""
    return 0.5 * _erfc(-np.asarray(x, dtype=np.float64) * _SQRT_HALF).astype(np.float64)


def gelu_forward(x, approximate="none"):
    """out = x Φ(x) ("none", exact) or ½ x (1 + tanh(√(2/π)(x + 0.044715 x³))) ("tanh"); x any shape."""
    approximate = _approximate(approximate)
    x = checks.float_array(x, "x")
    if approximate == "tanh":
        out = np.array(_acts.gelu(x), dtype=x.dtype)  # same shape as x
    else:
        out = (x * _cdf(x)).astype(x.dtype)  # same shape as x
    return out, GeluCache(x, approximate)


def gelu_backward(dout, cache):
    """out = x Φ(x)  ⇒  dx = dout ⊙ (Φ(x) + x φ(x))   (product rule, Φ' = φ);
    out = ½ x (1 + tanh u)  ⇒  dx = dout ⊙ (½(1 + tanh u) + ½ x (1 − tanh² u) u'),  u' = √(2/π)(1 + 3·0.044715 x²)."""
    x, approximate = checks.cache_of(cache, GeluCache, "gelu")
    dout = checks.same_shape(dout, x.shape)  # same shape as x
    if approximate == "tanh":
        local = _acts.gelu_derivative(x, None)  # same shape as x: gelu' needs x only
    else:
        x64 = np.asarray(x, dtype=np.float64)
        pdf = _INV_SQRT_2PI * np.exp(-0.5 * x64 * x64)  # φ(x), same shape
        local = (_cdf(x64) + x64 * pdf).astype(x.dtype)  # Φ(x) + x φ(x)
    dx = dout * local  # same shape as x
    return (dx,)
