"""Losses computed from the logits s (the last layer's z), with dL/ds.

Each loss fuses its output head with the loss, so that nothing overflows and
nothing needs ε-clipping: for logits of ±1000 the loss and its gradient stay
finite and exact to rounding. Y is the target matrix from
`validation.encode_targets`, N the batch, K the number of outputs.

    binary_cross_entropy:  p = σ(s),        L = (1/N) Σₙ softplus(sₙ) − yₙ sₙ,   dL/ds = (p − Y) / N
    cross_entropy:         P = softmax(s),  L = (1/N) Σₙ logsumexp(sₙ) − Yₙ·sₙ,  dL/ds = (P − Y) / N
    (each computed in the cancellation-free form shown in its docstring)
    mse:                   ŷ = s,           L = (1/(N K)) Σₙₖ (ŷ − Y)²,           dL/ds = 2 (ŷ − Y) / (N K)

The first two are −log p of the true class written in log space:
−[y log σ(s) + (1 − y) log(1 − σ(s))] = softplus(s) − y s, and
−Σₖ Yₖ log softmaxₖ(s) = logsumexp(s) − Y·s when Σₖ Yₖ = 1.
"""

from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Tuple

import numpy as np

from . import spec as _spec
from .activations import sigmoid


class Loss(NamedTuple):
    """A loss and its head: `output(s)` gives predictions, `value_and_dlogits(s, Y)` gives (L, dL/ds)."""

    name: str
    output: Callable[[np.ndarray], np.ndarray]
    value_and_dlogits: Callable[[np.ndarray, np.ndarray], Tuple[float, np.ndarray]]


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


LOSSES: Dict[str, Loss] = {
    "binary_cross_entropy": Loss("binary_cross_entropy", sigmoid, binary_cross_entropy),
    "cross_entropy": Loss("cross_entropy", softmax, cross_entropy),
    "mse": Loss("mse", lambda s: s, mse),
}


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


BUILT_IN = tuple(LOSSES)


def register_loss(name: str, value_and_dlogits, output=None, targets: str = "real", head: str = "identity") -> Loss:
    """Add a loss of the logits s: `value_and_dlogits(s, Y) -> (L, dL/ds)`, the mean over the batch.

    output   -- `output(s) -> predictions` (the head; default: the identity)
    targets  -- what y holds: "real" (Y (N, K), as mse), "classes" (class indices or one-hot, as
                cross_entropy) or "binary" (0/1 with one output, as binary_cross_entropy)
    head     -- the head's name, shown in reports ("identity", "sigmoid", ...)

    The name becomes valid in `NetworkSpec` at once. Register the JAX twin with
    `reference.register_loss(name, fn)` so that verification covers it.
    """
    if not callable(value_and_dlogits) or (output is not None and not callable(output)):
        raise TypeError("register_loss needs callables: value_and_dlogits(s, Y) and, optionally, output(s)")
    _spec.register_loss_name(name, head, targets)
    LOSSES[name] = Loss(name, output or (lambda s: s), value_and_dlogits)
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
