"""A fast path to the reference: many network shapes, one compiled function.

`jax.grad` compiles for every new shape, so a property test that draws random
architectures would spend its time compiling (about 2 examples/s eagerly, 7/s
with a jit per shape). This module pads every network into one *bucket* shape
and compiles once per bucket:

- weights and biases are zero-padded to (L, D, D) and (L, D); padded units
  have zero incoming and outgoing weights, so they change no real value and
  receive no real gradient (their entries are simply dropped at the end);
- the hidden activation of each layer is chosen at run time by `lax.switch`
  on an integer code, so one program covers every mix of activations;
- the logits are taken from the real last layer (a run-time index); layers
  past it compute on zeros and feed nothing into the loss;
- padded rows and padded outputs are masked out of the loss, which still
  divides by the real N (and K for mse).

A registered loss (`reference.register_loss`) is a user's function of the
real logits (N, K), which padding would change, so it runs in three steps: the
padded logits from one compiled forward (once per bucket); the loss and
G = dL/ds on the exact (N, K) logits (a small program, compiled per (N, K));
then the parameters' gradients as the gradient of Σ s ⊙ G (once per bucket).

`overrides` (a {name: jax function} dict) swaps activations for one call: the
checks use it for the other one-sided derivative at a kink (kink="either").

It is kept apart from the plain reference (`reference.network`), and
tests/test_bucketed.py proves the two equal. Use `loss_and_grads` exactly like
`reference.loss_and_grads`.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from manual import spec as _spec
from manual.validation import check_inputs, check_params, check_spec, encode_targets

from .activations import ACTIVATIONS, get_activation
from . import losses as _losses

MIN_LAYERS, MIN_WIDTH, MIN_BATCH = 5, 32, 64
LOSS_CODES = {name: i for i, name in enumerate(_spec.LOSS_NAMES)}
_NEG = -1e300  # stands for −∞ in masked logits: exp underflows to 0, and 0 · _NEG stays finite


def bucket_for(spec, n):
    """(layers, width, batch) of the bucket: layers rounded up to a multiple of 5,
    width and batch to powers of two, and at least (5, 32, 64)."""
    return (
        MIN_LAYERS * -(-spec.n_layers // MIN_LAYERS),
        max(MIN_WIDTH, _next_pow2(max(spec.sizes))),
        max(MIN_BATCH, _next_pow2(n)),
    )


def _next_pow2(x):
    return 1 << (int(x) - 1).bit_length()


def _masked_losses(s, Y, row_mask, out_mask, n, k):
    """The three head losses and outputs on padded logits s (B, D); padding masked out."""

    def bce(_):
        s0, y0 = s[:, 0], Y[:, 0]  # (B,)
        per_row = -(y0 * jax.nn.log_sigmoid(s0) + (1 - y0) * jax.nn.log_sigmoid(-s0))
        return jnp.sum(row_mask * per_row) / n, jnp.zeros_like(s).at[:, 0].set(jax.nn.sigmoid(s0))

    def ce(_):
        masked = jnp.where(out_mask, s, _NEG)  # (B, D) padded classes get probability 0
        log_p = jax.nn.log_softmax(masked, axis=1)
        per_row = -jnp.sum(jnp.where(out_mask, Y * log_p, 0.0), axis=1)  # (B,)
        return jnp.sum(row_mask * per_row) / n, jnp.exp(log_p) * out_mask

    def mse(_):
        r = (s - Y) * out_mask * row_mask[:, None]  # (B, D)
        return jnp.sum(r * r) / (n * k), s

    return [bce, ce, mse]  # in LOSS_NAMES order


def _branch_table(overrides=None):
    """((name, JAX function or None), ...) for every name a spec may use, in code order.

    The functions are part of the key of `_compiled`: re-registering a name with another
    function compiles anew instead of silently reusing the old program. A name without a
    JAX twin gets a branch that is never taken (`forward_loss_and_grads` refuses such specs).
    """
    overrides = overrides or {}
    return tuple((name, overrides.get(name, ACTIVATIONS.get(name))) for name in _spec.ACTIVATION_NAMES)


def _never_taken(z):
    return jnp.full_like(z, jnp.nan)


def _pre_activations(Ws, bs, X, codes, branches):
    """[z_1, ..., z_L] of the padded network: z_l = a_{l−1} W_l + b_l, a_l = branch codes[l] of z_l."""
    a = X  # (B, D)
    zs = []
    for l in range(Ws.shape[0]):
        z = a @ Ws[l] + bs[l]  # (B, D)
        zs.append(z)
        a = jax.lax.switch(codes[l], branches, z)
    return zs


@lru_cache(maxsize=None)
def _compiled(branch_table):
    """One jitted value-and-grad for every bucket (jit caches per bucket shape)."""
    branches = [_never_taken if fn is None else fn for _, fn in branch_table]

    def total_loss(Ws, bs, X, Y, codes, last, loss_code, row_mask, out_mask, n, k, l2, layer_mask):
        zs = _pre_activations(Ws, bs, X, codes, branches)
        s = jnp.stack(zs)[last]  # (B, D) the real last layer's z: the logits
        value, out = jax.lax.switch(loss_code, _masked_losses(s, Y, row_mask, out_mask, n, k), None)
        penalty = 0.5 * l2 * jnp.sum(layer_mask * jnp.sum(Ws * Ws, axis=(1, 2)))
        return value + penalty, out

    return jax.jit(jax.value_and_grad(total_loss, argnums=(0, 1), has_aux=True))


@lru_cache(maxsize=None)
def _compiled_split(branch_table):
    """(logits, backward) for registered losses: the padded logits, and the parameters'
    gradients given G = dL/ds on the padded logits (zero outside the real (N, K))."""
    branches = [_never_taken if fn is None else fn for _, fn in branch_table]

    def logits(Ws, bs, X, codes, last):
        return jnp.stack(_pre_activations(Ws, bs, X, codes, branches))[last]  # (B, D)

    def pulled_back(Ws, bs, X, codes, last, G, l2, layer_mask):
        penalty = 0.5 * l2 * jnp.sum(layer_mask * jnp.sum(Ws * Ws, axis=(1, 2)))
        return jnp.sum(logits(Ws, bs, X, codes, last) * G) + penalty

    return jax.jit(logits), jax.jit(jax.grad(pulled_back, argnums=(0, 1)))


@lru_cache(maxsize=None)
def _compiled_loss(fn, head):
    """A registered loss's value and dL/ds on row-padded logits (B, K), and its head's output.

    A registered loss is the mean over the batch of a per-example loss, so it is evaluated
    row by row (each row a batch of one) and the real rows averaged: the program depends on
    (B, K) only, not on N. Padded rows repeat row 0 (valid labels, finite values) and are
    masked out of the mean, so their gradient is exactly 0.
    """

    def masked_mean(s, Y, row_mask, n):
        per_row = jax.vmap(lambda s_n, y_n: fn(s_n[None], y_n[None]))(s, Y)  # (B,)
        return jnp.sum(row_mask * per_row) / n

    return jax.jit(jax.value_and_grad(masked_mean)), jax.jit(head)


def _pad(spec, params, X, Y):
    L, D, B = bucket_for(spec, X.shape[0])
    n, k = X.shape[0], spec.sizes[-1]
    Ws, bs = np.zeros((L, D, D)), np.zeros((L, D))
    for l, (W, b) in enumerate(params):
        Ws[l, : W.shape[0], : W.shape[1]] = W
        bs[l, : b.shape[0]] = b
    Xp, Yp = np.zeros((B, D)), np.zeros((B, D))
    Xp[:n, : X.shape[1]] = X
    Yp[:n, :k] = Y
    identity = _spec.ACTIVATION_NAMES.index("identity")
    codes = np.full(L, identity, dtype=np.int32)
    codes[: len(spec.hidden)] = [_spec.ACTIVATION_NAMES.index(h) for h in spec.hidden]
    row_mask = (np.arange(B) < n).astype(np.float64)
    out_mask = (np.arange(D) < k).astype(np.float64)
    layer_mask = (np.arange(L) < spec.n_layers).astype(np.float64)
    return (Ws, bs, Xp, Yp, codes, np.int32(spec.n_layers - 1), np.int32(LOSS_CODES.get(spec.loss, -1)),
            row_mask, out_mask, np.float64(n), np.float64(k), np.float64(spec.l2), layer_mask)


def forward_loss_and_grads(spec, params, X, y, overrides=None):
    """(head output, loss, grads) in one compiled call; same values as the plain reference.

    overrides -- {activation name: JAX function} used instead of the registered ones for this call.
    """
    check_spec(spec)
    params = check_params(spec, params)
    X = check_inputs(spec, X, dtype=np.float64)
    Y = encode_targets(spec, y, X.shape[0])
    for name in spec.hidden:
        if not (overrides and name in overrides):
            get_activation(name)  # ValueError for a name registered with manual only
    table = _branch_table(overrides)
    padded = _pad(spec, params, X, Y)
    if spec.loss in LOSS_CODES:
        (value, out), (dWs, dbs) = _compiled(table)(*padded)
    else:
        value, out, (dWs, dbs) = _split(spec, table, padded, Y)
    dWs, dbs = np.asarray(dWs), np.asarray(dbs)
    grads = [(dWs[l, :i, :o], dbs[l, :o]) for l, ((i, o), _) in enumerate(spec.layer_shapes())]
    n, k = X.shape[0], spec.sizes[-1]
    return np.asarray(out)[:n, :k], float(value), grads


def _split(spec, table, padded, Y):
    """A registered loss: logits, then the loss on the real (N, K), then the pull-back of G."""
    Ws, bs, Xp, _, codes, last, _, _, _, _, _, l2, layer_mask = padded
    n, k = Y.shape
    logits_fn, backward_fn = _compiled_split(table)
    B = Xp.shape[0]
    s = np.array(logits_fn(Ws, bs, Xp, codes, last)[:, :k])  # (B, K), a writable copy
    s[n:], Ys = s[0], np.concatenate([Y, np.repeat(Y[:1], B - n, axis=0)])  # padded rows: copies of row 0
    row_mask = (np.arange(B) < n).astype(np.float64)
    value_and_grad, head = _compiled_loss(_losses.get_loss(spec.loss), _losses.HEADS[spec.loss])
    data, G = value_and_grad(s, Ys, row_mask, np.float64(n))
    Gp = np.zeros((B, Ws.shape[2]))  # (B, D)
    Gp[:, :k] = np.asarray(G)
    penalty = 0.5 * spec.l2 * sum(float(np.sum(W * W)) for W in Ws[: spec.n_layers])
    return float(data) + penalty, np.asarray(head(s))[:n], backward_fn(Ws, bs, Xp, codes, last, Gp, l2, layer_mask)


def loss_and_grads(spec, params, X, y):
    """As `reference.loss_and_grads`, through the bucketed compiled function."""
    _, value, grads = forward_loss_and_grads(spec, params, X, y)
    return value, grads
