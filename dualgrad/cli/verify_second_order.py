"""`dualgrad verify --impl FILE.py:FUNCTION --kind KIND`: a user's per-example gradients, weighted
loss, H·V or G·V through `check_implementation(fn, kind=KIND)` (dualgrad.engine.second_order_check).

    dualgrad verify --impl my_net.py:hvp --kind hvp --hidden tanh --loss cross_entropy --l2 0.01

KIND and the function it calls (params and gradients in dualgrad's layout, W (fan_in, fan_out)):
  per_example  fn(params, X, y) -> [(dW (N, fan_in, fan_out), db (N, fan_out)), ...]
  weighted     fn(params, X, y, sample_weight) -> (loss, [(dW, db), ...])
  hvp, ggn     fn(params, X, y, V) -> [(dW, db), ...]
On a failure the shrunk case's leaves are printed, then the case itself (with V or the weights), and
the exit status is 1; bad input (a convention flag, a function that raises or returns the wrong
shape) is one line `dualgrad: error: ...` and exit status 2.
"""

from __future__ import annotations

import json

import numpy as np


def run(args, fn, options) -> int:
    from ..engine.implementation import ImplementationError
    from ..engine.user_check import check_implementation
    from .common import CliError

    try:
        result = check_implementation(fn, kind=args.kind, **options)
    except ImplementationError as err:
        raise CliError(f"--impl {args.impl}: {_one_line(err.what or err)}"
                       + (f" (on the smallest case found: {err.smallest})" if err.smallest else "")) from None
    except (TypeError, ValueError) as err:
        raise CliError(_one_line(err)) from None
    if args.json:
        print(json.dumps(to_json(args.kind, result, fn), indent=2))
    else:
        print(render(args.kind, result, fn, options))
    return 0 if result.passed else 1


def render(kind, result, fn, options) -> str:
    from ..engine.implementation import qualified_name
    from ..engine.second_order_check import AGAINST, WHAT

    n = result.examples
    lines = [f"dualgrad verify --impl --kind {kind}: {qualified_name(fn)} ({WHAT[kind]}) against {AGAINST[kind]} "
             f"(float64), {n} random network{'s' if n != 1 else ''} (seed {result.seed})", ""]
    if result.passed:
        shapes = (f"sizes {'-'.join(map(str, options['sizes']))}" if options["sizes"] else
                  f"widths ≤ {options['max_width']}, ≤ {options['max_layers']} layers")
        lines.append(f"PASS: {n} random networks, every leaf within tolerance ({shapes}, N ≤ {options['max_batch']}, "
                     f"|X| in {options['scale'][0]:g}…{options['scale'][1]:g})")
        return "\n".join(lines)
    message = result.message.splitlines()
    lines[-1:] = ["FAIL: " + message[0], *("  " + line for line in message[1:])]
    if result.report is not None:
        lines += ["", table(result.report)]
    if result.counterexample is not None:
        lines += ["", "the shrunk counterexample (params in dualgrad's layout, W (fan_in, fan_out)):",
                  counterexample_text(result.counterexample)]
    return "\n".join(lines)


def table(report) -> str:
    rows = [("layer", "param", "max abs err", "max rel err", "result")]
    for r in report.rows:
        layer, leaf = r.name.replace("layer ", "").split(", ")
        rows.append((layer, leaf, f"{r.max_abs:.2g}", f"{r.max_rel:.2g}", "pass" if r.passed else "FAIL"))
    widths = [max(len(row[k]) for row in rows) for k in range(5)]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows)


def counterexample_text(case) -> str:
    with np.printoptions(precision=17, threshold=200, linewidth=100):
        lines = ["import numpy as np", "from dualgrad import NetworkSpec", f"spec = {case.spec!r}"]
        for l, (W, b) in enumerate(case.params, start=1):
            lines += [f"W{l} = np.{W!r}", f"b{l} = np.{b!r}"]
        lines += [f"X = np.{np.asarray(case.X)!r}", f"y = np.{np.asarray(case.y)!r}"]
        if case.V is not None:
            lines.append("V = [" + ", ".join(f"(np.{VW!r}, np.{Vb!r})" for VW, Vb in case.V) + "]")
        if case.sample_weight is not None:
            lines.append(f"sample_weight = np.{case.sample_weight!r}")
    return "\n".join(lines)


def to_json(kind, result, fn) -> dict:
    from .. import __version__
    from ..engine.implementation import qualified_name

    case = None
    if result.counterexample is not None:
        c = result.counterexample
        case = {"spec": c.spec.to_dict(), "params": [[W.tolist(), b.tolist()] for W, b in c.params],
                "X": np.asarray(c.X).tolist(), "y": np.asarray(c.y).tolist(),
                "V": None if c.V is None else [[VW.tolist(), Vb.tolist()] for VW, Vb in c.V],
                "sample_weight": None if c.sample_weight is None else c.sample_weight.tolist()}
    return {"command": "verify", "version": __version__, "kind": kind, "implementation": qualified_name(fn),
            "seed": result.seed, "examples": result.examples, "passed": result.passed, "message": result.message,
            "counterexample": case}


def _one_line(err) -> str:
    return " ".join(str(err).split())
