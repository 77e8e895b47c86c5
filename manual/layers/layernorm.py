"""Layer normalization (Ba, Kiros & Hinton 2016): batchnorm's formulas over the last axis.

Each row (each x[..., :]) is normalised with its own statistics over its D features:

    μ = mean₋₁ x,   σ² = mean₋₁ (x − μ)²,   x̂ = (x − μ)/√(σ² + ε),   out = γ ⊙ x̂ + β

x (..., D) (for example (N, D) or (N, T, D)), gamma and beta (D,). The same per-feature
training and evaluation behaviour (no running statistics). D = 1 gives x̂ = 0, out = β.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import checks


class LayernormCache(NamedTuple):
    x_hat: np.ndarray  # (..., D)
    std: np.ndarray  # (..., 1) √(σ² + ε) of each row
    gamma: np.ndarray  # (D,)


def layernorm_forward(x, gamma, beta, eps=1e-5):
    """out = γ ⊙ (x − μ)/√(σ² + ε) + β, μ and σ² (biased) over the last axis. x (..., D)."""
    x = checks.float_array(x, "x", (2, 3), what="2-D or 3-D shape (N, D) or (N, T, D)")
    D = x.shape[-1]
    if D < 1 or x.size == 0:
        raise ValueError(f"x must have at least one row and one feature, got shape {x.shape}")
    gamma = checks.float_array(gamma, "gamma", shape=(D,), what=f"shape ({D},) (D, the last axis of x)")
    beta = checks.float_array(beta, "beta", shape=(D,), what=f"shape ({D},) (D, the last axis of x)")
    eps = checks.eps(eps)
    mean = x.sum(axis=-1, keepdims=True) / D  # (..., 1)
    xc = x - mean  # (..., D)
    var = (xc * xc).sum(axis=-1, keepdims=True) / D  # (..., 1)
    std = np.sqrt(var + eps)  # (..., 1)
    x_hat = xc / std  # (..., D)
    out = gamma * x_hat + beta  # (..., D)
    return out, LayernormCache(x_hat, std, gamma)


def layernorm_backward(dout, cache):
    """Batchnorm's short form with the axes swapped: per row, over its D features,
    dx = (1/√(σ² + ε)) (dx̂ − mean₋₁ dx̂ − x̂ ⊙ mean₋₁(dx̂ ⊙ x̂)),  dx̂ = dout ⊙ γ;
    γ and β are shared by every row, so their gradients sum over all leading axes:
    dγ = Σ dout ⊙ x̂,  dβ = Σ dout."""
    x_hat, std, gamma = checks.cache_of(cache, LayernormCache, "layernorm")
    dout = checks.same_shape(dout, x_hat.shape)  # (..., D)
    D = x_hat.shape[-1]
    lead = tuple(range(x_hat.ndim - 1))  # every axis but the features
    dbeta = dout.sum(axis=lead)  # (D,)
    dgamma = (dout * x_hat).sum(axis=lead)  # (D,)
    dx_hat = dout * gamma  # (..., D)
    mean_dx_hat = dx_hat.sum(axis=-1, keepdims=True) / D  # (..., 1)
    mean_dx_hat_x_hat = (dx_hat * x_hat).sum(axis=-1, keepdims=True) / D  # (..., 1)
    dx = (dx_hat - mean_dx_hat - x_hat * mean_dx_hat_x_hat) / std  # (..., D)
    return dx, dgamma, dbeta
