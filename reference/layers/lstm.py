"""The LSTM in JAX (gates i, f, o, g; c0 = 0 for the whole sequence); gradients from jax.vjp."""

import jax
import jax.numpy as jnp

from manual.layers import checks


def lstm_step(x, prev_h, prev_c, Wx, Wh, b):
    """(next_h, next_c): a = x Wx + prev_h Wh + b split into i, f, o, g (σ, σ, σ, tanh);
    next_c = f prev_c + i g, next_h = o tanh(next_c)."""
    checks.float_array(x, "x", 2, what="2-D shape (N, D)")
    i, f, o, g = jnp.split(x @ Wx + prev_h @ Wh + b, 4, axis=1)
    next_c = jax.nn.sigmoid(f) * prev_c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return jax.nn.sigmoid(o) * jnp.tanh(next_c), next_c


def lstm(x, h0, Wx, Wh, b):
    """Every hidden state: x (N, T, D), h0 (N, H) -> h (N, T, H), from c0 = 0 (a lax.scan over T)."""
    checks.float_array(x, "x", 3, what="3-D shape (N, T, D)")

    def step(carry, x_t):
        h, c = lstm_step(x_t, *carry, Wx, Wh, b)
        return (h, c), h

    _, h = jax.lax.scan(step, (h0, jnp.zeros_like(h0)), jnp.swapaxes(x, 0, 1))  # (T, N, H)
    return jnp.swapaxes(h, 0, 1)
