"""The sequence and attention layers in the one description (issue 21.1, its remaining part): rnn:H,
lstm:H, attn:heads[:causal], dense on sequences (the temporal affine) and the temporal_softmax loss,
in the text form, run by manual.stack, rebuilt by reference.stack, drawn by the random-network
property (bucketed: padded T, widths and heads, padded keys masked), checked for a user's whole
sequence network, and on the command line."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from dualgrad import check_implementation
from dualgrad.cli.main import main
from dualgrad.engine import stack_property as P
from manual import layers as M
from manual import stack as S
from manual.stack_spec import StackSpec
from reference import bucketed_stack as RB
from reference import stack as RS
from stack_helpers import first_failing_stack, manual_fn

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
SEQUENCE_EXAMPLES = {"ci": 300, "thorough": 5000}.get(PROFILE, 50)  # bucketed: a few seconds for 300
EAGER_EXAMPLES = {"ci": 6, "thorough": 300}.get(PROFILE, 3)  # eager jax.grad of the whole stack: 1-7 s each
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LSTM_FILE = os.path.join(ROOT, "docs", "examples", "student_lstm.py")
LM = "embed:4 lstm:3 dense:5"


def student_lstm():
    spec = importlib.util.spec_from_file_location("student_lstm", LSTM_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def leaves_close(spec, grads_a, grads_b, rtol, atol):
    for (name, a), (_, b) in zip(P.named_leaves(spec, grads_a), P.named_leaves(spec, grads_b)):
        assert np.shape(a) == np.shape(b) and np.allclose(a, b, rtol=rtol, atol=atol), (spec.text(), name)


# ---- the description ---------------------------------------------------------------------------------


def test_the_text_form_of_the_sequence_layers_round_trips():
    spec = StackSpec.parse("embed:4 lstm:6 res( attn:2:causal ) layernorm res( rnn:6 ) attn:3 dense:5", (7, 10))
    assert spec.layers[:3] == (("embedding", 4), ("lstm", 6), ("res", (("attn", 2, "causal"),)))
    assert spec.layers[4] == ("res", (("rnn", 6),)) and spec.layers[5] == ("attn", 3)
    assert spec.loss == "temporal_softmax" and spec.shapes()[-1] == (7, 5)  # scores (N, T, V): a class per step
    assert StackSpec.parse(spec.text(), (7, 10)) == spec
    assert spec.text() == "embedding:4 lstm:6 res( attn:2:causal ) layernorm res( rnn:6 ) attn:3 dense:5"
    shapes = spec.param_shapes()
    assert shapes[1] == ((4, 24), (6, 24), (24,))  # lstm: Wx (D, 4H), Wh (H, 4H), b (4H,)
    assert shapes[2] == ((((6, 6), (6,)) * 4),)  # Wq, bq, Wk, bk, Wv, bv, Wo, bo inside the block
    assert shapes[4] == (((6, 6), (6, 6), (6,)),)  # rnn: Wx (D, H), Wh (H, H), b (H,)
    assert spec.param_names()[5] == ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")
    assert StackSpec(3, (("embedding", 2), ("dense", 2))).loss == "cross_entropy"  # ids (N,): unchanged
    assert StackSpec.parse("rnn:3 flatten dense:2", (4, 2)).loss == "cross_entropy"  # one class per sequence
    assert StackSpec((4, 2), (("attn", 1, True), ("dense", 2)), "temporal_softmax").layers[0] == ("attn", 1, "causal")


@pytest.mark.parametrize("text, n_in, words", [
    ("rnn:3 dense:2", 4, "needs sequences"),
    ("dense:3 lstm:2 dense:2", (3, 1, 4), "needs images|needs rows"),
    ("attn:3 dense:2", (4, 4), "3 heads must divide the width E = 4"),
    ("attn:2:sideways dense:2", (4, 4), "attn:heads or attn:heads:causal"),
    ("attn:x dense:2", (4, 4), "must be an int"),
    ("lstm:0 dense:2", (4, 4), "int width >= 1"),
    ("res( rnn:3 ) dense:2", (4, 2), "keep the shape"),
])
def test_bad_sequence_layers_are_named(text, n_in, words):
    with pytest.raises(ValueError, match=words):
        StackSpec.parse(text, n_in)


def test_the_temporal_loss_needs_scores_per_step():
    with pytest.raises(ValueError, match=r"temporal_softmax needs scores \(N, T, V\)"):
        StackSpec.parse("rnn:3 flatten dense:2", (4, 2), "temporal_softmax")
    with pytest.raises(ValueError, match=r"logits \(N, K\)"):
        StackSpec.parse("rnn:3 dense:2", (4, 2), "cross_entropy")


def test_dense_on_sequences_is_the_temporal_affine_layer():
    rng = np.random.default_rng(0)
    x, W, b, dout = rng.standard_normal((3, 4, 5)), rng.standard_normal((5, 2)), rng.standard_normal(2), \
        rng.standard_normal((3, 4, 2))
    out, cache = S.on_rows(M.dense_forward, x, W, b)
    ref, ref_cache = M.temporal_affine_forward(x, W, b)
    assert np.allclose(out, ref, rtol=1e-14, atol=0)
    for a, r in zip(S.rows_backward(M.dense_backward, dout, cache), M.temporal_affine_backward(dout, ref_cache)):
        assert a.shape == r.shape and np.allclose(a, r, rtol=1e-13, atol=1e-15)


# ---- manual against the reference -------------------------------------------------------------------


@settings(max_examples=EAGER_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(P.stack_cases(max_body=3, sequences=True))
def test_random_sequence_networks_match_jax_grad_of_the_whole_stack(case):
    """manual.stack, and the bucketed reference (padded T, widths, gates and heads, padded keys masked),
    against reference.stack: jax.grad of the whole composed loss, no padding (one eager trace per case)."""
    from dualgrad.engine.compare import leaf_error

    spec, params, x, y, seed = case
    loss_w, grads_w = RS.loss_and_grads(spec, params, x, y, seed)
    loss_m, grads_m, _ = S.loss_and_grads(spec, params, x, y, seed)
    assert abs(loss_m - loss_w) <= 1e-9 * max(1.0, abs(loss_w)), (spec.text(), loss_m, loss_w)
    ref = P.named_leaves(spec, grads_w)
    scale = max([1.0] + [float(np.abs(a).max()) for _, a in ref if np.size(a)])
    for (name, a), (_, b) in zip(P.named_leaves(spec, grads_m), ref):
        err = leaf_error(name, a, b, atol=P.STACK_ATOL, scale=scale)
        assert err.passed, (spec.text(), name, err.worst_index, err.manual_value, err.ref_value)
    loss_b, grads_b = RB.loss_and_grads(spec, params, x, y, seed)
    assert abs(loss_b - loss_w) <= 1e-12 * max(1.0, abs(loss_w))
    leaves_close(spec, grads_b, grads_w, 1e-10, 1e-12)


@settings(max_examples=SEQUENCE_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(P.stack_cases(sequences=True))
def test_random_sequence_networks_match_the_bucketed_reference(case):
    """Sequence networks only (rnn, lstm, attention causal or not, residual blocks, temporal_softmax):
    manual.stack against the bucketed reference, every gradient named."""
    P.stack_gradients_match(case)


def test_sequences_beyond_the_first_bucket():
    """4 heads of 3 columns, each padded to 8; T 9 -> 64; H 9 -> 64 (the LSTM's 4H = 36 per gate)."""
    spec = StackSpec.parse("attn:4:causal lstm:9 res( rnn:9 ) dense:3", (9, 12))
    rng = np.random.default_rng(1)
    params = P.random_params(spec.layers, spec.param_shapes(), rng)
    x = rng.integers(0, spec.vocabulary, (3,) + spec.input_shape) if spec.ids else \
        rng.standard_normal((3,) + spec.input_shape)
    y = P.random_targets(spec, 3, rng)
    P.stack_gradients_match((spec, params, x, y, 0))
    leaves_close(spec, RB.loss_and_grads(spec, params, x, y)[1], RS.loss_and_grads(spec, params, x, y)[1], 1e-10, 1e-12)


def _lstm_without_dprev_c(dh, cache):
    """lstm_backward with the cell's carry dropped (dprev_c = 0 at every step)."""
    steps = cache.steps
    N, T, H = dh.shape
    dx, dWx, dWh, db = np.empty((N, T, steps[0].x.shape[1])), 0.0, 0.0, 0.0
    dprev_h = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dprev_h, _, dWx_t, dWh_t, db_t = M.lstm_step_backward(dh[:, t] + dprev_h, np.zeros((N, H)), steps[t])
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return dx, dprev_h, dWx, dWh, db


def _attention_without_the_key_path(dout, cache):
    dq, dk, dv, *dparams = M.multihead_attention_backward(dout, cache)
    return (dq, 0 * dk, dv, *dparams)


@pytest.mark.parametrize("kind, bug", [
    ("rnn", lambda dh, cache: (lambda dx, dh0, dWx, dWh, db: (dx, dh0, dWx, 0.5 * dWh, db))(*M.rnn_backward(dh, cache))),
    ("lstm", _lstm_without_dprev_c),
    ("attn", _attention_without_the_key_path),
])
def test_a_wrong_sequence_layer_is_caught_and_named(monkeypatch, kind, bug):
    """A wrong backward inside random sequence networks: found within 200 examples, named by position and kind."""
    monkeypatch.setitem(S._BACKWARD, kind, bug)
    case, message = first_failing_stack(P.stack_cases(sequences=True), 200)
    assert any(layer[0] == kind for _, layer, *_ in case[0].walk()), message
    assert "loss" in message or "layer " in message, message


# ---- a user's whole sequence network ------------------------------------------------------------------


def test_a_users_lstm_network_passes_and_its_missing_carry_is_named():
    lstm = student_lstm()
    result = check_implementation(lstm.loss_and_grads, stack=LM, input=(3, 5), examples=30)
    assert not result.passed
    first, where, case = result.message.splitlines()
    assert first.startswith("layer 2 (lstm), dW"), first
    assert where.endswith("layer 3 (dense) and above agree: the mistake is in the backward of layer 2 (lstm)"), where
    assert case == "case: stack 'embedding:4 lstm:3 dense:5' on X (1, 3), temporal_softmax"
    spec, params, X, y = result.counterexample
    assert X.shape == (1, 3) and y.shape == (1, 3) and [len(p) for p in params] == [1, 3, 2]
    lstm.CARRY_DH = True
    result = check_implementation(lstm.loss_and_grads, stack=LM, input=(3, 5), examples=30)
    assert result.passed and result.examples == 30, result.message
    seen = set()

    def any_length(params, X, y):  # input not given: T and V drawn
        seen.add(X.shape[1:])
        return lstm.loss_and_grads(params, X, y)

    assert check_implementation(any_length, stack=LM, examples=20).passed and len(seen) > 1


@pytest.mark.parametrize("text, n_in", [
    ("rnn:3 attn:3:causal flatten dense:2", (4, 2)),
    ("dense:4 res( attn:2 ) layernorm res( dense:4 gelu dense:4 ) dense:3", (3, 2)),  # a transformer block
    ("embedding:4 lstm:4 dropout:0.5 batchnorm dense:3", (3, 6)),
])
def test_dualgrads_own_sequence_networks_pass_as_a_users(text, n_in):
    result = check_implementation(manual_fn(text, n_in), stack=text, input=n_in, examples=10, seed=2)
    assert result.passed and result.examples == 10, result.message


def test_training_a_sequence_stack_lowers_its_loss():
    """manual.stack.train on a recurrent network: the parameters of rnn, lstm and attention seen as (W, b) pairs."""
    from manual import optimizers as O

    spec = StackSpec.parse("embed:4 lstm:6 res( attn:2:causal ) rnn:6 dense:4", (5, 4))
    rng = np.random.default_rng(0)
    X = rng.integers(0, 4, (32, 5))
    y = np.roll(X, -1, axis=1)  # the next id
    params, state, losses = S.train(spec, S.init_params(spec, seed=0), X, y, O.adam(0.02), epochs=30, batch_size=8)
    def shapes(tree):  # nested tuples of arrays -> nested tuples of shapes
        return np.shape(tree) if isinstance(tree, np.ndarray) else tuple(shapes(t) for t in tree)

    assert shapes(params) == tuple(spec.param_shapes())
    assert losses[-1] < 0.8 * losses[0], losses


# ---- the command line -----------------------------------------------------------------------------------


def test_cli_verify_and_explain_take_sequences(capsys):
    status = main(["verify", "--stack", "embed:4 lstm:4 res( attn:2:causal ) dense:5", "--input", "3", "5",
                   "--examples", "10"])
    out = capsys.readouterr().out
    assert status == 0 and out.startswith("PASS: 10 random batches of 'embedding:4 lstm:4 res( attn:2:causal ) "
                                          "dense:5' on ids (N, 3) < 5, temporal_softmax"), out
    status = main(["verify", "--impl", f"{LSTM_FILE}:loss_and_grads", "--stack", LM, "--input", "3", "5"])
    out = capsys.readouterr().out
    assert status == 1 and out.startswith("FAIL after 1 examples (seed 0): layer 2 (lstm), dW"), out
    status = main(["explain", "--stack", "rnn:3 attn:1:causal dense:2", "--input", "3", "2", "--batch", "2"])
    out = capsys.readouterr().out
    assert status in (0, None) and "attention 1 head causal" in out and "dWh1" in out and out.rstrip().endswith("PASS")
    for argv, words in [(["verify", "--stack", "rnn:3 dense:2", "--input", "4"], "needs sequences"),
                        (["verify", "--stack", "attn:3 dense:2", "--input", "4", "2"], "must divide"),
                        (["verify", "--stack", "rnn:3 dense:2", "--input", "4", "2", "--loss", "mse"], "logits")]:
        status = main(argv)
        err = capsys.readouterr().err
        assert status == 2 and err.startswith("dualgrad: error: ") and words in err and len(err.splitlines()) == 1, err
