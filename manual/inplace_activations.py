"""The built-in activations written into preallocated arrays, for the training step.

Same math as manual/activations.py, operation for operation where it can be (so
float64 results agree to rounding, mostly bit for bit), but every result goes
into an array that `TrainStep` made once per batch shape: no temporaries.

    forward(z, a, work)       a ← f(z)             a is z itself unless keeps_z
    backward(da, z, a, work)  da ← da ⊙ f'(z)      in place; may overwrite z, a and work

`work` is a `Work` of scratch arrays of z's shape. The backward may overwrite a
(and z): by the time dz_l is computed, layer l+1 has already used a_l for
dW_{l+1} = a_lᵀ dz_{l+1}, so nothing else reads them before the next forward.

What each activation keeps for its backward (its cache), and no more:

    a only:  identity, relu, leaky_relu, elu, sigmoid, tanh
             (f' is a function of a: relu' = [a > 0], σ' = a(1 − a), tanh' = (1 − a)(1 + a), ...)
    z and a: softplus, silu, gelu (f' needs z; a is still the next layer's input)

Branches are written as max/min of two same-shape arrays, which select the
same values as np.where (see each NOTE) without its temporaries.
NOTE (speed, NumPy 2.4): np.maximum(z, zeros) with a full array of zeros runs
NumPy's SIMD loop, ~5× faster than np.maximum(z, 0.0) with a scalar; and
`where=` masks are far slower than a multiply by a 0/1 mask. Hence `work.zeros`.

`fused(name)` returns the in-place form only while manual.activations.ACTIVATIONS
still holds the built-in entry; a user-registered (or replaced) activation gets
`generic(activation)`, which calls its forward and derivative and copies.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from . import activations as _act
from .activations import ELU_ALPHA, GELU_C, GELU_K, LEAKY_SLOPE

_BUILT_IN_ENTRIES = dict(_act.ACTIVATIONS)  # the table as this package defines it, before any user change


class Work(NamedTuple):
    """Scratch for one layer, every array of shape (N, fan_out)."""

    t: np.ndarray  # float scratch
    u: np.ndarray  # float scratch
    zeros: np.ndarray  # all 0, never written
    mask: np.ndarray  # bool scratch


class InplaceActivation(NamedTuple):
    """An activation as two in-place steps over arrays of shape (N, fan_out)."""

    name: str
    keeps_z: bool  # True: the cache holds z and a; False: a only (the forward overwrites z with a)
    forward: Callable  # forward(z, a, work): a ← f(z)
    backward: Callable  # backward(da, z, a, work): da ← da ⊙ f'(z)
    scratch: tuple = ("t",)  # the fields of Work it uses; the others may be None


def _sigmoid_into(z, out):
    """out ← σ(z) = exp(−log(1 + e⁻ᶻ)), as activations.sigmoid; out may be z."""
    np.negative(z, out=out)
    np.logaddexp(0.0, out, out=out)
    np.negative(out, out=out)
    np.exp(out, out=out)


# ---------------------------------------------------------------- a only


def identity_forward(z, a, work):
    """a = z (a is z)."""


def identity_backward(da, z, a, work):
    """dz = da."""


def relu_forward(z, a, work):
    """a = max(z, 0)."""
    np.maximum(z, work.zeros, out=a)


def relu_backward(da, z, a, work):
    """dz = da ⊙ [a > 0].  NOTE: a > 0 ⇔ z > 0, so relu'(0) = 0 as activations.relu_derivative."""
    np.greater(a, work.zeros, out=work.mask)
    np.multiply(da, work.mask, out=da)  # × 1.0 or × 0.0


def leaky_relu_forward(z, a, work):
    """a = max(z, 0.01 z).  NOTE: this is z for z ≥ 0 and 0.01 z for z < 0: where(z ≥ 0, z, 0.01 z)."""
    scaled = work.t
    np.multiply(z, LEAKY_SLOPE, out=scaled)
    np.maximum(z, scaled, out=a)


def leaky_relu_backward(da, z, a, work):
    """dz = da ⊙ f',  f' = max([a ≥ 0], 0.01) = 1 if z ≥ 0 else 0.01  (a ≥ 0 ⇔ z ≥ 0; 1 at z = 0)."""
    slope = work.t
    np.greater_equal(a, work.zeros, out=slope)  # 1.0 or 0.0
    np.maximum(slope, LEAKY_SLOPE, out=slope)
    da *= slope


assert ELU_ALPHA == 1.0, "the max/min forms of elu below hold for α = 1"


def elu_forward(z, a, work):
    """a = max(z, eᵐⁱⁿ⁽ᶻ'⁰⁾ − 1).  NOTE: for z > 0 the second term is 0 < z; for z ≤ 0, eᶻ − 1 ≥ z:
    so this is where(z > 0, z, α (eᶻ − 1)) with α = 1."""
    e = work.t
    np.minimum(z, work.zeros, out=e)
    np.expm1(e, out=e)  # eᶻ − 1 for z ≤ 0, 0 for z > 0
    np.maximum(z, e, out=a)


def elu_backward(da, z, a, work):
    """dz = da ⊙ f',  f' = min(a, 0) + α = 1 if z > 0 else a + α  (a > 0 ⇔ z > 0; α = 1 at z = 0)."""
    np.minimum(a, work.zeros, out=a)  # a is not read again
    a += ELU_ALPHA
    da *= a


def sigmoid_forward(z, a, work):
    """a = σ(z)."""
    _sigmoid_into(z, a)


def sigmoid_backward(da, z, a, work):
    """dz = da ⊙ a (1 − a)."""
    d = work.t
    np.subtract(1.0, a, out=d)
    d *= a
    da *= d


def tanh_forward(z, a, work):
    """a = tanh(z)."""
    np.tanh(z, out=a)


def tanh_backward(da, z, a, work):
    """dz = da ⊙ (1 − a)(1 + a)."""
    d = work.t
    np.subtract(1.0, a, out=d)
    np.add(a, 1.0, out=a)  # a is not read again
    d *= a
    da *= d


# ---------------------------------------------------------------- z and a


def softplus_forward(z, a, work):
    """a = log(1 + eᶻ)."""
    np.logaddexp(0.0, z, out=a)


def softplus_backward(da, z, a, work):
    """dz = da ⊙ σ(z)."""
    _sigmoid_into(z, a)  # a is not read again
    da *= a


def silu_forward(z, a, work):
    """a = z σ(z)."""
    _sigmoid_into(z, a)
    a *= z


def silu_backward(da, z, a, work):
    """dz = da ⊙ σ(z)(1 + z (1 − σ(z)))."""
    s, d = a, work.t
    _sigmoid_into(z, s)  # a is not read again
    np.subtract(1.0, s, out=d)
    d *= z
    d += 1.0
    d *= s
    da *= d


def _gelu_tanh_into(z, out):
    """out ← t = tanh u,  u = √(2/π) (z + 0.044715 z³)."""
    np.power(z, 3, out=out)
    out *= GELU_K
    out += z
    out *= GELU_C
    np.tanh(out, out=out)


def gelu_forward(z, a, work):
    """a = ½ z (1 + tanh u)."""
    half_z = work.t
    _gelu_tanh_into(z, a)
    a += 1.0
    np.multiply(z, 0.5, out=half_z)
    a *= half_z


def gelu_backward(da, z, a, work):
    """dz = da ⊙ [½ (1 + t) + ½ z (1 − t²) √(2/π) (1 + 3·0.044715 z²)],  t = tanh u."""
    t, r, scratch = a, work.t, work.u
    _gelu_tanh_into(z, t)  # a is not read again
    np.multiply(t, t, out=scratch)
    np.subtract(1.0, scratch, out=scratch)  # scratch = 1 − t²
    np.multiply(z, 0.5, out=r)
    r *= scratch
    r *= GELU_C  # r = ½ z (1 − t²) √(2/π)
    np.multiply(z, 3.0 * GELU_K, out=scratch)
    scratch *= z
    scratch += 1.0  # scratch = 1 + 3·0.044715 z²
    r *= scratch
    t += 1.0
    t *= 0.5  # ½ (1 + t)
    t += r
    da *= t


# ---------------------------------------------------------------- any registered activation


def generic(activation: _act.Activation) -> InplaceActivation:
    """Any `Activation(forward(z), derivative(z, a))`: keeps z and a, and copies its results in."""

    def forward(z, a, work):
        np.copyto(a, activation.forward(z), casting="same_kind")

    def backward(da, z, a, work):
        da *= activation.derivative(z, a)

    return InplaceActivation(activation.name, True, forward, backward, ())


INPLACE = {
    act.name: act
    for act in (
        InplaceActivation("identity", False, identity_forward, identity_backward, ()),
        InplaceActivation("relu", False, relu_forward, relu_backward, ("zeros", "mask")),
        InplaceActivation("leaky_relu", False, leaky_relu_forward, leaky_relu_backward, ("t", "zeros")),
        InplaceActivation("elu", False, elu_forward, elu_backward, ("t", "zeros")),
        InplaceActivation("gelu", True, gelu_forward, gelu_backward, ("t", "u")),
        InplaceActivation("silu", True, silu_forward, silu_backward, ("t",)),
        InplaceActivation("sigmoid", False, sigmoid_forward, sigmoid_backward, ("t",)),
        InplaceActivation("tanh", False, tanh_forward, tanh_backward, ("t",)),
        InplaceActivation("softplus", True, softplus_forward, softplus_backward, ()),
    )
}
assert set(INPLACE) == set(_act.BUILT_IN)


def fused(name: str) -> InplaceActivation:
    """The in-place form of activation `name`: the built-in one while the table holds the built-in
    entry, else `generic` around whatever the table holds now (registered or replaced)."""
    current = _act.get_activation(name)
    if name in INPLACE and current is _BUILT_IN_ENTRIES.get(name):
        return INPLACE[name]
    return generic(current)
