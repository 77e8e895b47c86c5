"""`dualgrad explain --sizes ... --hvp`: H·V of one MLP derived step by step (dualgrad.explain.second_order)."""

from __future__ import annotations


def run(args, spec) -> int:
    """Print the derivation; 0 when every measured step is within tolerance, else 1; CliError for bad input."""
    from .common import CliError

    given = [flag for flag, value in (("--plot", args.plot), ("--values", args.values or None)) if value is not None]
    given += ["--format markdown"] if args.format != "text" else []
    if given:
        raise CliError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} not available with --hvp")
    from ..explain.second_order import derive_hvp, render_hvp

    try:
        derivation = derive_hvp(spec, batch=args.batch or 4, seed=args.seed)
    except (TypeError, ValueError) as err:
        raise CliError(" ".join(str(err).split())) from None
    print(render_hvp(derivation))
    return 0 if derivation.passed else 1
