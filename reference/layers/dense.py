"""The dense layer in JAX: out = x W + b; gradients from jax.vjp."""

from manual.layers import checks


def dense(x, W, b):
    """x (N, D), W (D, M), b (M,) -> (N, M)."""
    checks.float_array(W, "W", 2, what="2-D shape (D, M)")
    checks.float_array(x, "x", 2, what=f"2-D shape (N, {W.shape[0]})")
    checks.float_array(b, "b", shape=(W.shape[1],))
    if x.shape[1] != W.shape[0]:
        raise ValueError(f"x must have shape (N, {W.shape[0]}) to match W {tuple(W.shape)}, got {tuple(x.shape)}")
    return x @ W + b
