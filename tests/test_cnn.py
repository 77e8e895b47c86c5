"""A small CNN learns what an MLP of similar size cannot (issue 13): oriented bars at random
positions (manual.image_datasets.bars), conv → relu → maxpool → dense, trained with adam from
manual.optimizers; and its gradients equal jax.grad of the same network, leaf by leaf."""

from __future__ import annotations

import numpy as np
import pytest

from dualgrad.engine.compare import assert_grads_close
from manual import cnn, image_datasets
from manual import layers as L
from manual import optimizers as O
from reference import cnn as ref_cnn

SPECS = [cnn.CNNSpec(), cnn.CNNSpec(image=(2, 6, 5), filters=3, kernel=3, padding=0, pool=2, classes=3),
         cnn.CNNSpec(image=(1, 5, 5), filters=2, kernel=2, padding=1, pool=3, classes=2)]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_cnn_gradients_equal_jax_grad_leaf_by_leaf(spec):
    rng = np.random.default_rng(1)
    params = cnn.init_cnn(spec, seed=2)
    params = [(W, rng.standard_normal(b.shape)) for W, b in params]
    X = rng.standard_normal((5,) + spec.image)
    y = rng.integers(0, spec.classes, 5)
    loss_m, grads_m = cnn.loss_and_grads(spec, params, X, y)
    loss_r, grads_r = ref_cnn.loss_and_grads(spec, params, X, y)
    assert abs(loss_m - float(loss_r)) <= 1e-12 * max(1.0, abs(loss_m))
    assert_grads_close(grads_m, [(np.asarray(W), np.asarray(b)) for W, b in grads_r])


def _mlp_loss_and_grads(params, Xb, yb):
    a, caches = Xb.reshape(len(Xb), -1), []
    for l, (W, b) in enumerate(params):
        a, cache = L.dense_forward(a, W, b)
        caches.append(cache)
        if l < len(params) - 1:
            a, cache = L.relu_forward(a)
            caches.append(cache)
    loss, d = L.cross_entropy_loss(a, yb)
    grads = []
    for l in reversed(range(len(params))):
        d, dW, db = L.dense_backward(d, caches.pop())
        grads.append((dW, db))
        if l > 0:
            (d,) = L.relu_backward(d, caches.pop())
    return loss, grads[::-1]


def _mlp_predict(params, X):
    a = X.reshape(len(X), -1)
    for l, (W, b) in enumerate(params):
        a = a @ W + b
        a = np.maximum(a, 0) if l < len(params) - 1 else a
    return a.argmax(axis=1)


MLP_SIZES = ([81, 1, 4], [81, 2, 4], [81, 4], [81, 4, 4])  # 90, 176, 328, 348 parameters
N_TRAIN, EPOCHS, LR = 400, 30, 0.01


def test_a_small_cnn_beats_every_mlp_of_similar_size_on_oriented_bars():
    X, y = image_datasets.bars(N_TRAIN + 1000, seed=0)
    Xtr, ytr, Xte, yte = X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:]
    spec = cnn.CNNSpec()  # 8 filters 3x3, a global 9x9 max pool, dense 8 -> 4: 116 parameters
    params = cnn.train(lambda p, Xb, yb: cnn.loss_and_grads(spec, p, Xb, yb), cnn.init_cnn(spec, 0),
                       Xtr, ytr, O.adam(LR), epochs=EPOCHS)
    cnn_acc = float(np.mean(cnn.predict(spec, params, Xte) == yte))
    rng = np.random.default_rng(0)
    mlp_acc = {}
    for sizes in MLP_SIZES:
        init = [(rng.normal(0, np.sqrt(2 / a), (a, b)), np.zeros(b)) for a, b in zip(sizes[:-1], sizes[1:])]
        trained = cnn.train(_mlp_loss_and_grads, init, Xtr, ytr, O.adam(LR), epochs=EPOCHS)
        n = sum(W.size + b.size for W, b in trained)
        mlp_acc[(tuple(sizes), n)] = float(np.mean(_mlp_predict(trained, Xte) == yte))
    best = max(mlp_acc.values())
    print(f"CNN ({spec.n_params()} parameters): test accuracy {cnn_acc:.3f}; MLPs: {mlp_acc}")
    assert spec.n_params() == 116
    assert cnn_acc >= 0.95, cnn_acc
    assert best <= 0.5 and cnn_acc - best >= 0.4, mlp_acc


def test_bars_are_made_in_code_and_shuffled():
    X, y = image_datasets.bars(200, seed=3)
    assert X.shape == (200, 1, 9, 9) and X.dtype == np.float64 and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1, 2, 3}
    X2, y2 = image_datasets.bars(200, seed=3)
    np.testing.assert_array_equal(X, X2)
    assert np.all((X == 1.0).sum(axis=(1, 2, 3)) == 3)  # exactly one bar of 3 ones per image
    clean, yc = image_datasets.bars(50, noise=0.0, seed=1)
    for img, label in zip(clean[:, 0], yc):
        r, c = np.nonzero(img)
        dr, dc = r[1] - r[0], c[1] - c[0]
        assert (dr, dc) == image_datasets._STEPS[label]


@pytest.mark.parametrize("kwargs, error", [(dict(n_samples=0), ValueError), (dict(length=10), ValueError),
                                           (dict(noise=-1.0), ValueError), (dict(seed=-1), ValueError),
                                           (dict(size=2.5), TypeError)])
def test_bars_refuses_bad_arguments(kwargs, error):
    with pytest.raises(error):
        image_datasets.bars(**kwargs)
