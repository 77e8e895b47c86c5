"""Losses computed from the logits s (the last layer's z), with dL/ds.

Each loss fuses its output head with the loss, so that nothing overflows and
nothing needs ε-clipping: for logits of ±1000 the loss and its gradient stay
finite and exact to rounding. Y is the target matrix from
`validation.encode_targets`, N the batch, K the number of outputs.

    binary_cross_entropy:  p = σ(s),        L = (1/N) Σₙ softplus(sₙ) − yₙ sₙ,   dL/ds = (p − Y) / N
    cross_entropy:         P = softmax(s),  L = (1/N) Σₙ logsumexp(sₙ) − Yₙ·sₙ,  dL/ds = (P − Y) / N
    (each computed in the cancellation-free form shown in its docstring)
    mse:                   ŷ = s,           L = (1/(N K)) Σₙₖ (ŷ − Y)²,           dL/ds = 2 (ŷ − Y) / (N K)

Second order (manual/second_order.py): each built-in loss also gives ∂²L/∂s² applied to a
direction v of the logits (N, K), row by row (the loss of row n depends on sₙ only):

    binary_cross_entropy:  p (1 − p) v / N
    cross_entropy:         (Σₖ Yₖ) P ⊙ (v − P·v) / N          (diag P − P Pᵀ per row)
    mse:                   2 v / (N K)

All three are positive semi-definite in s (the losses are convex in the logits), which makes the
Gauss-Newton product PSD. And `row_losses` gives each row's own loss ℓₙ (L = mean ℓₙ), for the
weighted mean Σ wₙ ℓₙ / Σ wₙ of `loss_and_grads(..., sample_weight=w)`.

The first two are −log p of the true class written in log space:
−[y log σ(s) + (1 − y) log(1 − σ(s))] = softplus(s) − y s, and
−Σₖ Yₖ log softmaxₖ(s) = logsumexp(s) − Y·s when Σₖ Yₖ = 1.
"""

from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Optional, Tuple

import numpy as np

from . import spec as _spec
from .activations import sigmoid


class Loss(NamedTuple):
    """A loss and its head: `output(s)` gives predictions, `value_and_dlogits(s, Y)` gives (L, dL/ds),
    and, when known, `hessian_vector(s, Y, v)` gives ∂²L/∂s² v (N, K) (None: the curvature
    products refuse the loss)."""

    name: str
    output: Callable[[np.ndarray], np.ndarray]
    value_and_dlogits: Callable[[np.ndarray, np.ndarray], Tuple[float, np.ndarray]]
    hessian_vector: Optional[Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = None


def softmax(s):
    """P = exp(s − max s) / Σₖ exp(s − max s), row by row (shifting by the max keeps exp ≤ 1)."""
    e = np.exp(s - s.max(axis=1, keepdims=True))  # (N, K)
    return e / e.sum(axis=1, keepdims=True)  # (N, K)


def binary_cross_entropy(s, Y):
    """L = (1/N) Σₙ softplus(qₙ sₙ) with q = 1 − 2y;  dL/ds = q σ(q s) / N = (σ(s) − Y) / N.

    For y ∈ {0, 1}, softplus(s) − y s = softplus(q s): one log-space term with no
    cancellation, so a confident right answer (s = 30, y = 1) keeps its tiny loss
    and gradient to full relative precision.
    """
    N = s.shape[0]  # s, Y: (N, 1)
    q = 1.0 - 2.0 * Y  # (N, 1), +1 for y = 0 and −1 for y = 1
    loss = np.mean(np.logaddexp(0.0, q * s))
    ds = q * sigmoid(q * s) / N  # (N, 1)
    return float(loss), ds


def cross_entropy(s, Y):
    """L = −(1/N) Σₙ Yₙ·log softmax(sₙ);  dL/ds = (softmax(s) − Y) / N.

    log softmax(s) = t − logsumexp(t) with t = s − max s (the shift cancels), so
    a confident right answer keeps its tiny loss to full relative precision.
    """
    N = s.shape[0]  # s, Y: (N, K)
    t = s - s.max(axis=1, keepdims=True)  # (N, K), every entry ≤ 0
    log_p = t - np.log(np.exp(t).sum(axis=1, keepdims=True))  # (N, K) log-probabilities
    loss = -np.mean((Y * log_p).sum(axis=1))
    ds = (np.exp(log_p) - Y) / N  # (N, K)
    return float(loss), ds


def mse(s, Y):
    """L = (1/(N K)) Σ (s − Y)²;  dL/ds = 2 (s − Y) / (N K)."""
    r = s - Y  # (N, K) residuals
    loss = np.mean(r * r)
    ds = 2.0 * r / r.size  # (N, K)
    return float(loss), ds


def binary_cross_entropy_hessian_vector(s, Y, v):
    """∂²L/∂s² v = p (1 − p) v / N,  p = σ(s)   (softplus'' = σ'; the −y s term is linear).

    p (1 − p) is computed as σ(s) σ(−s): 1 − p from a rounded p ≈ 1 would be 0 (or garbage).
    """
    return sigmoid(s) * sigmoid(-s) * v / s.shape[0]  # (N, 1)


def cross_entropy_hessian_vector(s, Y, v):
    """∂²L/∂s² v = (Σₖ Yₖ) P ⊙ (v − P·v) / N,  P = softmax(s)  (row by row: diag P − P Pᵀ).

    −Σₖ Yₖ log softmaxₖ(s) = (Σₖ Yₖ) logsumexp(s) − Y·s, and logsumexp'' = diag P − P Pᵀ.
    v_k − P·v is computed as v_k Σ_{j≠k} P_j − Σ_{j≠k} P_j v_j (ΣP = 1), each sum over the other
    entries only: for a saturated row (P ≈ [1, 1e-47]) the naive v_k − P·v loses 1 − P_k to
    rounding, and ⟨v, H v⟩ = ½ Σ_jk P_j P_k (v_j − v_k)² could come out negative.
    """
    P = softmax(s)  # (N, K)
    d = v * _others_sum(P) - _others_sum(P * v)  # (N, K) v_k − P·v
    return Y.sum(axis=1, keepdims=True) * P * d / s.shape[0]  # (N, K)


def _others_sum(x):
    """Σ_{j≠k} x_j for every k of every row (N, K), as the sums before and after k (no x_k subtracted)."""
    zero = np.zeros_like(x[:, :1])  # (N, 1)
    before = np.concatenate([zero, np.cumsum(x[:, :-1], axis=1)], axis=1)  # (N, K)
    after = np.concatenate([np.cumsum(x[:, :0:-1], axis=1)[:, ::-1], zero], axis=1)  # (N, K)
    return before + after


def mse_hessian_vector(s, Y, v):
    """∂²L/∂s² v = 2 v / (N K)."""
    return 2.0 * v / v.size  # (N, K)


LOSSES: Dict[str, Loss] = {
    "binary_cross_entropy": Loss("binary_cross_entropy", sigmoid, binary_cross_entropy,
                                 binary_cross_entropy_hessian_vector),
    "cross_entropy": Loss("cross_entropy", softmax, cross_entropy, cross_entropy_hessian_vector),
    "mse": Loss("mse", lambda s: s, mse, mse_hessian_vector),
}

# Each row's own loss ℓₙ (N,), with L = (1/N) Σₙ ℓₙ: the cancellation-free forms above, row by row.
ROW_LOSSES = {
    "binary_cross_entropy": lambda s, Y: np.logaddexp(0.0, (1.0 - 2.0 * Y) * s)[:, 0],  # softplus(q s)
    "cross_entropy": lambda s, Y: -(Y * _log_softmax(s)).sum(axis=1),  # −Yₙ·log softmax(sₙ)
    "mse": lambda s, Y: ((s - Y) ** 2).mean(axis=1),  # (1/K) Σₖ (sₙₖ − Yₙₖ)²
}


def _log_softmax(s):
    t = s - s.max(axis=1, keepdims=True)  # (N, K), every entry ≤ 0
    return t - np.log(np.exp(t).sum(axis=1, keepdims=True))  # (N, K)


def row_losses(name: str, s, Y) -> np.ndarray:
    """ℓ (N,): each row's own loss, L = mean ℓ. A registered loss (the mean over the batch of a
    per-example loss, register_loss's contract) is evaluated on each row as a batch of one."""
    loss = get_loss(name)
    if name in ROW_LOSSES and loss is _BUILT_IN_ENTRIES[name]:
        return ROW_LOSSES[name](s, Y)
    return np.array([loss.value_and_dlogits(s[n:n + 1], Y[n:n + 1])[0] for n in range(s.shape[0])], dtype=s.dtype)


def sigmoid_mse(s, Y):
    """p = σ(s),  L = (1/(N K)) Σ (p − Y)²;  dL/ds = 2 (p − Y) ⊙ p (1 − p) / (N K).

    The squared error of a sigmoid head (the network of many first courses). Unlike the
    fused heads above, σ' = p (1 − p) does not cancel: saturated units learn slowly. Not
    in LOSSES: `dualgrad` registers it (as "sigmoid_mse") when a check asks for head="sigmoid"
    with mse.
    """
    p = sigmoid(s)  # (N, K)
    r = p - Y  # (N, K)
    loss = np.mean(r * r)
    ds = 2.0 * r * p * (1.0 - p) / r.size  # (N, K)
    return float(loss), ds


def sigmoid_mse_hessian_vector(s, Y, v):
    """∂²L/∂s² v = 2 [p'² + (p − Y) p''] v / (N K),  p = σ(s),  p' = p (1 − p),  p'' = p' (1 − 2p)."""
    p = sigmoid(s)  # (N, K)
    dp = p * (1.0 - p)  # (N, K)
    return 2.0 * (dp * dp + (p - Y) * dp * (1.0 - 2.0 * p)) * v / v.size  # (N, K)


BUILT_IN = tuple(LOSSES)
_BUILT_IN_ENTRIES = dict(LOSSES)
# Second derivatives of losses this module writes but does not list in LOSSES (dualgrad registers
# sigmoid_mse on demand): register_loss attaches them when given the function they belong to.
_KNOWN_HESSIANS = {sigmoid_mse: sigmoid_mse_hessian_vector}


def register_loss(name: str, value_and_dlogits, output=None, targets: str = "real", head: str = "identity",
                  hessian_vector=None) -> Loss:
    """Add a loss of the logits s: `value_and_dlogits(s, Y) -> (L, dL/ds)`, the mean over the batch.

    output   -- `output(s) -> predictions` (the head; default: the identity)
    targets  -- what y holds: "real" (Y (N, K), as mse), "classes" (class indices or one-hot, as
                cross_entropy) or "binary" (0/1 with one output, as binary_cross_entropy)
    head     -- the head's name, shown in reports ("identity", "sigmoid", ...)
    hessian_vector -- optionally `hessian_vector(s, Y, v) -> ∂²L/∂s² v` (N, K); without it the
                curvature products (`hessian_vector_product`, `gauss_newton_vector_product`)
                refuse the loss (manual.losses.sigmoid_mse gets its own automatically)

    The name becomes valid in `NetworkSpec` at once. Register the JAX twin with
    `reference.register_loss(name, fn)` so that verification covers it.
    """
    if not callable(value_and_dlogits) or (output is not None and not callable(output)):
        raise TypeError("register_loss needs callables: value_and_dlogits(s, Y) and, optionally, output(s)")
    if hessian_vector is not None and not callable(hessian_vector):
        raise TypeError(f"hessian_vector must be a callable (s, Y, v) -> ∂²L/∂s² v or None, got {hessian_vector!r}")
    _spec.register_loss_name(name, head, targets)
    hessian_vector = hessian_vector or _KNOWN_HESSIANS.get(value_and_dlogits)
    LOSSES[name] = Loss(name, output or (lambda s: s), value_and_dlogits, hessian_vector)
    return LOSSES[name]


def unregister_loss(name: str) -> None:
    """Remove a loss added with `register_loss`; built-in losses cannot be removed."""
    if name in BUILT_IN:
        raise ValueError(f"{name!r} is a built-in loss and cannot be unregistered")
    if name not in LOSSES:
        raise ValueError(f"loss {name!r} is not registered")
    del LOSSES[name]
    _spec.unregister_loss_name(name)


def get_loss(name: str) -> Loss:
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; valid names: {', '.join(LOSSES)}") from None
