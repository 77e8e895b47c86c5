"""A user's own loss, registered on both sides: specs, strategies, check_gradients, verify, explain and
check_implementation cover it; a wrong dlogits or a JAX twin that computes another loss is named by the
elementwise diagnosis before any network; the sigmoid-MSE head and registered activations likewise."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings

import manual
from dualgrad import check_gradients, check_implementation, random_case
from dualgrad.cli.main import main
from dualgrad.engine.diagnose import check_activation, check_loss
from dualgrad.engine.properties import network_gradients_match
from dualgrad.engine.registry import register_loss, registered_activation, registered_loss, unregister_loss
from dualgrad.engine.strategies import network_cases
from reference import bucketed


def logcosh(s, Y):
    """L = (1/N) Σₙₖ log cosh(sₙₖ − Yₙₖ);  dL/ds = tanh(s − Y) / N"""
    r = s - Y  # (N, K)
    value = np.sum(np.logaddexp(r, -r) - np.log(2.0)) / s.shape[0]
    return float(value), np.tanh(r) / s.shape[0]


def logcosh_jax(s, Y):
    r = s - Y
    return jnp.sum(jnp.logaddexp(r, -r) - jnp.log(2.0)) / s.shape[0]


def logcosh_wrong_dlogits(s, Y):
    value, ds = logcosh(s, Y)
    return value, ds * s.shape[0]  # the 1/N forgotten in dL/ds


@pytest.fixture
def logcosh_loss():
    with registered_loss("logcosh", logcosh, logcosh_jax, targets="real") as name:
        yield name


def test_a_registered_loss_is_a_spec_loss_and_matches_the_plain_reference(logcosh_loss):
    import reference

    spec = manual.NetworkSpec([3, 5, 2], "tanh", "logcosh", 0.01)
    params, X, y = random_case(spec, 7, seed=1)
    loss, grads = manual.loss_and_grads(spec, params, X, y)
    loss_p, grads_p = reference.loss_and_grads(spec, params, X, y)  # compiled per shape
    out_b, loss_b, grads_b = bucketed.forward_loss_and_grads(spec, params, X, y)  # the fast path
    assert np.isclose(loss, loss_p, rtol=1e-12) and np.isclose(loss_b, loss_p, rtol=1e-12)
    for (dW, db), (dWp, dbp), (dWb, dbb) in zip(grads, grads_p, grads_b):
        np.testing.assert_allclose(dW, dWp, rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(dWb, dWp, rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(dbb, dbp, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(out_b, manual.forward(spec, params, X), rtol=1e-12)
    report = check_gradients(spec, params, X, y)
    assert report.passed and report.functions_passed


def test_strategies_and_the_property_cover_a_registered_loss(logcosh_loss):
    seen = []

    @settings(max_examples=60, deadline=None, database=None)
    @given(network_cases(max_layers=2, max_width=6, max_batch=8, losses=["logcosh"]))
    def prop(case):
        seen.append(case[0].loss)
        network_gradients_match(case)

    prop()
    assert set(seen) == {"logcosh"}


def test_verify_and_explain_use_a_registered_loss(tmp_path, capsys):
    plugin = tmp_path / "my_loss.py"
    plugin.write_text(
        "import sys\nsys.path.insert(0, %r)\n" % str(__import__("pathlib").Path(__file__).parent)
        + "from dualgrad.engine.registry import register_loss\n"
        + "from test_register_loss import logcosh, logcosh_jax\n"
        + "register_loss('logcosh', logcosh, logcosh_jax)\n")
    try:
        assert main(["verify", "--import", str(plugin), "--sizes", "3", "4", "2", "--loss", "logcosh"]) == 0
        out = capsys.readouterr().out
        assert "logcosh" in out and "PASS" in out
        assert main(["explain", "--import", str(plugin), "--sizes", "3", "4", "2", "--loss", "logcosh"]) == 0
        out = capsys.readouterr().out
        assert "L = (1/N) Σₙₖ log cosh" in out and "from logcosh's value_and_dlogits" in out and "PASS" in out
    finally:
        unregister_loss("logcosh")


def test_a_wrong_dlogits_is_named_before_any_network():
    with registered_loss("logcosh", logcosh_wrong_dlogits, logcosh_jax):
        problems = check_loss("logcosh")
        assert len(problems) == 1 and "dL/ds" in problems[0] and "your dlogits is wrong" in problems[0]
        spec = manual.NetworkSpec([2, 3, 2], "relu", "logcosh")
        report = check_gradients(spec, *random_case(spec, 4))
        assert not report.passed and not report.functions_passed and "dlogits" in report.notes[0]


def test_a_jax_twin_of_another_loss_says_the_losses_differ():
    with registered_loss("logcosh", logcosh, lambda s, Y: jnp.mean((s - Y) ** 2)):
        problems = check_loss("logcosh")
        assert problems and "the losses differ" in problems[0]


def arctan(z):
    """a = arctan(z)"""
    return np.arctan(z)


def test_a_wrong_activation_derivative_names_the_function_and_the_point():
    with registered_activation("arctan", arctan, lambda z, a: 1 / (1 + a**2), jnp.arctan):
        problems = check_activation("arctan")
    assert problems == ["arctan'(0.5): yours 0.823066, jax.grad 0.8: your derivative is wrong there"]
    with registered_activation("arctan", arctan, lambda z, a: 1 / (1 + z**2), jnp.arctan):
        assert check_activation("arctan") == []


def test_a_wrong_jax_twin_says_the_forwards_differ_instead_of_failing_every_leaf():
    def ours(params, X, y, spec):
        return manual.loss_and_grads(spec, params, X, y)

    with registered_activation("arctan", arctan, lambda z, a: 1 / (1 + z**2), jnp.tanh):
        result = check_implementation(ours, hidden="arctan", loss="mse", examples=20)
    assert not result.passed and result.examples == 0
    assert result.message.startswith("arctan(0.5): yours 0.463648, JAX twin 0.462117: the forwards differ")


def test_kink_either_accepts_the_other_side_at_zero_in_the_grid_too():
    def relu_ge(z):
        """a = max(z, 0)"""
        return np.maximum(z, 0.0)

    with registered_activation("myrelu", relu_ge, lambda z, a: (z >= 0).astype(float),
                               lambda z: jnp.maximum(z, 0.0) * 1.0 + 0.0 * z):
        strict = check_activation("myrelu")
        assert strict and strict[0].startswith("myrelu'(0)") and "kink='either'" in strict[0]
        assert check_activation("myrelu", kink="either") == []


def test_sigmoid_head_with_mse_is_a_registered_loss_on_both_sides():
    from dualgrad.engine.losses_extra import ensure_sigmoid_mse

    name = ensure_sigmoid_mse()
    assert ensure_sigmoid_mse() == name == "sigmoid_mse"  # idempotent
    spec = manual.NetworkSpec([3, 4, 2], "relu", name)
    assert spec.head == "sigmoid" and check_loss(name) == []
    assert check_gradients(spec, *random_case(spec, 5, seed=2)).passed


@pytest.mark.parametrize("call,error,match", [
    (lambda: register_loss("cross_entropy", logcosh, logcosh_jax), ValueError, "built-in loss"),
    (lambda: register_loss("my loss", logcosh, logcosh_jax), ValueError, "identifier"),
    (lambda: register_loss("lc", "logcosh", logcosh_jax), TypeError, "callable value_and_dlogits"),
    (lambda: register_loss("lc", logcosh, None), TypeError, "callable jax_fn"),
    (lambda: register_loss("lc", logcosh, logcosh_jax, targets="ints"), ValueError, "targets must be one of"),
    (lambda: register_loss("lc", logcosh, logcosh_jax, output=3), TypeError, "output"),
    (lambda: unregister_loss("mse"), ValueError, "not a registered"),
])
def test_bad_registrations_are_refused_and_change_nothing(call, error, match):
    before = list(manual.LOSS_NAMES)
    with pytest.raises(error, match=match):
        call()
    assert list(manual.LOSS_NAMES) == before


def test_registered_loss_is_gone_after_the_block():
    with registered_loss("logcosh", logcosh, logcosh_jax):
        assert "logcosh" in manual.LOSS_NAMES
        with pytest.raises(ValueError, match="already registered"):
            with registered_loss("logcosh", logcosh, logcosh_jax):
                pass
    assert "logcosh" not in manual.LOSS_NAMES
    with pytest.raises(ValueError, match="unknown loss"):
        manual.NetworkSpec([2, 1], (), "logcosh")
