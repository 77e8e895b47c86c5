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


def sigmoid_mse(s, Y):
    """mean (σ(s) − Y)²: not in LOSSES; registered by dualgrad on demand (head="sigmoid" with mse)."""
    return jnp.mean((jax.nn.sigmoid(s) - Y) ** 2)


def _identity(s):
    return s


LOSSES = {"binary_cross_entropy": binary_cross_entropy, "cross_entropy": cross_entropy, "mse": mse}
HEADS = {"binary_cross_entropy": jax.nn.sigmoid, "cross_entropy": jax.nn.softmax, "mse": _identity}
BUILT_IN = tuple(LOSSES)


def register_loss(name, fn, output=None):
    """Give the loss `name` its JAX function `fn(s, Y) -> mean loss over the batch` (differentiated
    by jax.grad) and, optionally, its head `output(s)` (default: the identity)."""
    if not callable(fn) or (output is not None and not callable(output)):
        raise TypeError("register_loss needs a callable fn(s, Y) written with jax.numpy (and optionally output(s))")
    if name in BUILT_IN:
        raise ValueError(f"{name!r} is a built-in loss; register yours under another name")
    LOSSES[name] = fn
    HEADS[name] = output or _identity


def unregister_loss(name):
    """Remove the JAX function registered for loss `name`."""
    if name in BUILT_IN:
        raise ValueError(f"{name!r} is a built-in loss and cannot be unregistered")
    if name not in LOSSES:
        raise ValueError(f"loss {name!r} has no registered JAX function")
    del LOSSES[name]
    HEADS.pop(name, None)


def get_loss(name):
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"loss {name!r} has no JAX twin; register one with reference.register_loss") from None
