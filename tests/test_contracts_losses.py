"""The sigmoid-MSE head's contract, which the table-driven tests of test_losses.py do not reach
(it is not in LOSSES: dualgrad registers it when a check asks for head="sigmoid" with mse):

    sigmoid_mse(s, Y) -> (L, dL/ds),   L = (1/(N K)) Σ (σ(s) − Y)²,   dL/ds = ∂L/∂s

both against jax.value_and_grad of its JAX twin reference.losses.sigmoid_mse, on logits from 1e-3
to 1e3 in scale and some at ±1000 (σ saturates; L and dL/ds stay finite). Found by the mutation run
of manual/losses.py (docs/mutation-testing.md): 12 mutants of sigmoid_mse survived its test command.

Tolerance: test_losses.py's, |manual − jax| ≤ RTOL·|jax| + RTOL·max|jax| + ATOL, RTOL = 1e-12,
ATOL = 1e-15: both sides evaluate the same closed form and differ by a few ulps.
"""

from functools import lru_cache

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference  # noqa: F401  (float64 in JAX)
from dualgrad.engine.compare import assert_close
from manual import losses as M
from reference import losses as R

RTOL, ATOL = 1e-12, 1e-15
SHAPES = [(1, 1), (13, 3)]  # (N, K): JAX compiles two programs


@lru_cache(maxsize=None)
def reference_value_and_grad():
    return jax.jit(jax.value_and_grad(R.sigmoid_mse))


def check(s, Y):
    value, ds = M.sigmoid_mse(s, Y)
    ref_value, ref_ds = reference_value_and_grad()(s, Y)
    assert np.isfinite(value) and np.isfinite(ds).all(), f"sigmoid_mse: loss {value}, dL/ds {ds}"
    assert ds.shape == s.shape, f"sigmoid_mse dL/ds: shape {ds.shape}, expected {s.shape}"
    assert_close("sigmoid_mse loss", value, float(ref_value), RTOL, ATOL)
    assert_close("sigmoid_mse dL/ds", ds, np.asarray(ref_ds), RTOL, ATOL)


@settings(max_examples=50)
@given(shape=st.sampled_from(SHAPES), seed=st.integers(0, 2**32 - 1), log_scale=st.floats(-3, 3),
       extreme=st.sampled_from([0.0, 0.3]), binary=st.booleans())
def test_sigmoid_mse_value_and_logit_gradient_match_autodiff(shape, seed, log_scale, extreme, binary):
    rng = np.random.default_rng(seed)
    s = rng.standard_normal(shape) * 10.0**log_scale  # (N, K) logits
    wild = rng.random(shape) < extreme
    s[wild] = rng.choice([-1000.0, 1000.0], size=int(wild.sum()))  # saturated logits
    Y = rng.integers(0, 2, size=shape).astype(np.float64) if binary else rng.random(shape)  # targets in [0, 1]
    check(s, Y)


# Exact values (N = K = 1): at s = 0, σ = ½ and σ' = ¼, so L = (½ − y)² and dL/ds = 2 (½ − y) ¼;
# a saturated unit (s = ±1000) pays the full squared error and learns nothing (σ' = 0).
EXACT = [
    (0.0, 0.0, 0.25, 0.25),
    (0.0, 1.0, 0.25, -0.25),
    (1000.0, 0.0, 1.0, 0.0),
    (-1000.0, 1.0, 1.0, 0.0),
]


@pytest.mark.parametrize("s, y, value, ds", EXACT)
def test_sigmoid_mse_exact_values(s, y, value, ds):
    got_value, got_ds = M.sigmoid_mse(np.array([[s]]), np.array([[y]]))
    assert got_value == value
    assert got_ds.shape == (1, 1) and abs(got_ds[0, 0] - ds) <= 1e-300
