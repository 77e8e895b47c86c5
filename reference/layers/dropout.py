"""Inverted dropout in JAX: x ⊙ m / (1 − p), m the mask drawn from `seed`.

The mask is data, not math: it comes from `manual.layers.checks.dropout_mask`, the one
generator both sides share, through `jax.pure_callback` so that `dropout` also runs under
jax.jit with a traced seed and p (one compiled program for every seed).
"""

import jax
import jax.numpy as jnp
import numpy as np

from manual.layers import checks


def dropout_mask(shape, p, seed):
    """The bool mask of `shape` for (p, seed), as a JAX array (works on traced p and seed)."""
    shape = tuple(int(s) for s in shape)

    def draw(p, seed):
        return checks.dropout_mask(shape, float(p), int(seed))

    return jax.pure_callback(draw, jax.ShapeDtypeStruct(shape, np.bool_), p, seed, vmap_method="sequential")


def dropout(x, p, seed):
    """x ⊙ m / (1 − p); p in [0, 1), seed an int >= 0."""
    checks.float_array(x, "x")
    checks.probability(p)
    checks.seed(seed)
    return masked(x, dropout_mask(x.shape, p, seed), p)


def masked(x, keep, p):
    """x ⊙ m / (1 − p) for a given bool mask m (`keep`, x's shape)."""
    return jnp.where(keep, x / (1.0 - p), 0.0)
