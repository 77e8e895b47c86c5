"""The layers of manual.layers against jax.vjp of reference.layers (issue 12), through check_layer.

Each built-in layer (dualgrad.layer_cases.LAYERS) runs the layer property: random shapes with
the edge ones (N = 1 batchnorm, D = 1, T = 1, V = 1, repeated ids, p = 0 and p near 1, exact
zeros), a random upstream gradient, out / dx / every dparam vs jax.vjp, the adjoint identity
and purity. LAYER_EXAMPLES per layer: 1,000 in the ci profile.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import manual.layers as M
import reference.layers as R
from dualgrad import check_layer
from dualgrad.engine.layer_cases import LAYERS, check
from dualgrad.engine.result import CheckResult

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
LAYER_EXAMPLES = {"ci": 1000, "thorough": 20_000}.get(PROFILE, 150)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_matches_jax(name):
    result = check(name, examples=LAYER_EXAMPLES, seed=0)
    assert result.passed, result.message
    assert result.examples == LAYER_EXAMPLES


# ---------------------------------------------------------------- the derivations, case by case


def test_batchnorm_short_and_graph_forms_agree():
    rng = np.random.default_rng(0)
    for _ in range(200):
        N, D = rng.integers(1, 9, size=2)
        x = rng.standard_normal((N, D)) * 10.0 ** rng.uniform(-2, 2)
        gamma, beta, dout = rng.standard_normal(D), rng.standard_normal(D), rng.standard_normal((N, D))
        _, cache = M.batchnorm_forward(x, gamma, beta, eps=float(rng.choice([1e-5, 1e-2])))
        short, graph = M.batchnorm_backward(dout, cache), M.batchnorm_backward_graph(dout, cache)
        for a, b in zip(short, graph):
            scale = np.max(np.abs(b), initial=1.0)
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12 * scale)


def test_batchnorm_with_one_row_is_beta_and_has_zero_dx():
    """N = 1 (decided in manual/layers/batchnorm.py): x̂ = 0, out = β, dx = 0, dγ = 0, dβ = dout."""
    x, gamma, beta, dout = np.array([[3.0, -2.0]]), np.array([2.0, 5.0]), np.array([0.5, -1.0]), np.array([[7.0, 3.0]])
    out, cache = M.batchnorm_forward(x, gamma, beta)
    np.testing.assert_array_equal(out, [beta])
    dx, dgamma, dbeta = M.batchnorm_backward(dout, cache)
    np.testing.assert_array_equal(dx, np.zeros((1, 2)))
    np.testing.assert_array_equal(dgamma, np.zeros(2))
    np.testing.assert_array_equal(dbeta, dout[0])
    np.testing.assert_array_equal(np.asarray(R.batchnorm(x, gamma, beta)), out)


def test_batchnorm_running_statistics_use_the_stated_momentum():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3))
    _, cache = M.batchnorm_forward(x, np.ones(3), np.zeros(3))
    mean, var = M.batchnorm_running_stats(np.zeros(3), np.ones(3), cache)
    np.testing.assert_allclose(mean, 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(var, 0.9 + 0.1 * x.var(axis=0))  # biased batch variance
    assert M.BN_MOMENTUM == 0.9


def test_eval_mode_with_the_batch_statistics_equals_training_forward():
    rng = np.random.default_rng(2)
    x, g, b = rng.standard_normal((5, 4)), rng.standard_normal(4), rng.standard_normal(4)
    out_train, _ = M.batchnorm_forward(x, g, b)
    out_eval, _ = M.batchnorm_eval_forward(x, g, b, x.mean(axis=0), x.var(axis=0))
    np.testing.assert_allclose(out_eval, out_train, rtol=1e-12, atol=1e-12)


def test_repeated_ids_accumulate():
    E = np.arange(6.0).reshape(3, 2)
    out, cache = M.embedding_forward(np.array([[1, 1], [1, 0]]), E)
    np.testing.assert_array_equal(out[0, 0], E[1])
    dE = M.embedding_backward(np.ones((2, 2, 2)), cache)
    np.testing.assert_array_equal(dE, [[1, 1], [3, 3], [0, 0]])


def test_dropout_p_zero_is_the_identity_and_the_mask_comes_from_the_seed():
    x = np.random.default_rng(3).standard_normal((4, 5))
    out, cache = M.dropout_forward(x, 0.0, 7)
    np.testing.assert_array_equal(out, x)
    assert not np.shares_memory(out, x)
    a, _ = M.dropout_forward(x, 0.5, 11)
    b, _ = M.dropout_forward(x, 0.5, 11)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.asarray(R.dropout(x, 0.5, 11)), a)
    kept = a != 0
    np.testing.assert_allclose(a[kept], 2.0 * x[kept])  # 1 / (1 − p)


def test_hinge_does_not_count_the_correct_class():
    s = np.array([[1.0, 1.0, -5.0]])  # class 0 correct: margins 1 (class 1), 0 (class 2: −5 − 1 + 1 = −5)
    loss, ds = M.hinge_loss(s, np.array([0]))
    assert loss == 1.0
    np.testing.assert_array_equal(ds, [[-1.0, 1.0, 0.0]])
    assert float(R.hinge_loss(s, np.array([0]))) == 1.0


def test_losses_match_todays_definitions():
    import manual.losses as LS

    rng = np.random.default_rng(4)
    s, y = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    Y = np.eye(3)[y]
    assert M.cross_entropy_loss(s, y)[0] == LS.cross_entropy(s, Y)[0]


# ---------------------------------------------------------------- check_layer on users' layers


def _scale_forward(x, w):
    return x * w, (x, w)


def _scale_backward(dout, cache):
    x, w = cache
    return dout * w, (dout * x).sum(axis=0)


def _scale_jax(x, w):
    return x * w


def _scale_backward_wrong(dout, cache):
    x, w = cache
    return dout * w, (dout * x).sum(axis=0) + (x.shape[0] > 2) * 0.5  # wrong for N > 2


def test_check_layer_passes_a_right_layer_and_returns_a_check_result():
    result = check_layer(_scale_forward, _scale_backward, _scale_jax, shapes={"x": ("N", "D")},
                         params={"w": ("D",)}, examples=50, seed=1)
    assert isinstance(result, CheckResult) and result.passed and result.examples == 50 and result.seed == 1


def test_check_layer_catches_and_shrinks_a_wrong_parameter_gradient():
    kwargs = dict(shapes={"x": ("N", "D")}, params={"w": ("D",)}, examples=200, seed=0)
    result = check_layer(_scale_forward, _scale_backward_wrong, _scale_jax, **kwargs)
    assert not result.passed
    assert result.message.startswith("dw: ") and "at index (0,)" in result.message
    assert result.counterexample.dims == {"N": 3, "D": 1}  # the smallest failing case
    assert not result.report.passed and result.report.case is result.counterexample
    again = check_layer(_scale_forward, _scale_backward_wrong, _scale_jax, **kwargs)
    assert (again.examples, again.message) == (result.examples, result.message)  # deterministic for a seed


def test_check_layer_reports_an_impure_or_crashing_layer_without_raising():
    def modifies_x(x, w):
        out = x * w
        x += 1.0
        return out, (x - 1.0, w)

    r = check_layer(modifies_x, _scale_backward, _scale_jax, shapes=("N", "D"), params={"w": ("D",)}, examples=20)
    assert not r.passed and "purity: x was modified" in r.message

    def aliasing(x):
        return x, None

    r = check_layer(aliasing, lambda dout, cache: (dout,), lambda x: x, shapes=("N",), examples=20)
    assert not r.passed and "shares memory" in r.message

    def crashes(dout, cache):
        raise IndexError("oops")

    r = check_layer(_scale_forward, crashes, _scale_jax, shapes=("N", "D"), params={"w": ("D",)}, examples=20)
    assert not r.passed and r.message.startswith("backward raised IndexError: oops")


def test_check_layer_hyperparameters_ids_and_valid():
    """A conv-like description: static int hyper, a validity predicate, and an ids input."""

    def strided(x, stride=1):
        return x[:, ::stride].copy(), (x.shape, stride)

    def strided_backward(dout, cache):
        shape, stride = cache
        dx = np.zeros(shape)
        dx[:, ::stride] = dout
        return (dx,)

    r = check_layer(strided, strided_backward, lambda x, stride=1: x[:, ::stride], shapes=("N", "W"),
                    dims={"W": [2, 4, 6]}, hyper={"stride": [1, 2]}, valid=lambda d, h: d["W"] % h["stride"] == 0,
                    examples=60)
    assert r.passed, r.message
    r = check_layer(M.embedding_forward, M.embedding_backward, R.embedding, shapes={"ids": ("N",)},
                    params={"E": ("V", "D")}, ids="V", examples=60)
    assert r.passed, r.message


@pytest.mark.parametrize("kwargs, error", [
    (dict(shapes=None), TypeError),
    (dict(shapes={}), ValueError),  # several inputs are allowed since issue 19; none is not
    (dict(shapes=("N", 0)), ValueError),
    (dict(shapes=("N",), params=[("D",)]), TypeError),
    (dict(shapes=("N",), dims={"N": (3, 1)}), ValueError),
    (dict(shapes=("N",), examples=0), ValueError),
    (dict(shapes=("N",), examples=2.5), TypeError),
    (dict(shapes=("N",), seed=-1), ValueError),
    (dict(shapes=("N",), bucket={"N": 2}), ValueError),
    (dict(shapes=("N",), ids="Q"), ValueError),
    (dict(shapes=("N",), valid=3), TypeError),
    (dict(shapes=("N",), hyper={"p": []}), ValueError),
])
def test_check_layer_bad_arguments(kwargs, error):
    with pytest.raises(error):
        check_layer(_scale_forward, _scale_backward, _scale_jax, **kwargs)


def test_check_layer_needs_callables():
    with pytest.raises(TypeError, match="callable backward"):
        check_layer(_scale_forward, None, _scale_jax, shapes=("N",))
