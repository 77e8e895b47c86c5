"""Layer normalization in JAX: batchnorm's formula over the last axis; gradients from jax.vjp."""

import jax.numpy as jnp

from manual.layers import checks


def layernorm(x, gamma, beta, eps=1e-5):
    """γ (x − mean₋₁ x)/√(var₋₁ x + ε) + β, x (..., D)."""
    checks.float_array(x, "x", (2, 3), what="2-D or 3-D shape (N, D) or (N, T, D)")
    checks.float_array(gamma, "gamma", shape=(x.shape[-1],))
    checks.float_array(beta, "beta", shape=(x.shape[-1],))
    checks.eps(eps)
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean((x - mean) ** 2, axis=-1, keepdims=True)
    return gamma * (x - mean) / jnp.sqrt(var + eps) + beta
