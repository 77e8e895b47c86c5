"""What a correct implementation returns for a network under a user's conventions (JAX, float64).

Used by the user check (`dualgrad.engine.user_check`) and by the mistake namer
(`dualgrad.engine.mistakes`), which asks what the gradients would be with one activation's
derivative replaced.
"""

from __future__ import annotations

import numpy as np

from manual.spec import NetworkSpec

from .conventions import Conventions


def expected(spec: NetworkSpec, conv: Conventions, params, X, y, other_side: bool = False, overrides=None):
    """(output (N, K), loss, [(dW, db), ...]) that a correct implementation returns under `conv`.

    spec is the internal spec; params in our layout, float64. other_side: relu and
    leaky_relu take the other one-sided derivative at z = 0.
    """
    from reference import bucketed
    from reference.activations import OTHER_SIDE

    data_spec = NetworkSpec(spec.sizes, spec.hidden, spec.loss, 0.0)
    if other_side:
        overrides = {**OTHER_SIDE, **(overrides or {})}
    out, data, grads = bucketed.forward_loss_and_grads(data_spec, params, X, y, overrides=overrides)
    c = conv.loss_factor(spec.loss, X.shape[0], spec.sizes[-1])
    lam, p = spec.l2, conv.l2_factor()
    loss = c * data + p * lam * sum(float(np.sum(W * W)) for W, _ in params)
    grads = [(c * dW + 2 * p * lam * W, c * db) for (dW, db), (W, _) in zip(grads, params)]
    return out, loss, grads
