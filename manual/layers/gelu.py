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
NumPy has no erf, and math.erfc entry by entry is a Python loop, so `erfc` below is vectorised:
Cephes' rational approximations (S. L. Moshier, ndtr.c, the ones scipy.special.erfc uses), in
float64; out and dx are cast back to x's dtype (float32 in, float32 out).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import activations as _acts
from . import checks

APPROXIMATIONS = ("none", "tanh")
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


# Cephes ndtr.c (Cephes Math Library 2.9, Copyright 1984-2000 Stephen L. Moshier): erf on |a| < 1 as
# a T(a²)/U(a²), erfc on 1 <= a < 8 as e^{−a²} P(a)/Q(a), on a >= 8 as e^{−a²} R(a)/S(a); U, Q, S monic.
_T = (9.60497373987051638749E0, 9.00260197203842689217E1, 2.23200534594684319226E3, 7.00332514112805075473E3,
      5.55923013010394962768E4)
_U = (3.35617141647503099647E1, 5.21357949780152679795E2, 4.59432382970980127987E3, 2.26290000613890934246E4,
      4.92673942608635921086E4)
_P = (2.46196981473530512524E-10, 5.64189564831068821977E-1, 7.46321056442269912687E0, 4.86371970985681366614E1,
      1.96520832956077098242E2, 5.26445194995477358631E2, 9.34528527171957607540E2, 1.02755188689515710272E3,
      5.57535335369399327526E2)
_Q = (1.32281951154744992508E1, 8.67072140885989742329E1, 3.54937778887819891062E2, 9.75708501743205489753E2,
      1.82390916687909736289E3, 2.24633760818710981792E3, 1.65666309194161350182E3, 5.57535340817727675546E2)
_R = (5.64189583547755073984E-1, 1.27536670759978104416E0, 5.01905042251180477414E0, 6.16021097993053585195E0,
      7.40974269950448939160E0, 2.97886665372100240670E0)
_S = (2.26052863220117276590E0, 9.39603524938001434673E0, 1.20489539808096656605E1, 1.70814450747565897222E1,
      9.60896809063285878198E0, 3.36907645100081516050E0)
_ZERO_BEYOND = 27.3  # erfc(a) < 2^−1074 (the smallest float64) for a > 27.3: 0 there (and 2 below −27.3)


def _polynomial(a, coefficients, monic=False):
    """Σ cᵢ a^(n−i) by Horner's rule (with a leading 1 if monic), entrywise, in place after the first step."""
    out = a + coefficients[0] if monic else a * coefficients[0] + coefficients[1]
    for c in coefficients[1 if monic else 2:]:
        out *= a
        out += c
    return out


def _exp_minus_square(a):
    """e^{−a²} for a >= 0 without the rounding of a² magnified: a = m + f with m a multiple of 1/128,
    so m² is exact and e^{−a²} = e^{−m²} e^{−(2m f + f²)} (Cephes' expx2)."""
    m = np.floor(a * 128.0 + 0.5) / 128.0  # same shape as a
    f = a - m  # |f| <= 1/256, exact
    return np.exp(-m * m) * np.exp(-(2.0 * m + f) * f)


def erfc(a):
    """erfc(a) = 1 − erf(a) = (2/√π) ∫ₐ^∞ e^{−t²} dt, entrywise in float64 (NumPy only, vectorised):
    1 − a T(a²)/U(a²) for |a| < 1; e^{−|a|²} P(|a|)/Q(|a|) (|a| < 8) or R(|a|)/S(|a|) for |a| >= 1,
    and 2 − that for a < 0. Relative error against math.erfc wherever erfc(a) is a normal float64:
    1.1e-15 at most for |a| >= 1 (measured), 1.5e-15 just under a = 1 (1 − erf(a) cancels 3 bits there), 1e-16
    typical (tests/test_gelu_erf.py)."""
    a = np.asarray(a, dtype=np.float64)
    x = np.abs(a)  # same shape as a
    out = np.empty_like(x)  # same shape as a
    small = x < 1.0  # bool, same shape
    s = a[small]  # (k,)
    s2 = s * s
    out[small] = 1.0 - s * _polynomial(s2, _T) / _polynomial(s2, _U, monic=True)
    if small.all():  # the common case of activations: no tail to compute
        return out
    mid = ~small & (x < 8.0)
    m = x[mid]  # (k,)
    out[mid] = _exp_minus_square(m) * _polynomial(m, _P) / _polynomial(m, _Q, monic=True)
    far = x >= 8.0
    if far.any():
        big = far & (x <= _ZERO_BEYOND)
        b = x[big]  # (k,)
        out[big] = _exp_minus_square(b) * _polynomial(b, _R) / _polynomial(b, _S, monic=True)
        out[x > _ZERO_BEYOND] = 0.0  # underflow (also ±inf)
    negative = ~small & (a < 0.0)
    out[negative] = 2.0 - out[negative]  # erfc(−x) = 2 − erfc(x)
    return out


def _cdf(x):
    """Φ(x) = ½ erfc(−x/√2), in float64 (same shape as x)."""
    return 0.5 * erfc(-np.asarray(x, dtype=np.float64) * _SQRT_HALF)


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
