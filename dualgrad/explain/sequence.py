"""`dualgrad explain --layer rnn | lstm`: backprop through time derived step by step, with measured errors.

    print(explain_sequence("rnn", N=2, T=3, D=2, H=3, seed=0))
    d = derive_sequence("lstm", T=4); d.passed; d.first_difference   # 'step t = 3: dnext_c ...' or None

On a random batch (seed) the whole-sequence pair of `manual.layers` runs, `h, cache = rnn_forward(x, h0,
Wx, Wh, b)` then `dx, dh0, dWx, dWh, db = rnn_backward(dh, cache)` (lstm likewise), with a random
upstream gradient dh of every hidden state (L = Σₜ ⟨dh[:, t − 1], hₜ⟩). What is shown, per time step
from t = T down to 1 (xₜ = x[:, t − 1], h₀ the initial state):

- what the step backward receives: dnext_h = dh[:, t − 1] + the dprev_h carried from step t + 1
  (and, for the LSTM, dnext_c = the carried dprev_c);
- the step's local derivative: dzₜ = dnext_h ⊙ (1 − hₜ²) (tanh' written in the output) or the LSTM's
  gate pre-activations da = [di ⊙ i(1 − i) | df ⊙ f(1 − f) | do ⊙ o(1 − o) | dg ⊙ (1 − g²)];
- what it returns: dxₜ, the dprev_h (and dprev_c) carried to step t − 1, and the weight gradients
  accumulated over the steps T … t (the weights are shared: dWx = Σₜ dWxₜ);

each against JAX: jax.grad of L written with the reference twin's step (`reference.layers.rnn_step`,
`lstm_step`) where every carried state, every pre-activation and every step's copy of the weights is
an explicit variable (zero shifts added to hₜ₋₁ and cₜ₋₁ as the step reads them, to hₜ and cₜ as it
returns them, to zₜ; per-step copies of Wx, Wh, b), so each gradient is that node's dL/d(node).
The totals (dx, dh0, dWx, dWh, db) are compared with jax.vjp of the whole-sequence twin
(`reference.layers.rnn`, `lstm`).

How manual's per-step values are read: while `rnn_backward` runs, `manual.layers.rnn.rnn_step_backward`
(`lstm_step_backward`) is wrapped by a recorder that keeps each call's arguments and results (and is put
back afterwards), so what is shown is what manual's loop passed and received; the local derivative
comes from the same step backward called again on the recorded call with Wx = I (dx = dz Wxᵀ = dz).
A backward that does not call the step function shows its totals and per-step dx only.

The first row that differs, in backward order (t = T first), is named: a carry dropped shows first as
dnext_h of step T − 1, a wrong step derivative at step T.
"""

from __future__ import annotations

import numbers
from contextlib import contextmanager
from functools import lru_cache
from typing import List, NamedTuple, Optional

import numpy as np

from ..engine.compare import ATOL, RTOL
from ._rows import Row, _measure, _row, _shape

LAYERS = ("rnn", "lstm")
DEFAULT_DIMS = {"N": 2, "T": 3, "D": 2, "H": 3}


class TimeStep(NamedTuple):
    t: int  # 1-based
    rows: List[Row]


class SequenceDerivation(NamedTuple):
    layer: str  # "rnn" or "lstm"
    dims: dict  # N, T, D, H
    seed: int
    steps: List[TimeStep]  # t = T, T − 1, ..., 1 (backward order)
    totals: List[Row]  # dx, dh0, dWx, dWh, db against jax.vjp of the whole-sequence twin
    forward: Row  # h against the twin
    observed: bool  # the step backward was called T times: the per-step carries are manual's

    @property
    def passed(self) -> bool:
        rows = [self.forward] + self.totals + [r for s in self.steps for r in s.rows]
        return all(r.passed for r in rows)

    @property
    def first_difference(self) -> Optional[str]:
        """The first row out of tolerance in backward order ('step t = 2: dnext_h'), or None."""
        if not self.forward.passed:
            return f"the forward: {self.forward.name}"
        for s in self.steps:
            for r in s.rows:
                if not r.passed:
                    return f"step t = {s.t}: {r.name}"
        for r in self.totals:
            if not r.passed:
                return f"the totals: {r.name}"
        return None


# ---------------------------------------------------------------- arguments


def _dims(layer, N, T, D, H):
    if not isinstance(layer, str) or layer not in LAYERS:
        raise ValueError(f"layer must be one of {', '.join(LAYERS)} (attention: dualgrad.explain.explain_attention), "
                         f"got {layer!r}")
    dims = {"N": N, "T": T, "D": D, "H": H}
    for name, value in dims.items():
        if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
            raise TypeError(f"{name} must be an int between 1 and 16, got {type(value).__name__} {value!r}")
        if not 1 <= value <= 16:
            raise ValueError(f"{name} must be an int between 1 and 16 (explain prints every step), got {value}")
    return {k: int(v) for k, v in dims.items()}


def random_sequence_case(layer: str, dims: dict, seed: int):
    """(x, h0, Wx, Wh, b, dh) of float64 arrays: N(0, 1) inputs, weights ~ 1/√fan_in, dh N(0, 1)."""
    if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    N, T, D, H = dims["N"], dims["T"], dims["D"], dims["H"]
    G = 4 * H if layer == "lstm" else H
    rng = np.random.default_rng(int(seed))
    x = rng.standard_normal((N, T, D))  # (N, T, D)
    h0 = 0.5 * rng.standard_normal((N, H))  # (N, H)
    Wx = rng.standard_normal((D, G)) / np.sqrt(D)  # (D, G)
    Wh = rng.standard_normal((H, G)) / np.sqrt(H)  # (H, G)
    b = 0.1 * rng.standard_normal(G)  # (G,)
    dh = rng.standard_normal((N, T, H))  # (N, T, H) upstream gradient of every hidden state
    return x, h0, Wx, Wh, b, dh


# ---------------------------------------------------------------- manual, recorded


@contextmanager
def _recorded(module, name):
    """Wrap module.name so that each call's (args, results) is appended to the yielded list."""
    original = getattr(module, name)
    calls = []

    def recorder(*args):
        out = original(*args)
        calls.append((args, out))
        return out

    setattr(module, name, recorder)
    try:
        yield calls, original
    finally:
        setattr(module, name, original)


def _manual(layer, x, h0, Wx, Wh, b, dh):
    """manual's h, its totals, and the recorded step backward calls in call order (t = T first)."""
    from manual.layers import lstm as LS
    from manual.layers import rnn as RN

    module, forward, backward, step = ((RN, "rnn_forward", "rnn_backward", "rnn_step_backward") if layer == "rnn"
                                       else (LS, "lstm_forward", "lstm_backward", "lstm_step_backward"))
    h, cache = getattr(module, forward)(x, h0, Wx, Wh, b)
    with _recorded(module, step) as (calls, original):
        totals = getattr(module, backward)(dh, cache)
    local = []  # dz (rnn) or da (lstm) of each recorded call: the step backward again with Wx = I
    for args, _ in calls:
        cache_t = args[-1]
        eye = np.eye(cache_t.Wx.shape[1])
        local.append(original(*args[:-1], cache_t._replace(Wx=eye))[0])
    return h, totals, calls, local


# ---------------------------------------------------------------- JAX, every node explicit


def _reference(layer, x, h0, Wx, Wh, b, dh):
    """dL/d(node) for every node of every step, by jax.grad with the nodes as explicit zero shifts, and
    the totals by jax.vjp of the whole-sequence twin (one jitted program per layer and shape)."""
    grads, h, totals = _program(layer)(x, h0, Wx, Wh, b, dh)
    return np.asarray(h), {k: np.asarray(v) for k, v in grads.items()}, tuple(np.asarray(g) for g in totals)


@lru_cache(maxsize=None)
def _program(layer):
    import jax
    import jax.numpy as jnp

    import reference.layers as R

    lstm = layer == "lstm"

    def loss(shifts, x, h0, dh):
        N, T, _ = x.shape
        h, c = h0, jnp.zeros_like(h0)
        total = 0.0
        for t in range(T):
            prev_h, prev_c = h + shifts["prev_h"][t], c + shifts["prev_c"][t]
            b_t = shifts["b"][t] + shifts["z"][t]  # (N, G): the step's b copy plus a shift of its pre-activation
            if lstm:
                h, c = R.lstm_step(x[:, t], prev_h, prev_c, shifts["Wx"][t], shifts["Wh"][t], b_t)
            else:
                h = R.rnn_step(x[:, t], prev_h, shifts["Wx"][t], shifts["Wh"][t], b_t)
            h, c = h + shifts["next_h"][t], c + shifts["next_c"][t]
            total = total + jnp.sum(dh[:, t] * h)
        return total

    def run(x, h0, Wx, Wh, b, dh):
        N, T, _ = x.shape
        H, G = h0.shape[1], Wx.shape[1]
        zeros = jnp.zeros((T, N, H))
        shifts = {"prev_h": zeros, "prev_c": zeros, "next_h": zeros, "next_c": zeros, "z": jnp.zeros((T, N, G)),
                  "Wx": jnp.broadcast_to(Wx, (T,) + Wx.shape), "Wh": jnp.broadcast_to(Wh, (T,) + Wh.shape),
                  "b": jnp.broadcast_to(b, (T,) + b.shape)}
        grads = jax.grad(loss)(shifts, x, h0, dh)
        h, pull = jax.vjp(R.lstm if lstm else R.rnn, x, h0, Wx, Wh, b)
        return grads, h, pull(dh)

    return jax.jit(run)


# ---------------------------------------------------------------- the derivation


def derive_sequence(layer: str = "rnn", N: int = 2, T: int = 3, D: int = 2, H: int = 3,
                    seed: int = 0) -> SequenceDerivation:
    """Run manual's whole-sequence forward and backward of `layer` ('rnn' or 'lstm') on a random case and
    measure every step of backprop through time against JAX (see the module docstring)."""
    dims = _dims(layer, N, T, D, H)
    x, h0, Wx, Wh, b, dh = random_sequence_case(layer, dims, seed)
    h, totals, calls, local = _manual(layer, x, h0, Wx, Wh, b, dh)
    h_ref, g, totals_ref = _reference(layer, x, h0, Wx, Wh, b, dh)
    T = dims["T"]
    scale = max([1.0] + [float(np.max(np.abs(a))) for a in (*g.values(), *totals_ref)])
    lstm = layer == "lstm"
    observed = len(calls) == T
    steps = []
    sums = [0.0, 0.0, 0.0]
    ref_sums = [0.0, 0.0, 0.0]
    for k, t in enumerate(range(T, 0, -1)):  # call k of the backward is step t = T − k
        i = t - 1  # index into the (T, ...) arrays
        args, out = calls[k] if observed else ((None,) * 4, (None,) * 7)
        later = f"dprev_h from t = {t + 1}" if t < T else "0 (no later step)"
        rows = [_row("dnext_h", f"dh[:, {i}] + {later}", args[0], g["next_h"][i], scale)]
        if lstm:
            rows.append(_row("dnext_c", f"dprev_c from t = {t + 1}" if t < T else "0 (no later step)",
                             args[1], g["next_c"][i], scale))
            rows.append(_row("da", "[di⊙i(1−i) | df⊙f(1−f) | do⊙o(1−o) | dg⊙(1−g²)]",
                             local[k] if observed else None, g["z"][i], scale))
        else:
            rows.append(_row("dz", f"dnext_h ⊙ (1 − h{_sub(t)}²)", local[k] if observed else None, g["z"][i], scale))
        rows.append(_row("dx", f"{'da' if lstm else 'dz'} Wxᵀ   (= dx[:, {i}] of the backward)", totals[0][:, i],
                         totals_ref[0][:, i], scale))
        carry = "dh0" if t == 1 else f"dprev_h → t = {t - 1}"
        rows.append(_row(carry, f"{'da' if lstm else 'dz'} Whᵀ", out[1], g["prev_h"][i], scale))
        if lstm:
            c_name = "dc0 (dropped: c0 = 0)" if t == 1 else f"dprev_c → t = {t - 1}"
            rows.append(_row(c_name, "dc ⊙ f", out[2], g["prev_c"][i], scale))
        params = out[3:6] if lstm else out[2:5]
        span = f"t = {T} … {t}" if t < T else f"t = {T}"
        for j, (pname, ref_name) in enumerate((("dWx", "Wx"), ("dWh", "Wh"), ("db", "b"))):
            ref_sums[j] = ref_sums[j] + g[ref_name][i]
            if observed:
                sums[j] = sums[j] + params[j]
            factor = {"dWx": f"x{_sub(t)}ᵀ", "dWh": f"h{_sub(t - 1)}ᵀ", "db": "Σₙ"}[pname]
            local_name = "da" if lstm else "dz"
            rows.append(_row(f"Σ {pname}", f"+= {factor} {local_name}   ({span})",
                             sums[j] if observed else None, ref_sums[j], scale))
        steps.append(TimeStep(t, rows))
    names = ("dx", "dh0", "dWx", "dWh", "db")
    total_rows = [_row(n, "", m, r, scale) for n, m, r in zip(names, totals, totals_ref)]
    h_scale = max(1.0, float(np.max(np.abs(h_ref))))
    return SequenceDerivation(layer, dims, int(seed), steps, total_rows, _row("h", "", h, h_ref, h_scale), observed)


# ---------------------------------------------------------------- the text

_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _sub(t: int) -> str:
    return str(t).translate(_SUB)


RNN_LINES = (
    "Forward, t = 1 … T:  zₜ = xₜ Wx + hₜ₋₁ Wh + b,  hₜ = tanh(zₜ)   (xₜ = x[:, t − 1], h₀ = h0)",
    "Loss: L = Σₜ ⟨dh[:, t − 1], hₜ⟩ (dh the random upstream gradient of every hidden state)",
    "",
    "Backward through time (manual.layers.rnn_backward, which calls rnn_step_backward for t = T … 1):",
    "  hₜ is read by the loss and by step t + 1, so    dnext_h = dh[:, t − 1] + dprev_h carried from t + 1",
    "  the step, from hₜ = tanh(zₜ):                   dzₜ = dnext_h ⊙ (1 − hₜ²)      tanh' = 1 − tanh², in the output",
    "  from zₜ = xₜ Wx + hₜ₋₁ Wh + b:                   dxₜ = dzₜ Wxᵀ,  dprev_h = dzₜ Whᵀ  (carried to t − 1)",
    "  the weights are shared by every step:           dWx = Σₜ xₜᵀ dzₜ,  dWh = Σₜ hₜ₋₁ᵀ dzₜ,  db = Σₜ Σₙ dzₜ",
    "  dh0 = the last carry (the dprev_h of step 1)",
)

LSTM_LINES = (
    "Forward, t = 1 … T:  a = xₜ Wx + hₜ₋₁ Wh + b = [a_i | a_f | a_o | a_g]  (gates i, f, o, g)",
    "  i, f, o = σ(a_i), σ(a_f), σ(a_o),  g = tanh(a_g),  cₜ = f ⊙ cₜ₋₁ + i ⊙ g,  hₜ = o ⊙ tanh(cₜ)   (c₀ = 0)",
    "Loss: L = Σₜ ⟨dh[:, t − 1], hₜ⟩ (dh the random upstream gradient of every hidden state)",
    "",
    "Backward through time (manual.layers.lstm_backward, which calls lstm_step_backward for t = T … 1):",
    "  two carries: dnext_h = dh[:, t − 1] + dprev_h from t + 1,   dnext_c = dprev_c from t + 1",
    "  do = dnext_h ⊙ tanh(cₜ),   dc = dnext_c + dnext_h ⊙ o ⊙ (1 − tanh²(cₜ))   (both paths into cₜ, tanh' at this step's cₜ)",
    "  df = dc ⊙ cₜ₋₁,  di = dc ⊙ g,  dg = dc ⊙ i,  dprev_c = dc ⊙ f             (cₜ = f ⊙ cₜ₋₁ + i ⊙ g)",
    "  da = [di ⊙ i(1 − i) | df ⊙ f(1 − f) | do ⊙ o(1 − o) | dg ⊙ (1 − g²)]        σ' = σ(1 − σ), tanh' = 1 − tanh²",
    "  dxₜ = da Wxᵀ,  dprev_h = da Whᵀ;   dWx = Σₜ xₜᵀ da,  dWh = Σₜ hₜ₋₁ᵀ da,  db = Σₜ Σₙ da",
    "  dh0 = the last dprev_h; the last dprev_c is dropped (c₀ = 0 is a constant)",
)


def render_sequence(d: SequenceDerivation) -> str:
    N, T, D, H = (d.dims[k] for k in "NTDH")
    G = 4 * H if d.layer == "lstm" else H
    title = (f"{d.layer.upper()} through time: x ({N}, {T}, {D}), h0 ({N}, {H}), Wx ({D}, {G}), Wh ({H}, {G}), "
             f"b ({G},), N = {N}, T = {T}, seed {d.seed}")
    lines = [title, ""]
    lines += list(LSTM_LINES if d.layer == "lstm" else RNN_LINES)
    lines += ["", "Each node against jax.grad of L with that node an explicit variable",
              f"(L written with reference.layers.{d.layer}_step; every carried state, pre-activation and per-step",
              "weight copy made explicit), t = T first, as the backward runs:"]
    if not d.observed:
        lines.append(f"  ({d.layer}_backward did not call {d.layer}_step_backward once per step: only dx per step "
                     "is manual's; the other rows are not observed)")
    rows = [r for s in d.steps for r in s.rows]
    name_w = max(len(r.name) for r in rows)
    eq_w = max(len(r.equation) for r in rows)
    shape_w = max(len(_shape(r.shape)) for r in rows)
    for s in d.steps:
        lines.append(f"  step t = {s.t}:")
        for r in s.rows:
            lines.append(f"    {r.name.ljust(name_w)}  {r.equation.ljust(eq_w)}  {_shape(r.shape).ljust(shape_w)}  "
                         + _measure(r))
    lines += ["", f"The whole sequence against jax.vjp of reference.layers.{d.layer}:"]
    w = max(len(r.name) for r in [d.forward] + d.totals)
    for r in [d.forward] + d.totals:
        lines.append(f"    {r.name.ljust(w)}  {_shape(r.shape).ljust(12)}  {_measure(r)}")
    measured = [r for r in rows + d.totals + [d.forward] if r.manual is not None]
    unseen = len(rows) - sum(r.manual is not None for r in rows)
    lines += ["", f"Measured (float64), |manual − jax| ≤ {RTOL:g}·|jax| + {RTOL:g}·max|jax| + {ATOL:g}·max(1, max|jax|): "
                  f"{sum(r.passed for r in measured)}/{len(measured)} pass" + (f" ({unseen} not observed)" if unseen else "")]
    first = d.first_difference
    lines.append("  PASS" if first is None else f"  FAIL: first difference, in backward order, at {first}")
    return "\n".join(lines)


def explain_sequence(layer: str = "rnn", N: int = 2, T: int = 3, D: int = 2, H: int = 3, seed: int = 0,
                     **attention) -> str:
    """The text of `derive_sequence(layer, N, T, D, H, seed)`; layer 'attention' gives
    `explain_attention(N=N, T=T, seed=seed, **attention)` (S, D, E, mask)."""
    if layer == "attention":
        from .attention import explain_attention

        return explain_attention(N=N, T=T, seed=seed, D=D, **attention)
    if attention:
        raise TypeError(f"{', '.join(sorted(attention))}: for layer='attention' only")
    return render_sequence(derive_sequence(layer, N, T, D, H, seed))
