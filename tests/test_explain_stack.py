"""dualgrad.explain_stack and `dualgrad explain --stack`: every layer's forward and backward of a stack,
with shapes, each layer's dx and dparams against jax.vjp, the whole stack against jax.grad."""

import re

import numpy as np
import pytest

from dualgrad import explain_stack as es
from dualgrad.cli.main import main
from dualgrad.engine.conv_stacks import EXAMPLE, ConvStack
from manual import layers as ML
from manual import stack as manual_stack
from manual.stack_spec import StackSpec

EMBED = StackSpec(6, (("embedding", 5), ("dense", 4), ("layernorm",), ("relu",), ("dropout", 0.3), ("dense", 3)))
BN = StackSpec(8, (("dense", 6), ("batchnorm",), ("tanh",), ("dense", 3)))
CONV = ConvStack((1, 5, 5), (("conv", 2, 3, 1, 1), ("relu",), ("maxpool", 2, 2)), 3)


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("stack, kinds", [
    (EMBED, ["embedding 5", "dense 4", "layernorm", "relu", "dropout 0.3", "dense 3"]),
    (BN, ["dense 6", "batchnorm", "tanh", "dense 3"]),
    (CONV, ["conv2d 2×3×3 s1 p1", "relu", "maxpool2d 2 s2", "flatten", "dense 3"]),
])
def test_every_layer_forward_and_backward_measured(stack, kinds):
    d = es.derive_stack(stack, batch=3, seed=1)
    assert [s.layer.name for s in d.steps] == kinds and d.passed
    text = es.render_stack(d)
    forward, backward = text.split("\nForward")[1].split("\nBackward")
    for i, s in enumerate(d.steps, start=1):
        # the forward line: shapes and the equation from the manual forward's docstring
        line = next(line for line in forward.splitlines() if line.startswith(f"  {i}  {s.layer.name}"))
        assert es.forward_equation(s.layer.doc_forward) in line and "→" in line
        # the backward block: the docstring's equation, then dx (unless ids) and each dparam, each passing
        names = [leaf.name for leaf in s.leaves]
        assert names == ([] if s.layer.x_is_data else [f"dx{i}"]) + [f"d{p}{i}" for p in s.layer.param_names]
        for name in names:
            assert re.search(rf"^      {name}\s+\(.*\)\s+max \|manual − jax\.vjp\| = \S+ \(rel \S+\) pass$",
                             backward, re.M), name
    assert "ds" in backward and "(ŷₙₖ − Yₙₖ) / N" in backward  # the head derived
    assert text.rstrip().endswith("PASS")


def test_the_stack_grads_are_manual_stacks():
    """explain runs the same computation as manual.stack.loss_and_grads (same params, x, y, seed)."""
    d = es.derive_stack(BN, batch=3, seed=2)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 8))
    params = [s.layer.params for s in d.steps]
    y = es._random_targets("cross_entropy", (3, 3), np.random.default_rng(0))
    loss, grads, _ = manual_stack.loss_and_grads(BN, params, x, y, seed=2)
    d_layers = [s.layer for s in d.steps]
    logits = x
    for layer in d_layers:
        logits = layer.forward(logits, *layer.params)[0]
    assert np.isclose(loss, ML.cross_entropy_loss(logits, y)[0])
    explained = {leaf.name: leaf.manual for leaf in d.whole}
    assert set(explained) == {"dW1", "db1", "dγ2", "dβ2", "dW4", "db4"}


def test_a_wrong_layer_fails_alone(monkeypatch):
    """batchnorm's dx scaled wrong: per layer only dx2 fails (dγ2 and dβ2 are right), and the
    whole-stack check fails below it."""
    right = ML.batchnorm_backward

    def wrong_dx(dout, cache):
        dx, dgamma, dbeta = right(dout, cache)
        return dx * 1.5, dgamma, dbeta

    monkeypatch.setattr(ML, "batchnorm_backward", wrong_dx)
    d = es.derive_stack(BN, batch=4)
    failed = [leaf.name for s in d.steps for leaf in s.leaves if not leaf.passed]
    assert failed == ["dx2"]
    # db1 stays right: a bias before batchnorm has gradient 0 (Σₙ dx2 = 0, and 1.5 × 0 = 0)
    assert not d.passed and [leaf.name for leaf in d.whole if not leaf.passed] == ["dW1"]
    assert es.render_stack(d).rstrip().endswith("FAIL")


def test_values_print_the_numbers():
    d = es.derive_stack(CONV, batch=1)
    text = es.render_stack(d, values=True)
    db = next(leaf for s in d.steps for leaf in s.leaves if leaf.name == "db1")
    block = text.split("      db1 ")[1].splitlines()[1]
    assert np.allclose(np.array(block.strip(" []").split(), float), db.manual, atol=1e-4)


def test_cli_stack_and_conv_stack(capsys):
    status, out, err = run(capsys, "explain", "--stack", "dense:6 batchnorm tanh dense:3", "--input", "8",
                           "--batch", "3")
    assert status == 0 and err == "" and out.startswith("Stack x 8 → dense 6 → batchnorm → tanh → dense 3")
    status, out, _ = run(capsys, "explain", "--stack", "conv:2:3:1:1 relu maxpool:2 flatten dense:3",
                         "--input", "1", "5", "5", "--batch", "2", "--values")
    assert status == 0 and "conv2d 2×3×3 s1 p1" in out and "dW1" in out and out.rstrip().endswith("PASS")
    status, out, _ = run(capsys, "explain", "--stack", "embedding:4 dense:1", "--input", "5", "--batch", "3")
    assert status == 0 and "binary_cross_entropy" in out and "(no dx: the input is integer ids)" in out


def test_cli_exits_1_when_a_layer_fails(capsys, monkeypatch):
    right = ML.dense_backward
    monkeypatch.setattr(ML, "dense_backward", lambda dout, cache: tuple(g * 2 for g in right(dout, cache)))
    status, out, _ = run(capsys, "explain", "--stack", "dense:3", "--input", "2", "--batch", "2")
    assert status == 1 and out.rstrip().endswith("FAIL")


@pytest.mark.parametrize("argv, words", [
    (["explain"], ["exactly one of --sizes", "--stack"]),
    (["explain", "--sizes", "2", "3", "--stack", "dense:3", "--input", "2"], ["exactly one of"]),
    (["explain", "--stack", "dense:3"], ["--input"]),
    (["explain", "--sizes", "2", "3", "--input", "2"], ["--input is for --stack"]),
    (["explain", "--stack", "dense:3", "--input", "2", "--hidden", "relu"], ["--hidden", "not --stack"]),
    (["explain", "--stack", "dense:3", "--input", "2", "--format", "markdown"], ["--format markdown"]),
    (["explain", "--stack", "foo:3", "--input", "2"], ["unknown layer 'foo'"]),
    (["explain", "--stack", "conv:2:3", "--input", "4"], ["needs images"]),
    (["explain", "--stack", "conv:2:9 flatten dense:2", "--input", "1", "4", "4"], ["kernel"]),
    (["explain", "--stack", "conv:2:3 dense:2", "--input", "1", "4", "4"], ["flatten first"]),
    (["explain", "--stack", "dense:3", "--input", "0"], ["--input"]),
    (["explain", "--stack", "dense:3", "--input", "2", "3", "4", "5"], ["--input"]),
    (["explain", "--stack", "dropout:1.5 dense:2", "--input", "3"], ["[0, 1)"]),
    (["explain", "--stack", "dense:x", "--input", "3"], ["numbers"]),
    (["explain", "--stack", "dense:2", "--input", "3", "--loss", "binary_cross_entropy"], ["last width of 1"]),
    (["explain", "--stack", "dense:3", "--input", "3", "--loss", "nope"], ["unknown loss"]),
    (["explain", "--stack", "relu", "--input", "1", "2", "2"], ["logits (N, K)"]),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, words):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith("dualgrad: error: ") and all(w in err for w in words), err


def test_python_api_bad_arguments():
    with pytest.raises(ValueError):
        es.derive_stack(BN, batch=0)
    with pytest.raises(ValueError):
        es.derive_stack(BN, seed=-1)
    with pytest.raises(TypeError):
        es.derive_stack("dense:3")


def test_conv_stacks_example_explained_like_the_module():
    """The ConvStack of `python -m dualgrad.conv_stacks` through explain_stack: same layers, same shapes."""
    d = es.derive_stack(EXAMPLE, batch=2)
    assert d.passed
    shapes = [name_shape[1] for name_shape in EXAMPLE.shapes(2)]
    assert [es._out_shape(d, s) for s in d.steps] == [tuple(s) for s in shapes]


def test_the_summary_counts_the_leaves_that_pass_and_the_ones_that_fail(monkeypatch):
    """issue 19: '7/9 leaves FAIL' was printed when 7 of 9 passed."""
    right = ML.batchnorm_backward
    monkeypatch.setattr(ML, "batchnorm_backward", lambda dout, cache: (lambda g: (g[0] * 1.5, g[1], g[2]))(right(dout, cache)))
    text = es.render_stack(es.derive_stack(BN, batch=4))
    assert "against jax.vjp of each twin: 10/11 leaves pass, 1 FAIL" in text, text
    assert "every dparam against jax.grad of the loss: 5/6 pass, 1 FAIL" in text


def test_batchnorm_is_derived_node_by_node_and_a_wrong_node_fails(monkeypatch):
    """issue 19: explain --stack's batchnorm step stated the short form; it is derived node by node now,
    each node's gradient measured against jax.grad with the node a variable."""
    text = es.explain_stack(BN, batch=3)
    assert "derived node by node" in text and "ds = −di / s²" in text
    for node in ("dx_hat", "dinv_std", "dstd", "dvar", "dxc", "dmean"):
        assert re.search(rf"^      {node}\s+\(.*\)\s+max \|manual − jax\.grad\| = \S+ \(rel \S+\) pass$", text, re.M), node
    right = ML.batchnorm_backward_graph_steps

    def wrong_dstd(dout, cache):
        dx, dg, db, nodes = right(dout, cache)
        return dx, dg, db, {**nodes, "dstd": nodes["dstd"] * 2}

    monkeypatch.setattr(ML, "batchnorm_backward_graph_steps", wrong_dstd)
    d = es.derive_stack(BN, batch=3)
    assert not d.passed and [leaf.name for s in d.steps for leaf in s.nodes if not leaf.passed] == ["dstd"]
