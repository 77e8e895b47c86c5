"""The low-precision criterion, as dualgrad/engine/precision.py states it (issue 19):

    max |yours − ref64|  ≤  factor · max(max |base − ref64|, max |rounded − ref64|)  +  floor · scale

* the defaults are the documented ones: factor 8, the floor 256 machine epsilons in float32 (3.1e-5 of
  the case's scale) and 4 in float16 and bfloat16, each precision's own machine epsilon;
* the allowance is exactly that formula (the larger of the two yardsticks, the floor times the case's
  scale), the bound included, and the row reports its parts (max_rel = max_abs / scale, floor absolute);
* a yardstick that cannot be measured (another shape) or an entry where the baseline overflowed adds
  no allowance: never a false PASS from a broken baseline;
* a leaf of another shape fails (also when NumPy could broadcast it), an empty leaf passes with nothing
  off, a NaN where float64 has a number is an infinite error;
* the message names the yardstick that set the allowance.
Found by the mutation run of dualgrad/engine/precision.py (docs/mutation-testing.md). NumPy only: fast.
"""

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dualgrad.engine.precision import DEFAULT_FACTOR, EPS, default_floor, precision_error

MACHINE_EPS = {"float32": float(np.finfo(np.float32).eps), "float16": float(np.finfo(np.float16).eps),
               "bfloat16": float(np.finfo(ml_dtypes.bfloat16).eps)}


def test_the_documented_defaults():
    assert DEFAULT_FACTOR == 8.0
    assert MACHINE_EPS == {"float32": 2.0 ** -23, "float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}
    assert EPS == MACHINE_EPS
    assert default_floor("float32") == 256 * 2.0 ** -23 == pytest.approx(3.1e-5, rel=0.02)
    assert default_floor("float16") == 4 * 2.0 ** -10
    assert default_floor("bfloat16") == 4 * 2.0 ** -7


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_without_factor_and_floor_the_defaults_are_used(dtype):
    ref = np.array([1.0, -2.0, 0.5])
    base = ref + np.array([0.0, 0.25, -0.125])  # the yardstick: 0.25
    err = precision_error("dx", ref, ref, base, dtype, 4.0)
    assert err.allowed == 8.0 * 0.25 + MACHINE_EPS[dtype] * {"float32": 256, "float16": 4, "bfloat16": 4}[dtype] * 4.0
    assert (err.factor, err.dtype) == (8.0, dtype)


offsets = st.lists(st.floats(-1.0, 1.0), min_size=1, max_size=5)


@given(offsets=st.tuples(offsets, offsets, offsets), with_rounded=st.booleans(),
       factor=st.sampled_from([1.5, 2.0, 8.0, 16.0]), floor=st.sampled_from([0.0, 1e-6, 3e-4, 0.01]),
       scale=st.sampled_from([2.0, 7.5, 1000.0]), dtype=st.sampled_from(sorted(MACHINE_EPS)))
def test_the_allowance_is_factor_times_the_larger_yardstick_plus_floor_times_scale(
        offsets, with_rounded, factor, floor, scale, dtype):
    n = min(len(o) for o in offsets)
    ref = np.linspace(-3.0, 5.0, n)
    mine, base, rounded = (ref + 1e-3 * np.array(o[:n]) for o in offsets)
    err = precision_error("dgamma", mine, ref, base, dtype, scale, factor, floor, rounded if with_rounded else None)
    max_abs = float(np.max(np.abs(mine - ref)))
    base_max = float(np.max(np.abs(base - ref)))
    rounding_max = float(np.max(np.abs(rounded - ref))) if with_rounded else 0.0
    allowed = factor * max(base_max, rounding_max) + floor * scale
    assert (err.base_max_abs, err.rounding_max_abs) == (base_max, rounding_max)
    assert err.allowed == pytest.approx(allowed, rel=1e-12, abs=0.0)
    assert err.floor == pytest.approx(floor * scale, rel=1e-12, abs=0.0)
    assert err.max_abs == max_abs and err.max_rel == pytest.approx(max_abs / scale, rel=1e-12, abs=0.0)
    assert err.passed == (max_abs <= err.allowed) and err.shape_ok
    i = err.worst_index
    assert abs(mine[i] - ref[i]) == max_abs
    assert (err.manual_value, err.ref_value, err.base_value) == (mine[i], ref[i], base[i])


def test_the_bound_is_included():
    """Exact binary values: yours off by 0.5, the baseline by 0.25, factor 2, no floor."""
    ref, base = np.array([1.0]), np.array([1.25])
    assert precision_error("dx", np.array([1.5]), ref, base, "float32", 1.0, 2.0, 0.0).passed  # 0.5 ≤ 0.5
    assert precision_error("dx", np.array([1.25]), ref, base, "float32", 1.0, 2.0, 0.0).passed  # 0.25 < 0.5
    assert precision_error("dx", np.array([1.0]), ref, base, "float32", 1.0, 2.0, 0.0).passed  # exact
    assert not precision_error("dx", np.array([1.5 + 2.0 ** -20]), ref, base, "float32", 1.0, 2.0, 0.0).passed


@pytest.mark.parametrize("mine_shape, ref_shape", [((2,), (3,)), ((3,), (2,)), ((1,), (3,)), ((3,), (1,)),
                                                   ((2, 3), (3, 2)), ((), (1,)), ((1,), ()), ((3, 1), (3,))])
def test_a_leaf_of_another_shape_fails(mine_shape, ref_shape):
    ref = np.ones(ref_shape)
    err = precision_error("dW", np.ones(mine_shape), ref, ref, "float32", 1.0)
    assert not err.passed and not err.shape_ok
    assert err.describe() == "dW: shapes differ"


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0)])
def test_an_empty_leaf_passes_with_nothing_off(shape):
    err = precision_error("db", np.zeros(shape), np.zeros(shape), np.zeros(shape), "float32", 1.0)
    assert err.passed and err.shape_ok
    assert (err.max_abs, err.max_rel, err.worst_index) == (0.0, 0.0, None)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_an_overflowed_baseline_entry_adds_no_allowance(bad):
    """The low-precision twin overflowed at one entry: the yardstick is the other entries' error."""
    ref = np.array([1.0, 2.0, 3.0])
    base = np.array([1.0 + 2.0 ** -10, bad, 3.0])
    err = precision_error("dx", ref + np.array([0.0, 0.0, 0.01]), ref, base, "float32", 1.0, 8.0, 0.0, base)
    assert err.base_max_abs == err.rounding_max_abs == 2.0 ** -10
    assert err.allowed == 8 * 2.0 ** -10 and not err.passed  # 0.01 > 0.0078125


@pytest.mark.parametrize("ref_shape, other_shape", [((3,), (1,)), ((1,), (3,))])
def test_a_yardstick_of_another_shape_adds_no_allowance(ref_shape, other_shape):
    """A baseline or rounded reference that cannot be compared entry by entry, even one NumPy would
    broadcast, counts as no yardstick: the leaf is judged by the floor alone, never a larger allowance.
    (Shapes NumPy cannot broadcast, or a worst entry outside the baseline, raise today: an open gap,
    docs/mutation-testing.md; check_layer's baseline is the same function, so it has the leaf's shape.)"""
    ref = np.zeros(ref_shape)
    other = np.full(other_shape, 0.5)
    err = precision_error("dx", ref + 0.01, ref, other, "float32", 1.0, 8.0, 1e-3, other)
    assert (err.base_max_abs, err.rounding_max_abs) == (0.0, 0.0)
    assert err.allowed == pytest.approx(1e-3, rel=1e-12) and not err.passed


def test_a_nan_where_float64_has_a_number_is_an_infinite_error():
    ref = np.array([1.0, 2.0, 3.0])
    err = precision_error("dx", np.array([1.0, np.nan, 3.0]), ref, ref, "float32", 1.0)
    assert not err.passed
    assert (err.max_abs, err.worst_index, err.ref_value) == (np.inf, (1,), 2.0)
    assert "max |yours − float64| = inf" in err.describe()


@pytest.mark.parametrize("base_off, rounded_off, named", [
    (1e-3, 1e-5, "0.001, the float32 reference's own error"),
    (1e-5, 1e-3, "0.001, the float64 reference's change when the inputs are rounded"),
])
def test_the_message_names_the_yardstick_that_set_the_allowance(base_off, rounded_off, named):
    ref = np.array([1.0, 2.0])
    err = precision_error("dx", ref + 1.0, ref, ref + base_off, "float32", 1.0, 8.0, 0.0, ref + rounded_off)
    assert not err.passed
    assert f"(= 8 × {named}, + floor 0)" in err.describe()
