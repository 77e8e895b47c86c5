"""Shuffling across epochs, as manual/mlp.py documents it:

    rng = np.random.default_rng(seed)          (made afresh by fit and by the first partial_fit)
    init_seed = rng.integers(2**63)
    (fit with early_stopping)  perm = rng.permutation(N): the first ⌈f·N⌉ rows held out
    every epoch, if it has more than one batch and shuffle:  order = rng.permutation(N_train)

The rows each step trains on are recorded by wrapping the model's TrainStep; X's first column
holds the row number, so every batch says which rows it is.

False failures: the only check that a correct implementation could fail by chance is "successive
epochs use different orders". Two independent uniform permutations of N rows are equal with
probability 1/N!; with N = 60 that is 1/60! ≈ 1.2e-82 per pair of epochs, and these tests compare
fewer than 100 pairs (and run on fixed seeds, so they either always pass or always fail).
"""

import math

import numpy as np
import pytest

import manual
from manual.initializers import init_params

N = 60
assert math.lgamma(N + 1) / math.log(10) > 80  # 1/N! < 1e-80: equal orders by chance are out of the question


class Recorder:
    """Wraps a TrainStep; keeps the row numbers (X[:, 0]) of every batch it is called with."""

    def __init__(self, step):
        self.step, self.batches = step, []

    def __call__(self, params, state, X, Y):
        self.batches.append(X[:, 0].astype(np.int64).tolist())
        return self.step(params, state, X, Y)

    def epochs(self, batches_per_epoch):
        flat = self.batches
        return [sum(flat[i:i + batches_per_epoch], []) for i in range(0, len(flat), batches_per_epoch)]


def data(n=N, width=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, width)) * 0.1
    X[:, 0] = np.arange(n)  # the row number, exact in float32 and float64
    y = np.arange(n) % 2
    return X, y


def recorded(model):
    model._step = Recorder(model._step)
    return model._step


def documented_orders(seed, n_train, epochs, held_out=None):
    """The orders the docs promise: one generator, init seed first, then the split, then each epoch."""
    rng = np.random.default_rng(seed)
    rng.integers(2**63)
    rows = np.arange(n_train if held_out is None else n_train + held_out)
    if held_out is not None:
        perm = rng.permutation(rows.size)
        rows = np.sort(perm[held_out:])
    return [rows[rng.permutation(rows.size)].tolist() for _ in range(epochs)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [7, 30, 59])
def test_each_epoch_is_a_permutation_and_successive_epochs_differ(batch_size, dtype):
    X, y = data()
    model = manual.MLP([3, 4, 2], batch_size=batch_size, epochs=6, seed=5, dtype=dtype)
    rec = recorded(model)
    model.fit(X, y)
    per_epoch = math.ceil(N / batch_size)
    assert len(rec.batches) == 6 * per_epoch
    assert [len(b) for b in rec.batches[:per_epoch]] == [min(batch_size, N - i) for i in range(0, N, batch_size)]
    orders = rec.epochs(per_epoch)
    for e, order in enumerate(orders, start=1):
        assert sorted(order) == list(range(N)), f"epoch {e} is not a permutation of the {N} rows: {order}"
    for e in range(1, len(orders)):
        assert orders[e] != orders[e - 1], f"epochs {e} and {e + 1} use the same order"
    assert len({tuple(o) for o in orders}) == len(orders), "an order repeats within 6 epochs"


def test_orders_follow_the_documented_generator():
    X, y = data()
    model = manual.MLP([3, 4, 2], batch_size=8, epochs=4, seed=11)
    rec = recorded(model)
    model.fit(X, y)
    assert rec.epochs(math.ceil(N / 8)) == documented_orders(11, N, 4)
    # the initial parameters came from the generator's first draw
    rng = np.random.default_rng(11)
    start = init_params(model.spec, seed=int(rng.integers(2**63)))
    again = manual.MLP([3, 4, 2], batch_size=8, epochs=1, seed=11).initialize(classes=[0, 1])
    for (W, b), (W0, b0) in zip(again.params, start):
        assert np.array_equal(W, W0) and np.array_equal(b, b0)


def test_partial_fit_continues_the_same_generator():
    """Epoch e of partial_fit takes the e-th permutation of the one generator, not a fresh one per call."""
    X, y = data()
    model = manual.MLP([3, 4, 2], batch_size=8, seed=2)
    rec = recorded(model)
    for _ in range(3):
        model.partial_fit(X, y, classes=[0, 1])
    orders = rec.epochs(math.ceil(N / 8))
    assert orders == documented_orders(2, N, 3)
    assert orders[0] != orders[1] != orders[2]


def test_refit_starts_the_generator_afresh():
    X, y = data()
    model = manual.MLP([3, 4, 2], batch_size=8, epochs=2, seed=4)
    rec = recorded(model)
    model.fit(X, y)
    model.fit(X, y)
    first, second = rec.batches[: len(rec.batches) // 2], rec.batches[len(rec.batches) // 2:]
    assert first == second


def test_early_stopping_split_then_epochs_from_the_same_generator():
    X, y = data()
    model = manual.MLP([3, 4, 2], batch_size=8, epochs=3, seed=9, early_stopping=True, validation_fraction=0.25,
                       patience=100)
    rec = recorded(model)
    model.fit(X, y)
    n_val = math.ceil(0.25 * N)
    orders = rec.epochs(math.ceil((N - n_val) / 8))
    assert orders == documented_orders(9, N - n_val, 3, held_out=n_val)
    held_out = set(range(N)) - set(orders[0])
    assert len(held_out) == n_val and all(held_out.isdisjoint(o) for o in orders)


@pytest.mark.parametrize("kwargs", [dict(shuffle=False, batch_size=8), dict(batch_size=None), dict(batch_size=N)])
def test_no_shuffle_or_one_batch_keeps_the_given_order_and_draws_nothing(kwargs):
    X, y = data()
    model = manual.MLP([3, 4, 2], epochs=3, seed=1, **kwargs)
    rec = recorded(model)
    model.fit(X, y)
    assert sum(rec.batches, []) == list(range(N)) * 3
    # nothing drawn after the init seed: the generator is where a fresh one is after one draw
    rng = np.random.default_rng(1)
    rng.integers(2**63)
    assert model._rng.bit_generator.state == rng.bit_generator.state
