"""A fast path to `reference.stack`: any stack's gradients from a few compiled programs.

`reference.stack.loss_and_grads` traces the whole stack with jax.grad at every call (eager: about
2 random stacks per second), and a jit of the whole stack compiles once per structure, which a
property drawing random structures never reuses. Here the unit of compilation is one LAYER, and
each layer's program runs on a *bucket*, its arrays zero-padded up to a few fixed shapes, so one
program serves every stack that has that kind of layer:

    out, dx, dparams = layer's vjp at (x, params), pulled back with dout      (jax.vjp of the twin)

- dense: rows (R, D) @ (D, M) padded to powers of two (>= 8): padded rows and columns are zero, so
  they add nothing to a real entry; sequences (N, T, D) run as their N·T rows;
- an activation, dropout: elementwise on x flattened and padded (dropout's mask, the shared
  generator's for the real shape, padded with False: `reference.layers.dropout.masked`);
- batchnorm: rows (R, C) (images: each pixel's channels, as `reference.stack.rows`) padded; the
  batch mean and variance are taken over the real rows only (a row mask), which is batchnorm's
  formula on the real rows; padded features are independent columns;
- layernorm: rows padded (each row is normalised alone); the features are not padded;
- embedding: E[ids] with E padded, ids rows padded with id 0 and a zero dout;
- conv and max/avg pool: `reference.layers.bucketed_windows` (its own bucket; a case outside it,
  and a registered layer, runs `reference.stack.apply_layer` compiled at its real shape);
- flatten: a reshape (data layout: dx is dout reshaped back);
- rnn and lstm: `reference.layers.rnn`/`lstm` from h0 = 0 on x (N, T, D) padded in N, T and D, the
  hidden width padded per gate (the LSTM's Wx (D, 4H) as (D, 4, H)): a padded unit has zero weights
  and bias, so its pre-activation is 0 and its state stays 0 (tanh 0 = 0; the LSTM's c = ½c + ½·0 = 0
  from c0 = 0) and feeds nothing; padded rows never mix with real ones; padded steps come AFTER the
  real ones, and a forward recurrence never reads a later step, so they change no real output, and
  their dout is 0, so they carry nothing back;
- attn: self-attention on x (N, T, E) padded, each head's width padded on its own (the projections'
  output axis as (heads, E/heads)), the scale 1/√(E/heads) of the real width; the padded keys are
  masked out (weight exactly 0, as the causal mask does), so the real queries see only real keys;
  one program per number of heads;
- the loss: one program for the four, on logits padded to (8, 8): `reference.bucketed`'s masked
  losses (padded classes get probability 0, padded rows weight 0), and hinge masked the same way;
  temporal_softmax is its cross-entropy on the N·T rows of the scores, divided by N.

Each program pulls back a dout that is zero outside the real entries, and the real entries are cut
out at the end; the forward pass runs each layer's forward program (the vjp's first half alone),
and the backward pass its vjp program. The backward is reverse-mode
differentiation of the composition: dL/dlogits pulled back through the layers in reverse, each
layer's vjp given the dout of the one after it; a residual block x + f(x) pulls dout back through
f and adds dout itself (x reaches out along two paths). tests/test_stacks.py checks this equal to
`reference.stack.loss_and_grads` (jax.grad of the whole stack) on random stacks.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from manual.layers import checks

from . import _x64  # noqa: F401
from . import activations as _acts
from . import layers as R
from . import stack as _stack
from .layers import bucketed_windows as BW
from .layers.dropout import masked as _dropout_masked


LADDER = (8, 64, 512, 4096)  # few buckets, few programs: padding costs less than compiling


def _b(n, lo=8):
    """The bucket of a size: the first of LADDER (from lo) that holds it, else a power of two."""
    for size in LADDER:
        if lo <= size and n <= size:
            return size
    return 1 << (int(n) - 1).bit_length()


def _pad(a, shape, fill=0):
    out = np.full(shape, fill, dtype=np.asarray(a).dtype)
    out[tuple(slice(0, s) for s in np.shape(a))] = a
    return out


# ---- the programs: a twin's forward, or its jax.vjp, jitted (jit keys them by the bucket shapes) -----


@lru_cache(maxsize=None)
def _program(twin, ndiff, forward):
    """The jitted program of `twin(*args)`: forward, `(out,)`; else `(out, *d args[:ndiff])`, the vjp
    pulled back with one more argument g (dout). The forward pass runs the forward programs (the
    vjp's first half alone) and the backward pass the vjp programs, which recompute the forward."""
    if forward:
        return jax.jit(lambda *args: (twin(*args),))

    def run(*args):
        *args, g = args
        out, pull = jax.vjp(lambda *d: twin(*d, *args[ndiff:]), *args[:ndiff])
        return (out,) + pull(g)

    return jax.jit(run)


def _run(twin, ndiff, args, g):
    """`_program`'s results as NumPy arrays: (out,) when g is None (forward), else (out, *grads)."""
    results = _program(twin, ndiff, True)(*args) if g is None else _program(twin, ndiff, False)(*args, g)
    return tuple(np.asarray(a) for a in results)


@lru_cache(maxsize=None)
def _elementwise(table):
    """Every activation in one twin: `lax.switch` on the activation's code (as `reference.bucketed`);
    `table` ((name, fn), ...) keys it, so a re-registered activation compiles anew."""
    branches = [fn for _, fn in table]
    return lambda x, code: jax.lax.switch(code, branches, x)


def _activation_table():
    return tuple(sorted(_acts.ACTIVATIONS.items()))


def _batchnorm_rows(x, gamma, beta, row_mask, n, eps=1e-5):
    """Training-mode batchnorm on the real rows (row_mask) of padded rows x: `reference.layers.batchnorm`'s
    formula, its mean and biased variance over the n real rows."""
    mean = jnp.sum(row_mask[:, None] * x, axis=0) / n
    var = jnp.sum(row_mask[:, None] * (x - mean) ** 2, axis=0) / n
    return gamma * (x - mean) / jnp.sqrt(var + eps) + beta


def _gather(E, ids):
    """E[ids]: `reference.layers.embedding` without its eager id check."""
    return E[ids]


def _rnn_from_zero(x, Wx, Wh, b):
    return R.rnn(x, jnp.zeros((x.shape[0], Wh.shape[0]), x.dtype), Wx, Wh, b)


def _lstm_from_zero(x, Wx, Wh, b):
    return R.lstm(x, jnp.zeros((x.shape[0], Wh.shape[0]), x.dtype), Wx, Wh, b)


def _self_attention(x, Wq, bq, Wk, bk, Wv, bv, Wo, bo, mask, scale, h):
    """`reference.layers.multihead_attention(x, x, x, ...)` on padded heads: Q, K, V (N, T, h·Dₕ) split
    head-major as the twin's `_heads`, the scale given (the real 1/√Dₕ), mask (T, T) bool."""
    N, T, _ = x.shape

    def heads(X):  # (N, T, h·Dₕ) -> (N, h, T, Dₕ)
        return jnp.swapaxes(X.reshape(N, T, h, -1), 1, 2)

    Q, K, V = heads(x @ Wq + bq), heads(x @ Wk + bk), heads(x @ Wv + bv)
    s = jnp.where(mask, scale * (Q @ jnp.swapaxes(K, 2, 3)), -jnp.inf)  # (N, h, T, T), masked keys −∞
    Y = jnp.swapaxes(jax.nn.softmax(s, axis=3) @ V, 1, 2).reshape(N, T, -1)  # (N, T, h·Dₕ)
    return Y @ Wo + bo


@lru_cache(maxsize=None)
def _attention(h):
    """Self-attention with h heads (h fixes the reshapes: one twin, one program per number of heads)."""
    return lambda x, Wq, bq, Wk, bk, Wv, bv, Wo, bo, mask, scale: _self_attention(
        x, Wq, bq, Wk, bk, Wv, bv, Wo, bo, mask, scale, h)


@lru_cache(maxsize=None)
def _whole_layer(layer, ids):
    """A layer outside the buckets (a registered layer, a conv too large): jax.vjp of
    `reference.stack.apply_layer` at its real shape."""

    def run(x, p, seed, n, g):
        if ids:
            out, pull = jax.vjp(lambda p: _stack.apply_layer(layer, n, x, p, seed), p)
            return out, None, pull(g)[0]
        out, pull = jax.vjp(lambda x, p: _stack.apply_layer(layer, n, x, p, seed), x, p)
        return (out,) + tuple(pull(g))

    return jax.jit(run)


@lru_cache(maxsize=None)
def _loss():
    """The four losses in one program on padded logits (B, KB): `reference.bucketed`'s masked
    binary cross-entropy, cross-entropy and mse, and hinge (CS231n's svm_loss) masked the same way."""
    from .bucketed import _masked_losses

    def hinge(s, Y, row_mask, out_mask, n):
        correct = jnp.sum(Y * s, axis=1, keepdims=True)  # (B, 1) s_{n, y_n}, Y one-hot
        margins = jax.nn.relu(s - correct + 1.0)
        return jnp.sum(row_mask[:, None] * out_mask * (1.0 - Y) * margins) / n

    def total(s, Y, code, row_mask, out_mask, n, k):
        ce_bce_mse = [lambda s, f=f: f(None)[0] for f in _masked_losses(s, Y, row_mask, out_mask, n, k)]
        return jax.lax.switch(code, ce_bce_mse + [lambda s: hinge(s, Y, row_mask, out_mask, n)], s)

    return jax.jit(jax.value_and_grad(total))


_LOSS_CODES = {"binary_cross_entropy": 0, "cross_entropy": 1, "mse": 2, "hinge": 3}  # _masked_losses' order


def _loss_value_and_dlogits(name, logits, y):
    if name == "temporal_softmax":  # cross-entropy on the N·T rows (N, T, V) -> (N·T, V), divided by N
        N, T, V = logits.shape
        value, G = _rows_loss("cross_entropy", logits.reshape(N * T, V), np.asarray(y).reshape(-1), N)
        return value, G.reshape(N, T, V)
    return _rows_loss(name, logits, y, logits.shape[0])


def _rows_loss(name, logits, y, n):
    """(value, dlogits) of a loss on logits (N, K), its sum over rows divided by n."""
    N, K = logits.shape
    B, KB = _b(N), _b(K)
    y = np.asarray(y)
    Y = np.zeros((B, KB))
    if name in ("cross_entropy", "hinge"):
        Y[np.arange(N), y.astype(int)] = 1.0
    elif name == "binary_cross_entropy":
        Y[:N, 0] = y.reshape(N)
    else:
        Y[:N, :K] = y
    row_mask = (np.arange(B) < N).astype(np.float64)
    out_mask = (np.arange(KB) < K).astype(np.float64)
    value, G = _loss()(_pad(logits, (B, KB)), Y, np.int32(_LOSS_CODES[name]), row_mask, out_mask,
                       np.float64(n), np.float64(K))
    return float(value), np.asarray(G)[:N, :K]


# ---- one layer: (out, dx, dparams) --------------------------------------------------------------------


def _to_rows(x):
    x = np.asarray(x)
    if x.ndim == 4:
        return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])
    return x.reshape(-1, x.shape[-1])


def _from_rows(rows, shape):
    if len(shape) == 4:
        N, C, H, W = shape
        return rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)
    return rows.reshape(shape[:-1] + (rows.shape[-1],))


def layer_vjp(layer, x, p, dout, seed, n, ids=False):
    """(out, dx, dparams) of one layer of a stack (dx None for ids); `n` its number in walk order;
    dout None: the output only, (out, None, None), from the forward program."""
    kind = layer[0]
    x = np.asarray(x)
    if kind == "res":  # out = x + f(x): dout reaches x directly and through f
        outs, caches = _forward(layer[1], p, x, seed, n + 1)
        if dout is None:
            return x + outs, None, None
        dx_f, dparams = _backward(layer[1], p, caches, dout, seed)
        return x + outs, dout + dx_f, tuple(dparams)
    if kind == "dense":
        W, b = (np.asarray(a) for a in p)
        rows = _to_rows(x)
        (R_, D), M = rows.shape, W.shape[1]
        RB, DB, MB = _b(R_), _b(D), _b(M)
        g = None if dout is None else _pad(_to_rows(dout), (RB, MB))
        out, *grads = _run(R.dense, 3, (_pad(rows, (RB, DB)), _pad(W, (DB, MB)), _pad(b, (MB,))), g)
        out = _from_rows(out[:R_, :M], x.shape)
        if dout is None:
            return out, None, None
        dx, dW, db = grads
        return out, _from_rows(dx[:R_, :D], x.shape), (dW[:D, :M], db[:M])
    if kind in ("batchnorm", "layernorm"):
        gamma, beta = (np.asarray(a) for a in p)
        rows = _to_rows(x)
        R_, C = rows.shape
        RB = _b(R_, 512)
        if kind == "batchnorm":
            CB = _b(C)
            row_mask = (np.arange(RB) < R_).astype(np.float64)
            g = None if dout is None else _pad(_to_rows(dout), (RB, CB))
            out, *grads = _run(_batchnorm_rows, 3, (_pad(rows, (RB, CB)), _pad(gamma, (CB,)), _pad(beta, (CB,)),
                                                    row_mask, np.float64(R_)), g)
        else:
            g = None if dout is None else _pad(_to_rows(dout), (RB, C))
            out, *grads = _run(R.layernorm, 3, (_pad(rows, (RB, C)), gamma, beta), g)
        out = _from_rows(out[:R_, :C], x.shape)
        if dout is None:
            return out, None, None
        dx, dg, dbeta = grads
        return out, _from_rows(dx[:R_, :C], x.shape), (dg[:C], dbeta[:C])
    if kind == "dropout" or kind in _acts.ACTIVATIONS and len(layer) == 1:
        size = x.size
        B = _b(size, 512)
        flat = _pad(x.reshape(-1), (B,))
        g = None if dout is None else _pad(np.asarray(dout).reshape(-1), (B,))
        if kind == "dropout":
            keep = _pad(checks.dropout_mask(x.shape, layer[1], seed * 1000 + n).reshape(-1), (B,), False)
            out, *grads = _run(_dropout_masked, 1, (flat, keep, np.float64(layer[1])), g)
        else:
            table = _activation_table()
            code = np.int32([name for name, _ in table].index(kind))
            out, *grads = _run(_elementwise(table), 1, (flat, code), g)
        out = out[:size].reshape(x.shape)
        return (out, None, None) if dout is None else (out, grads[0][:size].reshape(x.shape), ())
    if kind == "embedding":
        (E,) = p
        ids = x.reshape(-1)
        (V, D), K = np.shape(E), ids.size
        KB, VB, DB = _b(K, 64), _b(V), _b(D)
        g = None if dout is None else _pad(np.asarray(dout).reshape(-1, D), (KB, DB))
        out, *grads = _run(_gather, 1, (_pad(E, (VB, DB)), _pad(ids, (KB,))), g)
        out = out[:K, :D].reshape(x.shape + (D,))
        return (out, None, None) if dout is None else (out, None, (grads[0][:V, :D],))
    if kind in ("rnn", "lstm"):
        return _recurrent_vjp(kind, x, p, dout)
    if kind == "attn":
        return _attention_vjp(layer, x, p, dout)
    if kind == "flatten":  # a reshape: data layout
        out = x.reshape(x.shape[0], -1)
        return (out, None, None) if dout is None else (out, np.asarray(dout).reshape(x.shape), ())
    g = None if dout is None else np.asarray(dout)
    if kind == "conv" and BW.fits_conv(x.shape, np.shape(p[0]), (layer[4],) * 2, (1, 1)):
        s, pad = layer[3], layer[4]
        out, dx, dW, db = BW.conv2d_vjp(x, np.asarray(p[0]), np.asarray(p[1]), g, (s, s), (pad, pad), (1, 1))
        return (out, None, None) if dout is None else (out, dx, (dW, db))
    if kind in ("maxpool", "avgpool") and BW.fits_pool(x.shape, (layer[1],) * 2):
        out, dx = BW.pool2d_vjp(kind[:3], x, g, (layer[1],) * 2, (layer[2],) * 2)
        return (out, None, None) if dout is None else (out, dx, ())
    if dout is None:  # the whole-layer program below is a vjp only: pull back a zero dout
        out, _, _ = layer_vjp(layer, x, p, np.zeros(_out_shape(layer, x, p)), seed, n, ids)
        return out, None, None
    out, dx, dparams = _whole_layer(layer, ids)(x, _stack._params_tree([layer], [p])[0], np.int64(seed),
                                                 np.int64(n), jnp.asarray(dout, jnp.float64))
    return np.asarray(out), None if dx is None else np.asarray(dx), tuple(np.asarray(a) for a in dparams)


def _recurrent_vjp(kind, x, p, dout):
    Wx, Wh, b = (np.asarray(a) for a in p)
    (N, T, D), H = x.shape, Wh.shape[0]
    G = 4 if kind == "lstm" else 1  # gates side by side: (…, G·H) padded as (…, G, H)
    NB, TB, DB, HB = _b(N), _b(T), _b(D), _b(H)

    def gates(W, rows, RB):  # (rows, G·H) -> (RB, G·HB), each gate's H columns padded on their own
        return _pad(W.reshape(rows, G, H), (RB, G, HB)).reshape(RB, G * HB)

    twin = _lstm_from_zero if kind == "lstm" else _rnn_from_zero
    g = None if dout is None else _pad(dout, (NB, TB, HB))
    out, *grads = _run(twin, 4, (_pad(x, (NB, TB, DB)), gates(Wx, D, DB), gates(Wh, H, HB),
                                 gates(b[None], 1, 1)[0]), g)
    if dout is None:
        return out[:N, :T, :H], None, None
    dx, dWx, dWh, db = grads

    def real(dW, rows):
        return dW.reshape(-1, G, HB)[:rows, :, :H].reshape(rows, G * H)

    return out[:N, :T, :H], dx[:N, :T, :D], (real(dWx, D), real(dWh, H), real(db[None], 1)[0])


def _attention_vjp(layer, x, p, dout):
    h, causal = layer[1], bool(layer[2:])
    (N, T, E), Dh = x.shape, x.shape[2] // layer[1]
    NB, TB, EB, DhB = _b(N), _b(T), _b(E), _b(Dh)
    params = []
    for i, a in enumerate(p):
        a = np.asarray(a)
        if i == 6:  # Wo (E, E): its input axis is the heads' (h, Dₕ)
            params.append(_pad(a.reshape(h, Dh, E), (h, DhB, EB)).reshape(h * DhB, EB))
        elif i == 7:  # bo (E,)
            params.append(_pad(a, (EB,)))
        elif a.ndim == 2:  # Wq, Wk, Wv (E, E): output axis (h, Dₕ)
            params.append(_pad(a.reshape(E, h, Dh), (EB, h, DhB)).reshape(EB, h * DhB))
        else:  # bq, bk, bv (E,) as (h, Dₕ)
            params.append(_pad(a.reshape(h, Dh), (h, DhB)).reshape(h * DhB))
    keys = np.arange(TB) < T  # (TB,) the real keys
    mask = keys[None, :] & (np.tri(TB, dtype=bool) if causal else True)  # (TB, TB): real keys (and s <= t)
    g = None if dout is None else _pad(dout, (NB, TB, EB))
    out, *grads = _run(_attention(h), 9, (_pad(x, (NB, TB, EB)), *params, mask, np.float64(1.0 / np.sqrt(Dh))), g)
    if dout is None:
        return out[:N, :T, :E], None, None
    dx, *grads = grads
    real = []
    for i, g in enumerate(grads):
        if i == 6:
            real.append(g.reshape(h, DhB, EB)[:, :Dh, :E].reshape(E, E))
        elif i == 7:
            real.append(g[:E])
        elif g.ndim == 2:
            real.append(g.reshape(EB, h, DhB)[:E, :, :Dh].reshape(E, E))
        else:
            real.append(g.reshape(h, DhB)[:, :Dh].reshape(E))
    return out[:N, :T, :E], dx[:N, :T, :E], tuple(real)


# ---- the stack --------------------------------------------------------------------------------------


def _forward(layers, params, x, seed, first, ids=False):
    """(output, caches): each layer's forward program; a cache (layer, x, n, ids) per layer."""
    caches, n, a = [], first, x
    for i, (layer, p) in enumerate(zip(layers, params)):
        out, _, _ = layer_vjp(layer, a, p, None, seed, n, ids and i == 0)
        caches.append((layer, a, n, ids and i == 0))
        a = out
        n += 1 + (_stack.count(layer[1]) if layer[0] == "res" else 0)
    return a, caches


def _out_shape(layer, x, p):
    from manual.stack_spec import _out_shape as shape_after

    x = np.asarray(x)
    if layer[0] == "embedding":
        return x.shape + (layer[1],)
    return (x.shape[0],) + shape_after(layer, x.shape[1:], "")


def _backward(layers, params, caches, d, seed):
    grads = [None] * len(layers)
    for l in reversed(range(len(layers))):
        layer, x, n, ids = caches[l]
        _, d, grads[l] = layer_vjp(layer, x, params[l], d, seed, n, ids)
    return d, grads


def loss_and_grads(spec, params, x, y, seed=0):
    """(loss, grads) as `reference.stack.loss_and_grads`, through the bucketed per-layer programs."""
    logits, caches = _forward(spec.layers, params, x, int(seed), 0, spec.ids)
    value, G = _loss_value_and_dlogits(spec.loss, logits, y)
    _, grads = _backward(spec.layers, params, caches, G, int(seed))
    return value, _stack._grads_tree(spec.layers, grads)
