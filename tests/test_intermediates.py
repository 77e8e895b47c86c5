"""The "backprop ninja" check (dualgrad.engine.intermediates): a user's function may return a dict of
intermediate gradients dlogits / dz{l} / da{l}; each is compared with JAX's on random networks, listed
in backward order, and the first one that differs names the step of the derivation that is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from dualgrad import ImplementationError, check_gradients, check_implementation
from article_impl import ArticleNet, article_params

import manual

FEW = 30


@pytest.mark.parametrize("hidden,loss,options", [
    ("tanh", "cross_entropy", {}),
    ("relu", "binary_cross_entropy", {"layout": "out_in", "bias": "vector"}),
    ("sigmoid", "mse", {"mse": "half", "reduction": "sum"}),
    ("leaky_relu", "mse", {"head": "sigmoid"}),  # sigmoid_mse: a registered loss, pulled back in JAX
])
def test_correct_intermediates_pass_on_random_networks(hidden, loss, options):
    bias = options.get("bias", "row")
    net = ArticleNet(hidden, loss, bias=bias, intermediates="all",
                     **{k: v for k, v in options.items() if k not in ("bias",)})
    result = check_implementation(net, hidden=hidden, loss=loss, bias=bias, examples=FEW, l2=0.0,
                                  **{k: v for k, v in options.items() if k != "bias"})
    assert result.passed, result.message
    assert result.examples == FEW


def test_the_w2_transpose_bug_names_the_step_from_dz2_to_da1():
    """3 layers, W2 square: da1 = dz2 W2 instead of dz2 W2ᵀ."""
    net = ArticleNet("tanh", "cross_entropy", bias="row", bug="W2_not_transposed", intermediates="all")
    result = check_implementation(net, sizes=[3, 4, 4, 3], hidden="tanh", loss="cross_entropy", bias="row")
    assert not result.passed
    first = result.message.splitlines()[0]
    assert first == "dlogits ✓, da2 ✓, dz2 ✓, da1 ✗, dz1 ✗: the step from dz2 to da1 — the product with W2ᵀ — is wrong"
    assert result.message.splitlines()[1].startswith("da1[")
    names = [row.name for row in result.report.intermediates]
    assert names == ["dlogits", "da2", "dz2", "da1", "dz1"]  # backward order
    # any subset, listed in backward order, names the same step
    subset = ArticleNet("tanh", "cross_entropy", bias="row", bug="W2_not_transposed",
                        intermediates={"da1", "dlogits", "dz2"})
    result = check_implementation(subset, sizes=[3, 4, 4, 3], hidden="tanh", loss="cross_entropy", bias="row")
    assert result.message.splitlines()[0] == ("dlogits ✓, dz2 ✓, da1 ✗: the step from dz2 to da1 — the product "
                                              "with W2ᵀ — is wrong")
    assert "intermediates, in backward order:" in result.report.table()


def test_a_gap_between_returned_intermediates_names_every_step_in_it():
    net = ArticleNet("tanh", "cross_entropy", bias="row", bug="W2_not_transposed", intermediates={"dlogits", "dz1"})
    result = check_implementation(net, sizes=[3, 4, 4, 3], hidden="tanh", loss="cross_entropy", bias="row")
    assert result.message.splitlines()[0] == (
        "dlogits ✓, dz1 ✗: the step from dlogits to dz1 — the product with W3ᵀ, then the activation's derivative "
        "f'(z2), then the product with W2ᵀ, then the activation's derivative f'(z1) — is wrong")


def test_a_wrong_head_derivative_and_a_wrong_activation_derivative_are_told_apart():
    flipped = ArticleNet("relu", "cross_entropy", bias="row", bug="flipped_sign", intermediates="all")
    result = check_implementation(flipped, hidden="relu", loss="cross_entropy", bias="row")
    first = result.message.splitlines()[0]
    assert first.startswith("dlogits ✗") and "the loss and head's derivative" in first, first
    sigmoid = ArticleNet("sigmoid", "binary_cross_entropy", bias="row", bug="sigmoid_prime_from_z",
                         intermediates="all")
    result = check_implementation(sigmoid, hidden="sigmoid", loss="binary_cross_entropy", bias="row")
    first = result.message.splitlines()[0]
    assert "✓, dz1 ✗: the step from da1 to dz1 — the activation's derivative f'(z1) — is wrong" in first, first


def test_right_intermediates_and_a_wrong_parameter_gradient_blame_the_last_step():
    net = ArticleNet("relu", "binary_cross_entropy", bias="row", bug="missing_1/m_in_db", intermediates="all")
    result = check_implementation(net, hidden="relu", loss="binary_cross_entropy", bias="row")
    assert not result.passed
    lines = result.message.splitlines()
    assert lines[0].startswith("layer 1, db[")
    assert "the intermediates agree with jax.grad, so the step to the parameters is wrong: layer 1, db" in lines[1]


def test_a_wrong_intermediate_fails_even_when_every_parameter_gradient_is_right():
    """The verdict covers what the function returns: right dW, db and loss do not excuse a wrong dlogits."""

    def doubled_dlogits(params, X, y):
        loss, grads, inter = ArticleNet("tanh", "cross_entropy", bias="row", intermediates="all")(params, X, y)
        return loss, grads, {**inter, "dlogits": 2 * inter["dlogits"]}

    result = check_implementation(doubled_dlogits, hidden="tanh", loss="cross_entropy", bias="row", examples=FEW)
    assert not result.passed
    assert result.message.splitlines()[0].startswith("dlogits ✗"), result.message
    assert all(row.passed for row in result.report.rows) and result.report.loss_passed


def test_kink_either_applies_to_intermediates_too():
    net = ArticleNet("relu", "binary_cross_entropy", bias="row", relu_at_zero=1.0, intermediates="all")
    assert check_implementation(net, hidden="relu", loss="binary_cross_entropy", bias="row", kink="either").passed


def test_check_gradients_reports_the_intermediates_of_one_case():
    spec = manual.NetworkSpec([3, 3, 3, 2], ["tanh", "tanh"], "cross_entropy")
    params = article_params(spec.sizes, bias="row", seed=2)
    X = np.random.default_rng(2).standard_normal((4, 3))
    y = np.array([0, 1, 1, 0])
    good = check_gradients(spec, params, X, y, bias="row", impl=ArticleNet("tanh", "cross_entropy", intermediates="all"))
    assert good.passed and len(good.intermediates) == 5
    assert good.to_dict()["intermediates_line"].endswith("all agree with jax.grad")


@pytest.mark.parametrize("extra,match", [
    ({"dz9": 0}, r"key 'dz9'; valid keys for this 2-layer network: dlogits, dz1, dz2, da1"),
    ({"da2": 0}, r"key 'da2'"),
    ({"dz2": None, "dlogits": None}, "both 'dlogits' and 'dz2'"),
    ({"dz1": "T"}, r"dz1 has shape \(3, (\d+)\), expected \(\1, 3\).*transposed"),
    ({"dz1": "nan"}, "not finite"),
])
def test_bad_intermediates_are_refused_with_the_valid_keys(extra, match):
    net = ArticleNet("relu", "binary_cross_entropy", intermediates="all")

    def fn(params, X, y):
        loss, grads, inter = net(params, X, y)
        out = {}
        for key, value in extra.items():
            if value is None:
                out[key] = inter["dlogits"]
            elif value == "T":
                out[key] = np.zeros((3, X.shape[0]))
            elif value == "nan":
                out[key] = inter[key] * np.nan
            else:
                out[key] = np.zeros((X.shape[0], 3))
        return loss, grads, out

    with pytest.raises(ImplementationError, match=match):
        check_implementation(fn, hidden="relu", loss="binary_cross_entropy", bias="row", sizes=[2, 3, 1], examples=5)
