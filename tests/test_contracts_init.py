"""The initializers' statistical contract, as manual/initializers.py documents it:

    he:      W ~ N(0, 2 / fan_in)
    xavier:  W ~ N(0, 2 / (fan_in + fan_out))      (Glorot, normal form)
    b = 0

checked on large matrices with tolerances derived from the sample size, in both dtypes.

Each check is a z-test at Z = 6 standard errors: for one check the probability of a false failure
(correct code, unlucky draw) is P(|N(0,1)| > 6) ≈ 2.0e-9, so below 1e-7 for the whole file
(< 50 checks), and the seeds are fixed, so a run that passes once passes always. For n i.i.d.
draws of N(0, σ²):

    mean     x̄          has standard error σ / √n
    variance mean(x²)   has standard error σ² √(2/n)      (Var x² = 2σ⁴ for a centred normal)
    tail     P(|x| > 2σ) = p = 0.0455, its frequency has standard error √(p(1−p)/n)

With n ≥ 40,000 per layer the variance is known to ±6·√(2/n) ≤ 4.3 % relative: a scale wrong by
any constant factor that matters (½ for 1/fan_in, fan_out for fan_in, ...) is far outside, and a
uniform draw with the right variance has no mass beyond √3 σ < 2σ, so the tail check catches it.
Casting to float32 changes a draw by ≤ 2⁻²⁴ relative, far inside these tolerances.
"""

import math

import numpy as np
import pytest

import manual
from manual.initializers import init_params
from manual.spec import NetworkSpec

Z = 6.0  # standard errors; two-sided false-failure probability per check: math.erfc(6 / √2) ≈ 2.0e-9
TAIL_P = math.erfc(2 / math.sqrt(2))  # P(|N(0, 1)| > 2) = 0.0455
# fan_in ≠ fan_out everywhere, so he and xavier and every mix-up of fan_in / fan_out differ
SPEC = NetworkSpec([200, 300, 150, 400], ["tanh", "relu"], "cross_entropy")
DTYPES = [np.float64, np.float32]


def documented_variance(init, fan_in, fan_out):
    return 2.0 / fan_in if init == "he" else 2.0 / (fan_in + fan_out)


def layers(init, dtype, seed=0):
    params = init_params(SPEC, seed=seed, init=init, dtype=dtype)
    assert len(params) == SPEC.n_layers
    for l, ((W, b), fan_in, fan_out) in enumerate(zip(params, SPEC.sizes[:-1], SPEC.sizes[1:]), start=1):
        yield l, W, b, fan_in, fan_out


def test_false_failure_probability_is_as_stated():
    assert math.erfc(Z / math.sqrt(2)) < 2.1e-9


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("init", ["he", "xavier"])
def test_weights_have_the_documented_mean_and_variance(init, dtype):
    for l, W, _, fan_in, fan_out in layers(init, dtype):
        assert W.shape == (fan_in, fan_out) and W.dtype == dtype, f"layer {l}: {W.shape} {W.dtype}"
        x = W.astype(np.float64).ravel()
        n, var = x.size, documented_variance(init, fan_in, fan_out)
        mean_se = math.sqrt(var / n)
        assert abs(x.mean()) <= Z * mean_se, f"{init} layer {l}: mean {x.mean():.3g}, expected 0 ± {Z * mean_se:.3g}"
        measured = float(np.mean(x * x))  # the mean is known (0): E x² = σ²
        var_se = var * math.sqrt(2.0 / n)
        assert abs(measured - var) <= Z * var_se, (
            f"{init} layer {l} ({fan_in}→{fan_out}, {np.dtype(dtype).name}): Var W = {measured:.5g}, "
            f"documented {var:.5g} ± {Z * var_se:.2g} (ratio {measured / var:.3f})")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("init", ["he", "xavier"])
def test_weights_are_normal_not_uniform(init, dtype):
    """The share of draws beyond 2σ is the normal's 4.55 %; a uniform of the same variance has none."""
    for l, W, _, fan_in, fan_out in layers(init, dtype, seed=1):
        x = W.astype(np.float64).ravel()
        sigma = math.sqrt(documented_variance(init, fan_in, fan_out))
        share = float(np.mean(np.abs(x) > 2 * sigma))
        se = math.sqrt(TAIL_P * (1 - TAIL_P) / x.size)
        assert abs(share - TAIL_P) <= Z * se, f"{init} layer {l}: {share:.4f} of |W| beyond 2σ, normal: {TAIL_P:.4f} ± {Z * se:.4f}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("init", ["he", "xavier"])
def test_biases_are_zero(init, dtype):
    for l, _, b, _, fan_out in layers(init, dtype):
        assert b.shape == (fan_out,) and b.dtype == dtype, f"layer {l}: b {b.shape} {b.dtype}"
        assert not b.any(), f"layer {l}: b is not 0 (max |b| = {np.abs(b).max()})"


def _correlation(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    n = min(a.size, b.size)
    a, b = a[:n], b[:n]
    return float(a @ b / math.sqrt((a @ a) * (b @ b))), n


def test_layers_are_drawn_independently():
    """No layer repeats another's draws: the sample correlation of any two layers' weights (aligned
    in memory order, and each layer against the others' leading block) is 0 ± Z/√n. A generator
    re-seeded per layer with the same seed, or a layer copied, gives a correlation of 1."""
    spec = NetworkSpec([300, 300, 300, 300], "tanh", "mse")  # equal shapes: a reused stream aligns exactly
    Ws = [W for W, _ in init_params(spec, seed=7)]
    for i in range(len(Ws)):
        for j in range(i + 1, len(Ws)):
            r, n = _correlation(Ws[i], Ws[j])
            assert abs(r) <= Z / math.sqrt(n), f"layers {i + 1} and {j + 1}: correlation {r:.4f} over {n} draws"


def test_seeds_give_independent_draws():
    """Different seeds, uncorrelated weights (seed 0 against 1, 2, 2**63 − 1), in every layer."""
    base = init_params(SPEC, seed=0)
    for seed in (1, 2, 2**63 - 1):
        other = init_params(SPEC, seed=seed)
        for l, ((W0, _), (W1, _)) in enumerate(zip(base, other), start=1):
            r, n = _correlation(W0, W1)
            assert abs(r) <= Z / math.sqrt(n), f"seed 0 vs {seed}, layer {l}: correlation {r:.4f}"


def test_mlp_initial_weights_follow_the_init_option():
    """MLP(init=...) starts from the documented distribution too (the estimator passes init through)."""
    for init in ("he", "xavier"):
        model = manual.MLP([400, 300, 2], init=init, seed=3).initialize(classes=[0, 1])
        W = model.params[0][0]
        var = documented_variance(init, 400, 300)
        measured = float(np.mean(W * W))
        assert abs(measured - var) <= Z * var * math.sqrt(2.0 / W.size), f"MLP init={init}: Var W = {measured:.4g}, documented {var:.4g}"


def test_documented_defaults():
    """init_params(spec) is init_params(spec, seed=0, init='he', dtype=np.float64), as its signature says."""
    for (W, b), (W0, b0) in zip(init_params(SPEC), init_params(SPEC, seed=0, init="he", dtype=np.float64)):
        assert W.dtype == np.float64 and np.array_equal(W, W0) and np.array_equal(b, b0)


def test_init_names_compare_by_value():
    """An init name built at run time (not the interned literal) selects the same distribution."""
    for init in ("he", "xavier"):
        built = "".join(list(init))
        for (W, _), (W0, _) in zip(init_params(SPEC, init=built), init_params(SPEC, init=init)):
            assert np.array_equal(W, W0), f"init={built!r} built at run time differs from the literal"
