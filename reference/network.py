"""The same network in JAX (float64): a plain forward, the loss, and jax.grad for the backward.

No caches and no hand-written derivatives: `loss_and_grads` is
`jax.value_and_grad(loss)`. Inputs are checked with the same validation as
`manual` (bookkeeping, not math), then converted to float64.
"""

import jax
import jax.numpy as jnp
import numpy as np

from manual.validation import check_inputs, check_params, check_sample_weight, check_spec, encode_targets

from .activations import get_activation
from .losses import HEADS, get_loss


def logits(spec, params, X, offsets=None):
    """s = z_L after a_l = f_l(a_{l-1} W_l + b_l) for the hidden layers.

    offsets -- optionally one array per layer added to its z_l (zeros: the gradient
               with respect to them is ∂L/∂z_l, see `deltas`).
    """
    a = X
    for l, (W, b) in enumerate(params):
        z = a @ W + b
        if offsets is not None:
            z = z + offsets[l]
        a = z if l == len(params) - 1 else get_activation(spec.hidden[l])(z)
    return a


def total_loss(params, spec, X, Y, offsets=None, w=None):
    """head loss of the logits + (λ/2) Σ ‖W‖²; with weights w (N,): Σ wₙ ℓₙ / Σ w + (λ/2) Σ ‖W‖²"""
    penalty = 0.5 * spec.l2 * sum(jnp.sum(W**2) for W, _ in params)
    s = logits(spec, params, X, offsets)
    if w is None:
        return get_loss(spec.loss)(s, Y) + penalty
    return jnp.sum(w * row_losses(spec, s, Y)) / jnp.sum(w) + penalty


def row_losses(spec, s, Y):
    """ℓ (N,): each row's loss, the batch-mean loss on a batch of one row (jax.vmap over rows)."""
    fn = get_loss(spec.loss)
    return jax.vmap(lambda s_n, y_n: fn(s_n[None], y_n[None]))(s, Y)


_NO_Y = object()  # forward passes no labels; y=None from a caller is a bad label array


def _to_jax(spec, params, X, y=_NO_Y):
    check_spec(spec)
    params = check_params(spec, params)
    X = check_inputs(spec, X, dtype=np.float64)
    jparams = [(jnp.asarray(W, jnp.float64), jnp.asarray(b, jnp.float64)) for W, b in params]
    Y = None if y is _NO_Y else jnp.asarray(encode_targets(spec, y, X.shape[0]))
    return jparams, jnp.asarray(X), Y


def forward(spec, params, X):
    """The head's output, as manual.forward (a NumPy float64 array)."""
    jparams, X, _ = _to_jax(spec, params, X)
    return np.asarray(HEADS[spec.loss](logits(spec, jparams, X)))


def loss(spec, params, X, y):
    jparams, X, Y = _to_jax(spec, params, X, y)
    return float(total_loss(jparams, spec, X, Y))


def loss_and_grads(spec, params, X, y, sample_weight=None):
    """(loss, [(dW, db), ...]) with the gradients from jax.value_and_grad, as NumPy float64.

    sample_weight -- optionally w (N,) ≥ 0 with Σ w > 0: the loss Σ wₙ ℓₙ / Σ w + (λ/2) Σ ‖W‖²."""
    jparams, X, Y = _to_jax(spec, params, X, y)
    w = None if sample_weight is None else jnp.asarray(check_sample_weight(sample_weight, X.shape[0]))
    value, grads = jax.value_and_grad(total_loss)(jparams, spec, X, Y, None, w)
    return float(value), [(np.asarray(dW), np.asarray(db)) for dW, db in grads]


def deltas(spec, params, X, y):
    """[dz_1, ..., dz_L]: ∂L/∂z_l of every layer, as jax.grad of the loss with respect to a
    zero offset added to each z_l (NumPy float64, each (N, sizes[l]))."""
    jparams, X, Y = _to_jax(spec, params, X, y)
    zeros = [jnp.zeros((X.shape[0], n), jnp.float64) for n in spec.sizes[1:]]
    dzs = jax.grad(lambda offsets: total_loss(jparams, spec, X, Y, offsets))(zeros)
    return [np.asarray(dz) for dz in dzs]
