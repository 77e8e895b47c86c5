"""Stacks of layers (issue 12): random stacks, every gradient of every layer against jax.grad of the
rebuilt JAX stack, shrunk to the smallest failing stack; and a stack trained on spirals.

JAX runs eagerly here (one stack structure per example would mean one compile per example);
each primitive is compiled once per shape and widths and batches come from small sets.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualgrad.engine.compare import leaf_error
from manual import stack as S
from manual.stack_spec import PARAM_NAMES, StackSpec
from reference import stack as RS

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
STACK_EXAMPLES = {"ci": 30, "thorough": 2000}.get(PROFILE, 20)  # eager JAX: ~0.3-1 s per example on a loaded machine (the suite's longest test at 60)
WIDTHS = st.sampled_from([1, 2, 3, 4])
BODY = st.one_of(WIDTHS.map(lambda w: ("dense", w)), st.sampled_from([("batchnorm",), ("layernorm",), ("relu",),
                 ("tanh",), ("gelu",), ("sigmoid",)]), st.sampled_from([0.0, 0.5, 0.9]).map(lambda p: ("dropout", p)))


@st.composite
def stack_cases(draw):
    """(spec, params, x, y, seed): a random stack, its parameters and a batch."""
    embed = draw(st.booleans())
    n_in = draw(WIDTHS)
    layers = ([("embedding", draw(WIDTHS))] if embed else []) + draw(st.lists(BODY, max_size=5))
    loss = draw(st.sampled_from(["cross_entropy", "mse", "hinge", "binary_cross_entropy"]))
    k = 1 if loss == "binary_cross_entropy" else draw(st.sampled_from([1, 2, 3]))
    spec = StackSpec(n_in, tuple(layers) + (("dense", k),), loss)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    params = [tuple(rng.standard_normal(s) for s in shapes) for shapes in spec.param_shapes()]
    n = draw(st.sampled_from([1, 2, 3, 5]))
    x = rng.integers(0, n_in, n) if embed else rng.standard_normal((n, n_in))
    y = {"mse": lambda: rng.standard_normal((n, k)), "binary_cross_entropy": lambda: rng.integers(0, 2, n).astype(float)
         }.get(loss, lambda: rng.integers(0, k, n))()
    return spec, params, x, y, draw(st.integers(0, 1000))


def stack_gradients_match(case):
    spec, params, x, y, seed = case
    loss_m, grads_m, _ = S.loss_and_grads(spec, params, x, y, seed)
    loss_r, grads_r = RS.loss_and_grads(spec, params, x, y, seed)
    assert abs(loss_m - loss_r) <= 1e-9 * max(1.0, abs(loss_r)), f"loss: manual {loss_m!r}, reference {loss_r!r}"
    scale = max([1.0] + [float(np.abs(g).max()) for layer in grads_r for g in layer])
    for l, (layer, gm, gr) in enumerate(zip(spec.layers, grads_m, grads_r), start=1):
        for name, a, b in zip(PARAM_NAMES.get(layer[0], ()), gm, gr):
            err = leaf_error(f"layer {l} ({layer[0]}), d{name}", a, b, scale=scale)
            assert err.passed, f"{spec}: {err.name} at {err.worst_index}: manual {err.manual_value!r}, reference {err.ref_value!r}"


@settings(max_examples=STACK_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(stack_cases())
def test_random_stacks_match_jax(case):
    stack_gradients_match(case)


@pytest.mark.slow  # ~100 s: every shrinking step runs eager JAX on a new stack
def test_a_wrong_layer_in_a_stack_is_caught_and_shrunk(monkeypatch):
    """The batchnorm without its variance path, inside stacks: found and shrunk to a short stack."""
    from hypothesis import find

    from dualgrad.bugs.layers import bn_without_variance_path

    monkeypatch.setitem(S._BACKWARD, "batchnorm", bn_without_variance_path)

    def fails(case):
        try:
            stack_gradients_match(case)
        except AssertionError:
            return True
        return False

    case = find(stack_cases(), fails, settings=settings(max_examples=300, database=None, derandomize=True,
                                                        deadline=None, suppress_health_check=list(HealthCheck)))
    spec = case[0]
    assert ("batchnorm",) in spec.layers and len(spec.layers) <= 3, spec


def test_stack_spec_rejects_bad_layers():
    for layers, error in [((("dense", 0),), ValueError), ((("relu",), ("embedding", 3)), ValueError),
                          ((("dropout", 1.0),), ValueError), ((("conv",),), ValueError), ("dense", TypeError),
                          ((), TypeError)]:
        with pytest.raises(error):
            StackSpec(3, layers)


def test_a_batchnorm_dropout_stack_learns_spirals_like_the_plain_mlp():
    """dense → batchnorm → relu → dropout → dense trained with manual.optimizers.adam reaches the
    accuracy of the plain MLP (dense → relu → dense, same width, optimizer and epochs); predict runs
    batchnorm on the running statistics and dropout off."""
    from manual import optimizers as O
    from manual.datasets import spirals

    X, y = spirals(300, 3, seed=0)
    accuracies = {}
    for name, layers in [("plain", (("dense", 64), ("relu",), ("dense", 3))),
                         ("stack", (("dense", 64), ("batchnorm",), ("relu",), ("dropout", 0.1), ("dense", 3)))]:
        spec = StackSpec(2, layers, "cross_entropy")
        params, state, losses = S.train(spec, S.init_params(spec, seed=0), X, y, O.adam(0.01), epochs=150,
                                        batch_size=32, seed=0)
        accuracies[name] = float((S.predict(spec, params, state, X).argmax(axis=1) == y).mean())
        assert losses[-1] < losses[0]
    print(accuracies)
    assert accuracies["plain"] >= 0.9
    assert accuracies["stack"] >= accuracies["plain"] - 0.02, accuracies
