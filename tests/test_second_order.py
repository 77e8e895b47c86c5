"""manual/second_order.py and the weighted loss against autodiff, and the identities of the math.

The properties live in dualgrad/engine/second_order_properties.py (a user's own functions can be run
through them); the reference side is `reference.bucketed_second_order`, one compiled program per
bucket (every case here fits the bucket (5, 32, 64)), proven equal to the plain twins in
reference/second_order.py by `test_bucketed_equals_plain_twins` below. HYPOTHESIS_PROFILE=ci
runs the profile's count (2,000) of each against-JAX property and a quarter of it of each identity.
"""

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import manual
import reference
from dualgrad.engine import second_order_properties as P
from dualgrad.engine.compare import assert_close, assert_grads_close
from manual import activations as A
from manual import losses as Ls
from manual.spec import NetworkSpec
from reference import bucketed_second_order as bucketed
from reference.activations import ACTIVATIONS as JAX_ACTIVATIONS
from reference.losses import LOSSES as JAX_LOSSES

# The identities of the math (no JAX) take a quarter of the profile's count, as the cheap
# properties of tests/test_gradients.py do; the comparisons with JAX take the full count.
IDENTITY_COUNT = settings(max_examples=max(50, settings().max_examples // 4))


@given(P.second_order_cases())
def test_per_example_gradients_match_jax(case):
    P.per_example_gradients_match(case)


@IDENTITY_COUNT
@given(P.second_order_cases())
def test_per_example_gradients_average_to_the_batch_gradient(case):
    P.per_example_mean_is_the_gradient(case)


@given(P.second_order_cases())
def test_weighted_loss_matches_jax(case):
    P.weighted_loss_matches(case)


@IDENTITY_COUNT
@given(P.second_order_cases())
def test_weights_of_ones_change_nothing(case):
    P.unit_weights_change_nothing(case)


@IDENTITY_COUNT
@given(P.second_order_cases())
def test_integer_weights_equal_repeated_rows(case):
    P.integer_weights_repeat_rows(case)


@given(P.second_order_cases())
def test_hessian_vector_product_matches_jax(case):
    P.hessian_vector_product_matches(case)


@given(P.second_order_cases())
def test_gauss_newton_vector_product_matches_jax(case):
    P.gauss_newton_vector_product_matches(case)


@IDENTITY_COUNT
@given(P.second_order_cases())
def test_hessian_is_symmetric(case):
    P.hessian_is_symmetric(case)


@IDENTITY_COUNT
@given(P.second_order_cases())
def test_gauss_newton_is_positive_semi_definite(case):
    P.gauss_newton_is_psd(case)


@IDENTITY_COUNT
@given(P.second_order_cases(max_layers=1))
def test_gauss_newton_equals_hessian_without_hidden_layer(case):
    P.gauss_newton_is_hessian_without_hidden_layer(case)


def test_the_sample_weight_default_is_todays_path_bit_for_bit():
    """sample_weight=None takes exactly the unweighted path: the same bits as before (no rescaling)."""
    spec = NetworkSpec([4, 6, 3], "tanh", "cross_entropy", 0.1)
    params = manual.init_params(spec, seed=0)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((9, 4)), rng.integers(0, 3, 9)
    from manual.losses import get_loss
    from manual.network import backward, forward_with_cache, l2_penalty

    logits, caches = forward_with_cache(spec, params, X)
    value, ds = get_loss(spec.loss).value_and_dlogits(logits, np.eye(3)[y])
    expected = (value + l2_penalty(spec, params), backward(spec, params, caches, ds))
    got = manual.loss_and_grads(spec, params, X, y, sample_weight=None)
    assert got[0] == expected[0]
    assert all(np.array_equal(a, b) for g, e in zip(got[1], expected[1]) for a, b in zip(g, e))


# ---------------------------------------------------------------- the fast path equals the plain twins

SIZES = {"binary_cross_entropy": [[3, 5, 5, 1]], "cross_entropy": [[3, 4], [3, 5, 5, 5, 4]], "mse": [[3, 5, 2]]}


@st.composite
def tabled_cases(draw):
    """Sizes from a small table and N = 6: the eager plain twins compile few shapes."""
    loss = draw(st.sampled_from(list(SIZES)))
    sizes = draw(st.sampled_from(SIZES[loss]))
    spec = NetworkSpec(sizes, [draw(st.sampled_from(list(JAX_ACTIVATIONS))) for _ in sizes[2:]], loss,
                       draw(st.sampled_from([0.0, 0.3])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = 6
    params = [(W * 1.5, rng.standard_normal(b.shape) * 0.5) for W, b in manual.init_params(spec, seed=int(rng.integers(99)))]
    X = rng.standard_normal((n, sizes[0]))
    from dualgrad.engine.cases import random_labels

    w = rng.integers(0, 3, n).astype(float)
    w[0] = 1.0
    return spec, params, X, random_labels(spec, n, rng), P.direction(spec, rng), w


@settings(max_examples=8)
@given(tabled_cases())
def test_bucketed_equals_plain_twins(case):
    spec, params, X, y, V, w = case
    rtol, atol = 1e-12, 1e-15
    assert_grads_close(bucketed.per_example_gradients(spec, params, X, y),
                       reference.per_example_gradients(spec, params, X, y), rtol, atol)
    assert_grads_close(bucketed.hessian_vector_product(spec, params, X, y, V),
                       reference.hessian_vector_product(spec, params, X, y, V), rtol, atol)
    assert_grads_close(bucketed.gauss_newton_vector_product(spec, params, X, y, V),
                       reference.gauss_newton_vector_product(spec, params, X, y, V), rtol, atol)
    for weights in (None, w):
        value_b, grads_b = bucketed.loss_and_grads(spec, params, X, y, weights)
        value_p, grads_p = reference.loss_and_grads(spec, params, X, y, weights)
        assert_close("loss", value_b, value_p, rtol, atol)
        assert_grads_close(grads_b, grads_p, rtol, atol)


# ---------------------------------------------------------------- second derivatives, kinks included

KINKS = np.array([-30.0, -7.2, -1.0, -1e-300, 0.0, 1e-300, 0.3, 1.0, 7.2, 30.0])


@pytest.mark.parametrize("name", A.BUILT_IN)
def test_second_derivatives_equal_jax_at_and_around_kinks(name):
    """f''(z) equals jax.jvp(jax.grad(f)) of reference's jax.nn function, exactly at z = 0 too."""
    f = jax.grad(JAX_ACTIVATIONS[name])
    expected = np.array([float(jax.jvp(f, (z,), (1.0,))[1]) for z in KINKS])
    act = A.ACTIVATIONS[name]
    assert_close(f"{name}''", act.second_derivative(KINKS, act.forward(KINKS)), expected)


@pytest.mark.parametrize("name", [*Ls.BUILT_IN, "sigmoid_mse"])
def test_loss_hessians_equal_jax(name):
    rng = np.random.default_rng(1)
    k = 1 if name == "binary_cross_entropy" else 3
    s, v = rng.standard_normal((5, k)) * 3, rng.standard_normal((5, k))
    Y = {"binary_cross_entropy": rng.integers(0, 2, (5, 1)).astype(float),
         "cross_entropy": np.eye(3)[rng.integers(0, 3, 5)]}.get(name, rng.standard_normal((5, k)))
    fn = JAX_LOSSES.get(name) or __import__("reference.losses", fromlist=["x"]).sigmoid_mse
    expected = jax.jvp(jax.grad(lambda t: fn(t, Y)), (s,), (v,))[1]
    hv = Ls.LOSSES[name].hessian_vector if name in Ls.LOSSES else Ls.sigmoid_mse_hessian_vector
    assert_close(f"{name} H v", hv(s, Y, v), np.asarray(expected))


# ---------------------------------------------------------------- bad input

SPEC = NetworkSpec([3, 4, 2], "relu", "cross_entropy", 0.1)
PARAMS = manual.init_params(SPEC, seed=0)
X3, Y3 = np.arange(12.0).reshape(4, 3) / 10, np.array([0, 1, 1, 0])


@pytest.mark.parametrize("weights, match", [
    (np.array([1.0, -1.0, 1.0, 1.0]), r"sample_weight must be >= 0"),
    (np.array([1.0, np.nan, 1.0, 1.0]), r"sample_weight contains NaN"),
    (np.zeros(4), r"not be all zero"),
    (np.ones(3), r"shape \(4,\), got shape \(3,\)"),
    (np.ones((4, 1)), r"shape \(4,\), got shape \(4, 1\)"),
])
@pytest.mark.parametrize("fn", [manual.loss_and_grads, reference.loss_and_grads], ids=["manual", "reference"])
def test_bad_sample_weights_are_refused(fn, weights, match):
    with pytest.raises(ValueError, match=match):
        fn(SPEC, PARAMS, X3, Y3, sample_weight=weights)


@pytest.mark.parametrize("fn", [manual.hessian_vector_product, manual.gauss_newton_vector_product,
                                reference.hessian_vector_product, reference.gauss_newton_vector_product])
def test_a_direction_of_the_wrong_shape_is_refused(fn):
    V = [(np.zeros((3, 4)), np.zeros(4)), (np.zeros((4, 3)), np.zeros(2))]
    with pytest.raises(ValueError, match=r"V must be a direction in the params' layout.*layer 2, W must have shape"):
        fn(SPEC, PARAMS, X3, Y3, V)


def test_without_second_derivatives_the_curvature_products_refuse():
    from dualgrad.registry import registered_activation

    with registered_activation("softsign2", lambda z: z / (1 + np.abs(z)), lambda z, a: (1 - np.abs(a)) ** 2,
                               lambda z: z / (1 + jax.numpy.abs(z))) as name:
        spec = NetworkSpec([3, 4, 2], name, "cross_entropy")
        V = P.direction(spec, np.random.default_rng(0))
        for fn in (manual.hessian_vector_product, manual.gauss_newton_vector_product):
            with pytest.raises(ValueError, match=r"second derivative of activation 'softsign2'.*second_derivative="):
                fn(spec, manual.init_params(spec), X3, Y3, V)
        manual.per_example_gradients(spec, manual.init_params(spec), X3, Y3)  # needs f' only
    with pytest.raises(ValueError, match=r"second derivative of loss 'hinge_like'.*hessian_vector="):
        Ls.register_loss("hinge_like", lambda s, Y: (float(np.mean(s * s)), 2 * s / s.size))
        try:
            spec = NetworkSpec([3, 2], loss="hinge_like")
            manual.hessian_vector_product(spec, manual.init_params(spec), X3, np.zeros((4, 2)),
                                          P.direction(spec, np.random.default_rng(0)))
        finally:
            Ls.unregister_loss("hinge_like")


def test_per_example_gradients_shapes_and_float32():
    grads = manual.per_example_gradients(SPEC, PARAMS, X3, Y3)
    assert [(dW.shape, db.shape) for dW, db in grads] == [((4, 3, 4), (4, 4)), ((4, 4, 2), (4, 2))]
    p32 = [(W.astype(np.float32), b.astype(np.float32)) for W, b in PARAMS]
    V32 = [(W * 0 + 1, b * 0 + 1) for W, b in p32]
    for out in (manual.per_example_gradients(SPEC, p32, X3, Y3), manual.hessian_vector_product(SPEC, p32, X3, Y3, V32),
                manual.gauss_newton_vector_product(SPEC, p32, X3, Y3, V32),
                manual.loss_and_grads(SPEC, p32, X3, Y3, sample_weight=[1, 2, 0, 1])[1]):
        assert all(dW.dtype == db.dtype == np.float32 for dW, db in out)
