"""The small CNN of `manual.cnn` in JAX (float64): conv → relu → maxpool → flatten → dense →
softmax cross-entropy, the same params layout; its loss is `reference.stack`'s of `spec.stack()`,
gradients from jax.grad."""

import jax

from . import _x64  # noqa: F401
from . import stack as _stack


def loss(spec, params, X, y):
    (Wc, bc), (Wd, bd) = params
    C = spec.image[0]
    W = Wc.T.reshape(spec.filters, C, spec.kernel, spec.kernel)  # (F, C, k, k)
    return _stack.loss(spec.stack(), [(W, bc), (), (), (), (Wd, bd)], X, y)


def loss_and_grads(spec, params, X, y):
    """(loss, grads) by jax.grad, compiled once per spec (a hashable NamedTuple) and shapes."""
    return _program(spec)(params, X, y)


_PROGRAMS = {}


def _program(spec):
    if spec not in _PROGRAMS:
        _PROGRAMS[spec] = jax.jit(jax.value_and_grad(lambda p, X, y: loss(spec, p, X, y)))
    return _PROGRAMS[spec]
