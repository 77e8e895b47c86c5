"""Elementwise checks of registered activations and losses, before any network is checked.

A wrong derivative inside a network shows up as every leaf failing, or, once
hypothesis has shrunk the case, as a tiny error at whatever z the smallest network
happened to have. Checked on its own, the same mistake names itself:

    arctan'(0.5): yours 0.8, jax.grad 0.8      (1/(1 + a²) instead of 1/(1 + z²))

For every registered (non-built-in) activation in play, on a grid of z — the kink
0, ±1e-12, ±0.1 … ±30, 32 seeded random points, and ±100, ±1000 when the check's
inputs reach that far — `forward(z)` is compared with the JAX twin and
`derivative(z, a)` with jax.grad of the twin; for every registered loss, the value
and dL/ds on a few seeded logits against the JAX twin and jax.grad. A forward that
differs says so ("the forwards differ: your forward or your JAX twin"), since then
jax.grad differentiates another function.

With kink="either", at z = 0 either one-sided derivative (jax.grad at ±1e-12) is
accepted, as in the network checks. Built-in functions are checked by the test
suite, not here.
"""

from __future__ import annotations

from functools import lru_cache
from typing import List

import numpy as np

from .compare import leaf_error

GRID_RTOL = 1e-9  # as dualgrad.compare: NumPy and XLA round elementwise functions differently, no more
GRID_ATOL = 1e-12  # times max(1, |value|): the floor of a vanishing derivative
_BASE = np.array([0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 0.1, 1e-12])


def grid(reach: float = 30.0) -> np.ndarray:
    """The z values an activation is checked at (64 of them: one compiled shape per function)."""
    big = [100.0, 1000.0] if reach >= 100 else [20.0, 3.0]
    points = np.concatenate([[0.0], _BASE, -_BASE, big, [-b for b in big]])
    rng = np.random.default_rng(0)
    rest = rng.standard_normal(64 - len(points)) * 3.0
    return np.concatenate([points, rest])  # (64,)


@lru_cache(maxsize=None)
def _jax_value_and_slope(fn):
    import jax

    return jax.jit(fn), jax.jit(jax.vmap(jax.grad(fn)))


def check_activation(name: str, kink: str = "jax", reach: float = 30.0) -> List[str]:
    """Problems of registered activation `name` on the grid ([] when it agrees with its JAX twin)."""
    from manual.activations import get_activation as manual_activation
    from reference.activations import get_activation as reference_activation

    act, twin = manual_activation(name), reference_activation(name)
    z = grid(reach)  # (64,)
    value_fn, slope_fn = _jax_value_and_slope(twin)
    problems = []
    with np.errstate(all="ignore"):
        try:
            a = np.asarray(act.forward(z.copy()), np.float64)
            da = np.asarray(act.derivative(z.copy(), a.copy()), np.float64)
        except Exception as err:
            return [f"{name}: calling your forward or derivative on a vector of {z.size} values raised "
                    f"{type(err).__name__}: {err}"]
        a_ref = np.asarray(value_fn(z))
        if a.shape != z.shape or da.shape != z.shape:
            return [f"{name}: forward and derivative must return arrays shaped like z {z.shape}, got "
                    f"{a.shape} and {da.shape}"]
        slope = np.asarray(slope_fn(z))
        bad = _mismatch(a, a_ref)
        if bad is not None:
            problems.append(f"{name}({_fmt(z[bad])}): yours {_fmt(a[bad])}, JAX twin {_fmt(a_ref[bad])}: the forwards "
                            "differ (your NumPy forward or your JAX twin is wrong), so jax.grad differentiates "
                            "another function")
            return problems
        allowed = np.isclose(da, slope, rtol=GRID_RTOL, atol=GRID_ATOL * max(1.0, float(np.max(np.abs(slope)))))
        if kink == "either":
            at_kink = z == 0
            if at_kink.any():
                sides = np.asarray(slope_fn(np.array([1e-12, -1e-12] + [0.0] * 62)))[:2]
                for side in sides:
                    allowed |= at_kink & np.isclose(da, side, rtol=GRID_RTOL, atol=GRID_ATOL)
        if not allowed.all():
            i = int(np.argmax(~allowed))
            problems.append(f"{name}'({_fmt(z[i])}): yours {_fmt(da[i])}, jax.grad {_fmt(slope[i])}: your "
                            "derivative is wrong there" + _kink_hint(z[i], kink))
    return problems


def check_loss(name: str) -> List[str]:
    """Problems of registered loss `name` on a few seeded logits ([] when it agrees)."""
    from manual import spec as _spec
    from manual.losses import get_loss as manual_loss
    from manual.spec import NetworkSpec
    from manual.validation import encode_targets
    from reference.losses import HEADS, get_loss as reference_loss

    from .cases import random_labels

    kind = _spec.LOSS_TARGETS[name]
    k = {"binary": 1, "classes": 3, "real": 2}[kind]
    spec = NetworkSpec([1, k], (), name)
    loss, twin = manual_loss(name), reference_loss(name)
    value_and_grad, head = _jax_loss(twin, HEADS[name])
    rng = np.random.default_rng(0)
    for n, scale in ((4, 1.0), (4, 10.0)):
        s = rng.standard_normal((n, k)) * scale  # (N, K) logits
        Y = encode_targets(spec, random_labels(spec, n, rng), n)  # (N, K)
        with np.errstate(all="ignore"):
            try:
                value, ds = loss.value_and_dlogits(s.copy(), Y.copy())
                out = np.asarray(loss.output(s.copy()), np.float64)
            except Exception as err:
                return [f"{name}: calling your loss on logits of shape {s.shape} raised {type(err).__name__}: {err}"]
        value_ref, ds_ref = value_and_grad(s, Y)
        out_ref = np.asarray(head(s))
        where = f"on logits of shape {s.shape} (scale {scale:g})"
        if not np.isclose(float(value), float(value_ref), rtol=1e-9, atol=1e-12):
            return [f"{name}: loss {where}: yours {_fmt(value)}, JAX twin {_fmt(value_ref)}: the losses differ "
                    "(your NumPy loss or your JAX twin is wrong; a registered loss is the mean over the batch)"]
        if np.shape(out) != s.shape or _mismatch(out, out_ref) is not None:
            return [f"{name}: the head's output {where} differs from the JAX twin's (your output(s) or jax_output(s))"]
        err = leaf_error(f"{name}: dL/ds", np.asarray(ds, np.float64), np.asarray(ds_ref))
        if not err.passed:
            shape = "" if err.shape_ok else f" (shape {np.shape(ds)}, expected {s.shape})"
            return [f"{name}: dL/ds{shape} {where} at {err.worst_index}: yours {_fmt(err.manual_value)}, "
                    f"jax.grad {_fmt(err.ref_value)}: your dlogits is wrong"]
    return []


@lru_cache(maxsize=None)
def _jax_loss(fn, head):
    import jax

    return jax.jit(jax.value_and_grad(fn)), jax.jit(head)


def check_functions(spec, kink: str = "jax", reach: float = 30.0) -> List[str]:
    """Problems of every registered activation and loss `spec` uses."""
    return check_names(spec.hidden, [spec.loss], kink, reach)


def check_names(activations, losses, kink: str = "jax", reach: float = 30.0) -> List[str]:
    """Problems of the registered ones among these activation and loss names (built-ins are skipped)."""
    from manual.activations import BUILT_IN as BUILT_IN_ACTIVATIONS
    from manual.losses import BUILT_IN as BUILT_IN_LOSSES

    problems = []
    for name in sorted(set(activations) - set(BUILT_IN_ACTIVATIONS)):
        problems += check_activation(name, kink, reach)
    for name in sorted(set(losses) - set(BUILT_IN_LOSSES)):
        problems += check_loss(name)
    return problems


def _mismatch(mine, ref):
    """Index of the worst disagreement of two value arrays, or None when they agree."""
    mine, ref = np.asarray(mine, np.float64), np.asarray(ref, np.float64)
    if mine.shape != ref.shape:
        return 0
    ok = np.isclose(mine, ref, rtol=GRID_RTOL, atol=GRID_ATOL * max(1.0, float(np.nanmax(np.abs(ref), initial=0.0))))
    ok |= np.isnan(mine) & np.isnan(ref)
    if ok.all():
        return None
    return np.unravel_index(int(np.argmax(~ok)), ok.shape)


def _kink_hint(z, kink) -> str:
    if z == 0 and kink == "jax":
        return " (z = 0 is a kink: jax.grad takes jax.nn's one-sided choice; kink='either' accepts either side)"
    return ""


def _fmt(x) -> str:
    x = float(x)
    return f"{x:.6g}"
