"""Numerical extremes (issue 6): huge inputs, ±1000 logits, width 2048, batches of one,
and training that diverges.

Losses and gradients must be finite and equal to the plain JAX reference (few shapes:
each new shape compiles once). Saturation is handled by the log-space forms of the
losses (softplus(q s), logsumexp) and by sigmoid written as exp(−softplus(−z)).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import manual
import reference
from manual import MLP, NetworkSpec, NonFiniteError
from manual.seed import MultiClassNN, NeuralNetwork

RTOL, ATOL = 1e-9, 1e-12  # float64 manual vs float64 jax.grad, as `dualgrad verify`


def assert_same(spec, params, X, y):
    """manual == reference, everything finite; returns (loss, grads)."""
    loss_m, grads_m = manual.loss_and_grads(spec, params, X, y)
    loss_r, grads_r = reference.loss_and_grads(spec, params, X, y)
    assert np.isfinite(loss_m) and np.isfinite(loss_r)
    np.testing.assert_allclose(loss_m, loss_r, rtol=RTOL, atol=ATOL)
    for l, (gm, gr) in enumerate(zip(grads_m, grads_r), start=1):
        for name, a, b in (("dW", gm[0], gr[0]), ("db", gm[1], gr[1])):
            assert np.isfinite(a).all(), f"layer {l}, {name} not finite"
            scale = max(np.abs(b).max(), 1e-300)
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL * scale, err_msg=f"layer {l}, {name}")
    return loss_m, grads_m


def head_params(spec, logits_scale, seed=0):
    """One layer whose logits are ±logits_scale for inputs of ±1."""
    rng = np.random.default_rng(seed)
    W = np.sign(rng.standard_normal((spec.sizes[0], spec.sizes[1]))) * logits_scale / spec.sizes[0]
    return [(W, np.zeros(spec.sizes[1]))]


@pytest.mark.parametrize("loss, k", [("cross_entropy", 3), ("binary_cross_entropy", 1), ("mse", 2)])
@pytest.mark.parametrize("logit", [1000.0, -1000.0])
def test_logits_of_plus_minus_1000(loss, k, logit):
    spec = NetworkSpec([4, k], loss=loss)
    params = head_params(spec, abs(logit))
    X = np.sign(logit) * np.ones((5, 4))  # (5, 4): logits of ±1000 in every row
    y = np.array([0, 1, 2, 0, 1])[:5] % max(k, 2) if loss != "mse" else np.zeros((5, k))
    loss_value, grads = assert_same(spec, params, X, y)
    if loss != "mse":
        assert loss_value > 100  # confidently wrong rows cost ~1000, not inf and not a clipped log(ε)


def test_confident_right_answers_keep_tiny_loss():
    """s = 40 with y = 1: loss e⁻⁴⁰ ≈ 4e-18, kept to full relative precision (no 1 − σ cancellation)."""
    spec = NetworkSpec([1, 1], loss="binary_cross_entropy")
    params = [(np.array([[40.0]]), np.zeros(1))]
    loss_value, _ = assert_same(spec, params, np.ones((1, 1)), np.array([1]))
    assert loss_value == pytest.approx(np.log1p(np.exp(-40.0)), rel=1e-12)


@pytest.mark.parametrize("hidden", ["tanh", "sigmoid", "relu", "softplus", "gelu"])
def test_inputs_of_size_1e6(hidden):
    """X up to 1e6: hidden units saturate (tanh, sigmoid) or grow linearly (relu)."""
    spec = NetworkSpec([4, 8, 3], hidden, "cross_entropy")
    params = manual.init_params(spec, seed=3)
    X = np.random.default_rng(3).standard_normal((6, 4)) * 1e6
    assert_same(spec, params, X, np.arange(6) % 3)


def test_width_2048():
    spec = NetworkSpec([2048, 2048, 3], "tanh", "cross_entropy")
    params = manual.init_params(spec, seed=4)
    X = np.random.default_rng(4).standard_normal((3, 2048))
    assert_same(spec, params, X, np.array([0, 1, 2]))


@pytest.mark.parametrize("loss, k", [("cross_entropy", 3), ("binary_cross_entropy", 1), ("mse", 2)])
def test_batch_of_one(loss, k):
    spec = NetworkSpec([3, 5, k], "elu", loss, l2=0.01)
    params = manual.init_params(spec, seed=5)
    y = np.array([0]) if loss != "mse" else np.array([[0.5, -2.0]])
    assert_same(spec, params, np.array([[0.1, -3.0, 7.0]]), y)


def test_overflowing_finite_inputs_are_an_error_not_a_nan():
    spec = NetworkSpec([2, 2], loss="mse")
    params = manual.init_params(spec)
    with pytest.raises(ValueError, match="overflowed float64"):
        manual.loss_and_grads(spec, params, np.full((2, 2), 1e200), np.zeros((2, 2)))


def test_overflowing_finite_inputs_are_an_error_on_the_prediction_path_too():
    """forward (and so MLP.predict) raises instead of returning NaN or inf, and warns nothing."""
    spec = NetworkSpec([2, 64, 64, 1], "relu", "mse")
    params = [(W * 1e3, b) for W, b in manual.init_params(spec)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="output overflowed float64"):
            manual.forward(spec, params, np.full((2, 2), 1e300))


# ---------------------------------------------------------------- divergence


def _data():
    """Four rows of size 1e4: a step of lr 1e300 makes weights ~1e303, the next logits overflow."""
    return np.array([[0.0, 1], [1, 0], [1, 1], [0.5, 0.2]]) * 1e4, np.array([0, 1, 1, 0])


def test_mlp_divergence_stops_and_keeps_finite_params():
    X, y = _data()
    model = MLP([2, 1], loss="mse", optimizer="sgd", learning_rate=1e300, epochs=50, seed=0)
    with pytest.raises(NonFiniteError):
        model.fit(X, y.astype(float))
    assert all(np.isfinite(W).all() and np.isfinite(b).all() for W, b in model.params)
    assert len(model.loss_history) == model.n_epochs_ and all(np.isfinite(model.loss_history))


@pytest.mark.parametrize("cls, sizes, lr", [(NeuralNetwork, [2, 4, 1], 1e100), (MultiClassNN, [2, 2], 1e100)])
def test_seed_class_divergence_stops_and_keeps_last_finite_weights(cls, sizes, lr):
    """The seed's classes: NonFiniteError; weights and biases (and velocities) are those the
    failing epoch started from; loss_history (NeuralNetwork) has one entry per completed epoch."""
    X = np.array([[1.0, -1], [-1, 1], [1, 1], [-1, -1]]) * 1e150
    y = np.array([0, 1, 1, 0])
    np.random.seed(0)
    net = cls(sizes, learning_rate=lr)
    starts = []
    original = net.forward

    def forward(X_):  # remember the weights each forward starts from
        starts.append([W.copy() for W in net.weights] + [b.copy() for b in net.biases])
        return original(X_)

    net.forward = forward
    with pytest.raises(NonFiniteError, match="last finite values"):
        net.fit(X, y, epochs=100, verbose=False)
    now = net.weights + net.biases
    assert all(np.isfinite(a).all() for a in now)
    assert all(np.array_equal(a, b) for a, b in zip(now, starts[-1]))  # the failing epoch's start, untouched
    assert len(starts) >= 2  # at least one epoch completed before the divergence
    if cls is NeuralNetwork:
        assert len(net.loss_history) == len(starts) - 1 and all(np.isfinite(net.loss_history))
