"""The fast path `reference.bucketed` equals the plain reference `reference.network`.

The network-gradient property calls the reference through `bucketed` (every network padded into
one bucket shape, one compiled program); this file is what makes that legitimate: over random
networks (any activation per layer, any loss, l2 on and off, kinks included) the padded program
gives the plain jax.grad's outputs, loss and every dW and db.

The plain reference runs eagerly and JAX compiles each op per shape, so the shapes here come
from a small table (SIZES x BATCHES) and the example count is pinned low: the cost is compiling,
not computing.

Tolerance: RTOL = 1e-12 per leaf (with the leaf-max term of dualgrad.compare), ATOL = 1e-15.
Both sides are the same JAX float64 math; padding adds exact zeros to every sum, but XLA may
block a (64, 32) matmul differently from a (7, 5) one, so sums can round differently by an ulp or
so of their terms. A masking mistake (a padded row counted in N, a padded class in the softmax, a
padded layer's l2) is off by O(1).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import manual
from dualgrad.engine.compare import assert_close, assert_grads_close
from dualgrad.engine.strategies import activation_names
from manual.spec import NetworkSpec
from reference import bucketed
from reference import network as plain

RTOL, ATOL = 1e-12, 1e-15
# Few distinct array shapes (inputs 3 or 32, hidden width 5, N of 1 or 64), so the eager plain
# reference compiles few ops; 32 and 64 fill the bucket's width and batch exactly.
SIZES = {
    "binary_cross_entropy": [[3, 1], [3, 5, 5, 1], [32, 5, 5, 5, 5, 1]],
    "cross_entropy": [[3, 4], [3, 5, 4], [3, 5, 5, 5, 5, 4]],
    "mse": [[3, 2], [32, 5, 2], [3, 5, 5, 5, 2]],
}
BATCHES = [1, 64]


@st.composite
def tabled_cases(draw):
    """(spec, params, X, y) with sizes and N from the tables, everything else random."""
    loss = draw(st.sampled_from(list(SIZES)))
    sizes = draw(st.sampled_from(SIZES[loss]))
    hidden = [draw(activation_names()) for _ in sizes[2:]]
    spec = NetworkSpec(sizes, hidden, loss, draw(st.sampled_from([0.0, 0.01, 0.5])))
    n = draw(st.sampled_from(BATCHES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    gain, scale = draw(st.sampled_from([0.3, 1.0, 5.0])), 10.0 ** draw(st.integers(-3, 3))
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        W = rng.standard_normal((fan_in, fan_out)) * gain / np.sqrt(fan_in)  # (fan_in, fan_out)
        b = rng.standard_normal(fan_out) * draw(st.sampled_from([0.0, 0.5]))  # (fan_out,)
        silent = rng.random(fan_out) < 0.2  # z exactly 0: kinks
        W[:, silent], b[silent] = 0.0, 0.0
        params.append((W, b))
    X = rng.standard_normal((n, sizes[0])) * scale  # (N, n_in)
    X[rng.random(X.shape) < 0.2] = 0.0
    k = sizes[-1]
    y = {"cross_entropy": rng.integers(0, k, size=n), "binary_cross_entropy": rng.integers(0, 2, size=n),
         "mse": rng.standard_normal((n, k)) * scale}[loss]
    return spec, params, X, y


def assert_matches_plain(spec, params, X, y):
    out_b, loss_b, grads_b = bucketed.forward_loss_and_grads(spec, params, X, y)
    loss_p, grads_p = plain.loss_and_grads(spec, params, X, y)
    assert_close("output", out_b, plain.forward(spec, params, X), RTOL, ATOL)
    assert_close("loss", loss_b, loss_p, RTOL, ATOL)
    assert_grads_close(grads_b, grads_p, RTOL, ATOL)
    assert bucketed.loss_and_grads(spec, params, X, y)[0] == loss_b


@settings(max_examples=25)
@given(tabled_cases())
def test_bucketed_equals_plain_reference(case):
    assert_matches_plain(*case)


def test_a_network_past_the_first_bucket():
    """6 layers, a width of 33 and N = 65 take the next bucket (10, 64, 128): masks still right."""
    spec = NetworkSpec([33, 4, 3, 3, 3, 3, 2], ["relu", "tanh", "relu", "tanh", "relu"], "cross_entropy", 0.1)
    assert bucketed.bucket_for(spec, 65) == (10, 64, 128)
    rng = np.random.default_rng(0)
    params = manual.init_params(spec, seed=1)
    assert_matches_plain(spec, params, rng.standard_normal((65, 33)), rng.integers(0, 2, size=65))


BUCKETS = [  # (sizes, N) -> (layers, width, batch)
    ([3, 1], 1, (5, 32, 64)),
    ([3, 4, 4, 4, 4, 2], 64, (5, 32, 64)),
    ([3, 4, 4, 4, 4, 4, 2], 64, (10, 32, 64)),
    ([32, 2], 65, (5, 32, 128)),
    ([33, 2], 5, (5, 64, 64)),
    ([2, 100, 2], 300, (5, 128, 512)),
]


@pytest.mark.parametrize("sizes, n, expected", BUCKETS)
def test_bucket_for(sizes, n, expected):
    spec = NetworkSpec(sizes, "relu", "cross_entropy" if sizes[-1] > 1 else "binary_cross_entropy")
    layers, width, batch = bucketed.bucket_for(spec, n)
    assert (layers, width, batch) == expected
    assert layers >= spec.n_layers and width >= max(sizes) and batch >= n


def test_bucketed_rejects_bad_input_like_the_plain_reference():
    spec = NetworkSpec([3, 2], loss="cross_entropy")
    params = manual.init_params(spec)
    with pytest.raises(ValueError, match=r"X must have 3 columns"):
        bucketed.loss_and_grads(spec, params, np.zeros((4, 2)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"integers in \[0, 2\)"):
        bucketed.loss_and_grads(spec, params, np.zeros((4, 3)), [0, 1, 0, 2])
