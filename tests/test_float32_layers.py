"""Low precision judged fairly (issue 19, item 2): every built-in layer run in float32 against its float64
JAX twin, with the twin's own float32 error as the yardstick (dualgrad/engine/precision.py).

A correct float32 layer never fails (FLOAT32_EXAMPLES per layer: 1,000 in the ci profile, the edge
cases included: LayerNorm at D = 2, batchnorm at N = 1, p near 1, exact zeros), and a real float32 bug
(a dropped term, an ε in the wrong place, every mistake of the layer bug catalog) still fails, named.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import manual.layers as M
from dualgrad.bugs.layers import CATALOG
from dualgrad.engine.layer_cases import LAYERS, check
from dualgrad.engine.layer_check import compare_layer, layer_config, make_sides, LayerCase
from dualgrad.engine.precision import default_floor, precision_error

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
FLOAT32_EXAMPLES = {"ci": 1000, "thorough": 10_000}.get(PROFILE, 100)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_a_correct_float32_layer_never_fails(name):
    result = check(name, examples=FLOAT32_EXAMPLES, seed=0, dtype="float32")
    assert result.passed, result.message
    assert result.examples == FLOAT32_EXAMPLES


@pytest.mark.parametrize("mutation", CATALOG, ids=[m.name for m in CATALOG])
def test_every_catalogued_layer_mistake_fails_in_float32_too(mutation):
    result = check(mutation.layer, examples=300, seed=0, forward=mutation.forward, backward=mutation.backward,
                   dtype="float32")
    assert not result.passed


def _eps_outside_sqrt(x, gamma, beta, eps=1e-5):
    """x̂ = (x − μ)/(σ + ε): ε in the wrong place, forward and backward consistent with it."""
    mean = x.mean(axis=-1, keepdims=True)
    std = np.sqrt(((x - mean) ** 2).mean(axis=-1, keepdims=True)) + eps
    x_hat = (x - mean) / std
    return gamma * x_hat + beta, M.layernorm.LayernormCache(x_hat, std, gamma)


def _without_mean_term(dout, cache):
    """dx = (dx̂ − x̂ ⊙ mean₋₁(dx̂ ⊙ x̂)) / std: the mean path dropped."""
    x_hat, std, gamma = cache
    dx_hat = dout * gamma
    dx = (dx_hat - x_hat * (dx_hat * x_hat).mean(axis=-1, keepdims=True)) / std
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def test_an_eps_in_the_wrong_place_fails_in_float32():
    result = check("layernorm", examples=300, seed=0, forward=_eps_outside_sqrt, dtype="float32")
    assert not result.passed
    lines = result.message.splitlines()
    assert lines[0].startswith("out: ") or lines[0].startswith("dx: ")
    assert lines[-1].startswith("case: ") and "eps=" in lines[-1]


def test_a_dropped_term_fails_and_the_message_gives_all_three_values():
    result = check("layernorm", examples=300, seed=0, backward=_without_mean_term, dtype="float32")
    assert not result.passed
    first = result.message.splitlines()[0]
    assert first.startswith("dx: max |yours − float64| = ")
    for part in ("at index (", "yours = ", "float64 = ", "float32 reference = ", "the float32 reference's own error"):
        assert part in first
    assert result.message.splitlines()[-1].startswith("case: N=1 D=")


def test_the_floor_is_relative_to_the_case_not_to_the_leaf():
    """LayerNorm at D = 2: dx nearly cancels (two entries, equal and opposite, tiny next to dγ and dβ); a
    correct float32 backward then errs by more than the twin's own float32 error on dx, relative to dx. The
    floor, relative to the case's gradient scale, keeps it a pass; a floor relative to dx alone would not."""
    config = layer_config({"x": ("N", "D")}, {"gamma": ("D",), "beta": ("D",)}, {"N": 1, "D": 2}, {"eps": 1e-5})
    sides = make_sides(M.layernorm_forward, M.layernorm_backward, LAYERS["layernorm"].jax_fn, dtype="float32")
    rng = np.random.default_rng(0)
    fails_leaf_relative = 0
    for i in range(200):
        x = rng.standard_normal((1, 2)) * 10.0
        case = LayerCase({"N": 1, "D": 2}, (("x", x),), (("gamma", rng.standard_normal(2)),
                                                         ("beta", rng.standard_normal(2))), {"eps": 1e-5}, i)
        report = compare_layer(sides, config=config, case=case)
        assert report.passed, report.message
        dx = report.rows[1]
        assert dx.name == "dx"
        leaf_scale = max(abs(dx.ref_value), 1e-30)
        fails_leaf_relative += dx.max_abs > dx.factor * dx.base_max_abs + default_floor("float32") * leaf_scale
    assert fails_leaf_relative > 0


def test_factor_and_floor_are_overridable():
    err = precision_error("dx", np.array([1.0 + 1e-6]), np.array([1.0]), np.array([1.0 + 1e-7]), "float32", 1.0)
    assert err.passed and err.allowed == pytest.approx(8 * 1e-7 + default_floor("float32"), rel=1e-6)
    strict = precision_error("dx", np.array([1.0 + 1e-6]), np.array([1.0]), np.array([1.0 + 1e-7]), "float32", 1.0,
                             factor=2.0, floor=0.0)
    assert not strict.passed and "2 × 1e-07" in strict.describe()
