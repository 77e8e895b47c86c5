"""Every activation of `manual.activations` as a layer: out, cache = <act>_forward(x),
(dx,) = <act>_backward(dout, cache).

    out = f(x)   ⇒   dx = dout ⊙ f'(x)

f and f' are manual's own (`manual.activations`, each derivative next to its function, with
the conventions at kinks stated there: relu'(0) = 0, leaky_relu'(0) = 1, elu'(0) = 1, as jax.nn).
The cache keeps x and out = f(x): σ' and tanh' are written in the output, the others in x.
x may have any shape; out and dx have the same. The forward returns a new array (identity
copies x) so that no output aliases an input.

`ACTIVATION_LAYERS["gelu"]` is the activation "gelu" of network descriptions: the tanh form,
as it always was. `manual.layers.gelu_forward` is the GELU layer of `gelu.py`, whose default
is PyTorch's exact (erf) form; `gelu_forward(x, approximate="tanh")` is the pair below.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import activations as _acts
from . import checks


class ActivationCache(NamedTuple):
    name: str
    x: np.ndarray  # any shape
    out: np.ndarray  # f(x), same shape


def activation_forward(name, x):
    """out = f(x) for the activation `name` (any registered one); x any shape."""
    act = _acts.get_activation(name)
    x = checks.float_array(x, "x")
    out = np.array(act.forward(x), dtype=x.dtype, copy=True)  # same shape as x; never x itself
    return out, ActivationCache(name, x, out)


def activation_backward(dout, cache):
    """out = f(x)  ⇒  dx = dout ⊙ f'(x)  (f' from manual.activations, given x and out)."""
    name, x, out = checks.cache_of(cache, ActivationCache, "<activation>")
    dout = checks.same_shape(dout, x.shape)
    dx = dout * _acts.get_activation(name).derivative(x, out)  # same shape as x
    return (dx,)


def _pair(name):
    def forward(x):
        return activation_forward(name, x)

    def backward(dout, cache):
        return activation_backward(dout, cache)

    act = _acts.ACTIVATIONS[name]
    forward.__name__, backward.__name__ = f"{name}_forward", f"{name}_backward"
    forward.__qualname__, backward.__qualname__ = forward.__name__, backward.__name__
    forward.__doc__ = f"out = f(x), f = {name}: {(act.forward.__doc__ or '').strip().splitlines()[0]}"
    backward.__doc__ = (f"dx = dout ⊙ f'(x), f = {name}: "
                        f"{(act.derivative.__doc__ or '').strip().splitlines()[0]}")
    return forward, backward


identity_forward, identity_backward = _pair("identity")
relu_forward, relu_backward = _pair("relu")
leaky_relu_forward, leaky_relu_backward = _pair("leaky_relu")
elu_forward, elu_backward = _pair("elu")
_gelu_tanh_pair = _pair("gelu")  # NOTE: the *named* activation "gelu" is the tanh form (manual.activations);
# manual.layers.gelu_forward(x, approximate="none") (gelu.py) is the layer with PyTorch's default, the erf form
silu_forward, silu_backward = _pair("silu")
sigmoid_forward, sigmoid_backward = _pair("sigmoid")
tanh_forward, tanh_backward = _pair("tanh")
softplus_forward, softplus_backward = _pair("softplus")

ACTIVATION_LAYERS = {name: (globals()[f"{name}_forward"], globals()[f"{name}_backward"])
                     if name != "gelu" else _gelu_tanh_pair for name in _acts.BUILT_IN}
