"""dualgrad.compare: the one comparison every gradient check uses (shapes first, then values,
the failing leaf named), and its fast path `leaf_passes`, which must give the same verdict."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dualgrad.engine.compare import ATOL, RTOL, assert_close, assert_grads_close, leaf_error, leaf_passes, network_scale


@st.composite
def leaf_pairs(draw):
    """(manual, ref): ref random at any scale, manual off by 0 to 1e-6 relative, maybe NaN/inf/shape."""
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=2)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ref = rng.standard_normal(shape) * 10.0 ** draw(st.integers(-20, 5))
    rel = draw(st.sampled_from([0.0, 1e-12, 5e-10, 1e-9, 2e-9, 1e-6]))
    manual = ref * (1 + rel * rng.choice([-1, 1], size=shape)) + draw(st.sampled_from([0.0, 1e-13, 1e-11]))
    if manual.size and draw(st.booleans()):
        manual.flat[int(rng.integers(manual.size))] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 0.0]))
    if ref.size and draw(st.integers(0, 9)) == 0:
        ref.flat[0] = np.nan
    if draw(st.integers(0, 9)) == 0:
        manual = manual.reshape(shape[::-1])
    return manual, ref


@given(leaf_pairs(), st.sampled_from([1.0, 458.0, 1e6]))
def test_fast_path_gives_the_same_verdict(pair, scale):
    manual, ref = pair
    assert leaf_passes(manual, ref, scale=scale) == leaf_error("x", manual, ref, scale=scale).passed


def test_tolerance_boundary():
    ref = np.array([1.0, 0.0])
    assert leaf_passes(ref * (1 + 0.9 * RTOL), ref)  # within RTOL·|ref| + RTOL·max|ref|
    assert not leaf_passes(ref + np.array([3 * RTOL, 0.0]), ref)
    assert leaf_passes(np.array([1.0, 0.9 * (RTOL + ATOL)]), ref)  # the floor: RTOL·max|ref| + ATOL
    assert not leaf_passes(np.array([1.0, 1.1 * (RTOL + ATOL)]), ref)


def test_failure_names_the_leaf_and_both_values():
    grads = [(np.ones((2, 3)), np.zeros(3)), (np.ones((3, 1)), np.zeros(1))]
    wrong = [(g[0].copy(), g[1].copy()) for g in grads]
    wrong[1][0][2, 0] = 1.5
    with pytest.raises(AssertionError, match=r"layer 2, dW: .* at index \(2, 0\): manual = 1.5, reference = 1.0"):
        assert_grads_close(wrong, grads)
    with pytest.raises(AssertionError, match=r"layer 1, db: shapes differ: manual \(3, 1\) vs reference \(3,\)"):
        assert_grads_close([(grads[0][0], grads[0][1][:, None]), grads[1]], grads)
    with pytest.raises(AssertionError, match=r"grads \(1 vs 2 layers\)"):
        assert_grads_close(grads[:1], grads)
    with pytest.raises(AssertionError, match=r"loss: .* manual = nan"):
        assert_close("loss", float("nan"), 1.0)
    assert_grads_close(grads, [(g[0].copy(), g[1].copy()) for g in grads])


def test_the_absolute_floor_scales_with_the_networks_largest_gradient():
    """A leaf of 1e-6 off by 3e-12 (a saturated tanh's rounding, times the gradient into it)
    passes next to a leaf of 458, and fails alone; an O(1) relative error fails either way."""
    tiny, big = np.array([[-1.1886335e-06]]), np.array([[458.35]])
    ref = [(tiny, np.zeros(1)), (big, np.zeros(1))]
    off = [(tiny + 3e-12, np.zeros(1)), (big, np.zeros(1))]
    assert network_scale(ref) == 458.35
    assert_grads_close(off, ref)
    with pytest.raises(AssertionError, match="layer 1, dW"):
        assert_grads_close(off[:1], ref[:1])
    with pytest.raises(AssertionError, match="layer 1, dW"):
        assert_grads_close([(tiny * 1.01, np.zeros(1)), (big, np.zeros(1))], ref)
    assert network_scale([(np.array([np.inf, 2.0]), np.array([np.nan]))]) == 2.0
