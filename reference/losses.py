"""The losses in JAX, from the logits s; their gradients come from jax.grad.

binary_cross_entropy = −mean[y log σ(s) + (1 − y) log σ(−s)]
cross_entropy        = −mean Σₖ Yₖ log softmaxₖ(s)
mse                  = mean (s − Y)²
"""

import jax
import jax.numpy as jnp


def binary_cross_entropy(s, Y):
    return -jnp.mean(Y * jax.nn.log_sigmoid(s) + (1 - Y) * jax.nn.log_sigmoid(-s))


def cross_entropy(s, Y):
    return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(s, axis=1), axis=1))


def mse(s, Y):
    return jnp.mean((s - Y) ** 2)


LOSSES = {"binary_cross_entropy": binary_cross_entropy, "cross_entropy": cross_entropy, "mse": mse}
HEADS = {"binary_cross_entropy": jax.nn.sigmoid, "cross_entropy": jax.nn.softmax, "mse": lambda s: s}
