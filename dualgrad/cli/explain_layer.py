"""`dualgrad explain --layer rnn | lstm | attention [--dims K=V ...] [--batch N] [--mask M] [--seed S]`:
backprop through time step by step, or attention's backward node by node, each step measured against
JAX (dualgrad.explain.sequence, dualgrad.explain.attention). Exit 0 when every step passes, 1 otherwise."""

from __future__ import annotations

from .common import CliError

DIMS = {"rnn": ("T", "D", "H"), "lstm": ("T", "D", "H"), "attention": ("T", "S", "D", "E")}


def parse_dims(items, layer: str) -> dict:
    """{'T': 4, ...} from ['T=4', ...]: names of the layer's dims, each an int (range checked by explain)."""
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or name not in DIMS[layer]:
            raise CliError(f"--dims {item}: expected K=V with K one of {', '.join(DIMS[layer])} for --layer {layer}"
                           + (" (N is --batch)" if name == "N" else ""))
        if name in out:
            raise CliError(f"--dims {name} given twice")
        try:
            out[name] = int(value)
        except ValueError:
            raise CliError(f"--dims {item}: {name} must be an int between 1 and 16") from None
    return out


def run(args) -> int:
    layer = args.layer
    given = [flag for flag, value in (("--hidden", args.hidden), ("--l2", args.l2), ("--plot", args.plot),
                                      ("--loss", args.loss), ("--input", args.input))
             if value is not None] + (["--format markdown"] if args.format != "text" else []) + (
        ["--values"] if args.values else [])
    if given:
        raise CliError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} not for --layer")
    if args.mask is not None and layer != "attention":
        raise CliError("--mask is for --layer attention")
    dims = parse_dims(args.dims, layer)
    if args.batch is not None:
        dims["N"] = args.batch
    try:
        if layer == "attention":
            from ..explain.attention import derive_attention, render_attention

            d = derive_attention(**dims, mask=args.mask or "causal", seed=args.seed)
            text = render_attention(d)
        else:
            from ..explain.sequence import derive_sequence, render_sequence

            d = derive_sequence(layer, **dims, seed=args.seed)
            text = render_sequence(d)
    except (TypeError, ValueError) as err:
        raise CliError(str(err).splitlines()[0]) from None
    print(text)
    return 0 if d.passed else 1
