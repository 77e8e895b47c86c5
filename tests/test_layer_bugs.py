"""The layer property can fail: every classic layer mistake of dualgrad.layer_bugs.CATALOG is caught
and shrunk (issue 12). `python -m dualgrad.layer_bugs` prints the same as a table."""

import pytest

from dualgrad import layer_bugs


@pytest.mark.parametrize("mutation", layer_bugs.CATALOG, ids=[m.name for m in layer_bugs.CATALOG])
def test_layer_mistake_is_caught_and_shrunk(mutation):
    result = layer_bugs.hunt(mutation, max_examples=300)
    assert result.caught, f"{mutation.name} ({mutation.mistake}) survived {result.examples} examples"
    dims = dict(part.split("=") for part in result.counterexample.split() if part[:1].isupper())
    assert all(int(v) <= 3 for v in dims.values()), result.counterexample  # shrunk to a readable case
    assert result.message


def test_the_catalog_has_at_least_twelve_distinct_layer_mistakes():
    assert len(layer_bugs.CATALOG) >= 12
    assert len({m.name for m in layer_bugs.CATALOG}) == len(layer_bugs.CATALOG)
