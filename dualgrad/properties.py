"""The properties that prove the hand-written side equal to autodiff.

Each takes one generated case and raises AssertionError (naming the leaf, for
example "layer 2, dW", with both values at the worst entry) when it fails.
The test suite, the bug catalog and benchmarks/verify_throughput.py all run
these same functions.
"""

from __future__ import annotations

import numpy as np
from hypothesis import reject

import manual
from manual.network import forward_with_cache
from reference import bucketed

from .check import SMOOTH
from .compare import assert_close, assert_grads_close

# XLA on CPU flushes subnormal numbers (|x| < 2.2e-308) to zero (jax-ml/jax#16200), NumPy does
# not. A flushed value, carried through a few weights, can leave a pre-activation that NumPy
# computes as, say, −5e-306 exactly 0 in JAX; at a kink that flips the derivative (leaky_relu:
# 0.01 in NumPy, 1 in JAX), and the two sides differ in O(1) without either being wrong.
# Pre-activations this close to 0 but not 0 can only come from such underflow.
FLUSH_REACH = 1e-250


def network_gradients_match(case) -> None:
    """Outputs, loss and every dW and db of `manual` equal the JAX reference (float64).

    The reference is called through `reference.bucketed` (one compiled program for
    all shapes); tests/test_bucketed.py proves it equal to the plain reference.
    A failing case whose disagreement can come from XLA's subnormal flushing at a kink
    (see `flushed_onto_a_kink`) is rejected (hypothesis.reject), not failed.
    """
    spec, params, X, y = case
    loss_m, grads_m = manual.loss_and_grads(spec, params, X, y)
    out_m = manual.forward(spec, params, X)
    out_r, loss_r, grads_r = bucketed.forward_loss_and_grads(spec, params, X, y)
    try:
        assert_close("output", out_m, out_r)
        assert_close("loss", loss_m, loss_r)
        assert_grads_close(grads_m, grads_r)
    except AssertionError:
        if flushed_onto_a_kink(spec, params, X):
            reject()
        raise
    assert all(np.isfinite(dW).all() and np.isfinite(db).all() for dW, db in grads_m), "non-finite gradient"


def flushed_onto_a_kink(spec, params, X) -> bool:
    """Some unit of a non-smooth activation (relu, leaky_relu, a registered one) has a
    pre-activation with 0 < |z| < FLUSH_REACH: XLA may see it as exactly 0, on the kink."""
    _, caches = forward_with_cache(spec, [(np.asarray(W, np.float64), np.asarray(b, np.float64)) for W, b in params],
                                   np.asarray(X, np.float64))
    for name, cache in zip(spec.hidden, caches):
        if name not in SMOOTH:
            z = np.abs(cache.z)
            if np.any((z > 0) & (z < FLUSH_REACH)):
                return True
    return False
