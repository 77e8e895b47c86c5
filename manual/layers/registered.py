"""Layers registered by users, the NumPy side: the table `manual.stack_spec` and `manual.stack` read.

A registered layer follows the layer protocol, rows in and rows out:

    out, cache = forward(x, *params, **hyper)      x (N, D) -> out (N, out_width(D, **hyper))
    dx, *dparams = backward(dout, cache)

and declares its parameters from the width D it receives: `param_shapes(D, **hyper)` returns
one shape tuple per parameter, in forward's order (`lambda D: [(D,), (D,)]` for a γ and a β).
`hyper` names its hyperparameters, written after the name in a stack layer tuple:
("scale",) when hyper = (), ("clip", 0.5) when hyper = ("c",) (passed as c=0.5).

Register through `dualgrad.registry.register_layer`, which checks the arguments and adds the JAX
twin to `reference.layers.registered` at the same time; this module only holds the table.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Tuple


class RegisteredLayer(NamedTuple):
    forward: Callable  # forward(x, *params, **hyper) -> (out, cache)
    backward: Callable  # backward(dout, cache) -> (dx, *dparams)
    param_shapes: Callable  # param_shapes(D, **hyper) -> [shape, ...]
    out_width: Optional[Callable]  # out_width(D, **hyper) -> M; None: M = D
    hyper: Tuple[str, ...]  # the hyperparameters' names, in the stack tuple's order
    param_names: Optional[Tuple[str, ...]]  # None: p1, p2, ...
    init: Optional[Callable]  # init(shapes, rng) -> params; None: N(0, 1/shape[0]) each


LAYERS: dict = {}


def register(name: str, layer: RegisteredLayer) -> None:
    """Add `name` to the table (the caller, `dualgrad.registry.register_layer`, has checked everything)."""
    LAYERS[name] = layer


def unregister(name: str) -> None:
    LAYERS.pop(name, None)


def hyper_of(name: str, args: tuple) -> dict:
    """The keyword hyperparameters of the stack tuple (name, *args)."""
    return dict(zip(LAYERS[name].hyper, args))


def shapes_of(name: str, width: int, args: tuple) -> tuple:
    """The parameter shapes of the registered layer `name` receiving `width` features, checked:
    ValueError naming the layer when param_shapes does not return shape tuples of ints >= 1."""
    entry = LAYERS[name]
    try:
        raw = entry.param_shapes(width, **hyper_of(name, args))
    except Exception as err:  # noqa: BLE001  the user's function: name it
        raise ValueError(f"layer {name!r}: param_shapes({width}) raised {type(err).__name__}: {err}") from None
    shapes = _shape_list(raw, f"layer {name!r}: param_shapes({width})")
    names = entry.param_names
    if names is not None and len(names) != len(shapes):
        raise ValueError(f"layer {name!r}: param_shapes({width}) gives {len(shapes)} shapes but param_names "
                         f"has {len(names)} names {names}")
    return shapes


def width_of(name: str, width: int, args: tuple) -> int:
    """The registered layer's output width for `width` input features (ValueError unless an int >= 1)."""
    entry = LAYERS[name]
    if entry.out_width is None:
        return width
    try:
        out = entry.out_width(width, **hyper_of(name, args))
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"layer {name!r}: out_width({width}) raised {type(err).__name__}: {err}") from None
    if isinstance(out, bool) or not _is_int(out) or out < 1:
        raise ValueError(f"layer {name!r}: out_width({width}) must return an int >= 1, got {out!r}")
    return int(out)


def names_of(name: str, count: int) -> Tuple[str, ...]:
    """The parameter names of `name` (p1, p2, ... when none were given)."""
    names = LAYERS[name].param_names
    return tuple(names) if names is not None else tuple(f"p{i}" for i in range(1, count + 1))


def _is_int(v) -> bool:
    import numbers

    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _shape_list(raw, where) -> tuple:
    if isinstance(raw, (str, bytes)) or not isinstance(raw, (list, tuple)):
        raise ValueError(f"{where} must return a list of shape tuples such as [(D,), (D,)], got {raw!r}")
    shapes = []
    for s in raw:
        if isinstance(s, (str, bytes)) or not isinstance(s, (list, tuple)) or not s \
                or not all(_is_int(d) and d >= 1 for d in s):
            raise ValueError(f"{where} must return a list of shape tuples of ints >= 1 such as [(D,), (D,)], "
                             f"got {raw!r}")
        shapes.append(tuple(int(d) for d in s))
    return tuple(shapes)
