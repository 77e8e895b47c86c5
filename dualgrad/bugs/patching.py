"""How a mistake is put into `manual` and taken out again: a `Patch` names the place, `injected`
installs a mutation's patches and restores the originals, `Result` is one hunt's outcome."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, NamedTuple, Optional, Tuple


class Patch(NamedTuple):
    """Replace `owner[key]` (a dict) or `owner.key` (a module) by `make(original)`."""

    owner: Any
    key: str
    make: Callable[[Any], Any]


@contextmanager
def injected(mutation):
    """Install the mutation's patches (its `.patches`: `Patch` entries) into `manual`, and restore the originals afterwards."""
    saved = []
    try:
        for owner, key, make in mutation.patches:
            is_dict = isinstance(owner, dict)
            original = owner[key] if is_dict else getattr(owner, key)
            saved.append((owner, key, original, is_dict))
            if is_dict:
                owner[key] = make(original)
            else:
                setattr(owner, key, make(original))
        yield
    finally:
        for owner, key, original, is_dict in reversed(saved):
            if is_dict:
                owner[key] = original
            else:
                setattr(owner, key, original)


class Result(NamedTuple):
    name: str
    drawn_from: str  # the hunt's restriction, or "any network"
    caught: bool
    examples: Optional[int]  # examples generated up to and including the first failing one
    calls: int  # property calls in all, shrinking included
    counterexample: str  # the shrunk case: sizes, hidden, loss, l2, N
    message: str  # the property's failure on the shrunk case, first line


def failure_of(check, case) -> Optional[str]:
    """`check(case)`'s failure, first line (prefixed by the exception's type unless an AssertionError),
    or None when it passes. Any exception is a failure: the test suite would fail on it too. Hypothesis'
    UnsatisfiedAssumption (a case the property rejects) is not a failure: it propagates."""
    from hypothesis.errors import UnsatisfiedAssumption

    try:
        check(case)
    except UnsatisfiedAssumption:
        raise
    except Exception as err:
        kind = "" if isinstance(err, AssertionError) else f"{type(err).__name__}: "
        return kind + (str(err).splitlines() or [""])[0]
    return None


def hunt_with(name: str, drawn_from: str, strategy, failure, describe, max_examples: int) -> Result:
    """Search `strategy` (seeded, no database) for a case on which `failure(case)` returns a message,
    and shrink it: every family's hunt. Installs nothing itself (wrap it in `injected`).

    failure(case) -> the failure's first line, or None when the code as installed passes on `case`."""
    from hypothesis import HealthCheck, Phase, find, settings
    from hypothesis.errors import NoSuchExample

    calls, first = [0], [None]

    def fails(case) -> bool:
        calls[0] += 1
        failed = failure(case) is not None
        if failed and first[0] is None:
            first[0] = calls[0]
        return failed

    options = settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
                       phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    try:
        case = find(strategy, fails, settings=options)
    except NoSuchExample:
        return Result(name, drawn_from, False, None, calls[0], "", "")
    return Result(name, drawn_from, True, first[0], calls[0], describe(case), failure(case) or "")


def table(results, second_column: str, second: Callable[[Any], str]) -> str:
    """The markdown table of a family's hunts: mutation | `second_column` | caught | examples | shrunk case."""
    lines = [f"| mutation | {second_column} | caught | examples until caught | shrunk counterexample |",
             "|---|---|---|---|---|"]
    for r in results:
        examples = r.examples if r.caught else f"not in {r.calls}"
        lines.append(f"| {r.name} | {second(r)} | {'yes' if r.caught else 'NO'} | {examples} | {r.counterexample} |")
    return "\n".join(lines)


def summary(text: str, results, what: str, messages: bool, seconds: Optional[float] = None,
            max_examples: Optional[int] = None) -> Tuple[str, bool]:
    """(the table, each caught mistake's message if asked, and 'k of n <what> caught ...'; every one caught?)."""
    caught = [r for r in results if r.caught]
    if messages:
        text += "\n\n" + "\n".join(f"- {r.name}: {r.message}" for r in caught)
    line = f"{len(caught)} of {len(results)} {what} caught"
    if caught and max_examples is not None:
        examples = sorted(r.examples for r in caught)
        line += (f"; examples until caught: median {examples[len(examples) // 2]}, max {examples[-1]} "
                 f"(of at most {max_examples})")
    if seconds is not None:
        line += f"; {seconds:.1f} s in all, shrinking included"
    return f"{text}\n\n{line}", len(caught) == len(results)


def family_main(run_all, description: str, max_examples: int = 300):
    """`main(argv) -> exit code` for `python -m dualgrad.bugs.<family>`: the family's table, 0 if all caught."""

    def main(argv=None) -> int:
        import argparse

        parser = argparse.ArgumentParser(description=description)
        parser.add_argument("--max-examples", type=int, default=max_examples,
                            help=f"examples per mutation before giving up ({max_examples})")
        parser.add_argument("--messages", action="store_true", help="also print each shrunk failure's message")
        args = parser.parse_args(argv)
        text, all_caught = run_all(args.max_examples, args.messages)
        print(text)
        return 0 if all_caught else 1

    return main
