"""explain for sequences and attention (issue 20, item 4): dualgrad.explain.sequence and .attention.

The correct layers: every printed step's error is at float64 rounding. Each mistake of the bug catalog
(dualgrad.bugs.sequence) that touches the RNN, the LSTM or attention, injected, is pointed at: the first
row that differs, in backward order, is the step (and node) the mistake is in.
"""

from __future__ import annotations

import numpy as np
import pytest

from dualgrad.bugs import sequence as sequence_bugs
from dualgrad.bugs.patching import injected
from dualgrad.cli.main import main
from dualgrad.explain import derive_attention, derive_sequence, explain_attention, explain_sequence
from manual.layers import attention as AT
from manual.layers import lstm as LS
from manual.layers import rnn as RN

ROUNDING = 1e-14  # the largest |manual − jax| of any printed row on these O(1) cases (measured at most 4.4e-16)


def _rows(d):
    rows = [d.forward] + list(getattr(d, "totals", []))
    rows += [r for s in d.steps for r in s.rows] if hasattr(d, "steps") else list(d.rows)
    return rows


@pytest.mark.parametrize("layer, dims", [("rnn", dict(N=2, T=4, D=3, H=2)), ("rnn", dict(N=1, T=1, D=1, H=1)),
                                         ("lstm", dict(N=2, T=3, D=2, H=2)), ("lstm", dict(N=3, T=1, D=1, H=1))])
def test_correct_rnn_and_lstm_steps_are_at_rounding(layer, dims):
    d = derive_sequence(layer, **dims, seed=1)
    assert d.observed and d.passed and d.first_difference is None
    assert [s.t for s in d.steps] == list(range(dims["T"], 0, -1))  # t = T first, as the backward runs
    rows = _rows(d)
    assert all(r.manual is not None for r in rows)
    assert max(r.max_abs for r in rows) <= ROUNDING, [(r.name, r.max_abs) for r in rows if r.max_abs > ROUNDING]
    per_step = 7 if layer == "rnn" else 9  # dnext_h [dnext_c] dz|da dx dprev_h [dprev_c] Σ dWx Σ dWh Σ db
    assert all(len(s.rows) == per_step for s in d.steps)
    text = explain_sequence(layer, **dims, seed=1)
    assert text.splitlines()[-1] == "  PASS" and "FAIL" not in text
    assert "tanh' = 1 − tanh²" in text and ("σ' = σ(1 − σ)" in text) == (layer == "lstm")


@pytest.mark.parametrize("mask", ["none", "all", "causal", "random"])
def test_correct_attention_nodes_are_at_rounding(mask):
    d = derive_attention(N=2, T=3, S=5, D=4, E=3, mask=mask, seed=2)
    assert d.passed and d.first_difference is None
    assert max(r.max_abs for r in _rows(d)) <= ROUNDING
    names = [r.name for r in d.rows]
    assert names[:2] == ["dv", "ds (the softmax Jacobian)"] and names[-3:] == ["dr (the 1/√D scale)", "dq", "dk"]
    assert ("ds where masked" in names) == (d.n_masked > 0)
    if d.n_masked:
        masked = next(r for r in d.rows if r.name == "ds where masked")
        assert not np.any(masked.manual)  # manual's ds is exactly 0 where masked
    text = explain_attention(N=2, T=3, S=5, D=4, E=3, mask=mask, seed=2)
    assert "Pₜᵣ (dPₜᵣ − Σₛ dPₜₛ Pₜₛ)" in text and "c = 1/√4 = 0.5" in text and text.endswith("  PASS")


def test_the_inner_nodes_are_manuals_own():
    """ds read through attention_backward with k = I equals P ⊙ (dP − Σ dP ⊙ P) from the cache."""
    from dualgrad.explain.attention import random_attention_case

    d = derive_attention(mask="causal", seed=4)
    q, k, v, m, dout = random_attention_case(d.dims, "causal", 4)
    _, cache = AT.attention_forward(q, k, v, m)
    dP = dout @ v.transpose(0, 2, 1)
    ds = cache.P * (dP - (dP * cache.P).sum(axis=2, keepdims=True))
    np.testing.assert_allclose(d.rows[1].manual, ds, rtol=1e-13, atol=1e-15)


# ---------------------------------------------------------------- an injected mistake is pointed at

T = 4
POINTED = {
    "rnn: dprev_h not carried": f"step t = {T - 1}: dnext_h",  # the last step has no carry to drop
    "rnn: tanh' of the previous state": f"step t = {T}: dz",
    "rnn: dWh with the new state": f"step t = {T}: Σ dWh",
    "rnn: weight gradients of one step": "the totals: dWx",  # the steps are right, their sum is not
    "lstm: gates in the wrong order": f"step t = {T}: da",
    "lstm: tanh' of c from the wrong step": f"step t = {T}: da",
    "lstm: cell path through h dropped": f"step t = {T}: da",
    "lstm: dprev_c without the forget gate": f"step t = {T}: dprev_c → t = {T - 1}",
    "lstm: dprev_c not carried": f"step t = {T - 1}: dnext_c",
    "attention: mask applied after the softmax": "the forward: out",
    "attention: √D forgotten in the backward only": "dr (the 1/√D scale)",
    "attention: dk transposed": "dk",
    "attention: softmax Jacobian diagonal only": "ds (the softmax Jacobian)",
}
MUTATIONS = [m for m in sequence_bugs.CATALOG if m.name in POINTED]


def test_every_rnn_lstm_and_attention_mistake_has_an_expected_pointer():
    touched = {m.name for m in sequence_bugs.CATALOG if m.layer in ("rnn", "rnn_step", "lstm", "lstm_step", "attention")}
    assert touched == set(POINTED)


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_an_injected_mistake_is_pointed_at_the_step_where_it_first_differs(mutation):
    with injected(mutation):
        if mutation.layer == "attention":
            d = derive_attention(N=1, T=T, S=T, D=2, E=2, mask="random", seed=0)
            text = explain_attention(N=1, T=T, S=T, D=2, E=2, mask="random", seed=0)
        else:
            layer = "lstm" if mutation.layer.startswith("lstm") else "rnn"
            d = derive_sequence(layer, N=2, T=T, D=2, H=2, seed=0)
            text = explain_sequence(layer, N=2, T=T, D=2, H=2, seed=0)
    assert not d.passed
    assert d.first_difference == POINTED[mutation.name]
    assert text.splitlines()[-1] == f"  FAIL: first difference, in backward order, at {POINTED[mutation.name]}"


def test_the_dropped_carry_is_shown_per_step():
    """dprev_h not carried: step T passes whole; at t = T − 1 dnext_h is dh[:, T − 2] alone."""
    mutation = next(m for m in sequence_bugs.CATALOG if m.name == "rnn: dprev_h not carried")
    with injected(mutation):
        d = derive_sequence("rnn", N=2, T=3, D=2, H=2, seed=0)
    assert all(r.passed for r in d.steps[0].rows)
    later = d.steps[1].rows[0]
    assert later.name == "dnext_h" and not later.passed and later.max_abs > 1e-3


def test_the_recorder_is_removed_afterwards_even_on_error():
    before = (RN.rnn_step_backward, LS.lstm_step_backward)
    derive_sequence("rnn", T=2)
    derive_sequence("lstm", T=2)

    def broken(dh, cache):
        RN.rnn_step_backward(dh[:, 0], cache.steps[0])
        raise RuntimeError("boom")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RN, "rnn_backward", broken)
        with pytest.raises(RuntimeError, match="boom"):
            derive_sequence("rnn", T=2)
    assert (RN.rnn_step_backward, LS.lstm_step_backward) == before


def test_a_backward_that_does_not_call_the_step_shows_the_rows_as_not_observed(monkeypatch):
    step = RN.rnn_step_backward  # held here: the module's name is not looked up, so no call is recorded

    def inlined(dh, cache):
        dprev_h, dx, sums = np.zeros_like(dh[:, 0]), [], [0.0, 0.0, 0.0]
        for t in reversed(range(dh.shape[1])):
            dx_t, dprev_h, *dparams = step(dh[:, t] + dprev_h, cache.steps[t])
            dx.insert(0, dx_t)
            sums = [a + b for a, b in zip(sums, dparams)]
        return (np.stack(dx, axis=1), dprev_h, *sums)

    monkeypatch.setattr(RN, "rnn_backward", inlined)
    d = derive_sequence("rnn", T=2)
    assert not d.observed and d.passed  # the totals and dx per step are measured and pass
    assert [r.name for r in d.steps[0].rows if r.manual is not None] == ["dx"]
    text = explain_sequence("rnn", T=2)
    assert "not observed" in text and "(12 not observed)" in text  # per step: dnext_h dz dprev_h Σ dWx Σ dWh Σ db


# ---------------------------------------------------------------- the command line, the bad input


def test_cli_layer_exits_0_and_prints_the_derivation(capsys):
    assert main(["explain", "--layer", "lstm", "--dims", "T=2", "H=1", "--batch", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("LSTM through time: x (1, 2, 2), h0 (1, 1), Wx (2, 4)") and "  step t = 2:" in out
    assert main(["explain", "--layer", "attention", "--dims", "T=2", "S=3", "--mask", "random", "--seed", "5"]) == 0
    assert "random mask (2, 3)" in capsys.readouterr().out


def test_cli_layer_exits_1_on_a_mistake(capsys):
    mutation = next(m for m in sequence_bugs.CATALOG if m.name == "lstm: dprev_c not carried")
    with injected(mutation):
        assert main(["explain", "--layer", "lstm", "--dims", "T=3"]) == 1
    assert capsys.readouterr().out.rstrip().endswith("at step t = 2: dnext_c")


@pytest.mark.parametrize("argv, words", [
    (["--layer", "rnn", "--dims", "S=3"], "K one of T, D, H for --layer rnn"),
    (["--layer", "rnn", "--dims", "N=3"], "(N is --batch)"),
    (["--layer", "rnn", "--dims", "T=x"], "T must be an int"),
    (["--layer", "rnn", "--dims", "T=40"], "T must be an int between 1 and 16"),
    (["--layer", "lstm", "--mask", "causal"], "--mask is for --layer attention"),
    (["--layer", "attention", "--batch", "0"], "--batch"),
    (["--layer", "rnn", "--sizes", "2", "3"], "exactly one of"),
    (["--layer", "rnn", "--hidden", "tanh"], "--hidden is not for --layer"),
    (["--sizes", "2", "3", "--mask", "causal"], "--mask is for --layer"),
])
def test_cli_bad_input_is_one_line_and_exit_2(capsys, argv, words):
    assert main(["explain", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dualgrad: error: ") and words in err and err.count("\n") == 1, err


@pytest.mark.parametrize("call, kind, words", [
    (lambda: derive_sequence("gru"), ValueError, "layer must be one of rnn, lstm"),
    (lambda: derive_sequence("rnn", T=0), ValueError, "T must be an int between 1 and 16"),
    (lambda: derive_sequence("rnn", H=2.0), TypeError, "H must be an int"),
    (lambda: derive_sequence("rnn", seed=-1), ValueError, "seed must be a non-negative int"),
    (lambda: derive_attention(mask="tril"), ValueError, "mask must be one of none, all, causal, random"),
    (lambda: derive_attention(S=True), TypeError, "S must be an int"),
    (lambda: explain_sequence("rnn", mask="causal"), TypeError, "for layer='attention' only"),
])
def test_bad_arguments_are_refused(call, kind, words):
    with pytest.raises(kind, match=None) as err:
        call()
    assert words in str(err.value)


def test_explain_sequence_dispatches_attention():
    assert explain_sequence("attention", N=1, T=2, D=2, S=3, mask="none") == explain_attention(N=1, T=2, S=3, D=2,
                                                                                                mask="none")
