"""The character-level language model in JAX (float64): embedding → RNN or LSTM → temporal affine →
temporal softmax loss from `reference.layers`, gradients from jax.grad (one compiled
`jax.jit(jax.value_and_grad(loss))` per cell and batch shape), trained with `reference.optimizers`
(optax) over the same dict of parameters. The twin of `manual.char_model`: same names, same
parameters (E, Wx, Wh, b, Wy, by), same loss (summed over the steps, divided by N).
"""

from functools import partial

from . import _x64  # noqa: F401  (float64 before any array is made)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from . import layers as L  # noqa: E402

CELLS = ("rnn", "lstm")


def loss(params, x, y, cell="rnn"):
    """−(1/N) Σₙₜ log softmax(h Wy + by)[y], h the RNN (or LSTM) states over E[x] from h0 = 0."""
    e = L.embedding(x, params["E"])  # (N, T, D)
    h0 = jnp.zeros((x.shape[0], params["Wh"].shape[0]), e.dtype)  # (N, H)
    h = (L.rnn if cell == "rnn" else L.lstm)(e, h0, params["Wx"], params["Wh"], params["b"])  # (N, T, H)
    s = L.temporal_affine(h, params["Wy"], params["by"])  # (N, T, V)
    return L.temporal_softmax_loss(s, y, jnp.ones(x.shape, dtype=bool))


@partial(jax.jit, static_argnames="cell")
def _value_and_grad(params, x, y, cell):
    return jax.value_and_grad(loss)(params, x, y, cell)


def loss_and_grads(params, x, y, cell="rnn"):
    """(L, grads) as manual's: a float and a dict of NumPy float64 arrays, from jax.value_and_grad."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(map(repr, CELLS))}, got {cell!r}")
    value, grads = _value_and_grad({k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(x), jnp.asarray(y), cell)
    return float(value), {k: np.asarray(v) for k, v in grads.items()}


def train(params, batch_list, optimizer, loss_and_grads_fn):
    """Each (x, y) once, `optimizer` from `reference.optimizers` over the params dict itself (optax
    takes any tree). Returns (params, losses), losses[k] = L / T of step k, before its update."""
    params = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    state = optimizer.init(params)
    losses = []
    for x, y in batch_list:
        value, grads = loss_and_grads_fn(params, x, y)
        losses.append(value / np.shape(x)[1])
        params, state = optimizer.update(grads, state, params)
    return params, losses
