"""Batch normalization in JAX, training and evaluation mode; gradients from jax.vjp."""

import jax.numpy as jnp

from manual.layers import checks


def _check(x, gamma, beta):
    checks.float_array(x, "x", 2, what="2-D shape (N, D)")
    checks.float_array(gamma, "gamma", shape=(x.shape[1],))
    checks.float_array(beta, "beta", shape=(x.shape[1],))


def batchnorm(x, gamma, beta, eps=1e-5):
    """Training mode: γ (x − mean₀ x)/√(var₀ x + ε) + β, the biased variance over the batch."""
    _check(x, gamma, beta)
    checks.eps(eps)
    mean = jnp.mean(x, axis=0)
    var = jnp.mean((x - mean) ** 2, axis=0)
    return gamma * (x - mean) / jnp.sqrt(var + eps) + beta


def batchnorm_eval(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """Evaluation mode: γ (x − μ_run)/√(σ²_run + ε) + β, the running statistics constants."""
    _check(x, gamma, beta)
    checks.float_array(running_mean, "running_mean", shape=(x.shape[1],))
    checks.float_array(running_var, "running_var", shape=(x.shape[1],))
    checks.eps(eps)
    return gamma * (x - running_mean) / jnp.sqrt(running_var + eps) + beta
