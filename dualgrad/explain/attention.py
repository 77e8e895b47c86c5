"""`dualgrad explain --layer attention`: scaled dot-product attention's backward derived, each step measured.

    print(explain_attention(N=1, T=3, S=4, D=2, E=2, mask="causal", seed=0))
    d = derive_attention(mask="random"); d.passed; d.first_difference    # 'ds (the softmax Jacobian)' or None

On a random case (seed) `out, cache = attention_forward(q, k, v, mask)` and `dq, dk, dv =
attention_backward(dout, cache)` of `manual.layers` run with a random dout. The backward, node by
node (c = 1/√D), each node against jax.grad of L = ⟨dout, out⟩ written with that node an explicit
variable (a zero shift added to r = q kᵀ, to s = c r before the mask, to P):

    dv = Pᵀ dout                                  out = P v
    dP = dout vᵀ                                  (inside ds: attention_backward does not return it)
    ds = P ⊙ (dP − Σₛ dP ⊙ P)                     the softmax Jacobian, row by row
    ds = 0 where the mask is False                P = 0 there exactly (e^{−∞})
    dr = c ds                                     the 1/√D scale: s = c r, r = q kᵀ
    dq = dr k = c ds k,   dk = drᵀ q = c dsᵀ q

How manual's inner nodes are read: `attention_backward` returns dq = c ds k only, and it is linear in
k, so called again on the same dout with the cache's k replaced by the identity (S × S) it returns
dq = c ds = dr, and with c = 1 as well, ds itself. What is shown is therefore what manual's backward
computes, node by node; the first node that differs (in backward order) is named. dq, dk and dv are
also compared with jax.vjp of the twin (`reference.layers.attention`).
"""

from __future__ import annotations

import math
import numbers
from typing import List, NamedTuple, Optional

import numpy as np

from ..engine.compare import ATOL, RTOL
from ._rows import Row, _measure, _row, _shape

MASKS = ("none", "all", "causal", "random")


class AttentionDerivation(NamedTuple):
    dims: dict  # N, T, S, D, E
    mask: str  # one of MASKS
    n_masked: int  # entries of the (T, S) mask that are False
    seed: int
    scale: float  # c = 1/√D
    forward: Row  # out against the twin
    rows: List[Row]  # dv, ds, ds at the masked entries, dr, dq, dk in backward order

    @property
    def passed(self) -> bool:
        return self.forward.passed and all(r.passed for r in self.rows)

    @property
    def first_difference(self) -> Optional[str]:
        if not self.forward.passed:
            return "the forward: out"
        return next((r.name for r in self.rows if not r.passed), None)


def _dims(N, T, S, D, E, mask):
    dims = {"N": N, "T": T, "S": S, "D": D, "E": E}
    for name, value in dims.items():
        if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
            raise TypeError(f"{name} must be an int between 1 and 16, got {type(value).__name__} {value!r}")
        if not 1 <= value <= 16:
            raise ValueError(f"{name} must be an int between 1 and 16 (explain prints small cases), got {value}")
    if not isinstance(mask, str) or mask not in MASKS:
        raise ValueError(f"mask must be one of {', '.join(MASKS)}, got {mask!r}")
    return {k: int(v) for k, v in dims.items()}


def random_attention_case(dims: dict, mask: str, seed: int):
    """(q, k, v, mask array or None, dout): N(0, 1) entries; a random mask has every row attending a key."""
    from manual.layers import causal_mask

    if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    N, T, S, D, E = (dims[k] for k in "NTSDE")
    rng = np.random.default_rng(int(seed))
    q = rng.standard_normal((N, T, D))  # (N, T, D)
    k = rng.standard_normal((N, S, D))  # (N, S, D)
    v = rng.standard_normal((N, S, E))  # (N, S, E)
    dout = rng.standard_normal((N, T, E))  # (N, T, E)
    if mask == "none":
        m = None
    elif mask == "all":
        m = np.ones((T, S), bool)
    elif mask == "causal":
        m = causal_mask(T, S)
    else:
        m = rng.random((T, S)) < 0.5
        m[np.arange(T), rng.integers(0, S, size=T)] = True  # every row attends at least one key
    return q, k, v, m, dout


def _reference(q, k, v, m, dout):
    """dL/d(node) for r = q kᵀ, s = c r (before the mask) and P, by jax.grad with zero shifts; dq, dk, dv
    by jax.vjp of the twin."""
    import jax
    import jax.numpy as jnp

    import reference.layers as R

    c = 1.0 / math.sqrt(q.shape[2])

    def loss(shift):
        r = q @ jnp.swapaxes(k, 1, 2) + shift["r"]  # (N, T, S)
        s = c * r + shift["s"]
        if m is not None:
            s = jnp.where(m, s, -jnp.inf)
        P = jax.nn.softmax(s, axis=2) + shift["P"]
        return jnp.sum(dout * (P @ v))

    zeros = np.zeros(q.shape[:2] + k.shape[1:2])
    nodes = {key: np.asarray(val) for key, val in jax.grad(loss)({"r": zeros, "s": zeros, "P": zeros}).items()}
    out, pull = jax.vjp(lambda a, b_, c_: R.attention(a, b_, c_, m), q, k, v)
    return np.asarray(out), nodes, tuple(np.asarray(g) for g in pull(jnp.asarray(dout)))


def derive_attention(N: int = 1, T: int = 3, S: int = 4, D: int = 2, E: int = 2, mask: str = "causal",
                     seed: int = 0) -> AttentionDerivation:
    """Run manual's attention forward and backward on a random case and measure each node of the
    backward against JAX (see the module docstring)."""
    from manual.layers import attention as AT

    dims = _dims(N, T, S, D, E, mask)
    q, k, v, m, dout = random_attention_case(dims, mask, seed)
    out, cache = AT.attention_forward(q, k, v, m)
    dq, dk, dv = AT.attention_backward(dout, cache)
    eye = np.broadcast_to(np.eye(dims["S"]), (dims["N"], dims["S"], dims["S"]))
    dr = AT.attention_backward(dout, cache._replace(k=eye))[0]  # c ds: dq with k = I
    ds = AT.attention_backward(dout, cache._replace(k=eye, scale=1.0))[0]  # ds: and c = 1
    out_ref, nodes, (dq_ref, dk_ref, dv_ref) = _reference(q, k, v, m, dout)
    scale = max([1.0] + [float(np.max(np.abs(a))) for a in (*nodes.values(), dq_ref, dk_ref, dv_ref)])
    c = 1.0 / math.sqrt(dims["D"])
    masked = np.zeros(ds.shape, bool) if m is None else np.broadcast_to(~m, ds.shape)
    rows = [_row("dv", "Pᵀ dout", dv, dv_ref, scale),
            _row("ds (the softmax Jacobian)", "P ⊙ (dP − Σₛ dP ⊙ P),  dP = dout vᵀ", ds, nodes["s"], scale)]
    n_masked = int(0 if m is None else (~m).sum())
    if n_masked:
        rows.append(_row("ds where masked", f"= 0 at the {n_masked} masked entries (P = 0 there)",
                         np.where(masked, ds, 0.0), np.where(masked, nodes["s"], 0.0), scale))
    rows += [_row("dr (the 1/√D scale)", f"c ds,  c = 1/√{dims['D']} = {c:.6g}   (s = c r, r = q kᵀ)", dr,
                  nodes["r"], scale),
             _row("dq", "dr k = c ds k", dq, dq_ref, scale),
             _row("dk", "drᵀ q = c dsᵀ q", dk, dk_ref, scale)]
    forward = _row("out", "P v", out, out_ref, max(1.0, float(np.max(np.abs(out_ref)))))
    return AttentionDerivation(dims, mask, n_masked, int(seed), c, forward, rows)


DERIVATION = (
    "Forward, per batch entry (c = 1/√D):  r = q kᵀ,  s = c r,  s̃ = s where mask, −∞ elsewhere,",
    "  P = softmax over S of s̃ (rows sum to 1, P = 0 exactly where masked),  out = P v",
    "Loss: L = ⟨dout, out⟩ (dout a random upstream gradient)",
    "",
    "Backward (manual.layers.attention_backward), node by node:",
    "  out = P v                           dv = Pᵀ dout,  dP = dout vᵀ",
    "  Pₜₛ = e^{s̃ₜₛ} / Σᵣ e^{s̃ₜᵣ}           ∂Pₜₛ/∂s̃ₜᵣ = Pₜₛ (δₛᵣ − Pₜᵣ)   (the softmax Jacobian, one row t at a time)",
    "                                      ⇒ dsₜᵣ = Σₛ dPₜₛ Pₜₛ (δₛᵣ − Pₜᵣ) = Pₜᵣ (dPₜᵣ − Σₛ dPₜₛ Pₜₛ)",
    "  the mask: s̃ = −∞ (a constant) where False ⇒ ds = 0 there; the formula gives it, since P = 0 there",
    "  s = c r                             dr = c ds   (the same c as the forward)",
    "  r = q kᵀ                            dq = dr k,  dk = drᵀ q",
)


def render_attention(d: AttentionDerivation) -> str:
    N, T, S, D, E = (d.dims[k] for k in "NTSDE")
    mask = {"none": "no mask", "all": f"mask all True ({T}, {S})", "causal": f"causal mask ({T}, {S})",
            "random": f"random mask ({T}, {S})"}[d.mask]
    lines = [f"Attention: q ({N}, {T}, {D}), k ({N}, {S}, {D}), v ({N}, {S}, {E}), {mask}, "
             f"{d.n_masked} of {T * S} entries masked, seed {d.seed}", ""]
    lines += list(DERIVATION)
    lines += ["", "Each node against jax.grad of L with that node an explicit variable (manual's inner nodes read",
              "through attention_backward with k = I: dq = c ds k gives c ds, and with c = 1, ds):"]
    rows = [d.forward] + d.rows
    name_w = max(len(r.name) for r in rows)
    eq_w = max(len(r.equation) for r in rows)
    shape_w = max(len(_shape(r.shape)) for r in rows)
    for r in rows:
        lines.append(f"    {r.name.ljust(name_w)}  {r.equation.ljust(eq_w)}  {_shape(r.shape).ljust(shape_w)}  "
                     + _measure(r))
    ok = sum(r.passed for r in rows)
    lines += ["", f"Measured (float64), |manual − jax| ≤ {RTOL:g}·|jax| + {RTOL:g}·max|jax| + {ATOL:g}·max(1, max|jax|): "
                  f"{ok}/{len(rows)} pass"]
    first = d.first_difference
    lines.append("  PASS" if first is None else f"  FAIL: first difference, in backward order, at {first}")
    return "\n".join(lines)


def explain_attention(N: int = 1, T: int = 3, S: int = 4, D: int = 2, E: int = 2, mask: str = "causal",
                      seed: int = 0) -> str:
    """The text of `derive_attention(N, T, S, D, E, mask, seed)`."""
    return render_attention(derive_attention(N, T, S, D, E, mask, seed))
