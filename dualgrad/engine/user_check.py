"""Check a user's backprop: one case (`check_case`), or the property over random networks
(`check_implementation`), both against jax.grad under the user's conventions.

What the expected values are, for a network with data loss L_data (ours: a mean
over the batch, MSE over N·K) and conventions with factor c (`dualgrad.conventions`):

    loss   = c·L_data + (λ/2) Σ‖W‖²
    dW     = c·∂L_data/∂W + λW,   db = c·∂L_data/∂b

with ∂L_data from `reference.bucketed` (jax.grad, one compiled program for every
shape). The user's gradients are read back from their layout and compared leaf by
leaf with `dualgrad.compare`'s tolerance; the loss within LOSS_RTOL, the output
(when returned) with the gradients' tolerance.

Shrinking keeps the evidence: a first pass over the drawn cases counts as failing only those off
by at least EVIDENCE (1e-2 relative), and shrinks among them, so a mistake that nearly vanishes
on small inputs (tanh' as 1 − z²) is not shrunk to a case that reads as rounding; when only
smaller differences were found, a second pass shrinks among cases off by at least a tenth of the
first one's. A failing case is called twice more: different results mean the function keeps
state between calls, which is reported as such.

A failing leaf is examined before it is reported: gradients that are a constant
multiple of jax.grad's (a missing 1/N, a ½), the transpose of them, or that match
jax.grad with the other one-sided derivative at a unit exactly on a kink, are
named as such; so are two layers' gradients returned in swapped order, a loss with the other
L2 convention (l2_form), and, on the shrunk case, a known activation-derivative mistake
(`dualgrad.engine.mistakes`).
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

from manual.spec import NetworkSpec
from manual.validation import check_inputs, check_params, check_spec, encode_targets

from . import implementation
from .report import LOSS_RTOL, GradientReport, GradientRow, _fd_errors, _finite_differences, _num
from .compare import leaf_error, network_scale
from .conventions import Conventions
from .expected import expected as expected
from .network_options import checked_network_options
from .result import CheckResult, search_ended

NON_SMOOTH_BUILT_IN = ("relu", "leaky_relu")  # kinks at 0 with two one-sided derivatives


# ---- one case -------------------------------------------------------------------


def internal_spec(spec: NetworkSpec, conv: Conventions) -> NetworkSpec:
    """The spec our side computes: the loss replaced by the one the head convention names."""
    loss = conv.loss_name(spec.loss)
    return spec if loss == spec.loss else NetworkSpec(spec.sizes, spec.hidden, loss, spec.l2)


def on_a_kink(spec: NetworkSpec, params, X) -> int:
    """How many hidden pre-activations of relu/leaky_relu units are exactly 0."""
    from .properties import rounding_bounds

    count = 0
    for name, (z, _) in zip(spec.hidden, rounding_bounds(spec, params, X)):
        if name in NON_SMOOTH_BUILT_IN:
            count += int(np.count_nonzero(z == 0))
    return count


def compare(spec, conv, params, X, y, user: implementation.UserResult, loss_rtol: float, fd: bool = False,
            name: str = "", other_side_checked: bool = True):
    """The GradientReport of a user's result against the expected values (module docstring)."""
    out_ref, loss_ref, grads_ref = expected(spec, conv, params, X, y)
    rows, notes = _rows(user.grads, grads_ref, spec, X.shape[0], conv)
    passed = all(r.ref_passed for r in rows)
    loss_passed = _loss_ok(user.loss, loss_ref, loss_rtol)
    output_rel, output_passed = None, None
    if user.output is not None:
        err = leaf_error("output", user.output, out_ref)
        output_rel, output_passed = err.max_rel, err.passed
    inter_rows, inter_line = _intermediate_rows(spec, conv, params, X, y, user, rows, other_side=False)
    if inter_rows and not all(r.passed for r in inter_rows):
        passed = False
    if not passed and other_side_checked:
        kinks = on_a_kink(spec, params, X)
        if kinks:
            _, loss_alt, grads_alt = expected(spec, conv, params, X, y, other_side=True)
            rows_alt, _ = _rows(user.grads, grads_alt, spec, X.shape[0], conv)
            inter_alt, line_alt = _intermediate_rows(spec, conv, params, X, y, user, rows_alt, other_side=True)
            if all(r.ref_passed for r in rows_alt) and all(r.passed for r in inter_alt):
                if conv.kink == "either":
                    rows, inter_rows, inter_line = rows_alt, inter_alt, line_alt
                    notes = [f"{kinks} hidden pre-activation(s) exactly on a kink: matched with the other "
                             "one-sided derivative (kink='either')"]
                else:
                    notes = [f"your gradients match jax.grad with the other one-sided derivative at the {kinks} "
                             "hidden pre-activation(s) exactly on a kink (e.g. relu'(0) = 1 from `z >= 0`; "
                             "jax.nn.relu takes 0): pass kink='either' if that is your convention"]
    if (not passed or not loss_passed) and user.low_precision:
        notes.append(f"your function returned {user.low_precision} arrays (about "
                     f"{7 if user.low_precision == 'float32' else 3} significant digits); the check compares in float64 "
                     "at 1e-9: compute in float64 (the params and X it is given are float64)")
    if not loss_passed or output_passed is False:
        what = "loss" if not loss_passed else "output"
        notes.insert(0, f"the forward passes differ ({what}: yours {_val(user.loss) if what == 'loss' else ''}"
                        f"{'' if what == 'output' else ', jax ' + _val(loss_ref)}"
                        f"{'max relative error ' + _num(output_rel) if what == 'output' else ''}): your forward "
                        "or loss computes another function, so the gradients are of another function too"
                        + _loss_hint(user.loss, loss_ref, spec, X.shape[0], conv, params)
                        + (_output_hint(user.output, out_ref, spec) if what == "output" else ""))
    if fd:
        fd_grads = _finite_differences(spec, params, X, y)
        c = conv.loss_factor(spec.loss, X.shape[0], spec.sizes[-1])
        fd_rows = []
        for row, (l, k) in zip(rows, [(l, k) for l in range(spec.n_layers) for k in range(2)]):
            fd_value, kink = fd_grads[l][k]
            W = params[l][0]
            # FD of manual's L_data + (λ/2)‖W‖², scaled: c·L_data + p·λ‖W‖²
            scaled = c * fd_value + (spec.l2 * W * (2 * conv.l2_factor() - c) if k == 0 else 0.0)
            fd_rows.append(GradientRow(**{**row.__dict__, **_fd_errors(user.grads[l][k], scaled, kink, loss_ref)}))
        rows = fd_rows
    return GradientReport(spec, X.shape[0], user.loss, loss_ref, bool(fd), tuple(rows), implementation=name,
                          conventions=conv.to_dict(), loss_passed=loss_passed, output_max_rel=output_rel,
                          output_passed=output_passed, notes=tuple(notes), intermediates=inter_rows,
                          intermediates_line=inter_line)


def _intermediate_rows(spec, conv, params, X, y, user, grad_rows, other_side):
    """The rows and the sentence of the intermediates the user returned (none: ((), ''))."""
    if not user.intermediates:
        return (), ""
    from . import intermediates

    ref = intermediates.expected(spec, conv, params, X, y, other_side=other_side)
    rows = intermediates.rows(user.intermediates, ref, spec, conv, user.intermediate_names)
    return rows, intermediates.sentence(rows, spec, grad_rows)


def _swapped(user_grads, ref_grads, scale):
    """[(l, m, leaf), ...]: layer l's leaf is jax.grad's of layer m and the reverse (0-based, l < m)."""
    found = []
    L = len(ref_grads)
    for k, leaf in enumerate(("dW", "db")):
        for l in range(L):
            for m in range(l + 1, L):
                a, b = np.asarray(user_grads[l][k]), np.asarray(user_grads[m][k])
                ra, rb = np.asarray(ref_grads[l][k]), np.asarray(ref_grads[m][k])
                if a.shape != rb.shape or b.shape != ra.shape or np.array_equal(ra, rb):
                    continue
                if (not leaf_error("", a, ra, scale=scale).passed and leaf_error("", a, rb, scale=scale).passed
                        and leaf_error("", b, ra, scale=scale).passed):
                    found.append((l, m, leaf))
    return found


def _rows(user_grads, ref_grads, spec, n, conv):
    scale = network_scale(ref_grads)
    rows, notes = [], []
    swapped = _swapped(user_grads, ref_grads, scale)
    for l, m, leaf in swapped:
        notes.append(f"layer {l + 1}, {leaf} and layer {m + 1}, {leaf} are swapped: yours for each is jax.grad's "
                     f"for the other (returned in the wrong order?)")
    in_swap = {(l, leaf) for a, b, leaf in swapped for l in (a, b)}
    for l, (gm, gr) in enumerate(zip(user_grads, ref_grads)):
        for k, leaf in enumerate(("dW", "db")):
            err = leaf_error(f"layer {l + 1}, {leaf}", gm[k], gr[k], scale=scale)
            rows.append(GradientRow(layer=l + 1, name=leaf, shape=conv.user_shape(np.shape(gr[k]), k == 0),
                                    max_abs=err.max_abs,
                                    max_rel=err.max_rel, ref_passed=err.passed, worst_index=err.worst_index,
                                    value=err.manual_value, value_reference=err.ref_value))
            if not err.passed and (l, leaf) not in in_swap:
                hint = _leaf_hint(np.asarray(gm[k]), np.asarray(gr[k]), spec, n, conv)
                if hint:
                    notes.append(f"layer {l + 1}, {leaf}: {hint}")
    return rows, notes


def _leaf_hint(mine, ref, spec, n, conv) -> str:
    """What a failing leaf looks like: a constant multiple of jax.grad's, or its transpose."""
    if mine.shape != ref.shape:
        return ""
    denom = float(np.sum(ref * ref))
    if denom > 0:
        ratio = float(np.sum(mine * ref)) / denom
        if (ratio != 0 and not math.isclose(ratio, 1.0, rel_tol=1e-3)
                and np.allclose(mine, ratio * ref, rtol=1e-6, atol=1e-12 * np.abs(ref).max())):
            return f"yours is {ratio:.6g} × jax.grad's throughout{_ratio_words(ratio, n, spec, conv)}"
    if mine.ndim == 2 and mine.shape[0] == mine.shape[1] and mine.shape[0] > 1 and np.allclose(mine, ref.T, rtol=1e-6):
        return "yours is the transpose of jax.grad's (a dW computed as δᵀ a, or W stored the other way round)"
    return ""


def _ratio_words(r, n, spec, conv) -> str:
    other = conv.factor_words(spec.loss, n, spec.sizes[-1], r)
    if other and not (n > 1 and math.isclose(r, n, rel_tol=1e-6)):
        return f" (as with {other})"
    words = {}
    if n > 1:
        words[float(n)] = f" (N = {n}: a missing 1/N, or a sum over the batch: reduction='sum')"
        words[1.0 / n] = f" (1/N = 1/{n}: divided by N once too often)"
    if spec.loss in ("mse", "sigmoid_mse"):
        words.setdefault(0.5, " (a ½: mse='half_mean', or 'half' with one output)")
        words.setdefault(2.0, " (a factor 2)")
    words.setdefault(-1.0, " (the sign is flipped: a − Y where Y − a is meant, or the reverse)")
    for value, text in words.items():
        if math.isclose(r, value, rel_tol=1e-6):
            return text
    return ""


def _loss_ok(loss, loss_ref, rtol) -> bool:
    return bool(np.isfinite(loss) and abs(loss - loss_ref) <= rtol * max(1.0, abs(loss_ref)))


def _loss_hint(loss, loss_ref, spec, n, conv, params) -> str:
    """What a loss that differs looks like: another reduction or mse form, a missing penalty."""
    sq = sum(float(np.sum(W * W)) for W, _ in params)
    penalty = conv.l2_factor() * spec.l2 * sq
    form = "(λ/2) Σ‖W‖²" if conv.l2_form == "half" else "λ Σ‖W‖²"
    if penalty > 0 and math.isclose(loss, loss_ref - penalty, rel_tol=1e-6, abs_tol=1e-12):
        return f"; yours lacks the L2 penalty {form} = {penalty:.6g} (λ = {spec.l2:g}: spec.l2)"
    half = 0.5 * spec.l2 * sq
    if half > 0 and conv.l2_form == "half" and math.isclose(loss, loss_ref + half, rel_tol=1e-6, abs_tol=1e-12):
        return (f"; yours adds λ Σ‖W‖² = {2 * half:.6g}, not dualgrad's (λ/2) Σ‖W‖² = {half:.6g} (λ = {spec.l2:g}): "
                "if that is your convention, pass l2_form='full' (then dW must gain 2λW)")
    if half > 0 and conv.l2_form == "full" and math.isclose(loss, loss_ref - half, rel_tol=1e-6, abs_tol=1e-12):
        return (f"; yours adds (λ/2) Σ‖W‖² = {half:.6g}, not λ Σ‖W‖² (λ = {spec.l2:g}): if that is your "
                "convention, pass l2_form='half' (the default)")
    data_ref = loss_ref - penalty
    if data_ref == 0:
        return ""
    ratio = (loss - penalty) / data_ref
    other = conv.factor_words(spec.loss, n, spec.sizes[-1], ratio)
    if other:
        return f"; yours is {ratio:.6g} × jax's, as with {other}"
    if n > 1 and math.isclose(ratio, 1.0 / n, rel_tol=1e-6):
        return f"; yours is 1/N = 1/{n} × jax's: divided by N once too often?"
    if math.isclose(ratio, 2.0, rel_tol=1e-6) or math.isclose(ratio, 0.5, rel_tol=1e-6):
        return f"; yours is {ratio:.6g} × jax's"
    return ""


def _output_hint(output, out_ref, spec) -> str:
    """An output that is the logits where the head's probabilities are meant."""
    head = spec.head
    if head not in ("sigmoid", "softmax"):
        return ""
    with np.errstate(all="ignore"):
        if head == "sigmoid":
            squashed = 1.0 / (1.0 + np.exp(-output))
        else:
            e = np.exp(output - output.max(axis=1, keepdims=True))
            squashed = e / e.sum(axis=1, keepdims=True)
    if np.allclose(squashed, out_ref, rtol=1e-7, atol=1e-12):
        return f"; your output looks like the logits: return ŷ = {head}(logits), the head's output"
    return ""


def _val(x) -> str:
    return f"{x:.10g}"


def check_case(fn, spec: NetworkSpec, params, X, y, *, fd: bool = False, loss_rtol: float = LOSS_RTOL,
               **conventions) -> GradientReport:
    """`check_gradients(spec, params, X, y, impl=fn, **conventions)`: params in the user's layout."""
    from .diagnose import check_functions

    conv = Conventions.from_kwargs("check_gradients", **conventions)
    takes_spec = implementation.check_callable(fn, "check_gradients(impl=...)")
    _check_loss_rtol(loss_rtol)
    check_spec(spec)
    spec_int = internal_spec(spec, conv)
    params = [(np.asarray(W, np.float64), np.asarray(b, np.float64))
              for W, b in check_params(spec, conv.our_params(spec, params))]
    X = check_inputs(spec, X, dtype=np.float64)
    y = np.asarray(y)
    if y.dtype.kind == "f":
        y = y.astype(np.float64)
    encode_targets(spec, y, X.shape[0])  # ValueError for labels that do not fit
    problems = check_functions(spec_int, conv.kink, reach=30 * float(np.max(np.abs(X), initial=1.0)))
    user = implementation.call(fn, spec, conv, params, X, y, takes_spec)
    report = compare(spec_int, conv, params, X, y, user, loss_rtol, fd=fd, name=implementation.qualified_name(fn))
    if problems:
        report = _with_problems(report, problems)
    return report


def _with_problems(report: GradientReport, problems) -> GradientReport:
    from dataclasses import replace

    return replace(report, notes=tuple(problems) + report.notes, functions_passed=False)


def _check_loss_rtol(loss_rtol):
    if isinstance(loss_rtol, bool) or not isinstance(loss_rtol, (int, float)) or not (0 < loss_rtol < 1):
        raise ValueError(f"loss_rtol must be a number in (0, 1), got {loss_rtol!r}")


# ---- the property ---------------------------------------------------------------

DEFAULT_SCALE = (0.1, 1.0)  # |X| of standardised data: no textbook σ, softmax or log overflows
GAINS = (-0.5, 0.0)  # log10 of the weights' gain over He scaling
L2_STRENGTHS = (0.0, 0.0, 0.01, 0.5)
ZERO_FRACTIONS = (0.0, 0.0, 0.3)


class _Failure(AssertionError):
    """A case whose gradients (or forward) differ: carries its report and message."""

    def __init__(self, message, report):
        super().__init__(message)
        self.report = report


def check_implementation(fn, *, examples: int = 200, seed: int = 0, sizes=None, hidden=None, loss=None,
                         max_layers: int = 3, max_width: int = 8, max_batch: int = 16, l2=0.0,
                         scale: Tuple[float, float] = DEFAULT_SCALE, loss_rtol: float = LOSS_RTOL,
                         stack=None, input=None, kind: str = "gradients", **conventions) -> CheckResult:
    """Check `fn(params, X, y) -> (loss, grads[, output][, intermediates])` against jax.grad on random networks.

    Draws `examples` networks (hypothesis, seeded: the same cases for the same seed), each
    compared leaf by leaf, loss and output too; a failure is shrunk to the smallest network,
    batch and magnitudes that still fail, and returned, never raised.

    fn         your implementation (see `dualgrad.implementation`); it may take `spec=` as a
               keyword to be told the network (then hidden, loss and l2 may be drawn), and return
               a dict of intermediate gradients last (`dualgrad.engine.intermediates`): each is
               compared too, and a failure names the first step that is wrong
    examples   how many random cases (≥ 1); seed their seed
    sizes      fixed layer sizes [n_in, hidden..., n_out], or None to draw them
    hidden     the hidden activation (one name, or one per hidden layer), or None to draw
               (only for a fn that takes spec)
    loss       'binary_cross_entropy' | 'cross_entropy' | 'mse' (or a registered loss), or None to draw
               (only for a fn that takes spec)
    max_layers, max_width, max_batch   bounds of the drawn networks and batches
    l2         the L2 strength your fn adds, (λ/2) Σ‖W‖² (default 0; λ Σ‖W‖² with l2_form='full'); "draw" draws it from
               0, 0.01 and 0.5 (for a fn that takes spec: it reads spec.l2)
    scale      (lo, hi): |X| drawn log-uniformly between them, times N(0, 1) entries. The default
               (0.1, 1) is standardised data, where correct textbook code is exact to rounding;
               widen it (our own property uses (1e-3, 1e3)) to find overflow in σ, softmax or log.
               Weights are He-scaled times 10^g, g in [−0.5, 0]; some units are "silent"
               (z exactly 0, on relu's kink) and some inputs exactly 0.
    loss_rtol  tolerance of the loss comparison, relative to max(1, |L|)
    conventions  layout, bias, reduction, mse, head, kink, targets, l2_form (`dualgrad.conventions`)
    stack, input  a whole network of layers instead of an MLP: a `StackSpec` or its text form
               ('conv:2:3:1:1 relu maxpool:2 flatten dense:3') with `input`, one example's shape;
               see `dualgrad.engine.stack_check` (examples, seed, loss, loss_rtol, max_batch and
               layout apply)
    kind       what fn computes: "gradients" (the default, all of the above), or "per_example",
               "weighted", "hvp", "ggn" (per-example gradients, the weighted loss, H·V, G·V under
               manual/second_order.py's conventions; see `dualgrad.engine.second_order_check` for
               each one's signature; the conventions keep their defaults there)

    Returns a `CheckResult`: passed, examples (how many ran), counterexample (the shrunk
    (spec, params, X, y), params in your layout, y as your fn received it), message (first
    line: what failed, with both values at the worst index), report (the GradientReport of
    the shrunk case). Raises TypeError/ValueError for bad arguments, and an
    `implementation.ImplementationError` (a TypeError or ValueError) when fn returns
    something that cannot be compared (wrong count or shape, NaN) or raises — with the
    shrunk case that makes it do so.
    """
    from hypothesis import HealthCheck, Phase, Verbosity, given, reject, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis.errors import Flaky, Unsatisfiable

    from .properties import near_a_kink, within_rounding

    if not (isinstance(kind, str) and kind == "gradients"):
        from .second_order_check import check_kind, check_second_order

        check_kind(kind)
        not_for_kind = sorted(conventions) + [n for n, v in (("stack", stack), ("input", input)) if v is not None]
        if not_for_kind:
            raise ValueError(f"{', '.join(not_for_kind)} {'is' if len(not_for_kind) == 1 else 'are'} for kind='gradients'; "
                             f"kind={kind!r} takes params and returns gradients in dualgrad's layout")
        return check_second_order(fn, kind, examples=examples, seed=seed, sizes=sizes, hidden=hidden, loss=loss,
                                  max_layers=max_layers, max_width=max_width, max_batch=max_batch, l2=l2,
                                  scale=scale)
    if stack is not None or input is not None:
        from .stack_check import check_stack_implementation

        return check_stack_implementation(fn, stack, input=input, loss=loss, examples=examples, seed=seed,
                                          loss_rtol=loss_rtol, max_batch=min(max_batch, 4), **conventions)
    conv = Conventions.from_kwargs("check_implementation", **conventions)
    takes_spec = implementation.check_callable(fn, "check_implementation")
    _check_count(examples, "examples")
    _check_count(max_layers, "max_layers")
    _check_count(max_width, "max_width")
    _check_count(max_batch, "max_batch")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    lo, hi = _check_scale(scale)
    _check_loss_rtol(loss_rtol)
    plan = _Plan.make(sizes, hidden, loss, l2, takes_spec, conv, max_layers)
    name = implementation.qualified_name(fn)

    from .diagnose import check_names

    problems = check_names(plan.activations_in_play(), [conv.loss_name(n) for n in plan.losses], conv.kink,
                           reach=30 * hi)
    if problems:
        return CheckResult(False, 0, None, "\n".join(problems), None, seed)

    strategy = _cases(plan, max_layers, max_width, max_batch, lo, hi)
    state = {"ran": 0, "failed": False, "last": None, "first": None, "threshold": EVIDENCE, "impure": None,
             "small": False}

    def _same_twice(case, user):
        """Two more calls on the same case return what the first did (a function of its inputs alone)."""
        spec, params, X, y = case
        for _ in range(2):
            try:
                again = implementation.call(fn, spec, conv, params, X, y, takes_spec)
            except implementation.ImplementationError:
                return False
            if not _same_result(user, again):
                return False
        return True

    def one_case(case):
        spec, params, X, y = case
        spec_int = internal_spec(spec, conv)
        try:
            user = implementation.call(fn, spec, conv, params, X, y, takes_spec)
        except implementation.ImplementationError as err:
            state["failed"] = True
            state["last"] = (case, err, None)
            raise
        report = compare(spec_int, conv, params, X, y, user, loss_rtol, name=name)
        if not report.passed:
            # parameter gradients off by rounding only are no failure; a returned intermediate that
            # differs is one (its rows compare to a tolerance of their own, rounding included)
            if (not report.forwards_differ and all(row.passed for row in report.intermediates)
                    and _rounding_only(spec_int, conv, params, X, y, user)):
                report = None
            elif near_a_kink(spec_int, params, X):
                reject()
        if report is not None and not report.passed:
            if not _same_twice(case, user):
                state["impure"] = state["impure"] or (case, report)
                state["failed"] = True
                raise _Impure()
            evidence = _evidence(report)
            if not report.forwards_differ and evidence < state["threshold"]:
                # shrink the network, not the evidence: a case off by little does not count while
                # cases off by much are looked for (the first pass), or once one has been found
                state["small"] = True
                return
        if report is not None and not report.passed:
            if state["first"] is None:
                state["first"] = report
                if not state["threshold"]:  # the second pass: shrink among cases off by a tenth of this one
                    state["threshold"] = min(EVIDENCE, _evidence(report) / 10)
            state["failed"] = True
            state["last"] = (case, None, report)
            raise _Failure(failure_message(report), report)
        if not state["failed"]:
            state["ran"] += 1

    def _rounding_only(spec_int, conv, params, X, y, user):
        _, _, grads_ref = expected(spec_int, conv, params, X, y)
        c = conv.loss_factor(spec_int.loss, X.shape[0], spec_int.sizes[-1])
        lam, p = spec_int.l2, conv.l2_factor()
        ours = lambda g: [((dW - 2 * p * lam * W) / c + lam * W, db / c) for (dW, db), (W, _) in zip(g, params)]
        try:
            return within_rounding(spec_int, params, X, y, ours(user.grads), ours(grads_ref))
        except Exception:
            return False

    prop = settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                    suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink],
                    report_multiple_bugs=False, print_blob=False, verbosity=Verbosity.quiet)(given(strategy)(one_case))
    prop = hypothesis_seed(seed)(prop)
    try:
        prop()
        if state["small"]:  # only cases off by little: look again, and shrink one of them
            state.update(ran=0, failed=False, last=None, first=None, threshold=0.0, small=False)
            prop()
    except (_Impure, Flaky):
        if state["impure"] is None and state["last"] is None:
            raise
        case, report = state["impure"] or (state["last"][0], state["last"][2])
        spec, params, X, y = case
        message = (f"{name} returned different results for the same case on repeated calls: it keeps state between "
                   "calls (a cached mask or activation, a counter) or draws random numbers, so its gradients are not "
                   f"those of (params, X, y) alone; make it a function of its arguments\n"
                   f"network: {describe_case(spec, X)} (the counterexample; the first call's report below)")
        return CheckResult(False, state["ran"] + 1, _user_case(case, conv), message, report, seed)
    except _Failure:
        case, _, report = state["last"]
        message = failure_message(report) + _before_shrinking(report, state["first"])
        extra = _diagnose(fn, case, conv, takes_spec, report)
        if "pass kink='either'" in message and conv.kink == "jax":
            settings_again = dict(examples=min(examples, 100), seed=seed, sizes=sizes, hidden=hidden, loss=loss,
                                  max_layers=max_layers, max_width=max_width, max_batch=max_batch, l2=l2, scale=scale,
                                  loss_rtol=loss_rtol, **{**conventions, "kink": "either"})
            again = check_implementation(fn, **settings_again)
            if not again.passed:
                message = "\n".join(line for line in message.splitlines() if "pass kink='either'" not in line)
                extra.append("on this case your gradients match the other one-sided derivative at a kink, but with "
                             f"kink='either' the check still fails ({again.message.splitlines()[0]}): not a kink "
                             "convention")
        if extra:
            lines = message.splitlines()
            if extra[0].startswith("the cause is"):  # a factor on a one-unit network is incidental then
                lines = [line for line in lines if "× jax.grad's throughout" not in line]
            message = "\n".join(lines[:1] + extra + lines[1:])
        return CheckResult(False, state["ran"] + 1, _user_case(case, conv), message, report, seed)
    except implementation.ImplementationError:
        case, err, _ = state["last"]
        spec, params, X, y = case
        raise implementation.on_smallest_case(
            err, describe_case(spec, X), _user_case(case, conv),
            "its .counterexample holds it, and check_gradients(spec, params, X, y, impl=fn) reproduces it",
        ) from err.__cause__
    except Unsatisfiable:
        return search_ended(state["ran"], seed, rejected=True)
    return search_ended(state["ran"], seed)


EVIDENCE = 1e-2  # a shrunk case must stay off by at least this relative error (or a tenth of the first's)


class _Impure(AssertionError):
    """The user's function returned different results for the same case."""


def _same_result(a, b) -> bool:
    if a.loss != b.loss or len(a.grads) != len(b.grads):
        return False
    return all(np.array_equal(x, y) for ga, gb in zip(a.grads, b.grads) for x, y in zip(ga, gb))


def _evidence(report: GradientReport) -> float:
    """The largest relative error of the failing leaves and intermediates."""
    rows = [r for r in tuple(report.rows) + tuple(report.intermediates) if not r.passed]
    return max((r.max_rel for r in rows), default=math.inf)


def _diagnose(fn, case, conv, takes_spec, report) -> list:
    """Lines naming where the mistake is, on the shrunk case: a known activation-derivative mistake, or
    the step between the last layer (right) and the earlier ones (wrong)."""
    if report.forwards_differ or report.intermediates:
        return []
    spec, params, X, y = case
    spec_int = internal_spec(spec, conv)
    try:
        user = implementation.call(fn, spec, conv, params, X, y, takes_spec)
    except implementation.ImplementationError:
        return []
    from .mistakes import name_the_mistake

    def matches(grads):
        rows, _ = _rows(user.grads, grads, spec_int, X.shape[0], conv)
        return all(r.ref_passed for r in rows)

    words = name_the_mistake(spec_int, conv, params, X, y, user.grads, matches)
    if words:
        return [words]
    L = spec.n_layers
    last_ok = all(r.passed for r in report.rows if r.layer == L)
    if L > 1 and last_ok and any(not r.passed for r in report.rows):
        return [f"layer {L}'s dW and db agree and earlier layers' do not: dlogits is right, and the mistake is on the "
                f"way back, in the product with W{L}ᵀ or the activation derivative f'(z{L - 1}) (or further down); "
                "return your intermediate gradients (a dict {'dz1': ..., 'da1': ...}) to be told which step"]
    return []


def _before_shrinking(shrunk: GradientReport, first: Optional[GradientReport]) -> str:
    """Shrinking can lead where a mistake nearly vanishes (tanh' as 1 − z² agrees with 1 − a² near
    z = 0): when the shrunk case is off by little, the first failing case is shown too."""
    if first is None or first is shrunk or shrunk.forwards_differ:
        return ""
    worst = max((row.max_rel for row in shrunk.rows), default=0.0)
    first_rows = [row for row in first.rows if not row.passed]
    if worst >= 1e-3 or not first_rows:
        return ""
    row = max(first_rows, key=lambda r: r.max_rel)
    return (f"\nthe difference is small on the shrunk case; the first failing case, before shrinking "
            f"({describe_case(first.spec, None, first.batch)}): {_leaf_line(first, row)}")


def failure_message(report: GradientReport) -> str:
    """First line: the first failing leaf (or the forward), with both values at the worst index;
    then the network, the notes and the conventions."""
    lines = []
    failing = [row for row in report.rows if not row.passed]
    inter_failing = [row for row in report.intermediates if not row.passed]
    if inter_failing and not report.forwards_differ:
        lines.append(report.intermediates_line)
        lines.append(_leaf_line(report, inter_failing[0], "intermediate"))
        if failing:
            lines.append(_leaf_line(report, failing[0]))
    elif failing and not report.forwards_differ:
        row = failing[0]
        lines += [note for note in report.notes if " are swapped: " in note][:1]
        lines.append(_leaf_line(report, row))
        if report.intermediates:
            lines.append(report.intermediates_line)
    elif report.forwards_differ:
        lines.append(report.notes[0] if report.notes else report.forward_line())
    lines.append(f"network: {describe_case(report.spec, None, report.batch)}")
    lines += [note for note in report.notes if note not in lines]
    if failing and report.forwards_differ:
        lines.append(f"{len(failing)} of {len(report.rows)} leaves differ as a consequence")
    lines.append(report.heading())
    return "\n".join(lines)


def _leaf_line(report, row, kind: str = "leaf") -> str:
    where = row.name if kind == "intermediate" else f"layer {row.layer}, {row.name}"
    if row.worst_index is None:
        return f"{where}: shape {row.shape} differs from jax.grad's"
    return (f"{where}[{', '.join(map(str, row.worst_index))}]: yours {row.value!r}, "
            f"jax.grad {row.value_reference!r} (max relative error over the {kind} {_num(row.max_rel)})")


def describe_case(spec: NetworkSpec, X=None, batch: Optional[int] = None) -> str:
    from .report import describe_network

    return describe_network(spec, X.shape[0] if X is not None else batch)


def _user_case(case, conv):
    spec, params, X, y = case
    return spec, conv.user_params(params), X, conv.user_targets(spec, y, X.shape[0])


def _check_count(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_scale(scale):
    try:
        lo, hi = scale
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        raise TypeError(f"scale must be a pair (lo, hi) of input magnitudes such as (0.1, 1), got {scale!r}") from None
    if not (0 < lo <= hi < math.inf):
        raise ValueError(f"scale must be (lo, hi) with 0 < lo ≤ hi, finite, got {scale!r}")
    return lo, hi


class _Plan:
    """What is fixed and what is drawn: sizes (or None), hidden (a name, a list or None),
    the losses to draw from, l2 (or None to draw)."""

    def __init__(self, sizes, hidden, losses, l2):
        self.sizes, self.hidden, self.losses, self.l2 = sizes, hidden, losses, l2

    @classmethod
    def make(cls, sizes, hidden, loss, l2, takes_spec, conv, max_layers):
        from manual import spec as _spec

        if not takes_spec and (hidden is None or loss is None):
            missing = " and ".join(n for n, v in (("hidden", hidden), ("loss", loss)) if v is None)
            raise ValueError(f"your function takes (params, X, y) only, so it cannot be told which activation and "
                             f"loss to compute: pass {missing} (e.g. hidden='relu', loss='cross_entropy'), or give "
                             "it a `spec` keyword argument to check it on drawn activations and losses")
        sizes, hidden, l2 = checked_network_options(sizes, hidden, l2, takes_spec, max_layers)
        if loss is not None and (not isinstance(loss, str) or loss not in _spec.LOSS_NAMES):
            raise ValueError(f"unknown loss {loss!r}; valid names: {', '.join(_spec.LOSS_NAMES)}")
        losses = []
        for name in [loss] if loss is not None else list(_spec.LOSS_NAMES):
            try:
                conv.loss_name(name)
                if sizes is not None:
                    NetworkSpec(sizes, "identity", name)
            except ValueError:
                if loss is not None:
                    raise
                continue
            losses.append(name)
        if not losses:
            raise ValueError(f"no loss fits head={conv.head!r} and sizes={sizes}")
        if loss is not None and loss != "mse" and conv.mse != "mean":
            raise ValueError(f"mse={conv.mse!r} describes a squared-error loss; loss={loss!r} has none")
        return cls(sizes, hidden, losses, l2)

    def activations_in_play(self):
        from manual import spec as _spec

        if self.hidden is None:
            return list(_spec.ACTIVATION_NAMES)
        return [self.hidden] if isinstance(self.hidden, str) else list(self.hidden)


def _cases(plan: _Plan, max_layers, max_width, max_batch, lo, hi):
    from hypothesis import strategies as st

    from manual import spec as _spec

    from .cases import random_labels
    from .strategies import _draw_parameters

    losses = st.sampled_from(plan.losses)
    n_layers = st.integers(1, max_layers)
    widths = st.integers(1, max_width)
    classes = st.integers(2, max(2, max_width))
    activations = st.sampled_from(list(_spec.ACTIVATION_NAMES))
    l2s = st.sampled_from([plan.l2]) if plan.l2 is not None else st.sampled_from(L2_STRENGTHS)
    seeds = st.integers(0, 2**32 - 1)
    gains = st.floats(*GAINS, allow_nan=False)
    rows = st.integers(1, max_batch)
    scales = st.floats(math.log10(lo), math.log10(hi), allow_nan=False)
    zeros = st.sampled_from(ZERO_FRACTIONS)

    @st.composite
    def cases(draw):
        loss = draw(losses)
        kind = _spec.LOSS_TARGETS[loss]
        if plan.sizes is not None:
            sizes = list(plan.sizes)
        else:
            L = len(plan.hidden) + 1 if isinstance(plan.hidden, list) else draw(n_layers)
            sizes = [draw(widths) for _ in range(L + 1)]
            if kind == "binary":
                sizes[-1] = 1
            elif kind == "classes":
                sizes[-1] = draw(classes)
        if plan.hidden is None:
            hidden = [draw(activations) for _ in range(len(sizes) - 2)]
        else:
            hidden = plan.hidden
        spec = NetworkSpec(sizes, hidden, loss, draw(l2s))
        params = _draw_parameters(draw, spec, gains=gains)  # He-scaled, some silent units (z = 0)
        n = draw(rows)
        x_scale = 10.0 ** draw(scales)
        zero_fraction = draw(zeros)
        rng = np.random.default_rng(draw(seeds))
        X = rng.standard_normal((n, spec.sizes[0])) * x_scale  # (N, n_in)
        X[rng.random(X.shape) < zero_fraction] = 0.0
        y = random_labels(spec, n, rng) if kind != "real" else rng.standard_normal((n, spec.sizes[-1]))
        return spec, params, X, y

    return cases()
