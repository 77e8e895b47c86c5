"""The in-place losses follow the loss table, as manual/inplace_losses.py documents:

    `fused(name)` returns the in-place form while manual.losses.LOSSES still holds the built-in entry,
    else `generic` around whatever the table holds now.

So a loss entry replaced in the table (a planted bug, as the bug catalogs plant them) is what the
fast path computes too, for every built-in loss: through `fused` and through a TrainStep, whose loss
must equal the plain path's `manual.loss_and_grads` with the same table. While the table holds the
built-in entry, `fused` gives the in-place form, and it computes what the entry computes.
Found by the mutation run of manual/inplace_losses.py (docs/mutation-testing.md).
"""

import copy

import numpy as np
import pytest

import manual
from manual import inplace_losses as IL
from manual import losses as L
from manual import optimizers as mo
from manual.train_step import TrainStep
from manual.validation import encode_targets

N = 6
K = {"binary_cross_entropy": 1, "cross_entropy": 3, "mse": 2}  # outputs per loss


def logits_and_targets(name, seed=0):
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((N, K[name])) * 2.0  # (N, K)
    if name == "binary_cross_entropy":
        Y = rng.integers(0, 2, size=(N, 1)).astype(np.float64)
    elif name == "cross_entropy":
        Y = np.eye(K[name])[rng.integers(0, K[name], size=N)]
    else:
        Y = rng.standard_normal((N, K[name]))
    return s, Y


def run_fused(name, s, Y):
    ds, row = np.empty_like(s), np.empty((s.shape[0], 1))
    value = IL.fused(name)(s.copy(), Y, ds, row)  # overwrites its copy of s
    return value, ds


def doubled(entry):
    """The entry with its loss and gradient doubled: another loss under the same name."""
    def value_and_dlogits(s, Y):
        value, ds = entry.value_and_dlogits(s, Y)
        return 2.0 * value, 2.0 * ds
    return L.Loss(entry.name, entry.output, value_and_dlogits)


@pytest.mark.parametrize("name", L.BUILT_IN)
def test_the_built_in_entry_gets_the_in_place_form_and_agrees_with_it(name):
    assert IL.fused(name) is IL.INPLACE[name]
    s, Y = logits_and_targets(name)
    value, ds = run_fused(name, s, Y)
    want_value, want_ds = L.LOSSES[name].value_and_dlogits(s, Y)
    assert value == pytest.approx(want_value, rel=1e-12)
    np.testing.assert_allclose(ds, want_ds, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", L.BUILT_IN)
def test_a_replaced_loss_entry_is_what_the_fast_path_computes(name, monkeypatch):
    replaced = doubled(L.LOSSES[name])
    monkeypatch.setitem(L.LOSSES, name, replaced)
    s, Y = logits_and_targets(name)
    value, ds = run_fused(name, s, Y)
    want_value, want_ds = replaced.value_and_dlogits(s, Y)
    assert value == pytest.approx(want_value, rel=1e-12)
    np.testing.assert_allclose(ds, want_ds, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", L.BUILT_IN)
def test_a_train_step_with_a_replaced_loss_entry_equals_the_plain_path(name, monkeypatch):
    monkeypatch.setitem(L.LOSSES, name, doubled(L.LOSSES[name]))
    spec = manual.NetworkSpec([3, 4, K[name]], "tanh", name)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((N, 3))  # (N, 3)
    _, Y = logits_and_targets(name, seed=2)
    y = Y.argmax(axis=1) if name == "cross_entropy" else Y
    params = manual.init_params(spec, seed=3)
    plain_loss, plain_grads = manual.loss_and_grads(spec, params, X, y)
    opt = mo.sgd(0.1)
    step_params = copy.deepcopy(params)
    loss, _ = TrainStep(spec, opt)(step_params, opt.init(params), X, encode_targets(spec, y, N))
    assert loss == pytest.approx(plain_loss, rel=1e-12)
    for (W, b), (W0, b0), (dW, db) in zip(step_params, params, plain_grads):
        np.testing.assert_allclose(W, W0 - 0.1 * dW, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(b, b0 - 0.1 * db, rtol=1e-12, atol=1e-15)
