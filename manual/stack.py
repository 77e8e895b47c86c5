"""A stack of layers (`manual.stack_spec.StackSpec`) run forward and backward by hand, and trained.

Forward: each layer's `<name>_forward` of `manual.layers` in turn; backward: each `<name>_backward`
in reverse, from the loss layer's dlogits. Training mode uses the batch statistics in batchnorm
(and updates the running ones, momentum 0.9) and draws dropout masks from `seed` (the layer numbered
l in the order of `StackSpec.walk`, counted from 0, uses seed·1000 + l: the top-level index when
there is no residual block); evaluation mode (`predict`) uses the running statistics and no dropout.

Layers on more than rows are the row layers on a reshaped view (a reshape is a permutation of
entries, so its backward is the inverse reshape of dout):

- dense on (N, T, D): the rows (N·T, D), out (N·T, M) -> (N, T, M); dW = Σ over all N·T rows;
- batchnorm and layernorm on images (N, C, H, W): the rows (N·H·W, C) of each pixel's channels
  (x.transpose(0, 2, 3, 1)), so γ, β are per channel (C,): batchnorm's statistics over N, H, W,
  layernorm's over the C channels of one pixel; on sequences (N, T, D) batchnorm runs on (N·T, D).

The sequence layers run their whole-sequence pairs on x (N, T, D): `rnn_forward`/`lstm_forward` from
h0 = 0 (the output is every hidden state h (N, T, H); the backward's dh0 is dropped, h0 being a
constant), and `multihead_attention_forward(x, x, x, ...)` as self-attention (with `causal_mask(T)`
for ("attn", heads, "causal")), whose backward gives dquery, dkey, dvalue: x feeds the three
projections, so dx = dquery + dkey + dvalue. The "temporal_softmax" loss is
`temporal_softmax_loss(scores, y, mask)` with every step counted (mask all True).

A residual block out = x + f(x), f its sub-stack: by the chain rule along both paths from x to out,

    dx = ∂L/∂out · ∂out/∂x = dout · (I + ∂f/∂x) = dout + dx_f,

dx_f the sub-stack's backward of dout (the identity path passes dout on unchanged, and the two
gradients add because x is used twice); the sub-stack's dparams are those of f alone, as the
identity path has no parameter.

Parameters: a list with one tuple per layer (see `StackSpec.param_shapes`; a residual block's tuple
holds its inner layers' tuples); gradients have the same layout. `state`: one (running_mean,
running_var) per batchnorm layer (None elsewhere, a list for a residual block).
A layer registered with `dualgrad.registry.register_layer` runs its own forward and backward (the
same in training and evaluation mode), on x of any rank, its parameters drawn by its `init`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import layers as L
from .layers import registered as _registered
from .stack_spec import StackSpec


def init_params(spec: StackSpec, seed: int = 0) -> list:
    """He-scaled dense and conv weights, zero biases, γ = 1, β = 0, E ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    return _init_layers(spec.layers, spec.param_shapes(), rng)


def _init_layers(layers, all_shapes, rng):
    params = []
    for layer, shapes in zip(layers, all_shapes):
        kind = layer[0]
        if kind == "dense":
            (D, M), _ = shapes
            params.append((rng.standard_normal((D, M)) * np.sqrt(2.0 / D), np.zeros(M)))
        elif kind == "conv":
            (F, C, k, _), _ = shapes
            params.append((rng.standard_normal((F, C, k, k)) * np.sqrt(2.0 / (C * k * k)), np.zeros(F)))
        elif kind in ("batchnorm", "layernorm"):
            params.append((np.ones(shapes[0]), np.zeros(shapes[1])))
        elif kind == "embedding":
            params.append((rng.standard_normal(shapes[0]),))
        elif kind in ("rnn", "lstm", "attn"):  # weights N(0, 1/fan_in), biases 0
            params.append(tuple(rng.standard_normal(s) / np.sqrt(s[0]) if len(s) == 2 else np.zeros(s)
                                for s in shapes))
        elif kind == "res":
            params.append(tuple(_init_layers(layer[1], shapes, rng)))
        elif kind in _registered.LAYERS:
            params.append(_init_registered(kind, shapes, rng))
        else:
            params.append(())
    return params


def _init_registered(kind, shapes, rng) -> tuple:
    init = _registered.LAYERS[kind].init
    if init is None:  # N(0, 1/fan_in), fan_in = the shape's first axis
        return tuple(rng.standard_normal(s) / np.sqrt(s[0]) for s in shapes)
    params = tuple(np.asarray(p, dtype=np.float64) for p in init(shapes, rng))
    if tuple(p.shape for p in params) != tuple(shapes):
        raise ValueError(f"layer {kind!r}: init(shapes, rng) must return arrays of shapes {list(shapes)}, "
                         f"got {[p.shape for p in params]}")
    return params


def init_state(spec: StackSpec) -> list:
    return _init_state(spec.layers, spec.param_shapes())


def _init_state(layers, all_shapes):
    out = []
    for layer, shapes in zip(layers, all_shapes):
        if layer[0] == "batchnorm":
            out.append((np.zeros(shapes[0]), np.ones(shapes[0])))
        elif layer[0] == "res":
            out.append(_init_state(layer[1], shapes))
        else:
            out.append(None)
    return out


# ---- one layer ---------------------------------------------------------------------------------


class Rows(NamedTuple):
    """The cache of a row layer run on a reshaped view: the row layer's cache and x's shape."""

    cache: object
    x_shape: tuple
    image: bool  # (N, C, H, W) viewed as (N·H·W, C)


def _to_rows(x, image):
    if image:  # (N, C, H, W) -> (N, H, W, C) -> (N·H·W, C)
        return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])
    return x.reshape(-1, x.shape[-1])  # (N, ..., D) -> (N·..., D)


def _from_rows(rows, x_shape, image):
    if image:  # (N·H·W, C) -> (N, H, W, C) -> (N, C, H, W)
        N, C, H, W = x_shape
        return rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)
    return rows.reshape(x_shape[:-1] + (rows.shape[-1],))


def on_rows(fn, x, *args):
    """fn (a row layer's forward) on x's rows: a plain call on (N, D)."""
    x = np.asarray(x)
    if x.ndim == 2:
        return fn(x, *args)
    image = x.ndim == 4
    out, cache = fn(_to_rows(x, image), *args)
    return _from_rows(out, x.shape, image), Rows(cache, x.shape, image)


def rows_backward(backward, dout, cache):
    if not isinstance(cache, Rows):
        return backward(dout, cache)
    dx, *dparams = backward(_to_rows(dout, cache.image), cache.cache)
    return (_from_rows(dx, cache.x_shape, cache.image), *dparams)


class _Counter:
    def __init__(self):
        self.n = -1

    def next(self):
        self.n += 1
        return self.n


def _forward_layer(layer, n, x, p, train, seed, state, count):
    kind = layer[0]
    if kind == "dense":
        return on_rows(L.dense_forward, x, *p)
    if kind == "batchnorm":
        if train:
            return on_rows(L.batchnorm_forward, x, *p)
        return on_rows(L.batchnorm_eval_forward, x, *p, *state)
    if kind == "layernorm":
        return on_rows(L.layernorm_forward, x, *p)
    if kind == "dropout":
        return L.dropout_forward(x, layer[1] if train else 0.0, seed * 1000 + n)
    if kind == "embedding":
        return L.embedding_forward(x, *p)
    if kind == "conv":
        return L.conv2d_forward(x, *p, layer[3], layer[4])
    if kind == "maxpool":
        return L.maxpool2d_forward(x, layer[1], layer[2])
    if kind == "avgpool":
        return L.avgpool2d_forward(x, layer[1], layer[2])
    if kind == "flatten":
        return L.flatten_forward(x)
    if kind in ("rnn", "lstm"):
        h0 = np.zeros((x.shape[0], layer[1]), dtype=x.dtype)  # (N, H) the first hidden state, a constant
        return (L.rnn_forward if kind == "rnn" else L.lstm_forward)(x, h0, *p)  # h (N, T, H)
    if kind == "attn":  # self-attention: query = key = value = x (N, T, E)
        mask = L.causal_mask(x.shape[1]) if layer[2:] else None  # (T, T) or every key
        return L.multihead_attention_forward(x, x, x, *p, layer[1], mask)
    if kind == "res":  # out = x + f(x)
        fx, caches = _forward_layers(layer[1], p, x, train, seed, state, count)
        return x + fx, caches
    if kind in _registered.LAYERS:
        return _registered.LAYERS[kind].forward(x, *p, **_registered.hyper_of(kind, layer[1:]))
    return L.activation_forward(kind, x)


_BACKWARD = {"dense": L.dense_backward, "batchnorm": L.batchnorm_backward, "layernorm": L.layernorm_backward,
             "dropout": L.dropout_backward, "embedding": L.embedding_backward, "conv": L.conv2d_backward,
             "maxpool": L.maxpool2d_backward, "avgpool": L.avgpool2d_backward, "flatten": L.flatten_backward,
             "rnn": L.rnn_backward, "lstm": L.lstm_backward, "attn": L.multihead_attention_backward}


def _forward_layers(layers, params, x, train, seed, state, count):
    caches = []
    for l, (layer, p) in enumerate(zip(layers, params)):
        n = count.next()
        x, cache = _forward_layer(layer, n, x, p, train, seed, None if state is None else state[l], count)
        caches.append(cache)
    return x, caches


def forward(spec: StackSpec, params, x, train: bool = True, seed: int = 0, state=None):
    """(logits (N, K), caches). Evaluation mode (train=False) needs `state` for batchnorm."""
    return _forward_layers(spec.layers, params, x, train, seed, state, _Counter())


def backward(spec: StackSpec, caches, dlogits) -> list:
    """[dparams per layer] from dlogits, through every layer's backward in reverse."""
    return _backward_layers(spec.layers, spec.param_shapes(), caches, dlogits, "")[1]


def _backward_layers(layers, all_shapes, caches, d, prefix):
    """(dx, [dparams per layer]) of a list of layers, from dout d."""
    grads = [()] * len(layers)
    for l in reversed(range(len(layers))):
        kind = layers[l][0]
        if kind == "embedding":
            grads[l] = (L.embedding_backward(d, caches[l]),)
            d = None
            continue
        if kind == "res":  # out = x + f(x)  ⇒  dx = dout + dx_f (the two paths add)
            dx_f, grads[l] = _backward_layers(layers[l][1], all_shapes[l], caches[l], d, f"{prefix}{l + 1}.")
            grads[l] = tuple(grads[l])
            d = d + dx_f
            continue
        if kind in ("rnn", "lstm"):  # dh0 dropped: h0 = 0 is a constant
            dx, _dh0, *dparams = _BACKWARD[kind](d, caches[l])
        elif kind == "attn":  # x is the query, the key and the value: the three gradients add
            dquery, dkey, dvalue, *dparams = _BACKWARD[kind](d, caches[l])
            dx = dquery + dkey + dvalue  # (N, T, E)
        elif kind in _registered.LAYERS:
            dx, *dparams = _registered_backward(kind, f"{prefix}{l + 1}", len(all_shapes[l]), d, caches[l])
        elif kind in ("dense", "batchnorm", "layernorm"):
            dx, *dparams = rows_backward(_BACKWARD[kind], d, caches[l])
        else:
            dx, *dparams = _BACKWARD.get(kind, L.activation_backward)(d, caches[l])
        grads[l] = tuple(dparams)
        d = dx
    return d, grads


def _registered_backward(kind, where, n_params, dout, cache):
    """(dx, *dparams) from a registered layer's backward, its count checked (ValueError naming the layer)."""
    grads = _registered.LAYERS[kind].backward(dout, cache)
    want = 1 + n_params
    if not isinstance(grads, (tuple, list)) or len(grads) != want:
        got = len(grads) if isinstance(grads, (tuple, list)) else type(grads).__name__
        raise ValueError(f"layer {where} ({kind}): backward must return dx and {want - 1} dparam(s), "
                         f"{want} arrays in all, got {got}")
    return tuple(grads)


def loss_and_grads(spec: StackSpec, params, x, y, seed: int = 0):
    """(loss, grads, caches) in training mode."""
    logits, caches = forward(spec, params, x, True, seed)
    loss, dlogits = loss_layer(spec.loss, logits, y)
    return loss, backward(spec, caches, dlogits), caches


def loss_layer(name, logits, y):
    """(loss, dlogits) of the stack's loss: a `manual.layers.LOSS_LAYERS` one on logits (N, K), or
    temporal_softmax on scores (N, T, V) with y (N, T), every step counted."""
    if name == "temporal_softmax":
        return L.temporal_softmax_loss(logits, y, np.ones(np.shape(y), dtype=bool))
    return L.LOSS_LAYERS[name](logits, y)


def update_state(spec: StackSpec, state, caches) -> list:
    """The running statistics after one training batch (new arrays)."""
    return _update_state(spec.layers, state, caches)


def _update_state(layers, state, caches):
    out = []
    for layer, s, c in zip(layers, state, caches):
        if layer[0] == "batchnorm":
            out.append(L.batchnorm_running_stats(*s, c.cache if isinstance(c, Rows) else c))
        elif layer[0] == "res":
            out.append(_update_state(layer[1], s, c))
        else:
            out.append(s)
    return out


def predict(spec: StackSpec, params, state, x) -> np.ndarray:
    """Evaluation mode: batchnorm with the running statistics, dropout off. The logits (N, K)."""
    return forward(spec, params, x, train=False, state=state)[0]


# ---- training with manual.optimizers: the stack's parameters seen as (W, b) pairs --------------


def _as_pairs(spec, tree):
    return _pairs_of(spec.layers, tree)


def _pairs_of(layers, tree):
    pairs = []
    for layer, p in zip(layers, tree):
        kind = layer[0]
        if kind == "dense":
            pairs.append(tuple(p))
        elif kind == "conv":
            pairs.append((p[0].reshape(p[0].shape[0], -1).T, p[1]))  # W as (C·k·k, F) = (fan_in, fan_out), b (F,)
        elif kind in ("batchnorm", "layernorm"):
            pairs.append((p[0][None, :], p[1]))  # γ as a (1, D) row, β (D,)
        elif kind == "embedding":
            pairs.append((p[0], np.zeros(p[0].shape[1], p[0].dtype)))  # E, and a zero stand-in b
        elif kind in ("rnn", "lstm", "attn"):  # (Wx, b), (Wh, zero stand-in); attention's (W, b) pairs
            pairs += [(p[0], p[2]), (p[1], np.zeros(p[1].shape[1], p[1].dtype))] if kind != "attn" else \
                [(p[i], p[i + 1]) for i in range(0, 8, 2)]
        elif kind == "res":
            pairs += _pairs_of(layer[1], p)
        elif kind in _registered.LAYERS:  # each parameter as a (1, size) row, and a zero stand-in b
            pairs += [(np.reshape(q, (1, -1)), np.zeros(np.size(q), np.asarray(q).dtype)) for q in p]
    return pairs


def _from_pairs(spec, pairs):
    return _tree_of(spec.layers, spec.param_shapes(), iter(pairs))


def _tree_of(layers, all_shapes, it):
    out = []
    for layer, shapes in zip(layers, all_shapes):
        kind = layer[0]
        if kind == "dense":
            out.append(tuple(next(it)))
        elif kind == "conv":
            W, b = next(it)
            out.append((W.T.reshape(shapes[0]), b))  # (C·k·k, F) -> (F, C·k·k) -> (F, C, k, k)
        elif kind in ("batchnorm", "layernorm"):
            W, b = next(it)
            out.append((W[0], b))
        elif kind == "embedding":
            out.append((next(it)[0],))
        elif kind in ("rnn", "lstm"):
            (Wx, b), (Wh, _) = next(it), next(it)
            out.append((Wx, Wh, b))
        elif kind == "attn":
            out.append(tuple(a for _ in range(4) for a in next(it)))
        elif kind == "res":
            out.append(tuple(_tree_of(layer[1], shapes, it)))
        elif kind in _registered.LAYERS:
            out.append(tuple(next(it)[0][0].reshape(s) for s in shapes))
        else:
            out.append(())
    return out


def train(spec: StackSpec, params, X, y, optimizer, epochs: int = 100, batch_size: int = 32, seed: int = 0):
    """Mini-batch training with any optimizer of `manual.optimizers` (its update over (W, b) pairs:
    γ is seen as a (1, D) row, an embedding's E with a zero stand-in bias whose gradient is 0).
    Returns (params, state, losses per epoch)."""
    rng = np.random.default_rng(seed)
    state = init_state(spec)
    pairs = _as_pairs(spec, params)
    opt_state = optimizer.init(pairs)
    losses, step = [], 0
    for _ in range(epochs):
        order = rng.permutation(len(X))
        total = 0.0
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            params = _from_pairs(spec, pairs)
            loss, grads, caches = loss_and_grads(spec, params, X[idx], y[idx], seed=step)
            state = update_state(spec, state, caches)
            pairs, opt_state = optimizer.update(_as_pairs(spec, grads), opt_state, pairs)
            total += loss * len(idx)
            step += 1
        losses.append(total / len(X))
    return _from_pairs(spec, pairs), state, losses
