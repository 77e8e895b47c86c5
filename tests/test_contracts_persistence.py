"""A saved model keeps every setting: loaded and refit, it gives what the original gives refit.

manual/persistence.py stores "the constructor's arguments" and `load` rebuilds the model from them,
so a loaded model is the same estimator, not only the same weights: `fit` on it starts afresh
from its seed, with its initializer, optimizer, schedule, batches, early stopping and dtype, and
must give bit for bit what `fit` on the original gives. Checked for every argument of
`MLP.__init__`, each set to a value other than its default (VARIANTS; a new argument without a
variant fails `test_every_constructor_argument_has_a_variant`), and each variant is shown to be
observable: the same refit with the argument left at its default gives another result, so a
setting dropped on save (the default comes back on load) cannot pass.
Found by the mutation catalog of issue 23 (a saved model that dropped its initializer).
"""

import contextlib
import inspect
import io

import numpy as np
import pytest

from manual import MLP, datasets
from manual import optimizers as mo

BASE = dict(sizes=[2, 5, 2], learning_rate=0.05, epochs=3, batch_size=8, seed=0)

VARIANTS = {  # argument -> the settings that make it differ from its default (with the ones it needs)
    "sizes": dict(sizes=[2, 4, 3, 2]),
    "hidden_sizes": dict(sizes=None, hidden_sizes=[6, 3]),
    "hidden": dict(hidden="tanh"),
    "loss": dict(sizes=[2, 5, 1], loss="mse"),
    "optimizer": dict(optimizer="sgd"),
    "learning_rate": dict(learning_rate=mo.exponential_decay(0.05, 0.5, 2)),
    "momentum": dict(optimizer="sgd", momentum=0.9),
    "l2": dict(l2=0.1),
    "batch_size": dict(batch_size=16),
    "epochs": dict(epochs=4),
    "shuffle": dict(shuffle=False),
    "seed": dict(seed=7),
    "dtype": dict(dtype=np.float32),
    "early_stopping": dict(early_stopping=True),
    "validation_fraction": dict(early_stopping=True, validation_fraction=0.3),
    "patience": dict(early_stopping=True, patience=1, epochs=40, learning_rate=0.5),
    "init": dict(init="xavier"),
    "verbose": dict(verbose=True),
}


def data(kw):
    X, y = datasets.moons(40, noise=0.3, seed=3)
    return (X, y.astype(np.float64)) if kw.get("loss") == "mse" else (X, y)  # 0.0/1.0: targets or labels


def refit(model, X, y):
    """(params, histories, epochs, printed lines) of a fresh fit."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        model.fit(X, y)
    return model.params, (model.loss_history, model.validation_history, model.n_epochs_, model.best_epoch_), \
        out.getvalue()


def same(a, b) -> bool:
    (pa, ha, oa), (pb, hb, ob) = a, b
    return ha == hb and oa == ob and all(x.dtype == y.dtype and np.array_equal(x, y)
                                         for la, lb in zip(pa, pb) for x, y in zip(la, lb))


def test_every_constructor_argument_has_a_variant():
    arguments = [p for p in inspect.signature(MLP.__init__).parameters if p != "self"]
    assert sorted(arguments) == sorted(VARIANTS)


@pytest.mark.parametrize("argument", sorted(VARIANTS))
def test_a_loaded_model_refits_exactly_as_the_original(argument, tmp_path):
    kw = {**BASE, **VARIANTS[argument]}
    X, y = data(kw)
    model = MLP(**kw)
    refit(model, X, y)
    model.save(tmp_path / "m.npz")
    loaded = MLP.load(tmp_path / "m.npz")
    assert repr(loaded) == repr(model)
    want = refit(model, X, y)
    assert same(refit(loaded, X, y), want), f"{argument}: the loaded model refits differently"
    # the argument is observable: left at its default, the refit differs (a dropped setting cannot pass)
    default = {k: v for k, v in kw.items() if k != argument}
    if argument == "hidden_sizes":
        default = {**default, "sizes": BASE["sizes"]}
    assert not same(refit(MLP(**default), X, y), want), f"{argument}: its variant changes nothing here"
