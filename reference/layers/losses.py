"""The losses as layers in JAX: <name>_loss(logits, y) -> the scalar mean loss; dlogits from jax.grad.

NOTE: the hinge uses jax.nn.relu for max(0, margin), whose derivative at margin 0 is 0, as
manual's [margin > 0] (jnp.maximum would split the tie and give ½).
"""

import jax
import jax.numpy as jnp

from manual.layers import checks


def _logits(logits):
    checks.float_array(logits, "logits", 2, what="2-D shape (N, K)")


def cross_entropy_loss(logits, y):
    """(1/N) Σₙ −log softmax(sₙ)[yₙ], y (N,) class ids."""
    _logits(logits)
    log_p = jax.nn.log_softmax(logits, axis=1)
    return -jnp.mean(jnp.take_along_axis(log_p, jnp.asarray(y)[:, None], axis=1))


def binary_cross_entropy_loss(logits, y):
    """−(1/N) Σₙ yₙ log σ(sₙ) + (1 − yₙ) log σ(−sₙ), logits (N, 1), y (N,) 0/1."""
    _logits(logits)
    s, y = logits[:, 0], jnp.asarray(y, logits.dtype)
    return -jnp.mean(y * jax.nn.log_sigmoid(s) + (1 - y) * jax.nn.log_sigmoid(-s))


def mse_loss(logits, y):
    """mean (s − y)² over all N·K entries."""
    _logits(logits)
    return jnp.mean((logits - y) ** 2)


def hinge_loss(logits, y):
    """(1/N) Σₙ Σ_{j≠yₙ} max(0, sₙⱼ − sₙ,yₙ + 1)  (CS231n's svm_loss)."""
    _logits(logits)
    y = jnp.asarray(y)
    correct = jnp.take_along_axis(logits, y[:, None], axis=1)  # (N, 1)
    margins = jax.nn.relu(logits - correct + 1.0)
    not_y = jnp.arange(logits.shape[1])[None, :] != y[:, None]
    return jnp.sum(jnp.where(not_y, margins, 0.0)) / logits.shape[0]


LOSS_LAYERS = {
    "cross_entropy": cross_entropy_loss,
    "binary_cross_entropy": binary_cross_entropy_loss,
    "mse": mse_loss,
    "hinge": hinge_loss,
}
