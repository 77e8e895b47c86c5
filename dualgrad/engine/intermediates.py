"""The makemore "backprop ninja" check: a user's intermediate gradients against JAX's, in backward order.

A user's whole-network function may return, as a further last element, a dict of the
gradients it computed on the way back (`dualgrad.engine.implementation`):

    fn(params, X, y) -> (loss, grads, intermediates)   or (loss, grads, output, intermediates)

    keys (1-based layers l = 1 … L, as every report; any subset):
      "dlogits" or "dz{L}"   dL/dz_L (N, K), the last layer's pre-activation (the logits); not both
      "dz{l}"                dL/dz_l (N, n_l), z_l = a_{l−1} W_l + b_l
      "da{l}"                dL/da_l (N, n_l), a_l = f(z_l), for hidden layers l = 1 … L − 1
    L is the user's loss under their conventions (a sum over the batch makes every one N × ours);
    the L2 penalty changes none of them.

The expected values come from JAX: the bucketed forward (`reference.bucketed`, one compiled
program per bucket shape) with a zero shift added to every z_l and a_l as explicit variables,
whose gradients are dL/dz_l and dL/da_l (jax.grad with respect to the shifts).

Backward order is dz_L (dlogits), da_{L−1}, dz_{L−1}, …, da_1, dz_1; each step between two of
them is one line of the derivation:

    dlogits = ∂L/∂z_L                      the loss and head's derivative (ŷ − Y, over N)
    da_{l}  = dz_{l+1} W_{l+1}ᵀ            the product with W_{l+1}ᵀ
    dz_{l}  = da_{l} ⊙ f'(z_{l})           the activation's derivative

so the first one that differs, after one that agrees, names the step that is wrong.
"""

from __future__ import annotations

from functools import lru_cache
from typing import List, Optional, Tuple

import numpy as np

from .implementation import check_keys as check_keys  # reading the user's dict: where the other readers are
from .implementation import name_of as name_of

def expected(spec, conv, params, X, y, other_side: bool = False):
    """{(kind, layer): dL/d(kind)_layer (N, n_layer)} in the user's units (times the conventions' factor c)."""
    from manual.validation import encode_targets
    from reference import bucketed
    from reference.activations import OTHER_SIDE

    Y = encode_targets(spec, y, X.shape[0])
    table = bucketed._branch_table(OTHER_SIDE if other_side else None)
    padded = bucketed._pad(spec, params, X, Y)
    Ws, bs, Xp = padded[:3]
    shifts = np.zeros((2,) + (Ws.shape[0],) + Xp.shape)  # (2, L, B, D): z shifts, a shifts
    if spec.loss in bucketed.LOSS_CODES:
        g = np.asarray(_compiled(table)(shifts, *padded))
    else:
        g = _registered(spec, table, padded, shifts, Y)
    n = X.shape[0]
    c = conv.loss_factor(spec.loss, n, spec.sizes[-1])
    out = {}
    for l in range(1, spec.n_layers + 1):
        width = spec.sizes[l]
        out[("z", l)] = c * g[0, l - 1, :n, :width]
        if l < spec.n_layers:
            out[("a", l)] = c * g[1, l - 1, :n, :width]
    return out


def _forward(Ws, bs, X, codes, shifts, branches):
    a = X  # (B, D)
    zs = []
    for l in range(Ws.shape[0]):
        z = a @ Ws[l] + bs[l] + shifts[0, l]  # (B, D)
        zs.append(z)
        a = _switch(codes[l], branches, z) + shifts[1, l]
    return zs


def _switch(code, branches, z):
    import jax

    return jax.lax.switch(code, branches, z)


@lru_cache(maxsize=None)
def _compiled(branch_table):
    """jax.grad of the bucketed loss with respect to the shifts of every z_l and a_l (jit: once per bucket)."""
    import jax
    import jax.numpy as jnp
    from reference import bucketed

    branches = [bucketed._never_taken if fn is None else fn for _, fn in branch_table]

    def data_loss(shifts, Ws, bs, X, Y, codes, last, loss_code, row_mask, out_mask, n, k, l2, layer_mask):
        s = jnp.stack(_forward(Ws, bs, X, codes, shifts, branches))[last]  # (B, D) the logits
        value, _ = jax.lax.switch(loss_code, bucketed._masked_losses(s, Y, row_mask, out_mask, n, k), None)
        return value

    return jax.jit(jax.grad(data_loss))


@lru_cache(maxsize=None)
def _compiled_pullback(branch_table):
    """For a registered loss: the gradient of Σ s ⊙ G (G = dL/ds on the padded logits) w.r.t. the shifts."""
    import jax
    import jax.numpy as jnp
    from reference import bucketed

    branches = [bucketed._never_taken if fn is None else fn for _, fn in branch_table]

    def pulled(shifts, Ws, bs, X, codes, last, G):
        return jnp.sum(jnp.stack(_forward(Ws, bs, X, codes, shifts, branches))[last] * G)

    return jax.jit(jax.grad(pulled))


def _registered(spec, table, padded, shifts, Y):
    from reference import bucketed
    from reference import losses as _losses

    Ws, bs, Xp, _, codes, last = padded[:6]
    n, k = Y.shape
    B = Xp.shape[0]
    logits_fn, _ = bucketed._compiled_split(table)
    s = np.array(logits_fn(Ws, bs, Xp, codes, last)[:, :k])
    s[n:], Ys = s[0], np.concatenate([Y, np.repeat(Y[:1], B - n, axis=0)])
    row_mask = (np.arange(B) < n).astype(np.float64)
    value_and_grad, _ = bucketed._compiled_loss(_losses.get_loss(spec.loss), _losses.HEADS[spec.loss])
    _, G = value_and_grad(s, Ys, row_mask, np.float64(n))
    Gp = np.zeros((B, Ws.shape[2]))
    Gp[:, :k] = np.asarray(G)
    return np.asarray(_compiled_pullback(table)(shifts, Ws, bs, Xp, codes, last, Gp))


# ---- the rows and the sentence ------------------------------------------------------------------


def backward_order(L: int) -> List[Tuple[str, int]]:
    """[('z', L), ('a', L−1), ('z', L−1), …, ('a', 1), ('z', 1)]."""
    order = [("z", L)]
    for l in range(L - 1, 0, -1):
        order += [("a", l), ("z", l)]
    return order


def rows(user: dict, ref: dict, spec, conv, names) -> tuple:
    """GradientRows of the returned intermediates, in backward order (layer = l, name = 'dz'/'da'/'dlogits')."""
    from .compare import leaf_error
    from .report import GradientRow

    L = spec.n_layers
    present = [k for k in backward_order(L) if k in user]
    scale = max([1.0] + [float(np.max(np.abs(ref[k]))) for k in present if ref[k].size])
    out = []
    for key in present:
        mine, want = user[key], ref[key]
        name = names[key]
        if mine.shape != want.shape:
            out.append(GradientRow(layer=key[1], name=name, shape=tuple(want.shape), max_abs=float("inf"),
                                   max_rel=float("inf"), ref_passed=False, worst_index=None))
            continue
        err = leaf_error(name, mine, want, scale=scale)
        out.append(GradientRow(layer=key[1], name=name, shape=tuple(want.shape), max_abs=err.max_abs,
                               max_rel=err.max_rel, ref_passed=err.passed, worst_index=err.worst_index,
                               value=err.manual_value, value_reference=err.ref_value))
    return tuple(out)


def _key(row) -> Tuple[str, int]:
    return ("z", row.layer) if row.name in ("dlogits",) or row.name.startswith("dz") else ("a", row.layer)


def step_words(before: Optional[Tuple[str, int]], after: Tuple[str, int], L: int, names=None) -> str:
    """What lies between two intermediates in backward order: 'the product with W2ᵀ', ..."""
    names = names or {}
    order = backward_order(L)
    start = order.index(before) + 1 if before is not None else 0
    parts = []
    for kind, l in order[start: order.index(after) + 1]:
        if kind == "z" and l == L:
            parts.append("the loss and head's derivative dL/dz" + str(L) + " (ŷ − Y, over N)")
        elif kind == "a":
            parts.append(f"the product with W{l + 1}ᵀ")
        else:
            parts.append(f"the activation's derivative f'(z{l})")
    return ", then ".join(parts)


def sentence(inter_rows, spec, grad_rows=()) -> str:
    """'dlogits ✓, dz2 ✓, da1 ✗: the step from dz2 to da1 — the product with W2ᵀ — is wrong'."""
    L = spec.n_layers
    marks, first_bad, last_good = [], None, None
    for row in inter_rows:
        marks.append(f"{row.name} {'✓' if row.passed else '✗'}")
        if first_bad is None:
            if row.passed:
                last_good = row
            else:
                first_bad = row
    text = ", ".join(marks)
    if first_bad is not None:
        if first_bad.worst_index is None:
            return f"{text}: {first_bad.name} has shape {first_bad.shape} expected (N, n_{first_bad.layer})"
        after = _key(first_bad)
        if last_good is None:
            if after == ("z", L):
                return f"{text}: {first_bad.name}, dL/dz{L} — the loss and head's derivative (ŷ − Y, over N) — is wrong"
            return (f"{text}: {first_bad.name} is the first returned and it differs: the mistake is at or before "
                    f"it, in {step_words(None, after, L)}")
        return (f"{text}: the step from {last_good.name} to {first_bad.name} — "
                f"{step_words(_key(last_good), after, L)} — is wrong")
    failing = [r for r in grad_rows if not r.passed]
    if not failing:
        return f"{text}: all agree with jax.grad"
    r = failing[0]
    l = r.layer
    formula = f"dW{l} = a{l - 1}ᵀ dz{l}" if r.name == "dW" else f"db{l} = Σₙ dz{l}"
    if l == 1 and r.name == "dW":
        formula = "dW1 = Xᵀ dz1"
    return (f"{text}: the intermediates agree with jax.grad, so the step to the parameters is wrong: "
            f"layer {l}, {r.name} ({formula})")
