"""Every kind of wrong input at every public entry point is rejected cleanly (issue 6).

The kinds live in `tests/fuzz/bad_inputs.py` (`KINDS`) (one hypothesis strategy each). For
each kind, several drawn cases must:

- raise ValueError or TypeError, exactly, or one of the project's own subclasses
  (never IndexError, numpy's AxisError / UFuncTypeError, a broadcasting error, a
  JAX error, or a RuntimeWarning: warnings are errors here);
- say what was expected: the message matches the kind's `expect` regex;
- leave parameters, optimizer state, networks, np.random's global state and
  files exactly as they were (snapshot before, compare after).
"""

from __future__ import annotations

import re
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz import bad_inputs
from fuzz.bad_inputs import KINDS, same, snapshot

def _project_error(err) -> bool:
    """ValueError/TypeError themselves, or a subclass defined in manual/, reference/, dualgrad/ or the fuzzer itself (tests/fuzz/: CliRejected)."""
    if type(err) in (ValueError, TypeError):
        return True
    module = type(err).__module__.split(".")[0]
    return isinstance(err, (ValueError, TypeError)) and module in ("manual", "reference", "dualgrad", "fuzz")


def check_rejected(case):
    before = snapshot(case.state)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                result = case.call()
            except Exception as err:  # noqa: BLE001  (its type is what is tested)
                error = err
            else:
                pytest.fail(f"{case.kind}: accepted, returned {type(result).__name__}")
        after = snapshot(case.state)
    finally:
        if case.cleanup is not None:
            case.cleanup()
    assert _project_error(error), f"{case.kind}: raised {type(error).__module__}.{type(error).__name__}: {error}"
    message = str(error)
    assert re.search(case.expect, message), (
        f"{case.kind}: the message does not say what was expected\n  message: {message}\n  should match: {case.expect}")
    assert same(before, after), f"{case.kind}: the rejected call changed its arguments or state"


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings(max_examples=6)
@given(data=st.data())
def test_bad_input_is_rejected(kind, data):
    check_rejected(data.draw(KINDS[kind](), label="case"))


def test_count_of_bad_input_kinds():
    """The number README states. It changes only when kinds are added or removed."""
    counts = bad_inputs.count()
    print(f"bad-input kinds: {counts}")
    assert counts == {"kinds": 529, "corruptions": 140, "entry_points": 76}
