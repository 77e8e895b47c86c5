"""The properties that prove the hand-written side equal to autodiff.

Each takes one generated case and raises AssertionError (naming the leaf, for
example "layer 2, dW", with both values at the worst entry) when it fails.
The test suite, the bug catalog and benchmarks/verify_throughput.py all run
these same functions.
"""

from __future__ import annotations

import numpy as np

import manual
from reference import bucketed

from .compare import assert_close, assert_grads_close


def network_gradients_match(case) -> None:
    """Outputs, loss and every dW and db of `manual` equal the JAX reference (float64).

    The reference is called through `reference.bucketed` (one compiled program for
    all shapes); tests/test_bucketed.py proves it equal to the plain reference.
    """
    spec, params, X, y = case
    loss_m, grads_m = manual.loss_and_grads(spec, params, X, y)
    out_m = manual.forward(spec, params, X)
    out_r, loss_r, grads_r = bucketed.forward_loss_and_grads(spec, params, X, y)
    assert_close("output", out_m, out_r)
    assert_close("loss", loss_m, loss_r)
    assert_grads_close(grads_m, grads_r)
    assert all(np.isfinite(dW).all() and np.isfinite(db).all() for dW, db in grads_m), "non-finite gradient"
