"""The losses as layers, CS231n's `softmax_loss` shape: loss, dlogits = <name>_loss(logits, y).

Every loss is the mean over the batch N; dlogits = ∂loss/∂logits has the logits' shape.

    cross_entropy_loss         logits (N, K), y (N,) ints       L = (1/N) Σₙ −log softmax(sₙ)[yₙ]
    binary_cross_entropy_loss  logits (N, 1), y (N,) 0/1        L = (1/N) Σₙ softplus(sₙ) − yₙ sₙ
    mse_loss                   logits (N, K), y (N, K) reals    L = (1/(N K)) Σ (s − y)²
    hinge_loss                 logits (N, K), y (N,) ints       L = (1/N) Σₙ Σ_{j≠yₙ} max(0, sₙⱼ − sₙ,yₙ + 1)

The first three are `manual.losses` (today's definitions, each derived there), with the
labels encoded as the network does. The hinge loss is CS231n's `svm_loss`:

    marginₙⱼ = sₙⱼ − sₙ,yₙ + 1 for j ≠ yₙ (0 for j = yₙ: the correct class is not counted)
    dsₙⱼ = [marginₙⱼ > 0] / N for j ≠ yₙ,   dsₙ,yₙ = −(Σ_{j≠yₙ} [marginₙⱼ > 0]) / N

NOTE: at margin exactly 0 the hinge has a kink; we take its derivative as 0 (as jax.nn.relu,
which the reference uses), not ½ (jnp.maximum's split tie).
"""

from __future__ import annotations

import numpy as np

from .. import losses as _losses
from . import checks


def _logits(logits, k_what="(N, K)"):
    logits = checks.float_array(logits, "logits", 2, what=f"2-D shape {k_what}")
    if logits.shape[0] < 1 or logits.shape[1] < 1:
        raise ValueError(f"logits must have shape {k_what} with N >= 1 and K >= 1, got {logits.shape}")
    return logits


def _class_ids(y, N, K):
    if not hasattr(y, "shape") or not hasattr(y, "dtype") or np.dtype(y.dtype).kind not in "iu":
        raise TypeError(f"y must be an integer array of shape ({N},) with class ids in 0 .. {K - 1}, "
                        f"got {type(y).__name__} {getattr(y, 'dtype', '')}".rstrip())
    if y.shape != (N,):
        raise ValueError(f"y must have shape ({N},) (one class id per row of logits), got {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= K):
        raise ValueError(f"y must hold class ids in 0 .. {K - 1} (K = {K} logits), got {y[(y < 0) | (y >= K)][0]}")
    return y


def _one_hot(y, K, dtype):
    Y = np.zeros((y.shape[0], K), dtype=dtype)  # (N, K)
    Y[np.arange(y.shape[0]), y] = 1.0
    return Y


def cross_entropy_loss(logits, y):
    """L = (1/N) Σₙ −log softmax(sₙ)[yₙ];  dL/ds = (softmax(s) − Y)/N, Y one-hot of y."""
    s = _logits(logits)  # (N, K)
    y = _class_ids(y, *s.shape)  # (N,)
    return _losses.cross_entropy(s, _one_hot(y, s.shape[1], s.dtype))


def binary_cross_entropy_loss(logits, y):
    """L = (1/N) Σₙ softplus(sₙ) − yₙ sₙ;  dL/ds = (σ(s) − y)/N. logits (N, 1), y (N,) of 0/1."""
    s = _logits(logits, "(N, 1)")  # (N, 1)
    if s.shape[1] != 1:
        raise ValueError(f"logits must have shape (N, 1) for binary_cross_entropy_loss, got {s.shape}")
    N = s.shape[0]
    if not hasattr(y, "shape") or not hasattr(y, "dtype") or np.dtype(y.dtype).kind not in "biuf":
        raise TypeError(f"y must be an array of shape ({N},) of 0/1 labels, got {type(y).__name__}")
    if y.shape != (N,):
        raise ValueError(f"y must have shape ({N},) (one 0/1 label per row of logits), got {y.shape}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y must hold 0/1 labels, got another value")
    return _losses.binary_cross_entropy(s, y.astype(s.dtype).reshape(N, 1))


def mse_loss(logits, y):
    """L = (1/(N K)) Σ (s − y)²;  dL/ds = 2 (s − y)/(N K). logits and y (N, K)."""
    s = _logits(logits)  # (N, K)
    y = checks.float_array(y, "y", shape=s.shape, what=f"shape {s.shape} (that of logits)")
    return _losses.mse(s, y.astype(s.dtype))


def hinge_loss(logits, y):
    """L = (1/N) Σₙ Σ_{j≠yₙ} max(0, sₙⱼ − sₙ,yₙ + 1);  dsₙⱼ = [marginₙⱼ > 0]/N (j ≠ yₙ),
    dsₙ,yₙ = −Σ_{j≠yₙ} [marginₙⱼ > 0] / N."""
    s = _logits(logits)  # (N, K)
    N, K = s.shape
    y = _class_ids(y, N, K)  # (N,)
    rows = np.arange(N)  # (N,)
    correct = s[rows, y][:, None]  # (N, 1) sₙ,yₙ
    margins = s - correct + 1.0  # (N, K)
    margins[rows, y] = 0.0  # the correct class is not counted
    positive = (margins > 0).astype(s.dtype)  # (N, K) NOTE: 0 at the kink margin = 0
    loss = float(np.maximum(margins, 0.0).sum() / N)
    ds = positive  # (N, K)
    ds[rows, y] = -positive.sum(axis=1)  # (N,) the correct class collects every active margin
    return loss, ds / N


LOSS_LAYERS = {
    "cross_entropy": cross_entropy_loss,
    "binary_cross_entropy": binary_cross_entropy_loss,
    "mse": mse_loss,
    "hinge": hinge_loss,
}
