"""Every activation as a layer in JAX: `<act>(x)` is `reference.activations`' jax.nn function.

NOTE: kinks as jax.nn (relu'(0) = 0, leaky_relu'(0) = 1, elu'(0) = 1), matched by manual.
"""

from manual.layers import checks

from .. import activations as _acts


def activation(name, x):
    """f(x) for the activation `name` (any with a JAX twin), x any shape."""
    checks.float_array(x, "x")
    return _acts.get_activation(name)(x)


def _layer(name):
    def fn(x):
        return activation(name, x)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{name}(x), elementwise (reference.activations)"
    return fn


identity = _layer("identity")
relu = _layer("relu")
leaky_relu = _layer("leaky_relu")
elu = _layer("elu")
_gelu_tanh = _layer("gelu")  # the activation "gelu" (tanh form); reference.layers.gelu is gelu.py's
silu = _layer("silu")
sigmoid = _layer("sigmoid")
tanh = _layer("tanh")
softplus = _layer("softplus")

ACTIVATION_LAYERS = {name: globals()[name] if name != "gelu" else _gelu_tanh for name in _acts.BUILT_IN}
