"""Shared by the tests of the one network description (test_stacks, test_stack_sequences, test_stack_check).

`manual_fn(text, n_in)` is dualgrad's own manual.stack in the shape of a user's fn(params, X, y);
`first_failing_stack(cases, examples)` is the random stack on which the stack property fails first.
"""

from __future__ import annotations

from hypothesis import HealthCheck, find, settings

from dualgrad.engine import stack_property as P
from manual import stack as S
from manual.stack_spec import StackSpec


def manual_fn(text, n_in):
    """dualgrad's own manual.stack as a user's fn(params, X, y) -> (loss, grads)."""
    spec = StackSpec.parse(text, n_in)

    def fn(params, X, y):
        loss, grads, _ = S.loss_and_grads(spec, params, X, y)
        return loss, grads

    return fn


def first_failing_stack(cases, examples):
    """(case, message): the (shrunk) case of `cases` on which P.stack_gradients_match fails, and its message.

    Derandomized and without a database, so the same case every run; hypothesis raises NoSuchExample
    when no case in `examples` fails.
    """
    messages = []

    def fails(case):
        try:
            P.stack_gradients_match(case)
        except AssertionError as err:
            messages.append(str(err))
            return True
        return False

    case = find(cases, fails, settings=settings(max_examples=examples, database=None, derandomize=True,
                                                deadline=None, suppress_health_check=list(HealthCheck)))
    fails(case)  # the message of the case returned, not of the last one tried while shrinking
    return case, messages[-1]
