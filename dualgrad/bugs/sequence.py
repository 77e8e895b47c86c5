"""Classic sequence and attention mistakes (issue 20), each injected into `manual.layers`, caught and shrunk.

The same machinery as `dualgrad.bugs.conv` (a `Patch` replaces one function of a module,
`injected` puts it in and takes it out), hunted with the property of
`dualgrad.engine.sequence_properties` (manual = jax.vjp of the twin on every output and gradient,
purity) over random float64 cases of the layer the mutation touches, then shrunk by
hypothesis to the smallest N, T, S, D, H that still fail.

    python -m dualgrad.bugs --family sequence   # the table: caught?, examples until caught, shrunk case
    python -m dualgrad.bugs.sequence            # the same

Each wrong function below is the right one (manual/layers/rnn.py, lstm.py, temporal.py,
gelu.py, attention.py) with one change, marked `# BUG`.
"""

from __future__ import annotations

import time
from typing import NamedTuple, Tuple

import numpy as np

from manual import activations as _acts
from manual.layers import attention as AT
from manual.layers import gelu as GE
from manual.layers import lstm as LS
from manual.layers import rnn as RN
from manual.layers import temporal as TM

from ..engine import sequence_properties as P
from . import patching
from .patching import Patch, Result, failure_of, family_main, hunt_with, injected, summary


class Mutation(NamedTuple):
    name: str
    mistake: str  # the wrong line, in one line of math
    layer: str  # a key of sequence_properties.LAYERS: the cases it is hunted on
    patches: Tuple[Patch, ...]


# ---------------------------------------------------------------- RNN


def rnn_carry_dropped(original):
    def rnn_backward(dh, cache):
        steps = cache.steps
        N, D = steps[0].x.shape
        dx = np.empty((N, len(steps), D))
        dWx = dWh = db = 0.0
        for t in reversed(range(len(steps))):
            dx[:, t], dprev_h, dWx_t, dWh_t, db_t = RN.rnn_step_backward(dh[:, t], steps[t])  # BUG: + dprev_h
            dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
        return dx, dprev_h, dWx, dWh, db

    return rnn_backward


def rnn_weights_of_last_step(original):
    def rnn_backward(dh, cache):
        steps = cache.steps
        N, D = steps[0].x.shape
        dx = np.empty((N, len(steps), D))
        dprev_h = np.zeros_like(dh[:, 0])
        for t in reversed(range(len(steps))):
            dx[:, t], dprev_h, dWx, dWh, db = RN.rnn_step_backward(dh[:, t] + dprev_h, steps[t])  # BUG: =, not +=
        return dx, dprev_h, dWx, dWh, db

    return rnn_backward


def rnn_tanh_of_prev_h(original):
    def rnn_step_backward(dnext_h, cache):
        x, prev_h, Wx, Wh, next_h = cache
        dz = dnext_h * (1.0 - prev_h * prev_h)  # BUG: tanh' at hₜ₋₁, not at hₜ = tanh(zₜ)
        return dz @ Wx.T, dz @ Wh.T, x.T @ dz, prev_h.T @ dz, dz.sum(axis=0)

    return rnn_step_backward


def rnn_dWh_with_next_h(original):
    def rnn_step_backward(dnext_h, cache):
        dx, dprev_h, dWx, _, db = original(dnext_h, cache)
        dz = dnext_h * (1.0 - cache.next_h ** 2)
        return dx, dprev_h, dWx, cache.next_h.T @ dz, db  # BUG: hₜᵀ dz; Wh multiplies hₜ₋₁

    return rnn_step_backward


# ---------------------------------------------------------------- LSTM


def lstm_gates_i_f_g_o(original):
    def lstm_step_backward(dnext_h, dnext_c, cache):
        x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c = cache
        dc = dnext_c + dnext_h * o * (1.0 - tanh_c ** 2)
        do = dnext_h * tanh_c
        da = np.concatenate([dc * g * i * (1 - i), dc * prev_c * f * (1 - f), dc * i * (1 - g * g),
                             do * o * (1 - o)], axis=1)  # BUG: i, f, g, o (the forward's order is i, f, o, g)
        return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)

    return lstm_step_backward


def lstm_tanh_of_prev_c(original):
    def lstm_step_backward(dnext_h, dnext_c, cache):
        return original(dnext_h, dnext_c, cache._replace(tanh_c=np.tanh(cache.prev_c)))  # BUG: tanh(cₜ₋₁), not tanh(cₜ)

    return lstm_step_backward


def lstm_cell_path_through_h_dropped(original):
    def lstm_step_backward(dnext_h, dnext_c, cache):
        x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c = cache
        dc = dnext_c  # BUG: + dnext_h ⊙ o ⊙ (1 − tanh²(cₜ)), the path through hₜ = o tanh(cₜ)
        da = np.concatenate([dc * g * i * (1 - i), dc * prev_c * f * (1 - f), dnext_h * tanh_c * o * (1 - o),
                             dc * i * (1 - g * g)], axis=1)
        return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)

    return lstm_step_backward


def lstm_dprev_c_without_forget_gate(original):
    def lstm_step_backward(dnext_h, dnext_c, cache):
        dx, dprev_h, _, dWx, dWh, db = original(dnext_h, dnext_c, cache)
        dc = dnext_c + dnext_h * cache.o * (1.0 - cache.tanh_c ** 2)
        return dx, dprev_h, dc, dWx, dWh, db  # BUG: dprev_c = dc, not dc ⊙ f

    return lstm_step_backward


def lstm_cell_carry_dropped(original):
    def lstm_backward(dh, cache):
        steps = cache.steps
        N, D = steps[0].x.shape
        dx = np.empty((N, len(steps), D))
        dprev_h = np.zeros_like(dh[:, 0])
        dWx = dWh = db = 0.0
        for t in reversed(range(len(steps))):
            dx[:, t], dprev_h, _, dWx_t, dWh_t, db_t = LS.lstm_step_backward(
                dh[:, t] + dprev_h, np.zeros_like(dprev_h), steps[t])  # BUG: dnext_c = 0, not the carried dprev_c
            dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
        return dx, dprev_h, dWx, dWh, db

    return lstm_backward


# ---------------------------------------------------------------- temporal layers, GELU


def loss_divided_by_n_times_t(original):
    def temporal_softmax_loss(x, y, mask):
        loss, dx = original(x, y, mask)
        T = x.shape[1]
        return loss / T, dx / T  # BUG: / (N·T), a mean over every position; CS231n divides by N only

    return temporal_softmax_loss


def loss_mask_ignored_in_dx(original):
    def temporal_softmax_loss(x, y, mask):
        loss, _ = original(x, y, mask)
        _, dx = original(x, y, np.ones_like(mask))  # BUG: dx of every step; the loss counts masked-in steps only
        return loss, dx

    return temporal_softmax_loss


def temporal_dw_of_last_step(original):
    def temporal_affine_backward(dout, cache):
        dx, _, db = original(dout, cache)
        return dx, cache.x[:, -1].T @ dout[:, -1], db  # BUG: the last step's xᵀ dout, not Σₜ

    return temporal_affine_backward


def gelu_tanh_derivative_for_erf(original):
    def gelu_backward(dout, cache):
        return (dout * _acts.gelu_derivative(cache.x, None),)  # BUG: the tanh form's derivative for both forms

    return gelu_backward


# ---------------------------------------------------------------- attention


def mask_after_softmax(original):
    def attention_forward(q, k, v, mask=None):
        out, cache = original(q, k, v)  # the softmax over every key
        if mask is None:
            return out, cache
        P_ = cache.P * mask  # BUG: zeroed after the softmax: the rows no longer sum to 1
        return P_ @ v, cache._replace(P=P_)

    return attention_forward


def scale_forgotten_in_backward(original):
    def attention_backward(dout, cache):
        dq, dk, dv = original(dout, cache)
        return dq / cache.scale, dk / cache.scale, dv  # BUG: dq = ds k, dk = dsᵀ q without the 1/√D

    return attention_backward


def dk_transposed(original):
    def attention_backward(dout, cache):
        dq, _, dv = original(dout, cache)
        q, k, v, P_, scale = cache
        dP = dout @ v.transpose(0, 2, 1)
        ds = P_ * (dP - (dP * P_).sum(axis=2, keepdims=True))
        dk = scale * (q.transpose(0, 2, 1) @ ds)  # BUG: qᵀ ds (N, D, S), the transpose of dsᵀ q (N, S, D)
        return dq, dk, dv

    return attention_backward


def softmax_jacobian_diagonal_only(original):
    def attention_backward(dout, cache):
        q, k, v, P_, scale = cache
        dP = dout @ v.transpose(0, 2, 1)
        ds = P_ * dP  # BUG: the diagonal of the Jacobian only; − P (Σₛ dP ⊙ P) forgotten
        return scale * (ds @ k), scale * (ds.transpose(0, 2, 1) @ q), P_.transpose(0, 2, 1) @ dout

    return attention_backward


def dWo_transposed(original):
    def multihead_attention_backward(dout, cache):
        grads = list(original(dout, cache))
        grads[9] = grads[9].T  # BUG: dWo = (Σ Yᵀ dout)ᵀ, the out_in habit; our layout is x @ W
        return tuple(grads)

    return multihead_attention_backward


CATALOG: Tuple[Mutation, ...] = (
    Mutation("rnn: dprev_h not carried", "step_backward(dh[:, t]) (not dh[:, t] + dprev_h)", "rnn",
             (Patch(RN, "rnn_backward", rnn_carry_dropped),)),
    Mutation("rnn: weight gradients of one step", "dWx = dWxₜ (not Σₜ dWxₜ)", "rnn",
             (Patch(RN, "rnn_backward", rnn_weights_of_last_step),)),
    Mutation("rnn: tanh' of the previous state", "dz = dnext_h ⊙ (1 − hₜ₋₁²)", "rnn_step",
             (Patch(RN, "rnn_step_backward", rnn_tanh_of_prev_h),)),
    Mutation("rnn: dWh with the new state", "dWh = hₜᵀ dz (not hₜ₋₁ᵀ dz)", "rnn_step",
             (Patch(RN, "rnn_step_backward", rnn_dWh_with_next_h),)),
    Mutation("lstm: gates in the wrong order", "da = [di | df | dg | do] (forward: i, f, o, g)", "lstm_step",
             (Patch(LS, "lstm_step_backward", lstm_gates_i_f_g_o),)),
    Mutation("lstm: tanh' of c from the wrong step", "dc = dnext_c + dnext_h o (1 − tanh² cₜ₋₁)", "lstm_step",
             (Patch(LS, "lstm_step_backward", lstm_tanh_of_prev_c),)),
    Mutation("lstm: cell path through h dropped", "dc = dnext_c", "lstm_step",
             (Patch(LS, "lstm_step_backward", lstm_cell_path_through_h_dropped),)),
    Mutation("lstm: dprev_c without the forget gate", "dprev_c = dc (not dc ⊙ f)", "lstm_step",
             (Patch(LS, "lstm_step_backward", lstm_dprev_c_without_forget_gate),)),
    Mutation("lstm: dprev_c not carried", "step_backward(dh[:, t] + dprev_h, 0)", "lstm",
             (Patch(LS, "lstm_backward", lstm_cell_carry_dropped),)),
    Mutation("temporal loss divided by N·T", "L = Σ mask·(−log p) / (N T)", "temporal_softmax_loss",
             (Patch(TM, "temporal_softmax_loss", loss_divided_by_n_times_t),)),
    Mutation("temporal loss: mask ignored in dx", "dx = (softmax − onehot) / N at every step", "temporal_softmax_loss",
             (Patch(TM, "temporal_softmax_loss", loss_mask_ignored_in_dx),)),
    Mutation("temporal affine: dw of the last step", "dw = x[:, −1]ᵀ dout[:, −1]", "temporal_affine",
             (Patch(TM, "temporal_affine_backward", temporal_dw_of_last_step),)),
    Mutation("gelu: the tanh derivative for the erf form", "dx = dout ⊙ gelu_tanh'(x)", "gelu",
             (Patch(GE, "gelu_backward", gelu_tanh_derivative_for_erf),)),
    Mutation("attention: mask applied after the softmax", "P = softmax(s) ⊙ mask", "attention",
             (Patch(AT, "attention_forward", mask_after_softmax),)),
    Mutation("attention: √D forgotten in the backward only", "dq = ds k, dk = dsᵀ q", "attention",
             (Patch(AT, "attention_backward", scale_forgotten_in_backward),)),
    Mutation("attention: dk transposed", "dk = c qᵀ ds (N, D, S), not c dsᵀ q", "attention",
             (Patch(AT, "attention_backward", dk_transposed),)),
    Mutation("attention: softmax Jacobian diagonal only", "ds = P ⊙ dP", "attention",
             (Patch(AT, "attention_backward", softmax_jacobian_diagonal_only),)),
    Mutation("multihead: dWo transposed", "dWo = (Σ Yᵀ dout)ᵀ", "multihead_attention",
             (Patch(AT, "multihead_attention_backward", dWo_transposed),)),
)


def hunt(mutation: Mutation, max_examples: int = 300) -> Result:
    """Search the mutation's layer for a case on which the code as installed fails, and shrink it.
    Installs nothing itself: wrap it in `injected(mutation)` (or monkeypatch in a test)."""
    return hunt_with(mutation.name, mutation.layer, P.cases(mutation.layer), lambda case: failure_of(P.matches, case),
                     P.describe, max_examples)


def run(mutation: Mutation, max_examples: int = 300) -> Result:
    with injected(mutation):
        return hunt(mutation, max_examples)


def table(results) -> str:
    mistakes = {m.name: m.mistake for m in CATALOG}
    return patching.table(results, "mistake", lambda r: mistakes.get(r.name, ""))


def run_all(max_examples: int = 300, messages: bool = False) -> tuple:
    """(the table and its summary line as text, every mutation caught?): for `python -m dualgrad.bugs`."""
    start = time.perf_counter()
    results = [run(m, max_examples) for m in CATALOG]
    return summary(table(results), results, "sequence/attention mutations", messages, time.perf_counter() - start)


main = family_main(run_all, "Inject each sequence/attention mistake and hunt it with the property.")

if __name__ == "__main__":
    raise SystemExit(main())
