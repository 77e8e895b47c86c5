"""float32 in, float32 out, for every layer of `manual.layers`, forward and backward.

float64 is the verification dtype and float32 a supported training dtype: a layer given float32
arrays (inputs, parameters, upstream gradient) returns float32 outputs and float32 gradients, and
float64 gives float64. A silent upcast (np.zeros((V, D)) without dtype=, a float64 constant that
promotes, np.bincount's float64 weights) doubles the memory and time of float32 training and makes
its results differ from a float32 run that never left float32; a downcast loses the verification
precision.

Every layer is listed in CASES; `test_every_layer_is_listed` makes a layer added to
`manual.layers` without a case fail here. Integer inputs (embedding ids, class labels) stay
integers; a loss's value is a Python float, its dlogits are in the logits' dtype.
Found by the mutation catalog of issue 23 (embedding_backward returning float64 for float32).
"""

import numpy as np
import pytest

from manual import layers as L

N, D, M = 5, 4, 3
IMG = (2, 3, 6, 6)  # (N, C, H, W)


def arrays(dtype, seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


# name -> fn(dtype) returning (forward, args (floats cast to dtype), kwargs, backward or None)
def _dense(dt):
    return L.dense_forward, arrays(dt, 0, (N, D), (D, M), (M,)), {}, L.dense_backward


def _activation(name):
    def case(dt):
        forward, backward = L.ACTIVATION_LAYERS[name]
        return forward, arrays(dt, 1, (N, D)), {}, backward
    return case


def _activation_by_name(dt):
    return L.activation_forward, ["softplus"] + arrays(dt, 1, (N, 2, D)), {}, L.activation_backward


def _batchnorm(dt):
    return L.batchnorm_forward, arrays(dt, 2, (N, D), (D,), (D,)), {}, L.batchnorm_backward


def _batchnorm_graph(dt):
    return L.batchnorm_forward, arrays(dt, 2, (N, D), (D,), (D,)), {}, L.batchnorm_backward_graph


def _batchnorm_eval(dt):
    x, g, b, mu = arrays(dt, 3, (N, D), (D,), (D,), (D,))
    var = np.abs(arrays(dt, 4, (D,))[0]) + dt(0.5)
    return L.batchnorm_eval_forward, [x, g, b, mu, var], {}, L.batchnorm_eval_backward


def _layernorm(shape):
    def case(dt):
        return L.layernorm_forward, arrays(dt, 5, shape, (shape[-1],), (shape[-1],)), {}, L.layernorm_backward
    return case


def _dropout(dt):
    return L.dropout_forward, arrays(dt, 6, (N, D)) + [0.3, 11], {}, L.dropout_backward


def _embedding(ids_shape):
    def case(dt):
        ids = np.random.default_rng(7).integers(0, 6, ids_shape)
        return L.embedding_forward, [ids] + arrays(dt, 8, (6, D)), {}, L.embedding_backward
    return case


def _conv(forward, backward, **hyper):
    def case(dt):
        return forward, arrays(dt, 9, IMG, (4, IMG[1], 3, 3), (4,)), hyper, backward
    return case


def _pool(forward, backward, size=2, stride=2):
    def case(dt):
        return forward, arrays(dt, 10, IMG) + [size, stride], {}, backward
    return case


def _flatten(dt):
    return L.flatten_forward, arrays(dt, 11, IMG), {}, L.flatten_backward


T, H = 3, 4  # time steps, hidden width


def _rnn_step(dt):
    return L.rnn_step_forward, arrays(dt, 12, (N, D), (N, H), (D, H), (H, H), (H,)), {}, L.rnn_step_backward


def _rnn(dt):
    return L.rnn_forward, arrays(dt, 13, (N, T, D), (N, H), (D, H), (H, H), (H,)), {}, L.rnn_backward


def _lstm_step(dt):
    args = arrays(dt, 14, (N, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,))
    return L.lstm_step_forward, args, {}, L.lstm_step_backward


def _lstm(dt):
    return L.lstm_forward, arrays(dt, 15, (N, T, D), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,)), {}, L.lstm_backward


def _temporal_affine(dt):
    return L.temporal_affine_forward, arrays(dt, 16, (N, T, D), (D, M), (M,)), {}, L.temporal_affine_backward


def _attention(masked):
    def case(dt):
        kwargs = {"mask": L.causal_mask(T, T)} if masked else {}
        return L.attention_forward, arrays(dt, 17, (N, T, D), (N, T, D), (N, T, M)), kwargs, L.attention_backward
    return case


def _multihead_attention(dt):
    E = 4
    args = arrays(dt, 18, (N, T, E), (N, 5, E), (N, 5, E), *[(E, E), (E,)] * 4)
    return L.multihead_attention_forward, args + [2], {}, L.multihead_attention_backward


CASES = {
    "dense": _dense,
    **{name: _activation(name) for name in L.ACTIVATION_LAYERS},
    "activation_forward('softplus')": _activation_by_name,
    "batchnorm": _batchnorm,
    "batchnorm_graph": _batchnorm_graph,
    "batchnorm_eval": _batchnorm_eval,
    "layernorm 2-D": _layernorm((N, D)),
    "layernorm 3-D": _layernorm((N, 2, D)),
    "dropout": _dropout,
    "embedding (N,)": _embedding((N,)),
    "embedding (N, T) repeated ids": _embedding((N, 7)),
    "conv2d": _conv(L.conv2d_forward, L.conv2d_backward),
    "conv2d strided padded dilated": _conv(L.conv2d_forward, L.conv2d_backward, stride=2, padding=1, dilation=2),
    "conv2d_naive": _conv(L.conv2d_forward_naive, L.conv2d_backward_naive, padding=1),
    "maxpool2d": _pool(L.maxpool2d_forward, L.maxpool2d_backward),
    "maxpool2d overlapping": _pool(L.maxpool2d_forward, L.maxpool2d_backward, 3, 1),
    "maxpool2d_naive": _pool(L.maxpool2d_forward_naive, L.maxpool2d_backward_naive),
    "avgpool2d": _pool(L.avgpool2d_forward, L.avgpool2d_backward),
    "avgpool2d overlapping": _pool(L.avgpool2d_forward, L.avgpool2d_backward, 3, 1),
    "avgpool2d_naive": _pool(L.avgpool2d_forward_naive, L.avgpool2d_backward_naive),
    "flatten": _flatten,
    "rnn_step": _rnn_step,
    "rnn": _rnn,
    "lstm_step (two outputs)": _lstm_step,
    "lstm": _lstm,
    "temporal_affine": _temporal_affine,
    "attention": _attention(False),
    "attention causal mask": _attention(True),
    "multihead_attention": _multihead_attention,
}
DTYPES = [np.float32, np.float64]


def test_every_layer_is_listed():
    """Every forward of manual.layers is called by some case (so a new layer needs one)."""
    forwards = {name for name in dir(L) if name.endswith("_forward") and callable(getattr(L, name))}
    called = set()
    for make in CASES.values():
        called.add(make(np.float64)[0].__name__)
    assert forwards - called == set(), f"layers without a dtype case: {sorted(forwards - called)}"
    assert set(L.LOSS_LAYERS) == set(LOSS_CASES)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_and_backward_keep_the_dtype(name, dtype):
    forward, args, kwargs, backward = CASES[name](dtype)
    *outs, cache = forward(*args, **kwargs)  # lstm_step_forward returns next_h, next_c, cache
    for out in outs:
        assert out.dtype == dtype, f"{name} forward: {np.dtype(dtype).name} in, {out.dtype} out"
    rng = np.random.default_rng(12)
    douts = [rng.standard_normal(out.shape).astype(dtype) for out in outs]
    grads = backward(*douts, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)  # embedding_backward returns dE alone
    for i, g in enumerate(grads):
        assert isinstance(g, np.ndarray) and g.dtype == dtype, \
            f"{name} backward, gradient {i}: {np.dtype(dtype).name} in, {getattr(g, 'dtype', type(g))} out"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_batchnorm_running_statistics_keep_the_dtype(dtype):
    x, g, b = arrays(dtype, 13, (N, D), (D,), (D,))
    _, cache = L.batchnorm_forward(x, g, b)
    mean, var = L.batchnorm_running_stats(np.zeros(D, dtype), np.ones(D, dtype), cache)
    assert mean.dtype == var.dtype == dtype


def _labels(k):
    return np.random.default_rng(14).integers(0, k, N)


LOSS_CASES = {  # name -> (logits shape, targets(dtype))
    "cross_entropy": ((N, 3), lambda dt: _labels(3)),
    "binary_cross_entropy": ((N, 1), lambda dt: _labels(2)),
    "mse": ((N, 3), lambda dt: arrays(dt, 15, (N, 3))[0]),
    "hinge": ((N, 3), lambda dt: _labels(3)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(LOSS_CASES))
def test_losses_give_dlogits_in_the_logits_dtype(name, dtype):
    shape, targets = LOSS_CASES[name]
    (logits,) = arrays(dtype, 16, shape)
    loss, dlogits = L.LOSS_LAYERS[name](logits * 3, targets(dtype))
    assert isinstance(loss, float) and np.isfinite(loss)
    assert dlogits.dtype == dtype and dlogits.shape == shape, f"{name}: {np.dtype(dtype).name} in, {dlogits.dtype} out"
