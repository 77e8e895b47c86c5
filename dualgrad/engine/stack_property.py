"""The random-network property over the one description (`manual.stack_spec.StackSpec`, issue 21.2).

`stack_cases()` draws whole networks: the input (rows (N, D), ids (N,) or (N, T), sequences
(N, T, D), images (N, C, H, W)), a body of layers that fit the shape they receive (dense, every
activation, batchnorm, layernorm, dropout, conv, max/avg pool, on sequences rnn, lstm and
self-attention (causal or not), residual blocks over sub-stacks), then flatten and dense K, one of
the four losses, or on sequences also dense V and temporal_softmax (a class per step); parameters,
a batch and a dropout seed.
`stack_gradients_match(case)` runs `manual.stack` and the reference (by default the bucketed
per-layer programs of `reference.bucketed_stack`, which compile once per bucket; `reference.stack`,
jax.grad of the whole stack, with reference="whole") and compares the loss and every parameter
gradient, named by position and kind: "layer 3.2 (dense), dW".
Widths, batch sizes and image sizes come from small sets that fit the buckets.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from manual.layers import windows
from manual.stack_spec import StackSpec

from .compare import ATOL, leaf_error

# A norm layer's dx has zero mean over what it normalises by construction, so a parameter gradient that
# sums it (a β below a batchnorm) is 0 up to the rounding of dx's entries, which 1/√(σ² + ε) can make up
# to 1/√ε ≈ 316 times the gradients around it (measured: dβ = 9e-12 against 0 for
# layernorm → batchnorm → batchnorm on two rows). ATOL is scaled by that factor for stacks.
STACK_ATOL = ATOL / np.sqrt(1e-5)

ACTS = ("relu", "tanh", "sigmoid", "gelu", "leaky_relu", "elu", "softplus", "silu", "identity")
WIDTHS = (1, 2, 3, 4)
LOSSES = ("cross_entropy", "mse", "hinge", "binary_cross_entropy")


NORMS = ("batchnorm", "layernorm")


@st.composite
def _row_layer(draw, width, in_res=False, after=None, seq=False):
    """A layer on rows or sequences (`seq` > 0: its weight for rnn, lstm, attn) of `width` features (a dense, rnn or lstm may change it). No
    norm right after a norm, no layernorm of one feature: both give constant columns, whose next
    normalisation divides rounding noise by √ε (three in a row: 3e-8 against 0), degenerate cases
    outside any tolerance. In a residual block an rnn or lstm keeps the width (H = D)."""
    norms = [] if after in NORMS else ["batchnorm"] + (["layernorm"] if width >= 2 else [])
    sequence = ["recurrent", "attn"] * int(seq)  # seq: 0 rows, 1 sequences, 3 sequences weighted up
    kind = draw(st.sampled_from(["dense", "act", "act", "dropout"] + norms + sequence + ([] if in_res else ["res"])))
    if kind == "dense":
        return ("dense", draw(st.sampled_from(WIDTHS)))
    if kind == "recurrent":
        return (draw(st.sampled_from(["rnn", "lstm"])), width if in_res else draw(st.sampled_from(WIDTHS)))
    if kind == "attn":
        heads = draw(st.sampled_from([h for h in (1, 2) if width % h == 0]))
        return ("attn", heads) + (("causal",) if draw(st.booleans()) else ())
    if kind == "act":
        return (draw(st.sampled_from(ACTS)),)
    if kind == "dropout":
        return ("dropout", draw(st.sampled_from([0.0, 0.5, 0.9])))
    if kind == "res":
        inner, w = [], width
        for _ in range(draw(st.integers(1, 3))):
            layer = draw(_row_layer(w, in_res=True, after=inner[-1][0] if inner else after, seq=seq))
            inner.append(layer)
            w = layer[1] if layer[0] == "dense" else w
        if w != width:
            inner.append(("dense", width))
        return ("res", tuple(inner))
    return (kind,)


@st.composite
def _image_layer(draw, shape, in_res=False, after=None):
    """A layer on images of `shape` (C, H, W) that fits it (norms as in `_row_layer`)."""
    C, H, W = shape
    norms = [] if after in NORMS else ["batchnorm"] + (["layernorm"] if C >= 2 else [])
    kinds = ["conv", "conv", "act", "pool", "dropout"] + norms + ([] if in_res else ["res"])
    kind = draw(st.sampled_from(kinds))
    if kind == "conv":
        if in_res:  # keeps the shape: F = C, stride 1, 'same' padding
            k = draw(st.sampled_from([1, 3]))
            return ("conv", C, k, 1, k // 2)
        p = draw(st.integers(0, 1))
        k = draw(st.integers(1, min(3, min(H, W) + 2 * p)))
        return ("conv", draw(st.integers(1, 3)), k, draw(st.integers(1, 2)), p)
    if kind == "pool":
        if in_res or min(H, W) < 1:
            return ("relu",)
        size = draw(st.integers(1, min(2, H, W)))
        return (draw(st.sampled_from(["maxpool", "avgpool"])), size, draw(st.integers(1, 2)))
    if kind == "act":
        return (draw(st.sampled_from(ACTS)),)
    if kind == "dropout":
        return ("dropout", draw(st.sampled_from([0.0, 0.5])))
    if kind == "res":
        inner = []
        for _ in range(draw(st.integers(1, 2))):
            inner.append(draw(_image_layer(shape, in_res=True, after=inner[-1][0] if inner else after)))
        return ("res", tuple(inner))
    return (kind,)


def _image_after(layer, shape):
    C, H, W = shape
    if layer[0] == "conv":
        _, F, k, s, p = layer
        return (F,) + windows.output_hw((H, W), (k, k), (s, s), (p, p))
    if layer[0] in ("maxpool", "avgpool"):
        return (C,) + windows.output_hw((H, W), (layer[1],) * 2, (layer[2],) * 2)
    return shape


@st.composite
def stack_specs(draw, max_body=4, sequences=False):
    """A valid StackSpec (never filtered): each layer drawn to fit the shape it receives; `sequences`:
    sequences (N, T, D) or ids (N, T) only."""
    source = draw(st.sampled_from(["sequence", "ids"] if sequences else
                                  ["rows", "rows", "ids", "sequence", "images", "images"]))
    layers = []
    if source == "images":
        shape = (draw(st.integers(1, 3)), draw(st.integers(3, 8)), draw(st.integers(3, 8)))
        n_in = shape
        for _ in range(draw(st.integers(1, max_body))):
            layer = draw(_image_layer(shape, after=layers[-1][0] if layers else None))
            layers.append(layer)
            shape = _image_after(layer, shape)
        layers.append(("flatten",))
    else:
        if source == "rows":
            n_in = width = draw(st.sampled_from(WIDTHS))
            seq = False
        elif source == "sequence":
            width = draw(st.sampled_from(WIDTHS))
            n_in, seq = (draw(st.integers(1, 4)), width), True
        else:
            V, T = draw(st.sampled_from([2, 3, 5])), draw(st.sampled_from([1, 2, 4] if sequences else [None, 2, 3]))
            width = draw(st.sampled_from(WIDTHS))
            n_in, seq = (V if T is None else (T, V)), T is not None
            layers.append(("embedding", width))
        for _ in range(draw(st.integers(int(sequences), max_body))):
            layer = draw(_row_layer(width, after=layers[-1][0] if layers else None, seq=seq * (3 if sequences else 1)))
            layers.append(layer)
            width = layer[1] if layer[0] in ("dense", "rnn", "lstm") else width
        if seq and draw(st.booleans()):  # a class per step: scores (N, T, V)
            return StackSpec(n_in, tuple(layers) + (("dense", draw(st.sampled_from([1, 2, 3]))),), "temporal_softmax")
        if seq:
            layers.append(("flatten",))
    loss = draw(st.sampled_from(LOSSES))
    K = 1 if loss == "binary_cross_entropy" else draw(st.sampled_from([1, 2, 3]))
    return StackSpec(n_in, tuple(layers) + (("dense", K),), loss)


@st.composite
def stack_cases(draw, max_body=4, sequences=False):
    """(spec, params, x, y, seed): a random network, its parameters, a batch and a dropout seed;
    `sequences`: networks on sequences or ids (N, T) only (rnn, lstm, attention, temporal_softmax)."""
    spec = draw(stack_specs(max_body, sequences))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    params = random_params(spec.layers, spec.param_shapes(), rng)
    N = draw(st.sampled_from([1, 2, 3]))
    if spec.ids:
        x = rng.integers(0, spec.vocabulary, (N,) + spec.input_shape)
    else:
        x = rng.standard_normal((N,) + spec.input_shape)
        if len(spec.input_shape) == 3 and draw(st.booleans()):
            x = np.round(x)  # ties in max pooling
    return spec, params, x, random_targets(spec, N, rng), draw(st.integers(0, 1000))


def random_targets(spec, N, rng):
    """y for a batch of N: class ids (N,) (cross_entropy, hinge), 0/1 floats (N,) (binary_cross_entropy),
    (N, K) floats (mse), or a class id per step (N, T) (temporal_softmax)."""
    K = spec.widths()[-1]
    if spec.loss == "temporal_softmax":
        return rng.integers(0, K, (N, spec.shapes()[-1][0]))
    return {"mse": lambda: rng.standard_normal((N, K)),
            "binary_cross_entropy": lambda: rng.integers(0, 2, N).astype(float)}.get(spec.loss,
                                                                                 lambda: rng.integers(0, K, N))()


def random_params(layers, all_shapes, rng):
    """N(0, 1) parameters of the layout (a residual block's nested), N(0, 1/fan_in) for 2-D+ weights."""
    out = []
    for layer, shapes in zip(layers, all_shapes):
        if layer[0] == "res":
            out.append(tuple(random_params(layer[1], shapes, rng)))
        else:
            out.append(tuple(rng.standard_normal(s) / (np.sqrt(np.prod(s[1:])) if len(s) == 4 else
                                                      np.sqrt(s[0]) if len(s) == 2 else 1.0) for s in shapes))
    return out


def named_leaves(spec, grads):
    """[(name, array)]: "layer 3 (batchnorm), dgamma", "layer 4.1 (dense), dW", in walk order."""
    out = []

    def walk(layers, tree, prefix):
        for i, (layer, g) in enumerate(zip(layers, tree)):
            where = f"{prefix}{i + 1}"
            if layer[0] == "res":
                walk(layer[1], g, where + ".")
                continue
            names = spec_names(layer, len(g))
            out.extend((f"layer {where} ({layer[0]}), d{name}", a) for name, a in zip(names, g))

    walk(spec.layers, grads, "")
    return out


def spec_names(layer, count):
    from manual.layers import registered
    from manual.stack_spec import PARAM_NAMES

    if layer[0] in registered.LAYERS:
        return registered.names_of(layer[0], count)
    return PARAM_NAMES.get(layer[0], ())


def reference_loss_and_grads(spec, params, x, y, seed, reference="bucketed"):
    if reference == "whole":
        from reference import stack as RS

        return RS.loss_and_grads(spec, params, x, y, seed)
    from reference import bucketed_stack as RB

    return RB.loss_and_grads(spec, params, x, y, seed)


def stack_gradients_match(case, reference="bucketed") -> None:
    """The loss and every parameter gradient of manual.stack equal the reference's (AssertionError naming
    the first leaf that differs, with the stack in the text form)."""
    from manual import stack as S

    spec, params, x, y, seed = case
    loss_m, grads_m, _ = S.loss_and_grads(spec, params, x, y, seed)
    loss_r, grads_r = reference_loss_and_grads(spec, params, x, y, seed, reference)
    where = f"{spec.text()} on {np.shape(x)}, {spec.loss}"
    assert abs(loss_m - loss_r) <= 1e-9 * max(1.0, abs(loss_r)), f"{where}: loss: manual {loss_m!r}, reference {loss_r!r}"
    ref = named_leaves(spec, grads_r)
    scale = max([1.0] + [float(np.abs(a).max()) for _, a in ref if np.size(a)])
    for (name, a), (_, b) in zip(named_leaves(spec, grads_m), ref):
        err = leaf_error(name, a, b, atol=STACK_ATOL, scale=scale)
        assert err.passed, (f"{where}: {name}: " + ("shapes differ" if not err.shape_ok else
                            f"at {err.worst_index}: manual {err.manual_value!r}, reference {err.ref_value!r}"))
