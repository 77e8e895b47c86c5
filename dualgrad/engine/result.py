"""The result of a property check over many random cases (`check_implementation`, `check_layer`).

    result = check_implementation(my_loss_and_grads, hidden="relu", loss="cross_entropy")
    result.passed          # every example ran and matched
    result.examples        # how many examples ran (shrinking steps not counted)
    result.counterexample  # the shrunk failing case, or None
    print(result.message)  # first line: what failed (layer and parameter), then both values
    result.report          # the detailed report of the shrunk case, or None

A check never raises for code that computes wrong values: that is a result with
passed=False. It raises ValueError/TypeError for bad arguments to the check itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class CheckResult:
    """What a property check found.

    passed          -- True when every example ran and matched, and at least one ran.
    examples        -- examples generated and run before the verdict (not counting shrinking).
    counterexample  -- the shrunk failing case (its form depends on the check), or None.
    message         -- one line per finding; the first names what failed. "" when passed.
    report          -- the check's detailed report of the shrunk case (a GradientReport for
                       networks, a LayerReport for layers), or None when passed.
    seed            -- the seed the examples were drawn from.
    """

    passed: bool
    examples: int
    counterexample: Optional[Any] = None
    message: str = ""
    report: Optional[Any] = None
    seed: int = 0

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        if self.passed:
            return f"PASS: {self.examples} examples (seed {self.seed})"
        return f"FAIL after {self.examples} examples (seed {self.seed}): {self.message}"


ALL_REJECTED = ("no example could be run: every drawn case was rejected (units within rounding of a kink); "
                "widen sizes or scale")


def search_ended(ran: int, seed: int, rejected: bool = False) -> CheckResult:
    """The result of a search that found no failing case: PASS only when at least one example ran.

    rejected -- hypothesis gave up because every drawn case was rejected (Unsatisfiable).
    """
    if rejected:
        return CheckResult(False, ran, None, ALL_REJECTED, None, seed)
    if ran == 0:
        return CheckResult(False, 0, None, "no example ran", None, seed)
    return CheckResult(True, ran, None, "", None, seed)
