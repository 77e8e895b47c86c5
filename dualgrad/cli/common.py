"""What every command of the command line shares: its error, its option parser and its progress bar."""

from __future__ import annotations

import argparse

DEFAULT_PLOTS = "plots"  # train's plot directory, relative to the working directory


class CliError(Exception):
    """Bad input: reported as one line `dualgrad: error: ...`, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """Options are spelled out in full: a typo such as --size is an error, not a silent --sizes."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):  # one line instead of usage + message, and no sys.exit
        raise CliError(message)


class _Progress:
    """`[#####.....] 30/60` redrawn on one line of stderr; silent when stderr is not a terminal
    (CI logs stay clean)."""

    def __init__(self, total, stream, width=30):
        self.total, self.stream, self.width, self.done = total, stream, width, 0
        self.active = total > 1 and hasattr(stream, "isatty") and stream.isatty()

    def step(self):
        self.done += 1
        if self.active:
            filled = self.width * self.done // self.total
            self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total}")
            self.stream.flush()

    def clear(self):
        """Erase the bar (before a line goes to stdout on the same terminal); the next step redraws it."""
        if self.active:
            self.stream.write("\r" + " " * (self.width + 20) + "\r")
            self.stream.flush()

    def close(self):
        self.clear()


def _import_argument(p):
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="import a module or .py file first (for its register_activation calls); repeatable")


def _load_plugins(args):
    """Import every --import target; any failure is bad input (exit 2), named in one line."""
    from ..engine.registry import import_plugin

    for target in args.imports:
        try:
            import_plugin(target)
        except Exception as err:  # the user's own code: report it, never a traceback
            raise CliError(f"--import {target}: {type(err).__name__}: {err}") from None


def _check_reference_twins(names):
    """Every registered activation must have a JAX twin: `reference.bucketed` compiles one branch
    per activation name, so a single missing twin stops every check, not only those using it."""
    from manual import spec as _spec
    from reference import activations as ref_acts

    missing = [name for name in [*names, *_spec.ACTIVATION_NAMES] if name not in ref_acts.ACTIVATIONS]
    if missing:
        raise CliError(f"activation {missing[0]!r} is registered with manual but has no JAX twin: "
                       "call reference.register_activation too")

def _positive(value, flag):
    if value is not None and value < 1:
        raise CliError(f"{flag} must be a positive int, got {value}")


def _nonnegative(value, flag):
    if value is not None and not (0.0 <= value < float("inf")):
        raise CliError(f"{flag} must be a finite non-negative number, got {value}")
