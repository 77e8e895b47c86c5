"""What a user of `manual.stack` relies on, stated as behaviour (NumPy only, no JAX):

* `init_params(spec, seed)` has the layout of `spec.param_shapes()` for every kind of layer (float64,
  the same for the same seed) and the documented distributions: He-scaled dense and conv weights
  (variance 2/fan_in, fan_in = C·k·k for a conv), zero biases, γ = 1, β = 0, E ~ N(0, 1), rnn/lstm/attn
  weights N(0, 1/fan_in) and biases 0, a registered layer without `init` N(0, 1/shape[0]);
* `init_state(spec)`: (zeros, ones) of the channel width per batchnorm, None for every other layer,
  a list for a residual block;
* `forward(spec, params, x)` is training mode by default;
* pools with a size other than their stride run with that size and that stride;
* `train` with plain SGD over one full batch takes exactly the step w − η·∂L/∂w of `loss_and_grads`
  on every parameter of every kind of layer (conv, attention, rnn/lstm, residual blocks, registered
  layers included), keeps the parameter layout, leaves the caller's arrays alone, and lowers the loss
  of a conv stack over epochs;
* a registered layer whose backward returns the wrong number of arrays is named, with the counts it
  should have returned.

Found by the sampled mutation run of manual/stack.py (issue 23, docs/mutation-testing.md): each
test was seen failing on the survivors it states (applied by hand to a scratch copy). One was a real
bug: `train` crashed on any stack with a conv layer (the weight handed to the optimizer as (F, C·k·k),
the optimizer wants (fan_in, fan_out) with b (fan_out,)).
"""

from __future__ import annotations

import numpy as np
import pytest

from manual import layers as L
from manual import optimizers as mo
from manual import stack
from manual.stack_spec import StackSpec

IMAGES = StackSpec.parse("conv:3:3:1:1 batchnorm relu res( conv:3:3:1:1 layernorm tanh ) maxpool:2 "
                         "avgpool:2:1 flatten dense:3", (2, 6, 6))
SEQUENCES = StackSpec.parse("embed:4 lstm:5 res( attn:1:causal ) rnn:4 layernorm dense:6", (5, 6))
ROWS = StackSpec(4, (("dense", 6), ("batchnorm",), ("relu",), ("dropout", 0.5), ("dense", 5), ("layernorm",),
                     ("tanh",), ("res", (("dense", 5), ("gelu",))), ("dense", 3)), "cross_entropy")
ALL = {"images": IMAGES, "sequences": SEQUENCES, "rows": ROWS}


def data(spec, n=6, seed=0):
    """A batch for spec: x (N, *in) floats or ids, y the classes (N,) or (N, T)."""
    rng = np.random.default_rng(seed)
    if spec.ids:
        T, V = spec.n_in
        return rng.integers(0, V, (n, T)), rng.integers(0, 6, (n, T))
    shape = (spec.n_in,) if isinstance(spec.n_in, int) else tuple(spec.n_in)
    return rng.standard_normal((n,) + shape), rng.integers(0, 3, n)


def layout(tree):
    """The shapes of a params tree, nested as `StackSpec.param_shapes` nests them (tuples all the way)."""
    if isinstance(tree, (tuple, list)):
        return tuple(layout(p) for p in tree)
    return np.shape(tree)


def flat(tree):
    out = []
    for p in tree:
        for a in p:
            out += flat([a]) if isinstance(a, (tuple, list)) else [a]
    return out


# ---- init_params ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALL))
def test_init_params_has_the_layout_of_param_shapes(name):
    spec = ALL[name]
    params = stack.init_params(spec, seed=3)
    assert isinstance(params, list) and len(params) == len(spec.layers)
    assert layout(params) == tuple(spec.param_shapes())
    assert all(a.dtype == np.float64 for a in flat(params))
    again = stack.init_params(spec, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(flat(params), flat(again)))


def test_a_conv_layer_named_at_run_time_is_initialised_like_a_literal_one():
    """The layer kind is compared by value: a name built at run time (a parsed token) works too."""
    kind = "".join(["co", "nv"])
    spec = StackSpec((2, 5, 5), ((kind, 4, 3, 1, 1), ("flatten",), ("dense", 2)))
    params = stack.init_params(spec, seed=0)
    assert [p[0].shape for p in params if p] == [(4, 2, 3, 3), (100, 2)]
    assert params[0][0].std() > 0 and np.all(params[0][1] == 0)


def _close_to(sample, var, rel=0.1):
    assert abs(sample.mean()) < 4 * np.sqrt(var / sample.size), sample.mean()
    assert abs(sample.var() / var - 1) < rel, (sample.var(), var)


def test_init_params_draws_the_documented_distributions():
    spec = StackSpec.parse("conv:64:3:1:1 flatten dense:300", (16, 3, 3))
    (Wc, bc), _, (W, b) = stack.init_params(spec, seed=1)
    _close_to(Wc, 2.0 / (16 * 3 * 3))  # He, fan_in = C·k·k
    _close_to(W, 2.0 / (64 * 9))  # He, fan_in = D
    assert np.all(bc == 0) and np.all(b == 0)
    seq = StackSpec.parse("embed:40 lstm:60 attn:4 rnn:50 layernorm dense:7", (5, 300))
    (E,), lstm, attn, rnn, (gamma, beta), _ = stack.init_params(seq, seed=2)
    _close_to(E, 1.0)
    for Ws, n_weights in ((lstm, 2), (rnn, 2), (attn, 4)):
        weights = [w for w in Ws if w.ndim == 2]
        assert len(weights) == n_weights and all(np.all(v == 0) for v in Ws if v.ndim == 1)
        for w in weights:
            _close_to(w, 1.0 / w.shape[0], rel=0.15)
    assert np.all(gamma == 1) and np.all(beta == 0)


def test_a_registered_layer_without_init_draws_n_0_1_over_fan_in():
    from dualgrad.engine.registry import registered_layer

    def fwd(x, W):
        return x @ W, (x, W)

    def bwd(dout, cache):
        x, W = cache
        return dout @ W.T, x.T @ dout

    with registered_layer("mix", fwd, bwd, lambda x, W: x @ W, param_shapes=lambda D: [(D, D)]):
        spec = StackSpec(400, (("mix",), ("dense", 2)))
        (W,), _ = stack.init_params(spec, seed=0)
    assert W.shape == (400, 400)
    _close_to(W, 1.0 / 400)


# ---- init_state, forward's mode, pools -----------------------------------------------------------


def test_init_state_is_zeros_and_ones_per_batchnorm_and_none_elsewhere():
    spec = StackSpec.parse("conv:3:3:1:1 batchnorm relu res( conv:3:3:1:1 batchnorm ) avgpool:2 flatten dense:2",
                           (2, 4, 4))
    state = stack.init_state(spec)
    assert len(state) == len(spec.layers)
    mean, var = state[1]
    assert np.array_equal(mean, np.zeros(3)) and np.array_equal(var, np.ones(3))
    assert isinstance(state[3], list) and state[3][0] is None and np.array_equal(state[3][1][1], np.ones(3))
    assert [s is None for i, s in enumerate(state) if i not in (1, 3)] == [True] * 5
    seq = StackSpec.parse("attn:1 batchnorm dense:2", (3, 4))
    assert [s is None for s in stack.init_state(seq)] == [True, False, True]


def test_forward_is_training_mode_by_default():
    x, _ = data(ROWS, n=8)
    params = stack.init_params(ROWS, seed=0)
    state = stack.init_state(ROWS)
    default, _ = stack.forward(ROWS, params, x)
    train, _ = stack.forward(ROWS, params, x, train=True, seed=0)
    evaluation, _ = stack.forward(ROWS, params, x, train=False, state=state)
    assert np.array_equal(default, train)
    assert not np.allclose(default, evaluation)


@pytest.mark.parametrize("kind", ["maxpool", "avgpool"])
@pytest.mark.parametrize("size,stride,side", [(3, 2, 3), (3, 1, 5), (2, 3, 2)])
def test_a_pool_runs_with_its_size_and_its_stride(kind, size, stride, side):
    spec = StackSpec((2, 7, 7), ((kind, size, stride), ("flatten",), ("dense", 2)))
    x = np.random.default_rng(0).standard_normal((2, 2, 7, 7))
    params = stack.init_params(spec, seed=0)
    pooled = getattr(L, f"{kind}2d_forward")(x, size, stride)[0]
    assert pooled.shape == (2, 2, side, side) and spec.shapes()[0] == (2, side, side)
    W, b = params[2]
    out, _ = stack.forward(spec, params, x)
    assert np.allclose(out, pooled.reshape(2, -1) @ W + b, rtol=1e-13, atol=1e-13)


# ---- train ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["images", "sequences"])
def test_one_sgd_step_of_train_is_w_minus_eta_grad_on_every_parameter(name):
    """epochs=1 over one full batch: train's step is the gradient of loss_and_grads on the batch in
    train's order (its rng's permutation), step 0, for every leaf; the state follows the batch."""
    spec, eta = ALL[name], 0.05
    X, y = data(spec, n=6)
    p0 = stack.init_params(spec, seed=4)
    kept = [a.copy() for a in flat(p0)]
    p1, state, losses = stack.train(spec, p0, X, y, mo.sgd(eta), epochs=1, batch_size=len(X), seed=9)
    order = np.random.default_rng(9).permutation(len(X))
    loss, grads, caches = stack.loss_and_grads(spec, p0, X[order], y[order], seed=0)
    assert layout(p1) == layout(p0)
    for i, (w0, w1, g) in enumerate(zip(flat(p0), flat(p1), flat(grads))):
        assert np.allclose(w1, w0 - eta * g, rtol=1e-12, atol=1e-14), f"leaf {i}"
    assert losses == [pytest.approx(loss, rel=1e-12)]
    want = stack.update_state(spec, stack.init_state(spec), caches)
    assert all(np.array_equal(a, b) for a, b in zip(flat([s or () for s in want]), flat([s or () for s in state])))
    assert all(np.array_equal(a, b) for a, b in zip(flat(p0), kept)), "train modified the caller's params"


def test_a_registered_layer_is_trained_like_a_built_in_one():
    from dualgrad.engine.registry import registered_layer

    def fwd(x, W, c):
        """out = c (x W); x (N, D), W (D, D), c (1,)."""
        return c * (x @ W), (x, W, c)

    def bwd(dout, cache):
        x, W, c = cache
        return c * (dout @ W.T), c * (x.T @ dout), np.array([(dout * (x @ W)).sum()])

    with registered_layer("mix2", fwd, bwd, lambda x, W, c: c * (x @ W),
                          param_shapes=lambda D: [(D, D), (1,)], param_names=("W", "c"),
                          init=lambda shapes, rng: [rng.standard_normal(shapes[0]) / 2, np.array([0.5])]):
        spec = StackSpec(3, (("dense", 4), ("mix2",), ("tanh",), ("dense", 2)))
        X, y = np.random.default_rng(0).standard_normal((5, 3)), np.array([0, 1, 1, 0, 1])
        p0 = stack.init_params(spec, seed=0)
        p1, _, _ = stack.train(spec, p0, X, y, mo.sgd(0.1), epochs=1, batch_size=5, seed=0)
        order = np.random.default_rng(0).permutation(5)
        _, grads, _ = stack.loss_and_grads(spec, p0, X[order], y[order], seed=0)
    for w0, w1, g in zip(flat(p0), flat(p1), flat(grads)):
        assert np.shape(w1) == np.shape(w0) and np.allclose(w1, w0 - 0.1 * np.reshape(g, np.shape(w0)), rtol=1e-12)


def test_a_conv_stack_trains_and_predicts():
    """The conv weight (F, C, k, k) goes through any optimizer of manual.optimizers and comes back."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((48, 1, 5, 5))
    y = (X[:, 0, :, :2].sum(axis=(1, 2)) > X[:, 0, :, 3:].sum(axis=(1, 2))).astype(int)
    spec = StackSpec.parse("conv:3:3:1:1 relu res( conv:3:3:1:1 ) maxpool:2:1 flatten dense:2", (1, 5, 5))
    for optimizer in (mo.sgd(0.05, momentum=0.9), mo.adam(0.02), mo.rmsprop(0.01)):
        params, state, losses = stack.train(spec, stack.init_params(spec, 0), X, y, optimizer, epochs=25,
                                            batch_size=16)
        assert layout(params) == layout(stack.init_params(spec, 0))
        assert losses[-1] < 0.6 * losses[0], losses
        assert (stack.predict(spec, params, state, X).argmax(axis=1) == y).mean() > 0.8


# ---- a registered layer's backward count ---------------------------------------------------------


@pytest.mark.parametrize("n_params,returned", [(0, 2), (1, 1), (2, 1), (2, 4)])
def test_a_registered_backward_of_the_wrong_count_is_named_with_the_counts(n_params, returned):
    from dualgrad.engine.registry import registered_layer

    shapes = [(2,)] * n_params
    with registered_layer("odd", lambda x, *p: (x, None), lambda d, c: (d,) * returned, lambda x, *p: x,
                          param_shapes=lambda D: shapes):
        spec = StackSpec(2, (("dense", 2), ("odd",), ("dense", 2)))
        with pytest.raises(ValueError) as err:
            stack.loss_and_grads(spec, stack.init_params(spec), np.ones((2, 2)), np.array([0, 1]))
    assert str(err.value) == (f"layer 2 (odd): backward must return dx and {n_params} dparam(s), "
                              f"{n_params + 1} arrays in all, got {returned}")
