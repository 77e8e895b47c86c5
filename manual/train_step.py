"""One training step: forward, backward and an in-place optimizer update on one batch.

This is the step `MLP.fit` takes for every mini-batch, and the one
benchmarks/train_step.py times.

    step = TrainStep(spec, optimizer)            # optimizer from manual.optimizers
    loss, state = step(params, state, X, Y)      # params updated in place

X (N, sizes[0]) and Y (N, sizes[-1]) must already be checked and encoded
(`validation.check_inputs`, `validation.encode_targets`) in the dtype of params.
The returned loss is the loss *before* the update (L2 penalty included).

If the loss or a gradient is not finite, `NonFiniteError` is raised before
anything is written: params and state stay as they were.
"""

from __future__ import annotations

import numpy as np

from .losses import get_loss
from .network import backward, forward_with_cache, l2_penalty
from .spec import NetworkSpec


class NonFiniteError(FloatingPointError):
    """The loss or a gradient became NaN or infinite; nothing was updated."""


class TrainStep:
    """loss, state = step(params, state, X, Y): one forward, backward and optimizer update."""

    def __init__(self, spec: NetworkSpec, optimizer):
        self.spec = spec
        self.optimizer = optimizer
        self._loss = get_loss(spec.loss)

    def __call__(self, params, state, X, Y):
        logits, caches = forward_with_cache(self.spec, params, X)  # logits: (N, sizes[-1])
        value, ds = self._loss.value_and_dlogits(logits, Y)  # ds: (N, sizes[-1])
        value += l2_penalty(self.spec, params)
        grads = backward(self.spec, params, caches, ds)  # [(dW, db), ...]
        if not np.isfinite(value) or not all(np.isfinite(dW).all() and np.isfinite(db).all() for dW, db in grads):
            raise NonFiniteError(f"the loss or a gradient is not finite (loss = {value}); parameters left unchanged")
        state = self.optimizer.update_inplace(grads, state, params)
        return float(value), state
