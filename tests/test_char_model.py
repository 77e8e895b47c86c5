"""The character models of issue 20 item 3: trained by hand, equal to their JAX twins, and learning.

- manual.char_model (RNN, LSTM) vs reference.char_model: the same parameters and batches give the
  same losses step by step for 10 Adam steps (to rounding), so every gradient and update agrees.
- manual.transformer vs reference.transformer: every gradient equals jax.grad on one small case.
- both learn: after a short run their loss is below the bigram baseline of the text.
"""

import os

import numpy as np
import pytest

from manual import char_model, optimizers, transformer
from reference import char_model as ref_char_model
from reference import optimizers as ref_optimizers
from reference import transformer as ref_transformer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT_PATH = os.path.join(ROOT, "docs", "examples", "tiny_text.txt")


@pytest.fixture(scope="module")
def text():
    with open(TEXT_PATH, encoding="utf-8") as f:
        text = f.read()
    chars = char_model.vocabulary(text)
    return text, chars, char_model.encode(text, chars)


def assert_grads_equal(manual, ref, rtol=1e-10):
    assert manual.keys() == ref.keys()
    scale = max(np.max(np.abs(g)) for g in ref.values())  # some entries are 0 by symmetry (bk)
    for name in ref:
        assert manual[name].shape == ref[name].shape, name
        np.testing.assert_allclose(manual[name], ref[name], rtol=rtol, atol=1e-12 * scale, err_msg=name)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_loss_curve_equals_jax_step_by_step(text, cell):
    _, chars, ids = text
    params = char_model.init_params(len(chars), 8, 12, cell, seed=1)
    batches = char_model.batches(ids, 4, 8, 10, seed=2)
    trained, by_hand = char_model.train(params, batches, optimizers.adam(1e-2),
                                        lambda p, x, y: char_model.loss_and_grads(p, x, y, cell))
    ref_trained, by_jax = ref_char_model.train(params, batches, ref_optimizers.adam(1e-2),
                                               lambda p, x, y: ref_char_model.loss_and_grads(p, x, y, cell))
    assert len(by_hand) == 10
    np.testing.assert_allclose(by_hand, by_jax, rtol=1e-12)
    assert by_hand[-1] < by_hand[0]  # Adam at 1e-2 lowers the loss within 10 steps
    for name in params:  # the parameters after 10 updates, too
        np.testing.assert_allclose(trained[name], ref_trained[name], rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_grads_equal_jax(text, cell):
    _, chars, ids = text
    params = char_model.init_params(len(chars), 5, 7, cell, seed=3)
    ((x, y),) = char_model.batches(ids, 3, 6, 1, seed=4)
    loss, grads = char_model.loss_and_grads(params, x, y, cell)
    ref_loss, ref_grads = ref_char_model.loss_and_grads(params, x, y, cell)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert_grads_equal(grads, ref_grads)


def test_transformer_grads_equal_jax():
    V, C, T_max, heads = 11, 8, 6, 2
    params = transformer.init_params(V, C, T_max, heads, seed=5)
    rng = np.random.default_rng(6)
    for name in params:  # away from the initial γ = 1, β = 0, b = 0: every term of the backward matters
        params[name] = params[name] + 0.1 * rng.standard_normal(params[name].shape)
    x, y = rng.integers(0, V, (3, 5)), rng.integers(0, V, (3, 5))  # T = 5 < T_max: P's last row unused
    loss, grads = transformer.loss_and_grads(params, x, y, heads)
    ref_loss, ref_grads = ref_transformer.loss_and_grads(params, x, y, heads)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert_grads_equal(grads, ref_grads)
    assert not grads["P"][5:].any()


def test_rnn_beats_bigram(text):
    _, chars, ids = text
    bigram = char_model.bigram_loss(ids, len(chars))
    params = char_model.init_params(len(chars), 8, 32, "rnn", seed=0)
    batches = char_model.batches(ids, 16, 16, 300, seed=1)
    _, losses = char_model.train(params, batches, optimizers.adam(1e-2),
                                 lambda p, x, y: char_model.loss_and_grads(p, x, y, "rnn"))
    assert losses[0] > bigram + 1  # it starts near log V = 3.37
    assert np.mean(losses[-30:]) < bigram


def test_transformer_beats_bigram(text):
    _, chars, ids = text
    bigram = char_model.bigram_loss(ids, len(chars))
    params = transformer.init_params(len(chars), 16, 16, 2, seed=0)
    batches = char_model.batches(ids, 16, 16, 300, seed=1)
    _, losses = char_model.train(params, batches, optimizers.adam(1e-2),
                                 lambda p, x, y: transformer.loss_and_grads(p, x, y, 2), transformer.PAIRS)
    assert losses[0] > bigram + 0.5
    assert np.mean(losses[-30:]) < bigram  # each loss measured before its batch's update


def test_bigram_loss_is_the_conditional_entropy():
    ids = np.array([0, 1, 0, 1, 0, 2])  # after 0: 1, 1, 2; after 1: 0, 0
    expected = -(2 * np.log(2 / 3) + np.log(1 / 3) + 2 * np.log(1.0)) / 5
    assert char_model.bigram_loss(ids, 3) == pytest.approx(expected)


def test_batches_are_windows_of_the_text(text):
    _, _, ids = text
    for x, y in char_model.batches(ids, 5, 7, 3, seed=0):
        assert x.shape == y.shape == (5, 7)
        np.testing.assert_array_equal(x[:, 1:], y[:, :-1])  # y is x shifted by one
    a, b = char_model.batches(ids, 5, 7, 2, seed=9), char_model.batches(ids, 5, 7, 2, seed=9)
    for (x1, y1), (x2, y2) in zip(a, b):
        np.testing.assert_array_equal(x1, x2)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_sample(text, cell):
    _, chars, _ = text
    params = char_model.init_params(len(chars), 4, 6, cell, seed=0)
    out = char_model.sample(params, "the ", 25, cell, chars, seed=3)
    assert len(out) == 29 and out.startswith("the ") and set(out) <= set(chars)
    assert out == char_model.sample(params, "the ", 25, cell, chars, seed=3)  # seeded
    assert char_model.sample(params, "t", 0, cell, chars) == "t"
    tparams = transformer.init_params(len(chars), 8, 6, 2, seed=0)
    out = transformer.sample(tparams, "the miller", 9, chars, 2, seed=1)  # longer than T_max: the last 6 read
    assert len(out) == 19 and out.startswith("the miller") and set(out) <= set(chars)


def test_pairs_round_trip_and_stand_ins_stay_zero(text):
    _, chars, ids = text
    params = transformer.init_params(len(chars), 8, 8, 2, seed=0)
    shapes = {k: v.shape for k, v in params.items()}
    pairs = char_model.as_pairs(params, transformer.PAIRS)
    assert pairs[2][0].shape == (1, 8)  # ln1's γ seen as a row
    back = char_model.from_pairs(pairs, shapes, transformer.PAIRS)
    assert back.keys() == params.keys()
    for name in params:
        np.testing.assert_array_equal(back[name], params[name])
    opt = optimizers.adam(1e-2)
    state = opt.init(pairs)
    _, grads = transformer.loss_and_grads(params, *char_model.batches(ids, 2, 8, 1)[0], 2)
    new_pairs, state = opt.update(char_model.as_pairs(grads, transformer.PAIRS), state, pairs)
    assert not new_pairs[0][1].any() and not new_pairs[1][1].any()  # E's and P's stand-in biases


def test_float32_in_float32_out(text):
    _, chars, ids = text
    ((x, y),) = char_model.batches(ids, 2, 5, 1)
    for cell in ("rnn", "lstm"):
        params = char_model.init_params(len(chars), 4, 6, cell, dtype=np.float32)
        loss, grads = char_model.loss_and_grads(params, x, y, cell)
        assert np.isfinite(loss) and all(g.dtype == np.float32 for g in grads.values())
    params = transformer.init_params(len(chars), 8, 5, 2, dtype=np.float32)
    _, grads = transformer.loss_and_grads(params, x, y, 2)
    assert all(g.dtype == np.float32 for g in grads.values())


def test_bad_inputs(text):
    _, chars, ids = text
    params = char_model.init_params(len(chars), 4, 6, "rnn")
    ((x, y),) = char_model.batches(ids, 2, 5, 1)
    with pytest.raises(ValueError, match="cell must be one of 'rnn', 'lstm', got 'gru'"):
        char_model.loss_and_grads(params, x, y, "gru")
    with pytest.raises(ValueError, match="cell must be one of"):
        char_model.init_params(3, 4, 5, "gru")
    with pytest.raises(ValueError, match="outside the vocabulary: 'Z'"):
        char_model.encode("aZ", "ab")
    with pytest.raises(ValueError, match="at least seq_len \\+ 1 = 11"):
        char_model.batches(ids[:10], 2, 10, 1)
    with pytest.raises(TypeError, match="batch_size must be an int >= 1"):
        char_model.batches(ids, 2.0, 5, 1)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        char_model.sample(params, "a", 3, "rnn", chars, temperature=0)
    tparams = transformer.init_params(len(chars), 8, 4, 2)
    with pytest.raises(ValueError, match="T <= T_max = 4"):
        transformer.loss_and_grads(tparams, x, y, 2)
    with pytest.raises(ValueError, match="num_heads must divide C = 8"):
        transformer.init_params(len(chars), 8, 4, 3)


def test_example_script_runs(capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("char_lm", os.path.join(ROOT, "docs", "examples", "char_lm.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--steps", "6", "--every", "3", "--compare", "2", "--sample", "12"])
    out = capsys.readouterr().out
    assert "bigram baseline: 2.0112 nats per character" in out
    rows = [line.split() for line in out.splitlines() if line[:4].strip() in ("0", "1") and "e-" in line]
    assert len(rows) == 2 and all(float(r[3]) < 1e-12 for r in rows)  # by hand = JAX to rounding
    assert "   0-2   " in out and "sample (temperature 0.8):\nthe " in out
