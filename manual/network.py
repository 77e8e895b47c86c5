"""The forward pass with its cache, and backprop layer by layer.

Shapes: N is the batch, layer l maps fan_in = sizes[l-1] units to
fan_out = sizes[l] units. For L layers:

    a₀ = X                                   (N, sizes[0])
    z_l = a_{l-1} W_l + b_l                  (N, sizes[l])
    a_l = f_l(z_l)        for l < L          (hidden activations)
    s = z_L                                  (N, sizes[L]) the logits
    loss = head_loss(s, Y) + (λ/2) Σ_l ‖W_l‖²

Backward, with d<name> = ∂loss/∂<name> throughout:

    ds = head gradient (for example (softmax(s) − Y) / N)
    dW_l = a_{l-1}ᵀ dz_l + λ W_l,   db_l = Σₙ dz_l,   da_{l-1} = dz_l W_lᵀ
    dz_{l-1} = da_{l-1} ⊙ f'_{l-1}(z_{l-1})
"""

from __future__ import annotations

from typing import List, NamedTuple, Tuple

import numpy as np

from .activations import get_activation
from .losses import get_loss, row_losses
from .spec import NetworkSpec
from .validation import check_inputs, check_params, check_sample_weight, check_spec, encode_targets, params_dtype


class LayerCache(NamedTuple):
    """What one layer's forward keeps for its backward."""

    a_in: np.ndarray  # (N, fan_in)  the layer's input a_{l-1}, for dW = a_inᵀ dz
    z: np.ndarray  # (N, fan_out)  pre-activation, for f'(z)
    a: np.ndarray  # (N, fan_out)  activation f(z), for f' written in a (σ, tanh); the logits' layer keeps a = z


def dense_forward(a_in, W, b):
    """z = a W + b"""
    return a_in @ W + b  # (N, fan_in) @ (fan_in, fan_out) + (fan_out,) -> (N, fan_out)


def dense_backward(dz, a_in, W):
    """z = a W + b  ⇒  dW = aᵀ dz,  db = Σₙ dz,  da = dz Wᵀ."""
    dW = a_in.T @ dz  # (fan_in, N) @ (N, fan_out) -> (fan_in, fan_out)
    db = dz.sum(axis=0)  # (fan_out,)
    da = dz @ W.T  # (N, fan_out) @ (fan_out, fan_in) -> (N, fan_in)
    return da, dW, db


def forward_with_cache(spec: NetworkSpec, params, X) -> Tuple[np.ndarray, List[LayerCache]]:
    """The logits s = z_L and every layer's cache. Inputs are assumed checked."""
    caches = []
    a = X  # (N, sizes[0])
    for l, (W, b) in enumerate(params):
        z = dense_forward(a, W, b)  # (N, sizes[l+1])
        is_last = l == len(params) - 1
        a_next = z if is_last else get_activation(spec.hidden[l]).forward(z)  # (N, sizes[l+1])
        caches.append(LayerCache(a, z, a_next))  # a: (N, sizes[l]), z and a_next: (N, sizes[l+1])
        a = a_next
    return a, caches  # logits: (N, sizes[-1])


def activation_backward(da, cache: LayerCache, name: str):
    """a = f(z)  ⇒  dz = da ⊙ f'(z)."""
    return da * get_activation(name).derivative(cache.z, cache.a)  # (N, fan_out)


def l2_backward(dW, W, l2: float):
    """(λ/2)‖W‖² adds λ W to dW."""
    return dW + l2 * W if l2 else dW  # (fan_in, fan_out)


def backward(spec: NetworkSpec, params, caches: List[LayerCache], ds, deltas=None) -> list:
    """[(dW, db), ...] from the logits' gradient ds, walking the layers in reverse.

    deltas -- optionally a list: it receives every dz_l (N, sizes[l]), first layer first
              (`dualgrad explain` shows and checks them).
    """
    grads = [None] * len(params)
    dzs = [None] * len(params)
    dz = ds  # (N, sizes[-1]): the last layer's z is the logits
    for l in reversed(range(len(params))):
        W, _ = params[l]  # (fan_in, fan_out)
        dzs[l] = dz
        da_in, dW, db = dense_backward(dz, caches[l].a_in, W)  # da_in: (N, fan_in)
        grads[l] = (l2_backward(dW, W, spec.l2), db)  # (fan_in, fan_out), (fan_out,)
        if l > 0:
            dz = activation_backward(da_in, caches[l - 1], spec.hidden[l - 1])  # (N, fan_in)
    if deltas is not None:
        deltas.extend(dzs)
    return grads


def l2_penalty(spec: NetworkSpec, params) -> float:
    """(λ/2) Σ_l ‖W_l‖²  (biases are not penalised)."""
    if not spec.l2:
        return 0.0
    return 0.5 * spec.l2 * sum(float(np.sum(W * W)) for W, _ in params)


def _checked(spec, params, X):
    check_spec(spec)
    params = check_params(spec, params)
    X = check_inputs(spec, X, dtype=params_dtype(params))
    return params, X


def forward(spec: NetworkSpec, params, X) -> np.ndarray:
    """The head's output: σ(s) (N, 1) for binary_cross_entropy, softmax(s) (N, K) for
    cross_entropy, s itself (N, K) for mse."""
    params, X = _checked(spec, params, X)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below, not warned
        logits, _ = forward_with_cache(spec, params, X)
        out = get_loss(spec.loss).output(logits)  # (N, sizes[-1])
    if not np.isfinite(out).all():
        raise ValueError(f"the output overflowed {X.dtype} although X and params are finite: their magnitudes "
                         f"are too large; expected values whose products stay below {np.finfo(X.dtype).max:.1e} "
                         "(rescale X)")
    return out


def loss(spec: NetworkSpec, params, X, y) -> float:
    """The scalar loss, L2 penalty included."""
    value, _ = loss_and_grads(spec, params, X, y)
    return value


def loss_and_grads(spec: NetworkSpec, params, X, y, sample_weight=None) -> Tuple[float, list]:
    """(loss, [(dW, db), ...]) by hand: forward with caches, then backprop in reverse.

    Computed in the dtype of `params` (float64 or float32); the inputs are never modified.

    sample_weight -- optionally w (N,), wₙ ≥ 0 with Σ wₙ > 0: the data term becomes the
    weighted mean Σₙ wₙ ℓₙ / Σₙ wₙ of the rows' own losses ℓₙ (scikit-learn's convention:
    integer weights equal repeating rows, all-equal weights equal none); the L2 term is not
    weighted. Only ds changes: row n of the unweighted ds is ∂ℓₙ/∂sₙ / N, so

        ds_w = (N wₙ / Σ w) ⊙ ds,     and the backward pass is the same.
    """
    params, X = _checked(spec, params, X)
    Y = encode_targets(spec, y, X.shape[0], dtype=X.dtype)  # (N, sizes[-1])
    w = None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0], X.dtype)  # (N,)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below, not warned
        logits, caches = forward_with_cache(spec, params, X)
        value, ds = get_loss(spec.loss).value_and_dlogits(logits, Y)
        if w is not None:
            value, ds = weighted_value_and_dlogits(spec, logits, Y, ds, w)
        grads = backward(spec, params, caches, ds)
        value += l2_penalty(spec, params)
    _check_overflow(value, grads, X.dtype)
    return value, grads


def weighted_value_and_dlogits(spec: NetworkSpec, logits, Y, ds, w):
    """(Σ wₙ ℓₙ / Σ w, ds_w) from the unweighted ds (N, K) and weights w (N,) (see loss_and_grads)."""
    share = w / w.sum()  # (N,) wₙ / Σ w
    value = float(np.dot(share, row_losses(spec.loss, logits, Y)))  # Σ wₙ ℓₙ / Σ w
    return value, ds * (logits.shape[0] * share)[:, None]  # (N, K)


def _check_overflow(value, grads, dtype):
    """Finite inputs can still overflow (|X| ~ 1e200 squared): a ValueError, never a silent inf or NaN."""
    if np.isfinite(value) and all(np.isfinite(dW).all() and np.isfinite(db).all() for dW, db in grads):
        return
    raise ValueError(f"the loss or a gradient overflowed {np.dtype(dtype)} (loss = {value}) although X and "
                     f"params are finite: their magnitudes are too large; expected values whose products and "
                     f"squares stay below {np.finfo(dtype).max:.1e} (rescale X or the targets)")
