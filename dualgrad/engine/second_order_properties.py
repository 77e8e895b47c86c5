"""The properties of manual/second_order.py and of the weighted loss, against autodiff.

Each takes one generated case (from `second_order_cases()`) and raises AssertionError naming the
leaf when it fails. The functions checked are arguments (`impl=`, default manual's), so that a
user's own per-example gradients, weighted loss, H·V or G·V can be run through the same
properties with the same conventions:

    per_example_gradients(spec, params, X, y) -> [(dW (N, fan_in, fan_out), db (N, fan_out)), ...]
    loss_and_grads(spec, params, X, y, sample_weight=w) -> (loss, [(dW, db), ...])
    hessian_vector_product(spec, params, X, y, V) / gauss_newton_vector_product(...) -> [(dW, db), ...]

Against JAX (`reference.bucketed_second_order`, one compiled program per bucket, proven equal to
the plain twins in tests/test_second_order.py) at `dualgrad.engine.compare`'s tolerance; the others are
identities of the math (mean of per-example = batch gradient, ⟨U, H V⟩ = ⟨H U, V⟩, ⟨V, G V⟩ ≥ 0,
G = H without a hidden layer, weights of ones = no weights, integer weights = repeated rows).

Kinks: a failing case with a non-smooth unit within rounding of its kink is rejected, not failed,
as in `dualgrad.engine.properties`. For second derivatives elu counts as non-smooth too (elu'' jumps from
0 to α at 0).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hypothesis import reject
from hypothesis import strategies as st

import manual
from reference import bucketed_second_order as ref

from .report import SMOOTH
from .compare import assert_close, assert_grads_close, network_scale
from .properties import ROUNDING_ULPS, rounding_bounds
from .strategies import network_cases

SMOOTH_TWICE = SMOOTH - {"elu"}  # f'' continuous at 0
_EPS = np.finfo(np.float64).eps
_SEEDS = st.integers(0, 2**32 - 1)


class SecondOrderCase(NamedTuple):
    spec: manual.NetworkSpec
    params: list
    X: np.ndarray  # (N, sizes[0])
    y: np.ndarray
    V: list  # a direction in the params' layout
    U: list  # another one
    w: np.ndarray  # (N,) integer sample weights in 0..3, at least one > 0


def direction(spec, rng) -> list:
    """A random direction [(V_W, V_b), ...] in the params' layout, entries ~ N(0, 1)."""
    return [(rng.standard_normal(w), rng.standard_normal(b)) for w, b in spec.layer_shapes()]


def second_order_cases(max_layers=5, max_width=32, max_batch=64, **kwargs) -> st.SearchStrategy[SecondOrderCase]:
    """network_cases plus two directions V, U and integer sample weights, all from one drawn seed.
    The defaults fit one bucket of `reference.bucketed` (5 layers, width 32, batch 64)."""

    @st.composite
    def cases(draw):
        spec, params, X, y = draw(network_cases(max_layers, max_width, max_batch, **kwargs))
        rng = np.random.default_rng(draw(_SEEDS))
        w = rng.integers(0, 4, size=X.shape[0]).astype(np.float64)  # (N,)
        w[rng.integers(X.shape[0])] = 1.0 + rng.integers(3)  # Σ w > 0
        return SecondOrderCase(spec, params, X, y, direction(spec, rng), direction(spec, rng), w)

    return cases()


def near_a_kink_twice(spec, params, X) -> bool:
    """Some unit whose f' or f'' jumps at 0 has |z| below the rounding bound (see dualgrad.engine.properties)."""
    return any(name not in SMOOTH_TWICE and np.any(np.abs(z) < err_z)
               for name, (z, err_z) in zip(spec.hidden, rounding_bounds(spec, params, X)))


def _against_reference(case, got, expected, what="hvp"):
    try:
        assert_grads_close(got, expected)
    except AssertionError:
        bound = gross(case, "per_example" if what == "weighted" else what)
        if what == "weighted":  # the weighted mean of the rows' bounds: Σ wₙ Gₙ / Σ w
            share = case.w / case.w.sum()  # (N,)
            bound = [(np.tensordot(share, GW, 1), share @ Gb) for GW, Gb in bound]
        if within_rounding(got, expected, bound):
            return
        if near_a_kink_twice(case.spec, case.params, case.X):
            reject()
        raise


def within_rounding(got, expected, bound) -> bool:
    """Every |got − expected| ≤ ROUNDING_ULPS·ε times the gross bound of its entry (see `gross`)."""
    for pair_g, pair_e, pair_b in zip(got, expected, bound):
        for g, e, b in zip(pair_g, pair_e, pair_b):
            diff = np.abs(np.asarray(g, np.float64) - np.asarray(e, np.float64))
            if diff.shape != np.shape(b) or not np.all(diff <= ROUNDING_ULPS * _EPS * b):  # NaN fails too
                return False
    return True


def gross(case, what="hvp") -> list:
    """A bound, per entry, on the magnitude of the terms summed into H V (what="hvp", which also
    bounds G V's) or into the per-example gradients (what="per_example"): the R-pass of
    manual/second_order.py on absolute values, with |f'| + 1 for f', |f''| + 1 for f'' and a loss
    Hessian of 1 per unit: each "+ 1" stands for a factor computed with an absolute error of some
    ulps of 1 (1 − a² from a rounded a ≈ ±1, p (1 − p) from a rounded p ≈ 1), whatever it is.

    As `dualgrad.engine.properties.within_rounding` does for gradients, it settles saturated units only:
    a real mistake changes a result by a fraction of this bound, ~1e13 times more than it allows.
    """
    from manual.activations import get_activation
    from manual.losses import get_loss
    from manual.network import forward_with_cache
    from manual.validation import encode_targets

    spec, params, X, y = case[:4]
    X = np.asarray(X, np.float64)  # (N, sizes[0])
    N = X.shape[0]
    logits, caches = forward_with_cache(spec, params, X)
    Y = np.abs(encode_targets(spec, y, N))  # (N, K)
    dz = (np.abs(get_loss(spec.loss).output(logits)) + Y + np.abs(logits)) / N  # (N, K) ≥ |ds|
    L = spec.n_layers
    absW = [np.abs(W) for W, _ in params]
    if what == "per_example":
        out = [None] * L
        for l in reversed(range(L)):
            out[l] = (np.einsum("ni,no->nio", np.abs(caches[l].a_in), N * dz) + spec.l2 * absW[l], N * dz)
            if l > 0:
                c = caches[l - 1]
                dz = (dz @ absW[l].T) * (np.abs(get_activation(spec.hidden[l - 1]).derivative(c.z, c.a)) + 1.0)
        return out
    absV = [(np.abs(VW), np.abs(Vb)) for VW, Vb in case.V]
    Rz, Ra, Ra_prev = [], [], None
    for l in range(L):  # R-forward on magnitudes
        c = caches[l]
        Rz_l = np.abs(c.a_in) @ absV[l][0] + absV[l][1] + (0.0 if Ra_prev is None else Ra_prev @ absW[l])
        Rz.append(Rz_l)
        if l < L - 1:
            Ra_prev = (np.abs(get_activation(spec.hidden[l]).derivative(c.z, c.a)) + 1.0) * Rz_l
            Ra.append(Ra_prev)
    Rdz = 2.0 * (Rz[-1] + Rz[-1].sum(axis=1, keepdims=True)) / N  # (N, K) ≥ |H_s R{s}| terms
    out = [None] * L
    for l in reversed(range(L)):
        RdW = np.abs(caches[l].a_in).T @ Rdz + spec.l2 * absV[l][0]
        if l > 0:
            RdW = RdW + Ra[l - 1].T @ dz
        out[l] = (RdW, Rdz.sum(axis=0))
        if l > 0:
            c = caches[l - 1]
            act = get_activation(spec.hidden[l - 1])
            d1 = np.abs(act.derivative(c.z, c.a)) + 1.0
            d2 = np.abs(act.second_derivative(c.z, c.a)) + 1.0
            da, Rda = dz @ absW[l].T, Rdz @ absW[l].T + dz @ absV[l][0].T
            dz, Rdz = da * d1, Rda * d1 + da * d2 * Rz[l - 1]
    return out


def per_example_gradients_match(case, impl=manual.per_example_gradients) -> None:
    """Every row's dW (N, fan_in, fan_out) and db (N, fan_out) equal jax.vmap(jax.grad) per row."""
    spec, params, X, y = case[:4]
    _against_reference(case, impl(spec, params, X, y), ref.per_example_gradients(spec, params, X, y), "per_example")


def per_example_mean_is_the_gradient(case, impl=manual.per_example_gradients) -> None:
    """The mean over rows of the per-example gradients is loss_and_grads' gradient (λW included)."""
    spec, params, X, y = case[:4]
    mean = [(dW.mean(axis=0), db.mean(axis=0)) for dW, db in impl(spec, params, X, y)]
    assert_grads_close(mean, manual.loss_and_grads(spec, params, X, y)[1])


def weighted_loss_matches(case, impl=manual.loss_and_grads) -> None:
    """Σ wₙ ℓₙ / Σ w + (λ/2) Σ‖W‖² and its gradients equal jax.value_and_grad's."""
    spec, params, X, y = case[:4]
    value, grads = impl(spec, params, X, y, sample_weight=case.w)
    value_r, grads_r = ref.loss_and_grads(spec, params, X, y, sample_weight=case.w)
    try:
        assert_close("loss", value, value_r)
    except AssertionError:
        if near_a_kink_twice(spec, params, X):
            reject()
        raise
    _against_reference(case, grads, grads_r, "weighted")


def unit_weights_change_nothing(case, impl=manual.loss_and_grads) -> None:
    """sample_weight of ones (or of any one constant) gives the unweighted loss and gradients."""
    spec, params, X, y = case[:4]
    value, grads = impl(spec, params, X, y)
    for c in (1.0, 3.0):
        value_w, grads_w = impl(spec, params, X, y, sample_weight=np.full(X.shape[0], c))
        assert_close(f"loss with weights {c}", value_w, value)
        assert_grads_close(grads_w, grads)


def integer_weights_repeat_rows(case, impl=manual.loss_and_grads) -> None:
    """Integer weights equal repeating each row that many times (0: leaving it out)."""
    spec, params, X, y = case[:4]
    reps = case.w.astype(np.int64)
    value_w, grads_w = impl(spec, params, X, y, sample_weight=case.w)
    value_r, grads_r = impl(spec, params, np.repeat(X, reps, axis=0), np.repeat(np.asarray(y), reps, axis=0))
    assert_close("loss", value_w, value_r)
    assert_grads_close(grads_w, grads_r)


def hessian_vector_product_matches(case, impl=manual.hessian_vector_product) -> None:
    """H V equals jax.jvp(jax.grad(L)) along V."""
    spec, params, X, y = case[:4]
    _against_reference(case, impl(spec, params, X, y, case.V), ref.hessian_vector_product(spec, params, X, y, case.V))


def gauss_newton_vector_product_matches(case, impl=manual.gauss_newton_vector_product) -> None:
    """G V equals Jᵀ H_s J V + λ V_W from jax.jvp and jax.vjp of the logits."""
    spec, params, X, y = case[:4]
    _against_reference(case, impl(spec, params, X, y, case.V),
                       ref.gauss_newton_vector_product(spec, params, X, y, case.V))


def inner(A, B) -> float:
    """⟨A, B⟩ = Σ over every leaf of Σ A ⊙ B, for two trees in the params' layout."""
    return float(sum(np.vdot(a, b) for pa, pb in zip(A, B) for a, b in zip(pa, pb)))


def _magnitude(A, B) -> float:
    """Σ |A| ⊙ |B| over every leaf: the size of the terms summed into ⟨A, B⟩ (its rounding scale)."""
    return float(sum(np.vdot(np.abs(a), np.abs(b)) for pa, pb in zip(A, B) for a, b in zip(pa, pb)))


def hessian_is_symmetric(case, impl=manual.hessian_vector_product) -> None:
    """⟨U, H V⟩ = ⟨H U, V⟩ to rounding of the terms summed (RTOL of dualgrad.engine.compare times Σ|U||HV|)."""
    from .compare import RTOL

    spec, params, X, y = case[:4]
    HV, HU = impl(spec, params, X, y, case.V), impl(spec, params, X, y, case.U)
    left, right = inner(case.U, HV), inner(HU, case.V)
    bound = RTOL * max(_magnitude(case.U, HV), _magnitude(HU, case.V), network_scale(HV) * 1e-3)
    assert abs(left - right) <= bound, f"⟨U, H V⟩ = {left!r} but ⟨H U, V⟩ = {right!r} (allowed {bound:.3g})"


def gauss_newton_is_psd(case, impl=manual.gauss_newton_vector_product) -> None:
    """⟨V, G V⟩ ≥ 0 (to rounding of the terms summed), and ≥ λ‖V_W‖² in exact arithmetic."""
    from .compare import RTOL

    spec, params, X, y = case[:4]
    GV = impl(spec, params, X, y, case.V)
    quad, bound = inner(case.V, GV), RTOL * _magnitude(case.V, GV)
    assert quad >= -bound, f"⟨V, G V⟩ = {quad!r} < 0 (allowed −{bound:.3g})"
    floor = spec.l2 * sum(float(np.vdot(VW, VW)) for VW, _ in case.V)
    assert quad >= floor - bound - RTOL * abs(floor), f"⟨V, G V⟩ = {quad!r} < λ‖V_W‖² = {floor!r}"


def gauss_newton_is_hessian_without_hidden_layer(case, hvp=manual.hessian_vector_product,
                                                 ggn=manual.gauss_newton_vector_product) -> None:
    """With no hidden layer the logits are linear in θ: G V = H V (asked of one-layer cases)."""
    spec, params, X, y = case[:4]
    assert spec.n_layers == 1, "this property is for networks without a hidden layer"
    assert_grads_close(ggn(spec, params, X, y, case.V), hvp(spec, params, X, y, case.V))
