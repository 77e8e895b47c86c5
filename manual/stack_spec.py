"""The description of a stack of layers, shared by `manual.stack` and `reference.stack`: data only.

    spec = StackSpec(n_in=2, layers=(("dense", 32), ("batchnorm",), ("relu",), ("dropout", 0.1), ("dense", 3)),
                     loss="cross_entropy")

A layer is a tuple: ("dense", M) | ("batchnorm",) | ("layernorm",) | ("dropout", p) |
("embedding", D) (first layer only: x is then ids (N,) in 0 .. n_in − 1, n_in the vocabulary) |
(activation name,) for any name of `manual.spec.ACTIVATION_NAMES`. The loss is one of
`manual.layers.LOSS_LAYERS` ("cross_entropy", "binary_cross_entropy", "mse", "hinge") applied to
the last layer's output (N, K). Parameters per layer: dense (W (D, M), b (M,)), batchnorm and
layernorm (gamma (D,), beta (D,)), embedding (E (V, D),), the others none.
A layer registered with `dualgrad.registry.register_layer` is (name, *hyper values): its parameter
shapes are its `param_shapes(D, **hyper)` and its output width `out_width(D, **hyper)` (D by default),
D the width it receives (see `manual.layers.registered`).
`NetworkSpec` is unchanged; a stack is a separate, more general description.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Tuple

from . import spec as _spec
from .layers import registered as _registered

LOSSES = ("cross_entropy", "binary_cross_entropy", "mse", "hinge")
PARAM_NAMES = {"dense": ("W", "b"), "batchnorm": ("gamma", "beta"), "layernorm": ("gamma", "beta"),
               "embedding": ("E",)}


@dataclass(frozen=True)
class StackSpec:
    n_in: int
    layers: Tuple[tuple, ...]
    loss: str = "cross_entropy"

    def __post_init__(self):
        if isinstance(self.n_in, bool) or not isinstance(self.n_in, numbers.Integral) or self.n_in < 1:
            raise ValueError(f"n_in must be an int >= 1 (input features, or the vocabulary V), got {self.n_in!r}")
        if isinstance(self.layers, (str, bytes)) or not isinstance(self.layers, (list, tuple)) or not self.layers:
            raise TypeError(f"layers must be a non-empty sequence of layer tuples such as ('dense', 16), got {self.layers!r}")
        layers = tuple(_check_layer(layer, i) for i, layer in enumerate(self.layers))
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "n_in", int(self.n_in))
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; valid names: {', '.join(LOSSES)}")
        if any(layer[0] in _registered.LAYERS for layer in layers):
            self.param_shapes()  # a registered layer's param_shapes and out_width, checked now
        if self.loss == "binary_cross_entropy" and self.widths()[-1] != 1:
            raise ValueError("binary_cross_entropy needs a last width of 1 (logits (N, 1))")

    def widths(self) -> tuple:
        """The feature width after each layer."""
        width, out = self.n_in, []
        for layer in self.layers:
            if layer[0] in ("dense", "embedding"):
                width = layer[1]
            elif layer[0] in _registered.LAYERS:
                width = _registered.width_of(layer[0], width, layer[1:])
            out.append(width)
        return tuple(out)

    def param_shapes(self) -> list:
        """[(shape, ...) per layer]: the parameter layout of the stack."""
        shapes, width = [], self.n_in
        for layer, out in zip(self.layers, self.widths()):
            kind = layer[0]
            if kind == "dense":
                shapes.append(((width, out), (out,)))
            elif kind in ("batchnorm", "layernorm"):
                shapes.append(((width,), (width,)))
            elif kind == "embedding":
                shapes.append(((self.n_in, out),))
            elif kind in _registered.LAYERS:
                shapes.append(_registered.shapes_of(kind, width, layer[1:]))
            else:
                shapes.append(())
            width = out
        return shapes

    def param_names(self) -> list:
        """[(name, ...) per layer]: "W", "b", "gamma", ..., a registered layer's own (p1, p2, ... by default)."""
        return [_registered.names_of(layer[0], len(shapes)) if layer[0] in _registered.LAYERS
                else PARAM_NAMES.get(layer[0], ()) for layer, shapes in zip(self.layers, self.param_shapes())]

    def to_dict(self) -> dict:
        return {"n_in": self.n_in, "layers": [list(layer) for layer in self.layers], "loss": self.loss}

    def __str__(self):
        return " → ".join(":".join(str(v) for v in layer) for layer in self.layers) + f" → {self.loss}"


def _check_layer(layer, i):
    if isinstance(layer, str):
        layer = (layer,)
    if not isinstance(layer, (list, tuple)) or not layer or not isinstance(layer[0], str):
        raise TypeError(f"layer {i + 1} must be a tuple such as ('dense', 16) or ('relu',), got {layer!r}")
    kind, args = layer[0], tuple(layer[1:])
    if kind in ("dense", "embedding"):
        if len(args) != 1 or isinstance(args[0], bool) or not isinstance(args[0], numbers.Integral) or args[0] < 1:
            raise ValueError(f"layer {i + 1}: ({kind!r}, width) needs one int width >= 1, got {layer!r}")
        if kind == "embedding" and i != 0:
            raise ValueError(f"layer {i + 1}: an embedding can only be the first layer (it reads integer ids)")
        return (kind, int(args[0]))
    if kind == "dropout":
        p = args[0] if len(args) == 1 else None
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
            raise ValueError(f"layer {i + 1}: ('dropout', p) needs one p in [0, 1), got {layer!r}")
        return (kind, float(p))
    if kind in _registered.LAYERS:
        hyper = _registered.LAYERS[kind].hyper
        if len(args) != len(hyper) or not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                              and math.isfinite(v) for v in args):
            want = ", ".join((repr(kind),) + hyper)
            raise ValueError(f"layer {i + 1}: the registered layer ({want}) takes {len(hyper)} finite number(s) "
                             f"after its name{' (' + ', '.join(hyper) + ')' if hyper else ''}, got {layer!r}")
        return (kind, *args)
    if kind in ("batchnorm", "layernorm") or kind in _spec.ACTIVATION_NAMES:
        if args:
            raise ValueError(f"layer {i + 1}: ({kind!r},) takes no argument, got {layer!r}")
        return (kind,)
    raise ValueError(f"layer {i + 1}: unknown layer {kind!r}; valid: dense, batchnorm, layernorm, dropout, "
                     f"embedding, an activation ({', '.join(_spec.ACTIVATION_NAMES)})"
                     + (f", or a registered layer ({', '.join(_registered.LAYERS)})" if _registered.LAYERS else ""))
