"""The losses of manual/losses.py written into preallocated arrays, for the training step.

    value = loss(s, Y, ds, row)     ds ← dL/ds;  s (the logits) is overwritten

s, Y, ds: (N, K); row: (N, 1) scratch. Same formulas as manual/losses.py, step
for step; only the sums behind the scalar loss may add in another order (one
dot product instead of a product array and a mean), so the value agrees to
rounding and ds agrees bit for bit.

`fused(name)` returns the in-place form while manual.losses.LOSSES still holds
the built-in entry, else `generic` around whatever the table holds now.
"""

from __future__ import annotations

import numpy as np

from . import losses as _losses
from .inplace_activations import _sigmoid_into

_BUILT_IN_ENTRIES = dict(_losses.LOSSES)


def cross_entropy(s, Y, ds, row):
    """L = −(1/N) Σₙ Yₙ·log softmax(sₙ);  dL/ds = (softmax(s) − Y) / N,
    log softmax(s) = t − logsumexp(t),  t = s − max s."""
    N = s.shape[0]  # s, Y, ds: (N, K)
    np.max(s, axis=1, keepdims=True, out=row)  # (N, 1)
    s -= row  # t, every entry ≤ 0
    np.exp(s, out=ds)
    np.sum(ds, axis=1, keepdims=True, out=row)
    np.log(row, out=row)  # (N, 1) logsumexp(t)
    s -= row  # log p
    value = -np.vdot(Y, s) / N  # −(1/N) Σₙₖ Yₙₖ log pₙₖ
    np.exp(s, out=ds)
    ds -= Y
    ds /= N
    return float(value)


def binary_cross_entropy(s, Y, ds, row):
    """L = (1/N) Σₙ softplus(qₙ sₙ),  q = 1 − 2y;  dL/ds = q σ(q s) / N."""
    N = s.shape[0]  # s, Y, ds, row: (N, 1)
    q = row
    np.multiply(Y, -2.0, out=q)
    q += 1.0  # 1 − 2y: +1 for y = 0, −1 for y = 1
    s *= q  # q s
    np.logaddexp(0.0, s, out=ds)
    value = ds.mean()
    _sigmoid_into(s, ds)
    ds *= q
    ds /= N
    return float(value)


def mse(s, Y, ds, row):
    """L = (1/(N K)) Σ (s − Y)²;  dL/ds = 2 (s − Y) / (N K)."""
    r = s  # (N, K)
    r -= Y  # residuals
    value = np.vdot(r, r) / r.size
    np.multiply(r, 2.0, out=ds)
    ds /= r.size
    return float(value)


INPLACE = {"cross_entropy": cross_entropy, "binary_cross_entropy": binary_cross_entropy, "mse": mse}
assert set(INPLACE) == set(_losses.LOSSES)


def generic(loss: _losses.Loss):
    """Any `Loss`: calls its value_and_dlogits and copies ds in."""

    def inplace(s, Y, ds, row):
        value, grad = loss.value_and_dlogits(s, Y)
        np.copyto(ds, grad, casting="same_kind")
        return float(value)

    return inplace


def fused(name: str):
    """The in-place form of loss `name` (see the module docstring)."""
    current = _losses.get_loss(name)
    if name in INPLACE and current is _BUILT_IN_ENTRIES.get(name):
        return INPLACE[name]
    return generic(current)
