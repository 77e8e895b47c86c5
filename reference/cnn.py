"""The small CNN of `manual.cnn` in JAX (float64): conv → relu → maxpool → flatten → dense →
softmax cross-entropy, the same params layout; gradients from jax.grad."""

import jax
import jax.numpy as jnp

from . import _x64  # noqa: F401
from .layers import conv2d, flatten, maxpool2d


def loss(spec, params, X, y):
    (Wc, bc), (Wd, bd) = params
    C = spec.image[0]
    W = Wc.T.reshape(spec.filters, C, spec.kernel, spec.kernel)  # (F, C, k, k)
    a = jax.nn.relu(conv2d(X, W, bc, 1, spec.padding))  # NOTE: relu'(0) = 0, as manual
    s = flatten(maxpool2d(a, spec.pool, spec.pool)) @ Wd + bd  # (N, K)
    return -jnp.mean(jax.nn.log_softmax(s)[jnp.arange(s.shape[0]), y])


def loss_and_grads(spec, params, X, y):
    """(loss, grads) by jax.grad, compiled once per spec (a hashable NamedTuple) and shapes."""
    return _program(spec)(params, X, y)


_PROGRAMS = {}


def _program(spec):
    if spec not in _PROGRAMS:
        _PROGRAMS[spec] = jax.jit(jax.value_and_grad(lambda p, X, y: loss(spec, p, X, y)))
    return _PROGRAMS[spec]
