"""check_implementation and check_gradients(impl=...) on an independent, article-style backprop
(tests/article_impl.py, written without manual's math): the correct version passes under every
convention it is written in, each injected bug is caught and shrunk, conventions are options and
never false failures, and bad arguments are refused with a message naming what was expected."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import manual
from dualgrad import ImplementationError, check_gradients, check_implementation
from dualgrad.cli.main import main
from article_impl import BUGS, ArticleNet, article_params

FEW = 25  # examples for a passing check: each is a random network, compared leaf by leaf


@pytest.mark.parametrize("layout,bias,reduction", list(itertools.product(("in_out", "out_in"),
                                                                          ("vector", "row", "column"),
                                                                          ("mean", "sum"))))
def test_the_correct_article_net_passes_in_every_layout_bias_and_reduction(layout, bias, reduction):
    net = ArticleNet("relu", "binary_cross_entropy", layout=layout, bias=bias, reduction=reduction)
    result = check_implementation(net, hidden="relu", loss="binary_cross_entropy", examples=FEW, layout=layout,
                                  bias=bias, reduction=reduction)
    assert result.passed, result.message
    assert result.examples == FEW and result.counterexample is None and result.message == ""


@pytest.mark.parametrize("hidden,loss,options", [
    ("tanh", "cross_entropy", {}),
    ("sigmoid", "cross_entropy", {"targets": "matrix"}),
    ("leaky_relu", "mse", {"mse": "mean"}),
    ("tanh", "mse", {"mse": "half"}),
    ("relu", "mse", {"mse": "half_mean"}),
    ("sigmoid", "mse", {"mse": "sum", "reduction": "sum"}),
    ("tanh", "mse", {"head": "sigmoid"}),
    ("relu", "binary_cross_entropy", {"layout": "out_in", "bias": "vector"}),  # PyTorch's nn.Linear layout
])
def test_the_correct_article_net_passes_with_each_activation_loss_and_convention(hidden, loss, options):
    net_options = {k: v for k, v in options.items() if k != "targets"}
    net = ArticleNet(hidden, loss, bias=options.get("bias", "row"), **{k: v for k, v in net_options.items() if k != "bias"})
    result = check_implementation(net, hidden=hidden, loss=loss, examples=FEW, bias=options.get("bias", "row"),
                                  **{k: v for k, v in options.items() if k != "bias"})
    assert result.passed, result.message


def test_l2_is_checked_when_given():
    net = ArticleNet("tanh", "mse", bias="row", l2=0.1)
    assert check_implementation(net, hidden="tanh", loss="mse", l2=0.1, bias="row", examples=FEW).passed
    assert not check_implementation(net, hidden="tanh", loss="mse", l2=0.0, bias="row", examples=FEW).passed


# bug -> the architecture that exercises it, and the leaf its message names first
BUG_CASES = {
    "missing_1/m_in_db": (dict(hidden="relu", loss="binary_cross_entropy"), "db"),
    "sigmoid_prime_from_z": (dict(hidden="sigmoid", loss="binary_cross_entropy"), None),
    "tanh_prime_from_z": (dict(hidden="tanh", loss="cross_entropy"), None),
    "no_activation_derivative": (dict(hidden="tanh", loss="mse"), None),
    "dW_from_z": (dict(hidden="tanh", loss="binary_cross_entropy"), "dW"),
    "flipped_sign": (dict(hidden="relu", loss="cross_entropy"), None),
    "divided_twice": (dict(hidden="relu", loss="mse"), "dW"),
    "l2_missing_in_dW": (dict(hidden="relu", loss="mse", l2=0.1), "dW"),
    "leaky_slope": (dict(hidden="leaky_relu", loss="binary_cross_entropy"), None),
    "sigmoid_mse_without_sigma_prime": (dict(hidden="relu", loss="mse", head="sigmoid"), None),
    "mse_without_2": (dict(hidden="tanh", loss="mse"), None),
}


def test_every_value_bug_has_a_case():
    assert set(BUG_CASES) == set(BUGS) - {"transposed_dW"} and len(BUG_CASES) >= 8


@pytest.mark.parametrize("bug", sorted(BUG_CASES))
def test_each_injected_bug_is_caught_and_shrunk(bug):
    arch, leaf = BUG_CASES[bug]
    net = ArticleNet(arch["hidden"], arch["loss"], l2=arch.get("l2", 0.0), head=arch.get("head"), bug=bug)
    result = check_implementation(net, examples=200, bias="row", **arch)
    assert not result.passed, bug
    assert 1 <= result.examples <= 200
    spec, params, X, y = result.counterexample
    assert spec.n_layers <= 3 and max(spec.sizes) <= 3 and X.shape[0] <= 3, (bug, spec, X.shape)  # shrunk
    first = result.message.splitlines()[0]
    assert first.startswith("layer ") and "yours" in first and "jax.grad" in first, first
    if leaf:
        assert f", {leaf}[" in first, first
    assert result.report is not None and not result.report.passed
    # the counterexample reproduces: it is the case, in the user's layout, that the report describes
    again = check_gradients(spec, params, X, y, impl=net, bias="row", head=arch.get("head"))
    assert not again.passed and again.implementation.endswith("ArticleNet")


def test_a_transposed_dW_is_refused_with_its_shape_and_the_smallest_case():
    net = ArticleNet("relu", "binary_cross_entropy", bug="transposed_dW")
    with pytest.raises(ValueError, match=r"expected \(\d+, \d+\).*transposed.*smallest case found"):
        check_implementation(net, hidden="relu", loss="binary_cross_entropy", bias="row", examples=50)


def test_a_missing_one_over_m_is_named_as_a_factor_of_N():
    net = ArticleNet("relu", "binary_cross_entropy", bug="missing_1/m_in_db")
    result = check_implementation(net, hidden="relu", loss="binary_cross_entropy", bias="row")
    N = result.counterexample[2].shape[0]
    assert N >= 2 and f"N = {N}: a missing 1/N" in result.message


def test_conventions_are_options_not_false_failures_and_a_wrong_one_fails():
    half = ArticleNet("tanh", "mse", mse="half", bias="row")
    assert check_implementation(half, hidden="tanh", loss="mse", mse="half", bias="row", examples=FEW).passed
    wrong = check_implementation(half, hidden="tanh", loss="mse", bias="row", examples=FEW)
    assert not wrong.passed and "forward passes differ" in wrong.message
    summed = ArticleNet("relu", "cross_entropy", reduction="sum", bias="row")
    assert not check_implementation(summed, hidden="relu", loss="cross_entropy", bias="row", examples=FEW).passed


def test_kink_either_accepts_relu_prime_of_zero_equal_to_one_and_still_fails_a_wrong_derivative():
    ge = ArticleNet("relu", "binary_cross_entropy", bias="row", relu_at_zero=1.0)
    strict = check_implementation(ge, hidden="relu", loss="binary_cross_entropy", bias="row")
    assert not strict.passed and "kink='either'" in strict.message
    assert check_implementation(ge, hidden="relu", loss="binary_cross_entropy", bias="row", kink="either").passed
    wrong = ArticleNet("relu", "binary_cross_entropy", bias="row", relu_at_zero=1.0, bug="dW_from_z")
    assert not check_implementation(wrong, hidden="relu", loss="binary_cross_entropy", bias="row",
                                    kink="either").passed
    leaky = ArticleNet("leaky_relu", "binary_cross_entropy", bias="row", bug="leaky_slope")
    assert not check_implementation(leaky, hidden="leaky_relu", loss="binary_cross_entropy", bias="row",
                                    kink="either").passed


def test_results_are_deterministic_for_a_seed():
    net = ArticleNet("tanh", "cross_entropy", bug="tanh_prime_from_z")
    runs = [check_implementation(net, hidden="tanh", loss="cross_entropy", bias="row", seed=3) for _ in range(2)]
    assert runs[0].examples == runs[1].examples and runs[0].message == runs[1].message
    a, b = runs[0].counterexample, runs[1].counterexample
    assert a[0] == b[0] and np.array_equal(a[2], b[2])


def test_a_function_that_takes_spec_is_checked_on_drawn_activations_losses_and_l2():
    seen = set()

    def ours(params, X, y, spec):
        seen.add((spec.loss, spec.hidden, spec.l2 > 0))
        return manual.loss_and_grads(spec, params, X, y)

    result = check_implementation(ours, examples=150, max_layers=3, l2="draw")
    assert result.passed, result.message
    assert {loss for loss, _, _ in seen} >= set(manual.LOSS_NAMES[:3])
    assert len({h for _, hidden, _ in seen for h in hidden}) >= 5 and {l2 for *_, l2 in seen} == {True, False}


def test_l2_stays_zero_unless_drawn_and_a_missing_penalty_is_named():
    def ignores_l2(params, X, y, spec):
        return manual.loss_and_grads(manual.NetworkSpec(spec.sizes, spec.hidden, spec.loss, 0.0), params, X, y)

    assert check_implementation(ignores_l2, examples=FEW).passed  # l2 = 0 by default, for every function
    result = check_implementation(ignores_l2, examples=FEW, l2="draw")
    assert not result.passed and "lacks the L2 penalty" in result.message and "spec.l2" in result.message
    with pytest.raises(ValueError, match="l2='draw' needs a function that takes `spec`"):
        check_implementation(ArticleNet(), hidden="relu", loss="binary_cross_entropy", l2="draw")


def test_loss_hints_name_the_convention_that_would_match():
    summed = ArticleNet("tanh", "cross_entropy", reduction="sum", bias="row")
    result = check_implementation(summed, hidden="tanh", loss="cross_entropy", bias="row", examples=FEW)
    assert "reduction='sum'" in result.message and "mse=" not in result.message.splitlines()[0]
    mse_sum = ArticleNet("tanh", "mse", reduction="sum", mse="sum", bias="row")
    result = check_implementation(mse_sum, hidden="tanh", loss="mse", bias="row", reduction="sum", examples=FEW,
                                  sizes=[2, 3, 2])
    assert "mse='sum'" in result.message


def test_a_small_shrunk_difference_shows_the_first_failing_case_too():
    net = ArticleNet("tanh", "mse", bias="row", bug="tanh_prime_from_z")
    result = check_implementation(net, hidden="tanh", loss="mse", bias="row")
    assert not result.passed
    if max(row.max_rel for row in result.report.rows) < 1e-3:
        assert "the first failing case, before shrinking" in result.message
    assert "1 × jax.grad" not in result.message


def test_returned_logits_are_named_as_logits():
    net = ArticleNet("tanh", "binary_cross_entropy", bias="row")

    def with_logits(params, X, y):
        loss, grads = net(params, X, y)
        a = X
        for i, (W, b) in enumerate(params):
            z = a @ W + b
            a = np.tanh(z) if i < len(params) - 1 else z
        return loss, grads, a

    result = check_implementation(with_logits, hidden="tanh", loss="binary_cross_entropy", bias="row", examples=FEW)
    assert "looks like the logits" in result.message


def test_an_error_from_the_property_carries_the_smallest_case():
    net = ArticleNet("relu", "binary_cross_entropy", bias="row")

    def nan_grads(params, X, y):
        loss, (gw, gb) = net(params, X, y)
        return loss, ([w * np.nan for w in gw], gb)

    with pytest.raises(ImplementationError) as info:
        check_implementation(nan_grads, hidden="relu", loss="binary_cross_entropy", bias="row")
    spec, params, X, y = info.value.counterexample
    assert spec.n_layers == 1 and X.shape[0] == 1 and params[0][1].shape == (1, spec.sizes[1])


def test_outputs_are_compared_when_returned():
    net = ArticleNet("tanh", "binary_cross_entropy", bias="row")

    def with_output(params, X, y):
        loss, grads = net(params, X, y)
        return loss, grads, np.full((X.shape[0], 1), 0.5)  # a wrong ŷ

    result = check_implementation(with_output, hidden="tanh", loss="binary_cross_entropy", bias="row", examples=FEW)
    assert not result.passed and "output" in result.message.splitlines()[0]


def test_check_gradients_checks_the_users_function_and_names_what_it_checked():
    spec = manual.NetworkSpec([3, 4, 1], "relu", "binary_cross_entropy")
    params = article_params(spec.sizes, bias="row", seed=1)
    X = np.random.default_rng(1).standard_normal((5, 3))
    y = np.array([0, 1, 1, 0, 1.0])
    buggy = ArticleNet("relu", "binary_cross_entropy", bug="missing_1/m_in_db")
    report = check_gradients(spec, params, X, y, impl=buggy, bias="row")
    assert not report.passed and report.implementation.endswith("ArticleNet")
    assert report.table().splitlines()[0].startswith("checked: ") and "bias row" in report.table()
    assert check_gradients(spec, params, X, y, impl=ArticleNet("relu", "binary_cross_entropy"), bias="row").passed
    ours = [(W, b.reshape(-1)) for W, b in params]
    own = check_gradients(spec, ours, X, y)
    assert own.passed and own.implementation == "manual.loss_and_grads"
    assert own.table().splitlines()[0] == "checked: manual.loss_and_grads against jax.grad (float64)"
    with_fd = check_gradients(spec, params, X, y, fd=True, impl=buggy, bias="row")
    assert with_fd.rows[1].fd_passed is False and with_fd.rows[0].fd_passed is True


@pytest.mark.parametrize("call,error,match", [
    (lambda: check_implementation(ArticleNet(), loss="binary_cross_entropy"), ValueError, "pass hidden"),
    (lambda: check_implementation(ArticleNet(), hidden="relu", loss="binary_cross_entropy", layout="torch"),
     ValueError, "layout must be one of"),
    (lambda: check_implementation(ArticleNet(), hidden="relu", loss="binary_cross_entropy", colour="red"),
     TypeError, "unknown convention"),
    (lambda: check_implementation(ArticleNet(), hidden="relu", loss="binary_cross_entropy", examples=0),
     ValueError, "examples must be a positive int"),
    (lambda: check_implementation(ArticleNet(), hidden="relu", loss="binary_cross_entropy", scale=(1, 0)),
     ValueError, "scale must be"),
    (lambda: check_implementation(ArticleNet(), hidden="relu", loss="hinge"), ValueError, "unknown loss"),
    (lambda: check_implementation(ArticleNet(), hidden="relu", loss="cross_entropy", head="sigmoid"),
     ValueError, "head 'sigmoid' with loss 'cross_entropy'"),
    (lambda: check_implementation(lambda p, X: 0, hidden="relu", loss="mse"), TypeError, "three arguments"),
    (lambda: check_implementation("fn", hidden="relu", loss="mse"), TypeError, "needs a function"),
    (lambda: check_gradients(manual.NetworkSpec([2, 1], (), "mse"), [(np.zeros((2, 1)), np.zeros(1))],
                             np.zeros((1, 2)), np.zeros(1), bias="row"), TypeError, "pass it as impl"),
])
def test_bad_arguments_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("returned,error,match", [
    (lambda loss, g: 1.0, TypeError, r"must return \(loss, grads\)"),
    (lambda loss, g: (loss, g[0]), ValueError, "one \\(dW, db\\) pair per layer"),
    (lambda loss, g: (loss, (g[0][:1], g[1][:1])), ValueError, "one \\(dW, db\\) pair per layer"),
    (lambda loss, g: ("low", g), TypeError, "loss must be a real number"),
    (lambda loss, g: (loss, ([w * np.nan for w in g[0]], g[1])), ValueError, "expected finite gradients"),
    (lambda loss, g: (loss, ([w.T for w in g[0]], g[1])), ValueError, "layout='out_in'"),
    (lambda loss, g: (loss, (g[0], [b.reshape(-1) for b in g[1]])), ValueError, "bias='vector'"),
    (lambda loss, g: (loss, (g[0], ["x" for b in g[1]])), TypeError, "array of real numbers"),
])
def test_what_a_function_returns_is_checked_and_named(returned, error, match):
    net = ArticleNet("relu", "binary_cross_entropy")

    def fn(params, X, y):
        return returned(*net(params, X, y))

    with pytest.raises(error, match=match) as info:
        check_implementation(fn, hidden="relu", loss="binary_cross_entropy", bias="row", sizes=[2, 3, 1], examples=5)
    assert isinstance(info.value, ImplementationError)


def test_an_exception_inside_the_function_is_reported_with_the_smallest_case():
    def fragile(params, X, y):
        if X.shape[0] > 2:
            raise IndexError("my loop assumed two rows")
        return ArticleNet("relu", "binary_cross_entropy")(params, X, y)

    with pytest.raises(ValueError, match="raised IndexError: my loop assumed two rows.*N=3"):
        check_implementation(fragile, hidden="relu", loss="binary_cross_entropy", bias="row")


# ---- the command line -----------------------------------------------------------

ARTICLE_FILE = '''
import sys
sys.path.insert(0, {root!r})
from article_impl import ArticleNet
good = ArticleNet("relu", "binary_cross_entropy")
bad = ArticleNet("relu", "binary_cross_entropy", bug="missing_1/m_in_db")
def boom(params, X, y):
    raise ZeroDivisionError("by design")
'''


@pytest.fixture
def article_file(tmp_path):
    import os

    root = os.path.dirname(os.path.abspath(__file__))
    path = tmp_path / "my_net.py"
    path.write_text(ARTICLE_FILE.format(root=root))
    return str(path)


def test_verify_impl_passes_fails_and_refuses(article_file, capsys):
    base = ["verify", "--hidden", "relu", "--loss", "binary_cross_entropy", "--bias", "row", "--examples", "20"]
    assert main([*base, "--impl", f"{article_file}:good"]) == 0
    out = capsys.readouterr().out
    assert "PASS: 20 random networks" in out and "bias row" in out
    assert main([*base, "--impl", f"{article_file}:bad"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: layer 1, db[" in out and "the shrunk counterexample" in out and "W1 = np.array" in out
    for target, match in ((f"{article_file}:boom", "raised ZeroDivisionError: by design"),
                          (f"{article_file}:missing", "has no 'missing'"),
                          ("no_such_file.py:fn", "does not import"),
                          (article_file, "expected FILE.py:FUNCTION")):
        assert main([*base, "--impl", target]) == 2
        err = capsys.readouterr().err
        assert err.startswith("dualgrad: error: ") and match in err and err.count("\n") == 1, err
    assert main(["verify", "--bias", "row"]) == 2
    assert "use with --impl" in capsys.readouterr().err


def test_verify_impl_json(article_file, capsys):
    argv = ["verify", "--impl", f"{article_file}:bad", "--hidden", "relu", "--loss", "binary_cross_entropy",
            "--bias", "row", "--json"]
    assert main(argv) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is False and report["implementation"].endswith("ArticleNet")
    assert report["conventions"]["bias"] == "row" and report["counterexample"]["spec"]["loss"] == "binary_cross_entropy"
    assert report["report"]["rows"][1]["passed"] is False


def test_the_tutorials_files_are_the_code_it_shows():
    """docs/check-your-backprop.md shows docs/examples/my_net.py and my_bugs.py in full (the CLI runs the files)."""
    import os
    import re

    docs = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
    page = open(os.path.join(docs, "check-your-backprop.md"), encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", page, re.S)
    for name in ("my_net.py", "my_bugs.py"):
        text = open(os.path.join(docs, "examples", name), encoding="utf-8").read()
        assert text in blocks, f"docs/examples/{name} differs from the block the page shows"


def test_a_pytorch_autograd_implementation_passes_in_pytorchs_layout():
    """The way a PyTorch user checks an nn.Linear-layout network: W (fan_out, fan_in), b (fan_out,),
    tensors (even ones that require grad) returned as they are. Skipped where torch is not installed."""
    torch = pytest.importorskip("torch")

    def torch_loss_and_grads(params, X, y):
        Ws = [torch.tensor(W, requires_grad=True) for W, _ in params]
        bs = [torch.tensor(b, requires_grad=True) for _, b in params]
        a = torch.tensor(X)
        for i, (W, b) in enumerate(zip(Ws, bs)):
            z = torch.nn.functional.linear(a, W, b)  # a Wᵀ + b
            a = torch.tanh(z) if i < len(Ws) - 1 else z
        loss = torch.nn.functional.cross_entropy(a, torch.tensor(y, dtype=torch.long))
        loss.backward()
        return loss, [(W.grad, b.grad) for W, b in zip(Ws, bs)]

    result = check_implementation(torch_loss_and_grads, hidden="tanh", loss="cross_entropy", layout="out_in",
                                  examples=FEW)
    assert result.passed, result.message
    assert not check_implementation(torch_loss_and_grads, hidden="tanh", loss="cross_entropy", examples=FEW,
                                    sizes=[3, 3, 3]).passed  # in our layout W is the transpose: it fails
