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
from reference import bucketed

from .report import SMOOTH
from .compare import assert_close, assert_grads_close

# Where the two sides may legitimately disagree: a unit of a non-smooth activation (relu,
# leaky_relu, a registered one) whose pre-activation z is within rounding of its kink. Its
# derivative then depends on the last bits of z, and the two sides round differently:
# - XLA's float64 tanh is a few ulps off near saturation, so gelu(−7.23) is −2.8e-15 in JAX
#   and exactly −0.0 in NumPy (the true value is −1.3e-16): the next relu sees z ≠ 0 vs z = 0;
# - XLA on CPU flushes subnormals (|x| < 2.2e-308) to zero (jax-ml/jax#16200), NumPy does not:
#   silu(−712) = −712·σ(−712) is −4.3e-307 in NumPy and 0 in JAX, and the next leaky_relu's
#   derivative is 0.01 on one side and 1 on the other.
# Both were found by the property itself (tests/test_gradients.py keeps them). Such a case is
# rejected, not failed, when and only when it fails (`near_a_kink` is not evaluated otherwise).
ROUNDING_ULPS = 64  # per step: XLA's tanh is ~7 ulps off, a sum of up to 32 terms rounds each term
_EPS, _TINY = np.finfo(np.float64).eps, np.finfo(np.float64).tiny


def network_gradients_match(case) -> None:
    """Outputs, loss and every dW and db of `manual` equal the JAX reference (float64).

    The reference is called through `reference.bucketed` (one compiled program for
    all shapes); tests/test_bucketed.py proves it equal to the plain reference.
    A gradient out of `dualgrad.compare`'s tolerance still passes when it is within a rounding
    bound of the gross gradient (see `within_rounding`). A failing case with a non-smooth unit
    within rounding of its kink (see `near_a_kink`) is rejected (hypothesis.reject), not failed:
    there the derivative is the rounding's choice.
    """
    spec, params, X, y = case
    loss_m, grads_m = manual.loss_and_grads(spec, params, X, y)
    out_m = manual.forward(spec, params, X)
    out_r, loss_r, grads_r = bucketed.forward_loss_and_grads(spec, params, X, y)
    try:
        assert_close("output", out_m, out_r)
        assert_close("loss", loss_m, loss_r)
        try:
            assert_grads_close(grads_m, grads_r)
        except AssertionError:
            if not within_rounding(spec, params, X, y, grads_m, grads_r):
                raise
    except AssertionError:
        if near_a_kink(spec, params, X):
            reject()
        raise
    assert all(np.isfinite(dW).all() and np.isfinite(db).all() for dW, db in grads_m), "non-finite gradient"


def within_rounding(spec, params, X, y, grads_m, grads_r) -> bool:
    """Every |manual − ref| of every leaf is within ROUNDING_ULPS·ε times the gross gradient G
    (see `gross_gradient`): the two sides differ by rounding, however small the gradient.

    Asked only when the tolerance of `dualgrad.compare` fails. It settles saturated units:
    1 − a² from a rounded a ≈ 1 keeps only the last bits, and XLA's float64 tanh rounds
    differently from NumPy's (up to 3.5 ulps apart; tanh'(17) is 6.9e-15 in NumPy, 7.5e-15 in
    JAX). Found by the thorough profile: a layer-1 dW of 2.3e-12 in JAX was 6.7e-13 in NumPy,
    next to a largest gradient of 0.86. A real backprop mistake changes a gradient by a
    fraction of G itself, ~1e14 times more than this bound allows.
    """
    gross = gross_gradient(spec, params, X, y)
    for (dW_m, db_m), (dW_r, db_r), (G_W, G_b) in zip(grads_m, grads_r, gross):
        for m, r, G in ((dW_m, dW_r, G_W), (db_m, db_r, G_b)):
            diff = np.abs(np.asarray(m, np.float64) - np.asarray(r, np.float64))
            if not np.all(diff <= ROUNDING_ULPS * _EPS * G):  # a NaN fails too
                return False
    return True


def gross_gradient(spec, params, X, y) -> list:
    """[(G_W, G_b), ...]: backprop on absolute values, a bound on how large the terms summed into
    each gradient entry are — |a| for a, |W| for W, |P| + |Y| for the head's P − Y, and |f'(z)| + 1
    for f'(z): the 1 stands for an f' computed with an absolute error of some ulps of 1 (1 − a²
    from a rounded a ≈ ±1), whatever f' is."""
    from manual.activations import get_activation
    from manual.losses import get_loss
    from manual.network import forward_with_cache
    from manual.validation import encode_targets

    X = np.asarray(X, np.float64)  # (N, sizes[0])
    logits, caches = forward_with_cache(spec, params, X)
    Y = np.abs(encode_targets(spec, y, X.shape[0]))  # (N, K)
    out = np.abs(get_loss(spec.loss).output(logits))  # (N, K)
    dz = (out + Y) / X.shape[0] if spec.loss != "mse" else 2 * (out + Y) / Y.size  # (N, K)
    gross = [None] * spec.n_layers
    for l in reversed(range(spec.n_layers)):
        absW = np.abs(params[l][0])  # (fan_in, fan_out)
        gross[l] = (np.abs(caches[l].a_in).T @ dz + spec.l2 * absW, dz.sum(axis=0))
        if l > 0:
            c = caches[l - 1]
            slope = np.abs(get_activation(spec.hidden[l - 1]).derivative(c.z, c.a)) + 1.0  # (N, fan_in)
            dz = (dz @ absW.T) * slope  # (N, fan_in)
    return gross


def near_a_kink(spec, params, X, eps=_EPS, tiny=_TINY) -> bool:
    """Some unit of a non-smooth activation has a pre-activation z with |z| below a bound on
    how far the two sides' z can be apart (`rounding_bounds`), so each side may see it on a
    different side of 0. A z computed from exact zeros only (a silent unit, a zero row) has a
    bound of 0: it is on the kink on both sides, so it is tested, never excused.
    """
    return any(name not in SMOOTH and np.any(np.abs(z) < err_z)  # stops at the first such layer
               for name, (z, err_z) in zip(spec.hidden, rounding_bounds(spec, params, X, eps, tiny)))


def rounding_bounds(spec, params, X, eps=_EPS, tiny=_TINY, ulps=ROUNDING_ULPS):
    """Yields (z_l, err_z_l) layer by layer, the logits' last: the pre-activations of the forward pass
    (float64) and a bound, per entry (N, fan_out), on how far a computation rounding to the given
    precision can be from them, propagated through the layers:

        err_z = err_a @ |W| + u (ε (|a| @ |W| + |b|) + tiny·[terms ≠ 0])
        err_a' = max(1, |f'(z)|) err_z + u (ε (|f(z)| + |z|) + tiny (|z| + [z ≠ 0]))

    with u = ulps (ROUNDING_ULPS: a bound; tests/test_float32.py also asks with 1, a typical
    size), ε the epsilon and tiny the smallest normal (flushed values) of the precision in
    question: float64 by default; tests/test_float32.py asks with float32's.
    """
    from manual.activations import get_activation

    u = ulps
    a = np.asarray(X, np.float64)  # (N, sizes[0]), exact: err = 0
    err = np.zeros_like(a)
    for l, (W, b) in enumerate(params):
        W, b = np.asarray(W, np.float64), np.asarray(b, np.float64)  # (fan_in, fan_out), (fan_out,)
        absW = np.abs(W)
        z = a @ W + b  # (N, fan_out)
        terms = np.abs(a) @ absW + np.abs(b)  # (N, fan_out) the magnitude summed into z
        err_z = err @ absW + u * (eps * terms + tiny * (terms > 0))  # (N, fan_out)
        yield z, err_z
        if l == len(params) - 1:
            return
        act = get_activation(spec.hidden[l])
        a = act.forward(z)  # (N, fan_out)
        slope = np.maximum(1.0, np.abs(act.derivative(z, a)))
        err = slope * err_z + u * (eps * (np.abs(a) + np.abs(z)) + tiny * (np.abs(z) + (z != 0)))
