"""The sequence/attention property can fail: every mistake of dualgrad.bugs.sequence.CATALOG, injected
into manual.layers with monkeypatch, is caught and shrunk to a small case (issue 20)."""

import pytest

from dualgrad.bugs import sequence as sequence_bugs
from dualgrad.engine import sequence_properties as P
from manual.layers import attention as AT
from manual.layers import gelu as GE
from manual.layers import lstm as LS
from manual.layers import rnn as RN
from manual.layers import temporal as TM

MAX_EXAMPLES = 300
PATCHED = [(RN, "rnn_backward"), (RN, "rnn_step_backward"), (LS, "lstm_backward"), (LS, "lstm_step_backward"),
           (TM, "temporal_softmax_loss"), (TM, "temporal_affine_backward"), (GE, "gelu_backward"),
           (AT, "attention_forward"), (AT, "attention_backward"), (AT, "multihead_attention_backward")]


def inject(monkeypatch, mutation):
    for owner, key, make in mutation.patches:
        monkeypatch.setattr(owner, key, make(getattr(owner, key)))


@pytest.mark.parametrize("mutation", sequence_bugs.CATALOG, ids=[m.name for m in sequence_bugs.CATALOG])
def test_mutation_is_caught_and_shrunk(monkeypatch, mutation):
    inject(monkeypatch, mutation)
    result = sequence_bugs.hunt(mutation, MAX_EXAMPLES)
    assert result.caught, f"{mutation.name} ({mutation.mistake}) survived {result.calls} examples"
    sizes = {k: int(v) for k, v in (t.split("=") for t in result.counterexample.split() if "=" in t and t[0].isupper())}
    assert all(v <= 2 for k, v in sizes.items() if k in ("N", "T", "S", "D", "H", "M", "V", "E")), result.counterexample
    assert result.message


@pytest.mark.parametrize("layer", sorted(P.LAYERS))
def test_the_correct_code_survives_the_same_hunts(layer):
    control = sequence_bugs.Mutation("none", "", layer, ())
    result = sequence_bugs.hunt(control, 100)
    assert not result.caught, f"the correct {layer} fails on {result.counterexample}: {result.message}"


def test_injected_restores_the_originals():
    before = [getattr(m, n) for m, n in PATCHED]
    for mutation in sequence_bugs.CATALOG:
        with sequence_bugs.injected(mutation):
            pass
    assert before == [getattr(m, n) for m, n in PATCHED]


def test_the_catalog_has_at_least_twelve_distinct_mistakes():
    assert len(sequence_bugs.CATALOG) >= 12
    assert len({m.name for m in sequence_bugs.CATALOG}) == len(sequence_bugs.CATALOG)
