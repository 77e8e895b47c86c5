"""The bug catalog: classic backprop mistakes, each injected into `manual` and each caught and shrunk
by the property that guards that code.

    python -m dualgrad.bugs                 # every family's table: caught?, examples, shrunk case
    python -m dualgrad.bugs --family conv   # one family

One registry of families (`FAMILIES`): each is a module of this package with
`run_all(max_examples, messages) -> (text, all_caught)` and a `CATALOG`. A new family is one module
and one entry here. The network family's names (`CATALOG`, `Mutation`, `hunt`, `run`, ...) are also
importable from `dualgrad.bugs` itself, as before the catalog became a package.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple, Optional

from .mlp import CATALOG as CATALOG
from .mlp import Mutation as Mutation
from .mlp import describe_case as describe_case
from .mlp import hunt as hunt
from .mlp import run as run
from .mlp import table as table
from .patching import Patch as Patch
from .patching import Result as Result
from .patching import injected as injected


class Family(NamedTuple):
    name: str  # for --family
    module: str  # a module of this package with run_all and CATALOG
    what: str  # one line for --help and the docs
    max_examples: Optional[int] = None  # a cap on the examples per mistake (a slower property)


FAMILIES = (
    Family("network", "mlp", "the MLP: activations' derivatives, losses, dense and L2 backward"),
    Family("layers", "layers", "CS231n layers: batchnorm, layernorm, dropout, embedding, losses, dense"),
    Family("conv", "conv", "convolution and pooling"),
    Family("state", "state", "the training engine: fast step, optimizers, the estimator", max_examples=100),
    Family("sequence", "sequence", "sequences and attention: RNN/LSTM BPTT, temporal loss, GELU, attention"),
)


def family(name: str):
    """The module of the family `name` (ValueError naming the families otherwise)."""
    for entry in FAMILIES:
        if entry.name == name:
            return importlib.import_module(f"{__name__}.{entry.module}")
    raise ValueError(f"unknown bug family {name!r}; valid: {', '.join(f.name for f in FAMILIES)}")


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m dualgrad.bugs",
                                     description="Inject each classic backprop mistake and hunt it with its property.")
    parser.add_argument("--max-examples", type=int, default=300, help="examples per mistake before giving up (300)")
    parser.add_argument("--messages", action="store_true", help="also print each shrunk failure's message")
    parser.add_argument("--family", action="append", choices=[f.name for f in FAMILIES],
                        help="only this family (repeatable; default: all)")
    args = parser.parse_args(argv)
    chosen = [f for f in FAMILIES if not args.family or f.name in args.family]
    all_caught = True
    for k, entry in enumerate(chosen):
        budget = args.max_examples if entry.max_examples is None else min(args.max_examples, entry.max_examples)
        text, caught = family(entry.name).run_all(budget, args.messages)
        print(("\n" if k else "") + text)
        all_caught &= bool(caught)
    return 0 if all_caught else 1
