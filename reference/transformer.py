"""The one-block transformer language model in JAX (float64), the twin of `manual.transformer`:
token embedding + learned positions, pre-norm causal multi-head self-attention and a GELU MLP
(erf form), each with a residual, a final layernorm, the temporal affine and the temporal softmax
loss from `reference.layers`; gradients from jax.grad (jax.jit(jax.value_and_grad(loss)))."""

from functools import partial

from . import _x64  # noqa: F401  (float64 before any array is made)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from . import layers as L  # noqa: E402


def loss(p, x, y, num_heads=2):
    """−(1/N) Σₙₜ log softmax(s)[y] of the block's scores s (N, T, V) for ids x (N, T)."""
    T = x.shape[1]
    x0 = L.embedding(x, p["E"]) + p["P"][:T]
    a = L.layernorm(x0, p["ln1_g"], p["ln1_b"])
    x1 = x0 + L.multihead_attention(a, a, a, p["Wq"], p["bq"], p["Wk"], p["bk"], p["Wv"], p["bv"],
                                    p["Wo"], p["bo"], num_heads, L.causal_mask(T))
    m = L.layernorm(x1, p["ln2_g"], p["ln2_b"])
    x2 = x1 + L.temporal_affine(L.gelu(L.temporal_affine(m, p["W1"], p["b1"])), p["W2"], p["b2"])
    s = L.temporal_affine(L.layernorm(x2, p["lnf_g"], p["lnf_b"]), p["Wy"], p["by"])
    return L.temporal_softmax_loss(s, y, jnp.ones(x.shape, dtype=bool))


@partial(jax.jit, static_argnames="num_heads")
def _value_and_grad(params, x, y, num_heads):
    return jax.value_and_grad(loss)(params, x, y, num_heads)


def loss_and_grads(params, x, y, num_heads=2):
    """(L, grads) as manual's: a float and a dict of NumPy float64 arrays, from jax.value_and_grad."""
    value, grads = _value_and_grad({k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(x),
                                   jnp.asarray(y), num_heads)
    return float(value), {k: np.asarray(v) for k, v in grads.items()}
