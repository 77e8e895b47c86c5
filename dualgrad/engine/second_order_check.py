"""A user's own per-example gradients, weighted loss, H·V or G·V, checked on random networks.

    check_implementation(my_hvp, kind="hvp", hidden="tanh", loss="cross_entropy")
    dualgrad verify --impl my_net.py:my_hvp --kind hvp --hidden tanh --loss cross_entropy

`kind` says what the function computes (the conventions are manual/second_order.py's, read its
docstring; params and gradients in our layout, W (fan_in, fan_out), b (fan_out,)):

    "gradients"    fn(params, X, y) -> (loss, grads)       today's check (dualgrad.engine.user_check)
    "per_example"  fn(params, X, y) -> [(dW (N, fan_in, fan_out), db (N, fan_out)), ...]
                   the gradient of each row's own loss ℓₙ + (λ/2) Σ‖W‖² (λW in every row, so that
                   their mean is the batch gradient)
    "weighted"     fn(params, X, y, sample_weight) -> (loss, [(dW, db), ...])
                   L = Σ wₙ ℓₙ / Σ wₙ + (λ/2) Σ‖W‖² (scikit-learn's convention; the penalty unweighted)
    "hvp"          fn(params, X, y, V) -> [(dW, db), ...]  H·V, H the Hessian of the whole loss
    "ggn"          fn(params, X, y, V) -> [(dW, db), ...]  G·V = Jᵀ H_s J V + λ V_W

V is a direction in the params' layout [(V_W (fan_in, fan_out), V_b (fan_out,)), ...]. As for
gradients, fn may take a `spec` keyword to be told the network (then hidden, loss and l2 may be drawn).

The expected values are JAX's (`reference.bucketed_second_order`: jax.vmap(jax.grad), jax.value_and_grad,
jax.jvp(jax.grad), jax.jvp + jax.vjp; one compiled program per bucket, and the default bounds fit
one bucket), compared leaf by leaf at `dualgrad.engine.compare`'s tolerance; a result off that
tolerance still passes within rounding of a gross bound (`second_order_properties.within_rounding`),
and a case with a non-smooth unit within rounding of its kink is rejected, not failed.

Shrinking is the gradient check's: a first pass counts as failing only cases off by at least
EVIDENCE (1e-2 relative) and shrinks among them; when only smaller differences were found, a second
pass shrinks among cases off by at least a tenth of the first one's. The failure message names the
layer and leaf with both values at the worst entry, then the shrunk network, then what the
difference looks like (1/N, weights not normalised, G·V where H·V is meant, a missing f'' term).
"""

from __future__ import annotations

import inspect
import math
import numbers
from typing import NamedTuple, Optional

import numpy as np

from manual.spec import NetworkSpec

from . import implementation
from .compare import leaf_error, network_scale
from .network_options import checked_network_options
from .report import LOSS_RTOL, describe_network
from .result import CheckResult, search_ended

KINDS = ("gradients", "per_example", "weighted", "hvp", "ggn")
SIGNATURES = {
    "gradients": "fn(params, X, y) -> (loss, [(dW, db), ...])",
    "per_example": "fn(params, X, y) -> [(dW (N, fan_in, fan_out), db (N, fan_out)), ...]",
    "weighted": "fn(params, X, y, sample_weight) -> (loss, [(dW, db), ...])",
    "hvp": "fn(params, X, y, V) -> [(dW, db), ...] (H·V)",
    "ggn": "fn(params, X, y, V) -> [(dW, db), ...] (G·V)",
}
WHAT = {"per_example": "per-example gradients", "weighted": "weighted loss and gradients", "hvp": "H·V",
        "ggn": "G·V"}
AGAINST = {"per_example": "jax.vmap(jax.grad)", "weighted": "jax.value_and_grad",
           "hvp": "jax.jvp(jax.grad)", "ggn": "jax.jvp + jax.vjp"}
DEFAULT_SCALE = (0.1, 1.0)  # as check_implementation's: |X| of standardised data
GAINS = (-0.5, 0.0)
L2_STRENGTHS = (0.0, 0.0, 0.01, 0.5)
ZERO_FRACTIONS = (0.0, 0.0, 0.3)
EVIDENCE = 1e-2
BUILT_IN_LOSSES = ("binary_cross_entropy", "cross_entropy", "mse")


def check_kind(kind) -> str:
    """kind itself, or ValueError naming the valid kinds and their signatures."""
    if not isinstance(kind, str) or kind not in KINDS:
        lines = "; ".join(f"{k!r}: {SIGNATURES[k]}" for k in KINDS)
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))} ({lines}), got {kind!r}")
    return kind


class Counterexample(NamedTuple):
    """The shrunk failing case: params in our layout; V (hvp, ggn) or sample_weight (weighted), else None."""

    spec: NetworkSpec
    params: list
    X: np.ndarray
    y: np.ndarray
    V: Optional[list] = None
    sample_weight: Optional[np.ndarray] = None


class SecondOrderReport(NamedTuple):
    """The shrunk case's comparison: one LeafError per leaf ('layer 2, dW'), and the loss (weighted)."""

    kind: str
    spec: NetworkSpec
    batch: int
    rows: tuple  # LeafError, layer 1 dW, layer 1 db, ...
    loss: Optional[float] = None
    loss_reference: Optional[float] = None
    loss_passed: Optional[bool] = None

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows) and self.loss_passed is not False


# ---- calling the user's function ---------------------------------------------------------


def _takes_spec(fn, kind) -> bool:
    """fn is callable with the kind's positional arguments; whether it also takes `spec`."""
    n_args = 4 if kind in ("weighted", "hvp", "ggn") else 3
    if not callable(fn):
        raise TypeError(f"check_implementation(kind={kind!r}) needs a function {SIGNATURES[kind]}, "
                        f"got {type(fn).__name__}")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    params = signature.parameters
    takes_spec = "spec" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    try:
        signature.bind(*([None] * n_args), **({"spec": None} if takes_spec else {}))
    except TypeError:
        raise TypeError(f"kind={kind!r} calls {SIGNATURES[kind]}; {implementation.qualified_name(fn)}{signature} "
                        f"cannot be called with {n_args} arguments") from None
    return takes_spec


def _call(fn, kind, case, takes_spec):
    """(loss or None, [(dW, db), ...] float64) from the user's function, its return checked."""
    spec, params, X, y, V, w = case
    args = [[(W.copy(), b.copy()) for W, b in params], X.copy(), np.array(y)]
    if kind == "weighted":
        args.append(w.copy())
    elif kind in ("hvp", "ggn"):
        args.append([(VW.copy(), Vb.copy()) for VW, Vb in V])
    name = implementation.qualified_name(fn)
    try:
        with np.errstate(all="ignore"):
            returned = fn(*args, **({"spec": spec} if takes_spec else {}))
    except Exception as err:  # noqa: BLE001  the user's code: reported with the case, never our traceback
        raise implementation.ImplementationRaised(f"{name} raised {type(err).__name__}: {err}") from err
    loss = None
    if kind == "weighted":
        if not isinstance(returned, (tuple, list)) or len(returned) != 2:
            raise implementation.ImplementationTypeError(
                f"{name} must return (loss, [(dW, db), ...]) for kind='weighted', got {_kind_of(returned)}")
        loss, returned = returned
        if isinstance(loss, np.ndarray) and loss.size == 1:
            loss = loss.reshape(())
        if isinstance(loss, bool) or not isinstance(loss, (numbers.Real, np.ndarray)) or np.ndim(loss) != 0:
            raise implementation.ImplementationTypeError(f"{name}'s loss must be a real number, got {_kind_of(loss)}")
        loss = float(loss)
    n = X.shape[0]
    shapes = [((n, i, o), (n, o)) if kind == "per_example" else ((i, o), (o,)) for (i, o), _ in spec.layer_shapes()]
    return loss, _read_grads(returned, shapes, name, kind)


def _kind_of(value) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__ if not isinstance(value, np.ndarray) else f"an array of shape {value.shape}"


def _read_grads(returned, shapes, name, kind):
    what = "[(dW (N, fan_in, fan_out), db (N, fan_out)), ...]" if kind == "per_example" else "[(dW, db), ...]"
    if not isinstance(returned, (tuple, list)) or len(returned) != len(shapes):
        raise implementation.ImplementationTypeError(
            f"{name} must return {what}, one pair per layer ({len(shapes)}), got {_kind_of(returned)}")
    out = []
    for l, (pair, expected) in enumerate(zip(returned, shapes), start=1):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise implementation.ImplementationTypeError(
                f"{name}: layer {l} must be a pair (dW, db), got {_kind_of(pair)}")
        leaves = []
        for leaf, value, shape in zip(("dW", "db"), pair, expected):
            try:
                array = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise implementation.ImplementationTypeError(
                    f"{name}: layer {l}, {leaf} is not an array of numbers ({type(value).__name__})") from None
            if array.shape != shape:
                raise implementation.ImplementationValueError(
                    f"{name}: layer {l}, {leaf} has shape {array.shape}, expected {shape}"
                    + (" (one row per example first)" if kind == "per_example" else ""))
            if not np.all(np.isfinite(array)):
                raise implementation.ImplementationValueError(f"{name}: layer {l}, {leaf} contains NaN or inf")
            leaves.append(array)
        out.append(tuple(leaves))
    return out


# ---- what JAX says, and the comparison ----------------------------------------------------


def reference_values(kind, case):
    """(loss or None, [(dW, db), ...]) from reference.bucketed_second_order."""
    from reference import bucketed_second_order as ref

    spec, params, X, y, V, w = case
    if kind == "per_example":
        return None, ref.per_example_gradients(spec, params, X, y)
    if kind == "weighted":
        return ref.loss_and_grads(spec, params, X, y, sample_weight=w)
    if kind == "hvp":
        return None, ref.hessian_vector_product(spec, params, X, y, V)
    return None, ref.gauss_newton_vector_product(spec, params, X, y, V)


def compare(kind, case, loss, grads) -> SecondOrderReport:
    """The report of the user's (loss, grads) against JAX's, rounding of saturated units forgiven."""
    from .second_order_properties import SecondOrderCase, gross, within_rounding

    spec, params, X, y, V, w = case
    loss_ref, grads_ref = reference_values(kind, case)
    scale = network_scale(grads_ref)
    rows = []
    for l, (mine, theirs) in enumerate(zip(grads, grads_ref), start=1):
        for leaf, a, b in zip(("dW", "db"), mine, theirs):
            rows.append(leaf_error(f"layer {l}, {leaf}", a, b, scale=scale))
    loss_passed = None
    if kind == "weighted":
        loss_passed = bool(abs(loss - loss_ref) <= LOSS_RTOL * max(1.0, abs(loss_ref)))
    if not all(r.passed for r in rows):
        so_case = SecondOrderCase(spec, params, X, y, V if V is not None else [], [], w if w is not None else
                                  np.ones(X.shape[0]))
        bound = gross(so_case, "per_example" if kind in ("per_example", "weighted") else "hvp")
        if kind == "weighted":
            share = w / w.sum()  # (N,)
            bound = [(np.tensordot(share, GW, 1), share @ Gb) for GW, Gb in bound]
        if within_rounding(grads, grads_ref, bound):
            rows = [r._replace(passed=True) for r in rows]
    return SecondOrderReport(kind, spec, X.shape[0], tuple(rows), loss, loss_ref, loss_passed)


def _evidence(report: SecondOrderReport) -> float:
    worst = [r.max_rel for r in report.rows if not r.passed]
    if report.loss_passed is False:
        worst.append(abs(report.loss - report.loss_reference) / max(abs(report.loss_reference), 1e-300))
    return max(worst, default=0.0)


# ---- what a difference looks like ---------------------------------------------------------


def diagnose(kind, case, loss, grads, report) -> list:
    """Lines saying what the user's result looks like, when it is a known mistake."""
    spec, params, X, y, V, w = case
    n = X.shape[0]
    lines = []
    _, ref = reference_values(kind, case)
    if kind in ("per_example", "weighted"):
        lam_W = [(spec.l2 * W[None] if kind == "per_example" else spec.l2 * W, 0.0) for W, _ in params]
        if spec.l2 and _same(grads, [(dW - lW, db) for (dW, db), (lW, _) in zip(ref, lam_W)]):
            lines.append("yours lacks the penalty's gradient λW: " + (
                "here each row's gradient includes λW (their mean is the batch gradient; Opacus leaves it out: "
                "subtract it afterwards)" if kind == "per_example" else "add λW to every dW"))
        ratio = _ratio(grads, ref, spec)
        if ratio is not None and kind == "per_example":
            if n > 1 and math.isclose(ratio, 1.0 / n, rel_tol=1e-6):
                lines.append(f"yours is 1/N = 1/{n} × jax's: each row's gradient divided by N (the batch's dz "
                             "carries the mean's 1/N; a row's own gradient is ∂ℓₙ, δ = N dz)")
            elif n > 1 and math.isclose(ratio, n, rel_tol=1e-6):
                lines.append(f"yours is N = {n} × jax's: multiplied by N once too often")
            elif not math.isclose(ratio, 1.0, rel_tol=1e-6):
                lines.append(f"yours is {ratio:.6g} × jax's throughout")
        if kind == "weighted":
            s = float(w.sum())
            if ratio is not None and not math.isclose(s, n, rel_tol=1e-9) and math.isclose(ratio, s / n, rel_tol=1e-6):
                lines.append(f"yours is Σw/N = {s:g}/{n} × jax's: Σ wₙ ℓₙ divided by N, not by Σ wₙ (Keras' "
                             "sum_over_batch_size); here the weights are normalised, scikit-learn's Σ wₙ ℓₙ / Σ wₙ")
            elif ratio is not None and math.isclose(ratio, s, rel_tol=1e-6) and not math.isclose(s, 1.0):
                lines.append(f"yours is Σw = {s:g} × jax's: Σ wₙ ℓₙ not divided by Σ wₙ")
    elif kind in ("hvp", "ggn"):
        from reference import bucketed_second_order as ref2

        other = (ref2.gauss_newton_vector_product if kind == "hvp" else ref2.hessian_vector_product)(spec, params, X,
                                                                                                   y, V)
        if _same(grads, other) and not _same(ref, other):
            lines.append("yours equals G·V, the Gauss-Newton product: the R-backward lacks the network's second "
                         "derivatives (dz V_Wᵀ, R{a}ᵀ dz and da ⊙ f'' ⊙ R{z})" if kind == "hvp" else
                         "yours equals H·V, the Hessian of the whole loss: G·V keeps the loss's Hessian only, "
                         "G·V = Jᵀ H_s (J V) + λ V_W (a backward of u = H_s J V with f' alone)")
        elif spec.l2 and _same(grads, [(dW - spec.l2 * VW, db) for (dW, db), (VW, _) in zip(ref, V)]):
            lines.append("yours lacks λ V_W, the penalty's part (H and G are of the whole loss, penalty included)")
        elif kind == "hvp":
            for term, words in (("f2", "da ⊙ f''(z) ⊙ R{z}: the second-derivative term of the activation"),
                                ("dzV", "dz V_Wᵀ in R{da}"), ("Ra", "R{a}ᵀ dz in R{dW}")):
                if _same(grads, hvp_without(term, spec, params, X, y, V)) and not _same(ref, hvp_without(
                        term, spec, params, X, y, V)):
                    lines.append(f"the cause is: the R-backward misses {words}")
                    break
    if not lines:
        L = spec.n_layers
        last_ok = all(r.passed for r in report.rows if r.name.startswith(f"layer {L},"))
        if L > 1 and last_ok and any(not r.passed for r in report.rows):
            lines.append(f"layer {L}'s dW and db agree and earlier layers' do not: the mistake is on the way back, "
                         f"below layer {L}" + (" (R{da}, R{dz} through f', f'')" if kind == "hvp" else ""))
    return lines


def _same(a, b) -> bool:
    return all(np.allclose(x, y, rtol=1e-7, atol=1e-12 * network_scale(b)) for pa, pb in zip(a, b)
               for x, y in zip(pa, pb))


def _ratio(mine, ref, spec) -> Optional[float]:
    """r when every db (the leaves without λW) is r × jax's, else None."""
    num = sum(float(np.vdot(m[1], r[1])) for m, r in zip(mine, ref))
    den = sum(float(np.vdot(r[1], r[1])) for r in ref)
    if den == 0:
        return None
    r = num / den
    if all(np.allclose(m[1], r * rr[1], rtol=1e-6, atol=1e-12 * network_scale(ref)) for m, rr in zip(mine, ref)):
        return r
    return None


def hvp_without(term, spec, params, X, y, V):
    """H·V by manual's R-pass with one term left out (term: 'f2', 'dzV' or 'Ra'): what a missing term
    gives, to name it. A diagnosis only: manual.hessian_vector_product is the derivation."""
    from manual.activations import get_activation
    from manual.losses import get_loss
    from manual.network import forward_with_cache
    from manual.second_order import r_forward
    from manual.validation import encode_targets

    L = spec.n_layers
    Y = encode_targets(spec, y, X.shape[0])
    with np.errstate(all="ignore"):
        logits, caches = forward_with_cache(spec, params, X)
        Rz, Ra = r_forward(spec, params, caches, V)
        loss = get_loss(spec.loss)
        dz = loss.value_and_dlogits(logits, Y)[1]  # (N, K)
        Rdz = loss.hessian_vector(logits, Y, Rz[L - 1])  # (N, K)
        out = [None] * L
        for l in reversed(range(L)):
            W, VW = params[l][0], V[l][0]
            RdW = caches[l].a_in.T @ Rdz + spec.l2 * VW
            if l > 0 and term != "Ra":
                RdW = RdW + Ra[l - 1].T @ dz
            out[l] = (RdW, Rdz.sum(axis=0))
            if l > 0:
                c, act = caches[l - 1], get_activation(spec.hidden[l - 1])
                da = dz @ W.T
                Rda = Rdz @ W.T + (0.0 if term == "dzV" else dz @ VW.T)
                d1 = act.derivative(c.z, c.a)
                dz = da * d1
                Rdz = Rda * d1 + (0.0 if term == "f2" else da * act.second_derivative(c.z, c.a) * Rz[l - 1])
    return out


# ---- the property ---------------------------------------------------------------------------


def _plan(fn_takes_spec, sizes, hidden, loss, l2, max_layers):

    if not fn_takes_spec and (hidden is None or loss is None):
        missing = " and ".join(n for n, v in (("hidden", hidden), ("loss", loss)) if v is None)
        raise ValueError(f"your function does not take `spec`, so it cannot be told which activation and loss to "
                         f"compute: pass {missing} (e.g. hidden='tanh', loss='cross_entropy'), or give it a `spec` "
                         "keyword argument to check it on drawn activations and losses")
    sizes, hidden, l2 = checked_network_options(sizes, hidden, l2, fn_takes_spec, max_layers)
    if loss is not None and loss not in BUILT_IN_LOSSES:
        raise ValueError(f"loss must be one of {', '.join(BUILT_IN_LOSSES)} for these checks, got {loss!r}")
    losses = [loss] if loss is not None else list(BUILT_IN_LOSSES)
    if sizes is not None:
        for name in list(losses):
            try:
                NetworkSpec(sizes, "identity", name)
            except ValueError:
                if loss is not None:
                    raise
                losses.remove(name)
    return sizes, hidden, losses, l2


def _cases(plan, max_layers, max_width, max_batch, lo, hi):
    from hypothesis import strategies as st

    from manual import spec as _spec

    from .cases import random_labels
    from .second_order_properties import direction
    from .strategies import _draw_parameters

    sizes_fixed, hidden_fixed, losses, l2 = plan

    @st.composite
    def cases(draw):
        loss = draw(st.sampled_from(losses))
        target = _spec.LOSS_TARGETS[loss]
        if sizes_fixed is not None:
            sizes = list(sizes_fixed)
        else:
            L = len(hidden_fixed) + 1 if isinstance(hidden_fixed, list) else draw(st.integers(1, max_layers))
            sizes = [draw(st.integers(1, max_width)) for _ in range(L + 1)]
            if target == "binary":
                sizes[-1] = 1
            elif target == "classes":
                sizes[-1] = draw(st.integers(2, max(2, max_width)))
        hidden = hidden_fixed if hidden_fixed is not None else [
            draw(st.sampled_from(list(_spec.ACTIVATION_NAMES))) for _ in range(len(sizes) - 2)]
        spec = NetworkSpec(sizes, hidden, loss, l2 if l2 is not None else draw(st.sampled_from(L2_STRENGTHS)))
        params = _draw_parameters(draw, spec, gains=st.floats(*GAINS, allow_nan=False))
        n = draw(st.integers(1, max_batch))
        x_scale = 10.0 ** draw(st.floats(math.log10(lo), math.log10(hi), allow_nan=False))
        zero_fraction = draw(st.sampled_from(ZERO_FRACTIONS))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        X = rng.standard_normal((n, sizes[0])) * x_scale  # (N, n_in)
        X[rng.random(X.shape) < zero_fraction] = 0.0
        y = random_labels(spec, n, rng)
        w = rng.integers(0, 4, size=n).astype(np.float64)  # (N,) integer weights, zeros included
        w[rng.integers(n)] = 1.0 + rng.integers(3)  # Σ w > 0
        return spec, params, X, y, direction(spec, rng), w

    return cases()


def _check_count(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_second_order(fn, kind: str, *, examples: int = 200, seed: int = 0, sizes=None, hidden=None, loss=None,
                       max_layers: int = 3, max_width: int = 8, max_batch: int = 16, l2=0.0,
                       scale=DEFAULT_SCALE) -> CheckResult:
    """`check_implementation(fn, kind=...)` for kind 'per_example', 'weighted', 'hvp' or 'ggn'
    (module docstring). Returns a CheckResult whose counterexample is a `Counterexample` (params in
    our layout, and V or sample_weight) and whose report a `SecondOrderReport`; raises an
    `implementation.ImplementationError` (a TypeError or ValueError) with the shrunk case when fn
    raises or returns something of the wrong kind or shape."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, reject, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis.errors import Unsatisfiable

    from .second_order_properties import near_a_kink_twice

    check_kind(kind)
    if kind == "gradients":
        raise ValueError("kind='gradients' is check_implementation's own check")
    takes_spec = _takes_spec(fn, kind)
    for value, what in ((examples, "examples"), (max_layers, "max_layers"), (max_width, "max_width"),
                        (max_batch, "max_batch")):
        _check_count(value, what)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    try:
        lo, hi = (float(v) for v in scale)
    except (TypeError, ValueError):
        raise TypeError(f"scale must be a pair (lo, hi) of input magnitudes such as (0.1, 1), got {scale!r}") from None
    if not (0 < lo <= hi < math.inf):
        raise ValueError(f"scale must be (lo, hi) with 0 < lo ≤ hi, finite, got {scale!r}")
    plan = _plan(takes_spec, sizes, hidden, loss, l2, max_layers)
    state = {"ran": 0, "failed": False, "last": None, "first": None, "threshold": EVIDENCE, "small": False}

    def one_case(case):
        try:
            loss_u, grads_u = _call(fn, kind, case, takes_spec)
        except implementation.ImplementationError as err:
            state["failed"], state["last"] = True, (case, err, None, None)
            raise
        report = compare(kind, case, loss_u, grads_u)
        if not report.passed and near_a_kink_twice(case[0], case[1], case[2]):
            reject()
        if not report.passed:
            evidence = _evidence(report)
            if evidence < state["threshold"]:
                state["small"] = True  # off by little: not what is shrunk while larger differences are looked for
                return
            if state["first"] is None:
                state["first"] = report
                if not state["threshold"]:
                    state["threshold"] = min(EVIDENCE, evidence / 10)
            state["failed"], state["last"] = True, (case, None, report, (loss_u, grads_u))
            raise _Failure()
        if not state["failed"]:
            state["ran"] += 1

    prop = settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                    suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink],
                    report_multiple_bugs=False, print_blob=False, verbosity=Verbosity.quiet)(
        given(_cases(plan, max_layers, max_width, max_batch, lo, hi))(one_case))
    prop = hypothesis_seed(seed)(prop)
    try:
        prop()
        if state["small"]:  # only cases off by little: look again, shrinking among those
            state.update(ran=0, failed=False, last=None, first=None, threshold=0.0, small=False)
            prop()
    except _Failure:
        case, _, report, (loss_u, grads_u) = state["last"]
        try:
            words = diagnose(kind, case, loss_u, grads_u, report)
        except (TypeError, ValueError, ArithmeticError):  # e.g. a registered activation without f'': no words
            words = []
        message = failure_message(kind, report, words)
        return CheckResult(False, state["ran"] + 1, _counterexample(kind, case), message, report, seed)
    except implementation.ImplementationError:
        case, err, _, _ = state["last"]
        raise implementation.on_smallest_case(err, describe_network(case[0], case[2].shape[0]),
                                              _counterexample(kind, case)) from err.__cause__
    except Unsatisfiable:
        return search_ended(state["ran"], seed, rejected=True)
    return search_ended(state["ran"], seed)


class _Failure(AssertionError):
    pass


def _counterexample(kind, case) -> Counterexample:
    spec, params, X, y, V, w = case
    return Counterexample(spec, params, X, y, V if kind in ("hvp", "ggn") else None,
                          w if kind == "weighted" else None)


def failure_message(kind, report: SecondOrderReport, diagnosis) -> str:
    """First line: the first failing leaf with both values at its worst entry (or the loss); then the
    shrunk network, what the difference looks like, and what was compared."""
    lines = []
    failing = [r for r in report.rows if not r.passed]
    if report.loss_passed is False:
        lines.append(f"loss: yours {report.loss!r}, jax {report.loss_reference!r}")
    for row in failing[:1]:
        if row.worst_index is None:
            lines.append(f"{row.name}: shape differs from jax's")
        else:
            at = ", ".join(map(str, row.worst_index))
            row_words = f" (row {row.worst_index[0]})" if kind == "per_example" else ""
            lines.append(f"{row.name}[{at}]{row_words}: yours {row.manual_value!r}, {AGAINST[kind]} "
                         f"{row.ref_value!r} (max relative error over the leaf {row.max_rel:.2g})")
    lines.append(f"network: {describe_network(report.spec, report.batch)} (the shrunk case)")
    lines += diagnosis
    if failing:
        lines.append(f"{len(failing)} of {len(report.rows)} leaves differ: {', '.join(r.name for r in failing)}")
    lines.append(f"checked: {WHAT[kind]} against {AGAINST[kind]} (float64)")
    return "\n".join(lines)
