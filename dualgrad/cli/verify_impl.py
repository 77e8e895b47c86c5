"""`dualgrad verify --impl FILE.py:FUNCTION`: a user's backprop through `check_implementation`.

    dualgrad verify --impl my_net.py:loss_and_grads --hidden relu --loss binary_cross_entropy --bias row
    dualgrad verify --impl my_pkg.backprop:loss_and_grads --layout out_in --reduction sum --examples 500

The function is loaded from a .py file or an importable module (`module:function`,
`module:Class.method` for a static or class method); the check is the property of
`dualgrad.check_implementation`, with the same conventions as flags. On a failure the
shrunk counterexample's table is printed, then the case itself (spec, params in your
layout, X, y), and the exit status is 1. A file that does not import, a name that is
not there, or a function that raises or returns something that cannot be compared
is bad input: one line `dualgrad: error: ...` and exit status 2.
"""

from __future__ import annotations

import json

import numpy as np

CONVENTION_FLAGS = ("layout", "bias", "reduction", "mse", "head", "kink", "targets", "l2_form")


def add_arguments(verify) -> None:
    """The --impl options of `dualgrad verify`."""
    from ..engine.conventions import BIASES, HEADS, KINKS, L2_FORMS, LAYOUTS, MSE_FORMS, REDUCTIONS, TARGETS

    group = verify.add_argument_group("checking your own backprop (--impl)")
    group.add_argument("--impl", metavar="FILE.py:FUNCTION",
                       help="check your function fn(params, X, y) -> (loss, grads) on random networks "
                            "(also module:function)")
    from ..engine.second_order_check import KINDS

    group.add_argument("--kind", choices=KINDS,
                       help="what your function computes: gradients [default] fn(params, X, y) -> (loss, grads); "
                            "per_example fn(params, X, y) -> [(dW (N, ...), db (N, ...)), ...]; weighted "
                            "fn(params, X, y, sample_weight) -> (loss, grads); hvp, ggn fn(params, X, y, V) -> [(dW, db), ...]")
    group.add_argument("--layout", choices=LAYOUTS, help="W (fan_in, fan_out) [in_out, default] or (fan_out, fan_in)")
    group.add_argument("--bias", choices=BIASES, help="b (fan_out,) [vector, default], (1, fan_out) or (fan_out, 1)")
    group.add_argument("--reduction", choices=REDUCTIONS, help="loss over the batch: mean [default] or sum")
    group.add_argument("--mse", choices=MSE_FORMS, help="per-example squared error: mean [default] = (1/K)Σ, "
                                                        "half_mean = (1/2K)Σ, half = ½Σ, sum = Σ")
    group.add_argument("--head", choices=HEADS, help="output activation when not the loss's own (sigmoid with mse)")
    group.add_argument("--kink", choices=KINKS, help="jax [default]: relu'(0) = 0; either: any one-sided derivative at z = 0")
    group.add_argument("--targets", choices=TARGETS, help="y as labels [default] or the target matrix (one-hot)")
    group.add_argument("--l2-form", choices=L2_FORMS, dest="l2_form",
                       help="the L2 penalty your loss adds: half [default] = (λ/2)Σ‖W‖², full = λΣ‖W‖²")
    group.add_argument("--scale", type=float, nargs=2, metavar=("LO", "HI"),
                       help="input magnitudes drawn (default 0.1 1; wider finds overflow)")
    group.add_argument("--max-layers", type=int, default=3, metavar="L", help="default 3")
    group.add_argument("--max-width", type=int, default=8, metavar="W", help="default 8")
    group.add_argument("--max-batch", type=int, default=16, metavar="N", help="default 16")


def load_function(target: str):
    """The function named by 'FILE.py:NAME' or 'module:NAME' (NAME may be dotted); CliError otherwise."""
    from .common import CliError
    from ..engine.registry import import_plugin

    if ":" not in target or target.endswith(":") or target.startswith(":"):
        raise CliError(f"--impl {target}: expected FILE.py:FUNCTION or module:function")
    where, name = target.rsplit(":", 1)
    try:
        module = import_plugin(where)
    except Exception as err:  # the user's file: its error in one line, never a traceback
        raise CliError(f"--impl {target}: {where} does not import: {type(err).__name__}: {_one_line(err)}") from None
    obj = module
    for part in name.split("."):
        if not hasattr(obj, part):
            available = sorted(n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n)))
            raise CliError(f"--impl {target}: {where} has no {name!r}; callables there: {', '.join(available) or 'none'}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise CliError(f"--impl {target}: {name} is a {type(obj).__name__}, not a function")
    return obj


def run(args, parse_hidden) -> int:
    """verify --impl: returns the exit status (0 pass, 1 fail); CliError for bad input."""
    from .common import CliError
    from ..engine.implementation import ImplementationError
    from ..engine.user_check import DEFAULT_SCALE, check_implementation

    if args.fd:
        raise CliError("--fd is for dualgrad's own networks; --impl compares with jax.grad only")
    if args.batch is not None:
        raise CliError("--batch is for dualgrad's own networks; with --impl use --max-batch")
    fn = load_function(args.impl)
    conventions = {k: getattr(args, k) for k in CONVENTION_FLAGS if getattr(args, k) is not None}
    options = dict(examples=args.examples or 200, seed=args.seed, sizes=args.sizes, hidden=parse_hidden(args.hidden),
                   loss=args.loss, l2=args.l2, max_layers=args.max_layers, max_width=args.max_width,
                   max_batch=args.max_batch, scale=tuple(args.scale) if args.scale else DEFAULT_SCALE)
    if args.kind not in (None, "gradients"):
        from .verify_second_order import run as run_kind

        return run_kind(args, fn, {**options, **conventions})
    try:
        result = check_implementation(fn, **options, **conventions)
    except ImplementationError as err:
        case = getattr(err, "counterexample", None)
        if case is None or args.json:
            raise CliError(f"--impl {args.impl}: {_one_line(getattr(err, 'what', None) or err)}") from None
        print("the smallest case found (params in your layout, y as your function received it):")
        print(counterexample_text(case))
        raise CliError(f"--impl {args.impl}: {_one_line(err.what)} (on the smallest case found: {err.smallest}, "
                       "printed above)") from None
    except (TypeError, ValueError) as err:
        raise CliError(_one_line(err)) from None
    if args.json:
        print(json.dumps(to_json(args, result, fn, conventions), indent=2))
    else:
        print(render(result, fn, options, conventions))
    return 0 if result.passed else 1


def render(result, fn, options, conventions) -> str:
    from ..engine.conventions import Conventions
    from ..engine.implementation import qualified_name

    conv = Conventions(**conventions)
    lines = [f"dualgrad verify --impl: {qualified_name(fn)} against jax.grad (float64), "
             f"{result.examples} random network{'s' if result.examples != 1 else ''} (seed {result.seed}); "
             f"conventions: {conv.describe(options['loss'])}", ""]
    if result.passed:
        if options["sizes"]:
            shapes = f"sizes {'-'.join(map(str, options['sizes']))}"
        else:
            shapes = f"widths ≤ {options['max_width']}, ≤ {options['max_layers']} layers"
        lines.append(f"PASS: {result.examples} random networks, every dW, db and loss within tolerance "
                     f"({shapes}, N ≤ {options['max_batch']}, |X| in {options['scale'][0]:g}…{options['scale'][1]:g})")
        return "\n".join(lines)
    message = [line for line in result.message.splitlines() if not line.startswith("checked: ")]
    lines[-1:] = ["FAIL: " + message[0], *("  " + line for line in message[1:])]
    if result.report is not None:
        from ..engine.report import table_lines

        header, rows = table_lines(result.report.rows, fd=False)
        lines += ["", header, *rows]
        if result.report.intermediates:
            _, inter = table_lines(result.report.intermediates, fd=False)
            lines += ["intermediates, in backward order:", *inter]
        lines.append(result.report.forward_line())
    if result.counterexample is not None:
        lines += ["", "the shrunk counterexample (params in your layout, y as your function received it):",
                  counterexample_text(result.counterexample)]
    return "\n".join(lines)


def counterexample_text(case) -> str:
    spec, params, X, y = case
    with np.printoptions(precision=17, threshold=200, linewidth=100):
        lines = ["import numpy as np", "from dualgrad import NetworkSpec", f"spec = {spec!r}"]
        for l, (W, b) in enumerate(params, start=1):
            lines.append(f"W{l} = np.{W!r}")
            lines.append(f"b{l} = np.{b!r}")
        lines.append(f"X = np.{np.asarray(X)!r}")
        lines.append(f"y = np.{np.asarray(y)!r}")
    return "\n".join(lines)


def to_json(args, result, fn, conventions) -> dict:
    from .. import __version__
    from ..engine.conventions import Conventions
    from ..engine.implementation import qualified_name

    case = None
    if result.counterexample is not None:
        spec, params, X, y = result.counterexample
        case = {"spec": spec.to_dict(), "params": [[W.tolist(), b.tolist()] for W, b in params],
                "X": np.asarray(X).tolist(), "y": np.asarray(y).tolist()}
    return {
        "command": "verify", "version": __version__, "implementation": qualified_name(fn),
        "conventions": Conventions(**conventions).to_dict(), "seed": result.seed, "examples": result.examples,
        "passed": result.passed, "message": result.message, "counterexample": case,
        "report": None if result.report is None else result.report.to_dict(),
    }


def _one_line(err) -> str:
    return " ".join(str(err).split())
