"""Hypothesis strategies for networks, batches and parameters.

Import them in your own test suite (needs `pip install 'dualgrad[test]'`)::

    from hypothesis import given
    from dualgrad.strategies import network_cases

    @given(network_cases())
    def test_my_backprop(case):
        spec, params, X, y = case
        ...

Sizes are drawn first and arrays are then made from a drawn seed with
`np.random.default_rng`, so a case costs microseconds to generate and still
shrinks well: hypothesis shrinks the number of layers, the widths, the batch,
the scale exponents and the seed (towards 0), which leaves a small network on
a small batch as the counterexample.

Kinks on purpose: batches may carry exact zero entries, and parameters may
have "silent" units whose incoming weights and bias are exactly 0, so their
pre-activation z is exactly 0 for every row: relu, leaky_relu and elu are then
evaluated right at their kink, in every layer, not only the first.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from manual import spec as _spec
from manual.spec import NetworkSpec


def activation_names() -> st.SearchStrategy[str]:
    """Any registered hidden activation (built-in or added with register_activation)."""
    return st.sampled_from(list(_spec.ACTIVATION_NAMES))


def loss_names() -> st.SearchStrategy[str]:
    return st.sampled_from(list(_spec.LOSS_NAMES))


@st.composite
def layer_sizes(draw, loss="cross_entropy", max_layers=5, max_width=32):
    """[n_in, hidden..., n_out] with 1..max_layers weight layers, widths 1..max_width, fitting `loss`."""
    n_layers = draw(st.integers(1, max_layers))
    sizes = [draw(st.integers(1, max_width)) for _ in range(n_layers + 1)]
    if loss == "binary_cross_entropy":
        sizes[-1] = 1
    elif loss == "cross_entropy":
        sizes[-1] = draw(st.integers(2, max(2, max_width)))
    return sizes


@st.composite
def specs(draw, max_layers=5, max_width=32, activations=None, losses=None, l2=True):
    """A NetworkSpec: any loss, any activation per hidden layer, l2 off or on."""
    loss = draw(st.sampled_from(losses) if losses else loss_names())
    sizes = draw(layer_sizes(loss, max_layers, max_width))
    names = st.sampled_from(activations) if activations else activation_names()
    hidden = [draw(names) for _ in range(len(sizes) - 2)]
    strength = draw(st.sampled_from([0.0, 0.0, 0.01, 0.5])) if l2 else 0.0
    return NetworkSpec(sizes, hidden, loss, strength)


@st.composite
def batches(draw, spec: NetworkSpec, max_batch=64, min_scale=-3.0, max_scale=3.0):
    """(X, y) for `spec`: N in 1..max_batch, entries ~ N(0, 1)·10^e for e in [min_scale, max_scale],
    some exactly 0, and valid labels for the head (ints for cross_entropy, 0/1, or reals for mse)."""
    n = draw(st.integers(1, max_batch))
    scale = 10.0 ** draw(st.floats(min_scale, max_scale, allow_nan=False))
    zero_fraction = draw(st.sampled_from([0.0, 0.0, 0.3, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.standard_normal((n, spec.sizes[0])) * scale  # (N, n_in)
    X[rng.random(X.shape) < zero_fraction] = 0.0
    k = spec.sizes[-1]
    if spec.loss == "cross_entropy":
        y = rng.integers(0, k, size=n)  # (N,) class indices
    elif spec.loss == "binary_cross_entropy":
        y = rng.integers(0, 2, size=n).astype(np.float64)  # (N,) 0/1
    else:
        y = rng.standard_normal((n, k)) * scale  # (N, K) real targets
    return X, y


@st.composite
def parameters(draw, spec: NetworkSpec, dtype=np.float64):
    """[(W, b), ...] for `spec`: He-scaled weights times 10^e (e in [-1, 1]), biases zero or random,
    and possibly silent units (zero incoming weights and bias) that sit on the kink."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    gain = 10.0 ** draw(st.floats(-1.0, 1.0, allow_nan=False))
    random_bias = draw(st.booleans())
    silent_fraction = draw(st.sampled_from([0.0, 0.0, 0.25]))
    params = []
    for fan_in, fan_out in zip(spec.sizes[:-1], spec.sizes[1:]):
        W = rng.standard_normal((fan_in, fan_out)) * gain * np.sqrt(2.0 / fan_in)  # (fan_in, fan_out)
        b = rng.standard_normal(fan_out) * 0.5 if random_bias else np.zeros(fan_out)  # (fan_out,)
        silent = rng.random(fan_out) < silent_fraction  # units whose z is exactly 0
        W[:, silent] = 0.0
        b[silent] = 0.0
        params.append((W.astype(dtype), b.astype(dtype)))
    return params


@st.composite
def network_cases(draw, max_layers=5, max_width=32, max_batch=64, activations=None, losses=None):
    """(spec, params, X, y): everything one gradient check needs."""
    spec = draw(specs(max_layers, max_width, activations, losses))
    params = draw(parameters(spec))
    X, y = draw(batches(spec, max_batch))
    return spec, params, X, y
