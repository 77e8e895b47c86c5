"""GELU as a layer in JAX, both forms: jax.nn.gelu(x, approximate=False) is x Φ(x) (PyTorch's
default, approximate="none"), approximate=True the tanh form (the activation "gelu")."""

import jax

from manual.layers import checks


def gelu(x, approximate="none"):
    """x Φ(x) for approximate="none", ½ x (1 + tanh(√(2/π)(x + 0.044715 x³))) for "tanh"; x any shape."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    checks.float_array(x, "x")
    return jax.nn.gelu(x, approximate=approximate == "tanh")
