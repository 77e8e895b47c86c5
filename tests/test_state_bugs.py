"""The fast path's, the optimizers' and the estimator's properties can fail: every mistake of
dualgrad.state_bugs.CATALOG, injected with monkeypatch, is caught and shrunk; without a mutation
the same hunts find nothing."""

import pytest

from dualgrad import state_bugs as S
from test_bug_catalog import inject

MAX_EXAMPLES = 100


@pytest.mark.parametrize("mutation", S.CATALOG, ids=[m.name for m in S.CATALOG])
def test_mutation_is_caught(monkeypatch, mutation):
    inject(monkeypatch, mutation)
    result = S.hunt(mutation, MAX_EXAMPLES)
    print(f"{result.name}: caught after {result.examples} examples; shrunk to {result.counterexample}\n  {result.message}")
    assert result.caught, f"{mutation.name} ({mutation.mistake}) survived {result.calls} examples"


@pytest.mark.parametrize("check, cases", [(S.fast_step_matches_plain, S.fast_cases), (S.optimizer_matches_optax, S.optimizer_cases),
                                          (S.estimator_matches_replica, S.estimator_cases)], ids=["fast", "optimizer", "estimator"])
def test_the_correct_code_survives_the_same_hunts(check, cases):
    result = S.hunt(S.StateMutation("none", "", (), check, cases, ""), MAX_EXAMPLES)
    assert not result.caught, f"the correct code fails on {result.counterexample}: {result.message}"


def test_at_least_ten_distinct_mistakes_over_fast_path_optimizers_and_estimator():
    assert len(S.CATALOG) >= 10 and len({m.name for m in S.CATALOG}) == len(S.CATALOG)
    assert {m.check for m in S.CATALOG} == {S.fast_step_matches_plain, S.optimizer_matches_optax, S.estimator_matches_replica}
