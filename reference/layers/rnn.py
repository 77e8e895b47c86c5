"""The vanilla RNN in JAX: one step and the whole sequence; gradients (BPTT) from jax.vjp."""

import jax
import jax.numpy as jnp

from manual.layers import checks


def rnn_step(x, prev_h, Wx, Wh, b):
    """tanh(x Wx + prev_h Wh + b);  x (N, D), prev_h (N, H), Wx (D, H), Wh (H, H), b (H,) -> (N, H)."""
    checks.float_array(Wx, "Wx", 2, what="2-D shape (D, H)")
    checks.float_array(x, "x", 2, what="2-D shape (N, D)")
    return jnp.tanh(x @ Wx + prev_h @ Wh + b)


def rnn(x, h0, Wx, Wh, b):
    """Every hidden state: x (N, T, D), h0 (N, H) -> h (N, T, H), h0 excluded (a lax.scan over T)."""
    checks.float_array(x, "x", 3, what="3-D shape (N, T, D)")

    def step(prev_h, x_t):
        h_t = jnp.tanh(x_t @ Wx + prev_h @ Wh + b)
        return h_t, h_t

    _, h = jax.lax.scan(step, h0, jnp.swapaxes(x, 0, 1))  # (T, N, H)
    return jnp.swapaxes(h, 0, 1)
