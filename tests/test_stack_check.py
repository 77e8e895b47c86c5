"""A user's whole network of any layers (issue 21.3): check_implementation(fn, stack=..., input=...) and
`dualgrad verify --stack TEXT --input ... [--impl FILE.py:FUNC]`."""

import importlib.util
import os

import numpy as np
import pytest

from dualgrad import check_implementation
from dualgrad.cli.main import main
from manual import stack as S
from stack_helpers import manual_fn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CNN_FILE = os.path.join(ROOT, "docs", "examples", "student_cnn.py")
CNN = "conv:2:3:1:1 relu maxpool:2 flatten dense:3"


def student_cnn():
    spec = importlib.util.spec_from_file_location("student_cnn", CNN_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("text, n_in", [
    (CNN, (1, 6, 6)),
    ("dense:6 batchnorm relu res( dense:6 tanh dense:6 ) layernorm dense:3", 4),
    ("embedding:3 res( dense:3 gelu ) flatten dense:2", (3, 5)),
    ("conv:2:3:1:1 batchnorm relu res( conv:2:3:1:1 relu ) avgpool:2 flatten dense:2", (2, 5, 4)),
])
def test_a_right_network_passes(text, n_in):
    result = check_implementation(manual_fn(text, n_in), stack=text, input=n_in, examples=15, seed=1)
    assert result.passed and result.examples == 15, result.message


def test_a_wrong_pool_backward_is_caught_shrunk_and_located():
    result = check_implementation(student_cnn().loss_and_grads, stack=CNN, input=(1, 6, 6), examples=30)
    assert not result.passed
    first, where, case = result.message.splitlines()
    assert first.startswith("layer 1 (conv), dW: max |yours − jax|")
    assert "layer 5 (dense) and above agree" in where and "3 (maxpool)" in where
    assert case == "case: stack 'conv:2:3:1:1 relu maxpool:2:2 flatten dense:3' on X (1, 1, 6, 6), cross_entropy"


def test_layout_out_in_takes_dense_weights_transposed():
    text, n_in = "dense:4 relu dense:4", 4
    ours = manual_fn(text, n_in)

    def torch_layout(params, X, y):
        flip = [(W.T, b) if len(p) == 2 else p for p in params for W, b in [p if len(p) == 2 else (None, None)]]
        loss, grads = ours(flip, X, y)
        return loss, [(g[0].T, g[1]) if len(g) == 2 else g for g in grads]

    assert check_implementation(torch_layout, stack=text, input=n_in, examples=10, layout="out_in").passed
    assert not check_implementation(torch_layout, stack=text, input=n_in, examples=10).passed


def test_open_input_width_is_drawn():
    seen = set()
    fn = manual_fn("dense:3 relu dense:2", 4)

    def any_width(params, X, y):
        from manual.stack_spec import StackSpec

        seen.add(X.shape[1])
        loss, grads, _ = S.loss_and_grads(StackSpec.parse("dense:3 relu dense:2", X.shape[1]), params, X, y)
        return loss, grads

    assert check_implementation(any_width, stack="dense:3 relu dense:2", examples=30).passed
    assert len(seen) > 1 and fn


def test_bad_arguments_and_returns():
    fn = manual_fn("dense:3", 2)
    with pytest.raises(TypeError, match="StackSpec or its text form"):
        check_implementation(fn, stack=3, input=2)
    with pytest.raises(ValueError, match="unknown layer"):
        check_implementation(fn, stack="dense:3 nope", input=2)
    with pytest.raises(ValueError, match="layout"):
        check_implementation(fn, stack="dense:3", input=2, layout="sideways")
    with pytest.raises(ValueError, match=r"fn raised ZeroDivisionError: .* \(on stack 'dense:3' on X \(1, 2\)"):
        check_implementation(lambda p, X, y: 1 / 0, stack="dense:3", input=2)
    with pytest.raises(ValueError, match="list of 2 per-layer tuples"):
        check_implementation(lambda p, X, y: (1.0, [(np.zeros((2, 3)), np.zeros(3))]), stack="relu dense:3", input=2)


def test_cli(capsys, tmp_path):
    status = main(["verify", "--stack", "conv:2:3:1:1 relu maxpool:2 flatten dense:3", "--input", "1", "6", "6",
                   "--examples", "10"])
    out = capsys.readouterr().out
    assert status == 0 and out.startswith("PASS: 10 random batches of 'conv:2:3:1:1 relu maxpool:2:2 flatten dense:3'")
    status = main(["verify", "--impl", f"{CNN_FILE}:loss_and_grads", "--stack", CNN, "--input", "1", "6", "6"])
    out = capsys.readouterr().out
    assert status == 1 and out.startswith("FAIL after 1 examples (seed 0): layer 1 (conv), dW") and "\nX = " in out
    for argv, words in [(["--stack", "conv:2:3 relu", "--input", "1", "6", "6"], "logits (N, K)"),
                        (["--stack", "dense:3"], "--input"),
                        (["--stack", "dense:3", "--input", "2", "--sizes", "2", "3"], "not both"),
                        (["--sizes", "2", "3", "--input", "2"], "--input is for --stack"),
                        (["--stack", "dense:3 res( dense:2 )", "--input", "3"], "keep the shape"),
                        (["--impl", "nowhere.py:f", "--stack", "dense:3", "--input", "2"], "nowhere.py")]:
        status = main(["verify", *argv])
        err = capsys.readouterr().err
        assert status == 2 and err.startswith("dualgrad: error: ") and words in err and len(err.splitlines()) == 1, err
