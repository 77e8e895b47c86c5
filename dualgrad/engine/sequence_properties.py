"""Properties of the sequence and attention layers (issue 20), and the cases they are drawn on.

One property, `matches(case)`: manual's forward and backward (the contract names, looked up in
their module at call time, so the bug catalog's patches take effect) against jax.vjp of the
reference twin, with a random upstream gradient for every output (never all ones), then purity
(no input modified, no returned array sharing memory with an input or another output). A
failure raises AssertionError naming the leaf ("rnn, dWh") with both values at the worst entry.

    LAYERS       rnn_step, rnn, lstm_step, lstm, temporal_affine, temporal_softmax_loss,
                 gelu (both forms), attention, multihead_attention
    cases(name, dtype)   a hypothesis strategy of `SeqCase`s of that layer

Shapes come from small sets with the edge ones (T = 1, N = 1, H = 1, S ≠ T, one head, as many
heads as features); attention masks are drawn from none, all-True, causal (np.tril, also for
S ≠ T) and random with every row attending at least one key. float64 is compared at
`dualgrad.compare`'s tolerance; float32 (manual in float32, the reference in float64 on the
same values, which float32 represents exactly) at FLOAT32_ATOL times the case's largest reference
entry: a gradient through a saturated unit or softmax is a small difference of large terms, and
its float32 rounding is that of the terms, not of the result.

Compile once per bucket: the reference runs on arrays zero-padded to one bucket shape per
layer, where padding changes no real entry of any output or gradient (each case says why:
padded batch rows, time steps, features, keys get a zero upstream gradient, zero weights or a
False mask), and the result is cropped back. Not padded: the attention width D (the scale is
1/√D), the multi-head E and h (heads split E), and the loss's N (divided by) and V (the
softmax). `tests/test_sequence_layers.py` checks the padded programs against the plain
reference on the unpadded arrays.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Dict, NamedTuple, Tuple

import jax
import numpy as np
from hypothesis import strategies as st

import reference.layers as R
from manual.layers import attention as AT
from manual.layers import gelu as GE
from manual.layers import lstm as LS
from manual.layers import rnn as RN
from manual.layers import temporal as TM

from .compare import ATOL, RTOL, assert_close

FLOAT32_ATOL = 1e-4  # times the case's largest |reference entry| (over every leaf): float32 rounding, measured
# at most 5.4e-6 of it over 500 float32 cases per layer (multi-head attention; the RNNs 1.6e-6)
MASKS = ("none", "all", "causal", "random")


class SeqCase(NamedTuple):
    layer: str
    dims: Tuple[Tuple[str, int], ...]  # ("N", 2), ("T", 3), ...
    inputs: Tuple[np.ndarray, ...]  # the differentiable inputs, in the forward's order
    aux: Tuple[Tuple[str, Any], ...]  # keyword data that is not differentiated: mask, y
    static: Tuple[Tuple[str, Any], ...]  # hyperparameters: num_heads, approximate
    douts: Tuple[np.ndarray, ...]  # one random upstream gradient per output
    mask: str  # one of MASKS, or "" for layers without one
    dtype: str  # "float64" or "float32": what manual is given


class Layer(NamedTuple):
    inputs: Tuple[Tuple[str, Tuple[str, ...]], ...]  # (name, dims) of each differentiable input
    outputs: Tuple[Tuple[str, Tuple[str, ...]], ...]  # (name, dims) of each output
    dims: Dict[str, Tuple[int, ...]]  # the set each dim is drawn from (first = the shrink target)
    bucket: Dict[str, int]  # the padded dims and their bucket size
    manual: Callable  # (case) -> (outputs, gradients), by the contract names
    jax_fn: Callable  # the reference twin, jax_fn(*inputs, **aux, **static)


def describe(case: SeqCase) -> str:
    used = {"H" if n == _G else n for _, names in LAYERS[case.layer].inputs for n in names}
    dims = " ".join(f"{k}={v}" for k, v in case.dims if k in used)  # rnn_step draws T too, and ignores it
    extra = " ".join(f"{k}={v}" for k, v in case.static)
    mask = f" mask={case.mask}" if case.mask else ""
    return f"{case.layer} {dims}{' ' + extra if extra else ''}{mask} {case.dtype}"


# ---------------------------------------------------------------- manual, by the contract names


def _rnn_step(c):
    out, cache = RN.rnn_step_forward(*c.inputs)
    return (out,), RN.rnn_step_backward(c.douts[0], cache)


def _rnn(c):
    out, cache = RN.rnn_forward(*c.inputs)
    return (out,), RN.rnn_backward(c.douts[0], cache)


def _lstm_step(c):
    h, cell, cache = LS.lstm_step_forward(*c.inputs)
    return (h, cell), LS.lstm_step_backward(c.douts[0], c.douts[1], cache)


def _lstm(c):
    out, cache = LS.lstm_forward(*c.inputs)
    return (out,), LS.lstm_backward(c.douts[0], cache)


def _temporal_affine(c):
    out, cache = TM.temporal_affine_forward(*c.inputs)
    return (out,), TM.temporal_affine_backward(c.douts[0], cache)


def _temporal_softmax_loss(c):
    aux = dict(c.aux)
    loss, dx = TM.temporal_softmax_loss(c.inputs[0], aux["y"], aux["mask"])
    return (np.array(loss, dtype=c.inputs[0].dtype),), (c.douts[0] * dx,)  # dL/dx scaled by the upstream dout


def _gelu(c):
    out, cache = GE.gelu_forward(c.inputs[0], **dict(c.static))
    return (out,), GE.gelu_backward(c.douts[0], cache)


def _manual_mask(c):
    return None if c.mask == "none" else dict(c.aux)["mask"]


def _attention(c):
    out, cache = AT.attention_forward(*c.inputs, mask=_manual_mask(c))
    return (out,), AT.attention_backward(c.douts[0], cache)


def _multihead(c):
    out, cache = AT.multihead_attention_forward(*c.inputs, num_heads=dict(c.static)["num_heads"], mask=_manual_mask(c))
    return (out,), AT.multihead_attention_backward(c.douts[0], cache)


_RNN_IN = (("x", ("N", "D")), ("prev_h", ("N", "H")), ("Wx", ("D", "H")), ("Wh", ("H", "H")), ("b", ("H",)))
_SEQ_IN = (("x", ("N", "T", "D")), ("h0", ("N", "H")), ("Wx", ("D", "H")), ("Wh", ("H", "H")), ("b", ("H",)))
_G = "G"  # 4H, the four gates side by side: padded gate by gate
_LSTM_STEP_IN = (("x", ("N", "D")), ("prev_h", ("N", "H")), ("prev_c", ("N", "H")), ("Wx", ("D", _G)),
                 ("Wh", ("H", _G)), ("b", (_G,)))
_LSTM_IN = (("x", ("N", "T", "D")), ("h0", ("N", "H")), ("Wx", ("D", _G)), ("Wh", ("H", _G)), ("b", (_G,)))
_RNN_DIMS = {"N": (1, 2, 3), "T": (1, 2, 3, 5), "D": (1, 2, 3), "H": (1, 2, 4)}
_RNN_BUCKET = {"N": 3, "T": 5, "D": 3, "H": 4}
_MHA_IN = (("query", ("N", "T", "E")), ("key", ("N", "S", "E")), ("value", ("N", "S", "E"))) + tuple(
    (name, ("E", "E") if name[0] == "W" else ("E",)) for name in ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo"))
HEADS = ((1, 1), (2, 1), (2, 2), (4, 2), (6, 3), (3, 3))  # (E, num_heads): one head, one feature per head, ...

LAYERS: Dict[str, Layer] = {
    # padding: zero rows/steps/units with a zero upstream gradient contribute nothing; zero weights
    # keep padded features and hidden units out of the real ones (a padded unit stays tanh(0) = 0)
    "rnn_step": Layer(_RNN_IN, (("next_h", ("N", "H")),), _RNN_DIMS, _RNN_BUCKET, _rnn_step, R.rnn_step),
    "rnn": Layer(_SEQ_IN, (("h", ("N", "T", "H")),), _RNN_DIMS, _RNN_BUCKET, _rnn, R.rnn),
    # padded LSTM unit: a = 0, i = f = o = ½, g = 0, c stays 0, h = ½ tanh 0 = 0
    "lstm_step": Layer(_LSTM_STEP_IN, (("next_h", ("N", "H")), ("next_c", ("N", "H"))), _RNN_DIMS, _RNN_BUCKET,
                       _lstm_step, R.lstm_step),
    "lstm": Layer(_LSTM_IN, (("h", ("N", "T", "H")),), _RNN_DIMS, _RNN_BUCKET, _lstm, R.lstm),
    "temporal_affine": Layer((("x", ("N", "T", "D")), ("w", ("D", "M")), ("b", ("M",))), (("out", ("N", "T", "M")),),
                             {"N": (1, 2, 3), "T": (1, 2, 4), "D": (1, 3), "M": (1, 2, 5)},
                             {"N": 3, "T": 4, "D": 3, "M": 5}, _temporal_affine, R.temporal_affine),
    # padded steps have mask False; N (the divisor) and V (the softmax) are not padded
    "temporal_softmax_loss": Layer((("x", ("N", "T", "V")),), (("loss", ()),),
                                   {"N": (1, 2, 3), "T": (1, 2, 4), "V": (1, 2, 5)}, {"T": 4},
                                   _temporal_softmax_loss, R.temporal_softmax_loss),
    "gelu": Layer((("x", ("N", "D")),), (("out", ("N", "D")),), {"N": (1, 2, 5), "D": (1, 3, 8)},
                  {"N": 5, "D": 8}, _gelu, R.gelu),
    # padded keys are masked out, padded queries attend every key with a zero upstream gradient;
    # D is not padded: the scale is 1/√D
    "attention": Layer((("q", ("N", "T", "D")), ("k", ("N", "S", "D")), ("v", ("N", "S", "E"))),
                       (("out", ("N", "T", "E")),), {"N": (1, 2), "T": (1, 2, 3, 4), "S": (1, 2, 3, 5),
                                                     "D": (1, 2, 4), "E": (1, 3)},
                       {"N": 2, "T": 4, "S": 5, "E": 3}, _attention, R.attention),
    "multihead_attention": Layer(_MHA_IN, (("out", ("N", "T", "E")),), {"N": (1, 2), "T": (1, 2, 3), "S": (1, 2, 4)},
                                 {"N": 2, "T": 3, "S": 4}, _multihead, R.multihead_attention),
}


# ---------------------------------------------------------------- the cases


def _shape(names, dims):
    return tuple(4 * dims["H"] if n == _G else dims[n] for n in names)


def _random_mask(rng, T, S):
    mask = rng.random((T, S)) < 0.5
    mask[np.arange(T), rng.integers(0, S, size=T)] = True  # every row attends at least one key
    return mask


@st.composite
def cases(draw, layer: str, dtype: str = "float64") -> SeqCase:
    """A case of `layer`: dims from its sets, values N(0, 1)·10^e (e drawn), random douts, a mask."""
    spec = LAYERS[layer]
    dims = {name: draw(st.sampled_from(values)) for name, values in spec.dims.items()}
    static: Dict[str, Any] = {}
    if layer == "multihead_attention":
        dims["E"], static["num_heads"] = draw(st.sampled_from(HEADS))
    if layer == "gelu":
        static["approximate"] = draw(st.sampled_from(("none", "tanh")))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    exponent = draw(st.sampled_from((0.0, -1.0, 0.5, 1.0 if layer == "gelu" else 0.3)))
    inputs = []
    for name, names in spec.inputs:
        a = rng.standard_normal(_shape(names, dims)) * 10.0 ** exponent
        if name in ("Wx", "Wh", "w", "Wq", "Wk", "Wv", "Wo") and dims.get(names[0], 1) > 1:
            a /= np.sqrt(dims[names[0]])  # weights ~ 1/√fan_in: keep most units out of saturation
        inputs.append(a)
    if layer == "gelu" and draw(st.booleans()):
        inputs[0][rng.random(inputs[0].shape) < 0.3] = 0.0  # exact zeros: gelu(0) = 0, gelu'(0) = ½
    aux, mask_kind = {}, ""
    if layer == "temporal_softmax_loss":
        aux["y"] = rng.integers(0, dims["V"], size=(dims["N"], dims["T"]))
        aux["mask"] = rng.random((dims["N"], dims["T"])) < draw(st.sampled_from((0.7, 1.0, 0.0, 0.3)))
    if layer in ("attention", "multihead_attention"):
        mask_kind = draw(st.sampled_from(MASKS))
        T, S = dims["T"], dims["S"]
        aux["mask"] = {"none": np.ones((T, S), bool), "all": np.ones((T, S), bool), "causal": AT.causal_mask(T, S),
                       "random": _random_mask(rng, T, S) if mask_kind == "random" else None}[mask_kind]
    douts = tuple(rng.standard_normal(_shape(names, dims)) for _, names in spec.outputs)
    if dtype == "float32":
        inputs = [a.astype(np.float32) for a in inputs]
        douts = tuple(d.astype(np.float32) for d in douts)
    return SeqCase(layer, tuple(dims.items()), tuple(inputs), tuple(aux.items()), tuple(static.items()),
                   douts, mask_kind, dtype)


# ---------------------------------------------------------------- the reference, padded to its bucket


def _pad(a, names, dims, bucket):
    a = np.asarray(a, dtype=np.float64)
    for axis, n in enumerate(names):
        if n == _G:
            H, Hb = dims["H"], bucket.get("H", dims["H"])
            shape = a.shape
            gates = a.reshape(shape[:axis] + (4, H) + shape[axis + 1:])
            width = [(0, 0)] * gates.ndim
            width[axis + 1] = (0, Hb - H)
            a = np.pad(gates, width).reshape(shape[:axis] + (4 * Hb,) + shape[axis + 1:])
        elif n in bucket:
            width = [(0, 0)] * a.ndim
            width[axis] = (0, bucket[n] - dims[n])
            a = np.pad(a, width)
    return a


def _crop(a, names, dims, bucket):
    a = np.asarray(a)
    for axis, n in enumerate(names):
        if n == _G:
            Hb = bucket.get("H", dims["H"])
            shape = a.shape
            gates = a.reshape(shape[:axis] + (4, Hb) + shape[axis + 1:])
            index = [slice(None)] * gates.ndim
            index[axis + 1] = slice(0, dims["H"])
            a = gates[tuple(index)].reshape(shape[:axis] + (4 * dims["H"],) + shape[axis + 1:])
        elif n in bucket:
            index = [slice(None)] * a.ndim
            index[axis] = slice(0, dims[n])
            a = a[tuple(index)]
    return a


def _pad_aux(case, dims, bucket):
    aux = dict(case.aux)
    if case.layer == "temporal_softmax_loss":
        pad_t = ((0, 0), (0, bucket["T"] - dims["T"]))
        return dict(y=np.pad(aux["y"], pad_t), mask=np.pad(aux["mask"], pad_t))  # padded steps: mask False
    if "mask" in aux:
        Tb, Sb = bucket["T"], bucket["S"]
        mask = np.zeros((Tb, Sb), bool)  # padded keys: never attended by a real query
        mask[:dims["T"], :dims["S"]] = aux["mask"]
        mask[dims["T"]:, :] = True  # padded queries: attend everything (their dout is 0)
        return dict(mask=mask)
    return aux


@lru_cache(maxsize=None)
def _program(layer, static):
    fn = LAYERS[layer].jax_fn
    single = len(LAYERS[layer].outputs) == 1

    def run(inputs, aux, douts):
        out, pull = jax.vjp(lambda *a: fn(*a, **aux, **dict(static)), *inputs)
        return out, pull(douts[0] if single else douts)

    return jax.jit(run)


def reference(case: SeqCase, padded: bool = True):
    """(outputs, gradients) of the reference twin by jax.vjp, in float64 (padded to the bucket
    and cropped back, or with `padded=False` the plain twin on the case's own arrays)."""
    spec = LAYERS[case.layer]
    dims = dict(case.dims)
    bucket = spec.bucket if padded else {}
    inputs = tuple(_pad(a, names, dims, bucket) for a, (_, names) in zip(case.inputs, spec.inputs))
    douts = tuple(_pad(d, names, dims, bucket) for d, (_, names) in zip(case.douts, spec.outputs))
    aux = _pad_aux(case, dims, bucket) if padded else dict(case.aux)
    if padded:
        out, grads = _program(case.layer, case.static)(inputs, aux, douts)
    else:
        fn = spec.jax_fn
        out, pull = jax.vjp(lambda *a: fn(*a, **aux, **dict(case.static)), *inputs)
        grads = pull(douts[0] if len(douts) == 1 else douts)
    outs = out if isinstance(out, tuple) else (out,)
    outs = tuple(_crop(o, names, dims, bucket) for o, (_, names) in zip(outs, spec.outputs))
    grads = tuple(_crop(g, names, dims, bucket) for g, (_, names) in zip(grads, spec.inputs))
    return outs, grads


# ---------------------------------------------------------------- the property


def _pure(case, before, outs, grads):
    spec = LAYERS[case.layer]
    given = {name: a for (name, _), a in zip(spec.inputs, case.inputs)}
    given.update({f"d{name}": d for (name, _), d in zip(spec.outputs, case.douts)})
    given.update({k: v for k, v in case.aux if isinstance(v, np.ndarray)})
    for name, arr in given.items():
        if not np.array_equal(arr, before[name]):
            raise AssertionError(f"{case.layer}: purity: the call modified its input {name}")
    returned = {name: o for (name, _), o in zip(spec.outputs, outs)}
    returned.update({f"d{name}": g for (name, _), g in zip(spec.inputs, grads)})
    names = list(returned)
    for i, name in enumerate(names):
        for inp, arr in given.items():
            if np.shares_memory(returned[name], arr):
                raise AssertionError(f"{case.layer}: purity: the returned {name} shares memory with the input {inp}")
        for other in names[i + 1:]:
            if np.shares_memory(returned[name], returned[other]):
                raise AssertionError(f"{case.layer}: purity: the returned {name} shares memory with {other}")


def matches(case: SeqCase) -> None:
    """manual == jax.vjp of the twin on every output and every gradient, then purity."""
    spec = LAYERS[case.layer]
    given = {name: a for (name, _), a in zip(spec.inputs, case.inputs)}
    given.update({f"d{name}": d for (name, _), d in zip(spec.outputs, case.douts)})
    given.update({k: v for k, v in case.aux if isinstance(v, np.ndarray)})
    before = {k: v.copy() for k, v in given.items()}
    outs, grads = spec.manual(case)
    if len(grads) != len(spec.inputs):
        raise AssertionError(f"{case.layer}: backward returned {len(grads)} gradients, expected {len(spec.inputs)} "
                             f"({', '.join('d' + n for n, _ in spec.inputs)})")
    ref_outs, ref_grads = reference(case)
    leaves = [(name, o, r) for (name, _), o, r in zip(spec.outputs, outs, ref_outs)]
    leaves += [(f"d{name}", g, r) for (name, _), g, r in zip(spec.inputs, grads, ref_grads)]
    scale = max([1.0] + [float(np.max(np.abs(r), initial=0.0)) for _, _, r in leaves])
    f32 = case.dtype == "float32"
    for name, m, r in leaves:
        if np.shape(m) != np.shape(r):
            raise AssertionError(f"{case.layer}, {name}: shape {np.shape(m)}, expected {np.shape(r)}")
        if f32 and np.asarray(m).dtype != np.float32:
            raise AssertionError(f"{case.layer}, {name}: dtype {np.asarray(m).dtype} for float32 inputs")
        if f32:
            assert_close(f"{case.layer}, {name}", m, r, rtol=0.0, atol=FLOAT32_ATOL * scale)
        else:
            assert_close(f"{case.layer}, {name}", m, r, rtol=RTOL, atol=ATOL * scale)
    _pure(case, before, outs, grads)
