"""2-D max and average pooling in JAX (NCHW, no padding): jax.lax.reduce_window; gradients from
jax.vjp. x (N, C, H, W) -> (N, C, Ho, Wo).

NOTE (ties): the gradient of reduce_window with lax.max is XLA's select-and-scatter with ≥:
each window's whole dout goes to its FIRST maximum in row-major window order. manual's
maxpool2d_backward follows it (tests/test_conv.py ties on purpose).
"""

import jax
import jax.numpy as jnp

from manual.layers import windows


def maxpool2d(x, size, stride):
    """out[n, c, i, j] = max_{a,e} x[n, c, i·s_h + a, j·s_w + e]."""
    x, size, stride = windows.check_pool(x, size, stride)
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1) + size, (1, 1) + stride, "VALID")


def avgpool2d(x, size, stride):
    """out[n, c, i, j] = 1/(k_h·k_w) Σ_{a,e} x[n, c, i·s_h + a, j·s_w + e]."""
    x, size, stride = windows.check_pool(x, size, stride)
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 1) + size, (1, 1) + stride, "VALID")
    return total / (size[0] * size[1])
