"""RMSNorm (Zhang & Sennrich 2019) as a user's own layer, registered on both sides.

    dualgrad explain --stack "dense:6 rmsnorm tanh dense:3" --input 4 --import docs/examples/rmsnorm_layer.py

The forward's and backward's docstrings are what `explain` prints (the forward's first line,
the backward's first paragraph after its '⇒').
"""

import jax.numpy as jnp
import numpy as np

from dualgrad.engine.registry import register_layer


def rmsnorm_forward(x, gamma, eps=1e-5):
    """out = γ ⊙ x / r,  r = √(mean₋₁ x² + ε); x (N, D), gamma (D,)."""
    r = np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)  # (N, 1)
    x_hat = x / r  # (N, D)
    return gamma * x_hat, (x_hat, r, gamma)


def rmsnorm_backward(dout, cache):
    """out = γ ⊙ x̂, x̂ = x / r  ⇒  dx = (dx̂ − x̂ ⊙ mean₋₁(dx̂ ⊙ x̂)) / r,  dx̂ = dout ⊙ γ,  dγ = Σₙ dout ⊙ x̂."""
    x_hat, r, gamma = cache  # (N, D), (N, 1), (D,)
    dx_hat = dout * gamma  # (N, D)
    dx = (dx_hat - x_hat * (dx_hat * x_hat).mean(axis=-1, keepdims=True)) / r  # (N, D)
    dgamma = (dout * x_hat).sum(axis=0)  # (D,)
    return dx, dgamma


def rmsnorm(x, gamma, eps=1e-5):
    return gamma * x / jnp.sqrt(jnp.mean(x * x, axis=-1, keepdims=True) + eps)


register_layer("rmsnorm", rmsnorm_forward, rmsnorm_backward, rmsnorm,
               param_shapes=lambda D: [(D,)],  # one γ per incoming feature
               param_names=("gamma",),
               init=lambda shapes, rng: [np.ones(shapes[0])])  # γ = 1
