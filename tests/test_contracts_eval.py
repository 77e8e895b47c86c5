"""Evaluation mode, for every layer that has one, as manual/stack.py and manual/layers document it:

    evaluation mode (`predict`) uses the running statistics and no dropout.

Stated as behaviour, not as one line of code:

* dropout in evaluation is the identity: `dropout_forward(x, 0.0, seed)` returns x and its backward
  returns dout, for any seed; a stack's `predict` (and `forward(train=False)`) equals the same stack
  with its dropout layers taken out, whatever seed is passed;
* batchnorm in evaluation is the affine map of the running statistics,
  γ ⊙ (x − μ_run)/√(σ²_run + ε) + β: each row's output depends on that row and the state only
  (never on the rest of the batch), and the state is read (another state gives other outputs);
* layernorm has no evaluation mode of its own: predict equals the training forward of a stack
  without dropout;
* after `manual.stack.train`, `predict` with the returned state is all of the above.

The training-mode forward of the same stacks is checked to differ (dropout drops, batchnorm uses the
batch), so a test here fails when evaluation silently runs the training path.
Found by the mutation catalog of issue 23 (a stack's predict that kept dropout active).
"""

import numpy as np
import pytest

from manual import layers as L
from manual import optimizers as mo
from manual import stack
from manual.stack_spec import StackSpec

EPS = 1e-5  # batchnorm's default ε

DROPOUT_STACK = StackSpec(4, (("dense", 16), ("relu",), ("dropout", 0.5), ("dense", 8), ("tanh",),
                              ("dropout", 0.3), ("dense", 3)), "cross_entropy")
BN_STACK = StackSpec(4, (("dense", 8), ("batchnorm",), ("relu",), ("dense", 3)), "cross_entropy")
FULL_STACK = StackSpec(4, (("dense", 16), ("batchnorm",), ("relu",), ("dropout", 0.5), ("dense", 8),
                           ("layernorm",), ("tanh",), ("dropout", 0.2), ("dense", 3)), "cross_entropy")


def without_dropout(spec, params, state=None):
    """The same stack with its dropout layers taken out (and their empty params and states)."""
    keep = [i for i, layer in enumerate(spec.layers) if layer[0] != "dropout"]
    out = StackSpec(spec.n_in, tuple(spec.layers[i] for i in keep), spec.loss)
    return out, [params[i] for i in keep], None if state is None else [state[i] for i in keep]


def batch(n=12, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 4)) * 2.0  # (N, 4)


def some_state(spec, seed=1):
    """Running statistics unlike any batch's: means around ±1, variances in (0.2, 3)."""
    rng = np.random.default_rng(seed)
    widths = (spec.n_in,) + spec.widths()[:-1]  # the width each layer receives
    return [(rng.standard_normal(w), rng.uniform(0.2, 3.0, w)) if layer[0] == "batchnorm" else None
            for layer, w in zip(spec.layers, widths)]


# ---------------------------------------------------------------- the layers themselves


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", [0, 7, 12345])
def test_dropout_with_p_zero_is_the_identity_forward_and_backward(seed, dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((5, 3, 2)).astype(dtype)
    out, cache = L.dropout_forward(x, 0.0, seed)
    assert out.dtype == dtype and np.array_equal(out, x)
    dout = rng.standard_normal(x.shape).astype(dtype)
    (dx,) = L.dropout_backward(dout, cache)
    assert np.array_equal(dx, dout)


def test_batchnorm_evaluation_is_the_affine_map_of_the_running_statistics():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 5)) * 3 + 1  # (N, D)
    g, b = rng.standard_normal(5), rng.standard_normal(5)  # (D,)
    mu, var = rng.standard_normal(5), rng.uniform(0.1, 4.0, 5)  # (D,)
    out, cache = L.batchnorm_eval_forward(x, g, b, mu, var)
    np.testing.assert_allclose(out, g * (x - mu) / np.sqrt(var + EPS) + b, rtol=1e-13, atol=1e-13)
    # row by row: no row sees another
    rows = np.concatenate([L.batchnorm_eval_forward(x[i:i + 1], g, b, mu, var)[0] for i in range(7)])
    assert np.array_equal(rows, out)
    # its backward is that of a fixed affine map: dx = dout ⊙ γ/√(σ²_run + ε), no mean or variance path
    dout = rng.standard_normal(x.shape)
    dx, dg, db = L.batchnorm_eval_backward(dout, cache)
    np.testing.assert_allclose(dx, dout * g / np.sqrt(var + EPS), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dg, (dout * (x - mu) / np.sqrt(var + EPS)).sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(db, dout.sum(axis=0), rtol=1e-12)
    # and the training mode is not that (it normalises with the batch)
    assert not np.allclose(L.batchnorm_forward(x, g, b)[0], out)


# ---------------------------------------------------------------- through manual.stack


@pytest.mark.parametrize("seed", [0, 1, 99])
def test_stack_predict_never_drops_units(seed):
    params = stack.init_params(DROPOUT_STACK, seed)
    state = stack.init_state(DROPOUT_STACK)
    x = batch(seed=seed)
    plain, plain_params, plain_state = without_dropout(DROPOUT_STACK, params, state)
    want = stack.forward(plain, plain_params, x, train=True)[0]  # no dropout left: the training forward
    assert np.array_equal(stack.predict(DROPOUT_STACK, params, state, x), want)
    for s in (0, seed, 1000 + seed):
        assert np.array_equal(stack.forward(DROPOUT_STACK, params, x, train=False, seed=s, state=state)[0], want)
    # the training forward does drop (so the comparison above can fail)
    assert not np.allclose(stack.forward(DROPOUT_STACK, params, x, train=True, seed=seed)[0], want)


def test_stack_predict_uses_batchnorm_running_statistics_row_by_row():
    params = stack.init_params(BN_STACK, 2)
    state = some_state(BN_STACK)
    x = batch()
    out = stack.predict(BN_STACK, params, state, x)
    (W1, b1), (g, be), _, (W2, b2) = params
    mu, var = state[1]
    h = np.maximum(g * ((x @ W1 + b1) - mu) / np.sqrt(var + EPS) + be, 0.0)
    np.testing.assert_allclose(out, h @ W2 + b2, rtol=1e-12, atol=1e-12)
    rows = np.concatenate([stack.predict(BN_STACK, params, state, x[i:i + 1]) for i in range(len(x))])
    np.testing.assert_allclose(rows, out, rtol=1e-13, atol=1e-13)  # a row's prediction ignores the batch
    other = stack.predict(BN_STACK, params, some_state(BN_STACK, seed=5), x)
    assert not np.allclose(other, out)  # the state is read
    assert not np.allclose(stack.forward(BN_STACK, params, x, train=True)[0], out)  # training: batch statistics


def test_stack_train_then_predict_is_evaluation_mode():
    """dense → batchnorm → relu → dropout → dense → layernorm → tanh → dropout → dense, trained two
    epochs: predict with the returned state is deterministic, per row, and equals the stack without
    its dropout layers in evaluation mode."""
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((40, 4)), rng.integers(0, 3, 40)
    params, state, losses = stack.train(FULL_STACK, stack.init_params(FULL_STACK, 0), X, y,
                                        mo.adam(0.01), epochs=2, batch_size=10, seed=3)
    assert len(losses) == 2 and all(s is None or not np.array_equal(s[0], 0) for s in state)  # stats updated
    out = stack.predict(FULL_STACK, params, state, X)
    assert np.array_equal(stack.predict(FULL_STACK, params, state, X), out)
    rows = np.concatenate([stack.predict(FULL_STACK, params, state, X[i:i + 1]) for i in range(5)])
    np.testing.assert_allclose(rows, out[:5], rtol=1e-12, atol=1e-12)
    plain, plain_params, plain_state = without_dropout(FULL_STACK, params, state)
    assert np.array_equal(stack.predict(plain, plain_params, plain_state, X), out)
