"""Random convolutional stacks (conv → relu/tanh → max/avg pool → conv → flatten → dense →
cross-entropy): every layer's dW and db by hand equal jax.grad of the whole stack, leaf by leaf
(issue 13). JAX compiles once per stack, so few examples run here; the layers themselves get
500 examples each in tests/test_conv.py."""

import numpy as np
import pytest
from hypothesis import given, settings

from dualgrad import conv_bugs, conv_stacks as S


@settings(max_examples=8)
@given(S.conv_stack_cases())
def test_random_conv_stacks_match_jax_grad_leaf_by_leaf(case):
    S.stack_gradients_match(case)


def test_the_stack_property_names_the_leaf_of_an_injected_mistake(monkeypatch):
    mutation = next(m for m in conv_bugs.CATALOG if m.name.startswith("conv: im2col column order"))
    for owner, key, make in mutation.patches:
        monkeypatch.setattr(owner, key, make(getattr(owner, key)))
    stack = S.ConvStack((2, 5, 4), (("conv", 2, 2, 1, 0), ("relu",), ("maxpool", 2, 1)), 2)
    rng = np.random.default_rng(0)
    case = (stack, S.init_params(stack, rng), rng.standard_normal((2, 2, 5, 4)), np.array([0, 1]))
    with pytest.raises(AssertionError, match=r"loss|layer 1 \(conv2d 2×2×2 s1 p0\), dW"):
        S.stack_gradients_match(case)


def test_explain_shows_every_layer_with_shapes_and_errors(capsys):
    assert S.main() == 0
    text = capsys.readouterr().out
    for line in ("conv2d 4×3×3 s1 p1       -> (2, 4, 8, 8)", "maxpool2d 2 s2           -> (2, 4, 4, 4)",
                 "flatten                  -> (2, 27)", "layer 2 (conv2d 3×2×2 s1 p0), dW"):
        assert line in text
    assert text.count(" ok") == 6 and "FAIL" not in text
