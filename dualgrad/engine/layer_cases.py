"""The built-in layers as check_layer cases: how each one's arrays and hyperparameters are drawn.

`LAYERS[name]` is a `BuiltInLayer`: the manual pair, the JAX twin and check_layer's keyword
arguments. tests/test_layers.py runs `check(name)` for each, the bug catalog
(`dualgrad.layer_bugs`) hunts wrong versions over the same cases, and
benchmarks/layer_throughput.py times them.

Edge cases drawn on purpose: N = 1 for batchnorm (variance 0), D = 1 for layernorm, T = 1 and
V = 1 for embeddings (with many repeated ids), p = 0 and p near 1 for dropout, exact zeros in x
(kinks, constant columns), K = 1 for the losses.

Compile once: the JAX side compiles per shape, so every dim is drawn from a small set, and the
dims along which zero padding changes nothing real are bucketed (`bucket`): every dim of the
elementwise layers, of dense and of embedding; batchnorm's columns (not its rows: a padded
row would change the batch statistics, so N is drawn from {1, 2, 3, 4, 8} and compiled per N); layernorm's
rows (not its features). Dropout is not padded (its mask depends on the shape), and nor are the
losses (the mean over N).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, NamedTuple

import numpy as np
from hypothesis import strategies as st

import manual.layers as M
import reference.layers as R

from .layer_check import check_layer

N8 = (1, 8)


class BuiltInLayer(NamedTuple):
    name: str
    forward: Callable
    backward: Callable
    jax_fn: Callable
    kwargs: Dict[str, Any]  # check_layer's description arguments


def loss_as_layer(loss_fn):
    """A loss `loss, dlogits = loss_fn(logits, y)` as a layer pair for check_layer: forward returns
    the loss as a 0-d array and dlogits as the cache, backward scales dlogits by the (0-d) dout."""

    def forward(logits, y):
        loss, dlogits = loss_fn(logits, y)
        return np.array(loss), dlogits

    def backward(dout, dlogits):
        return (dout * dlogits,)

    forward.__name__ = f"{loss_fn.__name__}_as_layer"
    return forward, backward


def _labels(dims, rng):
    return rng.integers(0, dims["K"], size=dims["N"])


def _bits(dims, rng):
    return rng.integers(0, 2, size=dims["N"]).astype(np.float64)


def _targets(dims, rng):
    return rng.standard_normal((dims["N"], dims["K"]))


def _running_mean(dims, rng):
    return rng.standard_normal(dims["D"])


def _running_var(dims, rng):
    return rng.random(dims["D"]) * 3.0  # >= 0; 0 included in the limit: ε keeps it finite


def _eval_hyper(dims, rng):
    return None


_ELEMENTWISE = dict(shapes={"x": ("N", "D")}, dims={"N": N8, "D": N8}, bucket={"N": 8, "D": 8},
                    scale=(-1.0, 1.5))
_EPS = [1e-5, 1e-3, 0.5]
_SEEDS = st.integers(0, 2**32 - 1).map(np.uint32)  # a NumPy int: traced, one compiled program for every seed

LAYERS: Dict[str, BuiltInLayer] = {}


def _add(name, forward, backward, jax_fn, **kwargs):
    LAYERS[name] = BuiltInLayer(name, forward, backward, jax_fn, kwargs)


for _act, (_f, _b) in M.ACTIVATION_LAYERS.items():
    _add(_act, _f, _b, R.ACTIVATION_LAYERS[_act], **_ELEMENTWISE)
_add("dense", M.dense_forward, M.dense_backward, R.dense,
     shapes={"x": ("N", "D")}, params={"W": ("D", "M"), "b": ("M",)}, dims={"N": N8, "D": N8, "M": N8},
     bucket={"N": 8, "D": 8, "M": 8})
_add("batchnorm", M.batchnorm_forward, M.batchnorm_backward, R.batchnorm,
     shapes={"x": ("N", "D")}, params={"gamma": ("D",), "beta": ("D",)}, dims={"N": [1, 2, 3, 4, 8], "D": N8},
     hyper={"eps": _EPS}, bucket={"D": 8})
_add("batchnorm_graph", M.batchnorm_forward, M.batchnorm_backward_graph, R.batchnorm,
     **LAYERS["batchnorm"].kwargs)
_add("batchnorm_eval", M.batchnorm_eval_forward, M.batchnorm_eval_backward, R.batchnorm_eval,
     shapes={"x": ("N", "D")}, params={"gamma": ("D",), "beta": ("D",)}, dims={"N": [1, 3, 8], "D": [1, 2, 5]},
     hyper={"running_mean": _running_mean, "running_var": _running_var, "eps": _EPS})
_add("layernorm", M.layernorm_forward, M.layernorm_backward, R.layernorm,
     shapes={"x": ("N", "D")}, params={"gamma": ("D",), "beta": ("D",)}, dims={"N": N8, "D": [1, 2, 3, 5, 8]},
     hyper={"eps": _EPS}, bucket={"N": 8})
_add("layernorm_3d", M.layernorm_forward, M.layernorm_backward, R.layernorm,
     shapes={"x": ("N", "T", "D")}, params={"gamma": ("D",), "beta": ("D",)},
     dims={"N": [1, 2, 4], "T": [1, 3], "D": [1, 2, 5]}, hyper={"eps": _EPS}, bucket={"N": 4, "T": 3})
_add("dropout", M.dropout_forward, M.dropout_backward, R.dropout,
     shapes={"x": ("N", "D")}, dims={"N": [1, 3, 8], "D": [1, 4]},
     hyper={"p": [0.0, 0.5, 0.1, 0.9, 0.999], "seed": _SEEDS})
_add("embedding", M.embedding_forward, M.embedding_backward, R.embedding,
     shapes={"ids": ("N",)}, params={"E": ("V", "D")}, ids="V", dims={"N": N8, "V": (1, 6), "D": N8},
     bucket={"N": 8, "V": 6, "D": 8})
_add("embedding_2d", M.embedding_forward, M.embedding_backward, R.embedding,
     shapes={"ids": ("N", "T")}, params={"E": ("V", "D")}, ids="V", dims={"N": (1, 4), "T": [1, 3], "V": (1, 6), "D": (1, 4)},
     bucket={"N": 4, "T": 3, "V": 6, "D": 4})
for _loss, _fn in M.LOSS_LAYERS.items():
    _f, _b = loss_as_layer(_fn)
    if _loss == "binary_cross_entropy":
        _kw = dict(shapes={"logits": ("N", 1)}, hyper={"y": _bits}, dims={"N": [1, 2, 5]})
    elif _loss == "mse":
        _kw = dict(shapes={"logits": ("N", "K")}, hyper={"y": _targets})
    else:
        _kw = dict(shapes={"logits": ("N", "K")}, hyper={"y": _labels})
    _kw.setdefault("dims", {"N": [1, 2, 5], "K": [1, 3]})
    _add(f"{_loss}_loss", _f, _b, R.LOSS_LAYERS[_loss], scale=(-1.0, 1.5), **_kw)


def check(name: str, examples: int = 200, seed: int = 0, forward=None, backward=None, dtype="float64"):
    """check_layer on the built-in layer `name` (optionally with another forward or backward), at
    `dtype` (float32: judged against the float64 twin with the twin's own float32 error as yardstick)."""
    layer = LAYERS[name]
    return check_layer(forward or layer.forward, backward or layer.backward, layer.jax_fn,
                       examples=examples, seed=seed, dtype=dtype, **layer.kwargs)
