"""Batch normalization (Ioffe & Szegedy 2015; CS231n assignment 2), derived twice.

Training mode normalises each column with the statistics of the batch (axis 0, the
biased variance, as the paper and CS231n):

    μ = (1/N) Σₙ xₙ                       (D,)
    σ² = (1/N) Σₙ (xₙ − μ)²               (D,)    biased: 1/N, not 1/(N − 1)
    x̂ = (x − μ) / √(σ² + ε)               (N, D)
    out = γ ⊙ x̂ + β                       (N, D)

Evaluation mode uses running statistics instead (constants, not functions of x):

    out = γ ⊙ (x − μ_run) / √(σ²_run + ε) + β

with μ_run ← m μ_run + (1 − m) μ and σ²_run ← m σ²_run + (1 − m) σ² after each training
batch, momentum m = 0.9 (CS231n's `bn_param['momentum']`; PyTorch's momentum 0.1 is our 1 − m)
and σ² the biased batch variance (CS231n; PyTorch keeps the unbiased one).

NOTE N = 1: the variance of one row is exactly 0, so x̂ = 0, out = β and, with ε > 0, every
derivative is finite: dx = 0, dγ = 0, dβ = dout. We allow it (the property checks it) rather
than refuse it as PyTorch does in training mode ("Expected more than 1 value per channel");
a column that is constant over the batch behaves the same way.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import checks

BN_MOMENTUM = 0.9  # μ_run ← m μ_run + (1 − m) μ_batch


class BatchnormCache(NamedTuple):
    x_hat: np.ndarray  # (N, D) the normalised input
    x_centered: np.ndarray  # (N, D) x − μ (the graph form needs it)
    std: np.ndarray  # (D,) √(σ² + ε)
    gamma: np.ndarray  # (D,)
    mean: np.ndarray  # (D,) μ of the batch, for the running statistics
    var: np.ndarray  # (D,) σ² of the batch (biased)


class BatchnormEvalCache(NamedTuple):
    x_hat: np.ndarray  # (N, D) (x − μ_run) / √(σ²_run + ε)
    std: np.ndarray  # (D,) √(σ²_run + ε), a constant
    gamma: np.ndarray  # (D,)


def _check(x, gamma, beta):
    x = checks.float_array(x, "x", 2, what="2-D shape (N, D)")
    if x.shape[0] < 1:
        raise ValueError(f"x must have at least one row, got shape {x.shape}")
    D = x.shape[1]
    gamma = checks.float_array(gamma, "gamma", shape=(D,), what=f"shape ({D},) (D, the columns of x)")
    beta = checks.float_array(beta, "beta", shape=(D,), what=f"shape ({D},) (D, the columns of x)")
    return x, gamma, beta


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Training mode: out = γ ⊙ (x − μ)/√(σ² + ε) + β with μ, σ² of the batch (axis 0, biased).

    x (N, D), gamma (D,), beta (D,) -> out (N, D). The cache holds the batch μ and σ² for
    `batchnorm_running_stats`.
    """
    x, gamma, beta = _check(x, gamma, beta)
    eps = checks.eps(eps)
    N = x.shape[0]
    mean = x.sum(axis=0) / N  # (D,)
    xc = x - mean  # (N, D)
    var = (xc * xc).sum(axis=0) / N  # (D,) biased
    std = np.sqrt(var + eps)  # (D,)
    x_hat = xc / std  # (N, D)
    out = gamma * x_hat + beta  # (N, D)
    return out, BatchnormCache(x_hat, xc, std, gamma, mean, var)


def batchnorm_backward(dout, cache):
    """The short form:  dx = (1/√(σ² + ε)) (dx̂ − mean₀ dx̂ − x̂ ⊙ mean₀(dx̂ ⊙ x̂)),  dx̂ = dout ⊙ γ;
    dγ = Σₙ dout ⊙ x̂,  dβ = Σₙ dout.

    Derivation (per column; s = √(σ² + ε), x̂ₙ = (xₙ − μ)/s): x̂ depends on x directly and
    through μ and σ²,

        ∂x̂ₙ/∂xₘ = (1/s) (δₙₘ − 1/N) − (xₙ − μ)/s³ · ∂σ²/∂xₘ ·½,   ∂σ²/∂xₘ = (2/N)(xₘ − μ)
                = (1/s) (δₙₘ − 1/N − x̂ₙ x̂ₘ / N),

    so dxₘ = Σₙ dx̂ₙ ∂x̂ₙ/∂xₘ = (1/s) (dx̂ₘ − (1/N) Σₙ dx̂ₙ − x̂ₘ (1/N) Σₙ dx̂ₙ x̂ₙ).
    The second term is the mean path, the third the variance path. `batchnorm_backward_graph`
    derives the same step by step; its docstring shows the two are equal.
    """
    x_hat, _, std, gamma, _, _ = checks.cache_of(cache, BatchnormCache, "batchnorm")
    dout = checks.same_shape(dout, x_hat.shape)  # (N, D)
    N = x_hat.shape[0]
    dbeta = dout.sum(axis=0)  # (D,)
    dgamma = (dout * x_hat).sum(axis=0)  # (D,)
    dx_hat = dout * gamma  # (N, D)
    mean_dx_hat = dx_hat.sum(axis=0) / N  # (D,) the mean path
    mean_dx_hat_x_hat = (dx_hat * x_hat).sum(axis=0) / N  # (D,) the variance path
    dx = (dx_hat - mean_dx_hat - x_hat * mean_dx_hat_x_hat) / std  # (N, D)
    return dx, dgamma, dbeta


def batchnorm_backward_graph(dout, cache):
    """The step-by-step form: backprop through the graph of the forward, node by node.

    Forward graph (per column):  μ = mean x;  xc = x − μ;  v = mean xc²;  s = √(v + ε);
    i = 1/s;  x̂ = xc · i;  out = γ x̂ + β.  Backward, node by node in reverse:

        dβ = Σₙ dout,  dγ = Σₙ dout x̂,  dx̂ = dout γ
        di = Σₙ dx̂ xc              dxc₁ = dx̂ i            (x̂ = xc · i)
        ds = −di / s²                                      (i = 1/s)
        dv = ds / (2 s)                                    (s = √(v + ε))
        dxc₂ = (2/N) xc dv                                 (v = mean xc²)
        dxc = dxc₁ + dxc₂
        dμ = −Σₙ dxc,   dx = dxc + dμ / N                  (xc = x − μ)

    Equal to the short form: dx = dxc − mean₀ dxc. With di = s Σₙ dx̂ x̂ (xc = s x̂),
    dxc₂ = (2/N) s x̂ · (−di / s²)/(2 s) = −(x̂/s) mean₀(dx̂ x̂), so dxc = (1/s)(dx̂ − x̂ mean₀(dx̂ x̂)),
    and mean₀ dxc = (1/s)(mean₀ dx̂ − mean₀(x̂) mean₀(dx̂ x̂)) = (1/s) mean₀ dx̂ because mean₀ x̂ = 0.
    Hence dx = (1/s)(dx̂ − mean₀ dx̂ − x̂ mean₀(dx̂ x̂)), the short form
    (tests/test_layers.py also checks the two agree to rounding on random batches).
    """
    dx, dgamma, dbeta, _ = batchnorm_backward_graph_steps(dout, cache)
    return dx, dgamma, dbeta


def batchnorm_backward_graph_steps(dout, cache):
    """`batchnorm_backward_graph`, also returning the gradient of every node of the forward graph.

    Returns dx, dgamma, dbeta and {"dx_hat": (N, D), "dinv_std": (D,), "dstd": (D,), "dvar": (D,),
    "dxc": (N, D) (both paths), "dmean": (D,)}: d<node> = dL/d<node>, node names as in the
    forward graph of `batchnorm_backward_graph` (inv_std is i, std is s, var is v, mean is μ).
    """
    x_hat, xc, std, gamma, _, _ = checks.cache_of(cache, BatchnormCache, "batchnorm")
    dout = checks.same_shape(dout, x_hat.shape)  # (N, D)
    N = x_hat.shape[0]
    inv_std = 1.0 / std  # (D,)
    dbeta = dout.sum(axis=0)  # (D,)
    dgamma = (dout * x_hat).sum(axis=0)  # (D,)
    dx_hat = dout * gamma  # (N, D)
    dinv_std = (dx_hat * xc).sum(axis=0)  # (D,)
    dxc = dx_hat * inv_std  # (N, D) the direct path
    dstd = -dinv_std / (std * std)  # (D,)
    dvar = dstd / (2.0 * std)  # (D,)
    dxc = dxc + (2.0 / N) * xc * dvar  # (N, D) plus the variance path
    dmean = -dxc.sum(axis=0)  # (D,)
    dx = dxc + dmean / N  # (N, D)
    steps = {"dx_hat": dx_hat, "dinv_std": dinv_std, "dstd": dstd, "dvar": dvar, "dxc": dxc, "dmean": dmean}
    return dx, dgamma, dbeta, steps


def batchnorm_running_stats(running_mean, running_var, cache, momentum=BN_MOMENTUM):
    """(μ_run, σ²_run) after one training batch: m·old + (1 − m)·batch, new arrays (D,)."""
    cache = checks.cache_of(cache, BatchnormCache, "batchnorm")
    D = cache.mean.shape[0]
    running_mean = checks.float_array(running_mean, "running_mean", shape=(D,))
    running_var = checks.float_array(running_var, "running_var", shape=(D,))
    m = checks.momentum(momentum)
    return m * running_mean + (1.0 - m) * cache.mean, m * running_var + (1.0 - m) * cache.var


def batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """Evaluation mode: out = γ ⊙ (x − μ_run)/√(σ²_run + ε) + β, with the running statistics
    (D,) as constants. x (N, D) -> out (N, D)."""
    x, gamma, beta = _check(x, gamma, beta)
    D = x.shape[1]
    running_mean = checks.float_array(running_mean, "running_mean", shape=(D,))
    running_var = checks.float_array(running_var, "running_var", shape=(D,))
    if np.any(running_var < 0):
        raise ValueError("running_var must be >= 0 (a variance), got a negative entry")
    eps = checks.eps(eps)
    std = np.sqrt(running_var + eps)  # (D,)
    x_hat = (x - running_mean) / std  # (N, D)
    out = gamma * x_hat + beta  # (N, D)
    return out, BatchnormEvalCache(x_hat, std, gamma)


def batchnorm_eval_backward(dout, cache):
    """out = γ (x − μ_run)/s + β with s = √(σ²_run + ε) constant  ⇒  dx = dout γ / s (no mean or
    variance path: the statistics do not depend on x),  dγ = Σₙ dout x̂,  dβ = Σₙ dout."""
    x_hat, std, gamma = checks.cache_of(cache, BatchnormEvalCache, "batchnorm_eval")
    dout = checks.same_shape(dout, x_hat.shape)  # (N, D)
    dx = dout * (gamma / std)  # (N, D)
    dgamma = (dout * x_hat).sum(axis=0)  # (D,)
    dbeta = dout.sum(axis=0)  # (D,)
    return dx, dgamma, dbeta
