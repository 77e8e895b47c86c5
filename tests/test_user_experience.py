"""Issue 19's "what the mistake is, where we can tell": each mistake a new user made with an article-style
class (tests/article_impl.py), reproduced, and the message it must get."""

from __future__ import annotations

import numpy as np
import pytest

from dualgrad import ImplementationError as ImplementationError_, check_implementation
from dualgrad.cli.main import main
from article_impl import ArticleNet

FEW = 25


def test_dw1_and_dw2_swapped_are_reported_as_swapped_not_as_two_factors():
    net = ArticleNet("tanh", "mse", bias="row")

    def swapped(params, X, y):
        loss, (gw, gb) = net(params, X, y)
        return loss, ([gw[1], gw[0]], gb)

    result = check_implementation(swapped, sizes=[3, 3, 3], hidden="tanh", loss="mse", bias="row", examples=FEW)
    assert not result.passed
    first = result.message.splitlines()[0]
    assert first.startswith("layer 1, dW and layer 2, dW are swapped: yours for each is jax.grad's for the other"), first
    assert "× jax.grad's" not in result.message, result.message


def test_the_other_l2_convention_is_named_and_is_an_option():
    """A correct network whose loss adds λΣ‖W‖² (not (λ/2)Σ‖W‖²) failed with "another function" and no hint."""
    full = ArticleNet("tanh", "cross_entropy", bias="row", l2=0.1, l2_form="full")
    result = check_implementation(full, hidden="tanh", loss="cross_entropy", bias="row", l2=0.1, examples=FEW)
    assert not result.passed and "pass l2_form='full'" in result.message.splitlines()[0], result.message
    assert "yours adds λ Σ‖W‖²" in result.message
    ok = check_implementation(full, hidden="tanh", loss="cross_entropy", bias="row", l2=0.1, l2_form="full", examples=FEW)
    assert ok.passed, ok.message
    half = ArticleNet("tanh", "cross_entropy", bias="row", l2=0.1)
    wrong = check_implementation(half, hidden="tanh", loss="cross_entropy", bias="row", l2=0.1, l2_form="full",
                                 examples=FEW)
    assert not wrong.passed and "pass l2_form='half'" in wrong.message
    # l2_form='full' with a dW that lacks the 2: still fails
    lacking = ArticleNet("tanh", "cross_entropy", bias="row", l2=0.1, l2_form="full", bug="l2_missing_in_dW")
    assert not check_implementation(lacking, hidden="tanh", loss="cross_entropy", bias="row", l2=0.1,
                                    l2_form="full", examples=FEW).passed


def test_the_cli_takes_l2_form(tmp_path, capsys):
    import os

    root = os.path.dirname(os.path.abspath(__file__))
    path = tmp_path / "full_l2.py"
    path.write_text(f"import sys\nsys.path.insert(0, {root!r})\nfrom article_impl import ArticleNet\n"
                    "net = ArticleNet('relu', 'binary_cross_entropy', l2=0.1, l2_form='full')\n")
    base = ["verify", "--impl", f"{path}:net", "--hidden", "relu", "--loss", "binary_cross_entropy", "--bias", "row",
            "--l2", "0.1", "--examples", "10"]
    assert main(base) == 1 and "pass l2_form='full'" in capsys.readouterr().out
    assert main([*base, "--l2-form", "full"]) == 0
    assert "l2_form full" in capsys.readouterr().out
    assert main(["verify", "--l2-form", "full"]) == 2 and "--l2-form" in capsys.readouterr().err


def test_tanh_prime_from_z_is_shrunk_to_a_case_that_does_not_read_as_rounding_and_named():
    """It was shrunk to `dW[0, 0]: yours 0.0766957019, jax.grad 0.0766957141 (1.6e-07)`."""
    for loss in ("cross_entropy", "mse"):
        net = ArticleNet("tanh", loss, bias="row", bug="tanh_prime_from_z")
        result = check_implementation(net, hidden="tanh", loss=loss, bias="row")
        assert not result.passed
        worst = max(row.max_rel for row in result.report.rows)
        assert worst >= 1e-3, result.message  # a million times the tolerance, not rounding
        assert "tanh'(z) is computed as 1 − z² (from z)" in result.message.splitlines()[1], result.message
    sigmoid = ArticleNet("sigmoid", "binary_cross_entropy", bias="row", bug="sigmoid_prime_from_z")
    result = check_implementation(sigmoid, hidden="sigmoid", loss="binary_cross_entropy", bias="row")
    assert "σ'(z) is computed as z (1 − z)" in result.message


def test_a_small_genuine_error_is_still_caught():
    """Shrinking keeps the evidence, but a mistake that is always small still fails (the second pass)."""
    net = ArticleNet("relu", "mse", bias="row")

    def slightly_off(params, X, y):
        loss, (gw, gb) = net(params, X, y)
        return loss, ([w * (1 + 1e-6) for w in gw], gb)

    result = check_implementation(slightly_off, hidden="relu", loss="mse", bias="row", examples=FEW)
    assert not result.passed and result.message.startswith("layer "), result.message


class _Refreshing:
    """relu's mask cached per shape and refreshed every third call: state kept between calls."""

    def __init__(self):
        self.masks, self.calls = {}, 0

    def __call__(self, params, X, y):
        self.calls += 1
        if self.calls % 3 == 0:
            self.masks.clear()
        (W1, b1), (W2, b2) = params
        z1 = X @ W1 + b1
        mask = self.masks.setdefault(z1.shape, z1 > 0)
        a1 = z1 * mask
        p = 1 / (1 + np.exp(-(a1 @ W2 + b2)[:, 0]))
        N = X.shape[0]
        loss = -np.mean(y * np.log(p + 1e-15) + (1 - y) * np.log(1 - p + 1e-15))
        d2 = (p - y)[:, None] / N
        d1 = (d2 @ W2.T) * mask
        return loss, [(X.T @ d1, d1.sum(0, keepdims=True)), (a1.T @ d2, d2.sum(0, keepdims=True))]


def test_a_function_that_keeps_state_is_named_with_a_counterexample_and_no_hypothesis_internals():
    result = check_implementation(_Refreshing(), sizes=[2, 3, 1], hidden="relu", loss="binary_cross_entropy",
                                  bias="row")
    assert not result.passed and result.counterexample is not None
    assert "keeps state between calls" in result.message
    for internal in ("Hypothesis", "one_case", "unreliable", "sub-exception", "kink='either'"):
        assert internal not in result.message, result.message


def test_pytorch_layout_without_layout_out_in_gets_a_hint():
    net = ArticleNet("relu", "binary_cross_entropy", layout="out_in", bias="row")
    with pytest.raises(ValueError, match=r"matmul.*pass layout='out_in'"):
        check_implementation(net, hidden="relu", loss="binary_cross_entropy", bias="row", sizes=[3, 2, 1])


def test_float32_gradients_get_a_word_about_the_dtype():
    net = ArticleNet("tanh", "binary_cross_entropy", bias="row")

    def in_float32(params, X, y):
        loss, (gw, gb) = net([(W.astype(np.float32), b.astype(np.float32)) for W, b in params],
                             X.astype(np.float32), y)
        return loss, ([w.astype(np.float32) for w in gw], [b.astype(np.float32) for b in gb])

    result = check_implementation(in_float32, hidden="tanh", loss="binary_cross_entropy", bias="row", examples=FEW)
    assert not result.passed and "returned float32 arrays" in result.message, result.message


def test_a_function_expecting_one_hot_y_gets_the_targets_matrix_hint():
    def one_hot_only(params, X, Y):
        K = Y.shape[1]  # one-hot (N, K) expected
        return ArticleNet("relu", "cross_entropy", bias="row")(params, X, np.argmax(Y, axis=1) if K else Y)

    with pytest.raises(ImplementationError_, match="pass targets='matrix'"):
        check_implementation(one_hot_only, hidden="relu", loss="cross_entropy", bias="row", examples=5)
    assert check_implementation(one_hot_only, hidden="relu", loss="cross_entropy", bias="row", targets="matrix",
                                examples=5).passed


def test_the_cli_prints_the_case_of_an_error_and_does_not_advise_a_python_attribute(tmp_path, capsys):
    import os

    root = os.path.dirname(os.path.abspath(__file__))
    path = tmp_path / "torch_layout.py"
    path.write_text(f"import sys\nsys.path.insert(0, {root!r})\nfrom article_impl import ArticleNet\n"
                    "net = ArticleNet('relu', 'binary_cross_entropy', layout='out_in')\n")
    status = main(["verify", "--impl", f"{path}:net", "--hidden", "relu", "--loss", "binary_cross_entropy",
                   "--bias", "row", "--sizes", "3", "2", "1"])
    out, err = capsys.readouterr()
    assert status == 2 and err.startswith("dualgrad: error: ") and err.count("\n") == 1, err
    assert ".counterexample" not in err and "pass layout='out_in'" in err and "printed above" in err
    assert "W1 = np.array" in out and "the smallest case found" in out
