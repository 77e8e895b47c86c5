"""How close is close enough: one comparison for every gradient check.

Tolerance, per leaf (one W or b of one layer), elementwise:

    |manual − ref| ≤ RTOL·|ref| + RTOL·max|ref over the leaf| + ATOL·scale

with scale = 1 for a single leaf, and for a network's gradients
scale = max(1, max|ref over all its leaves|).

RTOL = 1e-9: measured, NumPy backprop and jax.grad agree to about 2e-11
relative at worst over random float64 networks (the two sum in different
orders, nothing more), so 1e-9 leaves a 50× margin while staying far tighter
than the usual finite-difference advice ("≤ 1e-7 is fine", CS231n). Any real
backprop mistake (a missing 1/N, a wrong derivative) is off by O(1).

The leaf-max term: an entry that is a sum of large terms cancelling to nearly 0
carries rounding of the size of the terms, not of the result.

ATOL = 1e-12, times the network's largest gradient: through a saturated unit
(tanh or σ near ±1) the derivative (1 − a)(1 + a) is computed from a rounded a,
so its *relative* error grows as it shrinks while its absolute error stays a few
ulps of 1 (XLA's float64 tanh is ~7 ulps off there, NumPy's is correctly
rounded). That error is then multiplied by the gradient flowing into the unit,
which the larger gradients of the network measure: the property found a tanh
network whose layer-1 dW (1e-6, all through saturated units) differed by 3e-12
while its layer-4 dW was 458. A gradient below 1e-12 of the network's largest is
zero for any practical purpose, and its last digits are not a property of backprop.
"""

from __future__ import annotations

from typing import List, NamedTuple, Optional, Tuple

import numpy as np

RTOL = 1e-9
ATOL = 1e-12


class LeafError(NamedTuple):
    """How one leaf (layer l's dW or db, or the loss or the output) compares."""

    name: str  # "layer 2, dW"
    shape_ok: bool
    max_abs: float  # max |manual − ref|
    max_rel: float  # max |manual − ref| / |ref| (|ref| floored at the tolerance's absolute part)
    worst_index: Optional[Tuple[int, ...]]
    manual_value: float
    ref_value: float
    passed: bool


def leaf_error(name, manual, ref, rtol=RTOL, atol=ATOL, scale=1.0) -> LeafError:
    manual, ref = np.asarray(manual, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if manual.shape != ref.shape:
        return LeafError(name, False, np.inf, np.inf, None, np.nan, np.nan, False)
    if manual.size == 0:
        return LeafError(name, True, 0.0, 0.0, None, 0.0, 0.0, True)
    diff = np.abs(manual - ref)
    diff = np.where(np.isnan(diff) & ~(np.isnan(manual) & np.isnan(ref)), np.inf, diff)
    floor = rtol * np.max(np.abs(ref)) + atol * scale
    allowed = rtol * np.abs(ref) + floor
    excess = diff / allowed
    worst = np.unravel_index(int(np.argmax(excess)), diff.shape)
    rel = diff / np.maximum(np.abs(ref), floor)
    return LeafError(
        name,
        True,
        float(np.max(diff)),
        float(np.max(rel)),
        tuple(int(i) for i in worst),
        float(manual[worst]),
        float(ref[worst]),
        bool(np.all(diff <= allowed)),
    )


def leaf_passes(manual, ref, rtol=RTOL, atol=ATOL, scale=1.0) -> bool:
    """The verdict of `leaf_error(...).passed` without the report: the property's fast path
    (it runs thousands of times per CI run and almost always passes)."""
    manual, ref = np.asarray(manual, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if manual.shape != ref.shape:
        return False
    if manual.size == 0:
        return True
    abs_ref = np.abs(ref)
    allowed = rtol * abs_ref + (rtol * abs_ref.max() + atol * scale)
    return bool(np.all(np.abs(manual - ref) <= allowed))  # a NaN on either side fails the ≤, as in leaf_error


def network_scale(ref_grads) -> float:
    """max(1, the largest |gradient| over every leaf): what ATOL is relative to for a network."""
    finite = [np.abs(np.asarray(g, np.float64)) for pair in ref_grads for g in pair]
    return max([1.0] + [float(np.max(g[np.isfinite(g)], initial=0.0)) for g in finite])  # inf/NaN fail anyway


def grad_errors(manual_grads, ref_grads, rtol=RTOL, atol=ATOL) -> List[LeafError]:
    """One LeafError per layer and parameter, named 'layer l, dW' / 'layer l, db' (l from 1)."""
    if len(manual_grads) != len(ref_grads):
        return [LeafError(f"grads ({len(manual_grads)} vs {len(ref_grads)} layers)", False, np.inf, np.inf,
                          None, np.nan, np.nan, False)]
    scale = network_scale(ref_grads)
    errors = []
    for l, (m, r) in enumerate(zip(manual_grads, ref_grads), start=1):
        errors.append(leaf_error(f"layer {l}, dW", m[0], r[0], rtol, atol, scale))
        errors.append(leaf_error(f"layer {l}, db", m[1], r[1], rtol, atol, scale))
    return errors


def describe(err: LeafError, manual=None, ref=None) -> str:
    if not err.shape_ok:
        shapes = "" if manual is None else f": manual {np.shape(manual)} vs reference {np.shape(ref)}"
        return f"{err.name}: shapes differ{shapes}"
    return (
        f"{err.name}: max |manual − ref| = {err.max_abs:.3g} (max relative {err.max_rel:.3g}); "
        f"at index {err.worst_index}: manual = {err.manual_value!r}, reference = {err.ref_value!r}"
    )


def assert_grads_close(manual_grads, ref_grads, rtol=RTOL, atol=ATOL) -> None:
    """Raise AssertionError naming the first leaf out of tolerance (shapes checked first)."""
    if len(manual_grads) == len(ref_grads):
        scale = network_scale(ref_grads)
        if all(leaf_passes(m, r, rtol, atol, scale) for m, r in _leaves(manual_grads, ref_grads)):
            return
    errors = grad_errors(manual_grads, ref_grads, rtol, atol)
    for err, (m, r) in zip(errors, _leaves(manual_grads, ref_grads)):
        if not err.shape_ok:
            raise AssertionError(describe(err, m, r))
    for err in errors:
        if not err.passed:
            raise AssertionError(describe(err))


def assert_close(name, manual, ref, rtol=RTOL, atol=ATOL) -> None:
    if leaf_passes(manual, ref, rtol, atol):
        return
    err = leaf_error(name, manual, ref, rtol, atol)
    if not err.passed:
        raise AssertionError(describe(err, manual, ref))


def _leaves(manual_grads, ref_grads):
    for m, r in zip(manual_grads, ref_grads):
        yield m[0], r[0]
        yield m[1], r[1]


def assert_trees_close(actual, expected, what: str, rtol: float, labels=("manual", "expected"),
                       check_dtype: bool = False, atol: float = 0.0) -> None:
    """Two params-layout trees [(W, b), ...] agree leaf by leaf (optimizer and training trajectories).

    Layer count, shapes (and dtypes, with check_dtype) first; then, elementwise,
    |a − e| ≤ rtol·|e| + rtol·max|e over the leaf| (the leaf-max term: entries where w and a
    step nearly cancel carry the rounding of w) + atol, and NaN in `actual` exactly where `expected`
    has it. A failure names the leaf ('after 3 steps, layer 2, W') and both values at the worst entry.
    """
    assert len(actual) == len(expected), f"{what}: {len(actual)} layers, expected {len(expected)}"
    for l, (pair, expected_pair) in enumerate(zip(actual, expected), start=1):
        for name, a, e in zip("Wb", pair, expected_pair):
            leaf = f"{what}, layer {l}, {name}"
            a, e = np.asarray(a), np.asarray(e)
            assert a.shape == e.shape, f"{leaf}: shape {a.shape}, expected {e.shape}"
            assert not check_dtype or a.dtype == e.dtype, f"{leaf}: dtype {a.dtype}, expected {e.dtype}"
            allowed = rtol * np.abs(e) + rtol * np.max(np.abs(e), initial=0.0) + atol
            excess = np.abs(a - e) - allowed
            if np.any(excess > 0) or not np.array_equal(np.isnan(a), np.isnan(e)):
                i = np.unravel_index(np.argmax(np.where(np.isnan(excess), np.inf, excess)), a.shape)
                raise AssertionError(f"{leaf}{list(i)}: {labels[0]} {a[i]!r}, {labels[1]} {e[i]!r} (rtol {rtol})")
