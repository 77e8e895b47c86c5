"""Layers registered by users, the JAX side: name -> (jax_fn, hyperparameter names), read by
`reference.stack`. `out = jax_fn(x, *params, **hyper)`; gradients from jax.grad/jax.vjp.
Filled by `dualgrad.registry.register_layer` together with `manual.layers.registered`."""

LAYERS: dict = {}


def register(name, jax_fn, hyper=()):
    LAYERS[name] = (jax_fn, tuple(hyper))


def unregister(name):
    LAYERS.pop(name, None)


def apply(name, x, params, args=()):
    """The registered layer `name` of the stack tuple (name, *args) on x."""
    jax_fn, hyper = LAYERS[name]
    return jax_fn(x, *params, **dict(zip(hyper, args)))
