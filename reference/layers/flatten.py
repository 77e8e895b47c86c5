"""Flatten in JAX: x (N, ...) -> (N, D), row-major; gradient from jax.vjp."""

from manual.layers import checks


def flatten(x):
    checks.float_array(x, "x", (2, 3, 4, 5), what="shape (N, ...) of rank 2 to 5")
    return x.reshape(x.shape[0], -1)
