"""2-D convolution in JAX (cross-correlation, NCHW): jax.lax.conv_general_dilated; gradients
from jax.vjp. x (N, C, H, W), W (F, C, HH, WW), b (F,) -> (N, F, Ho, Wo)."""

import jax

from manual.layers import windows


def conv2d(x, W, b, stride=1, padding=0, dilation=1):
    """out[n, f, i, j] = b[f] + Σ_{c,a,e} W[f, c, a, e] · xp[n, c, i·s_h + a·d_h, j·s_w + e·d_w]."""
    x, W, b, stride, padding, dilation = windows.check_conv(x, W, b, stride, padding, dilation)
    out = jax.lax.conv_general_dilated(
        x, W, window_strides=stride, padding=[(p, p) for p in padding], rhs_dilation=dilation,
        dimension_numbers=("NCHW", "OIHW", "NCHW"), precision=jax.lax.Precision.HIGHEST)
    return out + b[None, :, None, None]
