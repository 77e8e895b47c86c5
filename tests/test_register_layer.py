"""A user's own layer, registered on both sides (dualgrad.registry.register_layer): valid in StackSpec
stacks, run by manual.stack (its forward/backward) and reference.stack (its jax_fn), compared leaf by
leaf inside random stacks, checked alone by check_layer(name), explained by `dualgrad explain --stack`.

Small fixed shapes: JAX compiles per shape (the stacks run eagerly, one compile per primitive and shape).
"""

from __future__ import annotations

import os
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dualgrad
from dualgrad import check_layer
from dualgrad.engine.compare import leaf_error
from dualgrad.engine.registry import register_layer, registered_layer, unregister_layer
from manual import stack as S
from manual.layers import registered as manual_registered
from manual.stack_spec import StackSpec
from reference import stack as RS
from reference.layers import registered as reference_registered

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
STACK_EXAMPLES = {"ci": 12, "thorough": 300}.get(PROFILE, 8)  # eager JAX, ~0.3 s per stack


# ---- the example layers: RMSNorm (one parameter) and a dense layer without bias (a width argument)


def rmsnorm_forward(x, gamma, eps=1e-5):
    """out = γ ⊙ x / √(mean₋₁ x² + ε); x (N, D), gamma (D,)."""
    r = np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)  # (N, 1)
    x_hat = x / r  # (N, D)
    return gamma * x_hat, (x_hat, r, gamma)


def rmsnorm_backward(dout, cache):
    """out = γ ⊙ x̂, x̂ = x/r  ⇒  dx = (dx̂ − x̂ ⊙ mean₋₁(dx̂ ⊙ x̂)) / r,  dγ = Σₙ dout ⊙ x̂,  dx̂ = dout ⊙ γ."""
    x_hat, r, gamma = cache
    dx_hat = dout * gamma  # (N, D)
    dx = (dx_hat - x_hat * (dx_hat * x_hat).mean(axis=-1, keepdims=True)) / r  # (N, D)
    return dx, (dout * x_hat).sum(axis=0)


def rmsnorm_no_mean_term(dout, cache):
    """The classic mistake: the normaliser's own dependence on x forgotten (dx = dx̂ / r)."""
    x_hat, r, gamma = cache
    return dout * gamma / r, (dout * x_hat).sum(axis=0)


def rmsnorm_jax(x, gamma, eps=1e-5):
    return gamma * x / jnp.sqrt(jnp.mean(x * x, axis=-1, keepdims=True) + eps)


def linear_forward(x, W, M):
    """out = x W (no bias); x (N, D), W (D, M)."""
    return x @ W, (x, W)


def linear_backward(dout, cache):
    """out = x W  ⇒  dx = dout Wᵀ,  dW = xᵀ dout."""
    x, W = cache
    return dout @ W.T, x.T @ dout


def linear_jax(x, W, M):
    return x @ W


RMS = dict(param_shapes=lambda D: [(D,)], param_names=("gamma",), init=lambda shapes, rng: [np.ones(shapes[0])])
LINEAR = dict(param_shapes=lambda D, M: [(D, M)], out_width=lambda D, M: M, hyper=("M",), param_names=("W",))


@pytest.fixture
def rms():
    with registered_layer("rms", rmsnorm_forward, rmsnorm_backward, rmsnorm_jax, **RMS):
        yield "rms"


@pytest.fixture
def linear():
    with registered_layer("linear", linear_forward, linear_backward, linear_jax, **LINEAR):
        yield "linear"


# ---- registering -------------------------------------------------------------------------------


def test_exported_from_dualgrad():
    assert dualgrad.register_layer is register_layer
    assert dualgrad.unregister_layer is unregister_layer
    assert dualgrad.registered_layer is registered_layer


def test_registered_on_both_sides_for_the_block_only():
    with registered_layer("rms", rmsnorm_forward, rmsnorm_backward, rmsnorm_jax, **RMS):
        assert "rms" in manual_registered.LAYERS and "rms" in reference_registered.LAYERS
        assert StackSpec(3, (("rms",), ("dense", 2))).param_shapes() == [((3,),), ((3, 2), (2,))]
    assert "rms" not in manual_registered.LAYERS and "rms" not in reference_registered.LAYERS
    with pytest.raises(ValueError, match="unknown layer 'rms'"):
        StackSpec(3, (("rms",), ("dense", 2)))
    with pytest.raises(RuntimeError):
        with registered_layer("rms", rmsnorm_forward, rmsnorm_backward, rmsnorm_jax, **RMS):
            raise RuntimeError("inside")
    assert "rms" not in manual_registered.LAYERS


def test_widths_shapes_and_names_from_the_declaration(rms, linear):
    spec = StackSpec(4, (("linear", 6), ("rms",), ("relu",), ("linear", 3)))
    assert spec.widths() == (6, 6, 6, 3)
    assert spec.param_shapes() == [((4, 6),), ((6,),), (), ((6, 3),)]
    assert spec.param_names() == [("W",), ("gamma",), (), ("W",)]
    params = S.init_params(spec, seed=0)
    assert [tuple(p.shape for p in layer) for layer in params] == spec.param_shapes()
    np.testing.assert_array_equal(params[1][0], np.ones(6))  # the layer's own init


BAD_REGISTRATIONS = [
    (dict(name="dense"), ValueError, "built-in layer"),
    (dict(name="relu"), ValueError, "built-in layer or an activation"),
    (dict(name="two words"), ValueError, "identifier"),
    (dict(name=3), ValueError, "identifier"),
    (dict(forward=None), TypeError, r"callable forward\(x, \*params"),
    (dict(backward="rmsnorm_backward"), TypeError, r"callable backward\(dout, cache\)"),
    (dict(jax_fn=1.0), TypeError, r"callable jax_fn"),
    (dict(param_shapes=[(3,)]), TypeError, r"param_shapes\(D, \*\*hyper\) must be callable"),
    (dict(param_shapes=lambda D: (D,)), ValueError, r"param_shapes\(1\) must return a list of shape tuples"),
    (dict(param_shapes=lambda D: [(D, 0)]), ValueError, r"shape tuples of ints >= 1"),
    (dict(param_shapes=lambda D: [(D,)], param_names=("a", "b")), ValueError, r"gives 1 shapes but param_names"),
    (dict(param_names=("a", "a")), ValueError, "distinct"),
    (dict(param_names="gamma"), TypeError, "param_names must be a tuple"),
    (dict(out_width=lambda D: 0), ValueError, r"out_width\(1\) must return an int >= 1"),
    (dict(out_width=lambda D: D / 2), ValueError, r"out_width\(1\) must return an int >= 1"),
    (dict(hyper="M"), TypeError, "hyper must be a tuple"),
    (dict(init=np.ones((3,))), TypeError, r"init\(shapes, rng\) must be callable"),
]


@pytest.mark.parametrize("change, error, match", BAD_REGISTRATIONS, ids=[m for _, _, m in BAD_REGISTRATIONS])
def test_bad_registrations_are_refused_before_anything_changes(change, error, match):
    args = dict(name="rms", forward=rmsnorm_forward, backward=rmsnorm_backward, jax_fn=rmsnorm_jax,
                param_shapes=lambda D: [(D,)])
    args.update(change)
    before = (dict(manual_registered.LAYERS), dict(reference_registered.LAYERS))
    with pytest.raises(error, match=match):
        register_layer(args.pop("name"), args.pop("forward"), args.pop("backward"), args.pop("jax_fn"), **args)
    assert (manual_registered.LAYERS, reference_registered.LAYERS) == before


def test_a_taken_name_is_refused_by_the_block_replaced_by_register_layer(rms):
    with pytest.raises(ValueError, match="already registered"):
        with registered_layer("rms", linear_forward, linear_backward, linear_jax, **LINEAR):
            pass
    assert manual_registered.LAYERS["rms"].forward is rmsnorm_forward
    register_layer("rms", rmsnorm_forward, rmsnorm_no_mean_term, rmsnorm_jax, **RMS)  # a plugin imported again
    assert manual_registered.LAYERS["rms"].backward is rmsnorm_no_mean_term
    for name in ("dense", "no_such_layer"):
        with pytest.raises(ValueError, match="not a registered"):
            unregister_layer(name)


def test_stack_spec_checks_the_registered_layers_arguments(rms, linear):
    for layers, match in [((("rms", 2), ("dense", 2)), r"takes 0 finite number"),
                          ((("linear",), ("dense", 2)), r"takes 1 finite number.*\(M\)"),
                          ((("linear", float("nan")),), r"takes 1 finite number"),
                          ((("linear", 0),), r"out_width\(3\) must return an int >= 1, got 0"),
                          ((("linear", 2.5),), r"out_width\(3\) must return an int >= 1, got 2.5")]:
        with pytest.raises(ValueError, match=match):
            StackSpec(3, layers)


# ---- in stacks: manual.stack against reference.stack, leaf by leaf -------------------------------


def stack_leaves_match(spec, params, x, y, seed=0):
    """Every parameter gradient of every layer, the registered ones by their own names."""
    loss_m, grads_m, _ = S.loss_and_grads(spec, params, x, y, seed)
    loss_r, grads_r = RS.loss_and_grads(spec, params, x, y, seed)
    assert abs(loss_m - loss_r) <= 1e-9 * max(1.0, abs(loss_r)), f"loss: manual {loss_m!r}, reference {loss_r!r}"
    scale = max([1.0] + [float(np.abs(g).max()) for layer in grads_r for g in layer])
    for l, (layer, names, gm, gr) in enumerate(zip(spec.layers, spec.param_names(), grads_m, grads_r), start=1):
        assert len(gm) == len(gr) == len(names)
        for name, a, b in zip(names, gm, gr):
            err = leaf_error(f"layer {l} ({layer[0]}), d{name}", a, b, scale=scale)
            assert err.passed, f"{spec}: {err.name} at {err.worst_index}: manual {err.manual_value!r}, reference {err.ref_value!r}"


WIDTHS = st.sampled_from([1, 2, 3])
BODY = st.one_of(WIDTHS.map(lambda w: ("dense", w)), WIDTHS.map(lambda w: ("linear", w)),
                 st.sampled_from([("rms",), ("rms",), ("tanh",), ("layernorm",), ("dropout", 0.5)]))


@st.composite
def stacks_with_user_layers(draw):
    n_in, k = draw(WIDTHS), draw(st.sampled_from([2, 3]))
    body = draw(st.lists(BODY, min_size=1, max_size=4))
    if not any(layer[0] in ("rms", "linear") for layer in body):
        body.insert(draw(st.integers(0, len(body))), ("rms",))
    spec = StackSpec(n_in, tuple(body) + (("dense", k),), draw(st.sampled_from(["cross_entropy", "mse"])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    params = [tuple(rng.standard_normal(s) for s in shapes) for shapes in spec.param_shapes()]
    n = draw(st.sampled_from([1, 2, 4]))
    x = rng.standard_normal((n, n_in))
    y = rng.standard_normal((n, k)) if spec.loss == "mse" else rng.integers(0, k, n)
    return spec, params, x, y, draw(st.integers(0, 100))


@settings(max_examples=STACK_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=stacks_with_user_layers())
def test_random_stacks_with_registered_layers_match_jax(rms, linear, case):
    stack_leaves_match(*case)


def test_a_wrong_registered_backward_is_caught_inside_a_stack_at_its_leaf():
    with registered_layer("rms", rmsnorm_forward, rmsnorm_no_mean_term, rmsnorm_jax, **RMS):
        spec = StackSpec(3, (("dense", 4), ("rms",), ("tanh",), ("dense", 2)))
        rng = np.random.default_rng(1)
        params = [tuple(rng.standard_normal(s) for s in shapes) for shapes in spec.param_shapes()]
        with pytest.raises(AssertionError, match=r"layer 1 \(dense\), dW"):  # the wrong dx reaches the layer below
            stack_leaves_match(spec, params, rng.standard_normal((4, 3)), rng.integers(0, 2, 4))


def test_a_backward_returning_the_wrong_count_is_named():
    with registered_layer("rms", rmsnorm_forward, lambda d, c: (d,), rmsnorm_jax, **RMS):
        spec = StackSpec(2, (("rms",), ("dense", 2)))
        with pytest.raises(ValueError, match=r"layer 1 \(rms\): backward must return dx and 1 dparam"):
            S.loss_and_grads(spec, S.init_params(spec), np.ones((2, 2)), np.array([0, 1]))


def test_a_stack_with_a_registered_layer_trains_and_predicts(rms):
    from manual.optimizers import adam

    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    spec = StackSpec(2, (("dense", 8), ("rms",), ("tanh",), ("dense", 2)))
    params, state, losses = S.train(spec, S.init_params(spec, 0), X, y, adam(0.05), epochs=30, batch_size=16)
    assert [tuple(p.shape for p in layer) for layer in params] == spec.param_shapes()
    assert losses[-1] < 0.6 * losses[0]
    assert (S.predict(spec, params, state, X).argmax(axis=1) == y).mean() > 0.8


# ---- check_layer by name ---------------------------------------------------------------------------


def test_check_layer_by_name(rms, linear):
    result = check_layer("rms", examples=40, seed=0)
    assert result.passed and result.examples >= 40, result.message
    assert check_layer("linear", examples=12, dims={"N": (1, 3), "D": [1, 2]}, hyper={"M": [1, 3]}).passed


def test_check_layer_by_name_catches_and_names_a_wrong_backward():
    with registered_layer("rms", rmsnorm_forward, rmsnorm_no_mean_term, rmsnorm_jax, **RMS):
        result = check_layer("rms", examples=40, seed=0)
    assert not result.passed
    assert result.message.startswith("dx:"), result.message
    assert "case: D=1 N=1" in result.message  # the smallest width and batch that show it


def test_check_layer_by_name_bad_arguments(rms, linear):
    with pytest.raises(ValueError, match="not a registered layer"):
        check_layer("no_such_layer")
    with pytest.raises(TypeError, match="give no backward"):
        check_layer("rms", rmsnorm_backward)
    with pytest.raises(ValueError, match=r"hyper must give a value .* \['M'\]"):
        check_layer("linear")
    with pytest.raises(ValueError, match=r"dims\['D'\] must be"):
        check_layer("rms", dims={"D": [0]})
    with pytest.raises(ValueError, match="examples must be an int >= 1"):
        check_layer("rms", examples=0)


# ---- explain ---------------------------------------------------------------------------------------

PLUGIN = '''
import numpy as np
import jax.numpy as jnp
from dualgrad.engine.registry import register_layer


def rmsnorm_forward(x, gamma, eps=1e-5):
    """out = γ ⊙ x / √(mean₋₁ x² + ε); x (N, D), gamma (D,)."""
    r = np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)
    return gamma * x / r, (x / r, r, gamma)


def rmsnorm_backward(dout, cache):
    """out = γ ⊙ x̂, x̂ = x/r  ⇒  dx = (dx̂ − x̂ ⊙ mean₋₁(dx̂ ⊙ x̂)) / r,  dγ = Σₙ dout ⊙ x̂."""
    x_hat, r, gamma = cache
    dx_hat = dout * gamma
    dx = ({DX}) / r
    return dx, (dout * x_hat).sum(axis=0)


def rmsnorm(x, gamma, eps=1e-5):
    return gamma * x / jnp.sqrt(jnp.mean(x * x, axis=-1, keepdims=True) + eps)


register_layer("rmsnorm", rmsnorm_forward, rmsnorm_backward, rmsnorm, param_shapes=lambda D: [(D,)],
               param_names=("gamma",))
'''


@pytest.mark.parametrize("dx, status", [("dx_hat - x_hat * (dx_hat * x_hat).mean(axis=-1, keepdims=True)", 0),
                                        ("dx_hat", 1)])
def test_explain_shows_the_registered_layer_with_its_errors(tmp_path, capsys, dx, status):
    from dualgrad.cli.main import main

    plugin = tmp_path / "my_layer.py"
    plugin.write_text(PLUGIN.replace("{DX}", dx))
    try:
        code = main(["explain", "--stack", "dense:5 rmsnorm tanh dense:3", "--input", "4",
                     "--import", str(plugin)])
    finally:
        unregister_layer("rmsnorm")
    out = capsys.readouterr().out
    assert code == status, out
    assert "2      rmsnorm  gamma2 (5,)" in out
    assert "out = γ ⊙ x / √(mean₋₁ x² + ε)" in out  # the forward's docstring
    assert "dx = (dx̂ − x̂ ⊙ mean₋₁(dx̂ ⊙ x̂)) / r,  dγ = Σₙ dout ⊙ x̂." in out  # the backward's, after ⇒
    line = next(li for li in out.splitlines() if li.strip().startswith("dx2 "))
    assert line.endswith("pass" if status == 0 else "FAIL"), line
    assert [li for li in out.splitlines() if li.strip().startswith("dgamma2 ")][0].endswith("pass")


def test_explain_parses_a_registered_layers_hyperparameters(linear):
    from dualgrad.explain.stack import derive_stack, render_stack, stack_from_arguments

    spec = stack_from_arguments("linear:4 relu linear:2", [3], None)
    assert spec.layers == (("linear", 4), ("relu",), ("linear", 2))
    text = render_stack(derive_stack(spec, batch=3))
    assert "1  linear 4       (3, 3) → (3, 4)  out = x W (no bias)" in text, text
    assert text.rstrip().endswith("PASS")


def test_explain_names_a_bad_registered_layer_in_one_line(tmp_path, capsys):
    from dualgrad.cli.main import main

    plugin = tmp_path / "my_layer.py"
    plugin.write_text(PLUGIN.replace("{DX}", "dx_hat"))
    try:
        code = main(["explain", "--stack", "dense:5 rmsnorm:2 dense:3", "--input", "4", "--import", str(plugin)])
    finally:
        unregister_layer("rmsnorm")
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("dualgrad: error: layer 2: the registered layer ('rmsnorm') takes 0"), err
    assert len(err.strip().splitlines()) == 1
