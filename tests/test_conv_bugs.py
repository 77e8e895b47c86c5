"""The conv/pool properties can fail: every mistake of dualgrad.conv_bugs.CATALOG, injected into
manual.layers with monkeypatch, is caught and shrunk to a small image and kernel (issue 13)."""

import pytest

from dualgrad import conv_bugs
from manual.layers import conv as CV
from manual.layers import flatten as FL
from manual.layers import pool as PL

MAX_EXAMPLES = 300


def inject(monkeypatch, mutation):
    for owner, key, make in mutation.patches:
        monkeypatch.setattr(owner, key, make(getattr(owner, key)))


@pytest.mark.parametrize("mutation", conv_bugs.CATALOG, ids=[m.name for m in conv_bugs.CATALOG])
def test_mutation_is_caught_and_shrunk(monkeypatch, mutation):
    inject(monkeypatch, mutation)
    result = conv_bugs.hunt(mutation, MAX_EXAMPLES)
    print(f"{result.name}: caught after {result.examples} examples; shrunk to {result.counterexample}\n  {result.message}")
    assert result.caught, f"{mutation.name} ({mutation.mistake}) survived {result.calls} examples"
    sizes = [int(t.split("=")[1]) for t in result.counterexample.split() if t[:2] in ("N=", "C=", "F=")]
    assert all(s <= 2 for s in sizes), result.counterexample  # shrunk: one image, at most 2 channels/filters


@pytest.mark.parametrize("layer", sorted(conv_bugs.LAYERS))
def test_the_correct_code_survives_the_same_hunts(layer):
    control = conv_bugs.Mutation("none", "", layer, ())
    result = conv_bugs.hunt(control, 100)
    assert not result.caught, f"the correct {layer} fails on {result.counterexample}: {result.message}"


def test_injected_restores_the_originals():
    before = [getattr(m, n) for m, n in ((CV, "conv2d_backward"), (CV, "col2im"), (CV, "im2col"),
                                         (PL, "maxpool2d_forward"), (PL, "maxpool2d_backward"),
                                         (PL, "avgpool2d_backward"), (FL, "flatten_backward"))]
    for mutation in conv_bugs.CATALOG:
        with conv_bugs.injected(mutation):
            pass
    after = [getattr(m, n) for m, n in ((CV, "conv2d_backward"), (CV, "col2im"), (CV, "im2col"),
                                        (PL, "maxpool2d_forward"), (PL, "maxpool2d_backward"),
                                        (PL, "avgpool2d_backward"), (FL, "flatten_backward"))]
    assert before == after


def test_the_catalog_has_at_least_eight_distinct_mistakes():
    assert len(conv_bugs.CATALOG) >= 8 and len({m.name for m in conv_bugs.CATALOG}) == len(conv_bugs.CATALOG)
