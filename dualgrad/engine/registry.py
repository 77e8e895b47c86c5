"""Add your own hidden activation to both sides at once, for good or for the length of a block.

    from dualgrad.registry import register_activation, registered_activation

    register_activation("softsign", forward, derivative, jax_fn)   # manual and reference

    with registered_activation("softsign", forward, derivative, jax_fn):
        ...   # NetworkSpec(..., "softsign", ...), check_gradients, strategies, verify, explain
    # gone again afterwards: tests stay independent of each other

forward(z) -> a and derivative(z, a) -> da/dz are NumPy (the hand-written
side, `manual.register_activation`); jax_fn(z) -> a is written with jax.numpy and
differentiated by jax.grad (`reference.register_activation`). Once registered,
the name is valid in specs, `dualgrad.strategies.activation_names()` draws it,
`check_gradients` and `dualgrad verify --hidden NAME` check it, and
`dualgrad explain` shows the first docstring line of forward and derivative.

Re-registering a name (after unregistering it) with other functions is fine on
both sides: the reference's compiled fast path is keyed on the JAX functions
themselves, so a changed one is compiled anew.

Losses work the same way (`register_loss`, `registered_loss`): the NumPy side gives
the loss and dL/ds from the logits s, the JAX side the loss alone, and the name is
then valid in specs, strategies, `verify --loss NAME`, `explain` and `check_implementation`:

    register_loss("hinge_sq", value_and_dlogits, jax_fn, targets="classes", output=..., jax_output=...)

Before any network is checked, every registered activation and loss in play is
compared elementwise with its JAX twin and with jax.grad on a grid of points
(`dualgrad.diagnose`), so a wrong derivative is reported as "arctan'(0.5): yours
0.8, jax.grad 0.8" rather than as failing leaves.

Layers work the same way (`register_layer`, `unregister_layer`, `registered_layer`): a NumPy
forward/backward pair in CS231n's protocol and a JAX twin; the parameters' shapes are declared from
the width D the layer receives, and the name is then valid in `StackSpec` stacks, `check_layer(name)`
and `dualgrad explain --stack "... NAME ..." --import my_layer.py`:

    register_layer("scale", scale_forward, scale_backward, scale_jax, param_shapes=lambda D: [(D,)])

From the command line, put the registration in a module or .py file and load it
with `--import`: `dualgrad verify --import my_activations.py --hidden softsign`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from contextlib import contextmanager

import manual
import reference
from manual import activations as _manual_activations
from reference import activations as _reference_activations


def register_activation(name: str, forward, derivative, jax_fn) -> None:
    """Register `name` with `manual` (forward, derivative) and with `reference` (jax_fn).

    The arguments are all checked before either table changes.
    """
    for fn, what in ((forward, "forward(z)"), (derivative, "derivative(z, a)"), (jax_fn, "jax_fn(z)")):
        if not callable(fn):
            raise TypeError(f"register_activation needs a callable {what}, got {fn!r}")
    if name in _manual_activations.BUILT_IN:
        raise ValueError(f"{name!r} is a built-in activation; register yours under another name")
    manual.register_activation(name, forward, derivative)
    reference.register_activation(name, jax_fn)


def unregister_activation(name: str) -> None:
    """Remove `name` from both sides (whichever has it); ValueError if neither does."""
    known = [m for m in (_manual_activations, _reference_activations) if name in m.ACTIVATIONS]
    if name in _manual_activations.BUILT_IN or not known:
        raise ValueError(f"activation {name!r} is not a registered (non-built-in) activation")
    for module in known:
        module.unregister_activation(name)


@contextmanager
def registered_activation(name: str, forward, derivative, jax_fn):
    """Register `name` on both sides for the `with` block, and remove it afterwards (even on error).

    A name that is already registered is refused (ValueError), so a block never
    silently replaces, and then removes, someone else's activation.
    """
    if name in _manual_activations.ACTIVATIONS or name in _reference_activations.ACTIVATIONS:
        raise ValueError(f"activation {name!r} is already registered; choose an unused name")
    register_activation(name, forward, derivative, jax_fn)
    try:
        yield name
    finally:
        unregister_activation(name)


def register_loss(name: str, value_and_dlogits, jax_fn, *, targets: str = "real", output=None,
                  jax_output=None, head: str = "identity") -> None:
    """Register the loss `name` with `manual` and with `reference`.

    value_and_dlogits(s, Y) -> (L, dL/ds)  NumPy: the mean over the batch of a per-example loss
                                           of the logits s (N, K) and targets Y (N, K)
    jax_fn(s, Y) -> L                       jax.numpy: the same loss, differentiated by jax.grad
    targets   "real" (Y as given, (N, K)), "classes" (class indices or one-hot rows, K ≥ 2) or
              "binary" (0/1 labels, one output)
    output, jax_output   the head's predictions from s (NumPy, JAX); default the identity
    head      the head's name in reports ("identity", "sigmoid", "softmax", ...)

    The arguments are all checked before either table changes.
    """
    from manual import losses as _manual_losses
    from reference import losses as _reference_losses

    for fn, what in ((value_and_dlogits, "value_and_dlogits(s, Y)"), (jax_fn, "jax_fn(s, Y)")):
        if not callable(fn):
            raise TypeError(f"register_loss needs a callable {what}, got {fn!r}")
    for fn, what in ((output, "output(s)"), (jax_output, "jax_output(s)")):
        if fn is not None and not callable(fn):
            raise TypeError(f"register_loss: {what} must be callable or None, got {fn!r}")
    if name in _manual_losses.BUILT_IN:
        raise ValueError(f"{name!r} is a built-in loss; register yours under another name")
    from manual import spec as _spec

    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"loss name must be an identifier string, got {name!r}")
    if targets not in _spec.TARGET_KINDS:
        raise ValueError(f"targets must be one of {', '.join(map(repr, _spec.TARGET_KINDS))}, got {targets!r}")
    _manual_losses.register_loss(name, value_and_dlogits, output=output, targets=targets, head=head)
    _reference_losses.register_loss(name, jax_fn, output=jax_output)


def unregister_loss(name: str) -> None:
    """Remove the loss `name` from both sides (whichever has it); ValueError if neither does."""
    from manual import losses as _manual_losses
    from reference import losses as _reference_losses

    known = [m for m in (_manual_losses, _reference_losses) if name in m.LOSSES]
    if name in _manual_losses.BUILT_IN or not known:
        raise ValueError(f"loss {name!r} is not a registered (non-built-in) loss")
    for module in known:
        module.unregister_loss(name)


@contextmanager
def registered_loss(name: str, value_and_dlogits, jax_fn, **options):
    """Register the loss `name` on both sides for the `with` block, and remove it afterwards."""
    from manual import losses as _manual_losses

    if name in _manual_losses.LOSSES:
        raise ValueError(f"loss {name!r} is already registered; choose an unused name")
    register_loss(name, value_and_dlogits, jax_fn, **options)
    try:
        yield name
    finally:
        unregister_loss(name)


# ---- layers ---------------------------------------------------------------------------------

BUILT_IN_LAYERS = ("dense", "batchnorm", "layernorm", "dropout", "embedding", "conv", "maxpool", "avgpool",
                   "flatten", "identity")


def register_layer(name: str, forward, backward, jax_fn, *, param_shapes=None, out_width=None, hyper=(),
                   param_names=None, init=None) -> None:
    """Register the layer `name` with `manual` (forward, backward) and with `reference` (jax_fn).

    forward(x, *params, **hyper) -> (out, cache)   NumPy, x (N, D) -> out (N, M)
    backward(dout, cache) -> (dx, *dparams)         NumPy, CS231n's protocol
    jax_fn(x, *params, **hyper) -> out              jax.numpy; its gradients come from jax.vjp
    param_shapes(D, **hyper) -> [shape, ...]        the parameters' shapes, in forward's order, from the
                                                    width D the layer receives (default: no parameters)
    out_width(D, **hyper) -> M                      the output width (default: M = D)
    hyper        the hyperparameters' names, in the order they follow the name in a stack tuple:
                 hyper=("c",) makes ("clip", 0.5) call forward(x, *params, c=0.5)
    param_names  one name per parameter, for reports ("dgamma3"); default p1, p2, ...
    init(shapes, rng) -> params   for `manual.stack.init_params` (default N(0, 1/shape[0]) each)

    Then (name, *hyper values) is a layer of `manual.stack_spec.StackSpec` (run by `manual.stack`,
    rebuilt by `reference.stack`), of `dualgrad explain --stack` (with --import), and
    `check_layer(name)` checks it alone. All arguments are checked before either table changes:
    TypeError for a wrong kind of value, ValueError for a built-in or invalid name. Registering a
    name that is already a registered layer replaces it (as `register_activation` does), so that
    importing the same plugin twice works; `registered_layer` refuses a taken name.
    """
    from manual import activations as _acts
    from manual.layers import registered as _manual_layers
    from reference.layers import registered as _reference_layers

    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"layer name must be an identifier string such as 'scale', got {name!r}")
    if name in BUILT_IN_LAYERS or name in _acts.ACTIVATIONS:
        raise ValueError(f"{name!r} is a built-in layer or an activation; register yours under another name")
    for fn, what in ((forward, "forward(x, *params, **hyper)"), (backward, "backward(dout, cache)"),
                     (jax_fn, "jax_fn(x, *params, **hyper)")):
        if not callable(fn):
            raise TypeError(f"register_layer needs a callable {what}, got {type(fn).__name__}")
    for fn, what in ((param_shapes, "param_shapes(D, **hyper)"), (out_width, "out_width(D, **hyper)"),
                     (init, "init(shapes, rng)")):
        if fn is not None and not callable(fn):
            raise TypeError(f"register_layer: {what} must be callable or None, got {type(fn).__name__}")
    if isinstance(hyper, str) or not isinstance(hyper, (tuple, list)) \
            or not all(isinstance(h, str) and h.isidentifier() for h in hyper) or len(set(hyper)) != len(hyper):
        raise TypeError(f"register_layer: hyper must be a tuple of distinct names such as ('c',), got {hyper!r}")
    if param_names is not None:
        if isinstance(param_names, str) or not isinstance(param_names, (tuple, list)) \
                or not all(isinstance(n, str) and n.isidentifier() for n in param_names):
            raise TypeError(f"register_layer: param_names must be a tuple of names such as ('gamma', 'beta'), "
                            f"got {param_names!r}")
        if len(set(param_names)) != len(param_names):
            raise ValueError(f"register_layer: param_names must be distinct, got {tuple(param_names)}")
    entry = _manual_layers.RegisteredLayer(
        forward, backward, param_shapes if param_shapes is not None else (lambda D, **_: []), out_width,
        tuple(hyper), None if param_names is None else tuple(param_names), init)
    if not hyper:  # no hyperparameters: param_shapes and out_width can be tried now, on a few widths
        probe = {name: entry}
        for D in (1, 2, 5):
            _probe(probe, name, D)
    _manual_layers.register(name, entry)
    _reference_layers.register(name, jax_fn, tuple(hyper))


def _probe(table, name, D):
    """param_shapes(D) and out_width(D) of a not yet registered layer, checked as a StackSpec will."""
    from manual.layers import registered as _manual_layers

    saved = dict(_manual_layers.LAYERS)
    _manual_layers.LAYERS.update(table)
    try:
        _manual_layers.shapes_of(name, D, ())
        _manual_layers.width_of(name, D, ())
    finally:
        _manual_layers.LAYERS.clear()
        _manual_layers.LAYERS.update(saved)


def unregister_layer(name: str) -> None:
    """Remove the layer `name` from both sides; ValueError if it is not a registered layer."""
    from manual.layers import registered as _manual_layers
    from reference.layers import registered as _reference_layers

    if not isinstance(name, str) or (name not in _manual_layers.LAYERS and name not in _reference_layers.LAYERS):
        raise ValueError(f"layer {name!r} is not a registered (non-built-in) layer")
    _manual_layers.unregister(name)
    _reference_layers.unregister(name)


@contextmanager
def registered_layer(name: str, forward, backward, jax_fn, **options):
    """Register the layer `name` on both sides for the `with` block, and remove it afterwards (even on error).

    A name that is already registered is refused (ValueError), so a block never silently replaces,
    and then removes, someone else's layer."""
    from manual.layers import registered as _manual_layers
    from reference.layers import registered as _reference_layers

    if isinstance(name, str) and (name in _manual_layers.LAYERS or name in _reference_layers.LAYERS):
        raise ValueError(f"layer {name!r} is already registered; choose an unused name")
    register_layer(name, forward, backward, jax_fn, **options)
    try:
        yield name
    finally:
        unregister_layer(name)


def import_plugin(target: str):
    """Import a module by name (`my_pkg.acts`) or a Python file by path (`acts.py`), for its
    registrations. Raises ImportError or OSError naming the target."""
    if target.endswith(".py") or os.sep in target or "/" in target:
        if not os.path.isfile(target):
            raise OSError(f"no such file {target!r}")
        module_name = "dualgrad_plugin_" + os.path.splitext(os.path.basename(target))[0]
        spec = importlib.util.spec_from_file_location(module_name, target)
        if spec is None or spec.loader is None:
            raise ImportError(f"{target!r} is not a Python file")
        module = importlib.util.module_from_spec(spec)
        folder = os.path.dirname(os.path.abspath(target))
        if folder not in sys.path:  # as `python FILE.py` would: its sibling modules import
            sys.path.insert(0, folder)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return module
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` would: modules in the working directory
    return importlib.import_module(target)
