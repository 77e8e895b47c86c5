"""The property can fail: every classic backprop mistake of dualgrad.bugs.CATALOG, injected into
`manual` with monkeypatch, is caught by the network-gradient property and shrunk to a small network.

Each hunt is capped at MAX_EXAMPLES examples; a mutation of one activation or loss is hunted over
networks that use it (see dualgrad/bugs.py). `python -m dualgrad.bugs` prints the same as a table.
"""

import pytest

import manual
from dualgrad import bugs
from manual import activations as A
from manual import losses as LS
from manual import network as NW

MAX_EXAMPLES = 300


def inject(monkeypatch, mutation):
    """The mutation's patches through monkeypatch, so pytest restores them even on failure."""
    for owner, key, make in mutation.patches:
        if isinstance(owner, dict):
            monkeypatch.setitem(owner, key, make(owner[key]))
        else:
            monkeypatch.setattr(owner, key, make(getattr(owner, key)))


@pytest.mark.parametrize("mutation", bugs.CATALOG, ids=[m.name for m in bugs.CATALOG])
def test_mutation_is_caught(monkeypatch, mutation):
    inject(monkeypatch, mutation)
    result = bugs.hunt(mutation, MAX_EXAMPLES)
    print(f"{result.name}: caught after {result.examples} examples; shrunk to {result.counterexample}\n  {result.message}")
    assert result.caught, f"{mutation.name} ({mutation.mistake}) survived {result.calls} examples"
    # shrunk to a readable network: at most 3 weight layers of width ≤ 4 and a batch ≤ 4
    spec_part, n_part = result.counterexample.split(" N=")
    sizes = [int(s) for s in spec_part.split("sizes=[")[1].split("]")[0].split(", ")]
    assert len(sizes) <= 4 and max(sizes) <= 4 and int(n_part) <= 4, result.counterexample


RESTRICTIONS = sorted({(m.activations, m.losses) for m in bugs.CATALOG}, key=str)


@pytest.mark.parametrize("activations, losses", RESTRICTIONS)
def test_the_correct_code_survives_the_same_hunts(activations, losses):
    """Control: without a mutation the same (restricted) hunts find nothing."""
    control = bugs.Mutation("none", "", (), activations, losses)
    result = bugs.hunt(control, 100)
    assert not result.caught, f"the correct code fails on {result.counterexample}: {result.message}"


def test_injected_restores_the_originals():
    before = (dict(A.ACTIVATIONS), dict(LS.LOSSES), NW.dense_backward, NW.l2_backward, NW.backward)
    for mutation in bugs.CATALOG:
        with bugs.injected(mutation):
            pass
    with pytest.raises(RuntimeError):
        with bugs.injected(bugs.CATALOG[0]):
            assert LS.LOSSES["cross_entropy"] != before[1]["cross_entropy"]
            raise RuntimeError("restored even on error")
    assert (dict(A.ACTIVATIONS), dict(LS.LOSSES), NW.dense_backward, NW.l2_backward, NW.backward) == before
    assert manual.LOSSES is LS.LOSSES


def test_the_catalog_has_at_least_ten_distinct_mistakes():
    assert len(bugs.CATALOG) >= 10
    assert len({m.name for m in bugs.CATALOG}) == len(bugs.CATALOG)
