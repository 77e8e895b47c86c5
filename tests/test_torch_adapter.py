"""check_layer on PyTorch code (issue 19): a torch.autograd.Function checked against a PyTorch or a
JAX reference, several inputs and outputs, low precision, and the one-line message without torch."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dualgrad import check_layer  # noqa: E402
from dualgrad.engine import torch_adapter  # noqa: E402


class Gelu(torch.autograd.Function):
    """The exact GELU, x Φ(x); backward Φ(x) + x φ(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))

    @staticmethod
    def backward(ctx, dout):
        (x,) = ctx.saved_tensors
        cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
        pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return dout * (cdf + x * pdf)


class GeluTanhBackward(Gelu):
    """The exact forward with the derivative of the tanh approximation: off by ~1e-3."""

    @staticmethod
    def backward(ctx, dout):
        (x,) = ctx.saved_tensors
        c = math.sqrt(2 / math.pi)
        t = torch.tanh(c * (x + 0.044715 * x ** 3))
        return dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x))


class GeluNoPdfTerm(Gelu):
    """The product rule half done: Φ(x) without x φ(x)."""

    @staticmethod
    def backward(ctx, dout):
        (x,) = ctx.saved_tensors
        return dout * 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def gelu_torch(x):
    return torch.nn.functional.gelu(x)


def gelu_jax(x):
    import jax

    return jax.nn.gelu(x, approximate=False)


ELEMENTWISE = dict(shapes={"x": ("N", "D")}, dims={"N": [1, 2, 3], "D": [1, 4]})


@pytest.mark.parametrize("reference", [gelu_torch, gelu_jax])
def test_a_correct_function_passes_against_either_framework(reference):
    r = check_layer(Gelu, reference=reference, examples=40, **ELEMENTWISE)
    assert r.passed, r.message


def test_the_reference_framework_is_worked_out_from_the_code():
    assert torch_adapter._framework_names(gelu_torch) == {"torch"}
    assert torch_adapter._framework_names(gelu_jax) == {"jax"}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_tanh_derivative_with_the_exact_forward_is_caught(dtype):
    r = check_layer(GeluTanhBackward, reference=gelu_torch, examples=100, dtype=dtype, **ELEMENTWISE)
    assert not r.passed
    assert r.message.startswith("dx: ") and "case: N=1 D=1" in r.message
    if dtype == "float32":
        assert "float32 reference = " in r.message and "float64 = " in r.message


class ScaledProduct(torch.autograd.Function):
    """(x ⊙ w, x + w) from x (N, D) and a parameter w (D,), with a hyperparameter alpha: two outputs."""

    @staticmethod
    def forward(ctx, x, w, alpha):
        ctx.save_for_backward(x, w)
        ctx.alpha = alpha
        return alpha * x * w, x + w

    @staticmethod
    def backward(ctx, dprod, dsum):
        x, w = ctx.saved_tensors
        return ctx.alpha * dprod * w + dsum, (ctx.alpha * dprod * x + dsum).sum(0), None


class ScaledProductNoSum(ScaledProduct):
    @staticmethod
    def backward(ctx, dprod, dsum):
        x, w = ctx.saved_tensors
        return ctx.alpha * dprod * w + dsum, (ctx.alpha * dprod * x).sum(0), None  # forgets the second output


def scaled_product(x, w, alpha):
    return alpha * x * w, x + w


def test_parameters_hyperparameters_and_two_outputs():
    kw = dict(shapes={"x": ("N", "D")}, params={"w": ("D",)}, hyper={"alpha": [0.5, 2.0]}, examples=40)
    r = check_layer(ScaledProduct, reference=scaled_product, **kw)
    assert r.passed, r.message
    bad = check_layer(ScaledProductNoSum, reference=scaled_product, **kw)
    assert not bad.passed and bad.message.startswith("dw: ")
    assert "torch.func.jvp" in bad.message  # the adjoint identity, J v by forward-mode AD


def test_positional_reference_and_no_backward():
    assert check_layer(Gelu, gelu_torch, examples=5, **ELEMENTWISE).passed
    with pytest.raises(TypeError, match="own backward"):
        check_layer(Gelu, gelu_torch, gelu_torch, **ELEMENTWISE)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precisions_pass_a_correct_function_and_fail_a_wrong_one(dtype):
    assert check_layer(Gelu, reference=gelu_torch, examples=60, dtype=dtype, **ELEMENTWISE).passed
    wrong = check_layer(GeluNoPdfTerm, reference=gelu_torch, examples=100, dtype=dtype, **ELEMENTWISE)
    assert not wrong.passed and f"{dtype} reference = " in wrong.message
    # the tanh approximation's derivative is ~1e-3 off: below half precision's own rounding, not caught there
    assert check_layer(GeluTanhBackward, reference=gelu_torch, examples=60, dtype=dtype, **ELEMENTWISE).passed


def test_a_crashing_function_is_reported_not_raised():
    class Crash(Gelu):
        @staticmethod
        def backward(ctx, dout):
            raise RuntimeError("boom")

    r = check_layer(Crash, reference=gelu_torch, examples=5, **ELEMENTWISE)
    assert not r.passed and r.message.startswith("the implementation raised RuntimeError: boom")


def test_without_torch_one_line_says_how_to_install():
    code = ("import sys; sys.modules['torch'] = None\n"
            "from dualgrad import check_layer\n"
            "try:\n"
            "    check_layer(lambda x: (x, None), lambda d, c: (d,), lambda x: x, shapes=('N',),\n"
            "                reference_framework='torch')\n"
            "except ImportError as e:\n"
            "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "check_layer: PyTorch is not installed; install it with: pip install 'dualgrad[torch]'"
    assert "Traceback" not in out.stderr


def test_the_docs_page_shows_the_example_file_as_it_is():
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "docs", "examples", "torch_layernorm.py"), encoding="utf-8") as f:
        code = f.read().split('if __name__ == "__main__":')[0].strip()
    with open(os.path.join(root, "docs", "check-your-framework-backward.md"), encoding="utf-8") as f:
        assert code in f.read()


class GeluScalesGradOutputInPlace(Gelu):
    """Every gradient right, but grad_output multiplied in place: the caller's upstream tensor is corrupted."""

    @staticmethod
    def backward(ctx, dout):
        (x,) = ctx.saved_tensors
        cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
        pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return dout.mul_(cdf + x * pdf)


class ScaleInputInPlace(torch.autograd.Function):
    """y = 2x computed by doubling x in place, without ctx.mark_dirty: the caller's x changes."""

    @staticmethod
    def forward(ctx, x):
        return x.mul_(2).clone()

    @staticmethod
    def backward(ctx, dout):
        return 2 * dout


@pytest.mark.parametrize("fn, reference, what", [
    (GeluScalesGradOutputInPlace, gelu_torch, "dout (grad_output) was modified in place by backward"),
    (ScaleInputInPlace, lambda x: 2 * x, "x was modified in place by forward or backward"),
], ids=["grad_output scaled in place", "input doubled in place"])
def test_a_function_that_changes_its_arguments_in_place_fails(fn, reference, what):
    result = check_layer(fn, reference=reference, shapes={"x": ("N", "D")}, examples=20, seed=0)
    assert not result.passed
    assert what in result.message, result.message


def test_the_correct_function_has_no_purity_problem():
    result = check_layer(Gelu, reference=gelu_torch, shapes={"x": ("N", "D")}, examples=20, seed=0)
    assert result.passed, result.message
