"""The one description of a network of layers, shared by `manual.stack` and `reference.stack`: data only.

    spec = StackSpec(n_in=2, layers=(("dense", 32), ("batchnorm",), ("relu",), ("dropout", 0.1), ("dense", 3)),
                     loss="cross_entropy")
    spec = StackSpec((1, 8, 8), (("conv", 4, 3, 1, 1), ("relu",), ("maxpool", 2, 2), ("flatten",), ("dense", 3)))
    spec = StackSpec.parse("conv:4:3:1:1 relu maxpool:2 res( conv:4:3:1:1 relu ) flatten dense:3", (1, 8, 8))

The input, `n_in` (the shape of one example, without N):
  D          rows x (N, D);                      with an embedding first: the vocabulary V, ids (N,)
  (T, D)     sequences x (N, T, D);              with an embedding first: (T, V), ids (N, T)
  (C, H, W)  images x (N, C, H, W)

A layer is a tuple:
  ("dense", M)                       on the last axis: (..., D) -> (..., M); W (D, M), b (M,)
                                     (on sequences (N, T, D) it is the temporal affine layer)
  ("batchnorm",)                     γ, β (D,) per feature; on images per CHANNEL (γ, β (C,), statistics
                                     over N, H, W: spatial batchnorm); on sequences statistics over N, T
  ("layernorm",)                     γ, β (D,) over the last axis; on images over the CHANNELS of each
                                     pixel (γ, β (C,), as ConvNeXt's LayerNorm)
  ("dropout", p)                     any shape
  ("embedding", D)                   first layer only: ids -> (..., D); E (V, D)
  ("conv", F, k, stride, padding)    images: (C, H, W) -> (F, H', W'); W (F, C, k, k), b (F,)
  ("maxpool", size, stride), ("avgpool", size, stride)      images
  ("flatten",)                       (d1, d2, ...) -> (d1·d2·...,)
  ("rnn", H)                         sequences: (T, D) -> (T, H), h0 = 0, every hidden state;
                                     Wx (D, H), Wh (H, H), b (H,)
  ("lstm", H)                        sequences: (T, D) -> (T, H), h0 = c0 = 0, every hidden state;
                                     Wx (D, 4H), Wh (H, 4H), b (4H,) (gates i, f, o, g)
  ("attn", heads), ("attn", heads, "causal")   sequences: multi-head self-attention (query = key =
                                     value = x), (T, E) -> (T, E), heads dividing E; Wq, bq, Wk, bk,
                                     Wv, bv, Wo, bo: each W (E, E), each b (E,); "causal": query t
                                     attends keys 0 .. t
  (activation name,)                 any name of `manual.spec.ACTIVATION_NAMES`, any shape
  (registered name, *hyper values)   a layer of `dualgrad.registry.register_layer`, on any rank: it
                                     receives D, the LAST axis' width (`param_shapes(D)`, `out_width(D)`)
  ("res", (layer, ...))              a residual block x + f(x), f the sub-stack; f must keep the shape
                                     (parameters: one tuple per inner layer, nested; no embedding inside)

The loss, one of `manual.layers.LOSS_LAYERS`, reads the last layer's output, which must be (N, K);
or "temporal_softmax" (`manual.layers.temporal_softmax_loss`, every step counted: y (N, T) ids, the
loss summed over the T steps and divided by N, as CS231n), which reads scores (N, T, V).
Parameters per layer, in `param_shapes()`: dense (W (D, M), b (M,)), conv (W (F, C, k, k), b (F,)),
batchnorm and layernorm (gamma, beta), embedding (E (V, D),), rnn and lstm (Wx, Wh, b), attn
(Wq, bq, Wk, bk, Wv, bv, Wo, bo), registered layers their own, a residual block a tuple with its inner
layers' tuples, the others () (see `param_names()`).

The text form (the command line's and the docs'), parsed here only (`parse_layers`, `StackSpec.parse`):
tokens separated by spaces: `dense:M`, `batchnorm`, `layernorm`, `dropout:p`, `embedding:D`, an
activation's name, `conv:F:k[:stride[:padding]]` (stride 1, padding 0), `maxpool:size[:stride]`,
`avgpool:size[:stride]` (stride = size), `flatten`, `rnn:H`, `lstm:H`, `attn:heads[:causal]`,
`name:v1:v2` for a registered layer, and
`res( ... )` for a residual block over the layers inside the parentheses (they nest).
`spec.text()` writes it back.

`NetworkSpec` (the MLP) is unchanged; `spec.as_network_spec()` gives it when this stack is one.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Tuple

from . import spec as _spec
from .layers import registered as _registered
from .layers import windows as _windows

LOSSES = ("cross_entropy", "binary_cross_entropy", "mse", "hinge", "temporal_softmax")
SEQUENCE_LOSSES = ("temporal_softmax",)  # scores (N, T, V), y (N, T) ids
PARAM_NAMES = {"dense": ("W", "b"), "conv": ("W", "b"), "batchnorm": ("gamma", "beta"),
               "layernorm": ("gamma", "beta"), "embedding": ("E",), "rnn": ("Wx", "Wh", "b"),
               "lstm": ("Wx", "Wh", "b"), "attn": ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")}
IMAGE_KINDS = ("conv", "maxpool", "avgpool")
SEQUENCE_KINDS = ("rnn", "lstm", "attn")


@dataclass(frozen=True)
class StackSpec:
    n_in: object  # int D | (D,) | (T, D) | (C, H, W); the vocabulary V, or (T, V), with an embedding first
    layers: Tuple[tuple, ...]
    loss: str = "cross_entropy"

    def __post_init__(self):
        object.__setattr__(self, "n_in", _check_input(self.n_in))
        if isinstance(self.layers, (str, bytes)) or not isinstance(self.layers, (list, tuple)) or not self.layers:
            raise TypeError(f"layers must be a non-empty sequence of layer tuples such as ('dense', 16), got {self.layers!r}")
        layers = tuple(_check_layer(layer, i, top=True) for i, layer in enumerate(self.layers))
        object.__setattr__(self, "layers", layers)
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; valid names: {', '.join(LOSSES)}")
        shapes = self.shapes()  # every layer's shape, checked now (ValueError naming the layer)
        if self.loss in SEQUENCE_LOSSES:
            if len(shapes[-1]) != 2:
                raise ValueError(f"{self.loss} needs scores (N, T, V) (one row of V scores per step), the stack "
                                 f"gives (N, {', '.join(map(str, shapes[-1]))}): end with a dense layer on sequences")
        elif len(shapes[-1]) != 1:
            raise ValueError(f"the loss needs logits (N, K), the stack gives (N, {', '.join(map(str, shapes[-1]))}): "
                             "end with a flatten and a dense layer")
        if self.loss == "binary_cross_entropy" and shapes[-1][-1] != 1:
            raise ValueError("binary_cross_entropy needs a last width of 1 (logits (N, 1))")
        if _uses_registered(layers):
            self.param_shapes()  # a registered layer's param_shapes, checked now

    # ---- the input ----------------------------------------------------------------------------

    @property
    def ids(self) -> bool:
        """True when the input is integer ids (an embedding first)."""
        return self.layers[0][0] == "embedding"

    @property
    def input_shape(self) -> tuple:
        """One example's shape: (D,), (T, D) or (C, H, W); ids: () or (T,)."""
        shape = (self.n_in,) if isinstance(self.n_in, int) else tuple(self.n_in)
        return shape[:-1] if self.ids else shape

    @property
    def vocabulary(self) -> int:
        """V, the number of ids (an embedding first)."""
        return self.n_in if isinstance(self.n_in, int) else self.n_in[-1]

    # ---- shapes and parameters -----------------------------------------------------------------

    def shapes(self) -> tuple:
        """One example's shape after each layer (top level; a residual block keeps its input's)."""
        shape = (self.n_in,) if isinstance(self.n_in, int) else tuple(self.n_in)
        out = []
        for i, layer in enumerate(self.layers):
            shape = _out_shape(layer, shape, str(i + 1))
            out.append(shape)
        return tuple(out)

    def widths(self) -> tuple:
        """The width of the last axis after each layer."""
        return tuple(s[-1] for s in self.shapes())

    def in_shapes(self) -> tuple:
        """One example's shape entering each layer (ids: (…, V), the vocabulary last)."""
        first = (self.n_in,) if isinstance(self.n_in, int) else tuple(self.n_in)
        return (first,) + self.shapes()[:-1]

    def param_shapes(self) -> list:
        """[(shape, ...) per layer]: the parameter layout of the stack (a residual block: nested)."""
        return [_param_shapes(layer, shape) for layer, shape in zip(self.layers, self.in_shapes())]

    def param_names(self) -> list:
        """[(name, ...) per layer]: "W", "b", "gamma", ..., a registered layer's own (p1, p2, ... by default);
        a residual block: a tuple of its inner layers' tuples."""
        return [_param_names(layer, shapes) for layer, shapes in zip(self.layers, self.param_shapes())]

    def walk(self):
        """(position, layer, in_shape, param shapes) for every layer, inner ones included, in order:
        positions "1", "2", "3" for a residual block, then "3.1", "3.2" for its layers, "4", ..."""
        yield from _walk(self.layers, self.in_shapes()[0], "")

    def is_mlp(self) -> bool:
        """Rows in, dense layers each followed by one activation (none after the last)."""
        if not isinstance(self.n_in, int) or self.ids:
            return False
        kinds = [layer[0] for layer in self.layers]
        return (kinds[0::2] == ["dense"] * len(kinds[0::2]) and len(kinds) % 2 == 1
                and all(k in _spec.ACTIVATION_NAMES for k in kinds[1::2]))

    def as_network_spec(self):
        """The `NetworkSpec` of an MLP stack (the MLP's fast path); ValueError otherwise."""
        if not self.is_mlp():
            raise ValueError(f"{self.text()} is not an MLP (dense layers, one activation between them)")
        return _spec.NetworkSpec(sizes=(self.n_in,) + tuple(layer[1] for layer in self.layers[0::2]),
                                 hidden=tuple(layer[0] for layer in self.layers[1::2]), loss=self.loss)

    # ---- text -----------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str, n_in, loss=None) -> "StackSpec":
        """A StackSpec from the text form (see the module docstring); loss None: cross_entropy, or
        binary_cross_entropy when the last layer gives one column, temporal_softmax when it gives
        sequences of scores (N, T, V)."""
        layers = parse_layers(text)
        if loss is None:
            try:
                shapes = cls(n_in, layers, "temporal_softmax").shapes()
                loss = "temporal_softmax"  # scores (N, T, V): one class per step
            except ValueError:
                try:
                    last = cls(n_in, layers, "cross_entropy").widths()[-1]
                except ValueError:
                    last = 2
                loss = "cross_entropy" if last >= 2 else "binary_cross_entropy"
        return cls(n_in, layers, loss)

    def text(self) -> str:
        """The layers in the text form: `parse_layers(spec.text())` gives them back."""
        return layers_text(self.layers)

    def to_dict(self) -> dict:
        return {"n_in": self.n_in if isinstance(self.n_in, int) else list(self.n_in),
                "layers": [_layer_to_list(layer) for layer in self.layers], "loss": self.loss}

    def __str__(self):
        return " → ".join(_token(layer) for layer in self.layers) + f" → {self.loss}"


def _uses_registered(layers) -> bool:
    return any(layer[0] in _registered.LAYERS or (layer[0] == "res" and _uses_registered(layer[1]))
               for layer in layers)


def _layer_to_list(layer):
    return ["res", [_layer_to_list(inner) for inner in layer[1]]] if layer[0] == "res" else list(layer)


def _check_input(n_in):
    def is_int(v):
        return not isinstance(v, bool) and isinstance(v, numbers.Integral) and v >= 1

    if is_int(n_in):
        return int(n_in)
    if isinstance(n_in, (tuple, list)) and 1 <= len(n_in) <= 3 and all(is_int(v) for v in n_in):
        return int(n_in[0]) if len(n_in) == 1 else tuple(int(v) for v in n_in)
    raise ValueError(f"n_in must be an int >= 1 (input features, or the vocabulary V) or a shape (T, D) or "
                     f"(C, H, W) of ints >= 1, got {n_in!r}")


def _shape_text(shape) -> str:
    return "(N, " + ", ".join(map(str, shape)) + ")"


def _out_shape(layer, shape, where):
    """One example's shape after `layer` given `shape` (ValueError naming the layer when it cannot run)."""
    kind = layer[0]
    if kind == "embedding":
        return shape[:-1] + (layer[1],)
    if kind == "dense":
        if len(shape) > 2:
            raise ValueError(f"layer {where} (dense) needs rows (N, D) or sequences (N, T, D), gets "
                             f"{_shape_text(shape)}: put a flatten first")
        return shape[:-1] + (layer[1],)
    if kind in IMAGE_KINDS:
        if len(shape) != 3:
            raise ValueError(f"layer {where} ({kind}) needs images (N, C, H, W), gets {_shape_text(shape)}: "
                             "give the input as (C, H, W)")
        if kind == "conv":
            _, F, k, s, p = layer
            if min(shape[1] + 2 * p, shape[2] + 2 * p) < k:
                raise ValueError(f"layer {where} (conv): kernel {k} larger than the padded map "
                                 f"{shape[1] + 2 * p}×{shape[2] + 2 * p}")
            return (F,) + _windows.output_hw(shape[1:], (k, k), (s, s), (p, p))
        _, size, s = layer
        if min(shape[1:]) < size:
            raise ValueError(f"layer {where} ({kind}): window {size} larger than the map {shape[1]}×{shape[2]}")
        return (shape[0],) + _windows.output_hw(shape[1:], (size, size), (s, s))
    if kind in SEQUENCE_KINDS:
        if len(shape) != 2:
            raise ValueError(f"layer {where} ({kind}) needs sequences (N, T, D), gets {_shape_text(shape)}: "
                             "give the input as (T, D), or (T, V) with an embedding first")
        if kind == "attn":
            if shape[1] % layer[1]:
                raise ValueError(f"layer {where} (attn): {layer[1]} heads must divide the width E = {shape[1]} "
                                 f"(each head takes E/heads columns)")
            return shape
        return (shape[0], layer[1])
    if kind == "flatten":
        if len(shape) < 2:
            raise ValueError(f"layer {where} (flatten) needs inputs of rank >= 3, (N, d1, d2, ...), gets "
                             f"{_shape_text(shape)}")
        return (math.prod(shape),)
    if kind == "res":
        inner = shape
        for j, sub in enumerate(layer[1]):
            inner = _out_shape(sub, inner, f"{where}.{j + 1}")
        if inner != shape:
            raise ValueError(f"layer {where} (res): the block must keep the shape {_shape_text(shape)} "
                             f"(x + f(x)), its layers give {_shape_text(inner)}")
        return shape
    if kind in _registered.LAYERS:
        return shape[:-1] + (_registered.width_of(kind, shape[-1], layer[1:]),)
    return shape  # batchnorm, layernorm, dropout, activations


def _param_shapes(layer, shape):
    kind = layer[0]
    if kind == "dense":
        return ((shape[-1], layer[1]), (layer[1],))
    if kind == "conv":
        _, F, k, _, _ = layer
        return ((F, shape[0], k, k), (F,))
    if kind in ("batchnorm", "layernorm"):
        width = shape[0] if len(shape) == 3 else shape[-1]  # images: per channel
        return ((width,), (width,))
    if kind == "embedding":
        return ((shape[-1], layer[1]),)
    if kind in ("rnn", "lstm"):
        H = layer[1] * (4 if kind == "lstm" else 1)  # the LSTM's four gates side by side
        return ((shape[-1], H), (layer[1], H), (H,))
    if kind == "attn":
        E = shape[-1]
        return ((E, E), (E,)) * 4  # Wq, bq, Wk, bk, Wv, bv, Wo, bo
    if kind == "res":
        out, inner = [], shape
        for sub in layer[1]:
            out.append(_param_shapes(sub, inner))
            inner = _out_shape(sub, inner, "")
        return tuple(out)
    if kind in _registered.LAYERS:
        return _registered.shapes_of(kind, shape[-1], layer[1:])
    return ()


def _param_names(layer, shapes):
    if layer[0] == "res":
        return tuple(_param_names(sub, s) for sub, s in zip(layer[1], shapes))
    if layer[0] in _registered.LAYERS:
        return _registered.names_of(layer[0], len(shapes))
    return PARAM_NAMES.get(layer[0], ())


def _walk(layers, shape, prefix):
    for i, layer in enumerate(layers):
        where = f"{prefix}{i + 1}"
        yield where, layer, shape, _param_shapes(layer, shape)
        if layer[0] == "res":
            yield from _walk(layer[1], shape, where + ".")
        shape = _out_shape(layer, shape, where)


def _is_count(v, minimum=1):
    return not isinstance(v, bool) and isinstance(v, numbers.Integral) and v >= minimum


def _check_layer(layer, i, top=False, where=None):
    where = where or str(i + 1)
    if isinstance(layer, str):
        layer = (layer,)
    if not isinstance(layer, (list, tuple)) or not layer or not isinstance(layer[0], str):
        raise TypeError(f"layer {where} must be a tuple such as ('dense', 16) or ('relu',), got {layer!r}")
    kind, args = layer[0], tuple(layer[1:])
    if kind in ("dense", "embedding", "rnn", "lstm"):
        if len(args) != 1 or not _is_count(args[0]):
            raise ValueError(f"layer {where}: ({kind!r}, width) needs one int width >= 1, got {layer!r}")
        if kind == "embedding" and not (top and i == 0):
            raise ValueError(f"layer {where}: an embedding can only be the first layer (it reads integer ids)")
        return (kind, int(args[0]))
    if kind == "dropout":
        p = args[0] if len(args) == 1 else None
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
            raise ValueError(f"layer {where}: ('dropout', p) needs one p in [0, 1), got {layer!r}")
        return (kind, float(p))
    if kind == "attn":
        causal = args[1] if len(args) == 2 else False
        if not 1 <= len(args) <= 2 or not _is_count(args[0]) or causal not in ("causal", True, False):
            raise ValueError(f"layer {where}: ('attn', heads) or ('attn', heads, 'causal') needs an int number of "
                             f"heads >= 1, then optionally 'causal', got {layer!r}")
        return (kind, int(args[0])) + (("causal",) if causal in ("causal", True) else ())
    if kind == "conv":
        if len(args) != 4 or not all(_is_count(v) for v in args[:3]) or not _is_count(args[3], 0):
            raise ValueError(f"layer {where}: ('conv', F, k, stride, padding) needs F, k, stride ints >= 1 and "
                             f"padding an int >= 0, got {layer!r}")
        return (kind, *map(int, args))
    if kind in ("maxpool", "avgpool"):
        if len(args) != 2 or not all(_is_count(v) for v in args):
            raise ValueError(f"layer {where}: ({kind!r}, size, stride) needs two ints >= 1, got {layer!r}")
        return (kind, *map(int, args))
    if kind == "res":
        inner = args[0] if len(args) == 1 else None
        if isinstance(inner, (str, bytes)) or not isinstance(inner, (list, tuple)) or not inner:
            raise ValueError(f"layer {where}: ('res', (layer, ...)) needs one non-empty sequence of layers, "
                             f"got {layer!r}")
        return (kind, tuple(_check_layer(sub, j, where=f"{where}.{j + 1}") for j, sub in enumerate(inner)))
    if kind in _registered.LAYERS:
        hyper = _registered.LAYERS[kind].hyper
        if len(args) != len(hyper) or not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                              and math.isfinite(v) for v in args):
            want = ", ".join((repr(kind),) + hyper)
            raise ValueError(f"layer {where}: the registered layer ({want}) takes {len(hyper)} finite number(s) "
                             f"after its name{' (' + ', '.join(hyper) + ')' if hyper else ''}, got {layer!r}")
        return (kind, *args)
    if kind in ("batchnorm", "layernorm", "flatten") or kind in _spec.ACTIVATION_NAMES:
        if args:
            raise ValueError(f"layer {where}: ({kind!r},) takes no argument, got {layer!r}")
        return (kind,)
    raise ValueError(f"layer {where}: unknown layer {kind!r}; valid: dense, batchnorm, layernorm, dropout, "
                     f"embedding, conv, maxpool, avgpool, flatten, rnn, lstm, attn, res, an activation "
                     f"({', '.join(_spec.ACTIVATION_NAMES)})"
                     + (f", or a registered layer ({', '.join(_registered.LAYERS)})" if _registered.LAYERS else ""))


# ---- the text form ---------------------------------------------------------------------------------


def parse_layers(text: str) -> Tuple[tuple, ...]:
    """'dense:16 batchnorm tanh dropout:0.1 dense:3', 'conv:4:3:1:1 relu maxpool:2 flatten dense:3',
    'dense:8 res( dense:8 relu dense:8 ) dense:2', 'embedding:8 lstm:8 res( attn:2:causal ) dense:5'
    -> layer tuples (checked by StackSpec later). `embed:D` is short for `embedding:D`.
    conv:F:k[:stride[:padding]] (stride 1, padding 0), maxpool/avgpool:size[:stride] (stride = size).
    Raises ValueError naming the token."""
    if not isinstance(text, str):
        raise TypeError(f"the stack text must be a str such as 'dense:16 relu dense:3', got {type(text).__name__}")
    tokens = text.replace(",", " ").replace("(", " ( ").replace(")", " ) ").split()
    if not tokens:
        raise ValueError("--stack needs at least one layer, e.g. 'dense:16 relu dense:3'")
    blocks = [[]]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "res":
            if i + 1 >= len(tokens) or tokens[i + 1] != "(":
                raise ValueError("--stack 'res': write a residual block as res( layer layer ... )")
            blocks.append([])
            i += 2
            continue
        if token == ")":
            if len(blocks) == 1:
                raise ValueError("--stack: ')' without its 'res('")
            inner = blocks.pop()
            if not inner:
                raise ValueError("--stack 'res( )': a residual block needs at least one layer")
            blocks[-1].append(("res", tuple(inner)))
        elif token == "(":
            raise ValueError("--stack '(': only a residual block opens a parenthesis, res( ... )")
        else:
            blocks[-1].append(_parse_token(token))
        i += 1
    if len(blocks) != 1:
        raise ValueError("--stack: a 'res(' is never closed with ')'")
    return tuple(blocks[0])


def _parse_token(token):
    kind, *raw = token.split(":")
    if kind == "embed":  # the short name of an embedding
        kind = "embedding"
    if kind == "attn":  # attn:heads[:causal]
        if not 1 <= len(raw) <= 2 or raw[1:] not in ([], ["causal"]):
            raise ValueError(f"--stack {token!r}: write attn:heads or attn:heads:causal")
        try:
            return (kind, int(raw[0])) + (("causal",) if raw[1:] else ())
        except ValueError:
            raise ValueError(f"--stack {token!r}: the number of heads after 'attn:' must be an int") from None
    try:
        args = [float(v) if kind == "dropout" else _number(v) if kind in _registered.LAYERS else int(v)
                for v in raw]
    except ValueError:
        raise ValueError(f"--stack {token!r}: the values after ':' must be numbers") from None
    if kind == "conv":
        if not 2 <= len(args) <= 4:
            raise ValueError(f"--stack {token!r}: write conv:F:k[:stride[:padding]]")
        args += [1, 0][len(args) - 2:]
        if min(args[:3]) < 1 or args[3] < 0:
            raise ValueError(f"--stack {token!r}: F, k and stride must be >= 1, padding >= 0")
    elif kind in ("maxpool", "avgpool"):
        if not 1 <= len(args) <= 2 or min(args) < 1:
            raise ValueError(f"--stack {token!r}: write {kind}:size[:stride], both >= 1")
        args += args[:1] if len(args) == 1 else []
    return (kind, *args)


def _number(text: str):
    """'3' -> 3, '0.5' -> 0.5 (a registered layer's hyperparameter)."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def _token(layer) -> str:
    if layer[0] == "res":
        return "res( " + layers_text(layer[1]) + " )"
    return ":".join(str(v) for v in layer)


def describe_layer(layer) -> str:
    """A layer's name in reports: "dense 16", "conv2d 4×3×3 s1 p1", "maxpool2d 2 s2", "res(dense 4 → relu)"."""
    kind = layer[0]
    if kind == "conv":
        _, F, k, s, p = layer
        return f"conv2d {F}×{k}×{k} s{s} p{p}"
    if kind in ("maxpool", "avgpool"):
        return f"{kind}2d {layer[1]} s{layer[2]}"
    if kind == "attn":
        return f"attention {layer[1]} head{'s' if layer[1] > 1 else ''}" + (" causal" if layer[2:] else "")
    if kind == "res":
        return "res(" + " → ".join(describe_layer(sub) for sub in layer[1]) + ")"
    return " ".join(str(v) for v in layer)


def layers_text(layers) -> str:
    """Layer tuples in the text form."""
    return " ".join(_token(layer) for layer in layers)
