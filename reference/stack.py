"""A stack of layers (`manual.stack_spec.StackSpec`) rebuilt in JAX; gradients from jax.grad.

Training mode, as `manual.stack.loss_and_grads`: batchnorm with the batch statistics, dropout
masks from the same seeds (seed·1000 + l, the shared mask generator); a layer registered with
`dualgrad.registry.register_layer` runs its jax_fn (`reference.layers.registered`).
"""

import jax
import numpy as np

from . import layers as R
from .layers import registered as _registered


def logits(spec, params, x, seed=0):
    for l, (layer, p) in enumerate(zip(spec.layers, params)):
        kind = layer[0]
        if kind == "dense":
            x = R.dense(x, *p)
        elif kind == "batchnorm":
            x = R.batchnorm(x, *p)
        elif kind == "layernorm":
            x = R.layernorm(x, *p)
        elif kind == "dropout":
            x = R.dropout(x, layer[1], seed * 1000 + l)
        elif kind == "embedding":
            x = R.embedding(x, *p)
        elif kind in _registered.LAYERS:
            x = _registered.apply(kind, x, p, layer[1:])
        else:
            x = R.activation(kind, x)
    return x


def loss(spec, params, x, y, seed=0):
    return R.LOSS_LAYERS[spec.loss](logits(spec, params, x, seed), y)


def loss_and_grads(spec, params, x, y, seed=0):
    """(loss, grads) with grads in the stack's layout, NumPy float64."""
    value, grads = jax.value_and_grad(loss, argnums=1)(spec, [tuple(p) for p in params], x, y, seed)
    return float(value), [tuple(np.asarray(g) for g in layer) for layer in grads]
