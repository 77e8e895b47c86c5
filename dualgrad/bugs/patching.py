"""How a mistake is put into `manual` and taken out again: a `Patch` names the place, `injected`
installs a mutation's patches and restores the originals, `Result` is one hunt's outcome."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, NamedTuple, Optional


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
