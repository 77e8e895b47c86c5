"""Hidden-layer activations a = f(z), each written next to its derivative f'(z).

Each docstring's first line is the formula the code computes (`dualgrad explain` prints it),
the `TeX:` line the same in LaTeX, then notes. Every derivative takes both the pre-activation `z` and the activation `a = f(z)`
(arrays of the same shape) and returns da/dz elementwise; each uses whichever is
cheaper and more accurate: σ' = a(1 − a) reuses the output, gelu' needs z.
In backprop the derivative multiplies the upstream gradient: dz = da ⊙ f'(z).

Each also has its second derivative f''(z), written in z and a the same way (`*_second_derivative`),
for the curvature products of manual/second_order.py: the R-operator's backward pass needs
R{dz} = R{da} ⊙ f'(z) + da ⊙ f''(z) ⊙ R{z}.

NOTE: at a kink the derivative is a convention, not a fact. We use jax.nn's
conventions so that the reference agrees to the last bit of meaning:
relu'(0) = 0, leaky_relu'(0) = 1 (jax.nn.leaky_relu takes the x ≥ 0 branch),
elu'(0) = 1 (α·exp(0), and the right-hand slope is 1 as well for α = 1).
The second derivatives follow jax.jvp(jax.grad(f)) the same way: relu''(z) = leaky_relu''(z) = 0
everywhere (the kink included: the branch is chosen by a comparison, which has no derivative), and
elu''(0) = α (the z ≤ 0 branch, α eᶻ at 0).
"""

from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Optional

import numpy as np

from . import spec as _spec

LEAKY_SLOPE = 0.01  # jax.nn.leaky_relu's default negative_slope
ELU_ALPHA = 1.0  # jax.nn.elu's default alpha
GELU_C = float(np.sqrt(2.0 / np.pi))  # gelu's tanh approximation: u = c (z + 0.044715 z³); a Python
# float, not np.float64: NumPy 2 would promote float32 arrays to float64 through a NumPy scalar
GELU_K = 0.044715


class Activation(NamedTuple):
    """An activation: `forward(z) -> a`, `derivative(z, a) -> da/dz` and, when known,
    `second_derivative(z, a) -> d²a/dz²` (None: the curvature products refuse it)."""

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]
    second_derivative: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None


def identity(z):
    r"""a = z

    TeX: z
    """
    return z


def identity_derivative(z, a):
    r"""da/dz = 1

    TeX: 1
    """
    return np.ones_like(z)


def identity_second_derivative(z, a):
    r"""d²a/dz² = 0

    TeX: 0
    """
    return np.zeros_like(z)


def relu(z):
    r"""a = max(z, 0)

    TeX: \max(z, 0)
    """
    return np.maximum(z, 0.0)


def relu_derivative(z, a):
    r"""da/dz = [z > 0]

    TeX: \mathbb{1}[z > 0]
    1 if z > 0 else 0.  NOTE: 0 at z = 0, as jax.nn.relu.
    """
    return (z > 0).astype(z.dtype)


def relu_second_derivative(z, a):
    r"""d²a/dz² = 0

    TeX: 0
    NOTE: 0 at z = 0 too, as jax.jvp(jax.grad(jax.nn.relu)): [z > 0] is piecewise constant.
    """
    return np.zeros_like(z)


def leaky_relu(z):
    r"""a = z if z ≥ 0 else 0.01 z

    TeX: \max(z,\ 0.01 z)
    """
    return np.where(z >= 0, z, LEAKY_SLOPE * z)


def leaky_relu_derivative(z, a):
    r"""da/dz = 1 if z ≥ 0 else 0.01

    TeX: \mathbb{1}[z \ge 0] + 0.01\,\mathbb{1}[z < 0]
    NOTE: 1 at z = 0, as jax.nn.leaky_relu.
    """
    return np.where(z >= 0, 1.0, LEAKY_SLOPE).astype(z.dtype)


def leaky_relu_second_derivative(z, a):
    r"""d²a/dz² = 0

    TeX: 0
    NOTE: 0 at z = 0 too, as jax.jvp(jax.grad(jax.nn.leaky_relu)).
    """
    return np.zeros_like(z)


def elu(z):
    r"""a = z if z > 0 else eᶻ − 1

    TeX: z\,\mathbb{1}[z > 0] + (e^{z} - 1)\,\mathbb{1}[z \le 0]
    In general α (eᶻ − 1) for z ≤ 0; α = ELU_ALPHA = 1, jax.nn.elu's default.
    """
    return np.where(z > 0, z, ELU_ALPHA * np.expm1(np.minimum(z, 0.0)))


def elu_derivative(z, a):
    r"""da/dz = 1 if z > 0 else a + 1

    TeX: \mathbb{1}[z > 0] + (a + 1)\,\mathbb{1}[z \le 0]
    In general α eᶻ = a + α for z ≤ 0, α = 1.  NOTE: α = 1 at z = 0, as jax.nn.elu.
    """
    return np.where(z > 0, 1.0, a + ELU_ALPHA).astype(z.dtype)


def elu_second_derivative(z, a):
    r"""d²a/dz² = 0 if z > 0 else a + 1

    TeX: (a + 1)\,\mathbb{1}[z \le 0]
    In general α eᶻ = a + α for z ≤ 0, α = 1.  NOTE: α = 1 at z = 0 (the z ≤ 0 branch), as jax.nn.elu.
    """
    return np.where(z > 0, 0.0, a + ELU_ALPHA).astype(z.dtype)


def sigmoid(z):
    r"""a = 1 / (1 + e⁻ᶻ)

    TeX: 1 / (1 + e^{-z})
    σ(z), computed as exp(−log(1 + e⁻ᶻ)) so no exp overflows.
    """
    return np.exp(-np.logaddexp(0.0, -z))


def sigmoid_derivative(z, a):
    r"""da/dz = a (1 − a)

    TeX: a\,(1 - a)
    σ'(z) = σ(z)(1 − σ(z)), written in the output a = σ(z).
    """
    return a * (1.0 - a)


def sigmoid_second_derivative(z, a):
    r"""d²a/dz² = a (1 − a)(1 − 2a)

    TeX: a\,(1 - a)(1 - 2a)
    From (a (1 − a))' = a' (1 − 2a) with a' = a (1 − a).
    """
    return a * (1.0 - a) * (1.0 - 2.0 * a)


def tanh(z):
    r"""a = tanh(z)

    TeX: \tanh z
    """
    return np.tanh(z)


def tanh_derivative(z, a):
    r"""da/dz = (1 − a)(1 + a)

    TeX: (1 - a)(1 + a)
    1 − tanh²(z) = 1 − a², factored: the factored form is exact near saturation.
    """
    return (1.0 - a) * (1.0 + a)


def tanh_second_derivative(z, a):
    r"""d²a/dz² = −2 a (1 − a)(1 + a)

    TeX: -2a\,(1 - a)(1 + a)
    From (1 − a²)' = −2 a a' with a' = 1 − a².
    """
    return -2.0 * a * (1.0 - a) * (1.0 + a)


def softplus(z):
    r"""a = log(1 + eᶻ)

    TeX: \log(1 + e^{z})
    Computed as logaddexp(0, z) so large z does not overflow.
    """
    return np.logaddexp(0.0, z)


def softplus_derivative(z, a):
    r"""da/dz = σ(z)

    TeX: \sigma(z)
    """
    return sigmoid(z)


def softplus_second_derivative(z, a):
    r"""d²a/dz² = σ(z) (1 − σ(z))

    TeX: \sigma(z)\,(1 - \sigma(z))
    """
    s = sigmoid(z)
    return s * (1.0 - s)


def silu(z):
    r"""a = z σ(z)

    TeX: z\,\sigma(z)
    """
    return z * sigmoid(z)


def silu_derivative(z, a):
    r"""da/dz = σ(z) (1 + z (1 − σ(z)))

    TeX: \sigma(z)\,(1 + z\,(1 - \sigma(z)))
    From σ(z) + z σ(z)(1 − σ(z)).
    """
    s = sigmoid(z)
    return s * (1.0 + z * (1.0 - s))


def silu_second_derivative(z, a):
    r"""d²a/dz² = σ(z) (1 − σ(z)) (2 + z (1 − 2σ(z)))

    TeX: \sigma(z)\,(1 - \sigma(z))\,(2 + z\,(1 - 2\sigma(z)))
    From (σ + z σ')' = 2σ' + z σ'' with σ' = σ(1 − σ), σ'' = σ'(1 − 2σ).
    """
    s = sigmoid(z)
    return s * (1.0 - s) * (2.0 + z * (1.0 - 2.0 * s))


def gelu(z):
    r"""a = ½ z (1 + tanh u),  u = √(2/π) (z + 0.044715 z³)

    TeX: \tfrac12 z (1 + \tanh u),\ u = \sqrt{2/\pi}\,(z + 0.044715 z^3)
    """
    u = GELU_C * (z + GELU_K * z**3)
    return 0.5 * z * (1.0 + np.tanh(u))


def gelu_derivative(z, a):
    r"""da/dz = ½ (1 + tanh u) + ½ z (1 − tanh² u) √(2/π) (1 + 3·0.044715 z²)

    TeX: \tfrac12 (1 + \tanh u) + \tfrac12 z (1 - \tanh^2 u) \sqrt{2/\pi}\,(1 + 3 \cdot 0.044715 z^2)
    """
    t = np.tanh(GELU_C * (z + GELU_K * z**3))
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_K * z * z)


def gelu_second_derivative(z, a):
    r"""d²a/dz² = (1 − tanh² u) (u' + ½ z (u'' − 2 tanh u · u'²)),  u' = √(2/π)(1 + 3·0.044715 z²),  u'' = 6·0.044715 √(2/π) z

    TeX: (1 - \tanh^2 u)\,\big(u' + \tfrac12 z\,(u'' - 2 \tanh u\, u'^2)\big)
    From f' = ½ (1 + t) + ½ z (1 − t²) u' with t = tanh u, t' = (1 − t²) u'.
    """
    t = np.tanh(GELU_C * (z + GELU_K * z**3))
    du = GELU_C * (1.0 + 3.0 * GELU_K * z * z)  # u'
    d2u = 6.0 * GELU_C * GELU_K * z  # u''
    return (1.0 - t * t) * (du + 0.5 * z * (d2u - 2.0 * t * du * du))


ACTIVATIONS: Dict[str, Activation] = {
    act.name: act
    for act in (
        Activation("identity", identity, identity_derivative, identity_second_derivative),
        Activation("relu", relu, relu_derivative, relu_second_derivative),
        Activation("leaky_relu", leaky_relu, leaky_relu_derivative, leaky_relu_second_derivative),
        Activation("elu", elu, elu_derivative, elu_second_derivative),
        Activation("gelu", gelu, gelu_derivative, gelu_second_derivative),
        Activation("silu", silu, silu_derivative, silu_second_derivative),
        Activation("sigmoid", sigmoid, sigmoid_derivative, sigmoid_second_derivative),
        Activation("tanh", tanh, tanh_derivative, tanh_second_derivative),
        Activation("softplus", softplus, softplus_derivative, softplus_second_derivative),
    )
}
BUILT_IN = tuple(ACTIVATIONS)
assert BUILT_IN == tuple(_spec.ACTIVATION_NAMES)


def get_activation(name: str) -> Activation:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; valid names: {', '.join(ACTIVATIONS)}") from None


def register_activation(name: str, forward, derivative, second_derivative=None) -> Activation:
    """Add a hidden activation: `forward(z) -> a` and `derivative(z, a) -> da/dz`, and
    optionally `second_derivative(z, a) -> d²a/dz²` (without it, `hessian_vector_product`
    and `gauss_newton_vector_product` refuse networks that use it, with a ValueError).

    The name becomes valid in `NetworkSpec` at once. Register the JAX twin with
    `reference.register_activation(name, fn)` so that verification covers it.
    """
    if not callable(forward) or not callable(derivative):
        raise TypeError("register_activation needs two callables: forward(z) and derivative(z, a)")
    if second_derivative is not None and not callable(second_derivative):
        raise TypeError(f"second_derivative must be a callable (z, a) -> d²a/dz² or None, got {second_derivative!r}")
    if name in BUILT_IN:
        raise ValueError(f"{name!r} is a built-in activation; register yours under another name")
    _spec.register_activation_name(name)
    ACTIVATIONS[name] = Activation(name, forward, derivative, second_derivative)
    return ACTIVATIONS[name]


def unregister_activation(name: str) -> None:
    """Remove an activation added with `register_activation`; the name is no longer valid in specs.

    Built-in activations cannot be removed. Unknown names raise ValueError.
    """
    if name in BUILT_IN:
        raise ValueError(f"{name!r} is a built-in activation and cannot be unregistered")
    if name not in ACTIVATIONS:
        raise ValueError(f"activation {name!r} is not registered")
    del ACTIVATIONS[name]
    if name in _spec.ACTIVATION_NAMES:
        _spec.ACTIVATION_NAMES.remove(name)
