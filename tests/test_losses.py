"""Each hand-written loss and its gradient w.r.t. the logits against autodiff (reference.losses).

The reference gradient is jax.value_and_grad of the JAX loss (jitted once per loss; JAX then
compiles once per shape in SHAPES). Logits range over 1e-3 to 1e3 in scale, and some are set
to ±1000 on purpose: the loss and dL/ds must stay finite and correct there (log-sum-exp and
softplus forms, no ε-clipping).

Tolerance, per leaf: |manual − jax| ≤ RTOL·|jax| + RTOL·max|jax| + ATOL with RTOL = 1e-12,
ATOL = 1e-15. Both sides evaluate the same log-space formulas and differ by a few ulps; the
leaf-max term covers P − Y where p ≈ 1 and y = 1 cancel (an absolute error of an ulp of 1/N).
A wrong gradient (no 1/N, no factor 2, softmax without its max shift) is off by O(1) or NaN.
"""

from functools import lru_cache

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import manual
import reference
from dualgrad.engine.compare import assert_close
from manual import losses as M
from manual.spec import NetworkSpec
from reference import losses as R

RTOL, ATOL = 1e-12, 1e-15
LOSSES = list(M.LOSSES)  # the case table
SHAPES = {  # (N, K) per loss: few shapes, so JAX compiles few programs
    "binary_cross_entropy": [(1, 1), (13, 1)],
    "cross_entropy": [(1, 2), (13, 2), (9, 7)],
    "mse": [(1, 1), (13, 3)],
}


@lru_cache(maxsize=None)
def reference_value_and_grad(name):
    return jax.jit(jax.value_and_grad(R.LOSSES[name]))


def targets(name, rng, n, k, scale=1.0):
    """Y (N, K) as validation.encode_targets makes it: 0/1, one-hot rows, or reals."""
    if name == "binary_cross_entropy":
        return rng.integers(0, 2, size=(n, 1)).astype(np.float64)
    if name == "cross_entropy":
        return np.eye(k)[rng.integers(0, k, size=n)]
    return rng.standard_normal((n, k)) * scale


def check(name, s, Y):
    value, ds = M.LOSSES[name].value_and_dlogits(s, Y)
    ref_value, ref_ds = reference_value_and_grad(name)(s, Y)
    assert np.isfinite(value) and np.isfinite(ds).all(), f"{name}: loss {value}, dL/ds {ds}"
    assert_close(f"{name} loss", value, float(ref_value), RTOL, ATOL)
    assert_close(f"{name} dL/ds", ds, np.asarray(ref_ds), RTOL, ATOL)
    out, ref_out = M.LOSSES[name].output(s), np.asarray(R.HEADS[name](s))
    assert np.isfinite(out).all(), f"{name}: non-finite head output"
    assert_close(f"{name} output", out, ref_out, RTOL, ATOL)


@pytest.mark.parametrize("name", LOSSES)
@settings(max_examples=100)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1), log_scale=st.floats(-3, 3),
       extreme=st.sampled_from([0.0, 0.0, 0.3, 1.0]))
def test_value_and_logit_gradient_match_autodiff(name, data, seed, log_scale, extreme):
    n, k = data.draw(st.sampled_from(SHAPES[name]), label="(N, K)")
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((n, k)) * 10.0**log_scale  # (N, K) logits
    wild = rng.random((n, k)) < extreme
    s[wild] = rng.choice([-1000.0, 1000.0], size=int(wild.sum()))  # saturated logits
    check(name, s, targets(name, rng, n, k, 10.0**log_scale))


@pytest.mark.parametrize("name", LOSSES)
def test_all_logits_at_plus_minus_1000(name):
    for n, k in SHAPES[name]:
        rng = np.random.default_rng(n * k)
        s = rng.choice([-1000.0, 1000.0], size=(n, k))  # (N, K)
        check(name, s, targets(name, rng, n, k))


# Exact values at ±1000 (N = 1): a confident right answer costs 0 and pulls by 0; a confident
# wrong one costs |s| (bce) or the logit gap (ce) and pulls with slope 1.
EXACT = [
    ("binary_cross_entropy", [[1000.0]], [[1.0]], 0.0, [[0.0]]),
    ("binary_cross_entropy", [[-1000.0]], [[0.0]], 0.0, [[0.0]]),
    ("binary_cross_entropy", [[1000.0]], [[0.0]], 1000.0, [[1.0]]),
    ("binary_cross_entropy", [[-1000.0]], [[1.0]], 1000.0, [[-1.0]]),
    ("cross_entropy", [[1000.0, -1000.0]], [[1.0, 0.0]], 0.0, [[0.0, 0.0]]),
    ("cross_entropy", [[1000.0, -1000.0]], [[0.0, 1.0]], 2000.0, [[1.0, -1.0]]),
    ("cross_entropy", [[1000.0, 1000.0]], [[0.0, 1.0]], np.log(2.0), [[0.5, -0.5]]),
    ("mse", [[1000.0, -1000.0]], [[0.0, 0.0]], 1e6, [[1000.0, -1000.0]]),
]


@pytest.mark.parametrize("name, s, Y, value, ds", EXACT)
def test_exact_values_at_extreme_logits(name, s, Y, value, ds):
    got_value, got_ds = M.LOSSES[name].value_and_dlogits(np.array(s), np.array(Y))
    assert got_value == pytest.approx(value, rel=1e-15, abs=1e-300)
    np.testing.assert_allclose(got_ds, ds, rtol=1e-15, atol=0)


def test_softmax_rows_sum_to_one_at_extreme_logits():
    s = np.array([[1000.0, -1000.0, 999.0], [-1000.0, -1000.0, -1000.0], [0.0, 1e3, -1e3]])
    P = M.LOSSES["cross_entropy"].output(s)
    assert np.isfinite(P).all()
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-15)


def test_the_three_losses_are_the_table():
    assert set(M.LOSSES) == set(R.LOSSES) == set(manual.LOSS_NAMES)


# ---- labels through the public API: the encodings a user may pass give the same loss and grads

def small_case(loss, k, n=6, seed=0):
    spec = NetworkSpec([3, 4, k], "tanh", loss)
    rng = np.random.default_rng(seed)
    params = manual.init_params(spec, seed=seed)
    X = rng.standard_normal((n, 3)) * 3.0  # (N, 3)
    return spec, params, X, rng


def assert_same(a, b):
    (value_a, grads_a), (value_b, grads_b) = a, b
    assert value_a == value_b
    for (dW_a, db_a), (dW_b, db_b) in zip(grads_a, grads_b):
        assert np.array_equal(dW_a, dW_b) and np.array_equal(db_a, db_b)


def test_cross_entropy_integer_and_one_hot_labels_agree():
    spec, params, X, rng = small_case("cross_entropy", 4)
    labels = rng.integers(0, 4, size=6)  # (N,)
    one_hot = np.eye(4)[labels]  # (N, K)
    for side in (manual, reference):
        assert_same(side.loss_and_grads(spec, params, X, labels), side.loss_and_grads(spec, params, X, one_hot))
        assert_same(side.loss_and_grads(spec, params, X, labels), side.loss_and_grads(spec, params, X, list(labels)))
    loss_m, grads_m = manual.loss_and_grads(spec, params, X, labels)
    loss_r, grads_r = reference.loss_and_grads(spec, params, X, one_hot)
    assert_close("loss", loss_m, loss_r)
    for l, ((dW, db), (rdW, rdb)) in enumerate(zip(grads_m, grads_r), start=1):
        assert_close(f"layer {l}, dW", dW, rdW)
        assert_close(f"layer {l}, db", db, rdb)


def test_binary_labels_of_shape_n_and_n_by_1_agree():
    spec, params, X, rng = small_case("binary_cross_entropy", 1)
    labels = rng.integers(0, 2, size=6)  # (N,)
    for side in (manual, reference):
        flat = side.loss_and_grads(spec, params, X, labels)
        assert_same(flat, side.loss_and_grads(spec, params, X, labels.reshape(6, 1)))
        assert_same(flat, side.loss_and_grads(spec, params, X, labels.astype(bool)))
        assert_same(flat, side.loss_and_grads(spec, params, X, labels.astype(np.float32)))


def test_mse_targets_of_shape_n_and_n_by_1_agree():
    spec, params, X, rng = small_case("mse", 1)
    y = rng.standard_normal(6)  # (N,)
    for side in (manual, reference):
        assert_same(side.loss_and_grads(spec, params, X, y), side.loss_and_grads(spec, params, X, y.reshape(6, 1)))


@pytest.mark.parametrize("name", ["hinge", "MSE", "", "cross entropy"])
def test_get_loss_refuses_an_unknown_name_with_the_valid_ones(name):
    """The documented ValueError naming the valid names, on both sides (a KeyError would escape the
    CLI's handler: found by the mutation run of manual/losses.py, docs/mutation-testing.md)."""
    from manual.losses import get_loss as manual_get_loss
    from reference.losses import get_loss as reference_get_loss

    with pytest.raises(ValueError, match=r"unknown loss .*valid names: binary_cross_entropy, cross_entropy, mse"):
        manual_get_loss(name)
    with pytest.raises(ValueError, match=r"has no JAX twin"):
        reference_get_loss(name)
