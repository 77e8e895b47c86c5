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

Speed: the network-gradient property runs thousands of examples per CI run,
so generation is kept cheap. Every strategy drawn from is built once, when
`network_cases()` (or `specs()`, ...) is called, not on every draw (a fresh
strategy object is validated again on each draw), and `network_cases` draws
spec, parameters and batch in one composite instead of nesting four.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st

from manual import spec as _spec
from manual.spec import NetworkSpec

from .cases import random_labels

L2_STRENGTHS = [0.0, 0.0, 0.01, 0.5]  # l2 off half of the time
ZERO_FRACTIONS = [0.0, 0.0, 0.3, 1.0]  # share of exact zeros in X
SILENT_FRACTIONS = [0.0, 0.0, 0.25]  # share of silent units per layer
_SEEDS = st.integers(0, 2**32 - 1)


def activation_names() -> st.SearchStrategy[str]:
    """Any registered hidden activation (built-in or added with register_activation)."""
    return st.sampled_from(list(_spec.ACTIVATION_NAMES))


def loss_names() -> st.SearchStrategy[str]:
    return st.sampled_from(list(_spec.LOSS_NAMES))


class _SpecParts(NamedTuple):
    """The strategies a spec is drawn from, built once."""

    loss: st.SearchStrategy
    n_layers: st.SearchStrategy
    width: st.SearchStrategy
    n_classes: st.SearchStrategy
    hidden: st.SearchStrategy
    l2: st.SearchStrategy


def _spec_parts(max_layers, max_width, activations, losses, l2) -> _SpecParts:
    return _SpecParts(
        st.sampled_from(list(losses)) if losses else loss_names(),
        st.integers(1, max_layers),
        st.integers(1, max_width),
        st.integers(2, max(2, max_width)),
        st.sampled_from(list(activations)) if activations else activation_names(),
        st.sampled_from(L2_STRENGTHS) if l2 else st.just(0.0),
    )


def _draw_sizes(draw, parts: _SpecParts, loss):
    sizes = [draw(parts.width) for _ in range(draw(parts.n_layers) + 1)]
    if loss == "binary_cross_entropy":
        sizes[-1] = 1
    elif loss == "cross_entropy":
        sizes[-1] = draw(parts.n_classes)
    return sizes


def _draw_spec(draw, parts: _SpecParts) -> NetworkSpec:
    loss = draw(parts.loss)
    sizes = _draw_sizes(draw, parts, loss)
    hidden = [draw(parts.hidden) for _ in range(len(sizes) - 2)]
    return NetworkSpec(sizes, hidden, loss, draw(parts.l2))


_GAINS = st.floats(-1.0, 1.0, allow_nan=False)  # log10 of the weight gain
_SILENT = st.sampled_from(SILENT_FRACTIONS)


def _draw_parameters(draw, spec: NetworkSpec, dtype=np.float64, gains=_GAINS):
    """gains: the strategy of log10 of the weights' gain over He scaling (check_implementation
    draws from a narrower one)."""
    rng = np.random.default_rng(draw(_SEEDS))
    gain = 10.0 ** draw(gains)
    random_bias = draw(st.booleans())
    silent_fraction = draw(_SILENT)
    params = []
    for fan_in, fan_out in zip(spec.sizes[:-1], spec.sizes[1:]):
        W = rng.standard_normal((fan_in, fan_out)) * gain * np.sqrt(2.0 / fan_in)  # (fan_in, fan_out)
        b = rng.standard_normal(fan_out) * 0.5 if random_bias else np.zeros(fan_out)  # (fan_out,)
        silent = rng.random(fan_out) < silent_fraction  # units whose z is exactly 0
        W[:, silent] = 0.0
        b[silent] = 0.0
        params.append((W.astype(dtype, copy=False), b.astype(dtype, copy=False)))
    return params


class _BatchParts(NamedTuple):
    n: st.SearchStrategy
    scale: st.SearchStrategy  # log10 of the input scale
    zeros: st.SearchStrategy


def _batch_parts(max_batch, min_scale, max_scale) -> _BatchParts:
    return _BatchParts(
        st.integers(1, max_batch),
        st.floats(min_scale, max_scale, allow_nan=False),
        st.sampled_from(ZERO_FRACTIONS),
    )


def _draw_batch(draw, spec: NetworkSpec, parts: _BatchParts):
    n = draw(parts.n)
    scale = 10.0 ** draw(parts.scale)
    zero_fraction = draw(parts.zeros)
    rng = np.random.default_rng(draw(_SEEDS))
    X = rng.standard_normal((n, spec.sizes[0])) * scale  # (N, n_in)
    X[rng.random(X.shape) < zero_fraction] = 0.0
    return X, random_labels(spec, n, rng, scale)


def layer_sizes(loss="cross_entropy", max_layers=5, max_width=32) -> st.SearchStrategy[list]:
    """[n_in, hidden..., n_out] with 1..max_layers weight layers, widths 1..max_width, fitting `loss`."""
    parts = _spec_parts(max_layers, max_width, None, [loss], False)
    return st.composite(lambda draw: _draw_sizes(draw, parts, loss))()


def specs(max_layers=5, max_width=32, activations=None, losses=None, l2=True) -> st.SearchStrategy[NetworkSpec]:
    """A NetworkSpec: any loss, any activation per hidden layer, l2 off or on."""
    parts = _spec_parts(max_layers, max_width, activations, losses, l2)
    return st.composite(lambda draw: _draw_spec(draw, parts))()


def batches(spec: NetworkSpec, max_batch=64, min_scale=-3.0, max_scale=3.0) -> st.SearchStrategy[tuple]:
    """(X, y) for `spec`: N in 1..max_batch, entries ~ N(0, 1)·10^e for e in [min_scale, max_scale],
    some exactly 0, and valid labels for the head (ints for cross_entropy, 0/1, or reals for mse)."""
    parts = _batch_parts(max_batch, min_scale, max_scale)
    return st.composite(lambda draw: _draw_batch(draw, spec, parts))()


def parameters(spec: NetworkSpec, dtype=np.float64) -> st.SearchStrategy[list]:
    """[(W, b), ...] for `spec`: He-scaled weights times 10^e (e in [-1, 1]), biases zero or random,
    and possibly silent units (zero incoming weights and bias) that sit on the kink."""
    return st.composite(lambda draw: _draw_parameters(draw, spec, dtype))()


def network_cases(max_layers=5, max_width=32, max_batch=64, activations=None, losses=None,
                  l2=True) -> st.SearchStrategy[tuple]:
    """(spec, params, X, y): everything one gradient check needs."""
    spec_parts = _spec_parts(max_layers, max_width, activations, losses, l2)
    batch_parts = _batch_parts(max_batch, -3.0, 3.0)

    @st.composite
    def cases(draw):
        spec = _draw_spec(draw, spec_parts)
        params = _draw_parameters(draw, spec)
        X, y = _draw_batch(draw, spec, batch_parts)
        return spec, params, X, y

    return cases()
