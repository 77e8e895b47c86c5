"""A fast path to reference/second_order.py (and the weighted loss): one compiled program per bucket.

The same padding as `reference.bucketed` (read its docstring): weights and biases zero-padded to
(L, D, D) and (L, D), activations chosen at run time by `lax.switch`, the logits taken from the real
last layer, padded rows and outputs masked out of the loss. Here every row carries a weight wₙ
(0 for a padded row) and the data term is Σ wₙ ℓₙ / Σ w with ℓₙ the loss of row n alone, which
for w = 1 on the real rows is today's batch mean. Then:

    loss_and_grads               jax.value_and_grad of that loss
    per_example_gradients        jax.vmap(jax.grad(ℓₙ + penalty)) over the padded rows
    hessian_vector_product       jax.jvp(jax.grad(L)) along the zero-padded direction V
    gauss_newton_vector_product  jax.jvp / jax.vjp of the padded logits around the loss's Hessian

Padding is exact for the curvature products too: the loss as a function of the real parameters
(padded ones held at 0) is the real loss, so the real block of H_pad [V; 0] is H V, and the padded
entries of the result are dropped. A registered loss (a user's function of the exact (N, K)
logits) is not padded: it goes to the plain twins, uncompiled.

Kept apart from the plain twins; tests/test_second_order.py proves the two equal.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from manual import spec as _spec
from manual.validation import check_inputs, check_params, check_sample_weight, check_spec, encode_targets

from . import network as _plain
from . import second_order as _plain_second_order
from .activations import get_activation
from .bucketed import LOSS_CODES, _NEG, _branch_table, _never_taken, _pad, _pre_activations


def _row_loss_branches(out_mask, k):
    """ℓ(s_row, y_row) for each built-in loss on a padded row (D,), in LOSS_NAMES order."""

    def bce(s, y):
        return -(y[0] * jax.nn.log_sigmoid(s[0]) + (1 - y[0]) * jax.nn.log_sigmoid(-s[0]))

    def ce(s, y):
        log_p = jax.nn.log_softmax(jnp.where(out_mask > 0, s, _NEG))  # (D,) padded classes: probability 0
        return -jnp.sum(jnp.where(out_mask > 0, y * log_p, 0.0))

    def mse(s, y):
        r = (s - y) * out_mask  # (D,)
        return jnp.sum(r * r) / k

    table = {"binary_cross_entropy": bce, "cross_entropy": ce, "mse": mse}
    return [table[name] for name in sorted(LOSS_CODES, key=LOSS_CODES.get)]


def _programs(branch_table):
    branches = [_never_taken if fn is None else fn for _, fn in branch_table]

    def logits(Ws, bs, X, codes, last):
        return jnp.stack(_pre_activations(Ws, bs, X, codes, branches))[last]  # (B, D)

    def penalty(Ws, l2, layer_mask):
        return 0.5 * l2 * jnp.sum(layer_mask * jnp.sum(Ws * Ws, axis=(1, 2)))

    def row_losses(s, Y, loss_code, out_mask, k):
        fns = _row_loss_branches(out_mask, k)
        return jax.vmap(lambda s_n, y_n: jax.lax.switch(loss_code, fns, s_n, y_n))(s, Y)  # (B,)

    def data_loss(s, Y, w, loss_code, out_mask, k):
        return jnp.sum(w * row_losses(s, Y, loss_code, out_mask, k)) / jnp.sum(w)

    def total(Ws, bs, X, Y, codes, last, loss_code, w, out_mask, k, l2, layer_mask):
        s = logits(Ws, bs, X, codes, last)
        return data_loss(s, Y, w, loss_code, out_mask, k) + penalty(Ws, l2, layer_mask)

    return logits, penalty, row_losses, data_loss, total


@lru_cache(maxsize=None)
def _compiled(branch_table):
    """Four jitted programs; jit compiles each once per bucket shape."""
    logits, penalty, row_losses, data_loss, total = _programs(branch_table)

    def value_and_grads(Ws, bs, X, Y, codes, last, loss_code, w, out_mask, k, l2, layer_mask):
        return jax.value_and_grad(total, argnums=(0, 1))(Ws, bs, X, Y, codes, last, loss_code, w, out_mask, k, l2,
                                                         layer_mask)

    def per_example(Ws, bs, X, Y, codes, last, loss_code, w, out_mask, k, l2, layer_mask):
        def one_row(Ws, bs, x, y):
            s = logits(Ws, bs, x[None], codes, last)  # (1, D)
            return row_losses(s, y[None], loss_code, out_mask, k)[0] + penalty(Ws, l2, layer_mask)

        return jax.vmap(jax.grad(one_row, argnums=(0, 1)), in_axes=(None, None, 0, 0))(Ws, bs, X, Y)

    def hvp(Ws, bs, X, Y, codes, last, loss_code, w, out_mask, k, l2, layer_mask, VWs, Vbs):
        grad = jax.grad(lambda Ws, bs: total(Ws, bs, X, Y, codes, last, loss_code, w, out_mask, k, l2, layer_mask),
                        argnums=(0, 1))
        return jax.jvp(grad, (Ws, bs), (VWs, Vbs))[1]

    def ggn(Ws, bs, X, Y, codes, last, loss_code, w, out_mask, k, l2, layer_mask, VWs, Vbs):
        def f(Ws, bs):
            return logits(Ws, bs, X, codes, last)

        s, vjp = jax.vjp(f, Ws, bs)
        _, Jv = jax.jvp(f, (Ws, bs), (VWs, Vbs))  # (B, D)
        _, HJv = jax.jvp(jax.grad(lambda t: data_loss(t, Y, w, loss_code, out_mask, k)), (s,), (Jv,))
        GW, Gb = vjp(HJv)
        return GW + l2 * layer_mask[:, None, None] * VWs, Gb

    return jax.jit(value_and_grads), jax.jit(per_example), jax.jit(hvp), jax.jit(ggn)


def _prepared(spec, params, X, y, sample_weight=None):
    """(table, padded args with row weights, n) after the plain reference's checks."""
    check_spec(spec)
    params = check_params(spec, params)
    X = check_inputs(spec, X, dtype=np.float64)
    Y = encode_targets(spec, y, X.shape[0])
    for name in spec.hidden:
        get_activation(name)  # ValueError for a name registered with manual only
    Ws, bs, Xp, Yp, codes, last, loss_code, row_mask, out_mask, _, k, l2, layer_mask = _pad(spec, params, X, Y)
    w = row_mask.copy()  # (B,)
    if sample_weight is not None:
        w[: X.shape[0]] = check_sample_weight(sample_weight, X.shape[0])
    return _branch_table(), (Ws, bs, Xp, Yp, codes, last, loss_code, w, out_mask, k, l2, layer_mask), X.shape[0]


def _padded_direction(spec, V, Ws, bs):
    try:
        V = check_params(spec, V)
    except (TypeError, ValueError) as err:
        raise type(err)(f"V must be a direction in the params' layout [(V_W, V_b), ...]: {err}") from None
    VWs, Vbs = np.zeros_like(Ws), np.zeros_like(bs)
    for l, (VW, Vb) in enumerate(V):
        VWs[l, : VW.shape[0], : VW.shape[1]] = VW
        Vbs[l, : Vb.shape[0]] = Vb
    return VWs, Vbs


def _unpad(spec, dWs, dbs, rows=None):
    dWs, dbs = np.asarray(dWs), np.asarray(dbs)
    if rows is None:
        return [(dWs[l, :i, :o], dbs[l, :o]) for l, ((i, o), _) in enumerate(spec.layer_shapes())]
    return [(dWs[:rows, l, :i, :o], dbs[:rows, l, :o]) for l, ((i, o), _) in enumerate(spec.layer_shapes())]


def loss_and_grads(spec, params, X, y, sample_weight=None):
    """As `reference.loss_and_grads` (sample_weight included), compiled once per bucket."""
    if spec.loss not in LOSS_CODES:
        return _plain.loss_and_grads(spec, params, X, y, sample_weight)
    table, args, _ = _prepared(spec, params, X, y, sample_weight)
    value, (dWs, dbs) = _compiled(table)[0](*args)
    return float(value), _unpad(spec, dWs, dbs)


def per_example_gradients(spec, params, X, y):
    """As `reference.per_example_gradients`, compiled once per bucket."""
    if spec.loss not in LOSS_CODES:
        return _plain_second_order.per_example_gradients(spec, params, X, y)
    table, args, n = _prepared(spec, params, X, y)
    dWs, dbs = _compiled(table)[1](*args)
    return _unpad(spec, dWs, dbs, rows=n)


def hessian_vector_product(spec, params, X, y, V):
    """As `reference.hessian_vector_product`, compiled once per bucket."""
    if spec.loss not in LOSS_CODES:
        return _plain_second_order.hessian_vector_product(spec, params, X, y, V)
    table, args, _ = _prepared(spec, params, X, y)
    return _unpad(spec, *_compiled(table)[2](*args, *_padded_direction(spec, V, args[0], args[1])))


def gauss_newton_vector_product(spec, params, X, y, V):
    """As `reference.gauss_newton_vector_product`, compiled once per bucket."""
    if spec.loss not in LOSS_CODES:
        return _plain_second_order.gauss_newton_vector_product(spec, params, X, y, V)
    table, args, _ = _prepared(spec, params, X, y)
    return _unpad(spec, *_compiled(table)[3](*args, *_padded_direction(spec, V, args[0], args[1])))
