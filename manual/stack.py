"""A stack of layers (`manual.stack_spec.StackSpec`) run forward and backward by hand, and trained.

Forward: each layer's `<name>_forward` of `manual.layers` in turn; backward: each `<name>_backward`
in reverse, from the loss layer's dlogits. Training mode uses the batch statistics in batchnorm
(and updates the running ones, momentum 0.9) and draws dropout masks from `seed` (layer l uses
seed·1000 + l); evaluation mode (`predict`) uses the running statistics and no dropout.

Parameters: a list with one tuple per layer (see `StackSpec.param_shapes`); gradients have the
same layout. `state`: one (running_mean, running_var) per batchnorm layer (None elsewhere).
A layer registered with `dualgrad.registry.register_layer` runs its own forward and backward (the
same in training and evaluation mode), its parameters drawn by its `init` (`manual.layers.registered`).
"""

from __future__ import annotations

import numpy as np

from . import layers as L
from .layers import registered as _registered
from .stack_spec import StackSpec


def init_params(spec: StackSpec, seed: int = 0) -> list:
    """He-scaled dense weights, zero biases, γ = 1, β = 0, E ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    params = []
    for layer, shapes in zip(spec.layers, spec.param_shapes()):
        kind = layer[0]
        if kind == "dense":
            (D, M), _ = shapes
            params.append((rng.standard_normal((D, M)) * np.sqrt(2.0 / D), np.zeros(M)))
        elif kind in ("batchnorm", "layernorm"):
            params.append((np.ones(shapes[0]), np.zeros(shapes[1])))
        elif kind == "embedding":
            params.append((rng.standard_normal(shapes[0]),))
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
    return [(np.zeros(w), np.ones(w)) if layer[0] == "batchnorm" else None
            for layer, w in zip(spec.layers, (spec.n_in,) + spec.widths()[:-1])]


def _forward_layer(layer, l, x, p, train, seed, state):
    kind = layer[0]
    if kind == "dense":
        return L.dense_forward(x, *p)
    if kind == "batchnorm":
        if train:
            return L.batchnorm_forward(x, *p)
        return L.batchnorm_eval_forward(x, *p, *state[l])
    if kind == "layernorm":
        return L.layernorm_forward(x, *p)
    if kind == "dropout":
        return L.dropout_forward(x, layer[1] if train else 0.0, seed * 1000 + l)
    if kind == "embedding":
        return L.embedding_forward(x, *p)
    if kind in _registered.LAYERS:
        return _registered.LAYERS[kind].forward(x, *p, **_registered.hyper_of(kind, layer[1:]))
    return L.activation_forward(kind, x)


_BACKWARD = {"dense": L.dense_backward, "batchnorm": L.batchnorm_backward, "layernorm": L.layernorm_backward,
             "dropout": L.dropout_backward, "embedding": L.embedding_backward}


def forward(spec: StackSpec, params, x, train: bool = True, seed: int = 0, state=None):
    """(logits (N, K), caches). Evaluation mode (train=False) needs `state` for batchnorm."""
    caches = []
    for l, (layer, p) in enumerate(zip(spec.layers, params)):
        x, cache = _forward_layer(layer, l, x, p, train, seed, state)
        caches.append(cache)
    return x, caches


def backward(spec: StackSpec, caches, dlogits) -> list:
    """[dparams per layer] from dlogits, through every layer's backward in reverse."""
    grads = [()] * len(spec.layers)
    d = dlogits
    for l in reversed(range(len(spec.layers))):
        kind = spec.layers[l][0]
        if kind == "embedding":
            grads[l] = (L.embedding_backward(d, caches[l]),)
            continue
        if kind in _registered.LAYERS:
            dx, *dparams = _registered_backward(spec, l, d, caches[l])
        else:
            dx, *dparams = _BACKWARD.get(kind, L.activation_backward)(d, caches[l])
        grads[l] = tuple(dparams)
        d = dx
    return grads


def _registered_backward(spec, l, dout, cache):
    """(dx, *dparams) from a registered layer's backward, its count checked (ValueError naming layer l)."""
    kind = spec.layers[l][0]
    grads = _registered.LAYERS[kind].backward(dout, cache)
    want = 1 + len(spec.param_shapes()[l])
    if not isinstance(grads, (tuple, list)) or len(grads) != want:
        got = len(grads) if isinstance(grads, (tuple, list)) else type(grads).__name__
        raise ValueError(f"layer {l + 1} ({kind}): backward must return dx and {want - 1} dparam(s), "
                         f"{want} arrays in all, got {got}")
    return tuple(grads)


def loss_and_grads(spec: StackSpec, params, x, y, seed: int = 0):
    """(loss, grads, caches) in training mode."""
    logits, caches = forward(spec, params, x, True, seed)
    loss, dlogits = L.LOSS_LAYERS[spec.loss](logits, y)
    return loss, backward(spec, caches, dlogits), caches


def update_state(spec: StackSpec, state, caches) -> list:
    """The running statistics after one training batch (new arrays)."""
    return [L.batchnorm_running_stats(*s, c) if layer[0] == "batchnorm" else s
            for layer, s, c in zip(spec.layers, state, caches)]


def predict(spec: StackSpec, params, state, x) -> np.ndarray:
    """Evaluation mode: batchnorm with the running statistics, dropout off. The logits (N, K)."""
    return forward(spec, params, x, train=False, state=state)[0]


# ---- training with manual.optimizers: the stack's parameters seen as (W, b) pairs --------------


def _as_pairs(spec, tree):
    pairs = []
    for layer, p in zip(spec.layers, tree):
        kind = layer[0]
        if kind == "dense":
            pairs.append(tuple(p))
        elif kind in ("batchnorm", "layernorm"):
            pairs.append((p[0][None, :], p[1]))  # γ as a (1, D) row, β (D,)
        elif kind == "embedding":
            pairs.append((p[0], np.zeros(p[0].shape[1], p[0].dtype)))  # E, and a zero stand-in b
        elif kind in _registered.LAYERS:  # each parameter as a (1, size) row, and a zero stand-in b
            pairs += [(np.reshape(q, (1, -1)), np.zeros(np.size(q), np.asarray(q).dtype)) for q in p]
    return pairs


def _from_pairs(spec, pairs):
    out, it = [], iter(pairs)
    for layer, shapes in zip(spec.layers, spec.param_shapes()):
        kind = layer[0]
        if kind == "dense":
            out.append(tuple(next(it)))
        elif kind in ("batchnorm", "layernorm"):
            W, b = next(it)
            out.append((W[0], b))
        elif kind == "embedding":
            out.append((next(it)[0],))
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
