"""The `dualgrad` command: verify, explain, train.

    dualgrad verify                       # a seeded sweep of 60 random networks (every activation, every loss)
    dualgrad verify --sizes 10 64 3 --hidden relu --loss cross_entropy --batch 32 --seed 0 [--fd] [--l2 0.01]
    dualgrad explain --sizes 10 64 3 [--hidden relu] [--loss cross_entropy] [--batch 32] [--format markdown]
    dualgrad explain --sizes 2 8 1 --batch 4 --plot graph.png   # and the computation graph, drawn
    dualgrad explain --stack "dense:16 batchnorm tanh dense:3" --input 8 [--values]   # a stack of layers
    dualgrad explain --stack "conv:4:3:1:1 relu maxpool:2 flatten dense:3" --input 1 8 8   # a conv stack
    dualgrad train moons --hidden-sizes 16 16 --optimizer adam --epochs 200 --out plots/ [--check]
    dualgrad verify --import my_activations.py --hidden softsign    # a user's registered activation
    dualgrad verify --impl my_net.py:loss_and_grads --hidden relu --loss binary_cross_entropy --bias row
                                          # your own backprop, on random networks (dualgrad.verify_impl)

Exit status: 0 success; 1 a gradient check failed (verify, explain, train --check);
2 bad input (one line `dualgrad: error: ...` on stderr, never a traceback);
3 training diverged (the loss or a gradient became NaN or infinite).
Output is deterministic for a given seed. A progress bar is drawn on stderr
only when stderr is a terminal.

`train` writes loss.png (and boundary.png for 2-D data) into plots/ or `--out DIR`
(`--no-plots`: none). The plots need matplotlib (`pip install 'dualgrad[plot]'`):
without it the default run trains and says how to install it; an explicit
`--out DIR` stops with exit status 2 before training, rather than train and
write nothing.

`dualgrad verify --json` prints one JSON object (and nothing else) on stdout:

    {
      "command": "verify",
      "version": str,                 # dualgrad.__version__
      "seed": int,
      "fd": bool,                     # finite differences computed
      "passed": bool,                 # every leaf of every network within tolerance
      "n_networks": int, "n_failed_networks": int,
      "n_leaves": int, "n_failed_leaves": int,
      "networks": [                   # one per checked network, in order
        {
          "id": int,                  # 1-based, as in the table
          "implementation": str,      # what was checked: "manual.loss_and_grads", or --impl's function
          "conventions": {...} | null,  # --impl's conventions (layout, bias, reduction, mse, head, kink, targets)
          "spec": {"sizes": [int], "hidden": [str], "loss": str, "l2": float},
          "batch": int,               # N
          "loss": float, "loss_reference": float,   # the checked and the jax values of the loss
          "loss_passed": bool,        # within loss_rtol
          "output_max_rel_err": float | null, "output_passed": bool | null,  # when --impl returns the output
          "fd": bool,
          "tolerance": {"rtol": 1e-9, "atol": 1e-12, "loss_rtol": 1e-6,  # vs jax.grad
                        "fd_step": 1e-6, "fd_rtol": 1e-5, "fd_loss_atol": 1e-7},  # fd keys only with --fd
          "functions_passed": bool,   # registered activations/losses agree with their JAX twins elementwise
          "passed": bool,
          "notes": [str],             # diagnoses: forwards that differ, a kink convention, a factor N, ...
          "rows": [                   # layer 1 dW, layer 1 db, layer 2 dW, ...
            {
              "layer": int,           # 1-based
              "name": "dW" | "db",
              "shape": [int],
              "max_abs_err": float,   # max |manual − jax.grad|
              "max_rel_err": float,   # max |manual − jax.grad| / max(|jax.grad|, floor)
              "fd_max_abs_err": float | null,   # max |manual − FD| off kinks; null without --fd
              "fd_max_rel_err": float | null,
              "fd_passed": bool | null,
              "on_kink": bool,        # some entry's ±h straddles a kink (not failed)
              "n_on_kink": int,
              "passed": bool
            }
          ]
        }
      ]
    }

Errors are null when not finite (a NaN or a shape mismatch; `passed` is false then).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional

from ..engine.report import LOSS_ABBREVIATIONS, describe_network
from .common import (DEFAULT_PLOTS, CliError, _check_reference_twins, _import_argument, _load_plugins,
                     _nonnegative, _Parser, _positive, _Progress)

# NOTE: nothing heavy at import time: jax is imported by the subcommands that need it,
# so `dualgrad --help` and argument errors answer at once.

DEFAULT_EXAMPLES = 60


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 a check failed, 2 bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "run", None):
            raise CliError("choose a command: verify, explain, train or predict (dualgrad --help)")
        return args.run(args)
    except CliError as err:
        print(f"dualgrad: error: {err}", file=sys.stderr)
        return 2
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else 0
    except BrokenPipeError:  # `dualgrad ... | head`: the reader left; stop quietly
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        except (OSError, ValueError):
            pass
        return 1
    except KeyboardInterrupt:
        print("\ndualgrad: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(prog="dualgrad", description="Hand-written NumPy backprop, checked against jax.grad.")
    parser.add_argument("--version", action="version", version=f"dualgrad {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    verify = sub.add_parser("verify", help="check gradients against jax.grad (a sweep, or one network)",
                            description="Without --sizes: a seeded sweep of random networks covering every "
                                        "activation and loss. With --sizes: that one network.")
    _network_arguments(verify, sizes_required=False)
    verify.add_argument("--examples", type=int, metavar="N",
                        help=f"networks in the sweep (default {DEFAULT_EXAMPLES}; not with --sizes)")
    verify.add_argument("--fd", action="store_true", help="add central finite differences (kinks marked, not failed)")
    verify.add_argument("--json", action="store_true", help="print a JSON report instead of the table")
    from .verify_impl import add_arguments as _impl_arguments

    _impl_arguments(verify)
    from .verify_stack import add_arguments as _stack_arguments

    _stack_arguments(verify)
    verify.set_defaults(run=_verify)

    explain = sub.add_parser("explain", help="the derivation of one network, step by step",
                             description="Parameters, forward and backward steps with shapes, and each "
                                         "gradient's measured error against jax.grad.")
    _network_arguments(explain, sizes_required=False)
    explain.add_argument("--stack", metavar="LAYERS",
                         help="a stack instead of --sizes, e.g. 'dense:16 batchnorm tanh dense:3' with --input 8, or "
                              "'conv:4:3:1:1 relu maxpool:2 flatten dense:3' with --input 1 8 8 (dualgrad.explain_stack)")
    explain.add_argument("--input", type=int, nargs="+", metavar="D",
                         help="with --stack: the input features D (the vocabulary for an embedding), or C H W")
    explain.add_argument("--layer", choices=("rnn", "lstm", "attention"),
                         help="a sequence layer instead of --sizes: backprop through time step by step (rnn, lstm) "
                              "or attention's backward node by node, each step against JAX (dualgrad.explain_sequence)")
    explain.add_argument("--dims", nargs="+", metavar="K=V",
                         help="with --layer: sizes, e.g. T=4 H=3 (rnn, lstm: T D H; attention: T S D E; "
                              "N is --batch); each 1 to 16")
    explain.add_argument("--mask", choices=("none", "all", "causal", "random"),
                         help="with --layer attention: the (T, S) mask (default causal)")
    explain.add_argument("--values", action="store_true",
                         help="also print the numbers: each δ and dW (MLP), each dx and dparam (stack)")
    explain.add_argument("--hvp", action="store_true",
                         help="with --sizes: derive H·V instead, the R-forward and R-backward steps per layer, each "
                              "measured against jax.jvp of jax.grad (batch default 4; dualgrad.explain.second_order)")
    explain.add_argument("--format", choices=("text", "markdown"), default="text")
    explain.add_argument("--plot", metavar="FILE", help="also draw the computation graph into FILE (.png or .svg; "
                                                        "needs matplotlib: pip install 'dualgrad[plot]')")
    explain.set_defaults(run=_explain)

    train = sub.add_parser("train", help="train an MLP on a toy data set or a CSV file",
                           description="DATASET: xor, blobs, moons, circles, spirals, or a CSV path "
                                       "(label in the last column unless --label-column).")
    from .train import add_predict_arguments, add_train_arguments, run_predict, run_train

    add_train_arguments(train, _import_argument)
    train.set_defaults(run=run_train)
    predict = sub.add_parser("predict", help="apply a model saved by `train --save` to a CSV file",
                             description="One prediction per row of DATA.csv, as CSV on stdout or in --out FILE.")
    add_predict_arguments(predict)
    predict.set_defaults(run=run_predict)
    return parser


def _network_arguments(p, sizes_required: bool):
    _import_argument(p)
    p.add_argument("--sizes", type=int, nargs="+", required=sizes_required, metavar="S",
                   help="layer sizes: inputs, hidden..., outputs (e.g. 10 64 3)")
    p.add_argument("--hidden", nargs="+", metavar="NAME",
                   help="one activation for every hidden layer, or one per hidden layer (default relu)")
    p.add_argument("--loss", help="binary_cross_entropy | cross_entropy | mse (default: by the output count)")
    p.add_argument("--batch", type=int, metavar="N", help="rows in the random batch (default 32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--l2", type=float, help="L2 strength λ (default 0; the sweep draws it)")


def _spec_from(sizes, hidden, loss, l2):
    """A NetworkSpec from command-line values, or CliError with the spec's own message."""
    from manual.spec import NetworkSpec

    if loss is None:
        loss = "cross_entropy" if sizes[-1] >= 2 else "binary_cross_entropy"
    hidden = hidden or ["relu"]
    try:
        return NetworkSpec(sizes, hidden[0] if len(hidden) == 1 else hidden, loss, l2 or 0.0)
    except (TypeError, ValueError) as err:
        raise CliError(str(err)) from None


# ---- verify -----------------------------------------------------------------


def _verify(args) -> int:
    _load_plugins(args)
    _positive(args.examples, "--examples")
    _positive(args.batch, "--batch")
    _nonnegative(args.l2, "--l2")
    if args.seed < 0:
        raise CliError(f"--seed must be a non-negative int, got {args.seed}")
    if args.stack is not None:
        from .verify_stack import run as run_stack

        return run_stack(args)
    if args.input is not None:
        raise CliError("--input is for --stack")
    _verify_impl_flags(args)
    if args.impl is not None:
        from .verify_impl import run as run_impl

        return run_impl(args, lambda hidden: None if not hidden else hidden[0] if len(hidden) == 1 else hidden)
    if args.sizes is not None:
        if args.examples is not None:
            raise CliError("--examples is for the sweep; with --sizes one network is checked")
        spec = _spec_from(args.sizes, args.hidden, args.loss, args.l2)
        cases = None
    else:
        spec = None
        _check_sweep_names(args.hidden, args.loss)
    from manual import spec as _spec

    _check_reference_twins(spec.hidden if spec is not None else (args.hidden or _spec.ACTIVATION_NAMES))
    from ..engine.check import check_gradients, random_case, sweep_cases

    if spec is not None:
        cases = [(spec, *random_case(spec, args.batch or 32, args.seed))]
        total = 1
    else:
        total = args.examples or DEFAULT_EXAMPLES
        cases = sweep_cases(total, args.seed, activations=args.hidden, losses=[args.loss] if args.loss else None,
                            l2=args.l2, batch=args.batch)
    reports = []
    progress = _Progress(total, sys.stderr)
    for spec_i, params, X, y in cases:
        reports.append(check_gradients(spec_i, params, X, y, fd=args.fd))
        progress.step()
    progress.close()
    if args.json:
        print(json.dumps(verify_json(reports, args.seed, args.fd), indent=2))
    else:
        if spec is None:
            print(_sweep_heading(reports, args.seed))
        print(verify_table(reports, args.fd))
    return 0 if all(r.passed for r in reports) else 1


def _verify_impl_flags(args):
    """The --impl options are for --impl only; its bounds are positive."""
    from .verify_impl import CONVENTION_FLAGS

    given = [f"--{k.replace('_', '-')}" for k in CONVENTION_FLAGS if getattr(args, k) is not None]
    given += ["--scale"] if args.scale is not None else []
    given += ["--kind"] if args.kind is not None else []
    if args.impl is None and given:
        raise CliError(f"{', '.join(given)} describe{'s' if len(given) == 1 else ''} your own implementation: "
                       "use with --impl FILE.py:FUNCTION")
    for flag in ("max_layers", "max_width", "max_batch"):
        _positive(getattr(args, flag), "--" + flag.replace("_", "-"))


def _check_sweep_names(hidden, loss):
    from manual import spec as _spec

    for name in hidden or []:
        if name not in _spec.ACTIVATION_NAMES:
            raise CliError(f"unknown activation {name!r}; valid names: {', '.join(_spec.ACTIVATION_NAMES)}")
    if loss is not None and loss not in _spec.LOSS_NAMES:
        raise CliError(f"unknown loss {loss!r}; valid names: {', '.join(_spec.LOSS_NAMES)}")


def _sweep_heading(reports, seed) -> str:
    acts = sorted({name for r in reports for name in r.spec.hidden})
    losses = sorted({r.spec.loss for r in reports})
    legend = ", ".join(f"{LOSS_ABBREVIATIONS.get(name, name)} = {name}" for name in losses)
    return (f"dualgrad verify: {len(reports)} random networks (seed {seed}) against jax.grad, "
            f"{len(acts)} hidden activation{'s' if len(acts) != 1 else ''} ({', '.join(acts)}), {len(losses)} losses ({legend})\n")


def verify_table(reports, fd: bool) -> str:
    from ..engine.report import summary_text, table_lines

    rows, ids, names = [], [], []
    for k, report in enumerate(reports, start=1):
        for r, row in enumerate(report):
            rows.append(row)
            ids.append(str(k).rjust(3))
            names.append(describe_network(report.spec, report.batch) if r == 0 else "")
    width = max(len("network"), *(len(n) for n in names))
    header, lines = table_lines(rows, fd, prefix=[("net", 3, ids), ("network", width, names)])
    failed = [k for k, report in enumerate(reports, start=1) if not report.passed]
    n = len(reports)
    nets = f"{n} network{'s' if n != 1 else ''}"
    if failed:
        verdict = f"FAIL: {len(failed)} of {nets} out of tolerance (net {', '.join(map(str, failed))}); "
    else:
        verdict = f"PASS: {nets}, "
    notes = [f"net {k}: {note}" for k, report in enumerate(reports, start=1) if not report.passed
             for note in report.notes]
    return "\n".join([header, *lines, "", *notes, verdict + summary_text(rows)])


def verify_json(reports, seed, fd) -> dict:
    from .. import __version__

    leaves = [row for report in reports for row in report]
    return {
        "command": "verify",
        "version": __version__,
        "seed": seed,
        "fd": bool(fd),
        "passed": all(r.passed for r in reports),
        "n_networks": len(reports),
        "n_failed_networks": sum(not r.passed for r in reports),
        "n_leaves": len(leaves),
        "n_failed_leaves": sum(not row.passed for row in leaves),
        "networks": [{"id": k, **r.to_dict()} for k, r in enumerate(reports, start=1)],
    }


# ---- explain ----------------------------------------------------------------


def _explain(args) -> int:
    _load_plugins(args)
    _positive(args.batch, "--batch")
    _nonnegative(args.l2, "--l2")
    if args.seed < 0:
        raise CliError(f"--seed must be a non-negative int, got {args.seed}")
    chosen = sum(value is not None for value in (args.sizes, args.stack, args.layer))
    if chosen != 1:
        raise CliError("explain needs exactly one of --sizes S S ... (an MLP) or --stack LAYERS --input D (a stack) "
                       "or --layer rnn|lstm|attention (a sequence layer)")
    if args.layer is not None:
        from .explain_layer import run as run_layer

        return run_layer(args)
    if args.dims is not None or args.mask is not None:
        raise CliError(f"{'--dims' if args.dims is not None else '--mask'} is for --layer")
    if args.stack is not None:
        if args.hvp:
            raise CliError("--hvp derives H·V of an MLP: use it with --sizes, not --stack")
        return _explain_stack(args)
    if args.input is not None:
        raise CliError("--input is for --stack; an MLP's inputs are the first of --sizes")
    spec = _spec_from(args.sizes, args.hidden, args.loss, args.l2)
    _check_reference_twins(spec.hidden)
    if args.hvp:
        from .explain_hvp import run as run_hvp

        return run_hvp(args, spec)
    if args.plot is not None:
        _check_plot_file(args.plot)
    from ..explain.network import explain_result

    result = explain_result(spec, batch=args.batch or 32, seed=args.seed, fmt=args.format, values=args.values)
    print(result.text)
    if args.plot is not None:
        from ..explain.graph_plot import draw_graph

        try:
            draw_graph(spec, args.plot, batch=args.batch or 32, seed=args.seed)
        except OSError as err:
            raise CliError(f"--plot {args.plot}: cannot write it: {err.strerror or err}") from None
        print(f"wrote {args.plot}")
    return 0 if result.passed else 1


def _explain_stack(args) -> int:
    """explain --stack: every layer's forward and backward, measured (dualgrad.explain_stack)."""
    given = [flag for flag, value in (("--hidden", args.hidden), ("--l2", args.l2), ("--plot", args.plot))
             if value is not None] + (["--format markdown"] if args.format != "text" else [])
    if given:
        raise CliError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for --sizes networks, not --stack")
    if args.input is None:
        raise CliError("--stack needs --input: D features (the vocabulary for an embedding first) or C H W")
    from ..explain.stack import derive_stack, render_stack, stack_from_arguments

    try:
        stack = stack_from_arguments(args.stack, args.input, args.loss)
        derivation = derive_stack(stack, batch=args.batch or 4, seed=args.seed)
    except (TypeError, ValueError) as err:
        raise CliError(str(err).splitlines()[0]) from None
    print(render_stack(derivation, values=args.values))
    return 0 if derivation.passed else 1


def _check_plot_file(path):
    """--plot FILE: a .png or .svg in an existing directory, and matplotlib installed (else exit 2 at once)."""
    from ..apps.train import PLOT_INSTALL, plot_support

    if os.path.splitext(path)[1].lower() not in (".png", ".svg"):
        raise CliError(f"--plot {path}: the file must end in .png or .svg")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise CliError(f"--plot {path}: no such directory {folder!r}")
    if not plot_support():
        raise CliError(f"--plot needs matplotlib to draw the graph: {PLOT_INSTALL}")


# ---- train, predict: dualgrad/train_command.py ------------------------------
