"""The same seed gives bit-identical parameters, histories and CLI reports (issue 6).

Every test builds its own objects from its own seed and compares two runs made
inside the test, so results do not depend on test order or on which xdist worker
runs them (pytest -n auto); nothing global is read except np.random, which the
seed classes use by design and which the tests seed themselves.
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

import manual
from dualgrad.cli.main import main
from manual import MLP, NetworkSpec
from manual.seed import MultiClassNN, NeuralNetwork


def bits(tree) -> list:
    """Every array of a params-like tree as raw bytes, with dtype and shape."""
    return [(a.dtype.str, a.shape, a.tobytes()) for layer in tree for a in layer]


def run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue()


def test_init_params_bit_identical():
    spec = NetworkSpec([5, 7, 3], "tanh")
    for dtype in (np.float64, np.float32):
        assert bits(manual.init_params(spec, 11, dtype=dtype)) == bits(manual.init_params(spec, 11, dtype=dtype))
    assert bits(manual.init_params(spec, 11)) != bits(manual.init_params(spec, 12))


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_mlp_params_and_histories_bit_identical(optimizer):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 3, 40)
    kw = dict(optimizer=optimizer, batch_size=8, epochs=5, seed=3, early_stopping=True, patience=2)
    a, b = MLP([3, 6, 3], **kw).fit(X, y), MLP([3, 6, 3], **kw).fit(X, y)
    assert bits(a.params) == bits(b.params)
    assert np.array_equal(a.loss_history, b.loss_history)
    assert np.array_equal(a.validation_history, b.validation_history)
    c = MLP([3, 6, 3], **{**kw, "seed": 4}).fit(X, y)
    assert bits(c.params) != bits(a.params)


@pytest.mark.parametrize("cls, sizes", [(NeuralNetwork, [2, 4, 1]), (MultiClassNN, [2, 4, 2])])
def test_seed_classes_bit_identical_after_np_random_seed(cls, sizes):
    X, y = np.array([[0.0, 0], [0, 1], [1, 0], [1, 1]]), np.array([0, 1, 1, 0])
    runs = []
    for _ in range(2):
        np.random.seed(42)
        net = cls(sizes, learning_rate=0.5).fit(X, y, epochs=30, verbose=False)
        runs.append(([w.tobytes() for w in net.weights + net.biases], list(getattr(net, "loss_history", []))))
    assert runs[0] == runs[1]


def test_verify_json_twice_identical():
    first = run_cli(["verify", "--examples", "4", "--seed", "7", "--json"])
    run_cli(["verify", "--examples", "2", "--seed", "1", "--json"])  # something else in between
    second = run_cli(["verify", "--examples", "4", "--seed", "7", "--json"])
    assert first == second and first[0] == 0
    report = json.loads(first[1])
    assert report["n_networks"] == 4 and report["seed"] == 7


def test_verify_fd_and_explain_and_train_twice_identical(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # train writes plots/ here
    for argv in (["verify", "--sizes", "3", "5", "2", "--hidden", "tanh", "--fd", "--seed", "2"],
                 ["explain", "--sizes", "3", "4", "2", "--seed", "2"],
                 ["train", "moons", "--epochs", "3", "--seed", "5"]):
        assert run_cli(argv) == run_cli(argv), argv
