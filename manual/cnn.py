"""A small CNN by hand, from the layers: conv → relu → maxpool → flatten → dense → softmax cross-entropy.

Parameters in the project's one layout, a list of (W, b) pairs with W 2-D, so the optimizers of
`manual.optimizers` train it unchanged:

    params = [(Wc (C·k·k, F), bc (F,)),     the conv filters as im2col's matrix: W = Wcᵀ.reshape(F, C, k, k)
              (Wd (F·Hq·Wq, K), bd (K,))]   the dense layer on the flattened pooled maps

Shapes: X (N, C, H, W) -> conv (N, F, H', W') -> pool (N, F, Hq, Wq) -> (N, F·Hq·Wq) -> logits (N, K).
It is one `manual.stack_spec.StackSpec` (`spec.stack()`), run by `manual.stack`; only the conv
filters' layout differs (a 2-D matrix, for the optimizers). NumPy only; `reference.cnn` is the same
network in JAX (jax.grad), tests/test_cnn.py compares them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import stack as _stack
from .layers import windows


class CNNSpec(NamedTuple):
    image: tuple = (1, 9, 9)  # (C, H, W)
    filters: int = 8  # F
    kernel: int = 3  # k
    padding: int = 1
    pool: int = 9  # window and stride of the max pooling (9 on a 9×9 map: a global max, position-free)
    classes: int = 4  # K

    def pooled(self):
        C, H, W = self.image
        conv = windows.output_hw((H, W), (self.kernel,) * 2, (1, 1), (self.padding,) * 2)
        return windows.output_hw(conv, (self.pool,) * 2, (self.pool,) * 2)

    def stack(self):
        """The one description of this CNN."""
        from .stack_spec import StackSpec

        return StackSpec(tuple(self.image), (("conv", self.filters, self.kernel, 1, self.padding), ("relu",),
                                             ("maxpool", self.pool, self.pool), ("flatten",), ("dense", self.classes)))

    def n_params(self) -> int:
        C = self.image[0]
        Hq, Wq = self.pooled()
        return C * self.kernel ** 2 * self.filters + self.filters + (self.filters * Hq * Wq + 1) * self.classes


def init_cnn(spec: CNNSpec, seed=0, dtype=np.float64):
    """He-normal weights (fan_in = C·k·k for the filters, F·Hq·Wq for the dense layer), zero biases."""
    rng = np.random.default_rng(seed)
    C = spec.image[0]
    fan_c = C * spec.kernel ** 2
    Hq, Wq = spec.pooled()
    fan_d = spec.filters * Hq * Wq
    return [(rng.normal(0, np.sqrt(2 / fan_c), (fan_c, spec.filters)).astype(dtype), np.zeros(spec.filters, dtype)),
            (rng.normal(0, np.sqrt(2 / fan_d), (fan_d, spec.classes)).astype(dtype), np.zeros(spec.classes, dtype))]


def _filters(spec, Wc):
    C = spec.image[0]
    return Wc.T.reshape(spec.filters, C, spec.kernel, spec.kernel)  # (F, C, k, k)


def stack_params(spec: CNNSpec, params) -> list:
    """The params in `manual.stack`'s layout for `spec.stack()`: the filters as (F, C, k, k)."""
    (Wc, bc), (Wd, bd) = params
    return [(_filters(spec, Wc), bc), (), (), (), (Wd, bd)]


def forward(spec: CNNSpec, params, X):
    """logits (N, K) and the caches of every layer (conv, relu, maxpool, flatten, dense), by `manual.stack`."""
    s, caches = _stack.forward(spec.stack(), stack_params(spec, params), X)  # (N, K)
    return s, tuple(caches)


def loss_and_grads(spec: CNNSpec, params, X, y):
    """Mean cross-entropy and its gradients in the params layout, layer by layer backwards (`manual.stack`)."""
    loss, grads, _ = _stack.loss_and_grads(spec.stack(), stack_params(spec, params), X, y)
    (dW, dbc), _, _, _, (dWd, dbd) = grads  # dW (F, C, k, k)
    dWc = dW.reshape(spec.filters, -1).T.copy()  # (C·k·k, F): the layout of Wc
    return loss, [(dWc, dbc), (dWd, dbd)]


def predict(spec: CNNSpec, params, X, batch=512):
    return np.concatenate([forward(spec, params, X[i:i + batch])[0].argmax(axis=1) for i in range(0, len(X), batch)])


def train(loss_and_grads_fn, params, X, y, optimizer, epochs=30, batch_size=32, seed=0):
    """Mini-batch training with any optimizer of manual.optimizers; a new params list is returned.
    loss_and_grads_fn(params, Xb, yb) -> (loss, grads)."""
    rng = np.random.default_rng(seed)
    params = [(W.copy(), b.copy()) for W, b in params]
    state = optimizer.init(params)
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for i in range(0, len(X), batch_size):
            idx = order[i:i + batch_size]
            _, grads = loss_and_grads_fn(params, X[idx], y[idx])
            state = optimizer.update_inplace(grads, state, params)
    return params
