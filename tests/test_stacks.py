"""Stacks of layers (issues 12, 21): random networks of the one description (rows, ids, sequences,
images; dense, activations, norms, dropout, embedding, conv, pools, residual blocks), every gradient
of every layer against the reference, shrunk to the smallest failing stack; the text form; and a
stack trained on spirals.

The main property runs the bucketed reference (`reference.bucketed_stack`: one compiled program per
kind of layer and bucket, so ci checks 1,000 random networks); `reference.stack` (jax.grad of the
whole stack, eager) checks the bucketed one on fewer examples, and the rows-only strategy below
keeps the eager comparison of issue 12.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualgrad.engine import stack_property as P
from dualgrad.engine.compare import leaf_error
from manual import layers as M
from manual import stack as S
from manual.stack_spec import PARAM_NAMES, StackSpec
from reference import bucketed_stack as RB
from reference import stack as RS
from stack_helpers import first_failing_stack

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
STACK_EXAMPLES = {"ci": 1000, "thorough": 20000}.get(PROFILE, 100)  # bucketed: ~20 s for 1,000 on a loaded 2-core machine
EAGER_EXAMPLES = {"ci": 20, "thorough": 500}.get(PROFILE, 8)  # eager JAX: ~0.5-2 s per example
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


@settings(max_examples=EAGER_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(stack_cases())
def test_random_stacks_match_jax(case):
    stack_gradients_match(case)


@settings(max_examples=STACK_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(P.stack_cases())
def test_random_networks_of_every_layer_match_jax(case):
    """The one description's random networks (conv, pools, norms, dropout, embeddings, residual
    blocks, on rows, ids, sequences and images): loss and every gradient, manual against reference."""
    P.stack_gradients_match(case)


@settings(max_examples=EAGER_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(P.stack_cases(max_body=3))
def test_the_bucketed_reference_is_jax_grad_of_the_whole_stack(case):
    """reference.bucketed_stack (per-layer programs on padded buckets) equals reference.stack (jax.grad of
    the whole composed loss), leaf by leaf, to rounding."""
    spec, params, x, y, seed = case
    loss_b, grads_b = RB.loss_and_grads(spec, params, x, y, seed)
    loss_w, grads_w = RS.loss_and_grads(spec, params, x, y, seed)
    assert abs(loss_b - loss_w) <= 1e-12 * max(1.0, abs(loss_w))
    for (name, a), (_, b) in zip(P.named_leaves(spec, grads_b), P.named_leaves(spec, grads_w)):
        assert np.shape(a) == np.shape(b) and np.allclose(a, b, rtol=1e-10, atol=1e-12), (spec.text(), name)


@pytest.mark.parametrize("kind, bug", [
    ("maxpool", lambda dout, cache: (0.5 * M.maxpool2d_backward(dout, cache)[0],)),
    ("layernorm", lambda dout, cache: (lambda dx, dg, db: (dx, dg, 2 * db))(*M.layernorm_backward(dout, cache))),
])
def test_a_wrong_layer_among_every_layer_is_caught_and_named(monkeypatch, kind, bug):
    """A wrong backward inside random networks: found within 300 examples, named by its position and kind."""
    monkeypatch.setitem(S._BACKWARD, kind, bug)
    case, message = first_failing_stack(P.stack_cases(), 300)
    assert any(layer[0] == kind for _, layer, *_ in case[0].walk()), message
    assert "loss" in message or "layer " in message, message


def test_the_text_form_round_trips_and_names_bad_tokens():
    spec = StackSpec.parse("conv:2:3:1:1 batchnorm relu res( conv:2:3:1:1 layernorm relu ) maxpool:2 flatten dense:3",
                           (1, 6, 6))
    assert spec.layers[3] == ("res", (("conv", 2, 3, 1, 1), ("layernorm",), ("relu",)))
    assert StackSpec.parse(spec.text(), (1, 6, 6)) == spec
    assert [w for w, *_ in spec.walk()] == ["1", "2", "3", "4", "4.1", "4.2", "4.3", "5", "6", "7"]
    assert spec.param_shapes()[1] == ((2,), (2,))  # batchnorm on images: per channel
    assert spec.param_shapes()[3] == (((2, 2, 3, 3), (2,)), ((2,), (2,)), ())
    for text, words in [("res( dense:2", "never closed"), ("dense:2 )", "without"), ("res dense:2", r"res\("),
                        ("res( ) dense:2", "at least one"), ("dense:2 res( dense:3 ) dense:2", "keep the shape"),
                        ("conv:2:3 dense:2", "needs images"), ("dense:x", "numbers")]:
        with pytest.raises(ValueError, match=words):
            StackSpec.parse(text, 4)
    seq = StackSpec.parse("embedding:3 layernorm res( dense:3 tanh ) flatten dense:2", (4, 5))
    assert seq.ids and seq.input_shape == (4,) and seq.vocabulary == 5 and seq.shapes()[-2] == (12,)


def test_an_mlp_stack_is_the_network_spec_of_the_fast_path():
    spec = StackSpec.parse("dense:8 relu dense:8 tanh dense:3", 4)
    assert spec.is_mlp()
    net = spec.as_network_spec()
    assert net.sizes == (4, 8, 8, 3) and net.hidden == ("relu", "tanh")
    assert not StackSpec.parse("dense:8 batchnorm relu dense:3", 4).is_mlp()


def test_conv_stack_and_cnn_spec_are_the_one_description():
    from dualgrad.engine.conv_stacks import EXAMPLE
    from manual import cnn

    assert EXAMPLE.spec().text() == "conv:4:3:1:1 relu maxpool:2:2 conv:3:2:1:0 relu flatten dense:3"
    assert cnn.CNNSpec().stack().text() == "conv:8:3:1:1 relu maxpool:9:9 flatten dense:4"


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
