"""Every sequence and attention layer (issue 20) through the generalised engine, `dualgrad.check_layer`.

Several inputs (x and h0; q, k, v; query, key, value), several outputs (lstm_step: next_h and next_c),
non-differentiated data (the attention mask, the loss's ids and mask) and hyperparameters
(num_heads, approximate), each in float64 and float32, EXAMPLES cases each (1,000 in the ci profile):
outputs and every gradient against jax.vjp of the reference twin, the adjoint identity (float64),
purity. The layers are called by their contract names through `manual.layers`' modules at call time,
so the last test can inject a mistake of the catalog and see check_layer fail on it.

Buckets (zero padding that changes no real entry, one compiled program per bucket): N everywhere but
the loss (it divides by N); T, D, H for the RNN (padded steps come after the real ones and get a zero
upstream gradient, padded features and units zero weights); not the LSTM's 4H (padding would shift the
gates); attention's S only with a mask (the mask is padded with False: padded keys are not attended;
without one they would be), never its D (the scale is 1/√D) nor, with a mask, T (a padded query would
attend nothing: NaN).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import reference.layers as R
from dualgrad import check_layer
from dualgrad.bugs import sequence as sequence_bugs
from dualgrad.bugs.patching import injected
from manual.layers import attention as AT
from manual.layers import gelu as GE
from manual.layers import lstm as LS
from manual.layers import rnn as RN
from manual.layers import temporal as TM

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
EXAMPLES = {"ci": 1000, "thorough": 10_000, "mutation": 100}.get(PROFILE, 100)


# ---------------------------------------------------------------- the pairs, looked up at call time


def _rnn_step_forward(x, prev_h, Wx, Wh, b):
    return RN.rnn_step_forward(x, prev_h, Wx, Wh, b)


def _rnn_step_backward(dnext_h, cache):
    return RN.rnn_step_backward(dnext_h, cache)


def _rnn_forward(x, h0, Wx, Wh, b):
    return RN.rnn_forward(x, h0, Wx, Wh, b)


def _rnn_backward(dh, cache):
    return RN.rnn_backward(dh, cache)


def _lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    return LS.lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)


def _lstm_step_backward(dnext_h, dnext_c, cache):
    return LS.lstm_step_backward(dnext_h, dnext_c, cache)


def _lstm_forward(x, h0, Wx, Wh, b):
    return LS.lstm_forward(x, h0, Wx, Wh, b)


def _lstm_backward(dh, cache):
    return LS.lstm_backward(dh, cache)


def _temporal_affine_forward(x, w, b):
    return TM.temporal_affine_forward(x, w, b)


def _temporal_affine_backward(dout, cache):
    return TM.temporal_affine_backward(dout, cache)


def _loss_forward(x, y, mask):
    """temporal_softmax_loss as a pair: out = the loss (a 0-d array), cache = its dx."""
    loss, dx = TM.temporal_softmax_loss(x, y, mask)
    return np.asarray(loss, dtype=x.dtype), dx


def _loss_backward(dloss, dx):
    return (dloss * dx,)  # dL/dx scaled by the upstream gradient of the loss


def _gelu_forward(x, approximate):
    return GE.gelu_forward(x, approximate=approximate)


def _gelu_backward(dout, cache):
    return GE.gelu_backward(dout, cache)


def _attention_forward(q, k, v, mask):
    return AT.attention_forward(q, k, v, mask)


def _attention_backward(dout, cache):
    return AT.attention_backward(dout, cache)


def _attention_nomask_forward(q, k, v):
    return AT.attention_forward(q, k, v)


def _mha_forward(query, key, value, mask, Wq, bq, Wk, bk, Wv, bv, Wo, bo, num_heads):
    return AT.multihead_attention_forward(query, key, value, Wq, bq, Wk, bk, Wv, bv, Wo, bo, num_heads, mask=mask)


def _mha_backward(dout, cache):
    return AT.multihead_attention_backward(dout, cache)


def _mha_reference(query, key, value, mask, Wq, bq, Wk, bk, Wv, bv, Wo, bo, num_heads):
    return R.multihead_attention(query, key, value, Wq, bq, Wk, bk, Wv, bv, Wo, bo, num_heads, mask=mask)


# ---------------------------------------------------------------- the data


def _attention_mask(dims, rng):
    """All-True, causal (np.tril, also for S ≠ T) or random with every row attending a key, a third each."""
    T, S = dims["T"], dims["S"]
    kind = rng.integers(0, 3)
    if kind == 0:
        return np.ones((T, S), bool)
    if kind == 1:
        return AT.causal_mask(T, S)
    mask = rng.random((T, S)) < 0.5
    mask[np.arange(T), rng.integers(0, S, size=T)] = True
    return mask


def _ids(dims, rng):
    return rng.integers(0, dims["V"], size=(dims["N"], dims["T"]))


def _loss_mask(dims, rng):
    return rng.random((dims["N"], dims["T"])) < rng.choice([0.0, 0.5, 1.0])


_RNN_DIMS = {"N": [1, 2, 3], "T": [1, 2, 3, 5], "D": [1, 2, 3], "H": [1, 2, 4]}
_LSTM_DIMS = {"N": [1, 2, 3], "T": [1, 2, 3, 5], "D": [1, 2, 3], "H": [1, 2], "G": [4, 8]}
_ATT_DIMS = {"N": [1, 2], "T": [1, 2, 3, 4], "S": [1, 2, 3, 5], "D": [1, 2, 4], "E": [1, 3]}

LAYERS = {
    "rnn_step": dict(forward=_rnn_step_forward, backward=_rnn_step_backward, reference=R.rnn_step,
                     shapes={"x": ("N", "D"), "prev_h": ("N", "H")},
                     params={"Wx": ("D", "H"), "Wh": ("H", "H"), "b": ("H",)},
                     dims=_RNN_DIMS, bucket={"N": 3, "D": 3, "H": 4}),
    "rnn": dict(forward=_rnn_forward, backward=_rnn_backward, reference=R.rnn,
                shapes={"x": ("N", "T", "D"), "h0": ("N", "H")},
                params={"Wx": ("D", "H"), "Wh": ("H", "H"), "b": ("H",)},
                dims=_RNN_DIMS, bucket={"N": 3, "T": 5, "D": 3, "H": 4}),
    "lstm_step": dict(forward=_lstm_step_forward, backward=_lstm_step_backward, reference=R.lstm_step,
                      shapes={"x": ("N", "D"), "prev_h": ("N", "H"), "prev_c": ("N", "H")},
                      params={"Wx": ("D", "G"), "Wh": ("H", "G"), "b": ("G",)},
                      dims=_LSTM_DIMS, bucket={"N": 3, "D": 3}, valid=lambda d, h: d["G"] == 4 * d["H"]),
    "lstm": dict(forward=_lstm_forward, backward=_lstm_backward, reference=R.lstm,
                 shapes={"x": ("N", "T", "D"), "h0": ("N", "H")},
                 params={"Wx": ("D", "G"), "Wh": ("H", "G"), "b": ("G",)},
                 dims=_LSTM_DIMS, bucket={"N": 3, "T": 5, "D": 3}, valid=lambda d, h: d["G"] == 4 * d["H"]),
    "temporal_affine": dict(forward=_temporal_affine_forward, backward=_temporal_affine_backward,
                            reference=R.temporal_affine, shapes={"x": ("N", "T", "D")},
                            params={"w": ("D", "M"), "b": ("M",)},
                            dims={"N": [1, 3], "T": [1, 2, 4], "D": [1, 3], "M": [1, 4]},
                            bucket={"N": 3, "T": 4, "D": 3, "M": 4}),
    "temporal_softmax_loss": dict(forward=_loss_forward, backward=_loss_backward, reference=R.temporal_softmax_loss,
                                  shapes={"x": ("N", "T", "V"), "y": ("N", "T"), "mask": ("N", "T")},
                                  data={"y": _ids, "mask": _loss_mask},
                                  dims={"N": [1, 2, 3], "T": [1, 2, 4], "V": [1, 2, 5]}, bucket={"T": 4}),
    "gelu": dict(forward=_gelu_forward, backward=_gelu_backward, reference=R.gelu, shapes={"x": ("N", "D")},
                 dims={"N": [1, 6], "D": [1, 6]}, hyper={"approximate": ["none", "tanh"]},
                 bucket={"N": 6, "D": 6}, scale=(-1.0, 1.3)),
    "attention": dict(forward=_attention_forward, backward=_attention_backward, reference=R.attention,
                      shapes={"q": ("N", "T", "D"), "k": ("N", "S", "D"), "v": ("N", "S", "E"), "mask": ("T", "S")},
                      data={"mask": _attention_mask}, dims=_ATT_DIMS, bucket={"N": 2, "S": 5, "E": 3}),
    "attention (no mask)": dict(forward=_attention_nomask_forward, backward=_attention_backward,
                                reference=R.attention, shapes={"q": ("N", "T", "D"), "k": ("N", "S", "D"),
                                                               "v": ("N", "S", "E")},
                                dims=_ATT_DIMS, bucket={"N": 2, "T": 4, "E": 3}),
    "multihead_attention": dict(forward=_mha_forward, backward=_mha_backward, reference=_mha_reference,
                                shapes={"query": ("N", "T", "E"), "key": ("N", "S", "E"), "value": ("N", "S", "E"),
                                        "mask": ("T", "S")},
                                params={n: ("E", "E") if n[0] == "W" else ("E",)
                                        for n in ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")},
                                data={"mask": _attention_mask},
                                dims={"N": [1, 2], "T": [1, 2, 3], "S": [1, 2, 4], "E": [1, 2, 3, 4, 6]},
                                hyper={"num_heads": [1, 2, 3]}, bucket={"N": 2, "S": 4},
                                valid=lambda d, h: d["E"] % h["num_heads"] == 0),
}


def check(name, dtype, examples=EXAMPLES, seed=0):
    spec = dict(LAYERS[name])
    return check_layer(spec.pop("forward"), spec.pop("backward"), spec.pop("reference"), examples=examples, seed=seed,
                       dtype=dtype, **spec)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_passes_check_layer(name, dtype):
    result = check(name, dtype)
    assert result.passed, result.message
    assert result.examples == EXAMPLES


CAUGHT = [("rnn: dprev_h not carried", "rnn"), ("lstm: dprev_c not carried", "lstm"),
          ("lstm: gates in the wrong order", "lstm_step"), ("temporal loss divided by N·T", "temporal_softmax_loss"),
          ("attention: softmax Jacobian diagonal only", "attention"), ("multihead: dWo transposed", "multihead_attention"),
          ("gelu: the tanh derivative for the erf form", "gelu")]


@pytest.mark.parametrize("mutation, name", CAUGHT, ids=[c[0] for c in CAUGHT])
def test_check_layer_fails_on_an_injected_mistake(mutation, name):
    bug = next(m for m in sequence_bugs.CATALOG if m.name == mutation)
    with injected(bug):
        result = check(name, "float64", examples=200)
    assert not result.passed, f"{mutation} passed check_layer"
    assert result.message.splitlines()[-1].startswith("case: ")
