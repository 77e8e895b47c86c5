"""Known activation-derivative mistakes, recognised in a failing case.

Each mistake is a JAX function with the right forward and the wrong derivative (jax.custom_jvp),
swapped into the bucketed reference with `overrides`: when a user's gradients match jax.grad of
the network built with it, that is their mistake, named in words. One compiled program per
mistake, compiled only when a case fails.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=None)
def _mistakes():
    import jax
    import jax.numpy as jnp

    def with_derivative(forward, derivative):
        fn = jax.custom_jvp(forward)
        fn.defjvp(lambda primals, tangents: (forward(primals[0]), derivative(primals[0]) * tangents[0]))
        return fn

    sig = jax.nn.sigmoid
    return {
        "tanh": [(with_derivative(jnp.tanh, lambda z: 1 - z * z),
                  "tanh'(z) is computed as 1 − z² (from z); it is 1 − a² with a = tanh(z)")],
        "sigmoid": [(with_derivative(sig, lambda z: z * (1 - z)),
                     "σ'(z) is computed as z (1 − z) (from z); it is a (1 − a) with a = σ(z)")],
        "_any": [(None, "your gradients are those of δ passed back through Wᵀ without multiplying by f'(z) "
                        "(the derivative left out, or a mask that is all ones here)")],
    }


def _identity_derivative(name):
    import jax

    from reference.activations import get_activation

    f = get_activation(name)
    fn = jax.custom_jvp(f)
    fn.defjvp(lambda primals, tangents: (f(primals[0]), tangents[0]))
    return fn


@lru_cache(maxsize=None)
def _no_derivative(name):
    return _identity_derivative(name)


def name_the_mistake(spec, conv, params, X, y, user_grads, matches) -> str:
    """A sentence naming the activation-derivative mistake the user's gradients match, or ''.

    matches(grads_ref) -> bool: whether the user's gradients agree with these expected ones."""
    from .expected import expected

    for name in sorted(set(spec.hidden)):
        candidates = list(_mistakes().get(name, [])) + list(_mistakes()["_any"])
        for fn, words in candidates:
            if fn is None:
                if name == "identity":
                    continue
                fn = _no_derivative(name)
            try:
                _, _, grads = expected(spec, conv, params, X, y, overrides={name: fn})
            except Exception:
                continue
            if matches(grads):
                return f"the cause is the activation derivative of {name}: {words}"
    return ""
