"""A stack of layers (`manual.stack_spec.StackSpec`) rebuilt in JAX; gradients from jax.grad.

Training mode, as `manual.stack.loss_and_grads`: batchnorm with the batch statistics, dropout
masks from the same seeds (seed·1000 + l, l the layer's number in `StackSpec.walk` order, the shared
mask generator); a layer registered with `dualgrad.registry.register_layer` runs its jax_fn
(`reference.layers.registered`). Layers on more than rows are written here from the twins directly:
dense on (N, T, D) is x @ W + b; batchnorm and layernorm on images normalise the rows
(N·H·W, C) of x.transpose(0, 2, 3, 1) (per channel γ, β); a residual block is x + f(x); rnn and lstm
run from h0 = 0; attn is multihead_attention(x, x, x, ...) (self-attention), with causal_mask(T) when
causal; the temporal_softmax loss counts every step.
`loss_and_grads` differentiates the whole composed loss with jax.grad (one trace per call).
"""

import jax
import jax.numpy as jnp
import numpy as np

from . import layers as R
from .layers import registered as _registered


def rows(fn, x, *p):
    if x.ndim == 2:
        return fn(x, *p)
    if x.ndim == 4:  # images: the rows of each pixel's channels
        N, C, H, W = x.shape
        rows = fn(jnp.transpose(x, (0, 2, 3, 1)).reshape(-1, C), *p)
        return jnp.transpose(rows.reshape(N, H, W, C), (0, 3, 1, 2))
    return fn(x.reshape(-1, x.shape[-1]), *p).reshape(x.shape[:-1] + (-1,))


def apply_layer(layer, n, x, p, seed):
    """The twin of one layer (number n in walk order) on x; a residual block x + f(x)."""
    kind = layer[0]
    if kind == "dense":
        return rows(R.dense, x, *p)
    if kind == "batchnorm":
        return rows(R.batchnorm, x, *p)
    if kind == "layernorm":
        return rows(R.layernorm, x, *p)
    if kind == "dropout":
        return R.dropout(x, layer[1], seed * 1000 + n)
    if kind == "embedding":
        return R.embedding(x, *p)
    if kind == "conv":
        return R.conv2d(x, *p, layer[3], layer[4])
    if kind == "maxpool":
        return R.maxpool2d(x, layer[1], layer[2])
    if kind == "avgpool":
        return R.avgpool2d(x, layer[1], layer[2])
    if kind == "flatten":
        return R.flatten(x)
    if kind in ("rnn", "lstm"):
        return (R.rnn if kind == "rnn" else R.lstm)(x, jnp.zeros((x.shape[0], layer[1]), x.dtype), *p)
    if kind == "attn":
        return R.multihead_attention(x, x, x, *p, layer[1], R.causal_mask(x.shape[1]) if layer[2:] else None)
    if kind == "res":
        return x + apply_layers(layer[1], p, x, seed, n + 1)
    if kind in _registered.LAYERS:
        return _registered.apply(kind, x, p, layer[1:])
    return R.activation(kind, x)


def count(layers) -> int:
    """How many layers in walk order (a residual block and its inner layers)."""
    return sum(1 + (count(layer[1]) if layer[0] == "res" else 0) for layer in layers)


def apply_layers(layers, params, x, seed, first=0):
    n = first
    for layer, p in zip(layers, params):
        x = apply_layer(layer, n, x, p, seed)
        n += 1 + (count(layer[1]) if layer[0] == "res" else 0)
    return x


def logits(spec, params, x, seed=0):
    return apply_layers(spec.layers, params, x, seed)


def loss_layer(name, logits, y):
    if name == "temporal_softmax":  # every step counted
        return R.temporal_softmax_loss(logits, y, jnp.ones(jnp.shape(y), dtype=bool))
    return R.LOSS_LAYERS[name](logits, y)


def loss(spec, params, x, y, seed=0):
    return loss_layer(spec.loss, logits(spec, params, x, seed), y)


def loss_and_grads(spec, params, x, y, seed=0):
    """(loss, grads) with grads in the stack's layout, NumPy float64."""
    value, grads = jax.value_and_grad(loss, argnums=1)(spec, _params_tree(spec.layers, params), x, y, seed)
    return float(value), _grads_tree(spec.layers, grads)


def _params_tree(layers, params):
    return [tuple(_params_tree(layer[1], p)) if layer[0] == "res" else tuple(p) for layer, p in zip(layers, params)]


def _grads_tree(layers, grads):
    return [tuple(_grads_tree(layer[1], g)) if layer[0] == "res" else tuple(np.asarray(a) for a in g)
            for layer, g in zip(layers, grads)]
