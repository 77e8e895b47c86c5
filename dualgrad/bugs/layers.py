"""Classic layer mistakes (issue 12), each hunted by the layer property and shrunk.

Each `LayerMutation` is a plausible wrong forward or backward of one built-in layer of
`manual.layers`; `hunt` runs check_layer on it over that layer's cases
(`dualgrad.layer_cases.LAYERS`), seeded, so the table is the same on every run:

    python -m dualgrad.layer_bugs      # this table alone
    python -m dualgrad.bugs            # the network catalog, then this one

No patching: the wrong function is handed to check_layer directly, so nothing global changes.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import numpy as np

import manual.layers as M

from manual.layers import checks

from ..engine.layer_cases import LAYERS, check, loss_as_layer
from . import patching
from .patching import family_main, summary


class LayerMutation(NamedTuple):
    name: str  # short, for the table
    mistake: str  # the wrong line, in math
    layer: str  # a key of LAYERS
    forward: Optional[Callable] = None  # replaces the layer's forward (None: the right one)
    backward: Optional[Callable] = None  # replaces the layer's backward


# ---- the wrong code, one function per mistake ------------------------------------------------


def bn_without_mean_term(dout, cache):
    """dx = (dx̂ − x̂ mean₀(dx̂ x̂)) / s   (the mean path −mean₀ dx̂ forgotten)"""
    x_hat, _, std, gamma, _, _ = cache
    dx_hat = dout * gamma  # (N, D)
    dx = (dx_hat - x_hat * (dx_hat * x_hat).mean(axis=0)) / std
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def bn_without_variance_path(dout, cache):
    """dx = (dx̂ − mean₀ dx̂) / s   (σ² treated as a constant)"""
    x_hat, _, std, gamma, _, _ = cache
    dx_hat = dout * gamma
    return (dx_hat - dx_hat.mean(axis=0)) / std, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def bn_graph_n_minus_1(dout, cache):
    """dxc₂ = (2/(N − 1)) xc dv   (the unbiased variance's 1/(N − 1) in the backward of a biased forward)"""
    x_hat, xc, std, gamma, _, _ = cache
    N = x_hat.shape[0]
    dx_hat = dout * gamma
    dstd = -(dx_hat * xc).sum(axis=0) / (std * std)
    with np.errstate(divide="ignore", invalid="ignore"):  # N = 1: 1/0, part of the mistake
        dxc = dx_hat / std + (2.0 / np.float64(N - 1)) * xc * (dstd / (2.0 * std))
        dx = dxc - dxc.mean(axis=0)
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def bn_eps_forgotten(dout, cache):
    """s = √σ² in the backward   (ε dropped: the forward divided by √(σ² + ε))"""
    x_hat, _, _, gamma, _, var = cache
    dx_hat = dout * gamma
    with np.errstate(divide="ignore", invalid="ignore"):
        dx = (dx_hat - dx_hat.mean(axis=0) - x_hat * (dx_hat * x_hat).mean(axis=0)) / np.sqrt(var)
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def bn_dgamma_without_x_hat(dout, cache):
    """dγ = Σₙ dout   (x̂ forgotten: the gradient of β)"""
    dx, _, dbeta = M.batchnorm_backward(dout, cache)
    return dx, dout.sum(axis=0), dbeta


def bn_eval_with_batch_statistics(dout, cache):
    """eval dx = (dx̂ − mean₀ dx̂ − x̂ mean₀(dx̂ x̂)) / s   (training's backward: μ, σ² are constants in eval)"""
    x_hat, std, gamma = cache
    dx_hat = dout * gamma
    dx = (dx_hat - dx_hat.mean(axis=0) - x_hat * (dx_hat * x_hat).mean(axis=0)) / std
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def ln_over_the_batch_axis(x, gamma, beta, eps=1e-5):
    """μ, σ² over axis 0 (the batch) instead of the features: layernorm written as batchnorm"""
    return M.batchnorm_forward(x, gamma, beta, eps)


def ln_dgamma_wrong_axis(dout, cache):
    """dγ = Σ_d dout x̂ (axis −1): summed over the features instead of the rows"""
    dx, _, dbeta = M.layernorm_backward(dout, cache)
    return dx, (dout * cache.x_hat).sum(axis=-1), dbeta


def dropout_without_scale(dout, cache):
    """dx = dout ⊙ m   (the 1/(1 − p) of the forward forgotten)"""
    return (dout * (cache.scale > 0),)


def dropout_fresh_forward(x, p, seed):
    out, cache = M.dropout_forward(x, p, seed)
    return out, (cache, p, seed, x.shape)


def dropout_fresh_mask(dout, cache):
    """dx = dout ⊙ m′ / (1 − p), m′ a new mask (seed + 1) instead of the forward's"""
    _, p, seed, shape = cache
    return (dout * checks.dropout_mask(shape, p, int(seed) + 1) / (1.0 - p),)


def embedding_assignment(dout, cache):
    """dE[ids] += dout   (fancy assignment: a repeated id keeps only its last row)"""
    ids, (V, D), dtype = cache
    dE = np.zeros((V, D), dtype)
    dE[ids.reshape(-1)] += dout.reshape(-1, D)
    return dE


def hinge_counting_correct_class(logits, y):
    """L = (1/N) Σₙ Σⱼ max(0, sⱼ − s_y + 1)   (j = y included: every row adds 1)"""
    N = logits.shape[0]
    rows = np.arange(N)
    margins = logits - logits[rows, y][:, None] + 1.0
    positive = (margins > 0).astype(float)
    ds = positive.copy()
    ds[rows, y] -= positive.sum(axis=1)
    return float(np.maximum(margins, 0).sum() / N), ds / N


def ce_without_1_over_n(logits, y):
    """dL/ds = softmax(s) − Y   (the mean's 1/N forgotten in the gradient)"""
    loss, ds = M.cross_entropy_loss(logits, y)
    return loss, ds * logits.shape[0]


def mse_without_2(logits, y):
    """dL/ds = (s − y)/(N K)   (the 2 of the square forgotten)"""
    loss, ds = M.mse_loss(logits, y)
    return loss, ds / 2.0


def dense_dx_without_transpose(dout, cache):
    """dx = dout W   (Wᵀ forgotten; only shapes D = M survive it)"""
    x, W = cache
    return dout @ W if W.shape[0] == W.shape[1] else dout @ W.T * 0, x.T @ dout, dout.sum(axis=0)


def sigmoid_derivative_of_x(dout, cache):
    """dx = dout ⊙ x (1 − x)   (σ' = a(1 − a) applied to the input instead of a = σ(x))"""
    return (dout * cache.x * (1.0 - cache.x),)


def _loss(name, wrong):
    return loss_as_layer(wrong)[0]


CATALOG = (
    LayerMutation("batchnorm missing the mean of dx̂", "dx = (dx̂ − x̂ mean(dx̂ x̂))/s", "batchnorm", backward=bn_without_mean_term),
    LayerMutation("batchnorm missing the variance path", "dx = (dx̂ − mean dx̂)/s", "batchnorm", backward=bn_without_variance_path),
    LayerMutation("batchnorm n − 1 instead of n", "dxc₂ = 2/(N−1) xc dv", "batchnorm_graph", backward=bn_graph_n_minus_1),
    LayerMutation("batchnorm ε forgotten in backward", "s = √σ²", "batchnorm", backward=bn_eps_forgotten),
    LayerMutation("batchnorm dγ without x̂", "dγ = Σ dout", "batchnorm", backward=bn_dgamma_without_x_hat),
    LayerMutation("eval-mode backward with batch statistics", "dx = training's short form", "batchnorm_eval",
                  backward=bn_eval_with_batch_statistics),
    LayerMutation("layernorm over the batch axis", "μ, σ² over axis 0", "layernorm", forward=ln_over_the_batch_axis,
                  backward=M.batchnorm_backward),
    LayerMutation("layernorm dγ over the wrong axis", "dγ = Σ_d dout x̂", "layernorm", backward=ln_dgamma_wrong_axis),
    LayerMutation("dropout without 1/(1 − p) in backward", "dx = dout ⊙ m", "dropout", backward=dropout_without_scale),
    LayerMutation("dropout with a fresh mask in backward", "dx = dout ⊙ m′/(1 − p)", "dropout",
                  forward=dropout_fresh_forward, backward=dropout_fresh_mask),
    LayerMutation("embedding assignment instead of np.add.at", "dE[ids] += dout", "embedding", backward=embedding_assignment),
    LayerMutation("hinge counting the correct class", "Σⱼ over all j", "hinge_loss",
                  forward=_loss("hinge", hinge_counting_correct_class)),
    LayerMutation("cross_entropy_loss missing 1/N", "dL/ds = P − Y", "cross_entropy_loss",
                  forward=_loss("cross_entropy", ce_without_1_over_n)),
    LayerMutation("mse_loss missing the factor 2", "dL/ds = (s − y)/NK", "mse_loss", forward=_loss("mse", mse_without_2)),
    LayerMutation("dense dx without the transpose", "dx = dout W", "dense", backward=dense_dx_without_transpose),
    LayerMutation("sigmoid layer derivative of x", "dx = dout x(1 − x)", "sigmoid", backward=sigmoid_derivative_of_x),
)


class LayerBugResult(NamedTuple):
    name: str
    layer: str
    caught: bool
    examples: int  # until caught (or run, when not caught)
    counterexample: str  # the shrunk case: dims and hyperparameters
    message: str  # first line of the shrunk failure

    @property
    def calls(self) -> int:
        """The examples run (the table's 'not in N' when not caught)."""
        return self.examples


def hunt(mutation: LayerMutation, max_examples: int = 300, seed: int = 0) -> LayerBugResult:
    result = check(mutation.layer, examples=max_examples, seed=seed, forward=mutation.forward,
                   backward=mutation.backward)
    if result.passed:
        return LayerBugResult(mutation.name, mutation.layer, False, result.examples, "", "")
    return LayerBugResult(mutation.name, mutation.layer, True, result.examples, result.counterexample.describe(),
                          result.message.splitlines()[0])


def table(results) -> str:
    return patching.table(results, "layer", lambda r: r.layer)


def run_all(max_examples: int = 300, messages: bool = False) -> tuple:
    """(text, all caught): the table (and each shrunk failure's message)."""
    results = [hunt(m, max_examples) for m in CATALOG]
    text, all_caught = summary(table(results), results, "layer mistakes", messages)
    return f"{text} (at most {max_examples} examples each, seed 0)", all_caught


main = family_main(run_all, "Hunt each classic layer mistake with the layer property.")


assert all(m.layer in LAYERS for m in CATALOG)

if __name__ == "__main__":
    raise SystemExit(main())
