"""The hidden activations in JAX: jax.nn's functions, derivatives by autodiff.

NOTE: the kinks follow jax.nn, and `manual` matches them: jax.grad gives
relu'(0) = 0 (jax.nn.relu's custom JVP), leaky_relu'(0) = 1 (x ≥ 0 branch) and
elu'(0) = 1. `jnp.maximum(z, 0)` would split the tie and give ½, so it is not used.
"""

from functools import partial

import jax
import jax.numpy as jnp

from manual import spec as _spec

ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": jax.nn.relu,
    "leaky_relu": partial(jax.nn.leaky_relu, negative_slope=0.01),
    "elu": partial(jax.nn.elu, alpha=1.0),
    "gelu": partial(jax.nn.gelu, approximate=True),
    "silu": jax.nn.silu,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "softplus": jax.nn.softplus,
}
BUILT_IN = tuple(ACTIVATIONS)

# The same functions with the other one-sided derivative at the kink z = 0 (for kink="either"
# checks of a user's backprop): jnp.where takes the branch the comparison picks, so
# relu'(0) = 1 from `z >= 0` and leaky_relu'(0) = 0.01 from `z > 0`.
OTHER_SIDE = {
    "relu": lambda z: jnp.where(z >= 0, z, 0.0),
    "leaky_relu": lambda z: jnp.where(z > 0, z, 0.01 * z),
}
assert BUILT_IN == tuple(_spec.ACTIVATION_NAMES[: len(BUILT_IN)])


def get_activation(name):
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"activation {name!r} has no JAX twin; register one with reference.register_activation"
        ) from None


def register_activation(name, fn):
    """Give the activation `name` its JAX function `fn(z) -> a` (differentiable by jax.grad)."""
    if not callable(fn):
        raise TypeError("register_activation needs a callable fn(z) written with jax.numpy")
    if name in BUILT_IN:
        raise ValueError(f"{name!r} is a built-in activation; register yours under another name")
    _spec.register_activation_name(name)
    ACTIVATIONS[name] = fn


def unregister_activation(name):
    """Remove the JAX function registered for `name`; the name is no longer valid in specs."""
    if name in BUILT_IN:
        raise ValueError(f"{name!r} is a built-in activation and cannot be unregistered")
    if name not in ACTIVATIONS:
        raise ValueError(f"activation {name!r} has no registered JAX function")
    del ACTIVATIONS[name]
    if name in _spec.ACTIVATION_NAMES:
        _spec.ACTIVATION_NAMES.remove(name)
