"""manual.MLP: the estimator's API, its errors, determinism, partial_fit ≡ fit, early stopping, divergence."""

import copy

import numpy as np
import pytest

import manual
from manual import MLP, NonFiniteError, datasets
from manual import optimizers as mo
from manual.initializers import init_params
from manual.mlp import NotFittedError


def moons(n=60):
    return datasets.moons(n, noise=0.2, seed=1)


def snapshot(model):
    """Everything a rejected call must leave as it was (deep copies)."""
    return {
        "params": copy.deepcopy(model._params),
        "state": copy.deepcopy(model._state),
        "rng": None if model._rng is None else copy.deepcopy(model._rng.bit_generator.state),
        "classes": None if model.classes_ is None else model.classes_.copy(),
        "loss_history": list(model.loss_history),
        "validation_history": list(model.validation_history),
        "n_epochs": model.n_epochs_,
        "t": model.t_,
    }


def assert_same_snapshot(a, b):
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        if key in ("params",) and x is not None:
            for (W, bb), (W2, bb2) in zip(x, y):
                assert np.array_equal(W, W2) and np.array_equal(bb, bb2), key
        elif key == "state" and x is not None:
            assert x.count == y.count
            for f in x._fields[1:]:
                tx, ty = getattr(x, f), getattr(y, f)
                assert (tx is None) == (ty is None), f
                if tx is not None:
                    for p, q in zip(tx, ty):
                        assert all(np.array_equal(u, v) for u, v in zip(p, q)), f
        elif key == "classes" and x is not None:
            assert np.array_equal(x, y)
        else:
            assert x == y, key


def assert_params_equal(a, b):
    assert len(a) == len(b)
    for l, ((W, bb), (W2, bb2)) in enumerate(zip(a, b), start=1):
        assert W.dtype == W2.dtype and np.array_equal(W, W2), f"layer {l}, W differs"
        assert np.array_equal(bb, bb2), f"layer {l}, b differs"


# ---------------------------------------------------------------- API


def test_exported_from_manual():
    assert manual.MLP is MLP


def test_fit_returns_self_and_fills_the_attributes():
    X, y = moons()
    model = MLP([2, 8, 2], optimizer="adam", learning_rate=0.01, batch_size=16, epochs=7)
    assert model.fit(X, y) is model
    assert model.spec == manual.NetworkSpec([2, 8, 2], "relu", "cross_entropy")
    assert model.n_epochs_ == 7 and len(model.loss_history) == 7 and model.validation_history == []
    assert model.t_ == 7 * 4  # 60 rows in batches of 16: 16, 16, 16, 12
    assert [(W.shape, b.shape) for W, b in model.params] == [((2, 8), (8,)), ((8, 2), (2,))]
    assert np.array_equal(model.classes_, [0, 1])
    proba = model.predict_proba(X)
    assert proba.shape == (60, 2) and np.allclose(proba.sum(axis=1), 1)
    assert np.array_equal(model.predict(X), np.argmax(proba, axis=1))
    assert model.score(X, y) == np.mean(model.predict(X) == y)


def test_default_loss_follows_the_output_width():
    assert MLP([2, 3, 1]).spec.loss == "binary_cross_entropy"
    assert MLP([2, 3, 4]).spec.loss == "cross_entropy"
    assert MLP([2, 3, 4], loss="mse").spec.loss == "mse"


def test_loss_history_is_the_row_weighted_mean_of_batch_losses():
    X, y = moons(50)
    model = MLP([2, 4, 2], optimizer="sgd", batch_size=20, epochs=1, shuffle=False, learning_rate=0.1)
    model.initialize(classes=[0, 1])
    params = copy.deepcopy(model.params)
    opt = mo.sgd(0.1)
    state = opt.init(params)
    expected = 0.0
    for rows in (slice(0, 20), slice(20, 40), slice(40, 50)):
        value, grads = manual.loss_and_grads(model.spec, params, X[rows], y[rows])
        params, state = opt.update(grads, state, params)
        expected += value * len(range(50)[rows])
    model.partial_fit(X, y)
    assert model.loss_history[0] == pytest.approx(expected / 50, rel=1e-12)
    for (W, b), (W2, b2) in zip(model.params, params):
        np.testing.assert_allclose(W, W2, rtol=1e-12, atol=1e-15)


def test_string_labels_binary_and_multiclass():
    X, y = datasets.blobs(20, seed=0)
    names = np.array(["setosa", "versicolor", "virginica"])
    model = MLP([2, 16, 3], optimizer="adam", learning_rate=0.05, epochs=60).fit(X, names[y])
    assert model.classes_.dtype.kind == "U" and model.classes_.tolist() == names.tolist()
    assert set(model.predict(X)) <= set(names) and model.score(X, names[y]) >= 0.95
    Xm, ym = moons()
    binary = MLP([2, 8, 1], optimizer="adam", learning_rate=0.05, epochs=50).fit(Xm, np.where(ym == 1, "yes", "no"))
    assert binary.classes_.tolist() == ["no", "yes"]
    proba = binary.predict_proba(Xm)  # (N, 2): [P(no), P(yes)]
    assert proba.shape == (60, 2) and np.allclose(proba.sum(axis=1), 1)
    assert np.array_equal(binary.predict(Xm), np.where(proba[:, 1] >= 0.5, "yes", "no"))


def test_float_labels_are_classes_sorted_like_sklearn():
    X, y = moons()
    model = MLP([2, 4, 2], epochs=2).fit(X, np.where(y == 1, -2.5, 7.0))
    assert model.classes_.tolist() == [-2.5, 7.0]


def test_regressor_predict_and_r2():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (80, 2))
    y = X[:, 0] - 2 * X[:, 1]  # (N,) linear target
    model = MLP([2, 8, 1], loss="mse", optimizer="adam", learning_rate=0.02, epochs=150).fit(X, y)
    assert model.classes_ is None and model.predict(X).shape == (80,)
    assert model.score(X, y) > 0.95
    with pytest.raises(TypeError, match="predict_proba is for classifiers"):
        model.predict_proba(X)


def test_float32_training_stays_float32_and_matches_float64_loosely():
    X, y = moons()
    m32 = MLP([2, 8, 2], dtype=np.float32, optimizer="adam", learning_rate=0.01, epochs=20).fit(X, y)
    m64 = MLP([2, 8, 2], dtype=np.float64, optimizer="adam", learning_rate=0.01, epochs=20).fit(X, y)
    assert all(W.dtype == np.float32 and b.dtype == np.float32 for W, b in m32.params)
    assert m32.predict_proba(X).dtype == np.float32
    # same init (drawn in float64, then cast), same batches: float32 rounding only
    for (W, _), (W64, _) in zip(m32.params, m64.params):
        np.testing.assert_allclose(W, W64, rtol=1e-3, atol=1e-4)


# ---------------------------------------------------------------- determinism and partial_fit


def test_same_seed_gives_bit_identical_weights_and_histories():
    X, y = moons()
    kw = dict(optimizer="sgd", momentum=0.9, learning_rate=0.05, batch_size=8, epochs=10, early_stopping=True)
    a, b = MLP([2, 8, 2], seed=3, **kw).fit(X, y), MLP([2, 8, 2], seed=3, **kw).fit(X, y)
    assert_params_equal(a.params, b.params)
    assert a.loss_history == b.loss_history and a.validation_history == b.validation_history
    c = MLP([2, 8, 2], seed=4, **kw).fit(X, y)
    assert not np.array_equal(a.params[0][0], c.params[0][0])
    a.fit(X, y)  # fit starts afresh: the same run again
    assert_params_equal(a.params, b.params)
    assert a.loss_history == b.loss_history


@pytest.mark.parametrize("batch_size, shuffle", [(None, True), (7, False), (7, True)])
def test_partial_fit_epochs_equal_fit(batch_size, shuffle):
    X, y = moons()
    kw = dict(optimizer="adam", learning_rate=0.01, batch_size=batch_size, shuffle=shuffle, epochs=5, seed=2)
    fitted = MLP([2, 6, 2], **kw).fit(X, y)
    stepped = MLP([2, 6, 2], **kw)
    for _ in range(5):
        stepped.partial_fit(X, y, classes=[0, 1])
    assert_params_equal(fitted.params, stepped.params)
    assert fitted.loss_history == stepped.loss_history and fitted.t_ == stepped.t_


def test_full_batch_equals_training_by_hand_with_train_step():
    """batch_size=None, shuffle=False: each epoch is one TrainStep on all rows, from init_params(seed)."""
    X, y = moons()
    model = MLP([2, 5, 1], optimizer="sgd", learning_rate=0.1, momentum=0.5, batch_size=None, epochs=4,
                shuffle=False).fit(X, y)
    rng = np.random.default_rng(0)
    params = init_params(model.spec, seed=int(rng.integers(2**63)))
    opt = mo.sgd(0.1, momentum=0.5)
    state, step = opt.init(params), manual.TrainStep(model.spec, opt)
    losses = []
    for _ in range(4):
        value, state = step(params, state, X, y.reshape(-1, 1).astype(np.float64))
        losses.append(value)
    assert_params_equal(model.params, params)
    assert model.loss_history == losses


def test_partial_fit_infers_classes_or_needs_them():
    X, y = moons()
    model = MLP([2, 4, 2]).partial_fit(X, y)  # every class present: inferred
    assert model.classes_.tolist() == [0, 1]
    fresh = MLP([2, 4, 3])
    with pytest.raises(ValueError, match="pass classes= on the first call"):
        fresh.partial_fit(X, y)
    fresh.partial_fit(X, y, classes=[0, 1, 2])
    assert fresh.classes_.tolist() == [0, 1, 2]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(sizes=[2]), ValueError, "at least two"),
    (dict(sizes=[2, 0, 1]), ValueError, "positive"),
    (dict(sizes="23"), TypeError, "sizes"),
    (dict(hidden="nope"), ValueError, "unknown activation"),
    (dict(loss="hinge"), ValueError, "unknown loss"),
    (dict(optimizer="lbfgs"), ValueError, "unknown optimizer"),
    (dict(optimizer=42), TypeError, "optimizer must be"),
    (dict(learning_rate=0.0), ValueError, "learning_rate"),
    (dict(learning_rate=float("nan")), ValueError, "learning_rate"),
    (dict(learning_rate="0.1"), TypeError, "learning_rate"),
    (dict(momentum=1.0), ValueError, "momentum"),
    (dict(optimizer="adam", momentum=0.9), ValueError, "momentum is a setting of optimizer='sgd'"),
    (dict(l2=-1.0), ValueError, "l2"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size=2.0), TypeError, "batch_size"),
    (dict(epochs=0), ValueError, "epochs"),
    (dict(shuffle=1), TypeError, "shuffle"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed=1.5), TypeError, "seed"),
    (dict(dtype=np.int32), TypeError, "dtype"),
    (dict(dtype="float16"), TypeError, "dtype"),
    (dict(early_stopping="yes"), TypeError, "early_stopping"),
    (dict(validation_fraction=1.0), ValueError, "validation_fraction"),
    (dict(patience=0), ValueError, "patience"),
    (dict(init="zeros"), ValueError, "unknown init"),
    (dict(verbose=None), TypeError, "verbose"),
])
def test_constructor_rejects_bad_arguments(kwargs, error, match):
    kwargs = {"sizes": [2, 3, 2], **kwargs}
    with pytest.raises(error, match=match):
        MLP(**kwargs)


def test_not_fitted():
    model = MLP([2, 3, 2])
    for call in (lambda: model.params, lambda: model.predict(np.zeros((1, 2))), lambda: model.score(np.zeros((1, 2)), [0])):
        with pytest.raises(NotFittedError, match="call fit or partial_fit first"):
            call()
    assert isinstance(NotFittedError("x"), ValueError)


def bad_calls(X, y):
    nan = X.copy()
    nan[3, 1] = np.nan
    return [
        ("fit", (X[:, :1], y), ValueError, "columns"),
        ("fit", (X, y[:-1]), ValueError, "one label per row"),
        ("fit", (nan, y), ValueError, "NaN"),
        ("fit", (X, np.where(y == 0, 0, 5)[:, None]), ValueError, "1-D"),
        ("fit", (X, np.zeros_like(y)), ValueError, "needs exactly 2"),
        ("fit", (X, np.array([None] * len(y))), TypeError, "numbers or strings"),
        ("fit", (X, np.where(y == 0, np.nan, 1.0)), ValueError, "NaN"),
        ("partial_fit", (X, np.where(y == 0, 0, 7)), ValueError, "not in classes_"),
        ("partial_fit", (X, y.astype(str)), ValueError, "not in classes_"),
        ("partial_fit", (X, y, [0, 2]), ValueError, "differ from classes_"),
        ("partial_fit", (np.zeros((0, 2)), y[:0]), ValueError, "empty"),
        ("partial_fit", (X.astype(str), y), TypeError, "real numbers"),
    ]


@pytest.mark.parametrize("case", range(len(bad_calls(*moons()))))
def test_rejected_call_leaves_the_model_as_it_was(case):
    X, y = moons()
    model = MLP([2, 6, 2], optimizer="adam", learning_rate=0.01, batch_size=16, epochs=3).fit(X, y)
    before = snapshot(model)
    method, args, error, match = bad_calls(X, y)[case]
    with pytest.raises(error, match=match):
        getattr(model, method)(*args)
    assert_same_snapshot(snapshot(model), before)


def test_rejected_first_partial_fit_leaves_the_model_unfitted():
    X, y = moons()
    model = MLP([2, 4, 3])
    with pytest.raises(ValueError):
        model.partial_fit(X, y, classes=[0, 1])  # 2 classes for 3 outputs
    assert model._params is None and model.t_ == 0 and model.classes_ is None


def test_early_stopping_needs_training_rows():
    with pytest.raises(ValueError, match="leaves none to train on"):
        MLP([2, 3, 2], early_stopping=True, validation_fraction=0.6).fit(np.zeros((2, 2)), [0, 1])


# ---------------------------------------------------------------- early stopping and verbose


def test_early_stopping_restores_the_best_epoch():
    X, y = datasets.moons(80, noise=0.35, seed=0)
    model = MLP([2, 64, 64, 2], optimizer="adam", learning_rate=0.05, batch_size=8, epochs=300,
                early_stopping=True, validation_fraction=0.25, patience=5).fit(X, y)
    history = model.validation_history
    assert model.n_epochs_ < 300, "overfits a small noisy set: must stop early"
    assert len(history) == model.n_epochs_ == len(model.loss_history)
    best = int(np.argmin(history))
    assert model.best_epoch_ == best + 1 and model.n_epochs_ == best + 1 + 5
    # the restored params give the best validation loss again
    rng = np.random.default_rng(0)
    rng.integers(2**63)
    val = np.sort(rng.permutation(80)[:20])
    assert manual.loss(model.spec, model.params, X[val], y[val]) == pytest.approx(history[best], rel=1e-12)


def test_verbose_prints_one_line_per_epoch(capsys):
    X, y = moons()
    MLP([2, 4, 2], epochs=3, verbose=True).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1", "epoch 2", "epoch 3"]
    MLP([2, 4, 2], epochs=2, verbose=True, early_stopping=True).fit(X, y)
    assert "validation loss" in capsys.readouterr().out
    MLP([2, 4, 2], epochs=3).fit(X, y)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------- divergence


# 1e150: the loss overflows while the params are finite; 1e307: an update overflows the params
# (in update 1 full batch, in update 2 with batches of 10), so MLP must roll back and replay.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("learning_rate", [1e150, 1e307])
@pytest.mark.parametrize("batch_size", [None, 10])
def test_non_finite_loss_raises_and_keeps_the_last_finite_params(batch_size, learning_rate):
    """A huge learning rate overflows within a few updates: the error names the problem, and the
    params are exactly those after the last finite update, as a replay of the same updates shows."""
    X, y = moons()
    X = X * 1e3
    kw = dict(optimizer="sgd", learning_rate=learning_rate, batch_size=batch_size, shuffle=False, epochs=50)
    model = MLP([2, 16, 16, 2], **kw)
    with pytest.raises(NonFiniteError, match="NaN or infinite") as info:
        model.fit(X, y)
    assert isinstance(info.value, FloatingPointError)
    assert all(np.isfinite(W).all() and np.isfinite(b).all() for W, b in model.params)
    t = model.t_
    assert model.n_epochs_ == len(model.loss_history)
    # replay exactly t updates on the same batches: the same params, bit for bit
    replay = MLP([2, 16, 16, 2], **kw).initialize(classes=[0, 1])
    size = 60 if batch_size is None else batch_size
    starts = [i for _ in range(50) for i in range(0, 60, size)]
    Y = np.eye(2)[y]  # (N, 2) one-hot
    for i in starts[:t]:
        replay._step(replay._params, replay._state, X[i:i + size], Y[i:i + size])
    assert_params_equal(model.params, replay.params)
    # and the next update is not finite: the loss, a gradient or the new params overflow
    i = starts[t]
    try:
        replay._step(replay._params, replay._state, X[i:i + size], Y[i:i + size])
        overflowed = not all(np.isfinite(W).all() and np.isfinite(b).all() for W, b in replay.params)
    except NonFiniteError:
        overflowed = True
    assert overflowed


def test_custom_optimizer_object():
    X, y = moons()
    model = MLP([2, 6, 2], optimizer=mo.sgd(mo.exponential_decay(0.1, 0.5, 10), nesterov=True, momentum=0.9),
                epochs=20).fit(X, y)
    assert model.t_ == 20 and model.score(X, y) > 0.7


def test_next_batches_are_the_batches_the_next_epoch_takes():
    """`next_batches` draws nothing from the model's generator and names exactly the rows trained on."""
    X, y = np.random.default_rng(0).standard_normal((10, 2)), np.arange(10) % 2
    model = MLP([2, 3, 1], batch_size=4, seed=5).initialize(classes=[0, 1])
    planned = model.next_batches(10)
    assert [list(r) for r in planned] == [list(r) for r in model.next_batches(10)]  # no draw consumed
    seen = []
    step = model._step
    model._step = lambda params, state, Xb, Yb: (seen.append((Xb.copy(), Yb.copy())), step(params, state, Xb, Yb))[1]
    model.partial_fit(X, y)
    assert len(seen) == len(planned) == 3
    for (Xb, Yb), rows in zip(seen, planned):
        np.testing.assert_array_equal(Xb, X[rows])
        np.testing.assert_array_equal(Yb[:, 0], y[rows])  # binary head: Y is the 0/1 column
