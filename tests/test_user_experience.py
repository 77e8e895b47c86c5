"""Issue 19's "what the mistake is, where we can tell": each mistake a new user made with an article-style
class (tests/article_impl.py), reproduced, and the message it must get."""

from __future__ import annotations

import numpy as np
import pytest

from dualgrad import check_implementation
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
