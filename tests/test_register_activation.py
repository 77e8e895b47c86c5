"""A user's own activation: registered on both sides, it is covered by specs, strategies, check_gradients,
`dualgrad verify` and `dualgrad explain`; a wrong derivative is caught and shrunk to a small case.

Registration changes module-level tables, so every test registers inside
`registered_activation` (removed again on exit, even on failure) under a name no
other test module uses. Each xdist worker is its own process.
"""

import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import Phase, given, settings

import manual
from dualgrad import check_gradients, random_case
from dualgrad.cli.main import main
from dualgrad.engine.properties import network_gradients_match
from dualgrad.engine.registry import register_activation, registered_activation, unregister_activation
from dualgrad.engine.strategies import activation_names, network_cases
from manual import activations as manual_acts
from manual import spec as _spec
from manual.spec import NetworkSpec
from reference import activations as reference_acts

NAME = "t_softsign"  # used by this module only
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def softsign(z):
    """a = z / (1 + |z|)"""
    return z / (1.0 + np.abs(z))


def softsign_derivative(z, a):
    """da/dz = 1 / (1 + |z|)²"""
    return 1.0 / (1.0 + np.abs(z)) ** 2


def softsign_derivative_wrong(z, a):
    """da/dz = 1 / (1 + |z|)"""
    return 1.0 / (1.0 + np.abs(z))


def softsign_jax(z):
    return z / (1.0 + jnp.abs(z))


def tables():
    return list(_spec.ACTIVATION_NAMES), dict(manual_acts.ACTIVATIONS), dict(reference_acts.ACTIVATIONS)


def test_registered_for_the_block_only():
    before = tables()
    with registered_activation(NAME, softsign, softsign_derivative, softsign_jax):
        assert NAME in _spec.ACTIVATION_NAMES and NAME in manual.ACTIVATIONS and NAME in reference_acts.ACTIVATIONS
        assert NetworkSpec([2, 3, 1], NAME, "binary_cross_entropy").hidden == (NAME,)
    assert tables() == before
    with pytest.raises(ValueError, match="unknown activation"):
        NetworkSpec([2, 3, 1], NAME, "binary_cross_entropy")


def test_removed_even_when_the_block_fails():
    before = tables()
    with pytest.raises(RuntimeError):
        with registered_activation(NAME, softsign, softsign_derivative, softsign_jax):
            raise RuntimeError("boom")
    assert tables() == before


@pytest.mark.parametrize("args, error", [
    (("relu", softsign, softsign_derivative, softsign_jax), ValueError),  # a built-in
    ((NAME, softsign, "not callable", softsign_jax), TypeError),
    ((NAME, softsign, softsign_derivative, None), TypeError),
    (("not an identifier", softsign, softsign_derivative, softsign_jax), ValueError),
])
def test_bad_registration_changes_nothing(args, error):
    before = tables()
    with pytest.raises(error):
        register_activation(*args)
    assert tables() == before


def test_a_block_never_replaces_an_existing_registration():
    with registered_activation(NAME, softsign, softsign_derivative, softsign_jax):
        with pytest.raises(ValueError, match="already registered"):
            with registered_activation(NAME, softsign, softsign_derivative_wrong, softsign_jax):
                pass
        assert manual.ACTIVATIONS[NAME].derivative is softsign_derivative  # untouched
    with pytest.raises(ValueError, match="not a registered"):
        unregister_activation(NAME)
    with pytest.raises(ValueError, match="built-in"):
        manual_acts.unregister_activation("relu")
    with pytest.raises(ValueError, match="built-in"):
        reference_acts.unregister_activation("tanh")


def test_check_gradients_and_strategies_cover_it():
    with registered_activation(NAME, softsign, softsign_derivative, softsign_jax):
        drawn = []

        @settings(max_examples=30, derandomize=True, database=None)
        @given(activation_names())
        def names(name):
            drawn.append(name)

        names()
        assert NAME in drawn
        spec = NetworkSpec([3, 5, 4, 2], NAME, "cross_entropy", 0.01)
        report = check_gradients(spec, *random_case(spec, 7, seed=1), fd=True)
        assert report.passed and all(row.fd_passed for row in report)


def test_verify_and_explain_cover_it(capsys):
    with registered_activation(NAME, softsign, softsign_derivative, softsign_jax):
        assert main(["verify", "--hidden", NAME, "--examples", "3"]) == 0
        out = capsys.readouterr().out
        assert f"1 hidden activation ({NAME})" in out and out.splitlines()[-1].startswith("PASS: 3 networks")
        assert main(["verify", "--sizes", "4", "6", "1", "--hidden", NAME, "--fd"]) == 0
        assert main(["explain", "--sizes", "4", "6", "3", "--hidden", NAME, "--batch", "5"]) == 0
        out = capsys.readouterr().out
        assert f"{NAME}(z) = z / (1 + |z|)" in out and f"{NAME}'(z) = 1 / (1 + |z|)²" in out
    with registered_activation(NAME, softsign, softsign_derivative_wrong, softsign_jax):
        assert main(["verify", "--sizes", "4", "6", "1", "--hidden", NAME]) == 1
        assert main(["explain", "--sizes", "4", "6", "3", "--hidden", NAME, "--batch", "5"]) == 1  # a step fails
        assert "FAIL: 2/4 gradients" in capsys.readouterr().out
    assert main(["verify", "--hidden", NAME]) == 2  # gone again
    assert "unknown activation" in capsys.readouterr().err


def test_manual_only_registration_is_a_clear_cli_error(capsys):
    manual.register_activation(NAME, softsign, softsign_derivative)
    try:
        assert main(["verify", "--sizes", "4", "6", "1", "--hidden", NAME]) == 2
        err = capsys.readouterr().err
        assert "no JAX twin" in err and "reference.register_activation" in err
    finally:
        manual_acts.unregister_activation(NAME)
    assert NAME not in _spec.ACTIVATION_NAMES


def test_wrong_derivative_is_caught_and_shrunk_to_a_small_case():
    failures = []

    @settings(max_examples=200, derandomize=True, database=None, phases=[Phase.generate, Phase.shrink])
    @given(network_cases(activations=[NAME], max_layers=3, max_width=8, max_batch=8))
    def matches_jax(case):
        try:
            network_gradients_match(case)
        except AssertionError:
            failures.append(case)
            raise

    with registered_activation(NAME, softsign, softsign_derivative_wrong, softsign_jax):
        with pytest.raises(AssertionError, match="layer 1, dW"):
            matches_jax()
    spec, params, X, y = failures[-1]  # hypothesis runs the shrunk example last
    assert spec.n_layers == 2 and max(spec.sizes) == 1 and X.shape[0] == 1, spec
    with registered_activation(NAME, softsign, softsign_derivative, softsign_jax):
        failures.clear()
        matches_jax()
        assert failures == []


def test_import_plugin_from_the_command_line(capsys):
    """docs/softsign.py registers `softsign` when imported with --import."""
    path = os.path.join(ROOT, "docs", "softsign.py")
    try:
        assert main(["verify", "--import", path, "--hidden", "softsign", "--examples", "2"]) == 0
        assert "(softsign)" in capsys.readouterr().out
        assert main(["explain", "--import", path, "--sizes", "3", "4", "2", "--hidden", "softsign"]) == 0
        assert "softsign(z) = z / (1 + |z|)" in capsys.readouterr().out
    finally:
        if "softsign" in manual.ACTIVATIONS:
            unregister_activation("softsign")
    assert "softsign" not in _spec.ACTIVATION_NAMES


def test_the_documented_example_runs():
    """docs/custom_activation.py: the wrong derivative is caught and shrunk, the right one passes."""
    done = subprocess.run([sys.executable, os.path.join(ROOT, "docs", "custom_activation.py")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "caught: layer 1, dW" in out and "Failing test case" in out and "sizes=(1, 1, 1)" in out
    assert "200 random softsign networks: manual == jax.grad" in out and "PASS: 3 networks" in out


def test_reregistering_a_name_with_another_jax_function_is_not_served_from_the_old_program():
    """The bucketed reference keys its compiled program on the JAX functions, not only on the names."""
    with registered_activation(NAME, softsign, softsign_derivative, softsign_jax):
        spec = NetworkSpec([3, 4, 2], NAME, "cross_entropy")  # a spec checks its names when made
        params, X, y = random_case(spec, 5, seed=1)
        assert check_gradients(spec, params, X, y).passed
    with registered_activation(NAME, softsign, softsign_derivative, lambda z: 2.0 * softsign_jax(z)):
        assert not check_gradients(spec, params, X, y).passed  # the new twin (2·softsign) is used


def test_a_name_without_a_jax_twin_is_refused_and_breaks_nothing_else():
    spec_other = NetworkSpec([3, 4, 2], "tanh", "cross_entropy")
    manual_acts.register_activation(NAME, softsign, softsign_derivative)
    try:
        spec = NetworkSpec([3, 4, 2], NAME, "cross_entropy")
        with pytest.raises(ValueError, match="no JAX twin"):
            check_gradients(spec, *random_case(spec, 5, seed=1))
        assert check_gradients(spec_other, *random_case(spec_other, 5, seed=1)).passed
    finally:
        manual_acts.unregister_activation(NAME)
