"""The temporal affine layer and the masked temporal softmax loss in JAX; gradients from jax.vjp.

NOTE: the loss sums over steps and masked-in positions and divides by N only, as manual's (CS231n).
"""

import jax
import jax.numpy as jnp

from manual.layers import checks


def temporal_affine(x, w, b):
    """x (N, T, D), w (D, M), b (M,) -> x w + b (N, T, M)."""
    checks.float_array(x, "x", 3, what="3-D shape (N, T, D)")
    return x @ w + b


def temporal_softmax_loss(x, y, mask):
    """−(1/N) Σₙₜ maskₙₜ log softmax(xₙₜ)[yₙₜ];  x (N, T, V), y (N, T) ids, mask (N, T) bool."""
    checks.float_array(x, "x", 3, what="3-D shape (N, T, V)")
    log_p = jax.nn.log_softmax(x, axis=2)
    picked = jnp.take_along_axis(log_p, jnp.asarray(y)[:, :, None], axis=2)[:, :, 0]
    return -jnp.sum(jnp.where(mask, picked, 0.0)) / x.shape[0]
