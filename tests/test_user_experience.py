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
