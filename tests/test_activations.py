"""Each hand-written activation and its derivative against jax.nn and jax.grad, elementwise.

The reference derivative is jax.grad of Σ f(z): for an elementwise f, ∂/∂z_i Σ_j f(z_j) = f'(z_i).
It is jitted once per activation on a fixed length (POINTS pads every draw to it), so JAX
compiles 9 small programs for the whole file.

Tolerance, elementwise: |manual − jax| ≤ RTOL·|jax| + ATOL·scale(z).
RTOL = 1e-12: both sides evaluate the same closed forms in float64 and differ by a few ulps
(σ as exp(−log(1 + e⁻ᶻ)) against lax.logistic, (1 − a)(1 + a) against 1 − a²).
ATOL = 1e-14: near saturation (tanh, σ of |z| ≳ 10) the derivative is computed from a rounded
a = f(z), so it carries an absolute error of a few ulps of 1 whatever its size; XLA's float64 tanh
is not correctly rounded there (tanh(19.6) comes back 7 ulps below 1, so jax.grad gives 1.6e-15
where the truth is 8e-17 and NumPy gives 0).
scale(z) = 1 + min(|z|, 20)³ for gelu, 1 otherwise: gelu's tanh form computes 1 + tanh u and
1 − tanh² u, cancellations whose ulp-sized error is multiplied by ½ z c (1 + 3·0.044715 z²); past
|z| ≈ 20, tanh u rounds to ±1 exactly on both sides and the cancellation is exact again.
A wrong derivative (σ'(z) taken of z, 1 − z² for tanh, the other side of a kink) is off by O(1).

NOTE: subnormal inputs (|z| < 2.2e-308) are left out of the comparison: XLA on CPU flushes them to
zero (denormals-are-zero; "working as intended", jax-ml/jax#16200), so jax.grad sees relu'(5e-324)
as relu'(0) = 0 while NumPy sees a positive z. `test_subnormals_are_positive_numbers_here` pins
manual's (IEEE) answer instead.
"""

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference  # noqa: F401  (float64 in JAX)
from manual import activations as M
from reference import activations as R

ACTIVATIONS = list(M.BUILT_IN)  # the case table: every built-in activation
RTOL, ATOL = 1e-12, 1e-14
LENGTH = 64  # every batch of points is padded to this length: one compile per activation

KINKS = [-1.0, 0.0, 1.0, -0.0]
TINY = [2.3e-308, -2.3e-308, 1e-300, -1e-300, 1e-16, -1e-16, 1e-8, -1e-8]
HUGE = [30.0, -30.0, 40.0, -40.0, 1e3, -1e3, 1e8, -1e8, 1e100, -1e100]  # |z|³ stays below the float64 max
POINTS = np.array(KINKS + TINY + HUGE + list(np.linspace(-5.0, 5.0, 21)))


@lru_cache(maxsize=None)
def reference_fns(name):
    """(f, f') from jax.nn, jitted: f' = jax.grad of Σ f(z), elementwise."""
    f = R.ACTIVATIONS[name]
    return jax.jit(f), jax.jit(jax.grad(lambda z: jnp.sum(f(z))))


def padded(z):
    out = np.zeros(LENGTH)
    out[: len(z)] = z
    return out


def atol_scale(name, z):
    """How many ulps of 1 the rounding of f(z) and f'(z) may reach (see the module docstring)."""
    return 1.0 + np.minimum(np.abs(z), 20.0) ** 3 if name == "gelu" else 1.0


def assert_elementwise_close(name, what, z, manual, ref):
    assert manual.shape == ref.shape, f"{name} {what}: shape {manual.shape}, expected {ref.shape}"
    bad = ~(np.abs(manual - ref) <= RTOL * np.abs(ref) + ATOL * atol_scale(name, z))  # NaN counts as bad
    if bad.any():
        i = int(np.argmax(bad))
        pytest.fail(f"{name} {what} at z = {z[i]!r}: manual {manual[i]!r}, jax {ref[i]!r} ({bad.sum()} bad entries)")


def check(name, z):
    z = padded(z)  # (LENGTH,)
    act = M.ACTIVATIONS[name]
    f, df = reference_fns(name)
    a = act.forward(z)  # (LENGTH,)
    assert_elementwise_close(name, "f(z)", z, a, np.asarray(f(z)))
    assert_elementwise_close(name, "f'(z)", z, act.derivative(z, a), np.asarray(df(z)))


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_kinks_tiny_and_huge_values(name):
    check(name, POINTS[:LENGTH])


@pytest.mark.parametrize("name", ACTIVATIONS)
@settings(max_examples=100)
@given(seed=st.integers(0, 2**32 - 1), log_scale=st.floats(-3, 3), zeros=st.sampled_from([0.0, 0.3]))
def test_random_points(name, seed, log_scale, zeros):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(LENGTH) * 10.0**log_scale  # (LENGTH,)
    z[rng.random(LENGTH) < zeros] = 0.0  # exact kinks
    check(name, z)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_derivative_finite_where_it_exists(name):
    z = POINTS.copy()
    d = M.ACTIVATIONS[name].derivative(z, M.ACTIVATIONS[name].forward(z))
    assert np.isfinite(d).all(), f"{name}: non-finite derivative at z = {z[~np.isfinite(d)]}"


# NOTE: the kink conventions are jax.nn's (stated in manual/activations.py); pin them on both sides.
KINK_DERIVATIVES = [("relu", 0.0), ("leaky_relu", 1.0), ("elu", 1.0), ("identity", 1.0)]


@pytest.mark.parametrize("name, expected", KINK_DERIVATIVES)
def test_derivative_at_zero_is_the_jax_convention(name, expected):
    z = np.zeros(LENGTH)
    act = M.ACTIVATIONS[name]
    assert act.derivative(z, act.forward(z))[0] == expected
    assert float(reference_fns(name)[1](z)[0]) == expected


SUBNORMAL_DERIVATIVES = [("relu", 5e-324, 1.0), ("relu", -5e-324, 0.0), ("leaky_relu", -5e-324, 0.01),
                         ("leaky_relu", 5e-324, 1.0), ("elu", 5e-324, 1.0)]


@pytest.mark.parametrize("name, z, expected", SUBNORMAL_DERIVATIVES)
def test_subnormals_are_positive_numbers_here(name, z, expected):
    """manual keeps IEEE semantics: the smallest subnormals are on their side of the kink."""
    z = np.array([z])
    act = M.ACTIVATIONS[name]
    assert act.derivative(z, act.forward(z))[0] == expected


def test_every_activation_has_a_jax_twin():
    assert set(M.BUILT_IN) == set(R.BUILT_IN)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_float32_stays_float32(name):
    z = POINTS[np.abs(POINTS) < 1e30].astype(np.float32)  # within float32's range
    act = M.ACTIVATIONS[name]
    a = act.forward(z)
    assert a.dtype == np.float32 and act.derivative(z, a).dtype == np.float32
